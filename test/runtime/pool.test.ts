import { describe, expect, it } from 'vitest';
import { Attribute, floatAttr, intAttr, intsAttr, stringAttr } from '../../src/ir/index.js';
import { NodeCase, compareWithOrt, describeCase, randomF32, randomInt, rng, runKernel } from '../helpers/kernelHarness.js';

const TOL = { atol: 1e-5, rtol: 1e-5 };

async function expectMatch(c: NodeCase): Promise<void> {
  const mismatch = await compareWithOrt(c, TOL);
  expect(mismatch, describeCase(c)).toBeUndefined();
}

/** Random 2-D pooling attributes: kernel, strides, asymmetric pads smaller than the kernel, optional ceil_mode. */
function randomPoolAttrs(rand: () => number, withDilations: boolean): { attrs: Attribute[]; spatial: number[] } {
  const kernel = [1 + randomInt(rand, 3), 1 + randomInt(rand, 3)];
  const dilations = withDilations ? [1 + randomInt(rand, 2), 1 + randomInt(rand, 2)] : [1, 1];
  const pads = [randomInt(rand, kernel[0]!), randomInt(rand, kernel[1]!), randomInt(rand, kernel[0]!), randomInt(rand, kernel[1]!)];
  const strides = [1 + randomInt(rand, 3), 1 + randomInt(rand, 3)];
  const attrs = [intsAttr('kernel_shape', kernel), intsAttr('strides', strides), intsAttr('pads', pads), intAttr('ceil_mode', randomInt(rand, 2))];
  if (withDilations) attrs.push(intsAttr('dilations', dilations));
  const spatial = kernel.map((k, i) => (k - 1) * dilations[i]! + 1 + randomInt(rand, 7));
  return { attrs, spatial };
}

describe('MaxPool against onnxruntime', () => {
  const rand = rng(41);
  it('2-D: random kernels, strides, asymmetric pads, dilations, ceil_mode (opset 12)', async () => {
    for (let trial = 0; trial < 30; trial++) {
      const { attrs, spatial } = randomPoolAttrs(rand, true);
      await expectMatch({ op: 'MaxPool', opset: 12, inputs: [randomF32(rand, [1 + randomInt(rand, 2), 2, ...spatial])], attrs });
    }
  });
  it('ceil_mode with pads, where the last window would start in the padding', async () => {
    const attrs = [intsAttr('kernel_shape', [3, 3]), intsAttr('strides', [2, 2]), intsAttr('pads', [1, 1, 1, 1]), intAttr('ceil_mode', 1)];
    for (const size of [6, 7, 8]) await expectMatch({ op: 'MaxPool', opset: 12, inputs: [randomF32(rand, [1, 3, size, size + 1])], attrs });
  });
  it('auto_pad SAME_UPPER / SAME_LOWER / VALID, opset 8 (no ceil_mode), 1-D and 3-D', async () => {
    for (const autoPad of ['SAME_UPPER', 'SAME_LOWER', 'VALID']) {
      const attrs = [stringAttr('auto_pad', autoPad), intsAttr('kernel_shape', [3, 2]), intsAttr('strides', [2, 2])];
      await expectMatch({ op: 'MaxPool', opset: 11, inputs: [randomF32(rand, [1, 2, 7, 8])], attrs });
    }
    await expectMatch({ op: 'MaxPool', opset: 8, inputs: [randomF32(rand, [2, 2, 6, 6])], attrs: [intsAttr('kernel_shape', [2, 2]), intsAttr('strides', [2, 2])] });
    await expectMatch({ op: 'MaxPool', opset: 12, inputs: [randomF32(rand, [2, 3, 11])], attrs: [intsAttr('kernel_shape', [3]), intsAttr('strides', [2]), intsAttr('pads', [1, 0])] });
    await expectMatch({ op: 'MaxPool', opset: 12, inputs: [randomF32(rand, [1, 2, 5, 6, 7])], attrs: [intsAttr('kernel_shape', [2, 3, 2]), intsAttr('strides', [1, 2, 2]), intAttr('ceil_mode', 1)] });
  });
  it('the Indices output, row-major and storage_order=1', async () => {
    for (const storageOrder of [0, 1]) {
      const attrs = [intsAttr('kernel_shape', [2, 3]), intsAttr('strides', [2, 2]), intsAttr('pads', [1, 1, 0, 1]), intAttr('storage_order', storageOrder)];
      await expectMatch({ op: 'MaxPool', opset: 12, inputs: [randomF32(rand, [2, 3, 6, 7])], attrs, outputs: 2 });
    }
  });
});

