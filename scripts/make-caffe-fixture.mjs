// Writes fixtures/caffe/small_bn_net.prototxt and .caffemodel: Convolution + BatchNorm + Scale + ReLU (in
// place), MAX pooling with Caffe's ceil rounding, InnerProduct and Softmax, with seeded weights. The
// caffemodel is encoded by protobufjs from proto/caffe.proto, independently of bnc's own blob decoder and
// writer, so reading it back in tests checks bnc's wire-level decoding against a generic encoder.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { mulberry32 } from '../dist/util/seededRandom.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = path.join(root, 'fixtures/caffe');

// A seeded PRNG (mulberry32), so the fixture is byte-identical on every run.
const rand = mulberry32(20240611);
const uniform = (n, lo, hi) => Array.from({ length: n }, () => lo + (hi - lo) * rand());

const prototxt = `name: "small_bn_net"
# conv -> BatchNorm -> Scale -> ReLU (all in place on conv1), pool, fc, softmax
layer {
  name: "data"
  type: "Input"
  top: "data"
  input_param { shape { dim: 1 dim: 3 dim: 15 dim: 15 } }
}
layer {
  name: "conv1"
  type: "Convolution"
  bottom: "data"
  top: "conv1"
  convolution_param { num_output: 8 kernel_size: 3 pad: 1 bias_term: false }
}
layer {
  name: "conv1/bn"
  type: "BatchNorm"
  bottom: "conv1"
  top: "conv1"
  batch_norm_param { use_global_stats: true eps: 1e-5 }
}
layer {
  name: "conv1/scale"
  type: "Scale"
  bottom: "conv1"
  top: "conv1"
  scale_param { bias_term: true }
}
layer {
  name: "conv1/relu"
  type: "ReLU"
  bottom: "conv1"
  top: "conv1"
}
layer {
  name: "pool1"
  type: "Pooling"
  bottom: "conv1"
  top: "pool1"
  pooling_param { pool: MAX kernel_size: 3 stride: 2 }  # ceil: 15 -> 7
}
layer {
  name: "fc"
  type: "InnerProduct"
  bottom: "pool1"
  top: "fc"
  inner_product_param { num_output: 10 }
}
layer {
  name: "prob"
  type: "Softmax"
  bottom: "fc"
  top: "prob"
}
`;

const factor = 999.982; // Caffe's moving-average normalizer after many iterations
const blob = (dims, data) => ({ shape: { dim: dims }, data });
const layers = [
  { name: 'conv1', type: 'Convolution', blobs: [blob([8, 3, 3, 3], uniform(8 * 27, -0.5, 0.5))] },
  {
    name: 'conv1/bn',
    type: 'BatchNorm',
    blobs: [
      blob([8], uniform(8, -0.3, 0.3).map((m) => m * factor)),
      blob([8], uniform(8, 0.2, 1.5).map((v) => v * factor)),
      blob([1], [factor]),
    ],
  },
  { name: 'conv1/scale', type: 'Scale', blobs: [blob([8], uniform(8, 0.5, 1.5)), blob([8], uniform(8, -0.2, 0.2))] },
  { name: 'fc', type: 'InnerProduct', blobs: [blob([10, 8 * 7 * 7], uniform(10 * 392, -0.1, 0.1)), blob([10], uniform(10, -0.1, 0.1))] },
];

const schema = new protobuf.Root().loadSync(path.join(root, 'proto/caffe.proto'), { keepCase: true });
const NetParameter = schema.lookupType('caffe.NetParameter');
const bytes = NetParameter.encode(NetParameter.fromObject({ name: 'small_bn_net', layer: layers })).finish();

fs.mkdirSync(outDir, { recursive: true });
fs.writeFileSync(path.join(outDir, 'small_bn_net.prototxt'), prototxt);
fs.writeFileSync(path.join(outDir, 'small_bn_net.caffemodel'), bytes);
console.log(`wrote fixtures/caffe/small_bn_net.prototxt and small_bn_net.caffemodel (${bytes.length} bytes)`);
