import { DataType, dtypeName } from '../ir/index.js';
import { KernelConfig, KernelContext, RtTensor, kernelError, requireInput, sizeOf } from './kernel.js';
import { floatValues, formatDims, gatherByAxisOffsets, integerValues, normalizeAxis, stridesOf } from './broadcast.js';
import { roundHalfEven } from './elementwise.js';

// Resize (opset 10, 11, 13, 18, 19) and Upsample (7, 9). Each axis is mapped on its own: output index
// → original coordinate (coordinate_transformation_mode) → source indices and weights. Nearest is then
// one gather; linear and cubic are separable, applied one axis at a time.
//
// Coordinates are computed in float32 steps (Math.fround), as onnxruntime does, so that nearest-mode
// ties (x.5) fall the same way.

const f = Math.fround;

type CoordinateMode =
  | 'half_pixel'
  | 'half_pixel_symmetric'
  | 'pytorch_half_pixel'
  | 'align_corners'
  | 'asymmetric'
  | 'tf_half_pixel_for_nn'
  | 'tf_crop_and_resize';
/** 'simple' is the rounding of Upsample and Resize-10: truncate when upsampling, ceil when downsampling. */
type NearestMode = 'round_prefer_floor' | 'round_prefer_ceil' | 'floor' | 'ceil' | 'simple';
type Mode = 'nearest' | 'linear' | 'cubic';

interface ResizeParams {
  mode: Mode;
  coordinateMode: CoordinateMode;
  nearestMode: NearestMode;
  cubicA: number;
  excludeOutside: boolean;
  extrapolationValue: number;
  outDims: number[];
  /** Per axis: the scale used in the coordinate transform. */
  scales: number[];
  /**
   * Per axis: length_resized of align_corners, `scale · length_original` unfloored (the ONNX reference
   * implementation; onnx/onnx#2462: intended), or the requested size when sizes are given.
   */
  resizedLengths: number[];
  roiStart: number[];
  roiEnd: number[];
}

const COORDINATE_MODES = new Set<string>([
  'half_pixel',
  'half_pixel_symmetric',
  'pytorch_half_pixel',
  'align_corners',
  'asymmetric',
  'tf_half_pixel_for_nn',
  'tf_crop_and_resize',
]);
const NEAREST_MODES = new Set<string>(['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil']);

function readMode(ctx: KernelContext): Mode {
  const mode = ctx.attrs.string('mode', 'nearest');
  if (mode === 'nearest' || mode === 'linear' || mode === 'cubic') {
    if (mode === 'cubic' && ctx.opset < 11) throw kernelError(ctx.node, `mode 'cubic' needs opset 11 or later`);
    return mode;
  }
  // Upsample-7 documents 'bilinear' as a spelling some exporters used.
  if (mode === 'bilinear' && ctx.node.opType === 'Upsample') return 'linear';
  throw kernelError(ctx.node, `mode '${mode}' is not supported (nearest, linear, cubic)`);
}

/** Upsample (7: scales attribute, 9: scales input) and Resize-10: asymmetric coordinates, 'simple' rounding. */
function legacyParams(ctx: KernelContext, x: RtTensor): ResizeParams {
  const mode = readMode(ctx);
  if (mode === 'cubic') throw kernelError(ctx.node, `mode 'cubic' needs opset 11 or later`);
  let scales: number[];
  if (ctx.node.opType === 'Upsample' && ctx.opset < 9) {
    scales = ctx.attrs.floats('scales', []).map(f);
  } else {
    scales = floatValues(requireInput(ctx, 1, 'scales')).map(f);
  }
  const rank = x.dims.length;
  if (scales.length !== rank) throw kernelError(ctx.node, `scales has ${scales.length} values for input of rank ${rank}`);
  if (scales.some((s) => !(s > 0))) throw kernelError(ctx.node, `scales [${scales.join(',')}] must be positive`);
  return {
    mode,
    coordinateMode: 'asymmetric',
    nearestMode: 'simple',
    cubicA: -0.75,
    excludeOutside: false,
    extrapolationValue: 0,
    outDims: x.dims.map((d, i) => Math.floor(f(d * scales[i]!))),
    scales,
    resizedLengths: x.dims.map((d, i) => d * scales[i]!),
    roiStart: new Array<number>(rank).fill(0),
    roiEnd: new Array<number>(rank).fill(1),
  };
}

