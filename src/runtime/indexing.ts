import { DataType, dtypeName } from '../ir/index.js';
import { KernelConfig, KernelContext, RtTensor, kernelError, requireInput, sizeOf } from './kernel.js';
import { NumberArray, allocate, formatDims, integerValues, isBigArray, normalizeAxis, slots, stridesOf } from './broadcast.js';

// Index-driven data movement: element gathers and scatters (GatherElements, ScatterElements, Scatter,
// GatherND, ScatterND), masks (Compress, Trilu, NonZero), OneHot, EyeLike, CumSum and ReverseSequence.
// Element moves go through `slots`, so every element type (bigint arrays included) takes the same path.

function copyOf(node: KernelContext['node'], t: RtTensor): RtTensor {
  const data = allocate(node, t.dtype, t.data.length);
  // Same storage kind on both sides (bigint arrays included), so one bulk copy.
  (data as Float32Array).set(t.data as Float32Array);
  return { dtype: t.dtype, dims: [...t.dims], data };
}

/** An index along an axis of `size`, negative counting from the end; out of range is an error naming the node. */
function wrapIndex(ctx: KernelContext, v: number, size: number, axis: number): number {
  if (v < -size || v >= size) throw kernelError(ctx.node, `index ${v} is out of range for axis ${axis} of size ${size}`);
  return v < 0 ? v + size : v;
}

/** Offsets into data of every index element: data offset with the `axis` coordinate replaced by the index. */
function elementOffsets(ctx: KernelContext, dataDims: number[], indices: RtTensor, axis: number): Float64Array {
  const idx = integerValues(ctx.node, indices, 'indices');
  const rank = dataDims.length;
  if (indices.dims.length !== rank) throw kernelError(ctx.node, `indices ${formatDims(indices.dims)} must have the rank of data ${formatDims(dataDims)}`);
  const strides = stridesOf(dataDims);
  const offsets = new Float64Array(idx.length);
  const counter = new Array<number>(rank).fill(0);
  for (let i = 0; i < idx.length; i++) {
    let off = 0;
    for (let a = 0; a < rank; a++) off += (a === axis ? wrapIndex(ctx, idx[i]!, dataDims[axis]!, axis) : counter[a]!) * strides[a]!;
    offsets[i] = off;
    for (let a = rank - 1; a >= 0; a--) {
      if (++counter[a]! < indices.dims[a]!) break;
      counter[a] = 0;
    }
  }
  return offsets;
}

/** GatherElements-11/13: out has the indices' shape; out[i] = data[i with axis coordinate = indices[i]]. */
const gatherElements: KernelConfig = {
  opType: 'GatherElements',
  run(ctx) {
    const data = requireInput(ctx, 0, 'data');
    const indices = requireInput(ctx, 1, 'indices');
    const axis = normalizeAxis(ctx.node, ctx.attrs.int('axis', 0), data.dims.length);
    const offsets = elementOffsets(ctx, data.dims, indices, axis);
    const out = allocate(ctx.node, data.dtype, offsets.length);
    const from = slots(data.data);
    const to = slots(out);
    for (let i = 0; i < offsets.length; i++) to[i] = from[offsets[i]!]!;
    return [{ dtype: data.dtype, dims: [...indices.dims], data: out }];
  },
};

type Combine = (a: number, b: number) => number;

/** ScatterElements/ScatterND `reduction` (16: none, add, mul; 18: max, min) as a combine of old and update. */
function reductionOf(ctx: KernelContext): Combine | undefined {
  const r = ctx.opset >= 16 ? ctx.attrs.string('reduction', 'none') : 'none';
  switch (r) {
    case 'none':
      return undefined;
    case 'add':
      return (a, b) => a + b;
    case 'mul':
      return (a, b) => a * b;
    case 'max':
      if (ctx.opset >= 18) return (a, b) => (b > a ? b : a);
      break;
    case 'min':
      if (ctx.opset >= 18) return (a, b) => (b < a ? b : a);
      break;
  }
  throw kernelError(ctx.node, `reduction '${r}' is not supported at opset ${ctx.opset}`);
}

