import { DataType, Node, TypedArray, dtypeName, storageOf } from '../ir/index.js';
import { RtTensor, kernelError } from './kernel.js';
import { floatOutput } from './parallel.js';

/** Typed arrays whose elements are JS numbers (everything but the 64-bit integer arrays). */
export type NumberArray = Exclude<TypedArray, BigInt64Array | BigUint64Array>;
export type BigArray = BigInt64Array | BigUint64Array;

/**
 * A typed array seen as plain slots, for code that only moves elements between arrays of the same kind
 * (copy, gather, transpose): it works for number and bigint arrays alike without a per-element branch.
 */
export type Slots = { [index: number]: number; length: number };
export function slots(a: TypedArray): Slots {
  return a as unknown as Slots;
}

export function isBigArray(a: TypedArray): a is BigArray {
  return a instanceof BigInt64Array || a instanceof BigUint64Array;
}

/** New zero-filled storage for `n` elements of `dtype` (runtime representation: see RtTensor). */
export function allocate(node: Node, dtype: DataType, n: number): TypedArray {
  const ctor = dtype === DataType.FLOAT16 || dtype === DataType.BFLOAT16 ? Float32Array : storageOf(dtype);
  if (!ctor) throw kernelError(node, `type ${dtypeName(dtype)} is not supported by bnc's runtime`);
  return ctor === Float32Array ? floatOutput(n) : new ctor(n);
}

export function formatDims(dims: readonly number[]): string {
  return `[${dims.join(',')}]`;
}

/** Multidirectional (numpy-style) broadcast of shapes; a kernelError naming the node when impossible. */
export function broadcastDims(node: Node, shapes: readonly (readonly number[])[]): number[] {
  let rank = 0;
  for (const s of shapes) rank = Math.max(rank, s.length);
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    const offset = rank - s.length;
    for (let i = 0; i < s.length; i++) {
      const d = s[i]!;
      const o = out[offset + i]!;
      if (d === o || d === 1) continue;
      if (o === 1) out[offset + i] = d;
      else {
        throw kernelError(
          node,
          `input shapes ${shapes.map(formatDims).join(' and ')} cannot be broadcast together (axis ${offset + i}: ${o} vs ${d})`,
        );
      }
    }
  }
  return out;
}

/**
 * How to walk inputs that broadcast to `dims`: the output is visited as `rowCount` rows of `rowLength`
 * contiguous elements; input k's row r starts at rowStart[k][r] and advances by innerStride[k] (0 or 1)
 * per element. Adjacent axes that broadcast the same way for every input are merged first, so the common
 * cases collapse to few long rows: same shape → one row; per-channel [C,1,1] against [N,C,H,W] → rows of
 * H*W with stride 0 for the channel operand.
 */
export interface BroadcastPlan {
  dims: number[];
  size: number;
  rowLength: number;
  rowCount: number;
  innerStride: number[];
  rowStart: Float64Array[];
}

export function planBroadcast(outDims: readonly number[], inputDims: readonly (readonly number[])[]): BroadcastPlan {
  const rank = outDims.length;
  const size = outDims.reduce((a, b) => a * b, 1);
  // Axes of extent 1 carry no information; drop them. For the others, record per input whether it is
  // broadcast (stride 0) along that axis.
  const axes: { extent: number; broadcast: boolean[] }[] = [];
  for (let i = 0; i < rank; i++) {
    const extent = outDims[i]!;
    if (extent === 1) continue;
    axes.push({
      extent,
      broadcast: inputDims.map((d) => {
        const j = i - (rank - d.length);
        return j < 0 || d[j] === 1;
      }),
    });
  }
  // Merge runs of axes with the same broadcast pattern.
  const merged: { extent: number; broadcast: boolean[] }[] = [];
  for (const a of axes) {
    const last = merged[merged.length - 1];
    if (last && last.broadcast.every((b, k) => b === a.broadcast[k])) last.extent *= a.extent;
    else merged.push({ extent: a.extent, broadcast: [...a.broadcast] });
  }
  const inner = merged.pop() ?? { extent: size === 0 ? 0 : 1, broadcast: inputDims.map(() => true) };
  const rowLength = inner.extent;
  const rowCount = rowLength === 0 ? 0 : size / rowLength;
  // Strides of each input along the merged outer axes (0 where broadcast).
  const strides = inputDims.map((_, k) => {
    const s = new Array<number>(merged.length).fill(0);
    let step = inner.broadcast[k] ? 1 : rowLength;
    for (let m = merged.length - 1; m >= 0; m--) {
      if (!merged[m]!.broadcast[k]) {
        s[m] = step;
        step *= merged[m]!.extent;
      }
    }
    return s;
  });
  const rowStart = inputDims.map(() => new Float64Array(rowCount));
  const counter = new Array<number>(merged.length).fill(0);
  const offsets = new Array<number>(inputDims.length).fill(0);
  for (let r = 0; r < rowCount; r++) {
    for (let k = 0; k < offsets.length; k++) rowStart[k]![r] = offsets[k]!;
    // Odometer step over the merged outer axes.
    for (let m = merged.length - 1; m >= 0; m--) {
      counter[m]!++;
      for (let k = 0; k < offsets.length; k++) offsets[k]! += strides[k]![m]!;
      if (counter[m]! < merged[m]!.extent) break;
      for (let k = 0; k < offsets.length; k++) offsets[k]! -= strides[k]![m]! * merged[m]!.extent;
      counter[m] = 0;
    }
  }
  return {
    dims: [...outDims],
    size,
    rowLength,
    rowCount,
    innerStride: inner.broadcast.map((b) => (b ? 0 : 1)),
    rowStart,
  };
}

