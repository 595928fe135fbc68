import { describe, expect, it } from 'vitest';
import { intAttr, intsAttr, stringAttr, Attribute } from '../../src/ir/index.js';
import { NodeCase, compareWithOrt, describeCase, randomF32, randomInt, rng, runKernel } from '../helpers/kernelHarness.js';
import { RtTensor } from '../../src/runtime/kernel.js';

// Conv and ConvTranspose against onnxruntime on randomized shapes and attributes, plus the awkward cases
// named in the issue (asymmetric pads, dilated grouped, depthwise, output_padding with groups, auto_pad).

const TOL = { atol: 1e-4, rtol: 1e-4 };

async function expectMatch(c: NodeCase): Promise<void> {
  const mismatch = await compareWithOrt(c, TOL);
  expect(mismatch, describeCase(c)).toBeUndefined();
}

function convCase(
  rand: () => number,
  o: { n?: number; c: number; m: number; spatial: number[]; kernel: number[]; group?: number; bias?: boolean; attrs?: Attribute[]; opset?: number },
): NodeCase {
  const group = o.group ?? 1;
  const x = randomF32(rand, [o.n ?? 1, o.c, ...o.spatial]);
  const w = randomF32(rand, [o.m, o.c / group, ...o.kernel], -1, 1);
  const inputs: RtTensor[] = [x, w];
  if (o.bias) inputs.push(randomF32(rand, [o.m]));
  const attrs = [...(o.attrs ?? [])];
  if (group !== 1) attrs.push(intAttr('group', group));
  return { op: 'Conv', opset: o.opset ?? 13, inputs, attrs };
}