function scatterAt(ctx: KernelContext, data: RtTensor, offsets: Float64Array, updates: RtTensor, block: number): RtTensor {
  if (updates.dtype !== data.dtype) throw kernelError(ctx.node, `updates have type ${dtypeName(updates.dtype)}, data ${dtypeName(data.dtype)}`);
  if (updates.data.length !== offsets.length * block) {
    throw kernelError(ctx.node, `updates ${formatDims(updates.dims)} do not match the ${offsets.length} indexed positions`);
  }
  const out = copyOf(ctx.node, data);
  const to = slots(out.data);
  const from = slots(updates.data);
  const combine = reductionOf(ctx);
  for (let i = 0; i < offsets.length; i++) {
    const o = offsets[i]!;
    for (let k = 0; k < block; k++) to[o + k] = combine ? combine(to[o + k]!, from[i * block + k]!) : from[i * block + k]!;
  }
  return out;
}

/** ScatterElements-11+ and Scatter-9/11: a copy of data with data[i with axis = indices[i]] = updates[i]. */
function scatterElementsKernel(opType: string): KernelConfig {
  return {
    opType,
    run(ctx) {
      const data = requireInput(ctx, 0, 'data');
      const indices = requireInput(ctx, 1, 'indices');
      const updates = requireInput(ctx, 2, 'updates');
      if (updates.dims.length !== indices.dims.length || updates.dims.some((d, i) => d !== indices.dims[i])) {
        throw kernelError(ctx.node, `updates ${formatDims(updates.dims)} must have the shape of indices ${formatDims(indices.dims)}`);
      }
      const axis = normalizeAxis(ctx.node, ctx.attrs.int('axis', 0), data.dims.length);
      return [scatterAt(ctx, data, elementOffsets(ctx, data.dims, indices, axis), updates, 1)];
    },
  };
}

/**
 * Offsets of the slices GatherND/ScatterND address: indices [..., k] pick a slice of data's trailing
 * rank - batch - k axes, within batch entry b (batch_dims, GatherND-12+).
 */
function ndOffsets(ctx: KernelContext, data: RtTensor, indices: RtTensor, batchDims: number): { offsets: Float64Array; block: number; k: number } {
  const q = indices.dims.length;
  const k = indices.dims[q - 1];
  if (q < 1 || k === undefined || k > data.dims.length - batchDims) {
    throw kernelError(ctx.node, `indices ${formatDims(indices.dims)} cannot index data ${formatDims(data.dims)} with batch_dims ${batchDims}`);
  }
  const idx = integerValues(ctx.node, indices, 'indices');
  const strides = stridesOf(data.dims);
  const block = sizeOf(data.dims.slice(batchDims + k));
  const batchSize = sizeOf(data.dims.slice(0, batchDims));
  const count = idx.length / Math.max(k, 1);
  const perBatch = batchSize === 0 ? 0 : (k === 0 ? sizeOf(indices.dims.slice(0, -1)) : count) / batchSize;
  const offsets = new Float64Array(k === 0 ? sizeOf(indices.dims.slice(0, -1)) : count);
  const batchStride = batchDims > 0 ? strides[batchDims - 1]! : 0;
  for (let i = 0; i < offsets.length; i++) {
    const b = perBatch ? Math.floor(i / perBatch) : 0;
    let off = b * batchStride;
    for (let j = 0; j < k; j++) {
      const axis = batchDims + j;
      off += wrapIndex(ctx, idx[i * k + j]!, data.dims[axis]!, axis) * strides[axis]!;
    }
    offsets[i] = off;
  }
  return { offsets, block, k };
}

const gatherND: KernelConfig = {
  opType: 'GatherND',
  run(ctx) {
    const data = requireInput(ctx, 0, 'data');
    const indices = requireInput(ctx, 1, 'indices');
    const batchDims = ctx.opset >= 12 ? ctx.attrs.int('batch_dims', 0) : 0;
    const { offsets, block, k } = ndOffsets(ctx, data, indices, batchDims);
    const out = allocate(ctx.node, data.dtype, offsets.length * block);
    const from = slots(data.data);
    const to = slots(out);
    for (let i = 0; i < offsets.length; i++) for (let j = 0; j < block; j++) to[i * block + j] = from[offsets[i]! + j]!;
    const dims = [...indices.dims.slice(0, -1), ...data.dims.slice(batchDims + k)];
    return [{ dtype: data.dtype, dims, data: out }];
  },
};

const scatterND: KernelConfig = {
  opType: 'ScatterND',
  run(ctx) {
    const data = requireInput(ctx, 0, 'data');
    const indices = requireInput(ctx, 1, 'indices');
    const updates = requireInput(ctx, 2, 'updates');
    const { offsets, block } = ndOffsets(ctx, data, indices, 0);
    return [scatterAt(ctx, data, offsets, updates, block)];
  },
};