/** Resize 11+: roi, scales, sizes inputs; axes and keep_aspect_ratio_policy from 18. */
function resizeParams(ctx: KernelContext, x: RtTensor): ResizeParams {
  const rank = x.dims.length;
  const mode = readMode(ctx);
  const coordinateMode = ctx.attrs.string('coordinate_transformation_mode', 'half_pixel');
  if (!COORDINATE_MODES.has(coordinateMode) || (coordinateMode === 'half_pixel_symmetric' && ctx.opset < 19)) {
    throw kernelError(ctx.node, `coordinate_transformation_mode '${coordinateMode}' is not supported at opset ${ctx.opset}`);
  }
  const nearestMode = ctx.attrs.string('nearest_mode', 'round_prefer_floor');
  if (!NEAREST_MODES.has(nearestMode)) throw kernelError(ctx.node, `nearest_mode '${nearestMode}' is not supported`);
  if (ctx.opset >= 18 && ctx.attrs.int('antialias', 0) !== 0 && mode !== 'nearest') {
    throw kernelError(ctx.node, 'antialias=1 is not supported by bnc');
  }
  const axes = (ctx.opset >= 18 ? ctx.attrs.ints('axes') : undefined)?.map((a) => normalizeAxis(ctx.node, a, rank, 'axis'));
  const axisList = axes ?? x.dims.map((_, i) => i);
  if (new Set(axisList).size !== axisList.length) throw kernelError(ctx.node, `axes [${axisList.join(',')}] repeat an axis`);

  const roiInput = ctx.inputs[1];
  const scalesInput = ctx.inputs[2];
  const sizesInput = ctx.inputs[3];
  const givenScales = scalesInput && scalesInput.data.length > 0 ? floatValues(scalesInput).map(f) : undefined;
  const givenSizes = sizesInput && sizesInput.data.length > 0 ? integerValues(ctx.node, sizesInput, 'sizes') : undefined;
  if (givenScales && givenSizes) throw kernelError(ctx.node, 'both scales and sizes are given; exactly one is allowed');
  if (!givenScales && !givenSizes) throw kernelError(ctx.node, 'neither scales nor sizes is given');

  const roiStart = new Array<number>(rank).fill(0);
  const roiEnd = new Array<number>(rank).fill(1);
  if (coordinateMode === 'tf_crop_and_resize') {
    const roi = roiInput && roiInput.data.length > 0 ? floatValues(roiInput).map(f) : undefined;
    if (!roi || roi.length !== 2 * axisList.length) {
      throw kernelError(ctx.node, `tf_crop_and_resize needs roi with ${2 * axisList.length} values (starts then ends)`);
    }
    axisList.forEach((a, k) => {
      roiStart[a] = roi[k]!;
      roiEnd[a] = roi[k + axisList.length]!;
    });
  }

  const scales = new Array<number>(rank).fill(1);
  const outDims = [...x.dims];
  const resizedLengths = [...x.dims];
  if (givenScales) {
    if (givenScales.length !== axisList.length) throw kernelError(ctx.node, `scales has ${givenScales.length} values for ${axisList.length} axes`);
    if (givenScales.some((s) => !(s > 0))) throw kernelError(ctx.node, `scales [${givenScales.join(',')}] must be positive`);
    // The spec multiplies by the roi extent for tf_crop_and_resize; onnxruntime and the ONNX reference
    // implementation do not, and models are exported against them, so neither does bnc.
    axisList.forEach((a, k) => {
      scales[a] = givenScales[k]!;
      outDims[a] = Math.floor(f(x.dims[a]! * givenScales[k]!));
      resizedLengths[a] = x.dims[a]! * givenScales[k]!;
    });
  } else {
    const sizes = givenSizes!;
    if (sizes.length !== axisList.length) throw kernelError(ctx.node, `sizes has ${sizes.length} values for ${axisList.length} axes`);
    const policy = ctx.opset >= 18 ? ctx.attrs.string('keep_aspect_ratio_policy', 'stretch') : 'stretch';
    if (policy === 'stretch') {
      axisList.forEach((a, k) => {
        outDims[a] = sizes[k]!;
        resizedLengths[a] = sizes[k]!;
        scales[a] = f(sizes[k]! / x.dims[a]!);
      });
    } else if (policy === 'not_larger' || policy === 'not_smaller') {
      // One scale for all resized axes, chosen so the output fits inside (or covers) the requested box.
      const ratios = axisList.map((a, k) => f(sizes[k]! / x.dims[a]!));
      const scale = policy === 'not_larger' ? Math.min(...ratios) : Math.max(...ratios);
      axisList.forEach((a) => {
        scales[a] = scale;
        outDims[a] = Math.round(f(scale * x.dims[a]!));
        resizedLengths[a] = scale * x.dims[a]!;
      });
    } else {
      throw kernelError(ctx.node, `keep_aspect_ratio_policy '${policy}' is not supported`);
    }
  }
  return {
    mode,
    coordinateMode: coordinateMode as CoordinateMode,
    nearestMode: nearestMode as NearestMode,
    cubicA: ctx.attrs.float('cubic_coeff_a', -0.75),
    excludeOutside: ctx.attrs.int('exclude_outside', 0) !== 0,
    extrapolationValue: ctx.attrs.float('extrapolation_value', 0),
    outDims,
    scales,
    resizedLengths,
    roiStart,
    roiEnd,
  };
}