describe('Conv against onnxruntime', () => {
  const rand = rng(101);

  it('2-D: random shapes, strides, dilations, asymmetric pads, groups, bias', async () => {
    for (let trial = 0; trial < 24; trial++) {
      const group = [1, 1, 2, 3][randomInt(rand, 4)]!;
      const c = group * (1 + randomInt(rand, 3));
      const m = group * (1 + randomInt(rand, 3));
      const kernel = [1 + randomInt(rand, 3), 1 + randomInt(rand, 3)];
      const dilations = [1 + randomInt(rand, 2), 1 + randomInt(rand, 2)];
      const pads = [randomInt(rand, 3), randomInt(rand, 2), randomInt(rand, 2), randomInt(rand, 3)];
      const spatial = [kernel[0]! * dilations[0]! + randomInt(rand, 6), kernel[1]! * dilations[1]! + randomInt(rand, 6)];
      const strides = [1 + randomInt(rand, 3), 1 + randomInt(rand, 2)];
      const attrs = [intsAttr('strides', strides), intsAttr('dilations', dilations), intsAttr('pads', pads)];
      if (rand() < 0.5) attrs.push(intsAttr('kernel_shape', kernel));
      await expectMatch(convCase(rand, { n: 1 + randomInt(rand, 2), c, m, spatial, kernel, group, bias: rand() < 0.6, attrs }));
    }
  });

  it('dilated grouped conv', async () => {
    const attrs = [intsAttr('dilations', [2, 3]), intsAttr('pads', [2, 3, 2, 3])];
    await expectMatch(convCase(rand, { c: 8, m: 12, spatial: [11, 13], kernel: [3, 3], group: 4, bias: true, attrs }));
  });

  it('depthwise (group = channels) with and without a channel multiplier, strided and padded', async () => {
    for (const mult of [1, 2]) {
      const attrs = [intsAttr('strides', [2, 2]), intsAttr('pads', [1, 0, 2, 1])];
      await expectMatch(convCase(rand, { n: 2, c: 6, m: 6 * mult, spatial: [9, 10], kernel: [3, 3], group: 6, bias: true, attrs }));
      await expectMatch(convCase(rand, { c: 5, m: 5 * mult, spatial: [7, 7], kernel: [5, 5], group: 5, attrs: [intsAttr('dilations', [2, 1]), intsAttr('pads', [4, 2, 4, 2])] }));
    }
  });

  it('pointwise 1×1 conv, grouped and batched', async () => {
    await expectMatch(convCase(rand, { n: 3, c: 8, m: 5, spatial: [6, 7], kernel: [1, 1], bias: true }));
    await expectMatch(convCase(rand, { n: 2, c: 8, m: 6, spatial: [5, 3], kernel: [1, 1], group: 2 }));
    // 1×1 with a stride is not pointwise: it goes through im2col.
    await expectMatch(convCase(rand, { c: 3, m: 4, spatial: [7, 8], kernel: [1, 1], attrs: [intsAttr('strides', [2, 3])] }));
  });

  it('auto_pad SAME_UPPER, SAME_LOWER and VALID (odd total padding)', async () => {
    for (const autoPad of ['SAME_UPPER', 'SAME_LOWER', 'VALID']) {
      for (const strides of [[1, 1], [2, 3]]) {
        const attrs = [stringAttr('auto_pad', autoPad), intsAttr('strides', strides)];
        await expectMatch(convCase(rand, { c: 3, m: 4, spatial: [8, 9], kernel: [4, 3], bias: true, attrs }));
      }
    }
  });

  it('1-D and 3-D convolutions', async () => {
    for (let trial = 0; trial < 4; trial++) {
      const attrs = [intsAttr('strides', [1 + randomInt(rand, 2)]), intsAttr('pads', [randomInt(rand, 3), randomInt(rand, 2)]), intsAttr('dilations', [1 + randomInt(rand, 2)])];
      await expectMatch(convCase(rand, { n: 2, c: 4, m: 6, spatial: [12], kernel: [3], group: trial % 2 ? 2 : 1, bias: true, attrs }));
    }
    await expectMatch(convCase(rand, { c: 4, m: 4, spatial: [11], kernel: [3], group: 4, attrs: [intsAttr('pads', [1, 1])] }));
    await expectMatch(
      convCase(rand, { c: 2, m: 3, spatial: [5, 6, 7], kernel: [2, 3, 2], bias: true, attrs: [intsAttr('pads', [1, 0, 1, 0, 1, 1]), intsAttr('strides', [1, 2, 1])] }),
    );
    await expectMatch(convCase(rand, { c: 4, m: 4, spatial: [4, 5, 6], kernel: [3, 3, 3], group: 4, attrs: [intsAttr('pads', [1, 1, 1, 1, 1, 1])] }));
  });

  it('a channel count that does not match the weight is a clear error', () => {
    const c = convCase(rand, { c: 4, m: 2, spatial: [5, 5], kernel: [3, 3] });
    c.inputs[0] = randomF32(rand, [1, 3, 5, 5]);
    expect(() => runKernel(c)).toThrow(/input channels per group/);
  });
});

function convTransposeCase(
  rand: () => number,
  o: { n?: number; c: number; mPerGroup: number; spatial: number[]; kernel: number[]; group?: number; bias?: boolean; attrs?: Attribute[] },
): NodeCase {
  const group = o.group ?? 1;
  const x = randomF32(rand, [o.n ?? 1, o.c, ...o.spatial]);
  const w = randomF32(rand, [o.c, o.mPerGroup, ...o.kernel], -1, 1);
  const inputs: RtTensor[] = [x, w];
  if (o.bias) inputs.push(randomF32(rand, [o.mPerGroup * group]));
  const attrs = [...(o.attrs ?? [])];
  if (group !== 1) attrs.push(intAttr('group', group));
  return { op: 'ConvTranspose', opset: 13, inputs, attrs };
}