/**
 * OneHot-9/11: indices (any numeric type, negative from -depth counting back), depth (scalar), values
 * [off, on]; a new axis of size depth at `axis` (default -1). Indices outside [-depth, depth) give all-off.
 */
const oneHot: KernelConfig = {
  opType: 'OneHot',
  run(ctx) {
    const indices = requireInput(ctx, 0, 'indices');
    const depthT = requireInput(ctx, 1, 'depth');
    const values = requireInput(ctx, 2, 'values');
    if (depthT.data.length !== 1) throw kernelError(ctx.node, 'depth must hold one value');
    const depth = Math.trunc(Number(depthT.data[0]!));
    if (!(depth > 0)) throw kernelError(ctx.node, `depth ${depth} must be positive`);
    if (values.data.length !== 2) throw kernelError(ctx.node, `values must hold [off, on], not ${values.data.length} elements`);
    const rank = indices.dims.length + 1;
    const axis = normalizeAxis(ctx.node, ctx.attrs.int('axis', -1), rank);
    const dims = [...indices.dims.slice(0, axis), depth, ...indices.dims.slice(axis)];
    const outer = sizeOf(indices.dims.slice(0, axis));
    const inner = sizeOf(indices.dims.slice(axis));
    const out = allocate(ctx.node, values.dtype, outer * depth * inner);
    const v = slots(values.data);
    const to = slots(out);
    const off = v[0]!;
    const on = v[1]!;
    for (let i = 0; i < to.length; i++) to[i] = off;
    const idx = indices.data;
    for (let b = 0; b < outer; b++) {
      for (let i = 0; i < inner; i++) {
        let c = Math.trunc(Number(idx[b * inner + i]!));
        if (c < 0) c += depth;
        if (c >= 0 && c < depth) to[(b * depth + c) * inner + i] = on;
      }
    }
    return [{ dtype: values.dtype, dims, data: out }];
  },
};

/** Compress-9/11: the slices along `axis` (or elements of the flattened input) where condition is true. */
const compress: KernelConfig = {
  opType: 'Compress',
  run(ctx) {
    const x = requireInput(ctx, 0, 'input');
    const cond = requireInput(ctx, 1, 'condition');
    if (cond.dtype !== DataType.BOOL) throw kernelError(ctx.node, `condition must be bool, not ${dtypeName(cond.dtype)}`);
    const axisAttr = ctx.attrs.int('axis');
    const dims = axisAttr === undefined ? [x.data.length] : [...x.dims];
    const axis = axisAttr === undefined ? 0 : normalizeAxis(ctx.node, axisAttr, x.dims.length);
    const length = dims[axis]!;
    if (cond.data.length > length) throw kernelError(ctx.node, `condition has ${cond.data.length} values for an axis of size ${length}`);
    const keep: number[] = [];
    for (let i = 0; i < cond.data.length; i++) if (cond.data[i]) keep.push(i);
    const outer = sizeOf(dims.slice(0, axis));
    const inner = sizeOf(dims.slice(axis + 1));
    const out = allocate(ctx.node, x.dtype, outer * keep.length * inner);
    const from = slots(x.data);
    const to = slots(out);
    let o = 0;
    for (let b = 0; b < outer; b++) for (const k of keep) for (let i = 0; i < inner; i++) to[o++] = from[(b * length + k) * inner + i]!;
    dims[axis] = keep.length;
    return [{ dtype: x.dtype, dims, data: out }];
  },
};

/** Trilu-14: zero the elements of the last two axes outside the upper (j - i >= k) or lower (j - i <= k) triangle. */
const trilu: KernelConfig = {
  opType: 'Trilu',
  run(ctx) {
    const x = requireInput(ctx, 0, 'input');
    if (x.dims.length < 2) throw kernelError(ctx.node, `input ${formatDims(x.dims)} must have rank 2 or more`);
    const kT = ctx.inputs[1];
    const k = kT && kT.data.length ? integerValues(ctx.node, kT, 'k')[0]! : 0;
    const upper = ctx.attrs.int('upper', 1) !== 0;
    const [rows, cols] = x.dims.slice(-2) as [number, number];
    const out = copyOf(ctx.node, x);
    const to = slots(out.data);
    const zero = (isBigArray(out.data) ? 0n : 0) as number;
    const matrices = rows * cols === 0 ? 0 : x.data.length / (rows * cols);
    for (let m = 0; m < matrices; m++) {
      for (let i = 0; i < rows; i++) {
        for (let j = 0; j < cols; j++) {
          if (upper ? j - i < k : j - i > k) to[(m * rows + i) * cols + j] = zero;
        }
      }
    }
    return [out];
  },
};

