import { Attribute, BncError, floatAttr, intAttr, intsAttr } from '../../ir/index.js';
import { GraphBuilder } from './builder.js';
import { CaffeLayer } from './net.js';
import { Params } from './schema.js';

// One entry per Caffe layer type: which weight blobs it has (shapes follow from its parameters and input
// shapes) and how it becomes standard ONNX ops with Caffe's exact TEST-phase semantics.

/** What a weight blob is, so random weights can be drawn sensibly (He-normal weights, unit variances...). */
export type BlobRole = 'weight' | 'bias' | 'mean' | 'variance' | 'factor' | 'gamma' | 'beta' | 'slope';

export interface BlobSpec {
  dims: number[];
  role: BlobRole;
  /** Fan-in of a weight (for He-normal random weights). */
  fanIn?: number;
  /** May be absent from the file (NVCaffe's extra BatchNorm blobs). */
  optional?: boolean;
}

export interface MapContext {
  layer: CaffeLayer;
  /** Current value names of the bottoms, and their shapes. */
  inputs: string[];
  shapes: number[][];
  /** Value names the tops must be written to (in top order). */
  outputs: string[];
  /** The layer's weights, checked against blobs(): same count (optional ones may be missing), same size. */
  blobs: Float32Array[];
  b: GraphBuilder;
  opset: number;
  warn(message: string): void;
  /** Set when the layer needs ONNX training-mode BatchNormalization (opset >= 15). */
  needsTrainingMode(): void;
}

export interface LayerMapping {
  /** Weight blobs the layer reads, given its parameters and input shapes. Absent: none. */
  blobs?(layer: CaffeLayer, shapes: number[][]): BlobSpec[];
  /** Emit the nodes; returns the shape of each top. */
  map(c: MapContext): number[][];
  /** Number of bottoms accepted: [min, max]. Default [1, 1]. */
  bottoms?: [number, number];
}

export function layerError(layer: CaffeLayer, message: string): BncError {
  return new BncError(`layer '${layer.name}' (${layer.type}): ${message}`, { code: 'BAD_LAYER' });
}

const param = (c: { layer: CaffeLayer } | CaffeLayer, block: string): Params =>
  ('layer' in c ? c.layer : c).message.message(block);

const sizeOf = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/** Caffe's CanonicalAxisIndex: negative axes count from the end; out of range is an error. */
function canonicalAxis(layer: CaffeLayer, axis: number, rank: number, what = 'axis'): number {
  if (axis < -rank || axis >= rank) throw layerError(layer, `${what} ${axis} is out of range for a ${rank}-D input`);
  return axis < 0 ? axis + rank : axis;
}

/** Dims for a constant that broadcasts over a rank-`rank` input from `axis` on (trailing 1s appended). */
function broadcastDims(dims: number[], axis: number, rank: number): number[] {
  return [...dims, ...new Array<number>(Math.max(0, rank - axis - dims.length)).fill(1)];
}

// ---------------------------------------------------------------- convolution

interface ConvGeometry {
  kernel: number[];
  stride: number[];
  pad: number[];
  dilation: number[];
  group: number;
  numOutput: number;
  biasTerm: boolean;
}

