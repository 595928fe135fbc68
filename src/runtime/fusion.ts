import { DataType, Node } from '../ir/index.js';
import { AttributeReader, RtTensor } from './kernel.js';
import { EpilogueSpec } from './epilogue.js';

/**
 * Conv epilogue fusion for the engine: a Conv and the elementwise nodes that only post-process its output
 * run as one kernel, which applies their work to each range of its output while it is still in cache
 * (epilogue.ts), instead of writing the conv output, reading it back in a new node and allocating a new
 * tensor per node. Results are bit-identical to running the nodes one by one: the epilogue runs the same
 * element code as the Add, Relu, Clip and LeakyRelu kernels.
 *
 * Pattern (planned in one pass over the nodes in run order, linear in nodes + reads):
 *   Conv → Add(conv, r) or Add(r, conv)            (r a same-shape float32 residual)
 *   Conv → Relu | Clip | LeakyRelu
 *   Conv → Add(conv, r) or Add(r, conv) → Relu | Clip | LeakyRelu
 *
 * Preconditions, checked when planning:
 *   1. The nodes are in the default ONNX domain; the Add has two inputs, each node one output.
 *   2. Every fused intermediate (the Conv's output, and the Add's when an activation follows) is read
 *      exactly once in the graph (reads from subgraphs included), by the next node of the chain (Clip: as
 *      its input X), and is not a graph output.
 *   3. The residual r is not the Conv's output, and r and Clip's bound inputs are available when the Conv
 *      runs: produced by a node earlier in the run order, or by no node of this graph (initializers,
 *      inputs, outer-scope values).
 *   4. The chain's last output is read or is a graph output.
 * Checked at run time, when the Conv knows its output dims (otherwise the Conv runs alone and the other
 * nodes after it as usual):
 *   5. r is a float32 tensor with exactly the Conv's output dims (no broadcasting).
 *   6. Clip's bounds (opset 11+) are float32 scalars.
 * The engine plans nothing for runs that keep every value or watch each node (RunOptions keepAll,
 * beforeNode, afterNode, fuse: false), so layer-by-layer comparisons still see every value.
 *
 * Before:  x ─ Conv ─ c ─ Add ─ s ─ Relu ─ y        After:  x ─ Conv[+ r, Relu] ─ y
 *                     r ──┘                                   r ──┘
 * c and s are never stored; the fused nodes are skipped, but their reads (r's included) are still counted
 * where they stood in the run order, so r is released at the same point as without fusion.
 */

/** Convs and other nodes fused since the process started (benchmarks report them). */
export const fusionStats = { convs: 0, nodes: 0 };

interface FusedChain {
  /** Run-order index of the Add, if any, the residual it reads and whether it is the Add's first input. */
  add?: { index: number; residual: string; residualFirst: boolean };
  /** Run-order index of the activation, if any. */
  activation?: number;
  /** The value the Conv's output stands for once fused: the chain's last output. */
  output: string;
}

const ACTIVATIONS = new Set(['Relu', 'Clip', 'LeakyRelu']);

function isOnnx(node: Node): boolean {
  return node.domain === '' || node.domain === 'ai.onnx' || node.domain === undefined;
}

/**
 * The fusion plan for running `order` (the graph's nodes in run order; `reads` what each reads, from
 * nodeReads), or undefined when no Conv heads a chain (the engine then has nothing to ask per node).
 */
export function planConvFusion(order: Node[], reads: string[][], graphOutputs: ReadonlySet<string>): ConvFusion | undefined {
  if (!order.some((n) => n.opType === 'Conv')) return undefined;
  const plan = new ConvFusion(order, reads, graphOutputs);
  return plan.planned > 0 ? plan : undefined;
}

/**
 * The fusion plan of one graph run. The engine asks, per node in run order: `skips(i)` (a node fused into
 * an earlier Conv that took the epilogue: run nothing, release its reads), `request(i, ...)` (the Conv's
 * KernelContext.convEpilogue) and, after a Conv ran, `outputName(i)` (the value its output stands for).
 */
export class ConvFusion {
  private readonly chains = new Map<number, FusedChain>();
  private readonly fusedAway: Uint8Array;
  /** Run-order index of the Conv whose request returned an epilogue, until outputName takes it. */
  private accepted = -1;

