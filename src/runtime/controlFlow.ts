import { DataType, Graph, TypedArray, dtypeName, getAttribute } from '../ir/index.js';
import { KernelConfig, KernelContext, RtTensor, kernelError, sizeOf } from './kernel.js';
import { integerValues, normalizeAxis } from './broadcast.js';

// Control flow: If, Loop, Scan. Each runs subgraphs of its node through the engine (ctx.runSubgraph), which
// resolves the subgraph's outer-scope reads. Only tensor values: sequence and optional types (If-13/16,
// Loop-13/16 with sequence or optional state) are not supported, since bnc's runtime holds tensors only.

function subgraph(ctx: KernelContext, name: string): Graph {
  const g = getAttribute(ctx.node, name)?.g;
  if (!g) throw kernelError(ctx.node, `attribute '${name}' (a graph) is missing`);
  return g;
}

function run(ctx: KernelContext, g: Graph, feeds: Map<string, RtTensor>): RtTensor[] {
  if (!ctx.runSubgraph) throw kernelError(ctx.node, 'subgraphs can only run inside the engine');
  return ctx.runSubgraph(g, feeds);
}

/** A tensor's single element as a boolean (If's cond, Loop's cond). */
function truth(ctx: KernelContext, t: RtTensor, what: string): boolean {
  if (t.data.length !== 1) throw kernelError(ctx.node, `${what} must hold one element, it has shape [${t.dims.join(', ')}]`);
  const v = t.data[0]!;
  return typeof v === 'bigint' ? v !== 0n : v !== 0;
}

const emptyLike = (data: TypedArray, n: number): TypedArray => new (data.constructor as new (n: number) => TypedArray)(n);

/**
 * If (opset 1, 11, 13, 16): runs then_branch when the one-element `cond` is true, else else_branch, and
 * returns that branch's outputs. Since opset 11 the branches may produce different shapes. Sequence and
 * optional outputs (allowed from opset 13/16) are out of scope.
 */
const ifKernel: KernelConfig = {
  opType: 'If',
  run(ctx) {
    const cond = ctx.inputs[0];
    if (!cond) throw kernelError(ctx.node, 'input cond is missing');
    const branch = truth(ctx, cond, 'cond') ? 'then_branch' : 'else_branch';
    const outs = run(ctx, subgraph(ctx, branch), new Map());
    if (outs.length < ctx.node.outputs.length) {
      throw kernelError(ctx.node, `${branch} has ${outs.length} outputs, the node ${ctx.node.outputs.length}`);
    }
    return outs;
  },
};

// A Loop whose condition never turns false would run forever; past this many iterations it is an error.
const MAX_LOOP_ITERATIONS = 10_000_000;

/**
 * Loop (opset 1, 11, 13, 16): inputs M (optional int64 trip count), cond (optional bool), and N initial
 * loop-carried values; body inputs (iteration_num, cond_in, carried...), body outputs (cond_out,
 * carried..., K scan outputs). Runs while `i < M` and cond; cond_out of each iteration becomes the next
 * cond (as onnxruntime and onnx's reference do, also when the cond input is omitted). Outputs: the N final
 * carried values (the initial ones after zero iterations), then each scan output's per-iteration values
 * stacked along a new axis 0 (shape [0] after zero iterations). Opset 11 made the initial values optional;
 * 13 and 16 add sequence and optional types, which bnc does not hold (tensors only).
 */
