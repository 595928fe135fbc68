import { DataType, intAttr, intsAttr } from '../../../ir/index.js';
import { LayerMapping, MapContext, canonicalAxis, layerError, param, sizeOf } from './mapping.js';

// Layers that reduce over axes: Reduction, MVN, ArgMax (BVLC/caffe master src/caffe/layers/*_layer.cpp).

const range = (from: number, to: number) => Array.from({ length: Math.max(0, to - from) }, (_, i) => from + i);

/** ReduceSum over `axes` (an input from opset 13 on, the opsets bnc writes). */
function reduceSum(c: MapContext, input: string, output: string, name: string, axes: number[], keepdims: boolean): void {
  c.b.node('ReduceSum', name, [input, c.b.int64s(`${name}.axes`, axes)], [output], [intAttr('keepdims', keepdims ? 1 : 0)]);
}

/** ReduceMean over `axes`: an attribute before opset 18, an input from 18 on. */
function reduceMean(c: MapContext, input: string, output: string, name: string, axes: number[]): void {
  if (c.opset >= 18) c.b.node('ReduceMean', name, [input, c.b.int64s(`${name}.axes`, axes)], [output], [intAttr('keepdims', 1)]);
  else c.b.node('ReduceMean', name, [input], [output], [intsAttr('axes', axes), intAttr('keepdims', 1)]);
}

const scalar = (c: MapContext, suffix: string, value: number) => c.b.constant(`${c.layer.name}.${suffix}`, [], Float32Array.of(value));

// Reduction (BVLC reduction_layer.cpp): reduces ALL axes from `axis` on (top shape = bottom shape[:axis],
// so axis 0 gives a 0-d blob); SUM, ASUM (Σ|x|), SUMSQ (Σx²), MEAN; then × coeff, where MEAN's coeff is
// coeff / count, divided in float as Caffe does, and the scaling is skipped when that is exactly 1.
const reduction: LayerMapping = {
  map(c) {
    const p = param(c, 'reduction_param');
    const x = c.shapes[0]!;
    const name = c.layer.name;
    const axis = canonicalAxis(c.layer, p.num('axis'), Math.max(x.length, 1));
    const op = p.num('operation');
    if (op < 1 || op > 4) throw layerError(c.layer, `unknown reduction operation ${op} (SUM, ASUM, SUMSQ, MEAN)`);
    const count = sizeOf(x.slice(axis));
    const coeff = op === 4 ? Math.fround(Math.fround(p.num('coeff')) / count) : Math.fround(p.num('coeff'));
    let input = c.inputs[0]!;
    if (op === 2 || op === 3) {
      input = c.b.unique(`${name}/${op === 2 ? 'abs' : 'square'}`);
      if (op === 2) c.b.node('Abs', `${name}/abs`, [c.inputs[0]!], [input]);
      else c.b.node('Mul', `${name}/square`, [c.inputs[0]!, c.inputs[0]!], [input]);
    }
    const sum = coeff === 1 ? c.outputs[0]! : c.b.unique(`${name}/sum`);
    reduceSum(c, input, sum, coeff === 1 ? name : `${name}/sum`, range(axis, x.length), false);
    if (coeff !== 1) c.b.node('Mul', name, [sum, scalar(c, 'coeff', coeff)], [c.outputs[0]!]);
    return [x.slice(0, axis)];
  },
};

// MVN (BVLC mvn_layer.cpp): per image and channel (or per image with across_channels), y = x − mean, and
// with normalize_variance y / (sqrt(mean((x − mean)²)) + eps): eps is added to the standard deviation.
// Caffe shapes the top with the legacy num/channels/height/width, so a 2-D or 3-D bottom gives a 4-D top
// (missing axes 1).
const mvn: LayerMapping = {
  map(c) {
    const p = param(c, 'mvn_param');
    const x = c.shapes[0]!;
    const name = c.layer.name;
    if (x.length < 2 || x.length > 4) throw layerError(c.layer, `Caffe's MVN takes a 2-D to 4-D input, got shape [${x}]`);
    const top = [...x, 1, 1].slice(0, 4);
    const axes = range(p.bool('across_channels') ? 1 : 2, x.length);
    const normalize = p.bool('normalize_variance');
    const reshape = x.length < 4;
    // The value each step writes: the last step writes the top unless a Reshape to 4-D follows.
    const last = (step: string) => (reshape ? c.b.unique(`${name}/${step}`) : c.outputs[0]!);
    const lastName = (step: string) => (reshape ? `${name}/${step}` : name);
    const centeredName = normalize ? `${name}/center` : lastName('center');
    const centered = normalize ? c.b.unique(`${name}/center`) : last('center');
    if (axes.length === 0) {
      // One value per (image, channel): it is its own mean.
      c.b.node('Sub', centeredName, [c.inputs[0]!, c.inputs[0]!], [centered]);
    } else {
      const mean = c.b.unique(`${name}/mean`);
      reduceMean(c, c.inputs[0]!, mean, `${name}/mean`, axes);
      c.b.node('Sub', centeredName, [c.inputs[0]!, mean], [centered]);
    }
    let result = centered;
    if (normalize) {
      const square = c.b.unique(`${name}/square`);
      c.b.node('Mul', `${name}/square`, [centered, centered], [square]);
      let variance = square;
      if (axes.length) {
        variance = c.b.unique(`${name}/variance`);
        reduceMean(c, square, variance, `${name}/variance`, axes);
      }
      const std = c.b.unique(`${name}/std`);
      c.b.node('Sqrt', `${name}/std`, [variance], [std]);
      const denominator = c.b.unique(`${name}/std_eps`);
      c.b.node('Add', `${name}/std_eps`, [std, scalar(c, 'eps', p.num('eps'))], [denominator]);
      result = last('normalize');
      c.b.node('Div', lastName('normalize'), [centered, denominator], [result]);
    }
    if (reshape) c.b.node('Reshape', name, [result, c.b.int64s(`${name}.shape`, [0, 0, ...top.slice(2)])], [c.outputs[0]!]);
    return [top];
  },
};

