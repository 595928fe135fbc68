import { Model, Node, getAttribute, onnxOpset, tensorToIntegers, topologicalOrder } from '../ir/index.js';
import { broadcastDims, formatDims, normalizeAxis } from './broadcast.js';
import { AttributeReader, KernelContext, kernelError } from './kernel.js';
import { poolWindowOptions } from './pool.js';
import { transposeGeometry } from './conv.js';
import { batchNormGeometry } from './normalization.js';
import { forwardGeometry, realOutputShape } from './windowGeometry.js';

/**
 * Static shape inference for the ops CNNs are made of, run before any kernel: a model whose shapes do not
 * fit together (a conv whose weight expects other channels, a Gemm with mismatched K, an Add that cannot
 * broadcast, a BatchNorm with the wrong number of statistics) fails at once with the node named, rather
 * than after the expensive layers before it have run. Shapes that depend on computed values (Reshape fed
 * by Shape → Gather, ...) stay unknown, and so does everything after them; the kernels check those as they
 * run. The rules use the kernels' own geometry helpers (windowGeometry, broadcastDims), so the two cannot
 * disagree.
 */
export type Dims = number[];

type ShapeRule = (node: Node, shapes: (Dims | undefined)[], ctx: ShapeContext) => (Dims | undefined)[];

interface ShapeContext {
  kernel: KernelContext;
  /** Constant integer values (initializers, Constant nodes) by name, for shape inputs like Reshape's. */
  constant(name: string | undefined): number[] | undefined;
}

const sameAsFirst: ShapeRule = (_n, s) => [s[0]];

// Binary ops whose opset-1-to-6 forms broadcast B onto A with the broadcast/axis attributes.
const LEGACY_BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Equal']);

function broadcastRule(node: Node, shapes: (Dims | undefined)[], ctx: ShapeContext): (Dims | undefined)[] {
  const inputs = node.opType === 'Where' ? shapes : shapes.filter((_, i) => node.inputs[i]);
  if (inputs.some((s) => !s)) return [undefined];
  // Opset < 7 elementwise ops broadcast B onto A only when asked to (`broadcast` = 1): A's shape wins.
  if (ctx.kernel.opset < 7 && LEGACY_BROADCAST.has(node.opType)) return [inputs[0]];
  return [broadcastDims(node, inputs as Dims[])];
}

