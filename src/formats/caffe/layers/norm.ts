import { Attribute, floatAttr, intAttr, intsAttr } from '../../../ir/index.js';
import { CaffeLayer } from '../net.js';
import { BlobSpec, LayerMapping, MapContext, broadcastDims, canonicalAxis, layerError, param } from './mapping.js';

// ---------------------------------------------------------------- BatchNorm, Scale, Bias

const batchNorm: LayerMapping = {
  blobs(_layer, [x]) {
    const ch = x!.length > 1 ? x![1]! : 1;
    return [
      { dims: [ch], role: 'mean' },
      { dims: [ch], role: 'variance' },
      { dims: [1], role: 'factor' },
      // NVCaffe's BatchNorm carries its own scale and shift as blobs 3 and 4.
      { dims: [ch], role: 'gamma', optional: true },
      { dims: [ch], role: 'beta', optional: true },
    ];
  },
  map(c) {
    const p = param(c, 'batch_norm_param');
    const x = c.shapes[0]!;
    if (x.length < 2) throw layerError(c.layer, `needs an input with a channel axis, got shape [${x}]`);
    const ch = x[1]!;
    const name = c.layer.name;
    // Caffe stores running sums: mean·s, var·s and s; s == 0 means "no statistics yet" and gives 0.
    const s = c.blobs[2]![0]!;
    const factor = s === 0 ? 0 : 1 / s;
    const mean = new Float32Array(ch);
    const variance = new Float32Array(ch);
    const m = c.blobs[0]!;
    const v = c.blobs[1]!;
    for (let i = 0; i < ch; i++) {
      mean[i] = m[i]! * factor;
      variance[i] = v[i]! * factor;
    }
    const hasAffine = c.blobs.length >= 5;
    const scale = hasAffine ? c.blobs[3]! : new Float32Array(ch).fill(1);
    const bias = hasAffine ? c.blobs[4]! : new Float32Array(ch);
    // use_global_stats defaults to true in the TEST phase.
    const global = p.has('use_global_stats') ? p.bool('use_global_stats') : true;
    const attrs: Attribute[] = [floatAttr('epsilon', p.num('eps'))];
    const outputs = [c.outputs[0]!];
    if (!global) {
      c.needsTrainingMode();
      attrs.push(intAttr('training_mode', 1));
      c.warn(
        `layer '${name}' (BatchNorm) has use_global_stats: false in the TEST net, so Caffe normalizes with the batch's own statistics; ` +
          `written as training_mode=1 to compute the same; to deploy with the stored statistics instead, run ` +
          `'bnc fold-bn' (or 'bnc optimize --passes bn-eval') on the written file`,
      );
    }
    c.b.node(
      'BatchNormalization',
      name,
      [
        c.inputs[0]!,
        c.b.constant(`${name}.scale`, [ch], scale),
        c.b.constant(`${name}.B`, [ch], bias),
        c.b.constant(`${name}.mean`, [ch], mean),
        c.b.constant(`${name}.var`, [ch], variance),
      ],
      outputs,
      attrs,
    );
    return [x];
  },
};

/** Axis range a Scale/Bias blob covers: x.shape[axis, axis + numAxes). */
function affineRange(layer: CaffeLayer, block: string, x: number[]): { axis: number; dims: number[] } {
  const p = param(layer, block);
  const axis = canonicalAxis(layer, p.num('axis'), Math.max(x.length, 1));
  const numAxes = p.num('num_axes');
  if (numAxes < -1) throw layerError(layer, `num_axes ${numAxes} must be -1 or more`);
  const end = numAxes === -1 ? x.length : axis + numAxes;
  if (end > x.length) throw layerError(layer, `axis ${axis} + num_axes ${numAxes} exceeds the ${x.length}-D input`);
  return { axis, dims: x.slice(axis, end) };
}