/** Kernel/stride/pad/dilation from either the repeated fields or the _h/_w forms, per spatial axis. */
function convGeometry(layer: CaffeLayer, spatial: number): ConvGeometry {
  const p = param(layer, 'convolution_param');
  const perAxis = (list: number[], what: string, fallback: number | undefined): number[] => {
    if (list.length === 0) {
      if (fallback === undefined) throw layerError(layer, `convolution_param has no ${what}`);
      return new Array<number>(spatial).fill(fallback);
    }
    if (list.length === 1) return new Array<number>(spatial).fill(list[0]!);
    if (list.length !== spatial) throw layerError(layer, `${what} has ${list.length} values for ${spatial} spatial axes`);
    return list;
  };
  const hw = (h: string, w: string): number[] | undefined => {
    if (!p.has(h) && !p.has(w)) return undefined;
    if (spatial !== 2) throw layerError(layer, `${h}/${w} are only for 2-D convolution`);
    return [p.num(h), p.num(w)];
  };
  const kernel = hw('kernel_h', 'kernel_w') ?? perAxis(p.nums('kernel_size'), 'kernel_size', undefined);
  const stride = hw('stride_h', 'stride_w') ?? perAxis(p.nums('stride'), 'stride', 1);
  const pad = hw('pad_h', 'pad_w') ?? perAxis(p.nums('pad'), 'pad', 0);
  const dilation = perAxis(p.nums('dilation'), 'dilation', 1);
  if (!p.has('num_output')) throw layerError(layer, 'convolution_param has no num_output');
  if (p.num('axis') !== 1) throw layerError(layer, `convolution_param axis ${p.num('axis')} is not supported (only the channel axis 1)`);
  if (kernel.some((k) => k <= 0) || stride.some((s) => s <= 0)) throw layerError(layer, 'kernel and stride must be positive');
  return { kernel, stride, pad, dilation, group: p.num('group'), numOutput: p.num('num_output'), biasTerm: p.bool('bias_term') };
}

function convAttributes(g: ConvGeometry): Attribute[] {
  return [
    intsAttr('kernel_shape', g.kernel),
    intsAttr('strides', g.stride),
    intsAttr('pads', [...g.pad, ...g.pad]),
    intsAttr('dilations', g.dilation),
    intAttr('group', g.group),
  ];
}

function checkGroups(layer: CaffeLayer, channels: number, g: ConvGeometry): void {
  if (g.group < 1 || channels % g.group !== 0 || g.numOutput % g.group !== 0) {
    throw layerError(layer, `group ${g.group} must divide both the ${channels} input channels and num_output ${g.numOutput}`);
  }
}

const convolution: LayerMapping = {
  blobs(layer, [x]) {
    const g = convGeometry(layer, x!.length - 2);
    const fanIn = (x![1]! / g.group) * sizeOf(g.kernel);
    const specs: BlobSpec[] = [{ dims: [g.numOutput, x![1]! / g.group, ...g.kernel], role: 'weight', fanIn }];
    if (g.biasTerm) specs.push({ dims: [g.numOutput], role: 'bias' });
    return specs;
  },
  map(c) {
    const x = c.shapes[0]!;
    if (x.length < 3) throw layerError(c.layer, `needs an input with spatial axes, got shape [${x}]`);
    const g = convGeometry(c.layer, x.length - 2);
    checkGroups(c.layer, x[1]!, g);
    const inputs = [c.inputs[0]!, c.b.constant(`${c.layer.name}.weight`, [g.numOutput, x[1]! / g.group, ...g.kernel], c.blobs[0]!)];
    if (g.biasTerm) inputs.push(c.b.constant(`${c.layer.name}.bias`, [g.numOutput], c.blobs[1]!));
    c.b.node('Conv', c.layer.name, inputs, [c.outputs[0]!], convAttributes(g));
    const spatial = x.slice(2).map((size, i) => {
      const extent = g.dilation[i]! * (g.kernel[i]! - 1) + 1;
      return Math.floor((size + 2 * g.pad[i]! - extent) / g.stride[i]!) + 1;
    });
    if (spatial.some((s) => s <= 0)) throw layerError(c.layer, `the kernel does not fit the ${x.slice(2).join('x')} input`);
    return [[x[0]!, g.numOutput, ...spatial]];
  },
};