  /** See planConvFusion. */
  constructor(
    private readonly order: Node[],
    reads: string[][],
    graphOutputs: ReadonlySet<string>,
  ) {
    this.fusedAway = new Uint8Array(order.length);
    const readCount = new Map<string, number>();
    const reader = new Map<string, number>();
    const producer = new Map<string, number>();
    reads.forEach((list, i) => {
      for (const v of list) {
        readCount.set(v, (readCount.get(v) ?? 0) + 1);
        reader.set(v, i);
      }
    });
    order.forEach((n, i) => n.outputs.forEach((o) => o && producer.set(o, i)));
    /** The index of the only node reading `value` (precondition 2), or -1. */
    const soleReader = (value: string): number =>
      readCount.get(value) === 1 && !graphOutputs.has(value) ? reader.get(value)! : -1;
    /** Precondition 3: `value` exists by the time node `conv` runs. */
    const availableAt = (value: string, conv: number): boolean => (producer.get(value) ?? -1) < conv;
    const activationOf = (value: string, conv: number): number | undefined => {
      const i = soleReader(value);
      const n = i < 0 ? undefined : order[i]!;
      if (!n || !isOnnx(n) || !ACTIVATIONS.has(n.opType) || n.inputs[0] !== value || n.outputs.length !== 1) return undefined;
      if (n.opType === 'Clip' && !n.inputs.slice(1).every((b) => !b || availableAt(b, conv))) return undefined;
      return i;
    };

    order.forEach((conv, i) => {
      if (conv.opType !== 'Conv' || !isOnnx(conv) || conv.outputs.length !== 1 || !conv.outputs[0]) return;
      const c = conv.outputs[0];
      const next = soleReader(c);
      const n = next < 0 ? undefined : order[next]!;
      if (!n || !isOnnx(n)) return;
      let chain: FusedChain | undefined;
      if (n.opType === 'Add' && n.inputs.length === 2 && n.outputs.length === 1 && n.outputs[0]) {
        const residualFirst = n.inputs[1] === c;
        const residual = residualFirst ? n.inputs[0]! : n.inputs[1]!;
        if (residual && residual !== c && availableAt(residual, i)) {
          const s = n.outputs[0];
          const activation = activationOf(s, i);
          const output = activation === undefined ? s : order[activation]!.outputs[0]!;
          if (output) chain = { add: { index: next, residual, residualFirst }, activation, output };
        }
      } else {
        const activation = activationOf(c, i);
        if (activation !== undefined && order[activation]!.outputs[0]) chain = { activation, output: order[activation]!.outputs[0]! };
      }
      // A chain whose result nobody reads runs unfused, so the engine drops that result at once as usual.
      if (chain && (readCount.has(chain.output) || graphOutputs.has(chain.output))) this.chains.set(i, chain);
    });
  }

  /** Convs planned for fusion (each may still run alone, see preconditions 5 and 6). */
  get planned(): number {
    return this.chains.size;
  }

  /** Whether node `index` was fused into a Conv that ran before it. */
  skips(index: number): boolean {
    return this.fusedAway[index] === 1;
  }

  /**
   * KernelContext.convEpilogue for node `index`, or undefined when it heads no chain. `lookup` finds a
   * value by name as the engine does (this graph's values, then the enclosing graphs').
   */
  request(index: number, lookup: (name: string) => RtTensor | undefined, opset: number): ((dims: number[]) => EpilogueSpec | undefined) | undefined {
    const chain = this.chains.get(index);
    if (!chain) return undefined;
    return (dims) => {
      const spec = this.specOf(chain, dims, lookup, opset);
      if (spec) this.accepted = index;
      return spec;
    };
  }

  /**
   * After node `index` ran: the name its (first) output is bound to. For a Conv that took its epilogue this
   * is the chain's last output, and the fused nodes are marked to be skipped.
   */
  outputName(index: number): string {
    const node = this.order[index]!;
    if (this.accepted !== index) return node.outputs[0]!;
    this.accepted = -1;
    const chain = this.chains.get(index)!;
    fusionStats.convs++;
    for (const i of [chain.add?.index, chain.activation]) {
      if (i === undefined) continue;
      this.fusedAway[i] = 1;
      fusionStats.nodes++;
    }
    return chain.output;
  }

  /** The epilogue for a Conv with output `dims`, if preconditions 5 and 6 hold. */
  private specOf(chain: FusedChain, dims: number[], lookup: (name: string) => RtTensor | undefined, opset: number): EpilogueSpec | undefined {
    let spec: EpilogueSpec = { activation: 'none' };
    if (chain.activation !== undefined) {
      const act = activationSpec(this.order[chain.activation]!, lookup, opset);
      if (!act) return undefined;
      spec = act;
    }
    if (chain.add) {
      const r = lookup(chain.add.residual);
      if (!r || r.dtype !== DataType.FLOAT || !(r.data instanceof Float32Array) || !sameDims(r.dims, dims)) return undefined;
      spec.residual = r.data;
      spec.residualFirst = chain.add.residualFirst;
    }
    return spec;
  }
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

const BIT_CAST_F32 = new Float32Array(1);
const BIT_CAST_I32 = new Int32Array(BIT_CAST_F32.buffer);

function floatBits(v: number): number {
  BIT_CAST_F32[0] = v;
  return BIT_CAST_I32[0]!;
}

/**
 * What the activation kernel would do to a float32 input, as an epilogue: the same choice of path and the
 * same bounds as activation.ts (Relu on bits; Clip on bits for float32-exact bounds >= 0, else by
 * comparison, with hi winning when lo > hi as in onnxruntime; LeakyRelu's alpha, default 0.01). Undefined
 * when the node is malformed: it then runs by itself and reports the problem.
 */
function activationSpec(node: Node, lookup: (name: string) => RtTensor | undefined, opset: number): EpilogueSpec | undefined {
  const attrs = new AttributeReader(node);
  try {
    if (node.opType === 'Relu') return { activation: 'relu' };
    if (node.opType === 'LeakyRelu') return { activation: 'leakyRelu', alpha: attrs.float('alpha', 0.01) };
    let lo = -Infinity;
    let hi = Infinity;
    if (opset < 11) {
      lo = attrs.float('min', -Infinity);
      hi = attrs.float('max', Infinity);
    } else {
      for (const index of [1, 2]) {
        const name = node.inputs[index];
        if (!name) continue;
        const bound = lookup(name);
        if (!bound || bound.dtype !== DataType.FLOAT || !(bound.data instanceof Float32Array) || bound.data.length !== 1) return undefined;
        if (index === 1) lo = bound.data[0]!;
        else hi = bound.data[0]!;
      }
    }
    const low = lo > hi ? hi : lo;
    if (low >= 0 && Math.fround(low) === low && Math.fround(hi) === hi) {
      return { activation: 'clipBits', lo: floatBits(low + 0), hi: floatBits(hi + 0) };
    }
    return { activation: 'clip', lo: low, hi };
  } catch {
    return undefined;
  }
}