describe('AveragePool against onnxruntime', () => {
  const rand = rng(42);
  it('2-D: random kernels, strides, asymmetric pads, ceil_mode, count_include_pad (opset 11)', async () => {
    for (let trial = 0; trial < 30; trial++) {
      const { attrs, spatial } = randomPoolAttrs(rand, false);
      attrs.push(intAttr('count_include_pad', randomInt(rand, 2)));
      await expectMatch({ op: 'AveragePool', opset: 11, inputs: [randomF32(rand, [1, 2, ...spatial])], attrs });
    }
  });
  it('ceil_mode with pads and count_include_pad: the divisor stops at the end padding', async () => {
    for (const include of [0, 1]) {
      const attrs = [intsAttr('kernel_shape', [3, 3]), intsAttr('strides', [2, 2]), intsAttr('pads', [1, 0, 1, 1]), intAttr('ceil_mode', 1), intAttr('count_include_pad', include)];
      for (const size of [6, 7]) await expectMatch({ op: 'AveragePool', opset: 11, inputs: [randomF32(rand, [1, 2, size, size + 2])], attrs });
    }
  });
  it('dilations (opset 19), auto_pad, opset 7, 1-D and 3-D', async () => {
    for (let trial = 0; trial < 8; trial++) {
      const { attrs, spatial } = randomPoolAttrs(rand, true);
      attrs.push(intAttr('count_include_pad', randomInt(rand, 2)));
      await expectMatch({ op: 'AveragePool', opset: 19, inputs: [randomF32(rand, [1, 2, ...spatial])], attrs });
    }
    for (const autoPad of ['SAME_UPPER', 'SAME_LOWER', 'VALID']) {
      await expectMatch({ op: 'AveragePool', opset: 11, inputs: [randomF32(rand, [1, 2, 7, 8])], attrs: [stringAttr('auto_pad', autoPad), intsAttr('kernel_shape', [3, 3]), intsAttr('strides', [2, 1])] });
    }
    await expectMatch({ op: 'AveragePool', opset: 7, inputs: [randomF32(rand, [1, 2, 6, 6])], attrs: [intsAttr('kernel_shape', [3, 3]), intsAttr('pads', [1, 1, 1, 1]), intAttr('count_include_pad', 1)] });
    await expectMatch({ op: 'AveragePool', opset: 11, inputs: [randomF32(rand, [2, 3, 10])], attrs: [intsAttr('kernel_shape', [4]), intsAttr('strides', [3]), intsAttr('pads', [2, 1])] });
    await expectMatch({ op: 'AveragePool', opset: 11, inputs: [randomF32(rand, [1, 2, 4, 5, 6])], attrs: [intsAttr('kernel_shape', [2, 2, 3]), intsAttr('pads', [1, 0, 1, 0, 1, 1])] });
  });
});

describe('global pools and LRN against onnxruntime', () => {
  const rand = rng(43);
  it('GlobalAveragePool and GlobalMaxPool on 1-D, 2-D and 3-D inputs', async () => {
    for (const op of ['GlobalAveragePool', 'GlobalMaxPool']) {
      for (const dims of [[2, 3, 7], [1, 4, 5, 6], [2, 2, 3, 4, 5]]) await expectMatch({ op, opset: 13, inputs: [randomF32(rand, dims)] });
    }
  });
  it('LRN with odd sizes, alpha, beta, bias', async () => {
    for (const size of [1, 3, 5]) {
      const attrs = [intAttr('size', size), floatAttr('alpha', 0.05 + rand() * 0.2), floatAttr('beta', 0.5 + rand()), floatAttr('bias', 0.5 + rand() * 2)];
      await expectMatch({ op: 'LRN', opset: 13, inputs: [randomF32(rand, [2, 7, 4, 5], -3, 3)], attrs });
    }
    await expectMatch({ op: 'LRN', opset: 1, inputs: [randomF32(rand, [1, 6, 3, 3])], attrs: [intAttr('size', 3)] });
  });
  it('LRN with an even size (onnxruntime rejects it): window ⌊(size-1)/2⌋ before, ⌈(size-1)/2⌉ after (independent reference)', () => {
    const dims = [1, 6, 2, 3];
    const x = randomF32(rand, dims, -3, 3);
    const [size, alpha, beta, bias] = [4, 0.3, 0.8, 1.5];
    const [got] = runKernel({ op: 'LRN', opset: 13, inputs: [x], attrs: [intAttr('size', size), floatAttr('alpha', alpha), floatAttr('beta', beta), floatAttr('bias', bias)] });
    const xd = x.data as Float32Array;
    const plane = 6;
    for (let c = 0; c < 6; c++) {
      for (let i = 0; i < plane; i++) {
        let sq = 0;
        for (let k = c - 1; k <= c + 2; k++) if (k >= 0 && k < 6) sq += xd[k * plane + i]! ** 2;
        const want = xd[c * plane + i]! / (bias + (alpha / size) * sq) ** beta;
        expect(Math.abs((got!.data as Float32Array)[c * plane + i]! - want)).toBeLessThan(1e-5 * (1 + Math.abs(want)));
      }
    }
  });
});
