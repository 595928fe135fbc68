import { DataType } from '../ir/index.js';
import { KernelConfig, KernelContext, RtTensor, floatTensor, kernelError, requireFloat, requireInput } from './kernel.js';
import { MAX_SPATIAL_RANK, WindowGeometry, forwardGeometry, product, realOutputShape, validOutputRange } from './windowGeometry.js';
import { floatOutput } from './parallel.js';

// MaxPool, AveragePool (1-D to 3-D, in the 3-D form of windowGeometry), the global pools, and LRN.
// Windows are walked per output row: for each tap along W the range of outputs whose tap reads real input
// is precomputed, so the inner loops carry no bounds checks.

interface PoolInput {
  x: RtTensor;
  data: Float32Array;
  planes: number;
  g: WindowGeometry;
}

/** ceil_mode exists since opset 10; dilations since 10 for MaxPool and 19 for AveragePool. */
export function poolWindowOptions(ctx: KernelContext): { ceilMode: boolean; dilations: boolean } {
  return {
    ceilMode: ctx.opset >= 10 && ctx.attrs.int('ceil_mode', 0) !== 0,
    dilations: ctx.opset >= (ctx.node.opType === 'MaxPool' ? 10 : 19),
  };
}

function readPoolInput(ctx: KernelContext, options: { ceilMode: boolean; dilations: boolean }): PoolInput {
  const x = requireInput(ctx, 0, 'input X');
  const data = requireFloat(ctx, x, 'input X');
  if (x.dims.length < 3 || x.dims.length > 2 + MAX_SPATIAL_RANK) {
    throw kernelError(ctx.node, `input X has shape [${x.dims}]; bnc pools 1-D, 2-D and 3-D inputs (rank 3 to 5)`);
  }
  const kernel = ctx.attrs.ints('kernel_shape');
  if (!kernel) throw kernelError(ctx.node, `attribute 'kernel_shape' is required`);
  const g = forwardGeometry(ctx, x.dims.slice(2), kernel, options);
  return { x, data, planes: x.dims[0]! * x.dims[1]!, g };
}

/** Per W-tap valid output ranges, and the tap offsets along W. */
function wRanges(g: WindowGeometry): { lo: Int32Array; hi: Int32Array } {
  const kW = g.kernel[2]!;
  const lo = new Int32Array(kW);
  const hi = new Int32Array(kW);
  for (let kw = 0; kw < kW; kw++) {
    [lo[kw], hi[kw]] = validOutputRange(g.output[2]!, g.input[2]!, g.strides[2]!, g.padBegin[2]!, kw * g.dilations[2]!);
  }
  return { lo, hi };
}

const LOWEST_FLOAT32 = -3.4028234663852886e38;

