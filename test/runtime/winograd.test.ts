import { describe, expect, it } from 'vitest';
import { intAttr, intsAttr } from '../../src/ir/index.js';
import { WindowGeometry } from '../../src/runtime/windowGeometry.js';
import { WINOGRAD_MIN_CHANNELS, winogradApplies, winogradConv3x3 } from '../../src/runtime/winograd.js';
import { compareWithOrt, describeCase, randomF32, randomInt, rng } from '../helpers/kernelHarness.js';

// Winograd F(2×2, 3×3) against the definition of convolution (a float64 direct sum written here) and,
// through the Conv kernel's dispatch, against onnxruntime. Measured error on these cases: at most 1e-7 of
// the output's largest magnitude (float32 storage of the transformed tiles); the bound asserted is 1e-6.
const BOUND = 1e-6;

function geometry(h: number, w: number, pads: [number, number, number, number]): WindowGeometry {
  const [t, l, b, r] = pads;
  return {
    rank: 2,
    input: [1, h, w],
    output: [1, h + t + b - 2, w + l + r - 2],
    kernel: [1, 3, 3],
    strides: [1, 1, 1],
    dilations: [1, 1, 1],
    padBegin: [0, t, l],
    padEnd: [0, b, r],
  };
}

/** out[m, y, x] = Σ_c Σ_ij w[m, c, i, j] · x[c, y + i − t, x + j − l], in float64. */
function directConv(x: Float32Array, w: Float32Array, c: number, m: number, g: WindowGeometry): Float64Array {
  const [, h, wd] = g.input as number[];
  const [, oh, ow] = g.output as number[];
  const out = new Float64Array(m * oh! * ow!);
  for (let o = 0; o < m; o++)
    for (let y = 0; y < oh!; y++)
      for (let xx = 0; xx < ow!; xx++) {
        let s = 0;
        for (let ch = 0; ch < c; ch++)
          for (let i = 0; i < 3; i++)
            for (let j = 0; j < 3; j++) {
              const iy = y + i - g.padBegin[1]!;
              const ix = xx + j - g.padBegin[2]!;
              if (iy < 0 || iy >= h! || ix < 0 || ix >= wd!) continue;
              s += w[((o * c + ch) * 3 + i) * 3 + j]! * x[(ch * h! + iy) * wd! + ix]!;
            }
        out[(o * oh! + y) * ow! + xx] = s;
      }
  return out;
}

describe('Winograd F(2x2, 3x3)', () => {
  it('matches the direct sum on odd and even sizes, asymmetric pads, channels off any block size', () => {
    const rand = rng(2024);
    for (let trial = 0; trial < 12; trial++) {
      const c = WINOGRAD_MIN_CHANNELS + randomInt(rand, 20);
      const m = WINOGRAD_MIN_CHANNELS + randomInt(rand, 12);
      const h = 4 + randomInt(rand, 11);
      const w = 4 + randomInt(rand, 11);
      const pads: [number, number, number, number] = [randomInt(rand, 3), randomInt(rand, 3), randomInt(rand, 3), randomInt(rand, 3)];
      const g = geometry(h, w, pads);
      const x = randomF32(rand, [c, h, w]).data as Float32Array;
      const wt = randomF32(rand, [m, c, 3, 3], -1, 1).data as Float32Array;
      const out = new Float32Array(m * g.output[1]! * g.output[2]!).fill(0.25); // a bias to add onto
      winogradConv3x3({ x, xOffset: 0, w: wt, wOffset: 0, out, outOffset: 0, channels: c, outChannels: m, g, threads: 1 });
      const ref = directConv(x, wt, c, m, g);
      let max = 0;
      let err = 0;
      for (let i = 0; i < ref.length; i++) {
        max = Math.max(max, Math.abs(ref[i]! + 0.25));
        err = Math.max(err, Math.abs(out[i]! - (ref[i]! + 0.25)));
      }
      expect(err / max, `trial ${trial}: ${c}->${m} ${h}x${w} pads ${pads}`).toBeLessThan(BOUND);
    }
  });

  it('applies only to 3x3, stride 1, dilation 1, 2-D, with enough channels and a 4x4 output', () => {
    const g = geometry(8, 8, [1, 1, 1, 1]);
    expect(winogradApplies(g, 16, 16)).toBe(true);
    expect(winogradApplies(g, 15, 16)).toBe(false);
    expect(winogradApplies({ ...g, strides: [1, 2, 2] }, 16, 16)).toBe(false);
    expect(winogradApplies({ ...g, dilations: [1, 2, 1] }, 16, 16)).toBe(false);
    expect(winogradApplies(geometry(3, 8, [0, 0, 0, 0]), 16, 16)).toBe(false);
  });

  it('Conv nodes that take the Winograd path agree with onnxruntime (groups, batch, bias, odd sizes)', async () => {
    const rand = rng(77);
    for (let trial = 0; trial < 6; trial++) {
      const group = [1, 2][randomInt(rand, 2)]!;
      const c = group * (WINOGRAD_MIN_CHANNELS + randomInt(rand, 6));
      const m = group * (WINOGRAD_MIN_CHANNELS + randomInt(rand, 6));
      const h = 5 + randomInt(rand, 9);
      const w = 5 + randomInt(rand, 9);
      const pads = [randomInt(rand, 2), randomInt(rand, 2), randomInt(rand, 2), randomInt(rand, 2)];
      const n = 1 + randomInt(rand, 2);
      const inputs = [randomF32(rand, [n, c, h, w]), randomF32(rand, [m, c / group, 3, 3], -1, 1), randomF32(rand, [m])];
      const attrs = [intsAttr('pads', pads), intsAttr('kernel_shape', [3, 3])];
      if (group > 1) attrs.push(intAttr('group', group));
      const node = { op: 'Conv', opset: 13, inputs, attrs };
      expect(await compareWithOrt(node, { atol: BOUND * 20, rtol: 1e-4 }), describeCase(node)).toBeUndefined();
    }
  });
});