/** Output index → coordinate in the input, per the ONNX formulas, in float32 steps. */
function originalCoordinate(p: ResizeParams, axis: number, xOut: number, inLen: number, outLen: number): number {
  const scale = p.scales[axis]!;
  switch (p.coordinateMode) {
    case 'half_pixel':
      return f(f(f(xOut + 0.5) / scale) - 0.5);
    case 'half_pixel_symmetric': {
      const adjustment = f(outLen / f(scale * inLen));
      const center = f(inLen / 2);
      const offset = f(center * f(1 - adjustment));
      return f(offset + f(f(f(xOut + 0.5) / scale) - 0.5));
    }
    case 'pytorch_half_pixel':
      return outLen > 1 ? f(f(f(xOut + 0.5) / scale) - 0.5) : 0;
    case 'align_corners': {
      const length = p.resizedLengths[axis]!;
      return length === 1 ? 0 : f(f(xOut * (inLen - 1)) / f(length - 1));
    }
    case 'asymmetric':
      return f(xOut / scale);
    case 'tf_half_pixel_for_nn':
      return f(f(xOut + 0.5) / scale);
    case 'tf_crop_and_resize': {
      const start = p.roiStart[axis]!;
      const end = p.roiEnd[axis]!;
      return outLen > 1
        ? f(f(start * (inLen - 1)) + f(f(xOut * f(f(end - start) * (inLen - 1))) / (outLen - 1)))
        : f(f(0.5 * f(start + end)) * (inLen - 1));
    }
  }
}

function nearestIndex(mode: NearestMode, x: number, downsampling: boolean): number {
  switch (mode) {
    case 'round_prefer_floor':
      return x === Math.trunc(x) + 0.5 ? Math.floor(x) : roundHalfAway(x);
    case 'round_prefer_ceil':
      return x === Math.trunc(x) + 0.5 ? Math.ceil(x) : roundHalfAway(x);
    case 'floor':
      return Math.floor(x);
    case 'ceil':
      return Math.ceil(x);
    case 'simple':
      return downsampling ? Math.ceil(x) : Math.trunc(x);
  }
}

/** C's round(): halves away from zero (Math.round rounds -2.5 to -2). */
function roundHalfAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/** Whether a coordinate lies outside the input, for tf_crop_and_resize's extrapolation_value. */
function extrapolates(p: ResizeParams, x: number, inLen: number): boolean {
  return p.coordinateMode === 'tf_crop_and_resize' && (x < 0 || x > inLen - 1);
}

