#!/bin/bash
# Node counts of a model: original, onnxruntime's optimizer (basic / extended / all), bnc fold-bn without
# fold-constants, with it, and with --keep-bn; then both files run in onnxruntime on one input.
# Needs `npm run build`. Usage: scripts/fold-constants-measure/measure.sh model.onnx
# The Caffe2-layout rebuilds: /usr/bin/python3 caffe2_densenet121.py 5 10 dn121.onnx (IR 5, opset 10)
# and /usr/bin/python3 caffe2_bn_inception.py 5 10 inception_v2.onnx (needs python3-onnx).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
B="$here/../../bin/bnc.js"
f=${1%.onnx}
cnt() { node "$B" inspect "$1" --json | node -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>console.log(JSON.parse(s).nodeCount))"; }
for l in basic extended all; do node "$here/ort_optimize.mjs" "$f.onnx" $l "${f}_ort_$l.onnx" 2>/dev/null; done
node "$B" fold-bn "$f.onnx" -o "${f}_bnc.onnx" --force >/dev/null
node "$B" fold-bn "$f.onnx" -o "${f}_bnc_keep.onnx" --force --keep-bn >/dev/null
node "$B" optimize "$f.onnx" -o "${f}_old.onnx" --force --passes bn-eval,merge-bn-scale,fold-bn,bn-to-affine,cleanup >/dev/null
echo "$f: original $(cnt "$f.onnx"), onnxruntime basic $(cnt "${f}_ort_basic.onnx") extended $(cnt "${f}_ort_extended.onnx") all $(cnt "${f}_ort_all.onnx"), bnc without fold-constants $(cnt "${f}_old.onnx"), bnc fold-bn $(cnt "${f}_bnc.onnx"), with --keep-bn $(cnt "${f}_bnc_keep.onnx")"
node "$here/ort_compare.mjs" "$f.onnx" "${f}_bnc.onnx"