/** NonZero-9/13: int64 [rank, count] coordinates of the non-zero elements, in C order. */
const nonZero: KernelConfig = {
  opType: 'NonZero',
  run(ctx) {
    const x = requireInput(ctx, 0, 'X');
    const rank = x.dims.length;
    const hits: number[] = [];
    // `!== 0` counts NaN as non-zero, as numpy does; bigint elements compare with 0n.
    const zero = (isBigArray(x.data) ? 0n : 0) as number;
    const d = slots(x.data);
    for (let i = 0; i < d.length; i++) if (d[i] !== zero) hits.push(i);
    const strides = stridesOf(x.dims);
    const out = new BigInt64Array(Math.max(rank, 1) * hits.length);
    hits.forEach((flat, n) => {
      for (let a = 0; a < rank; a++) out[a * hits.length + n] = BigInt(Math.floor(flat / strides[a]!) % x.dims[a]!);
    });
    return [{ dtype: DataType.INT64, dims: [rank === 0 ? 1 : rank, hits.length], data: out }];
  },
};

/** EyeLike-9: ones on diagonal k of a 2-D shape, in `dtype` (default: the input's type). */
const eyeLike: KernelConfig = {
  opType: 'EyeLike',
  run(ctx) {
    const x = requireInput(ctx, 0, 'input');
    if (x.dims.length !== 2) throw kernelError(ctx.node, `input ${formatDims(x.dims)} must be 2-D`);
    const dtype = (ctx.attrs.int('dtype') ?? x.dtype) as DataType;
    const k = ctx.attrs.int('k', 0);
    const [rows, cols] = x.dims as [number, number];
    const out = allocate(ctx.node, dtype, rows * cols);
    const to = slots(out);
    const one = (isBigArray(out) ? 1n : 1) as number;
    for (let i = 0; i < rows; i++) if (i + k >= 0 && i + k < cols) to[i * cols + i + k] = one;
    return [{ dtype: dtype === DataType.FLOAT16 || dtype === DataType.BFLOAT16 ? DataType.FLOAT : dtype, dims: [rows, cols], data: out }];
  },
};

/** CumSum-11/14: running sums along `axis` (a scalar input); `exclusive` shifts by one, `reverse` runs from the end. */
const cumSum: KernelConfig = {
  opType: 'CumSum',
  run(ctx) {
    const x = requireInput(ctx, 0, 'x');
    const axisValues = integerValues(ctx.node, requireInput(ctx, 1, 'axis'), 'axis');
    if (axisValues.length !== 1) throw kernelError(ctx.node, 'axis must hold one value');
    const axis = normalizeAxis(ctx.node, axisValues[0]!, x.dims.length);
    const exclusive = ctx.attrs.int('exclusive', 0) !== 0;
    const reverse = ctx.attrs.int('reverse', 0) !== 0;
    if (x.dtype === DataType.BOOL || x.dtype === DataType.STRING) throw kernelError(ctx.node, `type ${dtypeName(x.dtype)} is not supported`);
    const length = x.dims[axis]!;
    const outer = sizeOf(x.dims.slice(0, axis));
    const inner = sizeOf(x.dims.slice(axis + 1));
    const out = allocate(ctx.node, x.dtype, x.data.length);
    const from = slots(x.data);
    const to = slots(out);
    const zero = (isBigArray(out) ? 0n : 0) as number;
    for (let b = 0; b < outer; b++) {
      for (let i = 0; i < inner; i++) {
        let acc = zero;
        for (let s = 0; s < length; s++) {
          const t = reverse ? length - 1 - s : s;
          const at = (b * length + t) * inner + i;
          if (exclusive) {
            to[at] = acc;
            acc = (acc + from[at]!) as number;
          } else {
            acc = (acc + from[at]!) as number;
            to[at] = acc;
          }
        }
      }
    }
    return [{ dtype: x.dtype, dims: [...x.dims], data: out }];
  },
};