/** Per output index along one axis: source taps and their weights (an interpolation kernel of `taps` wide). */
interface AxisTaps {
  taps: number;
  index: Int32Array;
  weight: Float32Array;
  outside: Uint8Array;
}

function linearTaps(p: ResizeParams, axis: number, inLen: number, outLen: number): AxisTaps {
  const index = new Int32Array(outLen * 2);
  const weight = new Float32Array(outLen * 2);
  const outside = new Uint8Array(outLen);
  for (let o = 0; o < outLen; o++) {
    let x = originalCoordinate(p, axis, o, inLen, outLen);
    if (extrapolates(p, x, inLen)) outside[o] = 1;
    x = Math.max(0, Math.min(x, inLen - 1));
    const i0 = Math.min(Math.trunc(x), inLen - 1);
    const i1 = Math.min(i0 + 1, inLen - 1);
    index[2 * o] = i0;
    index[2 * o + 1] = i1;
    if (i0 === i1) {
      weight[2 * o] = 0.5;
      weight[2 * o + 1] = 0.5;
    } else {
      weight[2 * o] = f(Math.abs(f(x - i1)));
      weight[2 * o + 1] = f(Math.abs(f(x - i0)));
    }
  }
  return { taps: 2, index, weight, outside };
}

/** Keys' cubic convolution weights for the 4 taps around x, with coefficient a. */
function cubicTaps(p: ResizeParams, axis: number, inLen: number, outLen: number): AxisTaps {
  const a = p.cubicA;
  const index = new Int32Array(outLen * 4);
  const weight = new Float32Array(outLen * 4);
  const outside = new Uint8Array(outLen);
  const w = new Float64Array(4);
  for (let o = 0; o < outLen; o++) {
    const x = originalCoordinate(p, axis, o, inLen, outLen);
    if (extrapolates(p, x, inLen)) outside[o] = 1;
    const base = Math.floor(x);
    const t = x - base;
    const distances = [1 + t, t, 1 - t, 2 - t];
    let total = 0;
    for (let k = 0; k < 4; k++) {
      const d = distances[k]!;
      let v = d <= 1 ? ((a + 2) * d - (a + 3)) * d * d + 1 : ((a * d - 5 * a) * d + 8 * a) * d - 4 * a;
      const src = base - 1 + k;
      if (p.excludeOutside && (src < 0 || src >= inLen)) v = 0;
      w[k] = v;
      total += v;
      index[4 * o + k] = Math.min(Math.max(src, 0), inLen - 1);
    }
    // exclude_outside renormalizes the remaining weights to sum to 1.
    for (let k = 0; k < 4; k++) weight[4 * o + k] = p.excludeOutside && total !== 0 ? w[k]! / total : w[k]!;
  }
  return { taps: 4, index, weight, outside };
}

/** Interpolate along one axis: [outer, inLen, inner] → [outer, outLen, inner]. */
function applyAxis(src: Float32Array, dims: number[], axis: number, t: AxisTaps): { data: Float32Array; dims: number[] } {
  const inLen = dims[axis]!;
  const outLen = t.outside.length;
  const outer = sizeOf(dims.slice(0, axis));
  const inner = sizeOf(dims.slice(axis + 1));
  const out = new Float32Array(outer * outLen * inner);
  const taps = t.taps;
  for (let b = 0; b < outer; b++) {
    const srcBase = b * inLen * inner;
    const dstBase = b * outLen * inner;
    for (let o = 0; o < outLen; o++) {
      const dst = dstBase + o * inner;
      for (let k = 0; k < taps; k++) {
        const wk = t.weight[o * taps + k]!;
        if (wk === 0) continue;
        const s = srcBase + t.index[o * taps + k]! * inner;
        for (let i = 0; i < inner; i++) out[dst + i] = out[dst + i]! + wk * src[s + i]!;
      }
    }
  }
  const outDims = [...dims];
  outDims[axis] = outLen;
  return { data: out, dims: outDims };
}