const deconvolution: LayerMapping = {
  blobs(layer, [x]) {
    const g = convGeometry(layer, x!.length - 2);
    const specs: BlobSpec[] = [
      { dims: [x![1]!, g.numOutput / g.group, ...g.kernel], role: 'weight', fanIn: (x![1]! / g.group) * sizeOf(g.kernel) },
    ];
    if (g.biasTerm) specs.push({ dims: [g.numOutput], role: 'bias' });
    return specs;
  },
  map(c) {
    const x = c.shapes[0]!;
    const g = convGeometry(c.layer, x.length - 2);
    checkGroups(c.layer, x[1]!, g);
    // Caffe stores deconvolution weights as [C_in, C_out / group, k...]: ConvTranspose's layout.
    const inputs = [c.inputs[0]!, c.b.constant(`${c.layer.name}.weight`, [x[1]!, g.numOutput / g.group, ...g.kernel], c.blobs[0]!)];
    if (g.biasTerm) inputs.push(c.b.constant(`${c.layer.name}.bias`, [g.numOutput], c.blobs[1]!));
    c.b.node('ConvTranspose', c.layer.name, inputs, [c.outputs[0]!], convAttributes(g));
    const spatial = x.slice(2).map((size, i) => g.stride[i]! * (size - 1) + g.dilation[i]! * (g.kernel[i]! - 1) + 1 - 2 * g.pad[i]!);
    return [[x[0]!, g.numOutput, ...spatial]];
  },
};

// ---------------------------------------------------------------- inner product

const innerProduct: LayerMapping = {
  blobs(layer, [x]) {
    const p = param(layer, 'inner_product_param');
    const axis = canonicalAxis(layer, p.num('axis'), x!.length);
    const k = sizeOf(x!.slice(axis));
    const n = p.num('num_output');
    const specs: BlobSpec[] = [{ dims: p.bool('transpose') ? [k, n] : [n, k], role: 'weight', fanIn: k }];
    if (p.bool('bias_term')) specs.push({ dims: [n], role: 'bias' });
    return specs;
  },
  map(c) {
    const p = param(c, 'inner_product_param');
    const x = c.shapes[0]!;
    if (!p.has('num_output')) throw layerError(c.layer, 'inner_product_param has no num_output');
    const axis = canonicalAxis(c.layer, p.num('axis'), x.length);
    const k = sizeOf(x.slice(axis));
    const n = p.num('num_output');
    const transposed = p.bool('transpose');
    const name = c.layer.name;
    const out = c.outputs[0]!;
    if (axis === 1) {
      // (N, C, H, W) → Flatten → Gemm: the usual classifier.
      let input = c.inputs[0]!;
      if (x.length > 2) {
        input = c.b.unique(`${name}/flatten`);
        c.b.node('Flatten', `${name}/flatten`, [c.inputs[0]!], [input], [intAttr('axis', 1)]);
      }
      const inputs = [input, c.b.constant(`${name}.weight`, transposed ? [k, n] : [n, k], c.blobs[0]!)];
      if (p.bool('bias_term')) inputs.push(c.b.constant(`${name}.bias`, [n], c.blobs[1]!));
      c.b.node('Gemm', name, inputs, [out], [intAttr('transB', transposed ? 0 : 1)]);
      return [[x[0]!, n]];
    }
    // axis > 1: the leading axes stay, the rest is flattened; MatMul with a [K, N] weight keeps them.
    let input = c.inputs[0]!;
    if (x.length > axis + 1) {
      input = c.b.unique(`${name}/flatten`);
      const shape = c.b.int64s(`${name}/flatten_shape`, [...new Array<number>(axis).fill(0), -1]);
      c.b.node('Reshape', `${name}/flatten`, [c.inputs[0]!, shape], [input]);
    }
    let weight = c.blobs[0]!;
    if (!transposed) {
      weight = new Float32Array(k * n);
      const src = c.blobs[0]!;
      for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) weight[j * n + i] = src[i * k + j]!;
    }
    const w = c.b.constant(`${name}.weight`, [k, n], weight);
    if (p.bool('bias_term')) {
      const product = c.b.unique(`${name}/matmul`);
      c.b.node('MatMul', name, [input, w], [product]);
      c.b.node('Add', `${name}/bias`, [product, c.b.constant(`${name}.bias`, [n], c.blobs[1]!)], [out]);
    } else {
      c.b.node('MatMul', name, [input, w], [out]);
    }
    return [[...x.slice(0, axis), n]];
  },
};

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
          `written as training_mode=1 (run bn-eval to use the stored statistics instead)`,
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

// ---------------------------------------------------------------- activations and elementwise math

