import { describe, expect, it } from 'vitest';
import { floatAttr, intAttr } from '../../src/ir/index.js';
import { RtTensor } from '../../src/runtime/kernel.js';
import { NodeCase, compareWithOrt, describeCase, f32, randomF32, randomInt, rng, runKernel } from '../helpers/kernelHarness.js';

const TOL = { atol: 1e-4, rtol: 1e-4 };

async function expectMatch(c: NodeCase, tol = TOL): Promise<void> {
  const mismatch = await compareWithOrt(c, tol);
  expect(mismatch, describeCase(c)).toBeUndefined();
}

function bnParams(rand: () => number, channels: number, dims = [channels]): RtTensor[] {
  return [randomF32(rand, dims, 0.5, 1.5), randomF32(rand, dims, -1, 1), randomF32(rand, dims, -1, 1), randomF32(rand, dims, 0.2, 2)];
}

describe('BatchNormalization against onnxruntime', () => {
  const rand = rng(51);
  it('inference at opsets 7, 9, 14, 15 on rank 2 to 5, with epsilon', async () => {
    for (const opset of [7, 9, 14, 15]) {
      for (const dims of [[4, 3], [2, 3, 7], [2, 4, 5, 6], [1, 2, 3, 4, 5]]) {
        const attrs = rand() < 0.5 ? [floatAttr('epsilon', 1e-3)] : [];
        await expectMatch({ op: 'BatchNormalization', opset, inputs: [randomF32(rand, dims), ...bnParams(rand, dims[1]!)], attrs });
      }
    }
  });
  it('training_mode=1 (opset 15): batch statistics, and running mean/var outputs with momentum', async () => {
    for (const dims of [[3, 4, 5, 6], [8, 3], [2, 5, 7]]) {
      const attrs = [intAttr('training_mode', 1), floatAttr('momentum', 0.8), floatAttr('epsilon', 1e-4)];
      await expectMatch({ op: 'BatchNormalization', opset: 15, inputs: [randomF32(rand, dims), ...bnParams(rand, dims[1]!)], attrs, outputs: 3 });
    }
  });
  it('opset 6 legacy attributes: is_test, spatial=0 (per-element statistics), consumed_inputs', async () => {
    const x = randomF32(rand, [2, 3, 2, 2]);
    // spatial=0: scale/B/mean/var hold one value per (C, H, W) element.
    const perElement = bnParams(rand, 12, [3, 2, 2]);
    await expectMatch({ op: 'BatchNormalization', opset: 7, inputs: [x, ...perElement], attrs: [intAttr('spatial', 0)] });
    // Opset 6 (is_test=1, consumed_inputs): onnxruntime does not run opset 6, so compare with opset 7's result.
    const [legacy] = runKernel({
      op: 'BatchNormalization',
      opset: 6,
      inputs: [x, ...perElement],
      attrs: [intAttr('is_test', 1), intAttr('spatial', 0), { name: 'consumed_inputs', type: 7, ints: [0, 0, 0, 1, 1] }],
    });
    const [modern] = runKernel({ op: 'BatchNormalization', opset: 7, inputs: [x, ...perElement], attrs: [intAttr('spatial', 0)] });
    expect(Buffer.from((legacy!.data as Float32Array).buffer).equals(Buffer.from((modern!.data as Float32Array).buffer))).toBe(true);
  });
  it('training mode by an independent reference: y = γ(x - μ_B)/√(σ²_B + ε) + β per channel', () => {
    const x = f32([2, 2, 1, 2], [1, 2, 10, 20, 3, 4, 30, 40]);
    const [gamma, beta] = [f32([2], [2, 1]), f32([2], [0, 5])];
    const [y] = runKernel({ op: 'BatchNormalization', opset: 15, inputs: [x, gamma, beta, f32([2], [0, 0]), f32([2], [1, 1])], attrs: [intAttr('training_mode', 1), floatAttr('epsilon', 0)], outputs: 3 });
    // Channel 0 values 1, 2, 3, 4: mean 2.5, variance 1.25. Channel 1: 10, 20, 30, 40: mean 25, variance 125.
    const want = [1, 2, 3, 4].map((v) => (2 * (v - 2.5)) / Math.sqrt(1.25)).concat([10, 20, 30, 40].map((v) => (v - 25) / Math.sqrt(125) + 5));
    const order = [0, 1, 4, 5, 2, 3, 6, 7];
    const got = y!.data as Float32Array;
    order.forEach((pos, k) => expect(Math.abs(got[pos]! - want[k]!)).toBeLessThan(1e-5));
  });
});

describe('Instance, Layer and Group normalization against onnxruntime', () => {
  const rand = rng(52);
  it('InstanceNormalization on rank 3 to 5', async () => {
    for (const dims of [[2, 3, 8], [2, 4, 3, 5], [1, 2, 3, 2, 4]]) {
      const c = dims[1]!;
      await expectMatch({ op: 'InstanceNormalization', opset: 6, inputs: [randomF32(rand, dims), randomF32(rand, [c]), randomF32(rand, [c])], attrs: [floatAttr('epsilon', 1e-4)] });
    }
  });
  it('LayerNormalization (opset 17) over each axis, broadcast scale, optional bias, Mean and InvStdDev outputs', async () => {
    const dims = [2, 3, 4, 5];
    for (let axis = -4; axis < 4; axis++) {
      const normDims = dims.slice(axis < 0 ? axis + 4 : axis);
      const scaleDims = rand() < 0.5 ? normDims : normDims.slice(randomInt(rand, normDims.length));
      const inputs = [randomF32(rand, dims), randomF32(rand, scaleDims)];
      if (rand() < 0.6) inputs.push(randomF32(rand, normDims));
      await expectMatch({ op: 'LayerNormalization', opset: 17, inputs, attrs: [intAttr('axis', axis), floatAttr('epsilon', 1e-3)], outputs: 3 });
    }
  });
  it('GroupNormalization opset 21 (per-channel scale) against onnxruntime', async () => {
    for (const [dims, groups] of [[[2, 6, 4, 4], 3], [[1, 4, 5], 2], [[2, 8, 2, 3], 8]] as [number[], number][]) {
      const c = dims[1]!;
      await expectMatch({ op: 'GroupNormalization', opset: 21, inputs: [randomF32(rand, dims), randomF32(rand, [c]), randomF32(rand, [c])], attrs: [intAttr('num_groups', groups), floatAttr('epsilon', 1e-4)] });
    }
  });
  it('GroupNormalization opset 18 (per-group scale) by an independent reference', () => {
    const dims = [2, 4, 3];
    const x = randomF32(rand, dims);
    const scale = f32([2], [1.5, -0.5]);
    const bias = f32([2], [0.25, 2]);
    const [y] = runKernel({ op: 'GroupNormalization', opset: 18, inputs: [x, scale, bias], attrs: [intAttr('num_groups', 2), floatAttr('epsilon', 1e-5)] });
    const xd = x.data as Float32Array;
    const got = y!.data as Float32Array;
    for (let n = 0; n < 2; n++) {
      for (let g = 0; g < 2; g++) {
        const start = n * 12 + g * 6;
        const values = Array.from(xd.subarray(start, start + 6));
        const mean = values.reduce((a, b) => a + b, 0) / 6;
        const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / 6;
        values.forEach((v, i) => {
          const want = ((v - mean) / Math.sqrt(variance + 1e-5)) * (scale.data as Float32Array)[g]! + (bias.data as Float32Array)[g]!;
          expect(Math.abs(got[start + i]! - want)).toBeLessThan(1e-5);
        });
      }
    }
  });
});