/** Multiply/add a per-axis operand: a second bottom reshaped to broadcast, or a constant blob. */
function affineStep(
  c: MapContext,
  op: 'Mul' | 'Add',
  operand: { value: string; dims: number[] } | { blob: Float32Array; dims: number[] },
  axis: number,
  input: string,
  output: string,
  nodeName: string,
  constName: string,
): void {
  const rank = c.shapes[0]!.length;
  let other: string;
  if ('value' in operand) {
    other = operand.value;
    const trailing = rank - axis - operand.dims.length;
    if (trailing > 0) {
      // Reshape (0 = keep that axis) to append the trailing 1s so numpy broadcasting lines it up at `axis`.
      other = c.b.unique(`${nodeName}/broadcast`);
      const shape = c.b.int64s(`${nodeName}/broadcast_shape`, [...operand.dims.map(() => 0), ...new Array<number>(trailing).fill(1)]);
      c.b.node('Reshape', `${nodeName}/broadcast`, [operand.value, shape], [other]);
    }
  } else {
    other = c.b.constant(constName, broadcastDims(operand.dims, axis, rank), operand.blob);
  }
  c.b.node(op, nodeName, [input, other], [output]);
}

function checkSecondBottom(c: MapContext, axis: number): number[] {
  const x = c.shapes[0]!;
  const y = c.shapes[1]!;
  const covered = x.slice(axis, axis + y.length);
  if (covered.length !== y.length || covered.some((d, i) => d !== y[i])) {
    throw layerError(c.layer, `second bottom of shape [${y}] does not match [${covered}] of the first bottom from axis ${axis}`);
  }
  return y;
}

const scale: LayerMapping = {
  bottoms: [1, 2],
  blobs(layer, shapes) {
    const p = param(layer, 'scale_param');
    const x = shapes[0]!;
    if (shapes.length === 2) {
      const axis = canonicalAxis(layer, p.num('axis'), x.length);
      return p.bool('bias_term') ? [{ dims: x.slice(axis, axis + shapes[1]!.length), role: 'beta' }] : [];
    }
    const { dims } = affineRange(layer, 'scale_param', x);
    const specs: BlobSpec[] = [{ dims, role: 'gamma' }];
    if (p.bool('bias_term')) specs.push({ dims, role: 'beta' });
    return specs;
  },
  map(c) {
    const p = param(c, 'scale_param');
    const x = c.shapes[0]!;
    const name = c.layer.name;
    const bias = p.bool('bias_term');
    const scaled = bias ? c.b.unique(`${name}/scaled`) : c.outputs[0]!;
    let axis: number;
    let dims: number[];
    if (c.inputs.length === 2) {
      axis = canonicalAxis(c.layer, p.num('axis'), x.length);
      dims = checkSecondBottom(c, axis);
      affineStep(c, 'Mul', { value: c.inputs[1]!, dims }, axis, c.inputs[0]!, scaled, name, '');
      if (bias) affineStep(c, 'Add', { blob: c.blobs[0]!, dims }, axis, scaled, c.outputs[0]!, `${name}/bias`, `${name}.beta`);
    } else {
      ({ axis, dims } = affineRange(c.layer, 'scale_param', x));
      affineStep(c, 'Mul', { blob: c.blobs[0]!, dims }, axis, c.inputs[0]!, scaled, name, `${name}.gamma`);
      if (bias) affineStep(c, 'Add', { blob: c.blobs[1]!, dims }, axis, scaled, c.outputs[0]!, `${name}/bias`, `${name}.beta`);
    }
    return [x];
  },
};

const bias: LayerMapping = {
  bottoms: [1, 2],
  blobs(layer, shapes) {
    if (shapes.length === 2) return [];
    return [{ dims: affineRange(layer, 'bias_param', shapes[0]!).dims, role: 'beta' }];
  },
  map(c) {
    const p = param(c, 'bias_param');
    const x = c.shapes[0]!;
    if (c.inputs.length === 2) {
      const axis = canonicalAxis(c.layer, p.num('axis'), x.length);
      const dims = checkSecondBottom(c, axis);
      affineStep(c, 'Add', { value: c.inputs[1]!, dims }, axis, c.inputs[0]!, c.outputs[0]!, c.layer.name, '');
    } else {
      const { axis, dims } = affineRange(c.layer, 'bias_param', x);
      affineStep(c, 'Add', { blob: c.blobs[0]!, dims }, axis, c.inputs[0]!, c.outputs[0]!, c.layer.name, `${c.layer.name}.bias`);
    }
    return [x];
  },
};


// ---------------------------------------------------------------- LRN