function isIdentityAxis(t: AxisTaps, inLen: number): boolean {
  if (t.outside.length !== inLen) return false;
  for (let o = 0; o < inLen; o++) {
    let w = 0;
    for (let k = 0; k < t.taps; k++) {
      const wk = t.weight[o * t.taps + k]!;
      if (wk !== 0 && t.index[o * t.taps + k] !== o) return false;
      w += wk;
    }
    if (w !== 1 || t.outside[o]) return false;
  }
  return true;
}

function runResize(ctx: KernelContext, legacy: boolean): RtTensor[] {
  const x = requireInput(ctx, 0, 'X');
  const p = legacy ? legacyParams(ctx, x) : resizeParams(ctx, x);
  const rank = x.dims.length;
  if (p.outDims.some((d) => d < 0)) throw kernelError(ctx.node, `output shape ${formatDims(p.outDims)} is negative`);

  if (p.mode === 'nearest') {
    const strides = stridesOf(x.dims);
    const offsets = p.outDims.map((outLen, a) => {
      const inLen = x.dims[a]!;
      const o = new Float64Array(outLen);
      const downsampling = p.scales[a]! < 1;
      for (let i = 0; i < outLen; i++) {
        const coord = originalCoordinate(p, a, i, inLen, outLen);
        if (extrapolates(p, coord, inLen)) {
          o[i] = -1;
          continue;
        }
        const idx = Math.min(Math.max(nearestIndex(p.nearestMode, coord, downsampling), 0), inLen - 1);
        o[i] = idx * strides[a]!;
      }
      return o;
    });
    const fill = x.dtype === DataType.INT64 ? BigInt(Math.trunc(p.extrapolationValue)) : p.extrapolationValue;
    return [gatherByAxisOffsets(ctx.node, x, p.outDims, offsets, fill)];
  }

  if (x.dtype !== DataType.FLOAT) throw kernelError(ctx.node, `${p.mode} resize of ${dtypeName(x.dtype)} is not supported; bnc runs it on float32`);
  let data = x.data as Float32Array;
  let dims = [...x.dims];
  const outsideByAxis: (Uint8Array | undefined)[] = [];
  for (let a = 0; a < rank; a++) {
    const inLen = x.dims[a]!;
    const outLen = p.outDims[a]!;
    if (inLen === 0 && outLen > 0) throw kernelError(ctx.node, `cannot interpolate axis ${a} of size 0`);
    const taps = p.mode === 'linear' ? linearTaps(p, a, inLen, outLen) : cubicTaps(p, a, inLen, outLen);
    outsideByAxis.push(taps.outside.includes(1) ? taps.outside : undefined);
    if (isIdentityAxis(taps, inLen)) continue;
    ({ data, dims } = applyAxis(data, dims, a, taps));
  }
  if (data === x.data) data = data.slice();
  if (outsideByAxis.some((o) => o)) fillOutside(data, p.outDims, outsideByAxis, p.extrapolationValue);
  return [{ dtype: DataType.FLOAT, dims: p.outDims, data }];
}

/** tf_crop_and_resize: an output element whose coordinate falls outside the input on any axis takes extrapolation_value. */
function fillOutside(data: Float32Array, dims: number[], outside: (Uint8Array | undefined)[], value: number): void {
  const rank = dims.length;
  const counter = new Array<number>(rank).fill(0);
  for (let i = 0; i < data.length; i++) {
    for (let a = 0; a < rank; a++) {
      if (outside[a]?.[counter[a]!]) {
        data[i] = value;
        break;
      }
    }
    for (let a = rank - 1; a >= 0; a--) {
      if (++counter[a]! < dims[a]!) break;
      counter[a] = 0;
    }
  }
}

