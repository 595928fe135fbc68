import { KernelConfig, KernelContext, RtTensor, floatTensor, kernelError, requireFloat, requireInput } from './kernel.js';
import { broadcastTo, formatDims, normalizeAxis } from './broadcast.js';
import { floatOutput, runPointwise } from './parallel.js';

// BatchNormalization (inference and batch-statistics training mode, opset 6..15 forms), and the
// InstanceNormalization, LayerNormalization and GroupNormalization families. Statistics are computed in
// doubles; each channel's normalization is folded into one multiply-add y = x·a + b.

function requireParam(ctx: KernelContext, index: number, what: string, size: number): Float32Array {
  const t = requireInput(ctx, index, what);
  const data = requireFloat(ctx, t, what);
  if (data.length !== size) throw kernelError(ctx.node, `${what} has shape ${formatDims(t.dims)}, expected ${size} values`);
  return data;
}

/**
 * Statistics per channel (`channels` of them) over `plane` elements of each image. X is (N x C x D1 ...);
 * a 1-D X of size N has C = 1 (opset 9 onwards says so; earlier opsets are read the same way). With
 * spatial=0 (opsets 6 to 8) there is one set of statistics per element of X[1:]: shaped C x D1 x ... Dn.
 */
export function batchNormGeometry(opset: number, spatialAttr: number, dims: readonly number[]): { channels: number; plane: number } {
  const spatial = opset >= 9 || spatialAttr !== 0;
  if (!spatial) return { channels: dims.slice(1).reduce((a, b) => a * b, 1), plane: 1 };
  return { channels: dims.length >= 2 ? dims[1]! : 1, plane: dims.slice(2).reduce((a, b) => a * b, 1) };
}

/**
 * Whether a BatchNormalization node uses batch statistics. Opset 14+: training_mode=1. Before 14 there is
 * no attribute: requesting the optional running/saved statistics outputs means training (as onnxruntime
 * reads it); opset 6's is_test=1 forces inference.
 */
function isTrainingBatchNorm(ctx: KernelContext): boolean {
  if (ctx.opset >= 14) return ctx.attrs.int('training_mode', 0) !== 0;
  if (ctx.opset < 7 && ctx.attrs.int('is_test', 0) !== 0) return false;
  return ctx.node.outputs.filter((o) => o !== '').length > 1;
}

