import { DataType, dtypeName } from '../ir/index.js';
import { KernelConfig, KernelContext, RtTensor, kernelError, requireInput, sizeOf } from './kernel.js';
import { NumberArray, allocate, broadcastDims, formatDims, normalizeAxis } from './broadcast.js';
import { roundHalfEven } from './elementwise.js';

// Linear quantization: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, and the integer matrix
// products MatMulInteger and QLinearMatMul (opsets 10-13, 8-bit integers). Products accumulate exactly in
// float64 (8-bit operands: every partial sum is an integer below 2^53).

const RANGES: Partial<Record<DataType, [number, number]>> = {
  [DataType.UINT8]: [0, 255],
  [DataType.INT8]: [-128, 127],
  [DataType.UINT16]: [0, 65535],
  [DataType.INT16]: [-32768, 32767],
  [DataType.INT32]: [-2147483648, 2147483647],
};

function rangeOf(ctx: KernelContext, dtype: DataType): [number, number] {
  const r = RANGES[dtype];
  if (!r) throw kernelError(ctx.node, `quantized type ${dtypeName(dtype)} is not supported (uint8, int8, uint16, int16, int32)`);
  return r;
}

/**
 * Per-element parameter lookup for scale and zero point: a scalar (or one-element tensor) applies to all,
 * a 1-D tensor of x.dims[axis] values applies per slice along `axis` (opset 13+, default axis 1).
 */
function perAxis(ctx: KernelContext, x: RtTensor, p: RtTensor | undefined, what: string): (i: number) => number {
  if (!p) return () => 0;
  const d = p.data;
  if (d.length === 1) {
    const v = Number(d[0]!);
    return () => v;
  }
  const axis = normalizeAxis(ctx.node, ctx.attrs.int('axis', 1), x.dims.length);
  if (p.dims.length !== 1 || d.length !== x.dims[axis]) {
    throw kernelError(ctx.node, `${what} ${formatDims(p.dims)} must be a scalar or hold ${x.dims[axis]} values (axis ${axis} of ${formatDims(x.dims)})`);
  }
  const inner = sizeOf(x.dims.slice(axis + 1));
  const length = x.dims[axis]!;
  const values = Array.from(d, Number);
  return (i) => values[Math.floor(i / inner) % length]!;
}

/** QuantizeLinear-10/13: y = saturate(round_half_even(x / y_scale) + y_zero_point), in y_zero_point's type (uint8 when absent). */
const quantizeLinear: KernelConfig = {
  opType: 'QuantizeLinear',
  run(ctx) {
    const x = requireInput(ctx, 0, 'x');
    const scaleT = requireInput(ctx, 1, 'y_scale');
    const zp = ctx.inputs[2];
    const outType = zp?.dtype ?? DataType.UINT8;
    const [lo, hi] = rangeOf(ctx, outType);
    const scale = perAxis(ctx, x, scaleT, 'y_scale');
    const zero = perAxis(ctx, x, zp, 'y_zero_point');
    const xd = x.data as NumberArray;
    const out = allocate(ctx.node, outType, xd.length) as NumberArray;
    // The quotient is rounded to x's precision first (float32 division, as the reference and onnxruntime do),
    // so that halves such as 25.5 round the same way.
    const narrow = x.dtype === DataType.FLOAT ? Math.fround : (v: number) => v;
    for (let i = 0; i < xd.length; i++) out[i] = Math.min(hi, Math.max(lo, roundHalfEven(narrow(xd[i]! / scale(i))) + zero(i)));
    return [{ dtype: outType, dims: [...x.dims], data: out }];
  },
};

/** DequantizeLinear-10/13: y = (x - x_zero_point) · x_scale, in x_scale's type. */
const dequantizeLinear: KernelConfig = {
  opType: 'DequantizeLinear',
  run(ctx) {
    const x = requireInput(ctx, 0, 'x');
    const scaleT = requireInput(ctx, 1, 'x_scale');
    const scale = perAxis(ctx, x, scaleT, 'x_scale');
    const zero = perAxis(ctx, x, ctx.inputs[2], 'x_zero_point');
    const xd = x.data as NumberArray;
    const out = allocate(ctx.node, scaleT.dtype, xd.length) as NumberArray;
    for (let i = 0; i < xd.length; i++) out[i] = (xd[i]! - zero(i)) * scale(i);
    return [{ dtype: scaleT.dtype, dims: [...x.dims], data: out }];
  },
};

/**
 * DynamicQuantizeLinear-11: uint8 quantization over [min(0, min x), max(0, max x)]:
 * scale = (max - min) / 255, zero point = saturate(round(-min / scale)), y = saturate(round(x / scale) + zp).
 */