const loopKernel: KernelConfig = {
  opType: 'Loop',
  run(ctx) {
    const body = subgraph(ctx, 'body');
    const [mIn, condIn] = ctx.inputs;
    const carried = ctx.inputs.slice(2).map((t, i) => {
      if (!t) throw kernelError(ctx.node, `loop-carried input ${i} is missing`);
      return t;
    });
    const n = carried.length;
    if (body.inputs.length !== n + 2) {
      throw kernelError(ctx.node, `the body has ${body.inputs.length} inputs, expected ${n + 2} (iteration number, condition, ${n} loop-carried)`);
    }
    const k = body.outputs.length - 1 - n;
    if (k < 0) throw kernelError(ctx.node, `the body has ${body.outputs.length} outputs, expected at least ${n + 1}`);
    if (!mIn && !condIn) throw kernelError(ctx.node, 'it has neither a trip count M nor a condition: it would never end');
    const limit = mIn ? integerValues(ctx.node, mIn, 'M')[0] ?? 0 : Infinity;
    let cond = condIn ? truth(ctx, condIn, 'cond') : true;
    const scans: RtTensor[][] = Array.from({ length: k }, () => []);
    let state = carried;
    let i = 0;
    for (; i < limit && cond; i++) {
      if (i >= MAX_LOOP_ITERATIONS) {
        throw kernelError(ctx.node, `ran ${MAX_LOOP_ITERATIONS.toLocaleString('en-US')} iterations without its condition turning false`);
      }
      const feeds = new Map<string, RtTensor>();
      const iterType = body.inputs[0]!.type?.tensor?.elemType;
      feeds.set(body.inputs[0]!.name, scalar(iterType === DataType.INT32 ? DataType.INT32 : DataType.INT64, i));
      feeds.set(body.inputs[1]!.name, { dtype: DataType.BOOL, dims: [], data: Uint8Array.of(cond ? 1 : 0) });
      body.inputs.slice(2).forEach((vi, j) => feeds.set(vi.name, state[j]!));
      const outs = run(ctx, body, feeds);
      cond = truth(ctx, outs[0]!, "the body's condition output");
      state = outs.slice(1, 1 + n);
      for (let j = 0; j < k; j++) scans[j]!.push(outs[1 + n + j]!);
    }
    const stacked = scans.map((list, j) => (list.length ? stack(ctx, list, 0, `scan output ${j}`) : emptyScan(body, 1 + n + j)));
    return [...state, ...stacked];
  },
};

function scalar(dtype: DataType, v: number): RtTensor {
  return dtype === DataType.INT32 ? { dtype, dims: [], data: Int32Array.of(v) } : { dtype, dims: [], data: BigInt64Array.of(BigInt(v)) };
}

/**
 * A scan output after zero iterations: [...lead, ...declared per-iteration dims] when those are known, else
 * `lead` alone (lead = [0] for Loop and Scan-9; [batch, T] for Scan-8 when every entry has length 0).
 */
function emptyScan(body: Graph, outputIndex: number, lead: number[] = [0]): RtTensor {
  const declared = body.outputs[outputIndex]?.type?.tensor;
  const dims = declared?.shape?.every((d) => d.value !== undefined) ? [...lead, ...declared.shape.map((d) => d.value!)] : lead;
  const dtype = declared?.elemType === DataType.FLOAT16 || declared?.elemType === DataType.BFLOAT16 || !declared?.elemType ? DataType.FLOAT : declared.elemType;
  const size = sizeOf(dims);
  return { dtype, dims, data: dtype === DataType.INT64 ? new BigInt64Array(size) : dtype === DataType.DOUBLE ? new Float64Array(size) : new Float32Array(size) };
}

/** Per-iteration tensors of one shape, stacked along a new axis `axis` (0..rank). */
function stack(ctx: KernelContext, list: RtTensor[], axis: number, what: string): RtTensor {
  const first = list[0]!;
  for (const t of list) {
    if (t.dtype !== first.dtype || t.dims.length !== first.dims.length || t.dims.some((d, i) => d !== first.dims[i])) {
      throw kernelError(
        ctx.node,
        `${what} changes between iterations (${dtypeName(first.dtype)} [${first.dims.join(', ')}] vs ${dtypeName(t.dtype)} [${t.dims.join(', ')}]); they are stacked, so they must match`,
      );
    }
  }
  const T = list.length;
  const outer = sizeOf(first.dims.slice(0, axis));
  const inner = sizeOf(first.dims.slice(axis));
  const out = emptyLike(first.data, outer * T * inner);
  list.forEach((t, s) => {
    for (let o = 0; o < outer; o++) (out as Float32Array).set((t.data as Float32Array).subarray(o * inner, (o + 1) * inner), (o * T + s) * inner);
  });
  return { dtype: first.dtype, dims: [...first.dims.slice(0, axis), T, ...first.dims.slice(axis)], data: out };
}

