import { DataType, dtypeName } from '../ir/index.js';
import { KernelConfig, KernelContext, RtTensor, kernelError, requireInput, sizeOf } from './kernel.js';
import { allocate, integerValues, normalizeAxis, slots } from './broadcast.js';

// Selection ops: ArgMax, ArgMin and TopK. Each views its input as [outer, n, inner] around the chosen axis
// and walks the `outer * inner` lanes of n elements. Elements are compared as JS values (numbers, or bigints
// for int64), so every numeric type works without a conversion.
//
// NaN: the ONNX spec leaves it open; here NaN ranks above every number (numpy's sort order), so ArgMax and
// TopK(largest) pick it and ArgMin and TopK(smallest) pass it over.

type Scalar = number | bigint;

/** a ranks above b (NaN above every number; equal values do not). */
function above(a: Scalar, b: Scalar): boolean {
  if (a !== a) return b === b; // a is NaN
  return a > b;
}

interface Lanes {
  outer: number;
  n: number;
  inner: number;
}

function lanesOf(dims: readonly number[], axis: number): Lanes {
  return { outer: sizeOf(dims.slice(0, axis)), n: dims[axis]!, inner: sizeOf(dims.slice(axis + 1)) };
}

function checkNumeric(ctx: KernelContext, x: RtTensor): void {
  if (x.dtype === DataType.STRING || x.dtype === DataType.BOOL) {
    throw kernelError(ctx.node, `input has type ${dtypeName(x.dtype)}; ${ctx.node.opType} needs a numeric tensor`);
  }
}

/**
 * ArgMax / ArgMin (ONNX opsets 1-13): int64 indices of the largest / smallest element along `axis`
 * (default 0), the axis kept as size 1 when `keepdims` (default 1). Ties go to the first index, or to the
 * last with `select_last_index` = 1 (opset 12+). An empty axis has no answer: a kernel error.
 */
function argKernel(opType: 'ArgMax' | 'ArgMin'): KernelConfig {
  const max = opType === 'ArgMax';
  return {
    opType,
    run(ctx) {
      const x = requireInput(ctx, 0, 'data');
      checkNumeric(ctx, x);
      if (x.dims.length === 0) throw kernelError(ctx.node, `input is a scalar; ${opType} needs at least one axis`);
      const axis = normalizeAxis(ctx.node, ctx.attrs.int('axis', 0), x.dims.length);
      const keepDims = ctx.attrs.int('keepdims', 1) !== 0;
      const last = ctx.opset >= 12 && ctx.attrs.int('select_last_index', 0) !== 0;
      const dims = keepDims ? x.dims.map((d, i) => (i === axis ? 1 : d)) : x.dims.filter((_, i) => i !== axis);
      const { outer, n, inner } = lanesOf(x.dims, axis);
      if (n === 0 && outer * inner > 0) throw kernelError(ctx.node, `axis ${axis} has size 0, so there is no ${max ? 'largest' : 'smallest'} element`);
      const src = slots(x.data);
      const out = new BigInt64Array(outer * inner);
      for (let o = 0; o < outer; o++) {
        for (let i = 0; i < inner; i++) {
          const base = o * n * inner + i;
          let best = 0;
          let bestValue: Scalar = src[base]!;
          for (let j = 1; j < n; j++) {
            const v: Scalar = src[base + j * inner]!;
            // A later element wins when it ranks strictly better, or equally with select_last_index.
            const better = max ? above(v, bestValue) : above(bestValue, v);
            const equal = !above(v, bestValue) && !above(bestValue, v);
            if (better || (last && equal)) {
              best = j;
              bestValue = v;
            }
          }
          out[o * inner + i] = BigInt(best);
        }
      }
      return [{ dtype: DataType.INT64, dims, data: out }];
    },
  };
}

/**
 * TopK (ONNX opsets 1, 10, 11+): the k largest (or, with largest = 0, smallest) elements along `axis`
 * (default -1) and their int64 indices; the axis becomes k long. k is the attribute `k` before opset 10 and
 * the 1-element int64 input `K` from opset 10. Output is always sorted (best first) — `sorted` = 0 allows any
 * order, so sorted order is correct for it too. Equal values come out lower index first, as the spec
 * requires. k must lie in [0, size of axis].
 */
