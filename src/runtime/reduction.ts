import { DataType, dtypeName } from '../ir/index.js';
import { KernelConfig, RtTensor, kernelError, requireInput } from './kernel.js';
import { NumberArray, allocate, integerValues, isBigArray, normalizeAxis } from './broadcast.js';

// The Reduce* family. The axes moved from an attribute to an optional input in opset 13 for ReduceSum
// and in opset 18 for the others, together with noop_with_empty_axes. Each op is a fold (sum, product,
// max, min) of a per-element map (identity, |x|, x², eˣ), then a final map (mean, sqrt, log). Folds run in
// float64; an empty reduction gives the fold's identity (0, 1, -inf, +inf), as ONNX 18 specifies.

type Fold = 'sum' | 'prod' | 'max' | 'min';

interface Reduction {
  fold: Fold;
  pre?: 'abs' | 'square' | 'exp';
  post?: 'mean' | 'sqrt' | 'log';
  axesInputSince: number;
}

const REDUCTIONS: Record<string, Reduction> = {
  ReduceSum: { fold: 'sum', axesInputSince: 13 },
  ReduceMean: { fold: 'sum', post: 'mean', axesInputSince: 18 },
  ReduceMax: { fold: 'max', axesInputSince: 18 },
  ReduceMin: { fold: 'min', axesInputSince: 18 },
  ReduceProd: { fold: 'prod', axesInputSince: 18 },
  ReduceL1: { fold: 'sum', pre: 'abs', axesInputSince: 18 },
  ReduceL2: { fold: 'sum', pre: 'square', post: 'sqrt', axesInputSince: 18 },
  ReduceSumSquare: { fold: 'sum', pre: 'square', axesInputSince: 18 },
  ReduceLogSum: { fold: 'sum', post: 'log', axesInputSince: 18 },
  ReduceLogSumExp: { fold: 'sum', pre: 'exp', post: 'log', axesInputSince: 18 },
};

const IDENTITY: Record<Fold, number> = { sum: 0, prod: 1, max: -Infinity, min: Infinity };

/**
 * The input viewed as runs of consecutive axes that are all reduced or all kept (size-1 axes dropped):
 * the reduction then walks rows of the innermost run. Each row either folds into one output element
 * (innermost run reduced) or adds elementwise onto an output row (innermost run kept).
 */
interface ReductionPlan {
  outSize: number;
  rowLength: number;
  innerReduced: boolean;
  /** Output offset of each input row (input row r starts at r * rowLength). */
  rowOut: Float64Array;
}

function planReduction(dims: readonly number[], reduced: readonly boolean[]): ReductionPlan {
  const runs: { extent: number; reduced: boolean }[] = [];
  for (let i = 0; i < dims.length; i++) {
    if (dims[i] === 1) continue;
    const last = runs[runs.length - 1];
    if (last && last.reduced === reduced[i]) last.extent *= dims[i]!;
    else runs.push({ extent: dims[i]!, reduced: reduced[i]! });
  }
  let outSize = 1;
  for (const r of runs) if (!r.reduced) outSize *= r.extent;
  const inner = runs.pop() ?? { extent: 1, reduced: true };
  let size = inner.extent;
  for (const r of runs) size *= r.extent;
  const rowLength = inner.extent;
  const rowCount = rowLength === 0 ? 0 : size / rowLength;
  // Output stride of each outer run (0 for reduced runs).
  const outStride = new Array<number>(runs.length).fill(0);
  let step = inner.reduced ? 1 : rowLength;
  for (let m = runs.length - 1; m >= 0; m--) {
    if (!runs[m]!.reduced) {
      outStride[m] = step;
      step *= runs[m]!.extent;
    }
  }
  const rowOut = new Float64Array(rowCount);
  const counter = new Array<number>(runs.length).fill(0);
  let offset = 0;
  for (let r = 0; r < rowCount; r++) {
    rowOut[r] = offset;
    for (let m = runs.length - 1; m >= 0; m--) {
      offset += outStride[m]!;
      if (++counter[m]! < runs[m]!.extent) break;
      offset -= outStride[m]! * runs[m]!.extent;
      counter[m] = 0;
    }
  }
  return { outSize, rowLength, innerReduced: inner.reduced, rowOut };
}

function mapped(x: NumberArray, pre: Reduction['pre']): NumberArray {
  if (!pre) return x;
  const out = new Float64Array(x.length);
  if (pre === 'abs') for (let i = 0; i < x.length; i++) out[i] = Math.abs(x[i]!);
  else if (pre === 'square') for (let i = 0; i < x.length; i++) out[i] = x[i]! * x[i]!;
  else for (let i = 0; i < x.length; i++) out[i] = Math.exp(x[i]!);
  return out;
}

/** max/min that let NaN through, as numpy's do. */
function combine(fold: Fold, a: number, v: number): number {
  switch (fold) {
    case 'sum':
      return a + v;
    case 'prod':
      return a * v;
    case 'max':
      return v > a || Number.isNaN(v) ? v : a;
    case 'min':
      return v < a || Number.isNaN(v) ? v : a;
  }
}

