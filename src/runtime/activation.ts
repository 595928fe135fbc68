import { DataType, dtypeName } from '../ir/index.js';
import { KernelConfig, KernelContext, RtTensor, kernelError, requireInput, sizeOf } from './kernel.js';
import { BigArray, NumberArray, allocate, broadcastDims, floatValues, formatDims, isBigArray, normalizeAxis, planBroadcast } from './broadcast.js';
import { runPointwise } from './parallel.js';
import { clipFloatRange, leakyReluRange } from './pointwise.js';
import { numpyLegacyUniform } from '../util/seededRandom.js';
import { erf } from './elementwise.js';

// Activations, Softmax/LogSoftmax, and the inference-time identities (Dropout, Identity). Each op is one
// loop over the elements; parameters are read once per node, never per element.

/** The input as a number array; activations are float math (float32, or float64 where a model has it). */
function floatInput(ctx: KernelContext): { x: RtTensor; data: NumberArray } {
  const x = requireInput(ctx, 0, 'input X');
  if (x.dtype !== DataType.FLOAT && x.dtype !== DataType.DOUBLE) {
    throw kernelError(ctx.node, `input has type ${dtypeName(x.dtype)}; bnc runs ${ctx.node.opType} on float32`);
  }
  return { x, data: x.data as NumberArray };
}

function mapKernel(opType: string, body: (ctx: KernelContext, o: NumberArray, x: NumberArray) => void): KernelConfig {
  return {
    opType,
    run(ctx) {
      const { x, data } = floatInput(ctx);
      const out = allocate(ctx.node, x.dtype, data.length) as NumberArray;
      body(ctx, out, data);
      return [{ dtype: x.dtype, dims: [...x.dims], data: out }];
    },
  };
}

const relu: KernelConfig = {
  opType: 'Relu',
  run(ctx) {
    const x = requireInput(ctx, 0, 'input X');
    // Over a dying float32 input, in place: no new buffer to fault in (each element is read, then written).
    const out = x.data instanceof Float32Array && ctx.canOverwrite?.(0) ? x.data : allocate(ctx.node, x.dtype, x.data.length);
    // Integer Relu exists since opset 14.
    if (isBigArray(x.data)) {
      const o = out as BigArray;
      const d = x.data;
      for (let i = 0; i < d.length; i++) o[i] = d[i]! > 0n ? d[i]! : 0n;
    } else {
      if (x.dtype === DataType.BOOL) throw kernelError(ctx.node, 'input is bool');
      reluNumbers(x.data as NumberArray, out as NumberArray, ctx.threads);
    }
    return [{ dtype: x.dtype, dims: [...x.dims], data: out }];
  },
};

/**
 * PRelu: slope broadcasts unidirectionally to X (opset 7+). Before opset 7 a 1-D slope of X's channel
 * count is per channel (axis 1), the layout Caffe-era exporters wrote.
 */
const prelu: KernelConfig = {
  opType: 'PRelu',
  run(ctx) {
    const { x, data } = floatInput(ctx);
    const slope = requireInput(ctx, 1, 'slope');
    if (slope.dtype !== x.dtype) throw kernelError(ctx.node, `slope has type ${dtypeName(slope.dtype)}, X has ${dtypeName(x.dtype)}`);
    let slopeDims = slope.dims;
    if (ctx.opset < 7 && slope.dims.length === 1 && x.dims.length >= 2 && slope.dims[0] === x.dims[1] && slope.dims[0] !== 1) {
      slopeDims = [slope.dims[0]!, ...new Array<number>(x.dims.length - 2).fill(1)];
    }
    const dims = broadcastDims(ctx.node, [x.dims, slopeDims]);
    if (dims.length !== x.dims.length || dims.some((d, i) => d !== x.dims[i])) {
      throw kernelError(ctx.node, `slope of shape ${formatDims(slope.dims)} does not broadcast to X of shape ${formatDims(x.dims)}`);
    }
    const plan = planBroadcast(dims, [x.dims, slopeDims]);
    const out = allocate(ctx.node, x.dtype, plan.size) as NumberArray;
    const s = slope.data as NumberArray;
    const ss = plan.innerStride[1]!;
    const n = plan.rowLength;
    for (let r = 0; r < plan.rowCount; r++) {
      let xi = plan.rowStart[0]![r]!;
      let si = plan.rowStart[1]![r]!;
      const oi = r * n;
      for (let k = 0; k < n; k++, xi++, si += ss) {
        const v = data[xi]!;
        out[oi + k] = v < 0 ? v * s[si]! : v;
      }
    }
    return [{ dtype: x.dtype, dims, data: out }];
  },
};