/** ReverseSequence-10: for batch entry b, reverse the first sequence_lens[b] steps along time_axis. */
const reverseSequence: KernelConfig = {
  opType: 'ReverseSequence',
  run(ctx) {
    const x = requireInput(ctx, 0, 'input');
    const lens = integerValues(ctx.node, requireInput(ctx, 1, 'sequence_lens'), 'sequence_lens');
    const batchAxis = normalizeAxis(ctx.node, ctx.attrs.int('batch_axis', 1), x.dims.length, 'batch_axis');
    const timeAxis = normalizeAxis(ctx.node, ctx.attrs.int('time_axis', 0), x.dims.length, 'time_axis');
    if (batchAxis === timeAxis) throw kernelError(ctx.node, 'batch_axis and time_axis must differ');
    if (lens.length !== x.dims[batchAxis]) throw kernelError(ctx.node, `sequence_lens has ${lens.length} values for batch size ${x.dims[batchAxis]}`);
    const out = copyOf(ctx.node, x);
    const from = slots(x.data);
    const to = slots(out.data);
    const strides = stridesOf(x.dims);
    const counter = new Array<number>(x.dims.length).fill(0);
    for (let i = 0; i < x.data.length; i++) {
      const b = counter[batchAxis]!;
      const t = counter[timeAxis]!;
      const len = lens[b]!;
      if (len < 0 || len > x.dims[timeAxis]!) throw kernelError(ctx.node, `sequence length ${len} is outside [0, ${x.dims[timeAxis]}]`);
      if (t < len) to[i - t * strides[timeAxis]! + (len - 1 - t) * strides[timeAxis]!] = from[i]!;
      for (let a = x.dims.length - 1; a >= 0; a--) {
        if (++counter[a]! < x.dims[a]!) break;
        counter[a] = 0;
      }
    }
    return [out];
  },
};

/**
 * Unique-11: the distinct elements (no axis: of the flattened input) or distinct slices along `axis`, in
 * ascending (lexicographic) order when `sorted` (default 1), else in order of first occurrence. Outputs:
 * Y, the index of each one's first occurrence, the index into Y of every input slice, and the counts.
 */
const unique: KernelConfig = {
  opType: 'Unique',
  run(ctx) {
    const x = requireInput(ctx, 0, 'X');
    const axisAttr = ctx.attrs.int('axis');
    const dims = axisAttr === undefined ? [x.data.length] : [...x.dims];
    const axis = axisAttr === undefined ? 0 : normalizeAxis(ctx.node, axisAttr, x.dims.length);
    const length = dims[axis]!;
    const outer = sizeOf(dims.slice(0, axis));
    const inner = sizeOf(dims.slice(axis + 1));
    const from = slots(x.data);
    const slice = (k: number): (number | bigint)[] => {
      const v: (number | bigint)[] = [];
      for (let b = 0; b < outer; b++) for (let i = 0; i < inner; i++) v.push(from[(b * length + k) * inner + i]!);
      return v;
    };
    const slicesOf = Array.from({ length }, (_, k) => slice(k));
    const firstOf = new Map<string, number>();
    const order: number[] = [];
    const keyOf = slicesOf.map((v) => v.map(String).join(','));
    keyOf.forEach((key, k) => {
      if (!firstOf.has(key)) {
        firstOf.set(key, k);
        order.push(k);
      }
    });
    if (ctx.attrs.int('sorted', 1) !== 0) {
      order.sort((p, q) => {
        const a = slicesOf[p]!;
        const b = slicesOf[q]!;
        for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1;
        return 0;
      });
    }
    const position = new Map(order.map((k, j) => [keyOf[k]!, j]));
    const counts = new Array<number>(order.length).fill(0);
    const inverse = keyOf.map((key) => {
      const j = position.get(key)!;
      counts[j]!++;
      return j;
    });
    const outDims = [...dims];
    outDims[axis] = order.length;
    const y = allocate(ctx.node, x.dtype, sizeOf(outDims));
    const to = slots(y);
    order.forEach((k, j) => {
      for (let b = 0; b < outer; b++) for (let i = 0; i < inner; i++) to[(b * order.length + j) * inner + i] = from[(b * length + k) * inner + i]!;
    });
    const ints = (v: number[]): RtTensor => ({ dtype: DataType.INT64, dims: [v.length], data: BigInt64Array.from(v, BigInt) });
    return [{ dtype: x.dtype, dims: outDims, data: y }, ints(order), ints(inverse), ints(counts)];
  },
};

export const INDEXING_KERNELS: KernelConfig[] = [
  unique,
  gatherElements,
  scatterElementsKernel('ScatterElements'),
  scatterElementsKernel('Scatter'),
  gatherND,
  scatterND,
  oneHot,
  compress,
  trilu,
  nonZero,
  eyeLike,
  cumSum,
  reverseSequence,
];