function reduceNumbers(x: NumberArray, plan: ReductionPlan, fold: Fold): Float64Array {
  const acc = new Float64Array(plan.outSize).fill(IDENTITY[fold]);
  const n = plan.rowLength;
  for (let r = 0; r < plan.rowOut.length; r++) {
    const o = plan.rowOut[r]!;
    const start = r * n;
    if (plan.innerReduced) {
      let a = acc[o]!;
      if (fold === 'sum') for (let i = start; i < start + n; i++) a += x[i]!;
      else for (let i = start; i < start + n; i++) a = combine(fold, a, x[i]!);
      acc[o] = a;
    } else if (fold === 'sum') {
      for (let i = 0; i < n; i++) acc[o + i] = acc[o + i]! + x[start + i]!;
    } else {
      for (let i = 0; i < n; i++) acc[o + i] = combine(fold, acc[o + i]!, x[start + i]!);
    }
  }
  return acc;
}

function reduceBigInts(x: BigInt64Array | BigUint64Array, plan: ReductionPlan, fold: Fold, out: BigInt64Array | BigUint64Array): void {
  const first = new Uint8Array(plan.outSize).fill(1);
  if (fold === 'sum') out.fill(0n);
  if (fold === 'prod') out.fill(1n);
  const n = plan.rowLength;
  for (let r = 0; r < plan.rowOut.length; r++) {
    const o = plan.rowOut[r]!;
    const start = r * n;
    for (let i = 0; i < n; i++) {
      const j = plan.innerReduced ? o : o + i;
      const v = x[start + i]!;
      if (fold === 'sum') out[j] = out[j]! + v;
      else if (fold === 'prod') out[j] = out[j]! * v;
      else if (first[j]) {
        out[j] = v;
        first[j] = 0;
      } else if (fold === 'max' ? v > out[j]! : v < out[j]!) out[j] = v;
    }
  }
}

/** Reduce* of opsets 1-18+: see REDUCTIONS. Output keeps the input's type (integers truncate after sqrt/log). */
function reduceKernel(opType: string): KernelConfig {
  const kind = REDUCTIONS[opType]!;
  return {
    opType,
    run(ctx) {
      const x = requireInput(ctx, 0, 'data');
      const rank = x.dims.length;
      const axesFromInput = ctx.opset >= kind.axesInputSince;
      let axes: number[] | undefined;
      if (axesFromInput) {
        const t = ctx.inputs[1];
        axes = t ? integerValues(ctx.node, t, 'axes') : undefined;
      } else {
        axes = ctx.attrs.ints('axes');
      }
      const keepDims = ctx.attrs.int('keepdims', 1) !== 0;
      const noopWithEmptyAxes = axesFromInput && ctx.attrs.int('noop_with_empty_axes', 0) !== 0;
      if (!axes || axes.length === 0) {
        if (noopWithEmptyAxes) return [{ dtype: x.dtype, dims: [...x.dims], data: x.data }];
        axes = x.dims.map((_, i) => i);
      }
      const reduced = new Array<boolean>(rank).fill(false);
      for (const a of axes) reduced[normalizeAxis(ctx.node, a, rank, 'axis')] = true;
      const dims = keepDims ? x.dims.map((d, i) => (reduced[i] ? 1 : d)) : x.dims.filter((_, i) => !reduced[i]);
      let count = 1;
      x.dims.forEach((d, i) => reduced[i] && (count *= d));
      const plan = planReduction(x.dims, reduced);
      const out = allocate(ctx.node, x.dtype, plan.outSize);
      if (isBigArray(x.data)) {
        if (kind.pre || kind.post) throw kernelError(ctx.node, `type ${dtypeName(x.dtype)} is not supported; bnc runs ${opType} on float and 32-bit integer types`);
        if (count === 0 && (kind.fold === 'max' || kind.fold === 'min')) throw kernelError(ctx.node, `${opType} over an empty axis of an integer tensor has no value`);
        reduceBigInts(x.data, plan, kind.fold, out as BigInt64Array);
      } else {
        if (x.dtype === DataType.BOOL || x.dtype === DataType.STRING) throw kernelError(ctx.node, `type ${dtypeName(x.dtype)} is not supported`);
        const acc = reduceNumbers(mapped(x.data as NumberArray, kind.pre), plan, kind.fold);
        if (kind.post === 'mean') for (let i = 0; i < acc.length; i++) acc[i] = acc[i]! / count;
        else if (kind.post === 'sqrt') for (let i = 0; i < acc.length; i++) acc[i] = Math.sqrt(acc[i]!);
        else if (kind.post === 'log') for (let i = 0; i < acc.length; i++) acc[i] = Math.log(acc[i]!);
        (out as NumberArray).set(acc);
      }
      return [{ dtype: x.dtype, dims, data: out } satisfies RtTensor];
    },
  };
}

export const REDUCTION_KERNELS: KernelConfig[] = Object.keys(REDUCTIONS).map(reduceKernel);