const batchNormalization: KernelConfig = {
  opType: 'BatchNormalization',
  run(ctx) {
    const x = requireInput(ctx, 0, 'input X');
    const xData = requireFloat(ctx, x, 'input X');
    if (x.dims.length < 1) throw kernelError(ctx.node, `input X is a scalar; it needs at least the N axis`);
    const epsilon = ctx.attrs.float('epsilon', 1e-5);
    const momentum = ctx.attrs.float('momentum', 0.9);
    const batch = x.dims[0]!;
    const { channels, plane } = batchNormGeometry(ctx.opset, ctx.attrs.int('spatial', 1), x.dims);
    const scale = requireParam(ctx, 1, 'scale', channels);
    const bias = requireParam(ctx, 2, 'B', channels);
    const mean = requireParam(ctx, 3, 'input_mean', channels);
    const variance = requireParam(ctx, 4, 'input_var', channels);
    const training = isTrainingBatchNorm(ctx);

    let useMean: ArrayLike<number> = mean;
    let useVar: ArrayLike<number> = variance;
    let batchMean: Float64Array | undefined;
    let batchVar: Float64Array | undefined;
    if (training) {
      // Population statistics over N and the spatial axes.
      batchMean = new Float64Array(channels);
      batchVar = new Float64Array(channels);
      const count = batch * plane;
      for (let n = 0; n < batch; n++) {
        for (let c = 0; c < channels; c++) {
          const s = (n * channels + c) * plane;
          let sum = 0;
          for (let i = s; i < s + plane; i++) sum += xData[i]!;
          batchMean[c] += sum;
        }
      }
      for (let c = 0; c < channels; c++) batchMean[c] /= count;
      for (let n = 0; n < batch; n++) {
        for (let c = 0; c < channels; c++) {
          const s = (n * channels + c) * plane;
          const m = batchMean[c]!;
          let sum = 0;
          for (let i = s; i < s + plane; i++) sum += (xData[i]! - m) * (xData[i]! - m);
          batchVar[c] += sum;
        }
      }
      for (let c = 0; c < channels; c++) batchVar[c] /= count;
      useMean = batchMean;
      useVar = batchVar;
    }

    // Over a dying input, in place (the statistics above are taken first; each element is read, then written).
    const out = ctx.canOverwrite?.(0) ? xData : floatOutput(xData.length);
    const a = new Float64Array(channels);
    const b = new Float64Array(channels);
    for (let c = 0; c < channels; c++) {
      a[c] = scale[c]! / Math.sqrt(useVar[c]! + epsilon);
      b[c] = bias[c]! - useMean[c]! * a[c]!;
    }
    // out[n, c, i] = x[n, c, i]·a[c] + b[c], on worker threads too when large (see pointwise.ts).
    runPointwise({ op: 'channelAffine', x: xData, out, a, b, channels, plane, count: batch * channels }, ctx.threads);
    const results: RtTensor[] = [floatTensor([...x.dims], out)];
    if (training && batchMean && batchVar) {
      const paramDims = ctx.inputs[3]!.dims;
      const running = (stored: Float32Array, current: Float64Array) => {
        const r = new Float32Array(channels);
        for (let c = 0; c < channels; c++) r[c] = stored[c]! * momentum + current[c]! * (1 - momentum);
        return floatTensor([...paramDims], r);
      };
      results.push(running(mean, batchMean), running(variance, batchVar));
      if (ctx.opset < 14) {
        // saved_mean and saved_var: the batch statistics themselves.
        results.push(floatTensor([...paramDims], Float32Array.from(batchMean)), floatTensor([...paramDims], Float32Array.from(batchVar)));
      }
    }
    return results;
  },
};

/**
 * Normalize `groups` consecutive runs of `runLength` values each: out = (x - mean) / sqrt(var + eps),
 * then the caller's affine step. Returns the mean and 1/std of each run.
 */
function normalizeRuns(x: Float32Array, out: Float32Array, groups: number, runLength: number, epsilon: number): { mean: Float64Array; invStd: Float64Array } {
  const mean = new Float64Array(groups);
  const invStd = new Float64Array(groups);
  for (let g = 0; g < groups; g++) {
    const s = g * runLength;
    let sum = 0;
    for (let i = s; i < s + runLength; i++) sum += x[i]!;
    const m = sum / runLength;
    let sq = 0;
    for (let i = s; i < s + runLength; i++) sq += (x[i]! - m) * (x[i]! - m);
    const inv = 1 / Math.sqrt(sq / runLength + epsilon);
    for (let i = s; i < s + runLength; i++) out[i] = (x[i]! - m) * inv;
    mean[g] = m;
    invStd[g] = inv;
  }
  return { mean, invStd };
}

const instanceNormalization: KernelConfig = {
  opType: 'InstanceNormalization',
  run(ctx) {
    const x = requireInput(ctx, 0, 'input');
    const xData = requireFloat(ctx, x, 'input');
    if (x.dims.length < 3) throw kernelError(ctx.node, `input has shape ${formatDims(x.dims)}; it needs (N, C, D1, ...)`);
    const [batch, channels] = x.dims as [number, number];
    const plane = x.dims.slice(2).reduce((a, b) => a * b, 1);
    const scale = requireParam(ctx, 1, 'scale', channels);
    const bias = requireParam(ctx, 2, 'B', channels);
    const out = floatOutput(xData.length);
    normalizeRuns(xData, out, batch * channels, plane, ctx.attrs.float('epsilon', 1e-5));
    for (let n = 0; n < batch; n++) {
      for (let c = 0; c < channels; c++) {
        const s = (n * channels + c) * plane;
        for (let i = s; i < s + plane; i++) out[i] = out[i]! * scale[c]! + bias[c]!;
      }
    }
    return [floatTensor([...x.dims], out)];
  },
};