/**
 * The top_k largest along `axis` of `input` ([.., dim, ..]), in Caffe's order: std::partial_sort with
 * std::greater on (value, index) pairs, so equal values rank the HIGHER index first. ONNX TopK ranks the
 * lower index first, so the axis is reversed before TopK and the indices mapped back (dim − 1 − i, as
 * float: Caffe's tops are float blobs). Writes the values and/or indices to the given value names.
 */
function caffeTopK(c: MapContext, input: string, axis: number, dim: number, k: number, name: string, out: { values?: string; indices?: string }): void {
  const reversed = c.b.unique(`${name}/reverse`);
  c.b.node(
    'Slice',
    `${name}/reverse`,
    [input, c.b.int64s(`${name}.rev_starts`, [-1]), c.b.int64s(`${name}.rev_ends`, [-dim - 1]), c.b.int64s(`${name}.rev_axes`, [axis]), c.b.int64s(`${name}.rev_steps`, [-1])],
    [reversed],
  );
  const values = out.values ?? c.b.unique(`${name}/values`);
  const reversedIndices = c.b.unique(`${name}/reversed_indices`);
  const topkName = out.indices ? `${name}/topk` : name;
  c.b.node('TopK', topkName, [reversed, c.b.int64s(`${name}.k`, [k])], [values, reversedIndices], [
    intAttr('axis', axis),
    intAttr('largest', 1),
    intAttr('sorted', 1),
  ]);
  if (!out.indices) return;
  const asFloat = c.b.unique(`${name}/reversed_indices_float`);
  c.b.node('Cast', `${name}/cast`, [reversedIndices], [asFloat], [intAttr('to', DataType.FLOAT)]);
  c.b.node('Sub', out.indices === c.outputs[0] ? name : `${name}/unreverse`, [c.b.constant(`${name}.last`, [], Float32Array.of(dim - 1)), asFloat], [out.indices]);
}

// ArgMax (BVLC argmax_layer.cpp). With `axis`: top_k along it, top shape = bottom shape with top_k there,
// values (out_max_val) or indices. Without: over each image's C·H·W values, top [N, 1, top_k, 1] of
// indices, or [N, 2, top_k, 1] with out_max_val (each image's indices, then its values); the top has at
// least 3 axes, as many as the bottom.
const argMax: LayerMapping = {
  map(c) {
    const p = param(c, 'argmax_param');
    const x = c.shapes[0]!;
    const name = c.layer.name;
    const k = p.num('top_k');
    const outMaxVal = p.bool('out_max_val');
    if (!(k >= 1)) throw layerError(c.layer, `top_k ${k} must be 1 or more`);
    if (p.has('axis')) {
      const axis = canonicalAxis(c.layer, p.num('axis'), x.length);
      if (k > x[axis]!) throw layerError(c.layer, `top_k ${k} exceeds the size ${x[axis]} of axis ${axis}`);
      caffeTopK(c, c.inputs[0]!, axis, x[axis]!, k, name, outMaxVal ? { values: c.outputs[0]! } : { indices: c.outputs[0]! });
      return [x.map((d, i) => (i === axis ? k : d))];
    }
    const dim = sizeOf(x.slice(1));
    if (k > dim) throw layerError(c.layer, `top_k ${k} exceeds the ${dim} values per image`);
    const flat = c.b.unique(`${name}/flatten`);
    c.b.node('Reshape', `${name}/flatten`, [c.inputs[0]!, c.b.int64s(`${name}.flat_shape`, [0, -1])], [flat]);
    const indices = c.b.unique(`${name}/indices`);
    const values = outMaxVal ? c.b.unique(`${name}/values`) : undefined;
    caffeTopK(c, flat, 1, dim, k, name, { indices, values });
    const topShape = new Array<number>(Math.max(x.length, 3)).fill(1);
    topShape[0] = x[0]!;
    topShape[2] = k;
    const partShape = c.b.int64s(`${name}.part_shape`, [0, ...topShape.slice(1)]);
    if (!outMaxVal) {
      c.b.node('Reshape', name, [indices, partShape], [c.outputs[0]!]);
      return [topShape];
    }
    const parts = [indices, values!].map((v, i) => {
      const part = c.b.unique(`${name}/${i === 0 ? 'indices' : 'values'}_part`);
      c.b.node('Reshape', `${name}/${i === 0 ? 'indices' : 'values'}_part`, [v, partShape], [part]);
      return part;
    });
    c.b.node('Concat', name, parts, [c.outputs[0]!], [intAttr('axis', 1)]);
    topShape[1] = 2;
    return [topShape];
  },
};

/** Reduction, MVN and ArgMax. */
export const REDUCTION_LAYERS: Record<string, LayerMapping> = {
  Reduction: reduction,
  MVN: mvn,
  ArgMax: argMax,
};