const dynamicQuantizeLinear: KernelConfig = {
  opType: 'DynamicQuantizeLinear',
  run(ctx) {
    const x = requireInput(ctx, 0, 'x');
    if (x.dtype !== DataType.FLOAT) throw kernelError(ctx.node, `x has type ${dtypeName(x.dtype)}; DynamicQuantizeLinear takes float32`);
    const xd = x.data as Float32Array;
    let min = 0;
    let max = 0;
    for (let i = 0; i < xd.length; i++) {
      if (xd[i]! < min) min = xd[i]!;
      if (xd[i]! > max) max = xd[i]!;
    }
    const scale = Math.fround((max - min) / 255);
    const zp = scale === 0 ? 0 : Math.min(255, Math.max(0, roundHalfEven(Math.fround(-min / scale))));
    const y = new Uint8Array(xd.length);
    if (scale !== 0) for (let i = 0; i < xd.length; i++) y[i] = Math.min(255, Math.max(0, roundHalfEven(Math.fround(xd[i]! / scale)) + zp));
    return [
      { dtype: DataType.UINT8, dims: [...x.dims], data: y },
      { dtype: DataType.FLOAT, dims: [], data: Float32Array.of(scale) },
      { dtype: DataType.UINT8, dims: [], data: Uint8Array.of(zp) },
    ];
  },
};

/**
 * Batched (A - a0)·(B - b0) with numpy matmul broadcasting, in float64. a0 is a scalar or one value per
 * row of A (the M axis); b0 a scalar or one value per column of B (the N axis).
 */
function integerMatMul(ctx: KernelContext, a: RtTensor, b: RtTensor, a0: RtTensor | undefined, b0: RtTensor | undefined): { dims: number[]; data: Float64Array } {
  const aDims = a.dims.length === 1 ? [1, a.dims[0]!] : a.dims;
  const bDims = b.dims.length === 1 ? [b.dims[0]!, 1] : b.dims;
  const [m, k] = aDims.slice(-2) as [number, number];
  const [k2, n] = bDims.slice(-2) as [number, number];
  if (k !== k2) throw kernelError(ctx.node, `cannot multiply ${formatDims(a.dims)} by ${formatDims(b.dims)}`);
  const batch = broadcastDims(ctx.node, [aDims.slice(0, -2), bDims.slice(0, -2)]);
  const zeroA = (row: number) => (a0 ? Number(a0.data[a0.data.length === 1 ? 0 : row]!) : 0);
  const zeroB = (col: number) => (b0 ? Number(b0.data[b0.data.length === 1 ? 0 : col]!) : 0);
  const batches = sizeOf(batch);
  const out = new Float64Array(batches * m * n);
  const aBatch = aDims.slice(0, -2);
  const bBatch = bDims.slice(0, -2);
  const ad = a.data as NumberArray;
  const bd = b.data as NumberArray;
  for (let t = 0; t < batches; t++) {
    // Batch index t → offsets in A and B (broadcast axes of size 1 stay at 0).
    let rest = t;
    let aOff = 0;
    let bOff = 0;
    let aStride = m * k;
    let bStride = k * n;
    for (let d = batch.length - 1; d >= 0; d--) {
      const idx = rest % batch[d]!;
      rest = Math.floor(rest / batch[d]!);
      const ai = d - (batch.length - aBatch.length);
      const bi = d - (batch.length - bBatch.length);
      if (ai >= 0) {
        if (aBatch[ai] !== 1) aOff += idx * aStride;
        aStride *= aBatch[ai]!;
      }
      if (bi >= 0) {
        if (bBatch[bi] !== 1) bOff += idx * bStride;
        bStride *= bBatch[bi]!;
      }
    }
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let p = 0; p < k; p++) s += (ad[aOff + i * k + p]! - zeroA(i)) * (bd[bOff + p * n + j]! - zeroB(j));
        out[(t * m + i) * n + j] = s;
      }
    }
  }
  const dims = [...batch, m, n];
  if (a.dims.length === 1) dims.splice(dims.length - 2, 1);
  if (b.dims.length === 1) dims.pop();
  return { dims, data: out };
}

/** MatMulInteger-10: int32 (A - a_zero_point)·(B - b_zero_point) of 8-bit A and B. */
const matMulInteger: KernelConfig = {
  opType: 'MatMulInteger',
  run(ctx) {
    const r = integerMatMul(ctx, requireInput(ctx, 0, 'A'), requireInput(ctx, 1, 'B'), ctx.inputs[2], ctx.inputs[3]);
    return [{ dtype: DataType.INT32, dims: r.dims, data: Int32Array.from(r.data) }];
  },
};

/**
 * QLinearMatMul-10: y = saturate(round_half_even((a - a_zp)·(b - b_zp) · a_scale·b_scale / y_scale) + y_zp),
 * in y_zero_point's type.
 */
const qLinearMatMul: KernelConfig = {
  opType: 'QLinearMatMul',
  run(ctx) {
    const [a, aScale, aZero, b, bScale, bZero, yScale, yZero] = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => requireInput(ctx, i));
    const r = integerMatMul(ctx, a!, b!, aZero, bZero);
    const [lo, hi] = rangeOf(ctx, yZero!.dtype);
    const factor = (Number(aScale!.data[0]!) * Number(bScale!.data[0]!)) / Number(yScale!.data[0]!);
    const zp = Number(yZero!.data[0]!);
    const out = allocate(ctx.node, yZero!.dtype, r.data.length) as NumberArray;
    for (let i = 0; i < r.data.length; i++) out[i] = Math.min(hi, Math.max(lo, roundHalfEven(r.data[i]! * factor) + zp));
    return [{ dtype: yZero!.dtype, dims: r.dims, data: out }];
  },
};

export const QUANTIZE_KERNELS: KernelConfig[] = [quantizeLinear, dequantizeLinear, dynamicQuantizeLinear, matMulInteger, qLinearMatMul];