const RULES: Record<string, ShapeRule> = {
  Conv(node, [x, w], ctx) {
    if (!x || !w) return [undefined];
    const group = ctx.kernel.attrs.int('group', 1);
    if (x.length !== w.length) throw kernelError(node, `input ${formatDims(x)} and weight ${formatDims(w)} differ in rank`);
    if (x[1] !== w[1]! * group) {
      throw kernelError(node, `input has ${x[1]} channels, but the weight ${formatDims(w)} with group ${group} expects ${w[1]! * group}`);
    }
    const kernel = ctx.kernel.attrs.ints('kernel_shape', w.slice(2));
    const g = forwardGeometry(ctx.kernel, x.slice(2), kernel);
    return [[x[0]!, w[0]!, ...realOutputShape(g)]];
  },
  ConvTranspose(node, [x, w], ctx) {
    if (!x || !w) return [undefined];
    const group = ctx.kernel.attrs.int('group', 1);
    if (x[1] !== w[0]) throw kernelError(node, `input has ${x[1]} channels, but the weight ${formatDims(w)} expects ${w[0]}`);
    if (x.length !== w.length) throw kernelError(node, `input ${formatDims(x)} and weight ${formatDims(w)} differ in rank`);
    const kernel = ctx.kernel.attrs.ints('kernel_shape', w.slice(2));
    const g = transposeGeometry(ctx.kernel, x.slice(2), kernel, w[1]! * group);
    return [[x[0]!, w[1]! * group, ...realOutputShape(g)]];
  },
  MaxPool: poolRule,
  AveragePool: poolRule,
  GlobalAveragePool: (_n, [x]) => [x ? [x[0]!, x[1]!, ...x.slice(2).map(() => 1)] : undefined],
  GlobalMaxPool: (_n, [x]) => [x ? [x[0]!, x[1]!, ...x.slice(2).map(() => 1)] : undefined],
  BatchNormalization(node, shapes, ctx) {
    const x = shapes[0];
    if (!x) return [undefined];
    const { channels } = batchNormGeometry(ctx.kernel.opset, ctx.kernel.attrs.int('spatial', 1), x);
    const what = ctx.kernel.opset < 9 && ctx.kernel.attrs.int('spatial', 1) === 0 ? 'elements (spatial=0: one per element of X[1:])' : 'channels';
    ['scale', 'B', 'mean', 'var'].forEach((name, i) => {
      const s = shapes[i + 1];
      const size = s?.reduce((a, b) => a * b, 1);
      if (s && size !== channels) {
        throw kernelError(node, `${name} '${node.inputs[i + 1]}' has ${size} values, but the input ${formatDims(x)} has ${channels} ${what}`);
      }
    });
    // Y has X's shape; the optional running and saved statistics have the shape of the stored ones.
    const stats = shapes[3] ?? shapes[4];
    return [x, stats, stats, stats, stats];
  },
  Gemm(node, [a, b, c], ctx) {
    if (!a || !b) return [undefined];
    if (a.length !== 2 || b.length !== 2) throw kernelError(node, `inputs must be 2-D, got ${formatDims(a)} and ${formatDims(b)}`);
    const ta = ctx.kernel.attrs.int('transA', 0);
    const tb = ctx.kernel.attrs.int('transB', 0);
    const [m, k] = ta ? [a[1]!, a[0]!] : [a[0]!, a[1]!];
    const [k2, n] = tb ? [b[1]!, b[0]!] : [b[0]!, b[1]!];
    if (k !== k2) throw kernelError(node, `A ${formatDims(a)} and B ${formatDims(b)} (transA=${ta}, transB=${tb}) disagree on K: ${k} vs ${k2}`);
    if (c) broadcastDims(node, [[m, n], c]);
    return [[m, n]];
  },
  MatMul(node, [a, b]) {
    if (!a || !b) return [undefined];
    const a2 = a.length === 1 ? [1, a[0]!] : a;
    const b2 = b.length === 1 ? [b[0]!, 1] : b;
    if (a2[a2.length - 1] !== b2[b2.length - 2]) throw kernelError(node, `cannot multiply ${formatDims(a)} by ${formatDims(b)}`);
    const batch = broadcastDims(node, [a2.slice(0, -2), b2.slice(0, -2)]);
    const out = [...batch, a2[a2.length - 2]!, b2[b2.length - 1]!];
    if (a.length === 1) out.splice(out.length - 2, 1);
    if (b.length === 1) out.pop();
    return [out];
  },
  Flatten(node, [x], ctx) {
    if (!x) return [undefined];
    let axis = ctx.kernel.attrs.int('axis', 1);
    if (axis < 0) axis += x.length;
    const prod = (d: Dims) => d.reduce((p, v) => p * v, 1);
    return [[prod(x.slice(0, axis)), prod(x.slice(axis))]];
  },
  Reshape(node, [x], ctx) {
    const target = ctx.kernel.opset < 5 ? ctx.kernel.attrs.ints('shape') : ctx.constant(node.inputs[1]);
    if (!x || !target) return [undefined];
    const allowZero = ctx.kernel.attrs.int('allowzero', 0);
    const out = target.map((d, i) => (d === 0 && !allowZero ? x[i]! : d));
    const size = x.reduce((p, v) => p * v, 1);
    const known = out.filter((d) => d !== -1).reduce((p, v) => p * v, 1);
    const free = out.indexOf(-1);
    if (free >= 0) out[free] = known === 0 ? 0 : size / known;
    if (out.some((d) => !Number.isInteger(d) || d < 0) || out.reduce((p, v) => p * v, 1) !== size) {
      throw kernelError(node, `cannot reshape ${formatDims(x)} (${size} elements) to [${target.join(', ')}]`);
    }
    return [out];
  },
  Concat(node, shapes, ctx) {
    if (shapes.some((s) => !s) || shapes.length === 0) return [undefined];
    const first = shapes[0]!;
    let axis = ctx.kernel.attrs.int('axis', 1);
    if (axis < 0) axis += first.length;
    const out = [...first];
    out[axis] = 0;
    for (const s of shapes as Dims[]) {
      if (s.length !== first.length || s.some((d, i) => i !== axis && d !== first[i])) {
        throw kernelError(node, `inputs ${shapes.map((d) => formatDims(d!)).join(', ')} differ outside axis ${axis}`);
      }
      out[axis]! += s[axis]!;
    }
    return [out];
  },
  ArgMax: argRule,
  ArgMin: argRule,
  TopK(node, [x], ctx) {
    if (!x || x.length === 0) return [undefined, undefined];
    const axis = normalizeAxis(node, ctx.kernel.attrs.int('axis', -1), x.length);
    const k = ctx.kernel.opset < 10 ? ctx.kernel.attrs.int('k') : ctx.constant(node.inputs[1])?.[0];
    if (k === undefined) return [undefined, undefined];
    if (k < 0 || k > x[axis]!) throw kernelError(node, `k = ${k} is outside [0, ${x[axis]}] (the size of axis ${axis} of ${formatDims(x)})`);
    const out = x.map((d, i) => (i === axis ? k : d));
    return [out, [...out]];
  },
  Transpose(_node, [x], ctx) {
    if (!x) return [undefined];
    const perm = ctx.kernel.attrs.ints('perm', x.map((_, i) => x.length - 1 - i));
    return [perm.map((p) => x[p]!)];
  },
};

