import {
  BncError,
  DataType,
  Graph,
  Model,
  Node,
  Tensor,
  ValueInfo,
  allScopes,
  dtypeName,
  nodeReads,
  onnxOpset,
  topologicalOrder,
} from '../ir/index.js';
import { AttributeReader, KernelContext, RtTensor, kernelError, runtimeTensor } from './kernel.js';
import { inferShapes } from './shapeInference.js';
import { findKernel } from './kernels.js';
import { threadsAvailable, withSharedOutputs } from './parallel.js';
import { planConvFusion } from './fusion.js';
import type { ConvAlgorithm } from './winograd.js';
import { releaseBuffer, withBufferPool } from './bufferPool.js';

// The pure-TypeScript inference engine: runs a graph node by node in topological order with the kernels
// of src/runtime/kernels.ts. Values live in one map; each intermediate is dropped once its last reader
// has run (reference counts), unless the caller keeps them all for layer-by-layer comparison.
// Subgraphs (If branches, Loop/Scan bodies) run through the same loop when a control-flow kernel asks
// (KernelContext.runSubgraph), each with its own value map that falls back to the enclosing graphs' values
// for outer-scope reads; a read from inside a subgraph keeps the outer value alive like any other read.

export interface RunOptions {
  /**
   * Threads kernels may use (the calling thread plus threads - 1 workers; large Conv and Gemm nodes are
   * split across them). Default: setDefaultThreads, else 1.
   */
  threads?: number;
  /**
   * How Conv computes 3×3 stride-1 convolutions: 'auto' (default) by the per-layer cost rule of
   * winograd.ts, 'direct' by im2col + GEMM, 'winograd2' / 'winograd4' by F(2×2) / F(4×4, 3×3) wherever
   * Winograd applies (else direct).
   */
  convAlgorithm?: ConvAlgorithm;
  /** Keep every intermediate value (RunResult.intermediates), e.g. for layer-by-layer verification. */
  keepAll?: boolean;
  /** Called after each node with the number of nodes run and the total. */
  onProgress?: (done: number, total: number) => void;
  /**
   * Called just before each node's kernel runs (nodes inside If/Loop/Scan bodies included, at each run),
   * with its inputs (initializers are the model's own arrays), and just after, with its outputs. Statistics calibration reads inputs and may rewrite
   * constants or outputs in place here.
   */
  beforeNode?: (node: Node, inputs: (RtTensor | undefined)[]) => void;
  afterNode?: (node: Node, outputs: RtTensor[]) => void;
  /**
   * Fuse each Conv with the Add / Relu / Clip / LeakyRelu nodes that only post-process its output
   * (fusion.ts; bit-identical results). Default true; never with keepAll, beforeNode or afterNode.
   */
  fuse?: boolean;
}

export interface RunResult {
  /** Graph outputs by name, in graph order. */
  outputs: Map<string, RtTensor>;
  /** With keepAll: every node output (graph outputs included), by value name. */
  intermediates?: Map<string, RtTensor>;
  /** Node output names in the order they were produced (a topological order). */
  order: string[];
}

let defaultThreads = 1;

/**
 * Threads for runModel calls that do not say (e.g. those inside `bnc verify`): the CLI sets this from
 * --threads once per command.
 */
export function setDefaultThreads(threads: number): void {
  defaultThreads = Math.max(1, Math.floor(threads));
  startThreads(defaultThreads);
}

/**
 * Start the worker threads a run on `threads` threads will use, without waiting for them: they load and
 * warm up on their own cores while the caller goes on (reading the model, say), so the first large Conv
 * finds them ready. Nothing happens for threads <= 1 or where worker threads are unavailable.
 */
export function startThreads(threads: number): void {
  if (threads > 1) threadsAvailable(threads);
}

/** Graph inputs the caller must feed: declared inputs that no initializer provides a default for. */
export function modelInputs(model: Model): ValueInfo[] {
  const initialized = new Set(model.graph.initializers.map((t) => t.name));
  return model.graph.inputs.filter((v) => !initialized.has(v.name));
}

function nodeLabel(node: Node): string {
  return node.name || node.outputs[0] || '?';
}