const lrn: LayerMapping = {
  map(c) {
    const p = param(c, 'lrn_param');
    const x = c.shapes[0]!;
    const name = c.layer.name;
    const size = p.num('local_size');
    if (size % 2 !== 1) throw layerError(c.layer, `local_size ${size} must be odd`);
    const [alpha, beta] = [p.num('alpha'), p.num('beta')];
    if (p.num('norm_region') === 0) {
      // ACROSS_CHANNELS: x / (k + α/n · Σ x²)^β over n neighbouring channels: ONNX LRN exactly.
      c.b.node('LRN', name, [c.inputs[0]!], [c.outputs[0]!], [
        intAttr('size', size),
        floatAttr('alpha', alpha),
        floatAttr('beta', beta),
        floatAttr('bias', p.num('k')),
      ]);
      return [x];
    }
    // WITHIN_CHANNEL, composed the way Caffe does it: x · (1 + α · avgpool_n(x²))^−β, the pool padded by
    // (n−1)/2 and counting the padding (every window is n·n there, as Caffe's AVE pool with stride 1).
    const pad = (size - 1) / 2;
    const sq = c.b.unique(`${name}/square`);
    c.b.node('Mul', `${name}/square`, [c.inputs[0]!, c.inputs[0]!], [sq]);
    const pooled = c.b.unique(`${name}/pool`);
    c.b.node('AveragePool', `${name}/pool`, [sq], [pooled], [
      intsAttr('kernel_shape', [size, size]),
      intsAttr('strides', [1, 1]),
      intsAttr('pads', [pad, pad, pad, pad]),
      intAttr('count_include_pad', 1),
    ]);
    const scaled = c.b.unique(`${name}/scale`);
    c.b.node('Mul', `${name}/scale`, [pooled, c.b.constant(`${name}.alpha`, [], Float32Array.of(alpha))], [scaled]);
    const shifted = c.b.unique(`${name}/shift`);
    c.b.node('Add', `${name}/shift`, [scaled, c.b.constant(`${name}.one`, [], Float32Array.of(1))], [shifted]);
    const factor = c.b.unique(`${name}/power`);
    c.b.node('Pow', `${name}/power`, [shifted, c.b.constant(`${name}.neg_beta`, [], Float32Array.of(-beta))], [factor]);
    c.b.node('Mul', name, [c.inputs[0]!, factor], [c.outputs[0]!]);
    return [x];
  },
};

// ---------------------------------------------------------------- BN (hszhao/PSPNet)
// Semantics: hszhao/PSPNet src/caffe/layers/bn_layer.cpp. Blobs [slope, bias, mean, var], each 1xCx1x1 (no
// moving-average factor); in the TEST phase (and whenever frozen) Forward_cpu uses the stored mean and
// variance: y = slope · (x − mean) · (var + eps)^−½ + bias. That is one BatchNormalization, which the BN
// passes fold into the convolution before it like any other.

const pspBn: LayerMapping = {
  blobs(_layer, [x]) {
    const ch = x!.length > 1 ? x![1]! : 1;
    const dims = [1, ch, 1, 1];
    return [
      { dims, role: 'gamma' },
      { dims, role: 'beta' },
      { dims, role: 'mean' },
      { dims, role: 'variance' },
    ];
  },
  map(c) {
    const p = param(c, 'bn_param');
    const x = c.shapes[0]!;
    // bn_layer.cpp reads num/channels/height/width: Caffe's legacy shape accessors, 4 axes at most.
    if (x.length < 2 || x.length > 4) throw layerError(c.layer, `needs an input of 2 to 4 axes (N, C, ...), got shape [${x}]`);
    const ch = x[1]!;
    const name = c.layer.name;
    const [slope, bias, mean, variance] = c.blobs as [Float32Array, Float32Array, Float32Array, Float32Array];
    c.b.node(
      'BatchNormalization',
      name,
      [
        c.inputs[0]!,
        c.b.constant(`${name}.scale`, [ch], slope),
        c.b.constant(`${name}.B`, [ch], bias),
        c.b.constant(`${name}.mean`, [ch], mean),
        c.b.constant(`${name}.var`, [ch], variance),
      ],
      [c.outputs[0]!],
      [floatAttr('epsilon', p.num('eps'))],
    );
    return [x];
  },
};

/** BatchNorm, Scale, Bias, LRN, and PSPNet's BN. */
export const NORM_LAYERS: Record<string, LayerMapping> = {
  BatchNorm: batchNorm,
  Scale: scale,
  Bias: bias,
  LRN: lrn,
  BN: pspBn,
};