/** A one-node layer whose output has the input's shape. */
function unary(opType: string, attrs: (c: MapContext) => Attribute[] = () => []): LayerMapping {
  return {
    map(c) {
      c.b.node(opType, c.layer.name, [c.inputs[0]!], [c.outputs[0]!], attrs(c));
      return [c.shapes[0]!];
    },
  };
}

const relu: LayerMapping = {
  map(c) {
    const slope = param(c, 'relu_param').num('negative_slope');
    if (slope === 0) c.b.node('Relu', c.layer.name, [c.inputs[0]!], [c.outputs[0]!]);
    else c.b.node('LeakyRelu', c.layer.name, [c.inputs[0]!], [c.outputs[0]!], [floatAttr('alpha', slope)]);
    return [c.shapes[0]!];
  },
};

const prelu: LayerMapping = {
  blobs(layer, [x]) {
    const shared = param(layer, 'prelu_param').bool('channel_shared');
    return [{ dims: [shared ? 1 : x!.length > 1 ? x![1]! : 1], role: 'slope' }];
  },
  map(c) {
    const x = c.shapes[0]!;
    const shared = param(c, 'prelu_param').bool('channel_shared');
    const dims = shared ? [1] : broadcastDims([x[1]!], 1, x.length);
    const slope = c.b.constant(`${c.layer.name}.slope`, dims, c.blobs[0]!);
    c.b.node('PRelu', c.layer.name, [c.inputs[0]!, slope], [c.outputs[0]!]);
    return [x];
  },
};

/**
 * y = post · f(pre_scale · x + pre_shift), emitting only the steps that are not identities. Used by Power,
 * Exp and Log, whose Caffe definitions are all of this form.
 */
function affineChain(c: MapContext, steps: { op: string; value?: number; skip: boolean; suffix: string }[]): void {
  const live = steps.filter((s) => !s.skip);
  const name = c.layer.name;
  if (!live.length) {
    c.b.node('Identity', name, [c.inputs[0]!], [c.outputs[0]!]);
    return;
  }
  let current = c.inputs[0]!;
  live.forEach((s, i) => {
    const last = i === live.length - 1;
    const out = last ? c.outputs[0]! : c.b.unique(`${name}/${s.suffix}`);
    const inputs = [current];
    if (s.value !== undefined) inputs.push(c.b.constant(`${name}.${s.suffix}`, [], Float32Array.of(s.value)));
    c.b.node(s.op, last ? name : `${name}/${s.suffix}`, inputs, [out]);
    current = out;
  });
}

const power: LayerMapping = {
  map(c) {
    const p = param(c, 'power_param');
    const [pw, sc, sh] = [p.num('power'), p.num('scale'), p.num('shift')];
    affineChain(c, [
      { op: 'Mul', value: sc, skip: sc === 1, suffix: 'scale' },
      { op: 'Add', value: sh, skip: sh === 0, suffix: 'shift' },
      { op: 'Pow', value: pw, skip: pw === 1, suffix: 'power' },
    ]);
    return [c.shapes[0]!];
  },
};

/** ln(base), with Caffe's base -1 meaning e. */
function logBase(c: MapContext, base: number): number {
  if (base === -1) return 1;
  if (!(base > 0)) throw layerError(c.layer, `base ${base} must be positive (or -1 for e)`);
  return Math.log(base);
}

const exp: LayerMapping = {
  map(c) {
    const p = param(c, 'exp_param');
    const lnBase = logBase(c, p.num('base'));
    // Caffe: y = base^(shift + scale·x) = base^shift · exp(scale·ln(base) · x)
    const inner = p.num('scale') * lnBase;
    const outer = p.num('shift') === 0 ? 1 : Math.exp(p.num('shift') * lnBase);
    affineChain(c, [
      { op: 'Mul', value: inner, skip: inner === 1, suffix: 'scale' },
      { op: 'Exp', skip: false, suffix: 'exp' },
      { op: 'Mul', value: outer, skip: outer === 1, suffix: 'outer_scale' },
    ]);
    return [c.shapes[0]!];
  },
};