// The element loops live in small functions of their own: V8 optimizes them once for their argument
// types, instead of re-optimizing (and deoptimizing) the whole kernel body on every node. Float32 Relu and
// Clip with a non-negative lower bound run on the float bit patterns (see pointwise.ts), on worker threads
// too when the tensor is large.
function reluNumbers(d: NumberArray, o: NumberArray, threads: number): void {
  if (d instanceof Float32Array && o instanceof Float32Array) {
    runPointwise({ op: 'relu', x: int32View(d), out: int32View(o), count: d.length }, threads);
    return;
  }
  for (let i = 0; i < d.length; i++) o[i] = d[i]! > 0 || d[i]! !== d[i]! ? d[i]! : 0; // NaN stays NaN
}

function floatBits(v: number): number {
  BIT_CAST_F32[0] = v;
  return BIT_CAST_I32[0]!;
}
const BIT_CAST_F32 = new Float32Array(1);
const BIT_CAST_I32 = new Int32Array(BIT_CAST_F32.buffer);

function int32View(a: Float32Array): Int32Array {
  return new Int32Array(a.buffer, a.byteOffset, a.length);
}

/** o = min(max(d, lo), hi), with lo <= hi. NaN stays NaN (both comparisons are false). */
function clipFloat32(d: Float32Array, o: Float32Array, lo: number, hi: number, threads: number): void {
  // Bounds exactly representable in float32 (Clip's are: they come from float32 inputs or attributes).
  if (lo >= 0 && Math.fround(lo) === lo && Math.fround(hi) === hi) {
    // + 0: -0 → +0
    runPointwise({ op: 'clip', x: int32View(d), out: int32View(o), lo: floatBits(lo + 0), hi: floatBits(hi + 0), count: d.length }, threads);
    return;
  }
  clipFloatRange(d, o, lo, hi, 0, d.length);
}

function clipNumbers(d: NumberArray, o: NumberArray, lo: number, hi: number): void {
  clipFloatRange(d, o, lo, hi, 0, d.length);
}

/** Clip bounds: attributes before opset 11, optional scalar inputs from 11 on (ints allowed from 12). */
const clip: KernelConfig = {
  opType: 'Clip',
  run(ctx) {
    const x = requireInput(ctx, 0, 'input X');
    let lo = -Infinity;
    let hi = Infinity;
    if (ctx.opset < 11) {
      lo = ctx.attrs.float('min', -Infinity);
      hi = ctx.attrs.float('max', Infinity);
    } else {
      for (const [index, name] of [
        [1, 'min'],
        [2, 'max'],
      ] as const) {
        const bound = ctx.inputs[index];
        if (!bound) continue;
        if (bound.data.length !== 1) throw kernelError(ctx.node, `${name} must be a scalar, got shape ${formatDims(bound.dims)}`);
        if (bound.dtype !== x.dtype) throw kernelError(ctx.node, `${name} has type ${dtypeName(bound.dtype)}, X has ${dtypeName(x.dtype)}`);
        if (index === 1) lo = floatValues(bound)[0]!;
        else hi = floatValues(bound)[0]!;
      }
    }
    const out = x.data instanceof Float32Array && ctx.canOverwrite?.(0) ? x.data : allocate(ctx.node, x.dtype, x.data.length);
    if (isBigArray(x.data)) {
      const o = out as BigArray;
      const d = x.data;
      // Integer bounds come from int64 inputs, so they are exact (±Infinity means "no bound").
      const blo = Number.isFinite(lo) ? BigInt(lo) : undefined;
      const bhi = Number.isFinite(hi) ? BigInt(hi) : undefined;
      for (let i = 0; i < d.length; i++) {
        let v = d[i]!;
        if (blo !== undefined && v < blo) v = blo;
        if (bhi !== undefined && v > bhi) v = bhi;
        o[i] = v;
      }
    } else {
      // ORT applies min then max, so hi wins when lo > hi.
      const low = lo > hi ? hi : lo;
      if (x.data instanceof Float32Array) clipFloat32(x.data, out as Float32Array, low, hi, ctx.threads);
      else clipNumbers(x.data as NumberArray, out as NumberArray, low, hi);
    }
    return [{ dtype: x.dtype, dims: [...x.dims], data: out }];
  },
};