function argRule(node: Node, [x]: (Dims | undefined)[], ctx: ShapeContext): (Dims | undefined)[] {
  if (!x || x.length === 0) return [undefined];
  const axis = normalizeAxis(node, ctx.kernel.attrs.int('axis', 0), x.length);
  const keepDims = ctx.kernel.attrs.int('keepdims', 1) !== 0;
  return [keepDims ? x.map((d, i) => (i === axis ? 1 : d)) : x.filter((_, i) => i !== axis)];
}

/**
 * RNN / GRU / LSTM: Y [seq, dirs, batch, hidden] and Y_h (Y_c) [dirs, batch, hidden]; with layout=1
 * (opset 14) Y [batch, seq, dirs, hidden] and Y_h [batch, dirs, hidden]. hidden_size, else R's last axis.
 */
function recurrentRule(node: Node, [x, , r]: (Dims | undefined)[], ctx: ShapeContext): (Dims | undefined)[] {
  if (!x) return [undefined, undefined, undefined];
  if (x.length !== 3) throw kernelError(node, `X must be 3-D, it has shape ${formatDims(x)}`);
  const layout = ctx.kernel.opset >= 14 ? ctx.kernel.attrs.int('layout', 0) : 0;
  const dirs = ctx.kernel.attrs.string('direction', 'forward') === 'bidirectional' ? 2 : 1;
  const hidden = ctx.kernel.attrs.int('hidden_size') ?? r?.[2];
  if (hidden === undefined) return [undefined, undefined, undefined];
  const [seq, batch] = layout ? [x[1]!, x[0]!] : [x[0]!, x[1]!];
  const state = layout ? [batch, dirs, hidden] : [dirs, batch, hidden];
  return [layout ? [batch, seq, dirs, hidden] : [seq, dirs, batch, hidden], state, state];
}

function poolRule(_node: Node, [x]: (Dims | undefined)[], ctx: ShapeContext): (Dims | undefined)[] {
  if (!x) return [undefined];
  const kernel = ctx.kernel.attrs.ints('kernel_shape', []);
  const g = forwardGeometry(ctx.kernel, x.slice(2), kernel, poolWindowOptions(ctx.kernel));
  const out = [x[0]!, x[1]!, ...realOutputShape(g)];
  return [out, out];
}