/** Reflect x into [lo, hi] by mirroring at the nearer border repeatedly (GridSample's reflection padding). */
function reflectInto(x: number, lo: number, hi: number): number {
  const range = hi - lo;
  if (range <= 0) return lo;
  if (x < lo) {
    const dx = lo - x;
    const n = Math.trunc(dx / range);
    const r = dx - n * range;
    return n % 2 === 0 ? lo + r : hi - r;
  }
  if (x > hi) {
    const dx = x - hi;
    const n = Math.trunc(dx / range);
    const r = dx - n * range;
    return n % 2 === 0 ? hi - r : lo + r;
  }
  return x;
}

/** Keys' cubic weights (a = -0.75) of the taps at offsets -1, 0, 1, 2 from floor(x), for t = x - floor(x). */
function keysWeights(t: number, w: Float64Array): void {
  const a = -0.75;
  const cubic = (d: number) => (d <= 1 ? ((a + 2) * d - (a + 3)) * d * d + 1 : ((a * d - 5 * a) * d + 8 * a) * d - 4 * a);
  w[0] = cubic(t + 1);
  w[1] = cubic(t);
  w[2] = cubic(1 - t);
  w[3] = cubic(2 - t);
}

/**
 * GridSample-16 (2-D): Y[n, c, h, w] samples X[n, c] at grid[n, h, w] = (x, y) normalized to [-1, 1]
 * (align_corners: -1 and 1 are the corner pixels' centres, else their outer edges). Modes bilinear,
 * nearest (round half to even), bicubic (Keys, a = -0.75); padding zeros, border or reflection, as
 * ONNX's reference implementation (after PyTorch's grid_sample). opset 20's names linear/cubic accepted.
 */
const gridSample: KernelConfig = {
  opType: 'GridSample',
  run(ctx) {
    const x = requireInput(ctx, 0, 'X');
    const grid = requireInput(ctx, 1, 'grid');
    if (x.dtype !== DataType.FLOAT || grid.dtype !== DataType.FLOAT) throw kernelError(ctx.node, 'X and grid must be float32');
    if (x.dims.length !== 4 || grid.dims.length !== 4 || grid.dims[3] !== 2 || grid.dims[0] !== x.dims[0]) {
      throw kernelError(ctx.node, `X ${formatDims(x.dims)} must be [N, C, H, W] and grid ${formatDims(grid.dims)} [N, H_out, W_out, 2] (bnc runs 2-D GridSample)`);
    }
    const modeAttr = ctx.attrs.string('mode', ctx.opset >= 20 ? 'linear' : 'bilinear');
    const mode = ({ bilinear: 'linear', linear: 'linear', nearest: 'nearest', bicubic: 'cubic', cubic: 'cubic' } as Record<string, string>)[modeAttr];
    const padding = ctx.attrs.string('padding_mode', 'zeros');
    if (!mode) throw kernelError(ctx.node, `mode '${modeAttr}' is not supported`);
    if (!['zeros', 'border', 'reflection'].includes(padding)) throw kernelError(ctx.node, `padding_mode '${padding}' is not supported`);
    const alignCorners = ctx.attrs.int('align_corners', 0) !== 0;
    const [n, c, h, w] = x.dims as [number, number, number, number];
    const [, ho, wo] = grid.dims as [number, number, number, number];
    const xd = x.data as Float32Array;
    const g = grid.data as Float32Array;
    const out = new Float32Array(n * c * ho * wo);
    const denormalize = (v: number, length: number) => (alignCorners ? ((v + 1) / 2) * (length - 1) : ((v + 1) * length - 1) / 2);
    const lo = alignCorners ? 0 : -0.5;
    const hiW = alignCorners ? w - 1 : w - 0.5;
    const hiH = alignCorners ? h - 1 : h - 0.5;
    // A tap index along an axis of `length` under the padding rule, or -1 for a zero.
    const tap = (i: number, length: number, hi: number): number => {
      if (padding === 'zeros') return i >= 0 && i < length ? i : -1;
      if (padding === 'border') return Math.min(Math.max(i, 0), length - 1);
      return Math.trunc(reflectInto(i, lo, hi));
    };
    const coordinate = (v: number, length: number, hi: number): number => {
      let p = denormalize(v, length);
      if (mode === 'nearest') p = roundHalfEven(p);
      if (p < lo || p > hi) {
        if (padding === 'border') p = Math.min(Math.max(p, 0), length - 1);
        else if (padding === 'reflection') p = reflectInto(p, lo, hi);
      }
      return p;
    };
    const wx = new Float64Array(4);
    const wy = new Float64Array(4);
    const taps = mode === 'cubic' ? 4 : mode === 'linear' ? 2 : 1;
    const ix = new Int32Array(4);
    const iy = new Int32Array(4);
    for (let b = 0; b < n; b++) {
      for (let oy = 0; oy < ho; oy++) {
        for (let ox = 0; ox < wo; ox++) {
          const gi = ((b * ho + oy) * wo + ox) * 2;
          const px = coordinate(g[gi]!, w, hiW);
          const py = coordinate(g[gi + 1]!, h, hiH);
          if (mode === 'nearest') {
            ix[0] = tap(px, w, hiW);
            iy[0] = tap(py, h, hiH);
            wx[0] = 1;
            wy[0] = 1;
          } else {
            const x0 = Math.floor(px);
            const y0 = Math.floor(py);
            const first = mode === 'cubic' ? -1 : 0;
            for (let k = 0; k < taps; k++) {
              ix[k] = tap(x0 + first + k, w, hiW);
              iy[k] = tap(y0 + first + k, h, hiH);
            }
            if (mode === 'cubic') {
              keysWeights(px - x0, wx);
              keysWeights(py - y0, wy);
            } else {
              wx[0] = 1 - (px - x0);
              wx[1] = px - x0;
              wy[0] = 1 - (py - y0);
              wy[1] = py - y0;
            }
          }
          for (let ch = 0; ch < c; ch++) {
            const base = (b * c + ch) * h * w;
            let v = 0;
            for (let r = 0; r < taps; r++) {
              if (iy[r]! < 0) continue;
              let row = 0;
              for (let k = 0; k < taps; k++) if (ix[k]! >= 0) row += wx[k]! * xd[base + iy[r]! * w + ix[k]!]!;
              v += wy[r]! * row;
            }
            out[((b * c + ch) * ho + oy) * wo + ox] = v;
          }
        }
      }
    }
    return [{ dtype: DataType.FLOAT, dims: [n, c, ho, wo], data: out }];
  },
};