/**
 * Softmax and LogSoftmax. Opset < 13: the input is seen as 2-D [prod(dims[:axis]), prod(dims[axis:])] and
 * normalized per row (default axis 1). Opset 13+: normalized along the one axis (default -1). Both are
 * a loop over [outer, length, inner] blocks; sums accumulate in float64.
 */
function softmaxKernel(opType: string, mode: 'softmax' | 'log' | 'hard'): KernelConfig {
  return {
    opType,
    run(ctx) {
      const { x, data } = floatInput(ctx);
      const rank = x.dims.length;
      const legacy = ctx.opset < 13;
      const axisAttr = ctx.attrs.int('axis', legacy ? 1 : -1);
      let outer: number;
      let length: number;
      let inner: number;
      if (rank === 0) {
        outer = 1;
        length = 1;
        inner = 1;
      } else if (legacy) {
        // Opset < 13 allows axis == rank (each element its own row), hence the wider range.
        const axis = axisAttr < 0 ? axisAttr + rank : axisAttr;
        if (axis < 0 || axis > rank) throw kernelError(ctx.node, `axis ${axisAttr} is out of range for rank ${rank}`);
        outer = sizeOf(x.dims.slice(0, axis));
        length = sizeOf(x.dims.slice(axis));
        inner = 1;
      } else {
        const axis = normalizeAxis(ctx.node, axisAttr, rank);
        outer = sizeOf(x.dims.slice(0, axis));
        length = x.dims[axis]!;
        inner = sizeOf(x.dims.slice(axis + 1));
      }
      const out = allocate(ctx.node, x.dtype, data.length) as NumberArray;
      const block = length * inner;
      for (let b = 0; b < outer; b++) {
        for (let j = 0; j < inner; j++) {
          const start = b * block + j;
          const end = start + block;
          let max = -Infinity;
          for (let i = start; i < end; i += inner) if (data[i]! > max) max = data[i]!;
          let sum = 0;
          if (mode === 'hard') {
            // Hardmax: 1 at the first maximum of the row, 0 elsewhere.
            let first = -1;
            for (let i = start; i < end; i += inner) {
              out[i] = 0;
              if (first < 0 && (data[i] === max || Number.isNaN(max))) first = i;
            }
            if (first >= 0) out[first] = 1;
          } else if (mode === 'log') {
            for (let i = start; i < end; i += inner) sum += Math.exp(data[i]! - max);
            const shift = max + Math.log(sum);
            for (let i = start; i < end; i += inner) out[i] = data[i]! - shift;
          } else {
            for (let i = start; i < end; i += inner) {
              const e = Math.exp(data[i]! - max);
              out[i] = e;
              sum += e;
            }
            const scale = 1 / sum;
            for (let i = start; i < end; i += inner) out[i] = out[i]! * scale;
          }
        }
      }
      return [{ dtype: x.dtype, dims: [...x.dims], data: out }];
    },
  };
}

