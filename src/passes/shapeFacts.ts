import { DataType, Graph, Node, ValueInfo, getAttribute, producerOf } from '../ir/index.js';
import { resolveConstant } from './constants.js';

/**
 * What the BatchNorm passes need to know about a value's rank and element type, without a full shape
 * inference: declared shapes (graph inputs/outputs, value_info) first, then a walk up through producers
 * whose output rank or type follows from their inputs. `undefined` means "cannot tell", and callers skip
 * the rewrite with a reason rather than guess.
 */

// Ops whose (first) output has the rank and element type of their first input.
const SAME_AS_FIRST_INPUT = new Set([
  'Abs', 'AveragePool', 'BatchNormalization', 'Celu', 'Clip', 'Conv', 'ConvTranspose', 'Dropout', 'Elu', 'Erf', 'Exp',
  'Gelu', 'GlobalAveragePool', 'GlobalLpPool', 'GlobalMaxPool', 'HardSigmoid', 'HardSwish', 'Identity',
  'InstanceNormalization', 'LRN', 'LayerNormalization', 'LeakyRelu', 'Log', 'LogSoftmax', 'LpNormalization', 'LpPool',
  'MaxPool', 'Mish', 'Neg', 'PRelu', 'Pad', 'Reciprocal', 'Relu', 'Resize', 'Selu', 'Sigmoid', 'Sign', 'Softmax',
  'Softplus', 'Softsign', 'Sqrt', 'Tanh', 'ThresholdedRelu', 'Transpose', 'Upsample', 'Slice', 'Tile', 'Split',
]);
// Elementwise ops with numpy broadcasting: the rank is the largest input rank, the type the first input's.
const BROADCASTING = new Set(['Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min', 'Sum', 'Mean', 'Where']);

function declared(graph: Graph, value: string): ValueInfo | undefined {
  return (
    graph.valueInfo.find((v) => v.name === value) ??
    graph.inputs.find((v) => v.name === value) ??
    graph.outputs.find((v) => v.name === value)
  );
}

const isOnnx = (n: Node) => n.domain === '' || n.domain === 'ai.onnx';

export function knownRank(graph: Graph, value: string, depth = 0): number | undefined {
  if (!value || depth > 256) return undefined;
  const shape = declared(graph, value)?.type?.tensor?.shape;
  if (shape) return shape.length;
  const c = resolveConstant(graph, value);
  if (c) return c.tensor.dims.length;
  const p = producerOf(graph, value);
  if (!p || !isOnnx(p)) return undefined;
  const rankOf = (i: number) => knownRank(graph, p.inputs[i] ?? '', depth + 1);
  if (SAME_AS_FIRST_INPUT.has(p.opType) || p.opType === 'Concat' || p.opType === 'Cast') return rankOf(0);
  switch (p.opType) {
    case 'Flatten':
    case 'Gemm':
      return 2;
    case 'MatMul': {
      const a = rankOf(0);
      const b = rankOf(1);
      if (a === undefined || b === undefined) return undefined;
      // 1-D operands are promoted and the added axis removed again.
      if (a === 1 && b === 1) return 0;
      if (a === 1) return b - 1;
      if (b === 1) return a - 1;
      return Math.max(a, b);
    }
    case 'Reshape': {
      const shape = p.inputs[1] ? resolveConstant(graph, p.inputs[1]) : undefined;
      return shape ? shape.tensor.dims.reduce((n, d) => n * d, 1) : undefined;
    }
    case 'Unsqueeze':
    case 'Squeeze': {
      const r = rankOf(0);
      const axesConst = p.inputs[1] ? resolveConstant(graph, p.inputs[1]) : undefined;
      const axes = getAttribute(p, 'axes')?.ints ?? (axesConst ? axesConst.tensor.dims.reduce((n, d) => n * d, 1) : undefined);
      const count = typeof axes === 'number' ? axes : axes?.length;
      if (r === undefined || count === undefined || (p.opType === 'Squeeze' && count === 0)) return undefined;
      return p.opType === 'Unsqueeze' ? r + count : r - count;
    }
    default:
      if (BROADCASTING.has(p.opType)) {
        let r = 0;
        for (let i = 0; i < p.inputs.length; i++) {
          const ri = rankOf(i);
          if (ri === undefined) return undefined;
          r = Math.max(r, ri);
        }
        return r;
      }
      return undefined;
  }
}

export function knownElemType(graph: Graph, value: string, depth = 0): DataType | undefined {
  if (!value || depth > 256) return undefined;
  const elem = declared(graph, value)?.type?.tensor?.elemType;
  if (elem) return elem;
  const c = resolveConstant(graph, value);
  if (c) return c.tensor.dtype;
  const p = producerOf(graph, value);
  if (!p || !isOnnx(p)) return undefined;
  if (p.opType === 'Cast') return getAttribute(p, 'to')?.i as DataType | undefined;
  if (['Conv', 'ConvTranspose', 'Gemm', 'MatMul'].includes(p.opType)) {
    // X and W share one type parameter: whichever is known tells the output type.
    return knownElemType(graph, p.inputs[0] ?? '', depth + 1) ?? knownElemType(graph, p.inputs[1] ?? '', depth + 1);
  }
  if (SAME_AS_FIRST_INPUT.has(p.opType) || BROADCASTING.has(p.opType) || p.opType === 'Concat' || p.opType === 'Flatten' || p.opType === 'Reshape') {
    return knownElemType(graph, p.inputs[p.opType === 'Where' ? 1 : 0] ?? '', depth + 1);
  }
  return undefined;
}