const maxPool: KernelConfig = {
  opType: 'MaxPool',
  run(ctx) {
    const p = readPoolInput(ctx, poolWindowOptions(ctx));
    const wantIndices = ctx.node.outputs.length > 1 && ctx.node.outputs[1] !== '';
    const storageOrder = ctx.attrs.int('storage_order', 0);
    if (wantIndices && storageOrder !== 0 && p.g.rank !== 2) {
      throw kernelError(ctx.node, 'the Indices output with storage_order=1 is supported for 2-D pooling only');
    }
    const { g, data, planes } = p;
    const [inD, inH, inW] = g.input as [number, number, number];
    const [outD, outH, outW] = g.output as [number, number, number];
    const [kD, kH, kW] = g.kernel as [number, number, number];
    const [sD, sH, sW] = g.strides as [number, number, number];
    const [dD, dH, dW] = g.dilations as [number, number, number];
    const [pD, pH, pW] = g.padBegin as [number, number, number];
    const { lo, hi } = wRanges(g);
    const inPlane = inD * inH * inW;
    const outPlane = outD * outH * outW;
    const out = floatOutput(planes * outPlane);
    if (!wantIndices && !hasNaNOrNegativeZero(new Int32Array(data.buffer, data.byteOffset, data.length))) {
      maxPoolValues(data, out, planes, g, lo, hi);
      return [floatTensor([p.x.dims[0]!, p.x.dims[1]!, ...realOutputShape(g)], out)];
    }
    // Flat input index of each output's maximum (only filled when the Indices output is wanted).
    const argmax = wantIndices ? new Float64Array(planes * outPlane) : undefined;
    const row = new Float32Array(outW);
    const rowArg = new Float64Array(outW);
    for (let plane = 0; plane < planes; plane++) {
      const inBase = plane * inPlane;
      for (let od = 0; od < outD; od++) {
        for (let oh = 0; oh < outH; oh++) {
          row.fill(-Infinity);
          rowArg.fill(-1);
          for (let kd = 0; kd < kD; kd++) {
            const id = od * sD - pD + kd * dD;
            if (id < 0 || id >= inD) continue;
            for (let kh = 0; kh < kH; kh++) {
              const ih = oh * sH - pH + kh * dH;
              if (ih < 0 || ih >= inH) continue;
              const rowBase = inBase + (id * inH + ih) * inW - pW;
              for (let kw = 0; kw < kW; kw++) {
                let i = rowBase + lo[kw]! * sW + kw * dW;
                for (let ow = lo[kw]!; ow < hi[kw]!; ow++, i += sW) {
                  const v = data[i]!;
                  // Strictly greater: the first maximum in window order wins, as in onnxruntime.
                  if (v > row[ow]! || rowArg[ow] === -1) {
                    row[ow] = v;
                    rowArg[ow] = i;
                  }
                }
              }
            }
          }
          const o = plane * outPlane + (od * outH + oh) * outW;
          // A dilated window can miss the input entirely: onnxruntime gives the lowest float there.
          for (let ow = 0; ow < outW; ow++) if (rowArg[ow] === -1) row[ow] = LOWEST_FLOAT32;
          out.set(row, o);
          if (argmax) argmax.set(rowArg, o);
        }
      }
    }
    const dims = [p.x.dims[0]!, p.x.dims[1]!, ...realOutputShape(g)];
    const results: RtTensor[] = [floatTensor(dims, out)];
    if (argmax) {
      const indices = new BigInt64Array(argmax.length);
      for (let k = 0; k < argmax.length; k++) {
        let flat = argmax[k]!;
        if (storageOrder !== 0) {
          // Column-major within the H×W plane: index = plane base + w·H + h.
          const planeBase = Math.floor(flat / inPlane) * inPlane;
          const inPlaneIndex = flat - planeBase;
          flat = planeBase + (inPlaneIndex % inW) * inH + Math.floor(inPlaneIndex / inW);
        }
        indices[k] = BigInt(flat);
      }
      results.push({ dtype: DataType.INT64, dims: [...dims], data: indices });
    }
    return results;
  },
};

/**
 * Whether the float32 bits hold a NaN or a -0. Without either, two equal floats have equal bits, so the
 * maximum of a window does not depend on which tap came first (onnxruntime keeps the first): MaxPool can
 * then take a plain running maximum (maxPoolValues).
 */
function hasNaNOrNegativeZero(bits: Int32Array): boolean {
  for (let i = 0; i < bits.length; i++) {
    const b = bits[i]!;
    if (b === -2147483648 || (b & 0x7fffffff) > 0x7f800000) return true;
  }
  return false;
}

/**
 * MaxPool values without indices, for inputs free of NaN and -0 (see hasNaNOrNegativeZero): a running
 * maximum per output row, with no per-tap bookkeeping. Windows that read no input (dilated windows can
 * miss it) give the lowest float, as onnxruntime does.
 */