/**
 * Throws one BncError listing every op the runtime has no kernel for, grouped by op with the nodes that
 * use it, e.g. "3 unsupported ops: Foo (node 'a'), Bar (nodes 'b', 'c')". Nothing runs before this check.
 */
export function checkSupported(model: Model): void {
  const missing = new Map<string, string[]>();
  let count = 0;
  // Nodes inside If branches and Loop/Scan bodies too: a branch not taken on one input is taken on another.
  for (const node of allScopes(model.graph).flatMap((s) => s.graph.nodes)) {
    if (findKernel(node.opType, node.domain)) continue;
    const op = node.domain && node.domain !== 'ai.onnx' ? `${node.domain}:${node.opType}` : node.opType;
    const list = missing.get(op) ?? [];
    list.push(nodeLabel(node));
    missing.set(op, list);
    count++;
  }
  if (!count) return;
  const parts = [...missing].map(([op, nodes]) =>
    nodes.length === 1 ? `${op} (node '${nodes[0]}')` : `${op} (nodes ${nodes.map((n) => `'${n}'`).join(', ')})`,
  );
  throw new BncError(
    `${count} unsupported op${count === 1 ? '' : 's'}: ${parts.join(', ')}; bnc's runtime cannot run this model (rewrite or remove these nodes)`,
    { code: 'UNSUPPORTED_OP' },
  );
}

/** An initializer in runtime form: float16/bfloat16 widened to float32, everything else shared as is. */
export function runtimeTensorFromInitializer(t: Tensor): RtTensor {
  return runtimeTensor(t, (type) => new BncError(`initializer '${t.name}' has ${type}, which bnc's runtime cannot hold`, { code: 'UNSUPPORTED_TYPE' }));
}

/** The runtime element type a declared type is held in (float16 values are run as float32). */
export function runtimeTypeOf(declared: DataType): DataType {
  return declared === DataType.FLOAT16 || declared === DataType.BFLOAT16 ? DataType.FLOAT : declared;
}

// TypeProto's value fields (onnx.proto): which kind of non-tensor value an input declares.
const TYPE_PROTO_KINDS: Record<number, string> = { 4: 'a sequence', 5: 'a map', 8: 'a sparse tensor', 9: 'an optional' };

/**
 * The kind of value a non-tensor TypeProto declares ('a sequence', 'a map', 'an optional', 'a sparse
 * tensor'), read from its encoded bytes (bnc keeps them opaque); undefined for a tensor or no type.
 */
export function nonTensorKind(vi: ValueInfo): string | undefined {
  const bytes = vi.type?.opaque;
  if (vi.type?.tensor || !bytes) return undefined;
  let pos = 0;
  const varint = (): number => {
    let v = 0;
    for (let shift = 0; pos < bytes.length && shift < 35; shift += 7) {
      const b = bytes[pos++]!;
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
    }
    return -1;
  };
  while (pos < bytes.length) {
    const key = varint();
    if (key < 0) break;
    const kind = TYPE_PROTO_KINDS[Math.floor(key / 8)];
    if (kind) return kind;
    const wire = key & 7;
    if (wire === 0) varint();
    else if (wire === 2) {
      const length = varint(); // read before pos is: `pos += varint()` would add to the old pos
      pos += Math.max(0, length);
    }
    else break;
  }
  return 'a non-tensor value';
}

/**
 * Refuse an input that is not a tensor (sequence, map, optional, sparse tensor): bnc's runtime holds
 * tensors only, so neither a .npy file nor a generated tensor can stand for it.
 * @throws BncError UNSUPPORTED_TYPE naming the input and its kind.
 */
export function checkTensorInput(vi: ValueInfo): void {
  const kind = nonTensorKind(vi);
  if (kind) {
    throw new BncError(`input '${vi.name}' is ${kind}, not a tensor, which bnc's runtime cannot hold (it runs models whose inputs are tensors)`, {
      code: 'UNSUPPORTED_TYPE',
    });
  }
}

/**
 * Check a fed input against its declaration: element type, rank, and every fixed dimension (symbolic and
 * unknown dimensions accept any size). Errors name the input and both shapes.
 */
