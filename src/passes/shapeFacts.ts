import { DataType, Graph, GraphIndex, Node, getAttribute } from '../ir/index.js';
import { resolveConstant } from './constants.js';

/**
 * What the BatchNorm passes need to know about a value's rank and element type, without a full shape
 * inference: declared shapes (graph inputs/outputs, value_info) first, then a walk up through producers
 * whose output rank or type follows from their inputs. `undefined` means "cannot tell", and callers skip
 * the rewrite with a reason rather than guess.
 *
 * Every value is evaluated at most once per GraphFacts (memoized, with an explicit stack instead of
 * recursion), so asking about every BatchNormalization of a graph costs O(nodes + edges) in total, however
 * many diamonds (x feeding both sides of a Mul or Add, as in HardSwish = x·Relu6(x+3)/6 and residual adds)
 * the graph has, and however long its chains are. `stats.shapeFactVisits` counts the evaluations.
 */

/** Counters of the passes' analyses, for tests that check they stay linear. */
export interface AnalysisStats {
  /** Values whose rank or element type was evaluated (each at most once per fact and pass). */
  shapeFactVisits: number;
}

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

const isOnnx = (n: Node) => n.domain === '' || n.domain === 'ai.onnx';
const UNKNOWN = Symbol('unknown');

/**
 * One memoized fact about values: `direct` answers from declarations and constants (or says to look at the
 * producer), `deps` names the producer inputs the answer needs, `combine` computes it from their answers.
 */
interface FactRule<T> {
  direct(value: string): T | undefined | typeof UNKNOWN;
  deps(p: Node): string[];
  combine(p: Node, known: (value: string) => T | undefined): T | undefined;
}

class Memo<T> {
  private readonly memo = new Map<string, T | undefined>();

  constructor(
    private readonly ix: GraphIndex,
    private readonly rule: FactRule<T>,
    private readonly stats?: AnalysisStats,
    /** The same fact of the enclosing graph: answers for names this (sub)graph does not define. */
    private readonly outer?: Memo<T>,
  ) {}

  get(value: string): T | undefined {
    if (!value) return undefined;
    if (this.memo.has(value)) return this.memo.get(value);
    // Post-order over the producers, each value evaluated once; `expanded` marks values whose inputs
    // were pushed, so a cycle in a malformed graph ends (its values are unknown) instead of looping.
    const stack = [value];
    const expanded = new Set<string>();
    const known = (v: string) => (v ? this.memo.get(v) : undefined);
    while (stack.length) {
      const v = stack[stack.length - 1]!;
      if (this.memo.has(v)) {
        stack.pop();
        continue;
      }
      // An outer-scope value: its fact is the enclosing graph's (memoized there, so asked once per scope).
      const d = this.outer && !this.ix.defines(v) ? this.outer.get(v) : this.rule.direct(v);
      const p = d === UNKNOWN ? this.ix.producer(v) : undefined;
      if (d !== UNKNOWN || !p || !isOnnx(p)) {
        if (this.stats) this.stats.shapeFactVisits++;
        this.memo.set(v, d === UNKNOWN ? undefined : d);
        stack.pop();
        continue;
      }
      if (!expanded.has(v)) {
        expanded.add(v);
        const missing = this.rule.deps(p).filter((i) => i && !this.memo.has(i) && !expanded.has(i));
        if (missing.length) {
          stack.push(...missing);
          continue;
        }
      }
      if (this.stats) this.stats.shapeFactVisits++;
      this.memo.set(v, this.rule.combine(p, known));
      stack.pop();
    }
    return this.memo.get(value);
  }
}

/**
 * Rank and element-type facts of one graph, memoized; create one per pass run (see GraphIndex). For a
 * subgraph, `outer` is the enclosing graph's facts (its index must be `index.outer`): values the subgraph
 * reads from outside get their facts there.
 */
export class GraphFacts {
  private readonly ranks: Memo<number>;
  private readonly types: Memo<DataType>;

  constructor(
    readonly index: GraphIndex,
    stats?: AnalysisStats,
    readonly outer?: GraphFacts,
  ) {
    const ix = index;
    this.ranks = new Memo<number>(ix, { direct: (v) => directRank(ix, v), deps: rankDeps, combine: (p, known) => combineRank(ix, p, known) }, stats, outer?.ranks);
    this.types = new Memo<DataType>(ix, { direct: (v) => directType(ix, v), deps: typeDeps, combine: combineType }, stats, outer?.types);
  }

  get graph(): Graph {
    return this.index.graph;
  }

  rank(value: string): number | undefined {
    return this.ranks.get(value);
  }

  elemType(value: string): DataType | undefined {
    return this.types.get(value);
  }
}

function directRank(ix: GraphIndex, value: string): number | typeof UNKNOWN {
  const shape = ix.declared(value)?.type?.tensor?.shape;
  if (shape) return shape.length;
  const c = resolveConstant(ix, value);
  if (c) return c.tensor.dims.length;
  return UNKNOWN;
}

function rankDeps(p: Node): string[] {
  if (SAME_AS_FIRST_INPUT.has(p.opType) || p.opType === 'Concat' || p.opType === 'Cast') return [p.inputs[0] ?? ''];
  if (p.opType === 'MatMul') return p.inputs.slice(0, 2);
  if (p.opType === 'Unsqueeze' || p.opType === 'Squeeze') return [p.inputs[0] ?? ''];
  if (BROADCASTING.has(p.opType)) return p.inputs;
  return [];
}

function combineRank(ix: GraphIndex, p: Node, known: (value: string) => number | undefined): number | undefined {
  const rankOf = (i: number) => known(p.inputs[i] ?? '');
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
      const shape = p.inputs[1] ? resolveConstant(ix, p.inputs[1]) : undefined;
      return shape ? shape.tensor.dims.reduce((n, d) => n * d, 1) : undefined;
    }
    case 'Unsqueeze':
    case 'Squeeze': {
      const r = rankOf(0);
      const axesConst = p.inputs[1] ? resolveConstant(ix, p.inputs[1]) : undefined;
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

function directType(ix: GraphIndex, value: string): DataType | typeof UNKNOWN {
  const elem = ix.declared(value)?.type?.tensor?.elemType;
  if (elem) return elem;
  const c = resolveConstant(ix, value);
  if (c) return c.tensor.dtype;
  return UNKNOWN;
}

const WEIGHTED = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);

function typeDeps(p: Node): string[] {
  if (p.opType === 'Cast') return [];
  // X and W share one type parameter: whichever is known tells the output type.
  if (WEIGHTED.has(p.opType)) return p.inputs.slice(0, 2);
  if (SAME_AS_FIRST_INPUT.has(p.opType) || BROADCASTING.has(p.opType) || p.opType === 'Concat' || p.opType === 'Flatten' || p.opType === 'Reshape') {
    return [p.inputs[p.opType === 'Where' ? 1 : 0] ?? ''];
  }
  return [];
}

function combineType(p: Node, known: (value: string) => DataType | undefined): DataType | undefined {
  if (p.opType === 'Cast') return getAttribute(p, 'to')?.i as DataType | undefined;
  const deps = typeDeps(p);
  for (const d of deps) {
    const t = known(d);
    if (t !== undefined) return t;
  }
  return undefined;
}