function maxPoolValues(data: Float32Array, out: Float32Array, planes: number, g: WindowGeometry, lo: Int32Array, hi: Int32Array): void {
  const [inD, inH, inW] = g.input as [number, number, number];
  const [outD, outH, outW] = g.output as [number, number, number];
  const [kD, kH, kW] = g.kernel as [number, number, number];
  const [sD, sH, sW] = g.strides as [number, number, number];
  const [dD, dH, dW] = g.dilations as [number, number, number];
  const [pD, pH] = g.padBegin as [number, number, number];
  const pW = g.padBegin[2]!;
  const inPlane = inD * inH * inW;
  const outPlane = outD * outH * outW;
  // Outputs along W that some tap along W reaches inside the input.
  const covered = new Uint8Array(outW);
  for (let kw = 0; kw < kW; kw++) covered.fill(1, lo[kw]!, Math.max(lo[kw]!, hi[kw]!));
  const row = new Float32Array(outW);
  for (let plane = 0; plane < planes; plane++) {
    const inBase = plane * inPlane;
    for (let od = 0; od < outD; od++) {
      for (let oh = 0; oh < outH; oh++) {
        row.fill(-Infinity);
        let taps = false;
        for (let kd = 0; kd < kD; kd++) {
          const id = od * sD - pD + kd * dD;
          if (id < 0 || id >= inD) continue;
          for (let kh = 0; kh < kH; kh++) {
            const ih = oh * sH - pH + kh * dH;
            if (ih < 0 || ih >= inH) continue;
            taps = true;
            const rowBase = inBase + (id * inH + ih) * inW - pW;
            for (let kw = 0; kw < kW; kw++) maxInto(row, data, rowBase + lo[kw]! * sW + kw * dW, sW, lo[kw]!, hi[kw]!);
          }
        }
        for (let ow = 0; ow < outW; ow++) if (!taps || !covered[ow]) row[ow] = LOWEST_FLOAT32;
        out.set(row, plane * outPlane + (od * outH + oh) * outW);
      }
    }
  }
}

/** row[ow] = max(row[ow], data[i]) for ow in [from, to), i stepping by `step` (its own function: V8 optimizes it once). */
function maxInto(row: Float32Array, data: Float32Array, i: number, step: number, from: number, to: number): void {
  for (let ow = from; ow < to; ow++, i += step) {
    const v = data[i]!;
    const r = row[ow]!;
    row[ow] = v > r ? v : r;
  }
}

const averagePool: KernelConfig = {
  opType: 'AveragePool',
  run(ctx) {
    const p = readPoolInput(ctx, poolWindowOptions(ctx));
    const countPad = ctx.opset >= 7 && ctx.attrs.int('count_include_pad', 0) !== 0;
    const { g, data, planes } = p;
    const [inD, inH, inW] = g.input as [number, number, number];
    const [outD, outH, outW] = g.output as [number, number, number];
    const [kD, kH, kW] = g.kernel as [number, number, number];
    const [sD, sH, sW] = g.strides as [number, number, number];
    const [dD, dH, dW] = g.dilations as [number, number, number];
    const [pD, pH, pW] = g.padBegin as [number, number, number];
    const [eD, eH, eW] = g.padEnd as [number, number, number];
    const { lo, hi } = wRanges(g);
    const inPlane = inD * inH * inW;
    const outPlane = outD * outH * outW;
    const out = floatOutput(planes * outPlane);
    // Divisor along each axis for each output position: taps inside the input, or (count_include_pad)
    // taps inside input + padding; taps beyond the end padding (ceil_mode) never count.
    const divisor = (outSize: number, inSize: number, k: number, s: number, d: number, pBegin: number, pEnd: number) => {
      const counts = new Float64Array(outSize);
      for (let o = 0; o < outSize; o++) {
        for (let t = 0; t < k; t++) {
          const i = o * s - pBegin + t * d;
          if (countPad ? i < inSize + pEnd : i >= 0 && i < inSize) counts[o]++;
        }
      }
      return counts;
    };
    const countD = divisor(outD, inD, kD, sD, dD, pD, eD);
    const countH = divisor(outH, inH, kH, sH, dH, pH, eH);
    const countW = divisor(outW, inW, kW, sW, dW, pW, eW);
    const row = new Float64Array(outW);
    for (let plane = 0; plane < planes; plane++) {
      const inBase = plane * inPlane;
      for (let od = 0; od < outD; od++) {
        for (let oh = 0; oh < outH; oh++) {
          row.fill(0);
          for (let kd = 0; kd < kD; kd++) {
            const id = od * sD - pD + kd * dD;
            if (id < 0 || id >= inD) continue;
            for (let kh = 0; kh < kH; kh++) {
              const ih = oh * sH - pH + kh * dH;
              if (ih < 0 || ih >= inH) continue;
              const rowBase = inBase + (id * inH + ih) * inW - pW;
              for (let kw = 0; kw < kW; kw++) {
                let i = rowBase + lo[kw]! * sW + kw * dW;
                for (let ow = lo[kw]!; ow < hi[kw]!; ow++, i += sW) row[ow] += data[i]!;
              }
            }
          }
          const o = plane * outPlane + (od * outH + oh) * outW;
          const planeCount = countD[od]! * countH[oh]!;
          // A dilated window can miss the input entirely: it averages to 0 (as onnxruntime), not 0/0.
          for (let ow = 0; ow < outW; ow++) {
            const count = planeCount * countW[ow]!;
            out[o + ow] = count ? row[ow]! / count : 0;
          }
        }
      }
    }
    return [floatTensor([p.x.dims[0]!, p.x.dims[1]!, ...realOutputShape(g)], out)];
  },
};