describe('ConvTranspose against onnxruntime', () => {
  const rand = rng(202);

  it('2-D: random strides, dilations, pads, groups, output_padding', async () => {
    for (let trial = 0; trial < 16; trial++) {
      const group = [1, 2, 3][randomInt(rand, 3)]!;
      const strides = [1 + randomInt(rand, 3), 1 + randomInt(rand, 3)];
      const dilations = [1 + randomInt(rand, 2), 1 + randomInt(rand, 2)];
      const kernel = [1 + randomInt(rand, 3), 1 + randomInt(rand, 3)];
      // output_padding must be smaller than the stride (onnxruntime's rule).
      const outputPadding = strides.map((s) => randomInt(rand, s));
      const pads = [randomInt(rand, kernel[0]!), randomInt(rand, kernel[1]!), randomInt(rand, kernel[0]!), randomInt(rand, kernel[1]!)];
      const attrs = [intsAttr('strides', strides), intsAttr('dilations', dilations), intsAttr('pads', pads), intsAttr('output_padding', outputPadding)];
      await expectMatch(
        convTransposeCase(rand, { n: 1 + randomInt(rand, 2), c: group * (1 + randomInt(rand, 3)), mPerGroup: 1 + randomInt(rand, 3), spatial: [2 + randomInt(rand, 5), 2 + randomInt(rand, 5)], kernel, group, bias: rand() < 0.5, attrs }),
      );
    }
  });

  it('grouped with output_padding (stride 2)', async () => {
    const attrs = [intsAttr('strides', [2, 2]), intsAttr('pads', [1, 1, 1, 1]), intsAttr('output_padding', [1, 1])];
    await expectMatch(convTransposeCase(rand, { c: 4, mPerGroup: 3, spatial: [5, 6], kernel: [3, 3], group: 2, bias: true, attrs }));
  });

  it('output_shape and auto_pad SAME_UPPER / SAME_LOWER', async () => {
    for (const autoPad of ['SAME_UPPER', 'SAME_LOWER']) {
      const attrs = [stringAttr('auto_pad', autoPad), intsAttr('strides', [2, 3])];
      await expectMatch(convTransposeCase(rand, { c: 3, mPerGroup: 2, spatial: [4, 5], kernel: [3, 4], bias: true, attrs }));
      const withShape = [intsAttr('output_shape', [9, 14]), intsAttr('strides', [2, 3]), stringAttr('auto_pad', autoPad)];
      await expectMatch(convTransposeCase(rand, { c: 3, mPerGroup: 2, spatial: [4, 5], kernel: [3, 4], attrs: withShape }));
    }
    await expectMatch(convTransposeCase(rand, { c: 2, mPerGroup: 2, spatial: [4, 5], kernel: [3, 3], attrs: [intsAttr('output_shape', [8, 10]), intsAttr('strides', [2, 2])] }));
    // output_shape beyond the full output (6 × 6 here): the extra elements at the end hold the bias only.
    await expectMatch(convTransposeCase(rand, { c: 2, mPerGroup: 2, spatial: [3, 3], kernel: [2, 2], bias: true, attrs: [intsAttr('output_shape', [7, 6]), intsAttr('strides', [2, 2])] }));
    const larger = convTransposeCase(rand, { c: 2, mPerGroup: 1, spatial: [3, 3], kernel: [2, 2], bias: true, attrs: [intsAttr('output_shape', [9, 6]), intsAttr('strides', [2, 2])] });
    const [y] = runKernel(larger);
    expect(y!.dims).toEqual([1, 1, 9, 6]);
    const bias = (larger.inputs[2]!.data as Float32Array)[0]!;
    expect(Array.from((y!.data as Float32Array).subarray(36))).toEqual(new Array<number>(18).fill(bias));
  });

  it('1-D and 3-D', async () => {
    await expectMatch(convTransposeCase(rand, { n: 2, c: 4, mPerGroup: 3, spatial: [7], kernel: [3], group: 2, bias: true, attrs: [intsAttr('strides', [2]), intsAttr('pads', [1, 0])] }));
    await expectMatch(convTransposeCase(rand, { c: 2, mPerGroup: 2, spatial: [3, 4, 3], kernel: [2, 2, 3], attrs: [intsAttr('strides', [2, 1, 2])] }));
  });
});