const log: LayerMapping = {
  map(c) {
    const p = param(c, 'log_param');
    const lnBase = logBase(c, p.num('base'));
    // Caffe: y = log_base(shift + scale·x) = ln(shift + scale·x) / ln(base)
    affineChain(c, [
      { op: 'Mul', value: p.num('scale'), skip: p.num('scale') === 1, suffix: 'scale' },
      { op: 'Add', value: p.num('shift'), skip: p.num('shift') === 0, suffix: 'shift' },
      { op: 'Log', skip: false, suffix: 'log' },
      { op: 'Mul', value: 1 / lnBase, skip: lnBase === 1, suffix: 'base' },
    ]);
    return [c.shapes[0]!];
  },
};

const dropout: LayerMapping = {
  map(c) {
    // Caffe scales at training time, so TEST is the identity; forks with scale_train: false scale here.
    const p = param(c, 'dropout_param');
    if (p.bool('scale_train')) c.b.node('Identity', c.layer.name, [c.inputs[0]!], [c.outputs[0]!]);
    else {
      const keep = c.b.constant(`${c.layer.name}.keep`, [], Float32Array.of(1 - p.num('dropout_ratio')));
      c.b.node('Mul', c.layer.name, [c.inputs[0]!, keep], [c.outputs[0]!]);
    }
    return [c.shapes[0]!];
  },
};

// ---------------------------------------------------------------- pooling

/**
 * Caffe's pooled size: ceil (default) or floor of (size + 2·pad − kernel) / stride, plus one; with padding,
 * a last window that would start in the padding (at or beyond size + pad) is dropped.
 */
