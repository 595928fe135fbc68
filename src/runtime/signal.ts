import { DataType, dtypeName } from '../ir/index.js';
import { KernelConfig, KernelContext, RtTensor, kernelError, requireInput, sizeOf } from './kernel.js';
import { NumberArray, allocate, formatDims, integerValues, normalizeAxis } from './broadcast.js';

// Signal processing of opset 17: DFT, STFT, and the windows HannWindow, HammingWindow, BlackmanWindow. Each window is a cosine sum
// w[n] = a0 - a1·cos(2πn/N) + a2·cos(4πn/N), N = size when periodic (the default), size - 1 otherwise.

function windowKernel(opType: string, a0: number, a1: number, a2: number): KernelConfig {
  return {
    opType,
    run(ctx: KernelContext): RtTensor[] {
      const sizes = integerValues(ctx.node, requireInput(ctx, 0, 'size'), 'size');
      if (sizes.length !== 1 || !(sizes[0]! >= 0)) throw kernelError(ctx.node, 'size must be one non-negative integer');
      const size = sizes[0]!;
      const dtype = ctx.attrs.int('output_datatype', DataType.FLOAT) as DataType;
      if (![DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16].includes(dtype)) {
        throw kernelError(ctx.node, `output_datatype ${dtypeName(dtype)} is not supported (float, double, float16)`);
      }
      const periodic = ctx.attrs.int('periodic', 1) !== 0;
      const n = periodic ? size : size - 1;
      const out = allocate(ctx.node, dtype, size) as NumberArray;
      for (let i = 0; i < size; i++) {
        const t = n === 0 ? 0 : (2 * Math.PI * i) / n;
        out[i] = a0 - a1 * Math.cos(t) + a2 * Math.cos(2 * t);
      }
      return [{ dtype: dtype === DataType.FLOAT16 ? DataType.FLOAT : dtype, dims: [size], data: out }];
    },
  };
}

/**
 * One DFT of `n` points over a strided signal of `length` points (zero beyond it), real (`complex` false)
 * or interleaved complex input, writing `bins` interleaved complex outputs. Direct O(n·bins) sums in
 * float64; the inverse divides by n.
 */
function dft1d(src: NumberArray, at: number, stride: number, length: number, complex: boolean, n: number, bins: number, inverse: boolean, dst: NumberArray, out: number, outStride: number, window?: NumberArray): void {
  const sign = inverse ? 1 : -1;
  for (let k = 0; k < bins; k++) {
    let re = 0;
    let im = 0;
    for (let j = 0; j < Math.min(n, length); j++) {
      const w = window ? window[j]! : 1;
      const xr = src[at + j * stride]! * w;
      const xi = complex ? src[at + j * stride + 1]! * w : 0;
      const angle = (sign * 2 * Math.PI * ((j * k) % n)) / n;
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      re += xr * c - xi * s;
      im += xr * s + xi * c;
    }
    dst[out + k * outStride] = inverse ? re / n : re;
    dst[out + k * outStride + 1] = inverse ? im / n : im;
  }
}

/**
 * DFT-17: along `axis` (default 1) of [batch, ..., 1 | 2] (real or complex as the last axis), with the
 * signal zero-padded or cut to dft_length when given; onesided keeps the first ⌊n/2⌋ + 1 bins; inverse
 * computes the inverse transform (divided by n). Output [..., 2].
 */
const dft: KernelConfig = {
  opType: 'DFT',
  run(ctx) {
    const x = requireInput(ctx, 0, 'input');
    if (x.dtype !== DataType.FLOAT && x.dtype !== DataType.DOUBLE) throw kernelError(ctx.node, `input has type ${dtypeName(x.dtype)}; DFT takes float types`);
    const rank = x.dims.length;
    const last = x.dims[rank - 1];
    if (rank < 2 || (last !== 1 && last !== 2)) throw kernelError(ctx.node, `input ${formatDims(x.dims)} must end in 1 (real) or 2 (complex)`);
    const axis = normalizeAxis(ctx.node, ctx.attrs.int('axis', 1), rank - 1);
    const lengthInput = ctx.inputs[1];
    const n = lengthInput && lengthInput.data.length ? integerValues(ctx.node, lengthInput, 'dft_length')[0]! : x.dims[axis]!;
    if (!(n > 0)) throw kernelError(ctx.node, `dft_length ${n} must be positive`);
    const inverse = ctx.attrs.int('inverse', 0) !== 0;
    const bins = ctx.attrs.int('onesided', 0) !== 0 ? Math.floor(n / 2) + 1 : n;
    const complex = last === 2;
    const outDims = [...x.dims.slice(0, -1), 2];
    outDims[axis] = bins;
    const outer = sizeOf(x.dims.slice(0, axis));
    const inner = sizeOf(x.dims.slice(axis + 1, -1));
    const length = x.dims[axis]!;
    const out = allocate(ctx.node, x.dtype, sizeOf(outDims)) as NumberArray;
    const src = x.data as NumberArray;
    for (let b = 0; b < outer; b++) {
      for (let i = 0; i < inner; i++) {
        dft1d(src, (b * length * inner + i) * last, inner * last, length, complex, n, bins, inverse, out, (b * bins * inner + i) * 2, inner * 2);
      }
    }
    return [{ dtype: x.dtype, dims: outDims, data: out }];
  },
};

