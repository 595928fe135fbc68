// Small models for the verify tests, built with bnc's IR.
import { Model, intAttr, intsAttr } from '../../src/ir/index.js';
import { parseOnnx, serializeOnnx } from '../../src/formats/onnx/index.js';
import { buildModel, f32, floatInput, node, normal, rng, uniform } from '../passes/graphBuilder.js';

export const CHANNELS = 8;

/**
 * x[1,3,10,10] → Conv c1 (3→8, 3×3, pad 1) → per-channel Mul/Add → Relu → Conv c2 (8→8, 3×3) → Relu →
 * ReduceMean over H, W → scores [1, 8] (a class-score shape, so top-k is reported).
 */
export function convNet(seed = 1): Model {
  const r = rng(seed);
  const w1 = f32('w1', [CHANNELS, 3, 3, 3], normal(r, CHANNELS * 27, Math.sqrt(2 / 27)));
  const b1 = f32('b1', [CHANNELS], uniform(r, CHANNELS, -0.1, 0.1));
  const scale = f32('scale', [1, CHANNELS, 1, 1], uniform(r, CHANNELS, 0.5, 1.5));
  const shift = f32('shift', [1, CHANNELS, 1, 1], uniform(r, CHANNELS, -0.2, 0.2));
  const w2 = f32('w2', [CHANNELS, CHANNELS, 3, 3], normal(r, CHANNELS * CHANNELS * 9, Math.sqrt(2 / (CHANNELS * 9))));
  return buildModel({
    nodes: [
      node('Conv', ['x', 'w1', 'b1'], ['c1'], [intsAttr('pads', [1, 1, 1, 1])], 'conv1'),
      node('Mul', ['c1', 'scale'], ['scaled'], [], 'mul'),
      node('Add', ['scaled', 'shift'], ['shifted'], [], 'add'),
      node('Relu', ['shifted'], ['r1'], [], 'relu1'),
      node('Conv', ['r1', 'w2'], ['c2'], [], 'conv2'),
      node('Relu', ['c2'], ['r2'], [], 'relu2'),
      node('ReduceMean', ['r2'], ['scores'], [intsAttr('axes', [2, 3]), intAttr('keepdims', 0)], 'pool'),
    ],
    inputs: [floatInput('x', [1, 3, 10, 10])],
    outputs: ['scores'],
    initializers: [w1, b1, scale, shift, w2],
  });
}

export function clone(m: Model): Model {
  return parseOnnx(serializeOnnx(m));
}

/** Multiply the weights of one output channel of the named Conv by `factor` (in a copy). */
export function scaleConvChannel(m: Model, convName: string, channel: number, factor: number): Model {
  const copy = clone(m);
  const conv = copy.graph.nodes.find((n) => n.name === convName && n.opType === 'Conv');
  if (!conv) throw new Error(`no Conv '${convName}'`);
  const w = copy.graph.initializers.find((t) => t.name === conv.inputs[1]);
  if (!w) throw new Error(`Conv '${convName}' has no weight initializer`);
  const data = w.data as Float32Array;
  const perChannel = data.length / w.dims[0]!;
  for (let i = channel * perChannel; i < (channel + 1) * perChannel; i++) data[i] = data[i]! * factor;
  return copy;
}