/** Copy `t` broadcast to `dims` (Expand, and operands that must be materialized). */
export function broadcastTo(node: Node, t: RtTensor, dims: readonly number[]): RtTensor {
  const plan = planBroadcast(dims, [t.dims]);
  const out = allocate(node, t.dtype, plan.size);
  const src = slots(t.data);
  const dst = slots(out);
  const stride = plan.innerStride[0]!;
  const starts = plan.rowStart[0]!;
  const n = plan.rowLength;
  for (let r = 0, o = 0; r < plan.rowCount; r++) {
    let s = starts[r]!;
    if (stride === 1) {
      (out as Float32Array).set((t.data as Float32Array).subarray(s, s + n), o);
      o += n;
    } else {
      const v = src[s]!;
      for (let i = 0; i < n; i++) dst[o++] = v;
    }
  }
  return { dtype: t.dtype, dims: [...dims], data: out };
}

/** Normalize a possibly negative axis against `rank`; kernelError when out of [-rank, rank). */
export function normalizeAxis(node: Node, axis: number, rank: number, what = 'axis'): number {
  if (axis < -rank || axis >= rank) throw kernelError(node, `${what} ${axis} is out of range for rank ${rank}`);
  return axis < 0 ? axis + rank : axis;
}

/** Integer values of a shape-like input (int64 or int32), as numbers; INT64 sentinels saturate. */
export function integerValues(node: Node, t: RtTensor, what: string): number[] {
  const d = t.data;
  if (t.dtype !== DataType.INT64 && t.dtype !== DataType.INT32) {
    throw kernelError(node, `${what} must be int64 or int32, not ${dtypeName(t.dtype)}`);
  }
  const out = new Array<number>(d.length);
  for (let i = 0; i < d.length; i++) out[i] = Number(d[i]!);
  return out;
}

/** Float values of a small input (scales, constant values), any numeric type. */
export function floatValues(t: RtTensor): number[] {
  const d = t.data;
  const out = new Array<number>(d.length);
  for (let i = 0; i < d.length; i++) out[i] = Number(d[i]!);
  return out;
}

/** C-order strides of `dims`. */
export function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let step = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = step;
    step *= dims[i]!;
  }
  return s;
}

/**
 * out[i] = src[offset(i)] for an output of `outDims` where the source offset is a sum over axes of
 * index(axis, i_axis) — the shared engine of Slice, Transpose, Pad, nearest Resize and Tile. `axisOffset[a]`
 * lists, for each output index along axis a, the source offset it contributes, or -1 for "fill value".
 */
export function gatherByAxisOffsets(
  node: Node,
  src: RtTensor,
  outDims: readonly number[],
  axisOffset: readonly (Int32Array | Float64Array)[],
  fill?: number | bigint,
): RtTensor {
  const size = outDims.reduce((a, b) => a * b, 1);
  const out = allocate(node, src.dtype, size);
  const rank = outDims.length;
  if (size === 0) return { dtype: src.dtype, dims: [...outDims], data: out };
  if (rank === 0) {
    slots(out)[0] = slots(src.data)[0]!;
    return { dtype: src.dtype, dims: [], data: out };
  }
  const from = slots(src.data);
  const to = slots(out);
  const fillValue = (isBigArray(out) ? toBigIntFill(fill) : Number(fill ?? 0)) as unknown as number;
  const last = axisOffset[rank - 1]!;
  const n = outDims[rank - 1]!;
  const counter = new Array<number>(rank - 1).fill(0);
  // base = sum of the outer axes' offsets; -1 anywhere makes the whole row the fill value.
  let o = 0;
  const rows = size / n;
  for (let r = 0; r < rows; r++) {
    let base = 0;
    let filled = false;
    for (let a = 0; a < rank - 1; a++) {
      const off = axisOffset[a]![counter[a]!]!;
      if (off < 0) filled = true;
      base += off;
    }
    if (filled) {
      for (let i = 0; i < n; i++) to[o++] = fillValue;
    } else {
      for (let i = 0; i < n; i++) {
        const off = last[i]!;
        to[o++] = off < 0 ? fillValue : from[base + off]!;
      }
    }
    for (let a = rank - 2; a >= 0; a--) {
      if (++counter[a]! < outDims[a]!) break;
      counter[a] = 0;
    }
  }
  return { dtype: src.dtype, dims: [...outDims], data: out };
}

/** A fill value for int64 storage: float attributes (Pad's `value`) truncate; NaN and infinities become 0. */
function toBigIntFill(fill: number | bigint | undefined): bigint {
  if (typeof fill === 'bigint') return fill;
  return fill !== undefined && Number.isFinite(fill) ? BigInt(Math.trunc(fill)) : 0n;
}
