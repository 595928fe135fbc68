import { describe, expect, it } from 'vitest';
import { floatAttr, intsAttr } from '../../src/ir/index.js';
import { NodeCase, compareWithOrt, describeCase, f32, randomF32, randomInt, rng, runKernel, runOrtNode } from '../helpers/kernelHarness.js';

// MaxRoiPool against onnxruntime-node (exactly: the same float32 steps), and by hand on negative features
// (a bin's maximum must not be clamped at 0 or FLT_MIN, as some implementations start it).

const node = (x: NodeCase['inputs'][0], rois: number[][], pooled: [number, number], scale?: number): NodeCase => ({
  op: 'MaxRoiPool',
  opset: 13,
  inputs: [x, f32([rois.length, 5], rois.flat())],
  attrs: [intsAttr('pooled_shape', pooled), ...(scale === undefined ? [] : [floatAttr('spatial_scale', scale)])],
});

describe('MaxRoiPool against onnxruntime', () => {
  const rand = rng(1209);
  // Regions in input pixels: whole image, .5 products (C round: half away from zero), negative and far
  // outside coordinates (empty bins give 0), one pixel, end before start (forced to one pixel), fractions.
  const fixed = (w: number, h: number) => [
    [0, 0, 0, w - 1, h - 1],
    [1, 2, 6, 10, 14],
    [0, -6, -2, 5, 3],
    [1, w + 20, h + 20, w + 40, h + 40],
    [0, 3, 3, 3, 3],
    [1, 8, 8, 2, 2],
    [0, 1.3, 2.7, 7.49, 9.51],
    [1, -2.5, 0.5, w * 2, 1.5],
  ];
  for (const [scale, pooled] of [[0.25, [3, 4]], [1, [2, 2]], [0.5, [1, 1]], [0.0625, [7, 7]], [0.3, [5, 2]]] as [number, [number, number]][]) {
    it(`spatial_scale ${scale}, pooled_shape [${pooled}]`, async () => {
      const x = randomF32(rand, [2, 3, 9, 11], -2, 2);
      const w = 11 / scale;
      const h = 9 / scale;
      const rois = fixed(w, h);
      for (let k = 0; k < 12; k++) {
        const x1 = rand() * w * 1.2 - w * 0.1;
        const y1 = rand() * h * 1.2 - h * 0.1;
        rois.push([randomInt(rand, 2), x1, y1, x1 + rand() * w * 0.8, y1 + rand() * h * 0.8]);
      }
      const c = node(x, rois, pooled, scale);
      expect(await compareWithOrt(c, { atol: 0, rtol: 0 }), describeCase(c)).toBeUndefined();
    });
  }
  it('spatial_scale defaults to 1', async () => {
    const c = node(randomF32(rand, [1, 2, 5, 6], 0.5, 1), [[0, 1, 1, 4, 3]], [2, 2]);
    expect(await compareWithOrt(c, { atol: 0, rtol: 0 }), describeCase(c)).toBeUndefined();
  });
});

describe('MaxRoiPool on negative features (worked by hand from roi_pooling_layer.cpp)', () => {
  // x = [[-4 -3] [-2 -1]]. Region (0,0)-(1,1) in one bin: max −1. A region outside the features: empty, 0.
  // Region (0,1)-(1,1) pooled 2x1: height 1, bin 0.5; bin 0 = [floor(0), ceil(.5)) = [0, 1), bin 1 =
  // [floor(.5), ceil(1)) = [0, 1), both + start row 1: row 1 twice, columns 0..1: −1 and −1.
  const x = f32([1, 1, 2, 2], [-4, -3, -2, -1]);
  it('gives the true (negative) maximum, and 0 for an empty bin, as onnxruntime does', async () => {
    const one = node(x, [[0, 0, 0, 1, 1], [0, 5, 5, 6, 6]], [1, 1]);
    expect([...(runKernel(one)[0]!.data as Float32Array)]).toEqual([-1, 0]);
    expect([...((await runOrtNode(one))[0]!.data as Float32Array)]).toEqual([-1, 0]);
    const rows = node(x, [[0, 0, 1, 1, 1]], [2, 1]);
    expect([...(runKernel(rows)[0]!.data as Float32Array)]).toEqual([-1, -1]);
  });

  it('refuses a batch index outside the batch, naming the node', () => {
    expect(() => runKernel(node(x, [[1, 0, 0, 1, 1]], [1, 1]))).toThrow(/region 0 has batch index 1, outside the batch of 1/);
  });
});