/**
 * Dropout (opsets 6-13). Inference (the default) is the identity, with an all-"kept" mask: bool from
 * opset 10, the input's type before. Opset 12+ takes ratio and training_mode as inputs; in training mode
 * with a ratio r > 0, y = x · mask / (1 - r) where mask = u >= r for u uniform in [0, 1) drawn by MT19937
 * seeded with the `seed` attribute (0 when absent), as numpy's legacy generator draws them: the outputs
 * of ONNX's reference implementation.
 */
const dropout: KernelConfig = {
  opType: 'Dropout',
  run(ctx) {
    const x = requireInput(ctx, 0, 'input data');
    const training = ctx.opset >= 12 ? ctx.inputs[2] : undefined;
    const ratioInput = ctx.opset >= 12 ? ctx.inputs[1] : undefined;
    const ratio = ratioInput && ratioInput.data.length > 0 ? Number(ratioInput.data[0]) : ctx.attrs.float('ratio', 0.5);
    const maskType = ctx.opset >= 10 ? DataType.BOOL : x.dtype;
    const wantMask = ctx.node.outputs.length > 1 && !!ctx.node.outputs[1];
    if (training && training.data.length > 0 && Number(training.data[0]) !== 0 && ratio !== 0) {
      if (!(ratio > 0 && ratio < 1)) throw kernelError(ctx.node, `ratio ${ratio} must be in [0, 1)`);
      const { data } = floatInput(ctx);
      const random = numpyLegacyUniform(ctx.attrs.int('seed', 0));
      const scale = Math.fround(1 / (1 - ratio));
      const out = allocate(ctx.node, x.dtype, data.length) as NumberArray;
      const mask = new Uint8Array(data.length);
      for (let i = 0; i < data.length; i++) {
        mask[i] = random() >= ratio ? 1 : 0;
        out[i] = mask[i] ? data[i]! * scale : 0;
      }
      const outputs: RtTensor[] = [{ dtype: x.dtype, dims: [...x.dims], data: out }];
      if (wantMask) outputs.push({ dtype: DataType.BOOL, dims: [...x.dims], data: mask });
      return outputs;
    }
    const outputs: RtTensor[] = [{ dtype: x.dtype, dims: [...x.dims], data: x.data }];
    if (wantMask) {
      const mask = allocate(ctx.node, maskType, x.data.length);
      if (isBigArray(mask)) mask.fill(1n);
      else (mask as NumberArray).fill(1);
      outputs.push({ dtype: maskType, dims: [...x.dims], data: mask });
    }
    return outputs;
  },
};

/** Shrink-9: x + bias below -lambd, x - bias above lambd, 0 between; every numeric type. */
const shrink: KernelConfig = {
  opType: 'Shrink',
  run(ctx) {
    const x = requireInput(ctx, 0, 'input');
    if (isBigArray(x.data) || x.dtype === DataType.BOOL) throw kernelError(ctx.node, `type ${dtypeName(x.dtype)} is not supported`);
    const bias = ctx.attrs.float('bias', 0);
    const lambd = ctx.attrs.float('lambd', 0.5);
    const d = x.data as NumberArray;
    const out = allocate(ctx.node, x.dtype, d.length) as NumberArray;
    for (let i = 0; i < d.length; i++) out[i] = d[i]! < -lambd ? d[i]! + bias : d[i]! > lambd ? d[i]! - bias : 0;
    return [{ dtype: x.dtype, dims: [...x.dims], data: out }];
  },
};

/** Identity shares its input's storage: kernels never write into their inputs. */
const identity: KernelConfig = {
  opType: 'Identity',
  run(ctx) {
    const x = requireInput(ctx, 0, 'input');
    return [{ dtype: x.dtype, dims: [...x.dims], data: x.data }];
  },
};

const SELU_ALPHA = 1.67326319217681884765625;
const SELU_GAMMA = 1.05070102214813232421875;