/**
 * STFT-17: signal [batch, length, 1 | 2], frame_step, optional window and frame_length (the window's
 * length when given). Frame f covers [f·step, f·step + frame_length), multiplied by the window, then a DFT
 * of frame_length points; onesided (default 1) keeps ⌊n/2⌋ + 1 bins. Output [batch, frames, bins, 2].
 */
const stft: KernelConfig = {
  opType: 'STFT',
  run(ctx) {
    const x = requireInput(ctx, 0, 'signal');
    if (x.dtype !== DataType.FLOAT && x.dtype !== DataType.DOUBLE) throw kernelError(ctx.node, `signal has type ${dtypeName(x.dtype)}; STFT takes float types`);
    if (x.dims.length !== 3 || (x.dims[2] !== 1 && x.dims[2] !== 2)) throw kernelError(ctx.node, `signal ${formatDims(x.dims)} must be [batch, length, 1 | 2]`);
    const step = integerValues(ctx.node, requireInput(ctx, 1, 'frame_step'), 'frame_step')[0]!;
    const window = ctx.inputs[2];
    const lengthInput = ctx.inputs[3];
    const frameLength = window ? window.data.length : lengthInput ? integerValues(ctx.node, lengthInput, 'frame_length')[0]! : undefined;
    if (frameLength === undefined || !(frameLength > 0) || !(step > 0)) throw kernelError(ctx.node, 'needs a positive frame_step and a window or frame_length');
    const [batch, length, last] = x.dims as [number, number, number];
    if (frameLength > length) throw kernelError(ctx.node, `frame length ${frameLength} is longer than the signal (${length})`);
    const frames = Math.floor((length - frameLength) / step) + 1;
    const bins = ctx.attrs.int('onesided', 1) !== 0 ? Math.floor(frameLength / 2) + 1 : frameLength;
    const out = allocate(ctx.node, x.dtype, batch * frames * bins * 2) as NumberArray;
    const src = x.data as NumberArray;
    for (let b = 0; b < batch; b++) {
      for (let f = 0; f < frames; f++) {
        const at = (b * length + f * step) * last;
        dft1d(src, at, last, frameLength, last === 2, frameLength, bins, false, out, ((b * frames + f) * bins) * 2, 2, window?.data as NumberArray | undefined);
      }
    }
    return [{ dtype: x.dtype, dims: [batch, frames, bins, 2], data: out }];
  },
};

/**
 * MelWeightMatrix-17: [⌊dft_length/2⌋ + 1, num_mel_bins] triangular filters. num_mel_bins + 2 points
 * equally spaced in mel (2595·log10(1 + f/700)) from lower_edge_hertz, step (high - low) / (num_mel_bins + 2),
 * become spectrogram bins ⌊(dft_length + 1)·f / sample_rate⌋; filter i rises from point i to i + 1 and falls
 * to i + 2, as ONNX's reference implementation computes it.
 */
const melWeightMatrix: KernelConfig = {
  opType: 'MelWeightMatrix',
  run(ctx) {
    const value = (i: number, what: string) => {
      const t = requireInput(ctx, i, what);
      if (t.data.length !== 1) throw kernelError(ctx.node, `${what} must be a scalar`);
      return Number(t.data[0]!);
    };
    const mels = value(0, 'num_mel_bins');
    const dftLength = value(1, 'dft_length');
    const sampleRate = value(2, 'sample_rate');
    const lower = value(3, 'lower_edge_hertz');
    const upper = value(4, 'upper_edge_hertz');
    if (!(mels > 0 && dftLength > 0 && sampleRate > 0)) throw kernelError(ctx.node, 'num_mel_bins, dft_length and sample_rate must be positive');
    const dtype = ctx.attrs.int('output_datatype', DataType.FLOAT) as DataType;
    const spectrogramBins = Math.floor(dftLength / 2) + 1;
    const lowMel = 2595 * Math.log10(1 + lower / 700);
    const highMel = 2595 * Math.log10(1 + upper / 700);
    const step = (highMel - lowMel) / (mels + 2);
    const bins = Array.from({ length: mels + 2 }, (_, i) => {
      const hz = 700 * (10 ** ((i * step + lowMel) / 2595) - 1);
      return Math.trunc(Math.floor(((dftLength + 1) * hz) / sampleRate));
    });
    const out = allocate(ctx.node, dtype, spectrogramBins * mels) as NumberArray;
    const set = (j: number, i: number, v: number) => {
      if (j < 0 || j >= spectrogramBins) throw kernelError(ctx.node, `filter ${i} reaches bin ${j}, outside the ${spectrogramBins} spectrogram bins (check the edge frequencies)`);
      out[j * mels + i] = v;
    };
    for (let i = 0; i < mels; i++) {
      const [left, center, right] = [bins[i]!, bins[i + 1]!, bins[i + 2]!];
      if (center === left) set(center, i, 1);
      else for (let j = left; j <= center; j++) set(j, i, (j - left) / (center - left));
      if (right > center) for (let j = center; j < right; j++) set(j, i, (right - j) / (right - center));
    }
    return [{ dtype: dtype === DataType.FLOAT16 ? DataType.FLOAT : dtype, dims: [spectrogramBins, mels], data: out }];
  },
};

export const SIGNAL_KERNELS: KernelConfig[] = [
  melWeightMatrix,
  dft,
  stft,
  windowKernel('HannWindow', 0.5, 0.5, 0),
  windowKernel('HammingWindow', 25 / 46, 21 / 46, 0),
  windowKernel('BlackmanWindow', 0.42, 0.5, 0.08),
];
