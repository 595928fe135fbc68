import { DataType, dtypeName } from '../ir/index.js';
import { KernelConfig, KernelContext, RtTensor, kernelError, requireInput, sizeOf } from './kernel.js';
import { NumberArray, allocate, broadcastDims, formatDims, normalizeAxis } from './broadcast.js';
import { roundHalfEven } from './elementwise.js';
import { forwardGeometry, realOutputShape } from './windowGeometry.js';

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

/**
 * Direct convolution of (x - x0) with (w - w0[m]) in float64 (exact for 8-bit operands), geometry from
 * forwardGeometry (pads, strides, dilations, auto_pad, group). Padded positions contribute nothing, as a
 * pad of x's zero point would. x [N, C, spatial...], w [M, C/group, kernel...] → [N, M, out...].
 */
function integerConv(ctx: KernelContext, x: RtTensor, w: RtTensor, x0: number, w0: (m: number) => number): { dims: number[]; data: Float64Array } {
  if (x.dims.length < 3 || w.dims.length !== x.dims.length) throw kernelError(ctx.node, `x ${formatDims(x.dims)} and w ${formatDims(w.dims)} must be [N, C, ...] and [M, C/group, ...]`);
  const group = ctx.attrs.int('group', 1);
  const [n, c] = x.dims as [number, number];
  const m = w.dims[0]!;
  if (c !== w.dims[1]! * group || m % group !== 0) throw kernelError(ctx.node, `x has ${c} channels; w ${formatDims(w.dims)} with group ${group} expects ${w.dims[1]! * group}`);
  const kernel = ctx.attrs.ints('kernel_shape', w.dims.slice(2));
  const g = forwardGeometry(ctx, x.dims.slice(2), kernel);
  const [id, ih, iw] = g.input as [number, number, number];
  const [od, oh, ow] = g.output as [number, number, number];
  const [kd, kh, kw] = g.kernel as [number, number, number];
  const cg = c / group;
  const mg = m / group;
  const xd = x.data as NumberArray;
  const wd = w.data as NumberArray;
  const out = new Float64Array(n * m * od * oh * ow);
  let o = 0;
  for (let b = 0; b < n; b++) {
    for (let f = 0; f < m; f++) {
      const gi = Math.floor(f / mg);
      const wz = w0(f);
      for (let z = 0; z < od; z++) for (let y = 0; y < oh; y++) for (let xx = 0; xx < ow; xx++) {
        let acc = 0;
        for (let ch = 0; ch < cg; ch++) {
          const xc = ((b * c + gi * cg + ch) * id) * ih * iw;
          const wc = ((f * cg + ch) * kd) * kh * kw;
          for (let a = 0; a < kd; a++) {
            const pz = z * g.strides[0]! - g.padBegin[0]! + a * g.dilations[0]!;
            if (pz < 0 || pz >= id) continue;
            for (let i = 0; i < kh; i++) {
              const py = y * g.strides[1]! - g.padBegin[1]! + i * g.dilations[1]!;
              if (py < 0 || py >= ih) continue;
              for (let j = 0; j < kw; j++) {
                const px = xx * g.strides[2]! - g.padBegin[2]! + j * g.dilations[2]!;
                if (px < 0 || px >= iw) continue;
                acc += (xd[xc + (pz * ih + py) * iw + px]! - x0) * (wd[wc + (a * kh + i) * kw + j]! - wz);
              }
            }
          }
        }
        out[o++] = acc;
      }
    }
  }
  return { dims: [n, m, ...realOutputShape(g)], data: out };
}

function perChannel(t: RtTensor | undefined, what: string, ctx: KernelContext, m: number): (f: number) => number {
  if (!t) return () => 0;
  if (t.data.length !== 1 && t.data.length !== m) throw kernelError(ctx.node, `${what} must hold 1 or ${m} values, not ${t.data.length}`);
  const v = Array.from(t.data, Number);
  return (f) => v[v.length === 1 ? 0 : f]!;
}

/** ConvInteger-10: int32 convolution of (x - x_zero_point) by (w - w_zero_point, per output channel or scalar). */
const convInteger: KernelConfig = {
  opType: 'ConvInteger',
  run(ctx) {
    const x = requireInput(ctx, 0, 'x');
    const w = requireInput(ctx, 1, 'w');
    const x0 = ctx.inputs[2] ? Number(ctx.inputs[2].data[0]!) : 0;
    const r = integerConv(ctx, x, w, x0, perChannel(ctx.inputs[3], 'w_zero_point', ctx, w.dims[0]!));
    return [{ dtype: DataType.INT32, dims: r.dims, data: Int32Array.from(r.data) }];
  },
};

/**
 * QLinearConv-10: y = saturate(round_half_even((conv(x - x_zp, w - w_zp[m]) + B[m]) · x_scale·w_scale[m] /
 * y_scale) + y_zp), in y_zero_point's type.
 */
const qLinearConv: KernelConfig = {
  opType: 'QLinearConv',
  run(ctx) {
    const [x, xScale, xZero, w, wScale, wZero, yScale, yZero] = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => requireInput(ctx, i));
    const m = w!.dims[0]!;
    const r = integerConv(ctx, x!, w!, Number(xZero!.data[0]!), perChannel(wZero, 'w_zero_point', ctx, m));
    const [lo, hi] = rangeOf(ctx, yZero!.dtype);
    const ws = perChannel(wScale, 'w_scale', ctx, m);
    const bias = perChannel(ctx.inputs[8], 'B', ctx, m);
    const xs = Number(xScale!.data[0]!);
    const ys = Number(yScale!.data[0]!);
    const zp = Number(yZero!.data[0]!);
    const plane = r.data.length / Math.max(1, r.dims[0]! * m);
    const out = allocate(ctx.node, yZero!.dtype, r.data.length) as NumberArray;
    for (let i = 0; i < r.data.length; i++) {
      const f = Math.floor(i / plane) % m;
      out[i] = Math.min(hi, Math.max(lo, roundHalfEven(Math.fround(((r.data[i]! + bias(f)) * xs * ws(f)) / ys)) + zp));
    }
    return [{ dtype: yZero!.dtype, dims: r.dims, data: out }];
  },
};

export const QUANTIZE_KERNELS: KernelConfig[] = [
  convInteger,
  qLinearConv,quantizeLinear, dequantizeLinear, dynamicQuantizeLinear, matMulInteger, qLinearMatMul];
