import { DataType, dtypeName } from '../ir/index.js';
import { KernelConfig, RtTensor, kernelError, requireInput } from './kernel.js';
import { NumberArray, allocate, integerValues, isBigArray, normalizeAxis } from './broadcast.js';

// ReduceSum / ReduceMean / ReduceMax. The axes moved from an attribute to an optional input in opset 13
// for ReduceSum and in opset 18 for the others, together with noop_with_empty_axes.

type Reduction = 'sum' | 'mean' | 'max';

const AXES_INPUT_SINCE: Record<Reduction, number> = { sum: 13, mean: 18, max: 18 };

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

function reduceNumbers(x: NumberArray, plan: ReductionPlan, kind: Reduction): Float64Array {
  const acc = new Float64Array(plan.outSize).fill(kind === 'max' ? -Infinity : 0);
  const n = plan.rowLength;
  for (let r = 0; r < plan.rowOut.length; r++) {
    const o = plan.rowOut[r]!;
    const start = r * n;
    if (plan.innerReduced) {
      if (kind === 'max') {
        let m = acc[o]!;
        for (let i = start; i < start + n; i++) if (x[i]! > m || Number.isNaN(x[i]!)) m = x[i]!;
        acc[o] = m;
      } else {
        let s = 0;
        for (let i = start; i < start + n; i++) s += x[i]!;
        acc[o] = acc[o]! + s;
      }
    } else if (kind === 'max') {
      for (let i = 0; i < n; i++) {
        const v = x[start + i]!;
        if (v > acc[o + i]! || Number.isNaN(v)) acc[o + i] = v;
      }
    } else {
      for (let i = 0; i < n; i++) acc[o + i] = acc[o + i]! + x[start + i]!;
    }
  }
  return acc;
}

function reduceBigInts(x: BigInt64Array | BigUint64Array, plan: ReductionPlan, kind: Reduction, out: BigInt64Array | BigUint64Array): void {
  const first = new Uint8Array(plan.outSize).fill(1);
  const n = plan.rowLength;
  for (let r = 0; r < plan.rowOut.length; r++) {
    const o = plan.rowOut[r]!;
    const start = r * n;
    for (let i = 0; i < n; i++) {
      const j = plan.innerReduced ? o : o + i;
      const v = x[start + i]!;
      if (first[j]) {
        out[j] = v;
        first[j] = 0;
      } else if (kind === 'max') {
        if (v > out[j]!) out[j] = v;
      } else {
        out[j] = out[j]! + v;
      }
    }
  }
}

function reduceKernel(opType: string, kind: Reduction): KernelConfig {
  return {
    opType,
    run(ctx) {
      const x = requireInput(ctx, 0, 'data');
      const rank = x.dims.length;
      const axesFromInput = ctx.opset >= AXES_INPUT_SINCE[kind];
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
      if (kind === 'max' && count === 0) throw kernelError(ctx.node, 'ReduceMax over an empty axis has no value');
      const plan = planReduction(x.dims, reduced);
      const out = allocate(ctx.node, x.dtype, plan.outSize);
      if (isBigArray(x.data)) {
        if (kind === 'mean') throw kernelError(ctx.node, `type ${dtypeName(x.dtype)} is not supported; bnc runs ReduceMean on float32`);
        reduceBigInts(x.data, plan, kind, out as BigInt64Array);
      } else {
        if (x.dtype === DataType.BOOL || x.dtype === DataType.STRING) throw kernelError(ctx.node, `type ${dtypeName(x.dtype)} is not supported`);
        const acc = reduceNumbers(x.data as NumberArray, plan, kind);
        const o = out as NumberArray;
        if (kind === 'mean') for (let i = 0; i < acc.length; i++) o[i] = acc[i]! / count;
        else o.set(acc);
      }
      return [{ dtype: x.dtype, dims, data: out } satisfies RtTensor];
    },
  };
}

export const REDUCTION_KERNELS: KernelConfig[] = [
  reduceKernel('ReduceSum', 'sum'),
  reduceKernel('ReduceMean', 'mean'),
  reduceKernel('ReduceMax', 'max'),
];