/** Element `index` along `axis`, that axis removed. */
function sliceAxis(t: RtTensor, axis: number, index: number): RtTensor {
  const outer = sizeOf(t.dims.slice(0, axis));
  const len = t.dims[axis]!;
  const inner = sizeOf(t.dims.slice(axis + 1));
  const out = emptyLike(t.data, outer * inner);
  for (let o = 0; o < outer; o++) (out as Float32Array).set((t.data as Float32Array).subarray((o * len + index) * inner, (o * len + index + 1) * inner), o * inner);
  return { dtype: t.dtype, dims: [...t.dims.slice(0, axis), ...t.dims.slice(axis + 1)], data: out };
}

/**
 * Scan. Opset 9 and later: inputs N initial states then M scan inputs (M = num_scan_inputs); each scan
 * input is iterated along scan_input_axes[i] (default 0; negative from opset 11) in scan_input_directions[i]
 * (0 forward, 1 reverse); body inputs (states..., one slice per scan input), body outputs (states...,
 * K per-iteration values). Outputs: final states, then each per-iteration value stacked along
 * scan_output_axes[j] (default 0), in reverse iteration order when scan_output_directions[j] is 1.
 * Opset 8: a leading optional sequence_lens input and a batch axis 0 on every state and scan input (the
 * scan axis is 1); each batch entry runs separately for its sequence length (default the full length),
 * `directions` gives the scan inputs' directions, and scan outputs are zero beyond an entry's length.
 */
const scanKernel: KernelConfig = {
  opType: 'Scan',
  run(ctx) {
    const body = subgraph(ctx, 'body');
    const m = ctx.attrs.int('num_scan_inputs');
    if (m === undefined || m < 1) throw kernelError(ctx.node, 'attribute num_scan_inputs (at least 1) is missing');
    return ctx.opset < 9 ? scan8(ctx, body, m) : scan9(ctx, body, m);
  },
};

function required(ctx: KernelContext, list: (RtTensor | undefined)[], offset: number): RtTensor[] {
  return list.map((t, i) => {
    if (!t) throw kernelError(ctx.node, `input ${i + offset} is missing`);
    return t;
  });
}

function checkBody(ctx: KernelContext, body: Graph, states: number, scanIn: number): number {
  if (body.inputs.length !== states + scanIn) {
    throw kernelError(ctx.node, `the body has ${body.inputs.length} inputs, expected ${states + scanIn} (${states} states, ${scanIn} scan inputs)`);
  }
  const k = body.outputs.length - states;
  if (k < 0) throw kernelError(ctx.node, `the body has ${body.outputs.length} outputs, expected at least ${states}`);
  return k;
}

function scan9(ctx: KernelContext, body: Graph, m: number): RtTensor[] {
  const all = required(ctx, ctx.inputs, 0);
  const n = all.length - m;
  if (n < 0) throw kernelError(ctx.node, `num_scan_inputs is ${m}, but the node has ${all.length} inputs`);
  const states0 = all.slice(0, n);
  const scanInputs = all.slice(n);
  const k = checkBody(ctx, body, n, m);
  const inAxes = ctx.attrs.ints('scan_input_axes', []);
  const inDirs = ctx.attrs.ints('scan_input_directions', []);
  const outAxes = ctx.attrs.ints('scan_output_axes', []);
  const outDirs = ctx.attrs.ints('scan_output_directions', []);
  const axes = scanInputs.map((t, i) => normalizeAxis(ctx.node, inAxes[i] ?? 0, t.dims.length, `scan_input_axes[${i}]`));
  const T = scanInputs[0]!.dims[axes[0]!]!;
  scanInputs.forEach((t, i) => {
    if (t.dims[axes[i]!] !== T) throw kernelError(ctx.node, `scan input ${i} has ${t.dims[axes[i]!]} steps along axis ${axes[i]}, scan input 0 has ${T}`);
  });
  let states = states0;
  const per: RtTensor[][] = Array.from({ length: k }, () => []);
  for (let t = 0; t < T; t++) {
    const feeds = new Map<string, RtTensor>();
    states.forEach((s, i) => feeds.set(body.inputs[i]!.name, s));
    scanInputs.forEach((x, i) => feeds.set(body.inputs[n + i]!.name, sliceAxis(x, axes[i]!, inDirs[i] ? T - 1 - t : t)));
    const outs = run(ctx, body, feeds);
    states = outs.slice(0, n);
    for (let j = 0; j < k; j++) per[j]!.push(outs[n + j]!);
  }
  const scanOuts = per.map((list, j) => {
    if (!list.length) return emptyScan(body, n + j);
    if (outDirs[j]) list.reverse();
    const rank = list[0]!.dims.length;
    const axis = normalizeAxis(ctx.node, outAxes[j] ?? 0, rank + 1, `scan_output_axes[${j}]`);
    return stack(ctx, list, axis, `scan output ${j}`);
  });
  return [...states, ...scanOuts];
}

