import { describe, expect, it } from 'vitest';
import { intAttr, intsAttr } from '../../src/ir/index.js';
import { NodeCase, compareWithOrt, describeCase, i32, i64, randomF32, randomInt, rng, runKernel } from '../helpers/kernelHarness.js';

async function expectMatch(c: NodeCase): Promise<void> {
  const mismatch = await compareWithOrt(c, { atol: 1e-5, rtol: 1e-5 });
  expect(mismatch, describeCase(c)).toBeUndefined();
}

function randomDims(rand: () => number): number[] {
  const rank = 1 + randomInt(rand, 4);
  return Array.from({ length: rank }, () => 1 + randomInt(rand, 5));
}

/** A random subset of the axes, each written as positive or negative. */
function randomAxes(rand: () => number, rank: number): number[] {
  const axes: number[] = [];
  for (let a = 0; a < rank; a++) if (rand() < 0.5) axes.push(rand() < 0.5 ? a - rank : a);
  return axes;
}

const OPS: [string, number][] = [
  ['ReduceSum', 13],
  ['ReduceMean', 18],
  ['ReduceMax', 18],
];

describe('reductions against onnxruntime', () => {
  const rand = rng(41);
  for (const [op, inputSince] of OPS) {
    it(`${op}: axes attribute (opset 11, ${inputSince - 1}), random axes, keepdims 0/1`, async () => {
      for (let trial = 0; trial < 8; trial++) {
        const x = randomF32(rand, randomDims(rand));
        const axes = randomAxes(rand, x.dims.length);
        for (const keepdims of [0, 1]) {
          const attrs = [intAttr('keepdims', keepdims), ...(axes.length ? [intsAttr('axes', axes)] : [])];
          await expectMatch({ op, opset: 11, inputs: [x], attrs });
          await expectMatch({ op, opset: inputSince - 1, inputs: [x], attrs });
        }
      }
    });
    it(`${op}: axes input (opset ${inputSince}), omitted axes, noop_with_empty_axes`, async () => {
      for (let trial = 0; trial < 8; trial++) {
        const x = randomF32(rand, randomDims(rand));
        const axes = randomAxes(rand, x.dims.length);
        const keepdims = randomInt(rand, 2);
        const axesInput = axes.length ? [i64([axes.length], axes)] : [];
        await expectMatch({ op, opset: inputSince, inputs: [x, ...axesInput], attrs: [intAttr('keepdims', keepdims)] });
        await expectMatch({ op, opset: inputSince, inputs: [x, ...axesInput], attrs: [intAttr('keepdims', keepdims), intAttr('noop_with_empty_axes', 1)] });
      }
      const x = randomF32(rand, [2, 3, 4]);
      await expectMatch({ op, opset: 20, inputs: [x], attrs: [intAttr('noop_with_empty_axes', 1)] });
      await expectMatch({ op, opset: 20, inputs: [x, i64([0], [])] });
    });
  }
  it('global average pooling layout: ReduceMean over [2,3] of NCHW', async () => {
    await expectMatch({ op: 'ReduceMean', opset: 13, inputs: [randomF32(rand, [2, 8, 7, 7])], attrs: [intsAttr('axes', [2, 3])] });
  });
  it('ReduceSum and ReduceMax on int64 and int32', async () => {
    for (const op of ['ReduceSum', 'ReduceMax']) {
      const values = Array.from({ length: 24 }, () => randomInt(rand, 200) - 100);
      // ReduceSum takes axes as an input from opset 13, ReduceMax still as an attribute.
      const x = i64([2, 3, 4], values);
      if (op === 'ReduceSum') await expectMatch({ op, opset: 13, inputs: [x, i64([1], [1])], attrs: [intAttr('keepdims', 0)] });
      else await expectMatch({ op, opset: 13, inputs: [x], attrs: [intsAttr('axes', [1]), intAttr('keepdims', 0)] });
      await expectMatch({ op, opset: 11, inputs: [i32([2, 3, 4], values)], attrs: [intsAttr('axes', [0, 2])] });
    }
  });
  it('an axis out of range names the node', () => {
    expect(() => runKernel({ op: 'ReduceMean', opset: 13, inputs: [randomF32(rand, [2, 3])], attrs: [intsAttr('axes', [2])] })).toThrow(
      /ReduceMean node 'ReduceMean_under_test': axis 2 is out of range/,
    );
  });
});