/** RoiAlign's taps along one axis: coordinate clamped at 0, both taps on the last pixel beyond length - 1. */
function bilinearAxis(v: number, length: number): [low: number, high: number, frac: number] {
  const p = Math.max(v, 0);
  const low = Math.floor(p);
  if (low >= length - 1) return [length - 1, length - 1, 0];
  return [low, low + 1, p - low];
}

/**
 * RoiAlign-10/16: for each roi (x1, y1, x2, y2) of its batch entry, an output_height × output_width grid
 * of bins, each the average (mode avg) or maximum (mode max) of sampling_ratio² bilinear samples (sampling
 * ratio 0: ⌈roi size / output size⌉ per axis). coordinate_transformation_mode half_pixel (opset 16's
 * default) shifts the scaled roi by -0.5; output_half_pixel (opset 10's behaviour) does not and makes
 * rois at least 1×1. Samples beyond one pixel outside X count as 0. As onnxruntime's kernel.
 */
const roiAlign: KernelConfig = {
  opType: 'RoiAlign',
  run(ctx) {
    const x = requireInput(ctx, 0, 'X');
    const rois = requireInput(ctx, 1, 'rois');
    const batchIndices = integerValues(ctx.node, requireInput(ctx, 2, 'batch_indices'), 'batch_indices');
    if (x.dtype !== DataType.FLOAT || rois.dtype !== DataType.FLOAT) throw kernelError(ctx.node, 'X and rois must be float32');
    if (x.dims.length !== 4 || rois.dims.length !== 2 || rois.dims[1] !== 4 || batchIndices.length !== rois.dims[0]) {
      throw kernelError(ctx.node, `X ${formatDims(x.dims)} must be [N, C, H, W], rois [R, 4] and batch_indices [R]`);
    }
    const a = ctx.attrs;
    const mode = a.string('mode', 'avg');
    if (mode !== 'avg' && mode !== 'max') throw kernelError(ctx.node, `mode '${mode}' is not avg or max`);
    const outH = a.int('output_height', 1);
    const outW = a.int('output_width', 1);
    const ratio = a.int('sampling_ratio', 0);
    const scale = a.float('spatial_scale', 1);
    const halfPixel = a.string('coordinate_transformation_mode', ctx.opset >= 16 ? 'half_pixel' : 'output_half_pixel') === 'half_pixel';
    const [n, c, h, w] = x.dims as [number, number, number, number];
    const r = rois.dims[0]!;
    const xd = x.data as Float32Array;
    const rd = rois.data as Float32Array;
    const out = new Float32Array(r * c * outH * outW);
    const offset = halfPixel ? 0.5 : 0;
    for (let k = 0; k < r; k++) {
      const b = batchIndices[k]!;
      if (b < 0 || b >= n) throw kernelError(ctx.node, `batch index ${b} is outside [0, ${n})`);
      const x1 = rd[k * 4]! * scale - offset;
      const y1 = rd[k * 4 + 1]! * scale - offset;
      let roiW = rd[k * 4 + 2]! * scale - offset - x1;
      let roiH = rd[k * 4 + 3]! * scale - offset - y1;
      if (!halfPixel) {
        roiW = Math.max(roiW, 1);
        roiH = Math.max(roiH, 1);
      }
      const binH = roiH / outH;
      const binW = roiW / outW;
      const gridH = ratio > 0 ? ratio : Math.ceil(roiH / outH);
      const gridW = ratio > 0 ? ratio : Math.ceil(roiW / outW);
      const count = Math.max(gridH * gridW, 1);
      for (let ph = 0; ph < outH; ph++) {
        for (let pw = 0; pw < outW; pw++) {
          // The samples' four taps and weights, shared by every channel.
          const taps: number[] = [];
          for (let iy = 0; iy < gridH; iy++) {
            const y = y1 + ph * binH + ((iy + 0.5) * binH) / gridH;
            for (let ix = 0; ix < gridW; ix++) {
              const xs = x1 + pw * binW + ((ix + 0.5) * binW) / gridW;
              if (y < -1 || y > h || xs < -1 || xs > w) {
                taps.push(0, 0, 0, 0, 0, 0, 0, 0);
                continue;
              }
              const [yLow, yHigh, ly] = bilinearAxis(y, h);
              const [xLow, xHigh, lx] = bilinearAxis(xs, w);
              taps.push(yLow * w + xLow, (1 - ly) * (1 - lx), yLow * w + xHigh, (1 - ly) * lx, yHigh * w + xLow, ly * (1 - lx), yHigh * w + xHigh, ly * lx);
            }
          }
          for (let ch = 0; ch < c; ch++) {
            const base = (b * c + ch) * h * w;
            let acc = 0;
            let first = true;
            for (let t = 0; t < taps.length; t += 8) {
              const v1 = taps[t + 1]! * xd[base + taps[t]!]!;
              const v2 = taps[t + 3]! * xd[base + taps[t + 2]!]!;
              const v3 = taps[t + 5]! * xd[base + taps[t + 4]!]!;
              const v4 = taps[t + 7]! * xd[base + taps[t + 6]!]!;
              if (mode === 'avg') acc += v1 + v2 + v3 + v4;
              else {
                const m = Math.max(v1, v2, v3, v4);
                acc = first ? m : Math.max(acc, m);
                first = false;
              }
            }
            out[((k * c + ch) * outH + ph) * outW + pw] = mode === 'avg' ? acc / count : acc;
          }
        }
      }
    }
    return [{ dtype: DataType.FLOAT, dims: [r, c, outH, outW], data: out }];
  },
};

export const RESIZE_KERNELS: KernelConfig[] = [
  roiAlign,
  gridSample,
  { opType: 'Resize', run: (ctx) => runResize(ctx, ctx.opset < 11) },
  { opType: 'Upsample', run: (ctx) => runResize(ctx, true) },
];