function scan8(ctx: KernelContext, body: Graph, m: number): RtTensor[] {
  const lensIn = ctx.inputs[0];
  const all = required(ctx, ctx.inputs.slice(1), 1);
  const n = all.length - m;
  if (n < 0) throw kernelError(ctx.node, `num_scan_inputs is ${m}, but the node has ${all.length} inputs after sequence_lens`);
  const k = checkBody(ctx, body, n, m);
  const dirs = ctx.attrs.ints('directions', []);
  const scanInputs = all.slice(n);
  const batch = all[0]!.dims[0];
  const T = scanInputs[0]!.dims[1];
  if (batch === undefined || T === undefined) throw kernelError(ctx.node, 'scan inputs need a batch axis 0 and a sequence axis 1 (opset 8)');
  all.forEach((x, i) => {
    if (x.dims[0] !== batch) throw kernelError(ctx.node, `input ${i + 1} has batch size ${x.dims[0]}, input 1 has ${batch}`);
  });
  scanInputs.forEach((x, i) => {
    if (x.dims[1] !== T) throw kernelError(ctx.node, `scan input ${i} has ${x.dims[1]} steps, scan input 0 has ${T}`);
  });
  const lens = lensIn ? integerValues(ctx.node, lensIn, 'sequence_lens') : new Array<number>(batch).fill(T);
  if (lens.length !== batch || lens.some((l) => l < 0 || l > T)) {
    throw kernelError(ctx.node, `sequence_lens [${lens.join(', ')}] must hold ${batch} lengths between 0 and ${T}`);
  }
  const finals: RtTensor[][] = Array.from({ length: n }, () => []);
  // Per batch entry, per scan output: the values of its steps (fewer than T for a shorter entry).
  const steps: RtTensor[][][] = [];
  for (let b = 0; b < batch; b++) {
    let states = all.slice(0, n).map((s) => sliceAxis(s, 0, b));
    const seqs = scanInputs.map((x) => sliceAxis(x, 0, b));
    const per: RtTensor[][] = Array.from({ length: k }, () => []);
    const len = lens[b]!;
    for (let t = 0; t < len; t++) {
      const feeds = new Map<string, RtTensor>();
      states.forEach((s, i) => feeds.set(body.inputs[i]!.name, s));
      seqs.forEach((x, i) => feeds.set(body.inputs[n + i]!.name, sliceAxis(x, 0, dirs[i] ? len - 1 - t : t)));
      const o = run(ctx, body, feeds);
      states = o.slice(0, n);
      for (let j = 0; j < k; j++) per[j]!.push(o[n + j]!);
    }
    states.forEach((s, i) => finals[i]!.push(s));
    steps.push(per);
  }
  const outs = Array.from({ length: k }, (_, j) => {
    // Steps beyond an entry's length are zero, shaped like any computed step.
    const model = steps.find((per) => per[j]!.length)?.[j]![0];
    if (!model) return emptyScan(body, n + j, [batch, T]);
    const zero = { ...model, data: emptyLike(model.data, model.data.length) };
    const rows = steps.map((per) => {
      const list = per[j]!;
      while (list.length < T) list.push(zero);
      return stack(ctx, list, 0, `scan output ${j}`);
    });
    return stack(ctx, rows, 0, `scan output ${j}`);
  });
  return [...finals.map((list, i) => stack(ctx, list, 0, `state ${i}`)), ...outs];
}

export const CONTROL_FLOW_KERNELS: KernelConfig[] = [ifKernel, loopKernel, scanKernel];