export function caffePooledSize(size: number, kernel: number, stride: number, pad: number, ceil: boolean): number {
  const span = size + 2 * pad - kernel;
  let out = (ceil ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  if (pad > 0 && (out - 1) * stride >= size + pad) out--;
  return out;
}

const pooling: LayerMapping = {
  map(c) {
    const p = param(c, 'pooling_param');
    const x = c.shapes[0]!;
    const name = c.layer.name;
    if (x.length !== 4) throw layerError(c.layer, `Caffe pooling needs a 4-D input, got shape [${x}]`);
    const method = p.num('pool');
    if (method !== 0 && method !== 1) throw layerError(c.layer, 'STOCHASTIC pooling is not supported; use MAX or AVE');
    const isMax = method === 0;
    if (p.bool('global_pooling')) {
      c.b.node(isMax ? 'GlobalMaxPool' : 'GlobalAveragePool', name, [c.inputs[0]!], [c.outputs[0]!]);
      return [[x[0]!, x[1]!, 1, 1]];
    }
    const two = (h: string, w: string, single: string, fallback?: number): [number, number] => {
      if (p.has(h) || p.has(w)) return [p.num(h), p.num(w)];
      if (!p.has(single) && fallback === undefined) throw layerError(c.layer, `pooling_param has no ${single} (or ${h}/${w})`);
      const v = p.has(single) ? p.num(single) : fallback!;
      return [v, v];
    };
    const kernel = two('kernel_h', 'kernel_w', 'kernel_size');
    const stride = two('stride_h', 'stride_w', 'stride', 1);
    const pad = two('pad_h', 'pad_w', 'pad', 0);
    // round_mode (BVLC, field 13) or a fork's ceil_mode: false selects floor rounding.
    const ceil = p.num('round_mode') === 0 && (!p.has('ceil_mode') || p.bool('ceil_mode'));
    if (kernel.some((k) => !(k > 0)) || stride.some((st) => !(st > 0)) || pad.some((pd) => !(pd >= 0))) {
      throw layerError(c.layer, `kernel [${kernel}] and stride [${stride}] must be positive and pad [${pad}] not negative`);
    }
    if (pad.some((pd, i) => pd >= kernel[i]!)) throw layerError(c.layer, `pad [${pad}] must be smaller than the kernel [${kernel}]`);
    const out = [0, 1].map((i) => caffePooledSize(x[2 + i]!, kernel[i]!, stride[i]!, pad[i]!, ceil));
    if (out.some((o) => o <= 0)) throw layerError(c.layer, `the ${kernel.join('x')} window does not fit the ${x.slice(2).join('x')} input`);
    // Extra padding at the end so that ONNX's floor rounding yields Caffe's count of windows. Windows that
    // reach into it: MAX ignores padding anyway; AVE must not count it (Caffe divides by the window clipped
    // to input + pad), so AVE pads the real padding explicitly and excludes only the extra part.
    const extra = [0, 1].map((i) => Math.max(0, (out[i]! - 1) * stride[i]! + kernel[i]! - (x[2 + i]! + 2 * pad[i]!)));
    const attrs: Attribute[] = [intsAttr('kernel_shape', kernel), intsAttr('strides', stride)];
    if (isMax) {
      attrs.push(intsAttr('pads', [pad[0]!, pad[1]!, pad[0]! + extra[0]!, pad[1]! + extra[1]!]));
      c.b.node('MaxPool', name, [c.inputs[0]!], [c.outputs[0]!], attrs);
    } else if (extra[0] === 0 && extra[1] === 0) {
      attrs.push(intsAttr('pads', [pad[0]!, pad[1]!, pad[0]!, pad[1]!]), intAttr('count_include_pad', 1));
      c.b.node('AveragePool', name, [c.inputs[0]!], [c.outputs[0]!], attrs);
    } else {
      let input = c.inputs[0]!;
      if (pad[0]! > 0 || pad[1]! > 0) {
        input = c.b.unique(`${name}/pad`);
        const pads = c.b.int64s(`${name}/pads`, [0, 0, pad[0]!, pad[1]!, 0, 0, pad[0]!, pad[1]!]);
        c.b.node('Pad', `${name}/pad`, [c.inputs[0]!, pads], [input], [stringAttrMode('constant')]);
      }
      attrs.push(intsAttr('pads', [0, 0, extra[0]!, extra[1]!]), intAttr('count_include_pad', 0));
      c.b.node('AveragePool', name, [input], [c.outputs[0]!], attrs);
    }
    return [[x[0]!, x[1]!, out[0]!, out[1]!]];
  },
};

function stringAttrMode(mode: string): Attribute {
  return { name: 'mode', type: 3, s: new TextEncoder().encode(mode) };
}

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

// ---------------------------------------------------------------- shape and routing layers

const softmax: LayerMapping = {
  map(c) {
    const x = c.shapes[0]!;
    const axis = canonicalAxis(c.layer, param(c, 'softmax_param').num('axis'), x.length);
    // opset >= 13 Softmax normalizes along exactly one axis, as Caffe does.
    c.b.node('Softmax', c.layer.name, [c.inputs[0]!], [c.outputs[0]!], [intAttr('axis', axis)]);
    return [x];
  },
};

function checkSameShapes(c: MapContext): number[] {
  const x = c.shapes[0]!;
  for (const s of c.shapes.slice(1)) {
    if (s.length !== x.length || s.some((d, i) => d !== x[i])) {
      throw layerError(c.layer, `bottoms must have the same shape, got [${x}] and [${s}]`);
    }
  }
  return x;
}

const eltwise: LayerMapping = {
  bottoms: [2, Infinity],
  map(c) {
    const p = param(c, 'eltwise_param');
    const x = checkSameShapes(c);
    const name = c.layer.name;
    const op = p.num('operation');
    const coeff = p.nums('coeff');
    if (coeff.length && op !== 1) throw layerError(c.layer, 'coeff is only allowed with operation SUM');
    if (coeff.length && coeff.length !== c.inputs.length) {
      throw layerError(c.layer, `has ${coeff.length} coeff values for ${c.inputs.length} bottoms`);
    }
    if (op === 1) {
      const terms = c.inputs.map((input, i) => {
        const k = coeff[i] ?? 1;
        if (k === 1) return input;
        const scaled = c.b.unique(`${name}/coeff${i}`);
        c.b.node('Mul', `${name}/coeff${i}`, [input, c.b.constant(`${name}.coeff${i}`, [], Float32Array.of(k))], [scaled]);
        return scaled;
      });
      c.b.node(terms.length === 2 ? 'Add' : 'Sum', name, terms, [c.outputs[0]!]);
    } else if (op === 2) {
      c.b.node('Max', name, [...c.inputs], [c.outputs[0]!]);
    } else {
      // PROD: a chain of binary Muls; the last one carries the layer's name and output.
      let acc = c.inputs[0]!;
      for (let i = 1; i < c.inputs.length; i++) {
        const last = i === c.inputs.length - 1;
        const out = last ? c.outputs[0]! : c.b.unique(`${name}/prod${i}`);
        c.b.node('Mul', last ? name : `${name}/prod${i}`, [acc, c.inputs[i]!], [out]);
        acc = out;
      }
    }
    return [x];
  },
};

const concat: LayerMapping = {
  bottoms: [1, Infinity],
  map(c) {
    const p = param(c, 'concat_param');
    const x = c.shapes[0]!;
    const axis = p.has('concat_dim') && !p.has('axis') ? p.num('concat_dim') : canonicalAxis(c.layer, p.num('axis'), x.length);
    let total = 0;
    for (const s of c.shapes) {
      if (s.length !== x.length || s.some((d, i) => i !== axis && d !== x[i])) {
        throw layerError(c.layer, `bottoms [${x}] and [${s}] differ outside the concat axis ${axis}`);
      }
      total += s[axis]!;
    }
    if (c.inputs.length === 1) c.b.node('Identity', c.layer.name, [c.inputs[0]!], [c.outputs[0]!]);
    else c.b.node('Concat', c.layer.name, [...c.inputs], [c.outputs[0]!], [intAttr('axis', axis)]);
    const out = [...x];
    out[axis] = total;
    return [out];
  },
};

const slice: LayerMapping = {
  map(c) {
    const p = param(c, 'slice_param');
    const x = c.shapes[0]!;
    const axis = p.has('slice_dim') && !p.has('axis') ? p.num('slice_dim') : canonicalAxis(c.layer, p.num('axis'), x.length);
    const count = c.outputs.length;
    const points = p.nums('slice_point');
    let sizes: number[];
    if (points.length) {
      if (points.length !== count - 1) throw layerError(c.layer, `${points.length} slice_point values for ${count} tops (need ${count - 1})`);
      const bounds = [0, ...points, x[axis]!];
      sizes = bounds.slice(1).map((b, i) => b - bounds[i]!);
      if (sizes.some((s) => s <= 0)) throw layerError(c.layer, `slice_point [${points}] must increase within 1..${x[axis]! - 1}`);
    } else {
      if (x[axis]! % count !== 0) throw layerError(c.layer, `axis ${axis} of size ${x[axis]} does not split into ${count} equal parts`);
      sizes = new Array<number>(count).fill(x[axis]! / count);
    }
    c.b.node('Split', c.layer.name, [c.inputs[0]!, c.b.int64s(`${c.layer.name}.split`, sizes)], [...c.outputs], [intAttr('axis', axis)]);
    return sizes.map((s) => x.map((d, i) => (i === axis ? s : d)));
  },
};

const split: LayerMapping = {
  map(c) {
    c.outputs.forEach((out, i) => c.b.node('Identity', i === 0 ? c.layer.name : `${c.layer.name}/${i}`, [c.inputs[0]!], [out]));
    return c.outputs.map(() => c.shapes[0]!);
  },
};

const flatten: LayerMapping = {
  map(c) {
    const p = param(c, 'flatten_param');
    const x = c.shapes[0]!;
    const axis = canonicalAxis(c.layer, p.num('axis'), x.length);
    const end = canonicalAxis(c.layer, p.num('end_axis'), x.length, 'end_axis');
    const out = [...x.slice(0, axis), sizeOf(x.slice(axis, end + 1)), ...x.slice(end + 1)];
    if (axis === 1 && end === x.length - 1) {
      c.b.node('Flatten', c.layer.name, [c.inputs[0]!], [c.outputs[0]!], [intAttr('axis', 1)]);
    } else {
      const spec = [...new Array<number>(axis).fill(0), -1, ...x.slice(end + 1)];
      c.b.node('Reshape', c.layer.name, [c.inputs[0]!, c.b.int64s(`${c.layer.name}.shape`, spec)], [c.outputs[0]!]);
    }
    return [out];
  },
};

const reshape: LayerMapping = {
  map(c) {
    const p = param(c, 'reshape_param');
    const x = c.shapes[0]!;
    const spec = p.message('shape').nums('dim');
    const axisParam = p.num('axis');
    const axis = axisParam < 0 ? x.length + axisParam + 1 : axisParam;
    const numAxes = p.num('num_axes');
    const end = numAxes === -1 ? x.length : axis + numAxes;
    if (axis < 0 || axis > x.length || end > x.length) throw layerError(c.layer, `axis ${axisParam} / num_axes ${numAxes} do not fit a ${x.length}-D input`);
    if (spec.filter((d) => d === -1).length > 1) throw layerError(c.layer, 'only one dim may be -1');
    // Caffe: dims [axis, end) are replaced by the spec; 0 copies the input dim at the same position.
    const out = [...x.slice(0, axis), ...spec.map((d, i) => (d === 0 ? x[axis + i]! : d)), ...x.slice(end)];
    const known = out.reduce((a, d) => (d === -1 ? a : a * d), 1);
    const inferred = out.indexOf(-1);
    if (inferred >= 0) {
      if (known === 0 || sizeOf(x) % known !== 0) throw layerError(c.layer, `cannot reshape [${x}] to [${out}]`);
      out[inferred] = sizeOf(x) / known;
    }
    if (sizeOf(out) !== sizeOf(x)) throw layerError(c.layer, `cannot reshape [${x}] (${sizeOf(x)} values) to [${out}]`);
    // The ONNX shape keeps 0/-1 where positions line up (prefix and spec), so the batch may vary.
    const onnxShape = [...new Array<number>(axis).fill(0), ...spec, ...x.slice(end)];
    c.b.node('Reshape', c.layer.name, [c.inputs[0]!, c.b.int64s(`${c.layer.name}.shape`, onnxShape)], [c.outputs[0]!]);
    return [out];
  },
};

const permute: LayerMapping = {
  map(c) {
    const x = c.shapes[0]!;
    const order = param(c, 'permute_param').nums('order');
    const perm = [...order];
    for (let i = 0; i < x.length; i++) if (!perm.includes(i)) perm.push(i);
    if (perm.length !== x.length || new Set(perm).size !== x.length || perm.some((a) => a >= x.length)) {
      throw layerError(c.layer, `order [${order}] is not a permutation of the ${x.length} axes`);
    }
    c.b.node('Transpose', c.layer.name, [c.inputs[0]!], [c.outputs[0]!], [intsAttr('perm', perm)]);
    return [perm.map((a) => x[a]!)];
  },
};

const silence: LayerMapping = {
  bottoms: [0, Infinity],
  map: () => [],
};

/** Every supported layer type (as written in `type:`) and its mapping. */
export const LAYER_MAPPINGS: Record<string, LayerMapping> = {
  Convolution: convolution,
  Deconvolution: deconvolution,
  InnerProduct: innerProduct,
  BatchNorm: batchNorm,
  Scale: scale,
  Bias: bias,
  ReLU: relu,
  PReLU: prelu,
  Sigmoid: unary('Sigmoid'),
  TanH: unary('Tanh'),
  ELU: unary('Elu', (c) => [floatAttr('alpha', param(c, 'elu_param').num('alpha'))]),
  AbsVal: unary('Abs'),
  BNLL: unary('Softplus'),
  Power: power,
  Exp: exp,
  Log: log,
  Pooling: pooling,
  LRN: lrn,
  Softmax: softmax,
  Eltwise: eltwise,
  Concat: concat,
  Slice: slice,
  Split: split,
  Flatten: flatten,
  Reshape: reshape,
  Dropout: dropout,
  Permute: permute,
  Silence: silence,
};
