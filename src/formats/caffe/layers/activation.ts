import { DataType, floatAttr, intAttr } from '../../../ir/index.js';
import { LayerMapping, MapContext, broadcastDims, canonicalAxis, layerError, param, unary } from './mapping.js';


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

/** A float32 scalar constant named after the layer. */
const scalar = (c: MapContext, suffix: string, value: number) => c.b.constant(`${c.layer.name}.${suffix}`, [], Float32Array.of(value));

// Clip (BVLC clip_layer.cpp): y = max(min, min(x, max)). ONNX Clip applies the lower bound first, so
// it gives `max` where Caffe gives `min` when min > max; that case is written as Min then Max.
const clip: LayerMapping = {
  map(c) {
    const p = param(c, 'clip_param');
    if (!p.has('min') || !p.has('max')) throw layerError(c.layer, 'clip_param needs both min and max (they are required in Caffe)');
    const [lo, hi] = [p.num('min'), p.num('max')];
    const name = c.layer.name;
    if (lo <= hi) {
      c.b.node('Clip', name, [c.inputs[0]!, scalar(c, 'min', lo), scalar(c, 'max', hi)], [c.outputs[0]!]);
    } else {
      const upper = c.b.unique(`${name}/min`);
      c.b.node('Min', `${name}/min`, [c.inputs[0]!, scalar(c, 'max', hi)], [upper]);
      c.b.node('Max', name, [upper, scalar(c, 'min', lo)], [c.outputs[0]!]);
    }
    return [c.shapes[0]!];
  },
};

// Swish (BVLC swish_layer.cpp): y = x · sigmoid(beta · x), beta scaling first as Caffe does.
const swish: LayerMapping = {
  map(c) {
    const beta = param(c, 'swish_param').num('beta');
    const name = c.layer.name;
    let z = c.inputs[0]!;
    if (beta !== 1) {
      z = c.b.unique(`${name}/beta`);
      c.b.node('Mul', `${name}/beta`, [c.inputs[0]!, scalar(c, 'beta', beta)], [z]);
    }
    const s = c.b.unique(`${name}/sigmoid`);
    c.b.node('Sigmoid', `${name}/sigmoid`, [z], [s]);
    c.b.node('Mul', name, [c.inputs[0]!, s], [c.outputs[0]!]);
    return [c.shapes[0]!];
  },
};

// Threshold (BVLC threshold_layer.cpp): y = x > threshold ? 1 : 0, a strict comparison that is false for
// NaN: Greater, then Cast to float.
const threshold: LayerMapping = {
  map(c) {
    const t = param(c, 'threshold_param').num('threshold');
    const name = c.layer.name;
    const flag = c.b.unique(`${name}/greater`);
    c.b.node('Greater', `${name}/greater`, [c.inputs[0]!, scalar(c, 'threshold', t)], [flag]);
    c.b.node('Cast', name, [flag], [c.outputs[0]!], [intAttr('to', DataType.FLOAT)]);
    return [c.shapes[0]!];
  },
};

// ReLU6 (eric612/MobileNet-YOLO src/caffe/layers/relu6_layer.cpp, relu6_param = 211, a ReLUParameter):
// y = min(max(x, 0) + negative_slope · min(x, 0), 6).
const relu6: LayerMapping = {
  map(c) {
    const slope = param(c, 'relu6_param').num('negative_slope');
    const name = c.layer.name;
    if (slope === 0) {
      c.b.node('Clip', name, [c.inputs[0]!, scalar(c, 'min', 0), scalar(c, 'max', 6)], [c.outputs[0]!]);
    } else {
      const leaky = c.b.unique(`${name}/leaky`);
      c.b.node('LeakyRelu', `${name}/leaky`, [c.inputs[0]!], [leaky], [floatAttr('alpha', slope)]);
      c.b.node('Min', name, [leaky, scalar(c, 'max', 6)], [c.outputs[0]!]);
    }
    return [c.shapes[0]!];
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

/** Activations, elementwise math on one bottom, Dropout and Softmax (ReLU6 from the YOLO fork). */
export const ACTIVATION_LAYERS: Record<string, LayerMapping> = {
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
  Dropout: dropout,
  Softmax: softmax,
  Clip: clip,
  Swish: swish,
  Threshold: threshold,
  ReLU6: relu6,
};