const topK: KernelConfig = {
  opType: 'TopK',
  run(ctx) {
    const x = requireInput(ctx, 0, 'X');
    checkNumeric(ctx, x);
    if (x.dims.length === 0) throw kernelError(ctx.node, 'input is a scalar; TopK needs at least one axis');
    const axis = normalizeAxis(ctx.node, ctx.attrs.int('axis', -1), x.dims.length);
    let k: number;
    if (ctx.opset < 10) {
      const attr = ctx.attrs.int('k');
      if (attr === undefined) throw kernelError(ctx.node, "attribute 'k' is missing (required before opset 10)");
      k = attr;
    } else {
      const kt = requireInput(ctx, 1, 'K');
      const values = integerValues(ctx.node, kt, 'K');
      if (values.length !== 1) throw kernelError(ctx.node, `K must hold one value, got ${values.length}`);
      k = values[0]!;
    }
    const largest = ctx.opset < 11 || ctx.attrs.int('largest', 1) !== 0;
    const { outer, n, inner } = lanesOf(x.dims, axis);
    if (!Number.isInteger(k) || k < 0 || k > n) throw kernelError(ctx.node, `k = ${k} is outside [0, ${n}] (the size of axis ${axis})`);
    const dims = x.dims.map((d, i) => (i === axis ? k : d));
    const values = allocate(ctx.node, x.dtype, outer * k * inner);
    const indices = new BigInt64Array(outer * k * inner);
    const src = slots(x.data);
    const dst = slots(values);
    const lane: Scalar[] = new Array<Scalar>(n);
    const order = new Int32Array(n);
    // Best first; equal values by lower index (a total order, so Array sort's result is fully determined).
    const compare = largest
      ? (a: number, b: number) => (above(lane[a]!, lane[b]!) ? -1 : above(lane[b]!, lane[a]!) ? 1 : a - b)
      : (a: number, b: number) => (above(lane[b]!, lane[a]!) ? -1 : above(lane[a]!, lane[b]!) ? 1 : a - b);
    // A small k (detection heads: the top 100 of thousands of priors) keeps the k best seen so far in a
    // heap with the worst of them at the root, and sorts only those; a large k sorts the whole lane.
    const useHeap = k * 4 < n;
    const heap = new Int32Array(useHeap ? k : 0);
    const selectHeap = (): void => {
      let size = 0;
      for (let j = 0; j < n; j++) {
        let c: number;
        if (size < k) {
          c = size++;
          heap[c] = j;
          while (c > 0) {
            const parent = (c - 1) >> 1;
            if (compare(heap[c]!, heap[parent]!) <= 0) break;
            heap[c] = heap[parent]!;
            heap[parent] = j;
            c = parent;
          }
        } else if (compare(j, heap[0]!) < 0) {
          heap[0] = j;
          c = 0;
          for (;;) {
            const l = 2 * c + 1;
            if (l >= k) break;
            const w = l + 1 < k && compare(heap[l + 1]!, heap[l]!) > 0 ? l + 1 : l;
            if (compare(heap[w]!, j) <= 0) break;
            heap[c] = heap[w]!;
            heap[w] = j;
            c = w;
          }
        }
      }
      heap.sort(compare);
    };
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < inner; i++) {
        if (k === 0) continue;
        const base = o * n * inner + i;
        for (let j = 0; j < n; j++) {
          lane[j] = src[base + j * inner]!;
          order[j] = j;
        }
        let best: Int32Array;
        if (useHeap) {
          selectHeap();
          best = heap;
        } else {
          order.sort(compare);
          best = order;
        }
        const outBase = o * k * inner + i;
        for (let j = 0; j < k; j++) {
          dst[outBase + j * inner] = lane[best[j]!]! as number;
          indices[outBase + j * inner] = BigInt(best[j]!);
        }
      }
    }
    return [
      { dtype: x.dtype, dims, data: values },
      { dtype: DataType.INT64, dims: [...dims], data: indices },
    ];
  },
};

export const SELECTION_KERNELS: KernelConfig[] = [argKernel('ArgMax'), argKernel('ArgMin'), topK];