export function checkInput(vi: ValueInfo, t: RtTensor): void {
  checkTensorInput(vi);
  const declared = vi.type?.tensor;
  if (!declared) return;
  const want = runtimeTypeOf(declared.elemType);
  if (declared.elemType !== DataType.UNDEFINED && t.dtype !== want) {
    throw new BncError(`input '${vi.name}' has type ${dtypeName(t.dtype)}, but the model declares ${dtypeName(declared.elemType)}`, {
      code: 'INPUT_MISMATCH',
    });
  }
  const shape = declared.shape;
  if (!shape) return;
  const describe = shape.map((d) => (d.value !== undefined ? String(d.value) : d.param || '?')).join(', ');
  if (shape.length !== t.dims.length || shape.some((d, i) => d.value !== undefined && d.value !== t.dims[i])) {
    throw new BncError(`input '${vi.name}' has shape [${t.dims.join(', ')}], but the model declares [${describe}]`, {
      code: 'INPUT_MISMATCH',
    });
  }
  let size = 1;
  for (const d of t.dims) size *= d;
  if (t.data.length !== size) {
    throw new BncError(`input '${vi.name}' holds ${t.data.length} values, but shape [${t.dims.join(', ')}] needs ${size}`, {
      code: 'INPUT_MISMATCH',
    });
  }
}

/** Run the model on `inputs` (by graph input name) and return its outputs. */
export function runModel(model: Model, inputs: Map<string, RtTensor>, options: RunOptions = {}): RunResult {
  const graph = model.graph;
  checkSupported(model);
  const opset = onnxOpset(model);
  const threads = Math.max(1, Math.floor(options.threads ?? defaultThreads));

  const values = new Map<string, RtTensor>();
  const constants = new Set<string>();
  for (const t of graph.initializers) {
    values.set(t.name, runtimeTensorFromInitializer(t));
    constants.add(t.name);
  }
  const declaredInputs = new Set(graph.inputs.map((v) => v.name));
  for (const name of inputs.keys()) {
    if (!declaredInputs.has(name)) {
      const names = modelInputs(model).map((v) => `'${v.name}'`).join(', ');
      throw new BncError(`the model has no input '${name}' (its inputs: ${names || 'none'})`, { code: 'INPUT_MISMATCH' });
    }
  }
  for (const vi of graph.inputs) {
    const fed = inputs.get(vi.name);
    if (fed) {
      checkInput(vi, fed);
      // A fed value overrides an initializer's default; like initializers, inputs are never released.
      values.set(vi.name, fed);
      constants.add(vi.name);
    } else if (!values.has(vi.name)) {
      throw new BncError(`input '${vi.name}' is not given (the model needs: ${modelInputs(model).map((v) => v.name).join(', ')})`, {
        code: 'INPUT_MISMATCH',
      });
    }
  }

  // Shapes first: a model whose shapes do not fit fails here, naming the node, before any kernel runs.
  inferShapes(model, new Map([...inputs].map(([name, t]) => [name, t.dims])));

  const intermediates = options.keepAll ? new Map<string, RtTensor>() : undefined;
  const produced: string[] = [];
  // Buffers of released values are reused, and elementwise kernels may write over a dying input, only
  // when nothing outside the engine can still hold an intermediate (no keepAll, no hooks).
  const reuse = !options.keepAll && !options.beforeNode && !options.afterNode;
  // On several threads, kernel outputs go to shared memory so threaded kernels read their inputs in place.
  withSharedOutputs(threads > 1 && threadsAvailable(threads), () => withBufferPool(reuse, () => {
    runGraph({
      buffers: reuse ? new Map() : undefined,
      pinned: reuse ? modelOwnedBuffers(graph) : undefined,
      graph,
      opset,
      threads,
      convAlgorithm: options.convAlgorithm,
      values,
      constants,
      intermediates,
      produced,
      onProgress: options.onProgress,
      beforeNode: options.beforeNode,
      afterNode: options.afterNode,
      fuse: options.fuse !== false && !options.keepAll && !options.beforeNode && !options.afterNode,
    });
  }));

  const outputs = new Map<string, RtTensor>();
  for (const o of graph.outputs) {
    const v = values.get(o.name);
    if (!v) throw new BncError(`graph output '${o.name}' was not computed`, { code: 'RUNTIME' });
    outputs.set(o.name, v);
  }
  return { outputs, intermediates, order: produced };
}