const layerNormalization: KernelConfig = {
  opType: 'LayerNormalization',
  run(ctx) {
    const x = requireInput(ctx, 0, 'X');
    const xData = requireFloat(ctx, x, 'X');
    const axis = normalizeAxis(ctx.node, ctx.attrs.int('axis', -1), x.dims.length);
    const normDims = x.dims.slice(axis);
    const inner = normDims.reduce((a, b) => a * b, 1);
    const outer = xData.length / (inner || 1);
    // Scale and B broadcast to the normalized shape (numpy rules, right-aligned).
    const affine = (index: number, what: string): Float32Array | undefined => {
      const t = ctx.inputs[index];
      if (!t) return undefined;
      requireFloat(ctx, t, what);
      if (t.dims.length > normDims.length) throw kernelError(ctx.node, `${what} ${formatDims(t.dims)} does not broadcast to the normalized shape ${formatDims(normDims)}`);
      return broadcastTo(ctx.node, t, normDims).data as Float32Array;
    };
    const scale = affine(1, 'Scale');
    if (!scale) throw kernelError(ctx.node, 'input Scale is missing');
    const bias = affine(2, 'B');
    const out = floatOutput(xData.length);
    const { mean, invStd } = normalizeRuns(xData, out, outer, inner, ctx.attrs.float('epsilon', 1e-5));
    for (let r = 0; r < outer; r++) {
      const s = r * inner;
      for (let i = 0; i < inner; i++) out[s + i] = out[s + i]! * scale[i]! + (bias ? bias[i]! : 0);
    }
    const statDims = x.dims.map((d, i) => (i < axis ? d : 1));
    return [
      floatTensor([...x.dims], out),
      floatTensor([...statDims], Float32Array.from(mean)),
      floatTensor([...statDims], Float32Array.from(invStd)),
    ];
  },
};

/**
 * GroupNormalization: channels split into num_groups groups, each normalized over its channels and the
 * spatial axes. Opset 18 has one scale/bias per group; opset 21 one per channel.
 */
const groupNormalization: KernelConfig = {
  opType: 'GroupNormalization',
  run(ctx) {
    const x = requireInput(ctx, 0, 'X');
    const xData = requireFloat(ctx, x, 'X');
    if (x.dims.length < 3) throw kernelError(ctx.node, `X has shape ${formatDims(x.dims)}; it needs (N, C, D1, ...)`);
    const groups = ctx.attrs.int('num_groups');
    const [batch, channels] = x.dims as [number, number];
    if (groups === undefined || groups < 1 || channels % groups !== 0) {
      throw kernelError(ctx.node, `num_groups ${groups} must be given and divide the ${channels} channels`);
    }
    const perChannel = ctx.opset >= 21;
    const paramSize = perChannel ? channels : groups;
    const scale = requireParam(ctx, 1, 'scale', paramSize);
    const bias = requireParam(ctx, 2, 'bias', paramSize);
    const plane = x.dims.slice(2).reduce((a, b) => a * b, 1);
    const groupChannels = channels / groups;
    const out = floatOutput(xData.length);
    normalizeRuns(xData, out, batch * groups, groupChannels * plane, ctx.attrs.float('epsilon', 1e-5));
    for (let n = 0; n < batch; n++) {
      for (let c = 0; c < channels; c++) {
        const p = perChannel ? c : Math.floor(c / groupChannels);
        const s = (n * channels + c) * plane;
        for (let i = s; i < s + plane; i++) out[i] = out[i]! * scale[p]! + bias[p]!;
      }
    }
    return [floatTensor([...x.dims], out)];
  },
};