function globalPool(opType: string, reduce: 'mean' | 'max'): KernelConfig {
  return {
    opType,
    run(ctx) {
      const x = requireInput(ctx, 0, 'input X');
      const data = requireFloat(ctx, x, 'input X');
      if (x.dims.length < 2) throw kernelError(ctx.node, `input X has shape [${x.dims}]; it needs N and C axes`);
      const planes = x.dims[0]! * x.dims[1]!;
      const plane = product(x.dims.slice(2));
      const out = new Float32Array(planes);
      for (let p = 0; p < planes; p++) {
        const start = p * plane;
        if (reduce === 'mean') {
          let sum = 0;
          for (let i = start; i < start + plane; i++) sum += data[i]!;
          out[p] = sum / plane;
        } else {
          let max = -Infinity;
          for (let i = start; i < start + plane; i++) if (data[i]! > max || Number.isNaN(data[i]!)) max = data[i]!;
          out[p] = max;
        }
      }
      return [floatTensor([x.dims[0]!, x.dims[1]!, ...x.dims.slice(2).map(() => 1)], out)];
    },
  };
}

/**
 * Local response normalization across channels:
 *   y = x / (bias + alpha/size · Σ x²)^beta over channels [c - ⌊(size-1)/2⌋, c + ⌈(size-1)/2⌉].
 */
const lrn: KernelConfig = {
  opType: 'LRN',
  run(ctx) {
    const x = requireInput(ctx, 0, 'input X');
    const data = requireFloat(ctx, x, 'input X');
    if (x.dims.length < 3) throw kernelError(ctx.node, `input X has shape [${x.dims}]; LRN needs (N, C, D1, ...)`);
    const size = ctx.attrs.int('size');
    if (size === undefined || size < 1) throw kernelError(ctx.node, `attribute 'size' is required and must be positive`);
    const alpha = ctx.attrs.float('alpha', 0.0001);
    const beta = ctx.attrs.float('beta', 0.75);
    const bias = ctx.attrs.float('bias', 1);
    const [batch, channels] = x.dims as [number, number];
    const plane = product(x.dims.slice(2));
    const before = Math.floor((size - 1) / 2);
    const after = Math.ceil((size - 1) / 2);
    const out = floatOutput(data.length);
    const sums = new Float64Array(plane);
    for (let n = 0; n < batch; n++) {
      const base = n * channels * plane;
      for (let c = 0; c < channels; c++) {
        sums.fill(0);
        const first = Math.max(0, c - before);
        const last = Math.min(channels - 1, c + after);
        for (let k = first; k <= last; k++) {
          const s = base + k * plane;
          for (let i = 0; i < plane; i++) sums[i] += data[s + i]! * data[s + i]!;
        }
        const o = base + c * plane;
        const scale = alpha / size;
        for (let i = 0; i < plane; i++) out[o + i] = data[o + i]! / Math.pow(bias + scale * sums[i]!, beta);
      }
    }
    return [floatTensor([...x.dims], out)];
  },
};

export const POOL_KERNELS: KernelConfig[] = [maxPool, averagePool, globalPool('GlobalAveragePool', 'mean'), globalPool('GlobalMaxPool', 'max'), lrn];