/**
 * The buffers under the model's own tensors: initializers and tensor attributes (Constant's `value`) of
 * every graph scope. One pass over nodes and attributes.
 */
function modelOwnedBuffers(graph: Graph): Set<ArrayBufferLike> {
  const owned = new Set<ArrayBufferLike>();
  const add = (t: Tensor) => {
    if (ArrayBuffer.isView(t.data)) owned.add(t.data.buffer);
  };
  for (const { graph: g } of allScopes(graph)) {
    for (const t of g.initializers) add(t);
    for (const n of g.nodes) {
      for (const a of n.attributes) {
        if (a.t) add(a.t);
        for (const t of a.tensors ?? []) add(t);
      }
    }
  }
  return owned;
}

interface GraphRun {
  graph: Graph;
  opset: number;
  threads: number;
  convAlgorithm?: ConvAlgorithm;
  /** Initializers and fed inputs on entry; the graph outputs (and, with keepAll, everything) on return. */
  values: Map<string, RtTensor>;
  /** Values never released (initializers, inputs). */
  constants: Set<string>;
  /** Values of the enclosing graphs, for a subgraph's outer-scope reads. */
  outer?: (name: string) => RtTensor | undefined;
  intermediates?: Map<string, RtTensor>;
  produced?: string[];
  onProgress?: (done: number, total: number) => void;
  /**
   * Top-level graph without keepAll or hooks: how many values (constants included) hold each buffer. A
   * buffer whose count drops to 0 goes back to the buffer pool, and a kernel may overwrite an input whose
   * buffer only that input holds (KernelContext.canOverwrite). Subgraphs run without: their values live
   * only while their control-flow node runs.
   */
  buffers?: Map<ArrayBufferLike, number>;
  /**
   * With `buffers`: the model's own arrays (modelOwnedBuffers). A value may be a view of one (a Constant's
   * output, a subgraph's initializer handed out); such a buffer is never recycled or written over.
   */
  pinned?: Set<ArrayBufferLike>;
  /** RunOptions' hooks; they see the nodes of subgraphs too. */
  beforeNode?: RunOptions['beforeNode'];
  afterNode?: RunOptions['afterNode'];
  /** Fuse Convs with the nodes after them (fusion.ts): only when no value or node is watched. */
  fuse?: boolean;
}