/** For each element of `dims` (C order), the index of its group: the coordinates of the axes not in `reduced`. */
function groupIndex(dims: readonly number[], reduced: readonly boolean[]): { index: Int32Array; groups: number } {
  const total = dims.reduce((a, b) => a * b, 1);
  const index = new Int32Array(total);
  const strides = new Array<number>(dims.length).fill(0);
  let groups = 1;
  for (let a = dims.length - 1; a >= 0; a--) {
    if (!reduced[a]) {
      strides[a] = groups;
      groups *= dims[a]!;
    }
  }
  const counter = new Array<number>(dims.length).fill(0);
  let g = 0;
  for (let i = 0; i < total; i++) {
    index[i] = g;
    for (let a = dims.length - 1; a >= 0; a--) {
      g += strides[a]!;
      if (++counter[a]! < dims[a]!) break;
      g -= strides[a]! * dims[a]!;
      counter[a] = 0;
    }
  }
  return { index, groups };
}

/**
 * MeanVarianceNormalization-9/13: (x - mean) / (std + 1e-9) with mean and the biased std over `axes`
 * (default [0, 2, 3]), as ONNX's function body computes them.
 */
const meanVarianceNormalization: KernelConfig = {
  opType: 'MeanVarianceNormalization',
  run(ctx) {
    const x = requireInput(ctx, 0, 'X');
    const data = requireFloat(ctx, x, 'X');
    const rank = x.dims.length;
    const reduced = new Array<boolean>(rank).fill(false);
    for (const a of ctx.attrs.ints('axes', [0, 2, 3])) reduced[normalizeAxis(ctx.node, a, rank)] = true;
    const { index, groups } = groupIndex(x.dims, reduced);
    const sum = new Float64Array(groups);
    const sumSq = new Float64Array(groups);
    const count = new Float64Array(groups);
    for (let i = 0; i < data.length; i++) {
      const g = index[i]!;
      sum[g] = sum[g]! + data[i]!;
      sumSq[g] = sumSq[g]! + data[i]! * data[i]!;
      count[g] = count[g]! + 1;
    }
    const out = floatOutput(data.length);
    for (let i = 0; i < data.length; i++) {
      const g = index[i]!;
      const mean = sum[g]! / count[g]!;
      const std = Math.sqrt(Math.max(0, sumSq[g]! / count[g]! - mean * mean));
      out[i] = (data[i]! - mean) / (std + 1e-9);
    }
    return [floatTensor([...x.dims], out)];
  },
};

/** LpNormalization-1: x divided by its L1 or L2 norm along `axis` (default -1); a zero norm leaves zeros. */
const lpNormalization: KernelConfig = {
  opType: 'LpNormalization',
  run(ctx) {
    const x = requireInput(ctx, 0, 'input');
    const data = requireFloat(ctx, x, 'input');
    const axis = normalizeAxis(ctx.node, ctx.attrs.int('axis', -1), x.dims.length);
    const p = ctx.attrs.int('p', 2);
    if (p !== 1 && p !== 2) throw kernelError(ctx.node, `p must be 1 or 2, not ${p}`);
    const reduced = x.dims.map((_, a) => a === axis);
    const { index, groups } = groupIndex(x.dims, reduced);
    const norm = new Float64Array(groups);
    for (let i = 0; i < data.length; i++) norm[index[i]!] = norm[index[i]!]! + (p === 1 ? Math.abs(data[i]!) : data[i]! * data[i]!);
    if (p === 2) for (let g = 0; g < groups; g++) norm[g] = Math.sqrt(norm[g]!);
    const out = floatOutput(data.length);
    for (let i = 0; i < data.length; i++) out[i] = norm[index[i]!] ? data[i]! / norm[index[i]!]! : 0;
    return [floatTensor([...x.dims], out)];
  },
};

export const NORMALIZATION_KERNELS: KernelConfig[] = [
  batchNormalization,
  instanceNormalization,
  layerNormalization,
  groupNormalization,
  meanVarianceNormalization,
  lpNormalization,
];