describe('depthwise 3×3 row paths (sliding window, two outputs per iteration, top and bottom rows)', () => {
  const rand = rng(107);

  /** The depthwise sum as documented in depthwise.ts, written out: bias, then the taps inside the input in (kh, kw) order, in a double, rounded once. */
  function reference(x: RtTensor, w: RtTensor, bias: RtTensor, strides: number[], dilations: number[], pads: number[], outH: number, outW: number): Float32Array {
    const [n, c, h, wd] = x.dims as [number, number, number, number];
    const xd = x.data as Float32Array, wdata = w.data as Float32Array, bd = bias.data as Float32Array;
    const out = new Float32Array(n * c * outH * outW);
    for (let q = 0; q < n * c; q++) {
      const ch = q % c;
      for (let oh = 0; oh < outH; oh++) {
        for (let ow = 0; ow < outW; ow++) {
          let sum = bd[ch]!;
          for (let kh = 0; kh < 3; kh++) {
            const ih = oh * strides[0]! - pads[0]! + kh * dilations[0]!;
            if (ih < 0 || ih >= h) continue;
            for (let kw = 0; kw < 3; kw++) {
              const iw = ow * strides[1]! - pads[1]! + kw * dilations[1]!;
              if (iw >= 0 && iw < wd) sum += wdata[ch * 9 + kh * 3 + kw]! * xd[(q * h + ih) * wd + iw]!;
            }
          }
          out[(q * outH + oh) * outW + ow] = sum;
        }
      }
    }
    return out;
  }

  const geometries: { spatial: [number, number]; strides: number[]; dilations: number[]; pads: number[] }[] = [
    { spatial: [9, 12], strides: [1, 1], dilations: [1, 1], pads: [1, 1, 1, 1] }, // sliding, even interior
    { spatial: [8, 11], strides: [1, 1], dilations: [1, 1], pads: [1, 1, 1, 1] }, // sliding, odd interior
    { spatial: [10, 13], strides: [2, 2], dilations: [1, 1], pads: [1, 1, 1, 1] },
    { spatial: [11, 14], strides: [1, 1], dilations: [2, 2], pads: [2, 2, 2, 2] }, // dilated: 1 or 2 rows inside near the edges
    { spatial: [2, 9], strides: [1, 1], dilations: [1, 1], pads: [1, 1, 1, 1] }, // every output row misses a kernel row
    { spatial: [1, 7], strides: [1, 1], dilations: [1, 1], pads: [1, 0, 1, 2] }, // one kernel row inside, asymmetric pads
    { spatial: [7, 9], strides: [2, 1], dilations: [1, 2], pads: [0, 1, 2, 3] },
  ];

  it('bit-identical to the documented sum, and within tolerance of onnxruntime', async () => {
    for (const { spatial, strides, dilations, pads } of geometries) {
      const c = 3;
      const x = randomF32(rand, [2, c, ...spatial]);
      const w = randomF32(rand, [c, 1, 3, 3], -1, 1);
      const bias = randomF32(rand, [c]);
      const attrs = [intAttr('group', c), intsAttr('strides', strides), intsAttr('dilations', dilations), intsAttr('pads', pads)];
      const [y] = runKernel({ op: 'Conv', opset: 13, inputs: [x, w, bias], attrs });
      const [outH, outW] = y!.dims.slice(2) as [number, number];
      const want = reference(x, w, bias, strides, dilations, pads, outH, outW);
      const got = y!.data as Float32Array;
      const differing = want.reduce((count, v, i) => count + (Object.is(v, got[i]) ? 0 : 1), 0);
      expect(differing, `spatial ${spatial} strides ${strides} dilations ${dilations} pads ${pads}`).toBe(0);
      await expectMatch({ op: 'Conv', opset: 13, inputs: [x, w, bias], attrs });
    }
  });
});