for (const op of [
  'Relu', 'LeakyRelu', 'PRelu', 'Clip', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Tanh', 'Elu', 'Selu', 'Softplus',
  'Softsign', 'Exp', 'Log', 'Sqrt', 'Neg', 'Abs', 'Reciprocal', 'Softmax', 'LogSoftmax', 'Dropout', 'Identity',
  'LRN', 'InstanceNormalization', 'LayerNormalization', 'GroupNormalization', 'Cast',
]) {
  RULES[op] = sameAsFirst;
}
for (const op of ['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'Equal', 'Where']) RULES[op] = broadcastRule;
for (const op of ['RNN', 'GRU', 'LSTM']) RULES[op] = recurrentRule;
// If, Loop and Scan have no rule: their output shapes depend on values (the branch taken, the trip count),
// so they stay unknown here and the kernels check what they compute.

// Elementwise ops of the conformance work (issue 13): unary ops keep the shape, binary ones broadcast. Before
// opset 7, comparisons and logic broadcast B onto A only with `broadcast` = 1, so A's shape wins.
for (const op of [
  'Not', 'Sin', 'Cos', 'Tan', 'Asin', 'Acos', 'Atan', 'Sinh', 'Cosh', 'Asinh', 'Acosh', 'Atanh', 'Floor', 'Ceil',
  'Round', 'Erf', 'Sign', 'IsNaN', 'IsInf', 'Hardmax', 'ThresholdedRelu', 'Celu', 'Shrink', 'Mish', 'Gelu',
  'MeanVarianceNormalization', 'LpNormalization', 'CastLike', 'CumSum', 'Trilu', 'QuantizeLinear', 'DequantizeLinear',
]) {
  RULES[op] = sameAsFirst;
}
for (const op of ['Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'And', 'Or', 'Xor', 'Mod', 'BitShift']) {
  RULES[op] = (node, shapes, ctx) => {
    if (ctx.kernel.opset < 7) return [shapes[0]];
    return broadcastRule(node, shapes, ctx);
  };
}
RULES.Size = () => [[]];

/**
 * Shapes of every value the rules can tell, from the graph inputs' actual dims and the initializers.
 * Throws a BncError naming the node where shapes contradict each other.
 */
export function inferShapes(model: Model, inputDims: ReadonlyMap<string, Dims>): Map<string, Dims> {
  const graph = model.graph;
  const opset = onnxOpset(model);
  const shapes = new Map<string, Dims>();
  const constants = new Map<string, number[]>();
  for (const t of graph.initializers) {
    shapes.set(t.name, t.dims);
    if (t.dims.length <= 1 && t.dims.reduce((p, v) => p * v, 1) <= 64 && !Array.isArray(t.data)) {
      constants.set(t.name, tensorToIntegers(t));
    }
  }
  for (const [name, dims] of inputDims) shapes.set(name, dims);
  const constant = (name: string | undefined) => (name ? constants.get(name) : undefined);
  for (const node of topologicalOrder(graph)) {
    if (node.domain !== '' && node.domain !== 'ai.onnx') continue;
    if (node.opType === 'Constant') {
      const t = getAttribute(node, 'value')?.t;
      if (t && node.outputs[0]) {
        shapes.set(node.outputs[0], t.dims);
        if (t.dims.length <= 1 && !Array.isArray(t.data) && !t.raw) constants.set(node.outputs[0], tensorToIntegers(t));
      }
      continue;
    }
    const rule = RULES[node.opType];
    if (!rule) continue;
    const kernel: KernelContext = { node, opset, inputs: [], attrs: new AttributeReader(node), threads: 1 };
    const out = rule(node, node.inputs.map((v) => (v ? shapes.get(v) : undefined)), { kernel, constant });
    node.outputs.forEach((name, i) => {
      const dims = out[i];
      if (name && dims) shapes.set(name, dims);
    });
  }
  return shapes;
}