/** Run every node of `run.graph` once, in topological order; its outputs are left in `run.values`. */
function runGraph(run: GraphRun): void {
  const { graph, opset, threads, values, constants, outer } = run;
  const order = topologicalOrder(graph);
  // What each node reads, including the outer-scope reads of its subgraphs (they must stay alive until it runs).
  const reads = order.map(nodeReads);
  // Remaining reads of every value produced by a node; graph outputs are never released.
  const remaining = new Map<string, number>();
  for (const list of reads) for (const v of list) remaining.set(v, (remaining.get(v) ?? 0) + 1);
  const graphOutputs = new Set(graph.outputs.map((o) => o.name));
  const lookup = (name: string) => values.get(name) ?? outer?.(name);
  const { buffers } = run;
  const hold = (t: RtTensor) => {
    if (buffers) buffers.set(t.data.buffer, (buffers.get(t.data.buffer) ?? 0) + 1);
  };
  const release = (t: RtTensor) => {
    if (!buffers || run.pinned?.has(t.data.buffer)) return;
    const left = (buffers.get(t.data.buffer) ?? 1) - 1;
    if (left > 0) {
      buffers.set(t.data.buffer, left);
      return;
    }
    buffers.delete(t.data.buffer);
    releaseBuffer(t.data);
  };
  if (buffers) for (const t of values.values()) hold(t);
  const runSubgraph = (sub: Graph, feeds: Map<string, RtTensor>): RtTensor[] => {
    const subValues = new Map<string, RtTensor>();
    const subConstants = new Set<string>();
    for (const t of sub.initializers) {
      subValues.set(t.name, runtimeTensorFromInitializer(t));
      subConstants.add(t.name);
    }
    for (const [name, t] of feeds) {
      subValues.set(name, t);
      subConstants.add(name);
    }
    runGraph({ graph: sub, opset, threads, convAlgorithm: run.convAlgorithm, values: subValues, constants: subConstants, outer: lookup, beforeNode: run.beforeNode, afterNode: run.afterNode, fuse: run.fuse });
    return sub.outputs.map((o) => {
      const v = subValues.get(o.name) ?? lookup(o.name);
      if (!v) throw new BncError(`subgraph '${sub.name}': output '${o.name}' was not computed`, { code: 'RUNTIME' });
      return v;
    });
  };

  const drop = (name: string) => {
    const t = values.get(name);
    if (!t) return;
    values.delete(name);
    release(t);
  };
  const fusion = run.fuse ? planConvFusion(order, reads, graphOutputs) : undefined;
  const releaseReads = (index: number): void => {
    for (const name of reads[index]!) {
      // Outer values are not in this map: deleting them here is a no-op, their own graph releases them.
      if (constants.has(name) || graphOutputs.has(name)) continue;
      const left = (remaining.get(name) ?? 1) - 1;
      remaining.set(name, left);
      if (left <= 0) drop(name);
    }
  };

  order.forEach((node, index) => {
    if (fusion?.skips(index)) {
      // Fused into an earlier Conv, which produced this node's output: only its reads are counted.
      releaseReads(index);
      run.onProgress?.(index + 1, order.length);
      return;
    }
    const kernel = findKernel(node.opType, node.domain)!;
    const nodeInputs = node.inputs.map((name) => {
      if (!name) return undefined;
      const v = lookup(name);
      if (!v) throw kernelError(node, `input '${name}' has no value (it is produced by no node that ran)`);
      return v;
    });
    const ctx: KernelContext = { node, opset, inputs: nodeInputs, attrs: new AttributeReader(node), threads, convAlgorithm: run.convAlgorithm, runSubgraph };
    if (fusion) ctx.convEpilogue = fusion.request(index, lookup, opset);
    if (buffers) {
      ctx.canOverwrite = (i: number) => {
        const name = node.inputs[i];
        const t = nodeInputs[i];
        if (!name || !t || constants.has(name) || graphOutputs.has(name) || values.get(name) !== t) return false;
        // This node holds every remaining read, and no other value (a Reshape's view, say) shares the buffer.
        let readsHere = 0;
        for (const r of reads[index]!) if (r === name) readsHere++;
        return remaining.get(name) === readsHere && buffers.get(t.data.buffer) === 1 && !run.pinned?.has(t.data.buffer);
      };
    }
    run.beforeNode?.(node, nodeInputs);
    let results: RtTensor[];
    try {
      results = kernel.run(ctx);
    } catch (e) {
      // Bugs stay bugs (no BncError) and keep their class (the CLI reports RangeError as out of memory),
      // but say which node they happened in.
      if (e instanceof Error && !(e instanceof BncError)) e.message = `${node.opType} node '${nodeLabel(node)}': ${e.message}`;
      throw e;
    }
    run.afterNode?.(node, results);
    node.outputs.forEach((name, i) => {
      if (i === 0 && fusion && name) name = fusion.outputName(index);
      if (!name) return;
      const r = results[i];
      if (!r) throw kernelError(node, `output ${i} ('${name}') is not supported by bnc's ${node.opType} kernel`);
      // A name set twice (not valid SSA) leaves its old value's count as it was: counts may only err high.
      hold(r);
      values.set(name, r);
      run.produced?.push(name);
      run.intermediates?.set(name, r);
    });
    releaseReads(index);
    // Outputs nobody reads (e.g. BN's optional statistics) are dropped at once.
    for (const name of node.outputs) {
      if (name && !remaining.has(name) && !graphOutputs.has(name)) drop(name);
    }
    run.onProgress?.(index + 1, order.length);
  });
}
