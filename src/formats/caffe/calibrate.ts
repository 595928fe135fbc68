import { BncError, DataType, Model, Node, Tensor } from '../../ir/index.js';
import { RtTensor } from '../../runtime/kernel.js';
import { modelInputs, runModel } from '../../runtime/engine.js';
import { fillNormal, mulberry32 } from '../../util/seededRandom.js';

/** Logit standard deviation the classifier is scaled to: a softmax that is confident but not one-hot. */
export const CLASSIFIER_LOGIT_STD = 2;

export interface CalibrationReport {
  /** BatchNormalization nodes whose running statistics were set from their input. */
  batchNorms: number;
  /** The classifier node scaled to logit std CLASSIFIER_LOGIT_STD, if one was found. */
  classifier?: string;
}

// Ops a classifier's logits may pass through on their way to the Softmax or the net output.
const PASS_THROUGH = new Set(['Flatten', 'Reshape', 'Identity', 'Squeeze', 'Unsqueeze', 'Transpose']);

/**
 * Make seeded random weights behave like a trained net's, so that `--random-weights` checks compare
 * something: with He-normal weights alone the activations of a deep net drift, and a ResNet-50 prints a
 * one-hot softmax, which any converter reproduces. One forward pass of bnc's runtime on a seeded
 * standard-normal batch (the net's declared input shapes):
 *  - before each inference BatchNormalization runs, its running mean and variance become the per-channel
 *    statistics (over N and the spatial axes) of its actual input, perturbed by a few percent so a folded
 *    BN is not an identity; with fewer than 2 samples per channel the statistics of the whole input serve;
 *  - after the classifier (the Gemm or Conv whose output reaches a Softmax or a net output through shape
 *    ops only) runs, its weight and bias are scaled so the logits have standard deviation 2.
 * Statistics are written into the model's own initializer arrays (for Caffe nets, the arrays behind the
 * BatchNorm's mean/var and the classifier's blobs). The reference models in ../shared/models are made the
 * same way (their README, "How the refs were made").
 *
 * Throws the runtime's BncError when the net cannot run on such inputs (e.g. index inputs of an Embed).
 */
export function calibrateRandomWeights(model: Model, seed: number): CalibrationReport {
  const graph = model.graph;
  const initializers = new Map<string, Tensor>(graph.initializers.map((t) => [t.name, t]));
  const producers = new Map<string, Node>();
  for (const n of graph.nodes) for (const o of n.outputs) if (o) producers.set(o, n);

  const classifiers = new Set<Node>();
  const ends = [
    ...graph.nodes.filter((n) => n.opType === 'Softmax' || n.opType === 'LogSoftmax').map((n) => n.inputs[0]),
    ...graph.outputs.map((o) => o.name),
  ];
  for (const end of ends) {
    let node = end ? producers.get(end) : undefined;
    // A bounded walk back from each end; shape-op chains are short, so this stays linear in practice.
    for (let steps = 0; node && PASS_THROUGH.has(node.opType) && steps < 8; steps++) node = producers.get(node.inputs[0] ?? '');
    if (node && (node.opType === 'Gemm' || node.opType === 'Conv') && initializers.has(node.inputs[1] ?? '')) classifiers.add(node);
  }

  const rand = mulberry32((seed ^ 0x9e3779b9) >>> 0);
  const feeds = new Map<string, RtTensor>();
  for (const vi of modelInputs(model)) {
    const dims = (vi.type?.tensor?.shape ?? []).map((d) => d.value ?? 1);
    const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
    fillNormal(data, rand);
    feeds.set(vi.name, { dtype: DataType.FLOAT, dims, data });
  }

  const report: CalibrationReport = { batchNorms: 0 };
  runModel(model, feeds, {
    threads: 1,
    beforeNode(node, inputs) {
      if (node.opType !== 'BatchNormalization' || node.attributes.some((a) => a.name === 'training_mode' && a.i)) return;
      const x = inputs[0];
      const mean = initializers.get(node.inputs[3] ?? '')?.data;
      const variance = initializers.get(node.inputs[4] ?? '')?.data;
      if (!x || !(mean instanceof Float32Array) || !(variance instanceof Float32Array) || !(x.data instanceof Float32Array)) return;
      setChannelStatistics(x, mean, variance, rand);
      report.batchNorms++;
    },
    afterNode(node, outputs) {
      if (!classifiers.has(node)) return;
      const y = outputs[0]!.data;
      if (!(y instanceof Float32Array)) return;
      const std = Math.sqrt(moments(y, 0, y.length, 1).variance);
      if (!(std > 0) || !Number.isFinite(std)) return;
      const f = CLASSIFIER_LOGIT_STD / std;
      for (const name of node.inputs.slice(1)) {
        const data = initializers.get(name ?? '')?.data;
        if (data instanceof Float32Array) for (let i = 0; i < data.length; i++) data[i] = data[i]! * f;
      }
      for (let i = 0; i < y.length; i++) y[i] = y[i]! * f;
      report.classifier = node.name;
    },
  });
  return report;
}

function moments(data: Float32Array, start: number, count: number, stride: number): { mean: number; variance: number } {
  let sum = 0;
  let sumSq = 0;
  for (let i = 0, at = start; i < count; i++, at += stride) {
    const v = data[at]!;
    sum += v;
    sumSq += v * v;
  }
  const mean = sum / count;
  return { mean, variance: Math.max(0, sumSq / count - mean * mean) };
}

/** Per-channel (axis 1) mean and variance of x over every other axis, a little perturbed. */
function setChannelStatistics(x: RtTensor, mean: Float32Array, variance: Float32Array, rand: () => number): void {
  const [n = 1, c = 1] = x.dims;
  const inner = x.dims.slice(2).reduce((a, b) => a * b, 1);
  if (mean.length !== c || variance.length !== c) throw new BncError(`BatchNormalization statistics do not match ${c} channels`);
  const data = x.data as Float32Array;
  const whole = n * inner < 2 ? moments(data, 0, data.length, 1) : undefined;
  const noise = new Float32Array(2 * c);
  fillNormal(noise, rand);
  for (let ch = 0; ch < c; ch++) {
    let m = whole;
    if (!m) {
      let sum = 0;
      let sumSq = 0;
      for (let b = 0; b < n; b++) {
        const s = moments(data, (b * c + ch) * inner, inner, 1);
        sum += s.mean * inner;
        sumSq += (s.variance + s.mean * s.mean) * inner;
      }
      const mu = sum / (n * inner);
      m = { mean: mu, variance: Math.max(0, sumSq / (n * inner) - mu * mu) };
    }
    const v = Math.max(m.variance, 1e-4);
    mean[ch] = m.mean + 0.05 * Math.sqrt(v) * noise[2 * ch]!;
    variance[ch] = v * Math.exp(0.05 * noise[2 * ch + 1]!);
  }
}