export const ACTIVATION_KERNELS: KernelConfig[] = [
  relu,
  prelu,
  clip,
  mapKernel('LeakyRelu', (ctx, o, x) => {
    const alpha = ctx.attrs.float('alpha', 0.01);
    leakyReluRange(x, o, alpha, 0, x.length);
  }),
  mapKernel('Sigmoid', (_ctx, o, x) => {
    for (let i = 0; i < x.length; i++) o[i] = 1 / (1 + Math.exp(-x[i]!));
  }),
  mapKernel('HardSigmoid', (ctx, o, x) => {
    const alpha = ctx.attrs.float('alpha', 0.2);
    const beta = ctx.attrs.float('beta', 0.5);
    for (let i = 0; i < x.length; i++) o[i] = Math.max(0, Math.min(1, alpha * x[i]! + beta));
  }),
  mapKernel('HardSwish', (_ctx, o, x) => {
    for (let i = 0; i < x.length; i++) o[i] = x[i]! * Math.max(0, Math.min(1, x[i]! / 6 + 0.5));
  }),
  mapKernel('Tanh', (_ctx, o, x) => {
    for (let i = 0; i < x.length; i++) o[i] = Math.tanh(x[i]!);
  }),
  mapKernel('Elu', (ctx, o, x) => {
    const alpha = ctx.attrs.float('alpha', 1);
    for (let i = 0; i < x.length; i++) o[i] = x[i]! < 0 ? alpha * Math.expm1(x[i]!) : x[i]!;
  }),
  mapKernel('Selu', (ctx, o, x) => {
    const alpha = ctx.attrs.float('alpha', SELU_ALPHA);
    const gamma = ctx.attrs.float('gamma', SELU_GAMMA);
    for (let i = 0; i < x.length; i++) o[i] = x[i]! > 0 ? gamma * x[i]! : gamma * alpha * Math.expm1(x[i]!);
  }),
  mapKernel('Softplus', (_ctx, o, x) => {
    // log(1 + e^x) without overflow for large x.
    for (let i = 0; i < x.length; i++) {
      const v = x[i]!;
      o[i] = v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v));
    }
  }),
  mapKernel('Softsign', (_ctx, o, x) => {
    for (let i = 0; i < x.length; i++) o[i] = x[i]! / (1 + Math.abs(x[i]!));
  }),
  softmaxKernel('Softmax', 'softmax'),
  softmaxKernel('LogSoftmax', 'log'),
  softmaxKernel('Hardmax', 'hard'),
  mapKernel('ThresholdedRelu', (ctx, o, x) => {
    const alpha = ctx.attrs.float('alpha', 1);
    for (let i = 0; i < x.length; i++) o[i] = x[i]! > alpha ? x[i]! : 0;
  }),
  mapKernel('Celu', (ctx, o, x) => {
    // Celu-12: max(0, x) + min(0, alpha·(exp(x/alpha) - 1)).
    const alpha = ctx.attrs.float('alpha', 1);
    for (let i = 0; i < x.length; i++) o[i] = Math.max(0, x[i]!) + Math.min(0, alpha * Math.expm1(x[i]! / alpha));
  }),
  mapKernel('Mish', (_ctx, o, x) => {
    // Mish-18: x·tanh(softplus(x)).
    for (let i = 0; i < x.length; i++) {
      const v = x[i]!;
      o[i] = v * Math.tanh(v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v)));
    }
  }),
  mapKernel('Gelu', (ctx, o, x) => {
    // Gelu-20: x·Φ(x) = x/2·(1 + erf(x/√2)); approximate='tanh': x/2·(1 + tanh(√(2/π)·(x + 0.044715x³))).
    const approximate = ctx.attrs.string('approximate', 'none');
    if (approximate !== 'none' && approximate !== 'tanh') throw kernelError(ctx.node, `approximate '${approximate}' is not none or tanh`);
    const k = Math.sqrt(2 / Math.PI);
    for (let i = 0; i < x.length; i++) {
      const v = x[i]!;
      o[i] = approximate === 'tanh' ? 0.5 * v * (1 + Math.tanh(k * (v + 0.044715 * v * v * v))) : 0.5 * v * (1 + erf(v / Math.SQRT2));
    }
  }),
  shrink,
  dropout,
  identity,
];
