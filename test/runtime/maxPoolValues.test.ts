import { describe, expect, it } from 'vitest';
import { intAttr, intsAttr } from '../../src/ir/index.js';
import { f32, randomInt, rng, runKernel } from '../helpers/kernelHarness.js';

// MaxPool without the Indices output takes a plain running maximum when the input holds no NaN and no -0
// (src/runtime/pool.ts, maxPoolValues). These check it against the indexed path, which keeps the first
// maximum in window order, bit for bit, and that inputs where the order matters still get it.

const bitsOf = (a: Float32Array) => Array.from(new Int32Array(a.buffer, a.byteOffset, a.length));

describe('MaxPool values path', () => {
  const rand = rng(5);

  it('gives the same bits as the indexed path on random geometries (ties, pads, dilations, ceil_mode)', () => {
    for (let trial = 0; trial < 60; trial++) {
      const kernel = [1 + randomInt(rand, 3), 1 + randomInt(rand, 3)];
      const dilations = [1 + randomInt(rand, 3), 1 + randomInt(rand, 2)];
      const pads = [randomInt(rand, kernel[0]!), randomInt(rand, kernel[1]!), randomInt(rand, kernel[0]!), randomInt(rand, kernel[1]!)];
      const attrs = [intsAttr('kernel_shape', kernel), intsAttr('strides', [1 + randomInt(rand, 3), 1 + randomInt(rand, 3)]), intsAttr('pads', pads), intsAttr('dilations', dilations), intAttr('ceil_mode', randomInt(rand, 2))];
      const dims = [1 + randomInt(rand, 2), 2, ...kernel.map((k, i) => (k - 1) * dilations[i]! + 1 + randomInt(rand, 6))];
      const size = dims.reduce((a, b) => a * b, 1);
      // Few distinct values (ties in most windows), -Infinity among them.
      const data = Float32Array.from({ length: size }, () => [-Infinity, -2, 0.5, 1, 3][randomInt(rand, 5)]!);
      const values = runKernel({ op: 'MaxPool', opset: 12, inputs: [f32(dims, data)], attrs })[0]!;
      const indexed = runKernel({ op: 'MaxPool', opset: 12, inputs: [f32(dims, data)], attrs, outputs: 2 })[0]!;
      expect(values.dims).toEqual(indexed.dims);
      expect(bitsOf(values.data as Float32Array), JSON.stringify({ dims, attrs })).toEqual(bitsOf(indexed.data as Float32Array));
    }
  });

  it('gives the lowest float where a dilated window misses the input along W', () => {
    // W = 2, taps at w - 1 and w + 2: the only window reads padding only.
    const attrs = [intsAttr('kernel_shape', [1, 2]), intsAttr('dilations', [1, 3]), intsAttr('pads', [0, 1, 0, 1])];
    const x = f32([1, 1, 2, 2], [1, 2, 3, 4]);
    const values = runKernel({ op: 'MaxPool', opset: 12, inputs: [x], attrs })[0]!;
    const indexed = runKernel({ op: 'MaxPool', opset: 12, inputs: [x], attrs, outputs: 2 })[0]!;
    expect(Array.from(values.data as Float32Array)).toEqual([-3.4028234663852886e38, -3.4028234663852886e38]);
    expect(bitsOf(values.data as Float32Array)).toEqual(bitsOf(indexed.data as Float32Array));
  });

  it('keeps the first maximum in window order when the input holds NaN or -0', () => {
    const attrs = [intsAttr('kernel_shape', [1, 2]), intsAttr('strides', [1, 2])];
    // Windows: [-0, +0] → -0; [+0, -0] → +0; [NaN, 1] → NaN; [1, NaN] → 1.
    const y = runKernel({ op: 'MaxPool', opset: 12, inputs: [f32([1, 1, 1, 8], [-0, 0, 0, -0, NaN, 1, 1, NaN])], attrs })[0]!;
    const got = Array.from(y.data as Float32Array);
    expect(Object.is(got[0], -0)).toBe(true);
    expect(Object.is(got[1], 0)).toBe(true);
    expect(got[2]).toBeNaN();
    expect(got[3]).toBe(1);
    // Only -0 (no NaN): the order still decides the sign.
    const z = runKernel({ op: 'MaxPool', opset: 12, inputs: [f32([1, 1, 1, 4], [-0, 0, 0, -0])], attrs })[0]!;
    expect(bitsOf(z.data as Float32Array)).toEqual(bitsOf(Float32Array.of(-0, 0)));
  });
});
