import { DataType, dtypeName } from '../ir/index.js';
import { KernelConfig, KernelContext, RtTensor, kernelError, requireInput, sizeOf } from './kernel.js';
import { NumberArray, allocate, formatDims, integerValues } from './broadcast.js';

// Training losses that exported models keep: NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss
// (opsets 12 and 13, which differ only in the types they allow). Sums run in float64.

function floatData(ctx: KernelContext, t: RtTensor, what: string): NumberArray {
  if (t.dtype !== DataType.FLOAT && t.dtype !== DataType.DOUBLE) {
    throw kernelError(ctx.node, `${what} has type ${dtypeName(t.dtype)}; bnc runs ${ctx.node.opType} on float32 and float64`);
  }
  return t.data as NumberArray;
}

/**
 * loss[n, d] = -w[t] · x[n, t, d] with t = target[n, d] and w = weight (1 when absent), over input
 * [N, C, d1..dk] (d = the flattened d1..dk) and target [N, d1..dk]. A target equal to ignore_index gives
 * loss 0 and weight 0. reduction 'none' returns [N, d1..dk]; 'sum' the total; 'mean' the total divided by
 * the sum of the weights used (ONNX NegativeLogLikelihoodLoss-13).
 */
function negativeLogLikelihood(ctx: KernelContext, x: NumberArray, dims: number[], dtype: DataType, target: RtTensor, weight: RtTensor | undefined): RtTensor {
  if (dims.length < 2) throw kernelError(ctx.node, `input ${formatDims(dims)} must have rank 2 or more ([N, C, ...])`);
  const [n, c] = [dims[0]!, dims[1]!];
  const inner = sizeOf(dims.slice(2));
  const targetDims = [n, ...dims.slice(2)];
  if (target.dims.length !== targetDims.length || target.dims.some((d, i) => d !== targetDims[i])) {
    throw kernelError(ctx.node, `target ${formatDims(target.dims)} must have shape ${formatDims(targetDims)} for input ${formatDims(dims)}`);
  }
  const labels = integerValues(ctx.node, target, 'target');
  const w = weight ? floatData(ctx, weight, 'weight') : undefined;
  if (weight && (weight.dims.length !== 1 || weight.dims[0] !== c)) throw kernelError(ctx.node, `weight ${formatDims(weight.dims)} must be [${c}]`);
  const ignore = ctx.attrs.int('ignore_index');
  const reduction = ctx.attrs.string('reduction', 'mean');
  if (!['none', 'sum', 'mean'].includes(reduction)) throw kernelError(ctx.node, `reduction '${reduction}' is not one of none, sum, mean`);
  const loss = new Float64Array(n * inner);
  let weightSum = 0;
  for (let b = 0; b < n; b++) {
    for (let d = 0; d < inner; d++) {
      const i = b * inner + d;
      const t = labels[i]!;
      if (t === ignore) continue;
      if (t < 0 || t >= c) throw kernelError(ctx.node, `target value ${t} is outside [0, ${c}) and is not ignore_index`);
      const wt = w ? w[t]! : 1;
      loss[i] = -wt * x[(b * c + t) * inner + d]!;
      weightSum += wt;
    }
  }
  if (reduction === 'none') {
    const out = allocate(ctx.node, dtype, loss.length) as NumberArray;
    out.set(loss);
    return { dtype, dims: targetDims, data: out };
  }
  let total = 0;
  for (let i = 0; i < loss.length; i++) total += loss[i]!;
  const out = allocate(ctx.node, dtype, 1) as NumberArray;
  out[0] = reduction === 'sum' ? total : total / weightSum;
  return { dtype, dims: [], data: out };
}

const nllLoss: KernelConfig = {
  opType: 'NegativeLogLikelihoodLoss',
  run(ctx) {
    const x = requireInput(ctx, 0, 'input');
    const data = floatData(ctx, x, 'input');
    return [negativeLogLikelihood(ctx, data, x.dims, x.dtype, requireInput(ctx, 1, 'target'), ctx.inputs[2])];
  },
};

/**
 * SoftmaxCrossEntropyLoss-13: log_prob = LogSoftmax over axis 1 of scores [N, C, d1..dk], then
 * NegativeLogLikelihoodLoss of log_prob with the same labels, weights, ignore_index and reduction.
 * The optional second output is log_prob.
 */
const softmaxCrossEntropy: KernelConfig = {
  opType: 'SoftmaxCrossEntropyLoss',
  run(ctx) {
    const x = requireInput(ctx, 0, 'scores');
    const data = floatData(ctx, x, 'scores');
    if (x.dims.length < 2) throw kernelError(ctx.node, `scores ${formatDims(x.dims)} must have rank 2 or more ([N, C, ...])`);
    const [n, c] = [x.dims[0]!, x.dims[1]!];
    const inner = sizeOf(x.dims.slice(2));
    const logProb = allocate(ctx.node, x.dtype, data.length) as NumberArray;
    for (let b = 0; b < n; b++) {
      for (let d = 0; d < inner; d++) {
        const base = b * c * inner + d;
        let max = -Infinity;
        for (let k = 0; k < c; k++) max = Math.max(max, data[base + k * inner]!);
        let sum = 0;
        for (let k = 0; k < c; k++) sum += Math.exp(data[base + k * inner]! - max);
        const logSum = Math.log(sum);
        for (let k = 0; k < c; k++) logProb[base + k * inner] = data[base + k * inner]! - max - logSum;
      }
    }
    const loss = negativeLogLikelihood(ctx, logProb, x.dims, x.dtype, requireInput(ctx, 1, 'labels'), ctx.inputs[2]);
    return [loss, { dtype: x.dtype, dims: [...x.dims], data: logProb }];
  },
};

export const LOSS_KERNELS: KernelConfig[] = [nllLoss, softmaxCrossEntropy];
