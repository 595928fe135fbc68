import { describe, expect, it } from 'vitest';
import { BncError, DataType, floatAttr, intAttr } from '../../src/ir/index.js';
import { NodeCase, bool, compareWithOrt, describeCase, f32, i32, i64, randomF32, randomInt, rng, rt, runKernel } from '../helpers/kernelHarness.js';

async function expectMatch(c: NodeCase, tol = { atol: 1e-6, rtol: 1e-5 }): Promise<void> {
  const mismatch = await compareWithOrt(c, tol);
  expect(mismatch, describeCase(c)).toBeUndefined();
}

function randomDims(rand: () => number, minRank = 0, maxRank = 4): number[] {
  const rank = minRank + randomInt(rand, maxRank - minRank + 1);
  return Array.from({ length: rank }, () => 1 + randomInt(rand, 5));
}

describe('pointwise activations against onnxruntime', () => {
  const rand = rng(21);
  const cases: { op: string; opsets: number[]; attrs?: () => NodeCase['attrs']; range?: [number, number] }[] = [
    { op: 'Relu', opsets: [6, 14] },
    { op: 'LeakyRelu', opsets: [6, 16], attrs: () => (rand() < 0.5 ? [] : [floatAttr('alpha', 0.05 + rand())]) },
    { op: 'Sigmoid', opsets: [6, 13], range: [-20, 20] },
    { op: 'HardSigmoid', opsets: [6, 15], attrs: () => (rand() < 0.5 ? [] : [floatAttr('alpha', 0.1 + rand()), floatAttr('beta', rand())]) },
    { op: 'HardSwish', opsets: [14], range: [-8, 8] },
    { op: 'Tanh', opsets: [6, 13] },
    { op: 'Elu', opsets: [6], attrs: () => (rand() < 0.5 ? [] : [floatAttr('alpha', 0.2 + rand())]) },
    { op: 'Selu', opsets: [6], attrs: () => (rand() < 0.5 ? [] : [floatAttr('alpha', 1 + rand()), floatAttr('gamma', 1 + rand())]) },
    { op: 'Softplus', opsets: [1], range: [-30, 30] },
    { op: 'Softsign', opsets: [1] },
  ];
  for (const { op, opsets, attrs, range } of cases) {
    for (const opset of opsets) {
      it(`${op} opset ${opset}`, async () => {
        for (let trial = 0; trial < 3; trial++) {
          const x = randomF32(rand, randomDims(rand), range?.[0] ?? -4, range?.[1] ?? 4);
          await expectMatch({ op, opset, inputs: [x], attrs: attrs?.() });
        }
      });
    }
  }
  it('Relu keeps NaN as onnxruntime does (max(NaN, 0) is NaN), on the float32 and float64 paths', async () => {
    const xs = [NaN, -1, 0, 2, -NaN, 3, -4, NaN, 5, NaN];
    await expectMatch({ op: 'Relu', opset: 14, inputs: [f32([xs.length], xs)] });
    const out = runKernel({ op: 'Relu', opset: 14, inputs: [rt(DataType.DOUBLE, [xs.length], Float64Array.from(xs))] })[0]!;
    expect(Array.from(out.data as Float64Array).map((v) => (Number.isNaN(v) ? 'NaN' : v))).toEqual(['NaN', 0, 0, 2, 'NaN', 3, 0, 'NaN', 5, 'NaN']);
  });
  it('Relu on int32 (opset 14)', async () => {
    await expectMatch({ op: 'Relu', opset: 14, inputs: [i32([5], [-3, 0, 7, -1, 2])] });
  });
});

describe('PRelu', () => {
  const rand = rng(22);
  it('broadcasts the slope unidirectionally (opset 7, 9, 16): per-channel, scalar, full, trailing', async () => {
    for (const opset of [7, 9, 16]) {
      const x = randomF32(rand, [2, 3, 4, 5]);
      for (const slopeDims of [[3, 1, 1], [1], [2, 3, 4, 5], [5], [4, 1]]) {
        await expectMatch({ op: 'PRelu', opset, inputs: [x, randomF32(rand, slopeDims, 0, 1)] });
      }
    }
  });
  it('opset 6: a 1-D slope of length C applies per channel (independent reference)', () => {
    const x = randomF32(rand, [2, 3, 2, 2]);
    const slope = f32([3], [0.1, 0.2, 0.3]);
    const [got] = runKernel({ op: 'PRelu', opset: 6, inputs: [x, slope] });
    const xd = x.data as Float32Array;
    for (let i = 0; i < xd.length; i++) {
      const c = Math.floor(i / 4) % 3;
      const want = xd[i]! < 0 ? Math.fround(xd[i]! * (slope.data as Float32Array)[c]!) : xd[i]!;
      expect((got!.data as Float32Array)[i]).toBe(want);
    }
  });
  it('a slope that would grow X is an error', () => {
    expect(() => runKernel({ op: 'PRelu', opset: 16, inputs: [randomF32(rand, [3]), randomF32(rand, [2, 3])] })).toThrow(/does not broadcast/);
  });
});

describe('Clip', () => {
  const rand = rng(23);
  it('attribute form before opset 11 (both, one, or no bounds)', async () => {
    const x = randomF32(rand, [3, 4], -3, 3);
    for (const attrs of [[floatAttr('min', -1), floatAttr('max', 0.5)], [floatAttr('min', 0)], [floatAttr('max', 1)], []]) {
      await expectMatch({ op: 'Clip', opset: 6, inputs: [x], attrs });
    }
  });
  it('input form from opset 11 (omitted min or max), float32 and int64/int32 from opset 12', async () => {
    const x = randomF32(rand, [2, 3, 4], -3, 3);
    await expectMatch({ op: 'Clip', opset: 11, inputs: [x, f32([], [-1]), f32([], [1.5])] });
    await expectMatch({ op: 'Clip', opset: 13, inputs: [x, undefined, f32([], [0.25])] });
    await expectMatch({ op: 'Clip', opset: 13, inputs: [x, f32([], [0])] });
    await expectMatch({ op: 'Clip', opset: 13, inputs: [x] });
    await expectMatch({ op: 'Clip', opset: 13, inputs: [i64([5], [-9, -2, 0, 4, 12]), i64([], [-3]), i64([], [5])] });
    await expectMatch({ op: 'Clip', opset: 12, inputs: [i32([5], [-9, -2, 0, 4, 12]), i32([], [-3]), i32([], [5])] });
  });
});

describe('Softmax and LogSoftmax, both opset semantics', () => {
  const rand = rng(24);
  for (const op of ['Softmax', 'LogSoftmax']) {
    for (const opset of [1, 11, 13]) {
      it(`${op} opset ${opset}: default axis and every axis, negative too`, async () => {
        for (let trial = 0; trial < 3; trial++) {
          const dims = randomDims(rand, 1, 4);
          const x = randomF32(rand, dims, -6, 6);
          // Opset 11 narrowed the legal axes to [-rank, rank-1], so the default axis 1 needs rank >= 2.
          if (opset !== 11 || dims.length >= 2) await expectMatch({ op, opset, inputs: [x] });
          const rank = dims.length;
          const lo = opset < 11 ? 0 : -rank;
          for (let axis = lo; axis < rank; axis++) await expectMatch({ op, opset, inputs: [x], attrs: [intAttr('axis', axis)] });
        }
      });
    }
  }
  it('the two semantics really differ on a 3-D input (axis 1 coerced to 2-D vs single axis)', () => {
    const x = randomF32(rand, [2, 3, 4]);
    const [legacy] = runKernel({ op: 'Softmax', opset: 11, inputs: [x], attrs: [intAttr('axis', 1)] });
    const [modern] = runKernel({ op: 'Softmax', opset: 13, inputs: [x], attrs: [intAttr('axis', 1)] });
    let sumLegacy = 0;
    let sumModern = 0;
    for (let i = 0; i < 12; i++) sumLegacy += (legacy!.data as Float32Array)[i]!;
    for (let c = 0; c < 3; c++) sumModern += (modern!.data as Float32Array)[c * 4]!;
    expect(sumLegacy).toBeCloseTo(1, 5);
    expect(sumModern).toBeCloseTo(1, 5);
  });
  it('axis out of range names the node', () => {
    expect(() => runKernel({ op: 'Softmax', opset: 13, inputs: [randomF32(rand, [2, 3])], attrs: [intAttr('axis', 2)] })).toThrow(
      /Softmax node 'Softmax_under_test': axis 2 is out of range/,
    );
  });
});

describe('Dropout and Identity', () => {
  const rand = rng(25);
  it('Dropout is the identity at inference, with an all-true mask (opset 12, 13)', async () => {
    const x = randomF32(rand, [2, 3, 4]);
    for (const opset of [12, 13]) {
      await expectMatch({ op: 'Dropout', opset, inputs: [x], outputs: 2 });
      await expectMatch({ op: 'Dropout', opset, inputs: [x] });
    }
    await expectMatch({ op: 'Dropout', opset: 13, inputs: [x, f32([], [0.5]), bool([], [0])], outputs: 2 });
  });
  it('Dropout before opset 12: identity; the mask is all kept, of the input type before opset 10 and bool from 10', async () => {
    // onnxruntime fills this mask with zeros before opset 12, so it is checked directly instead.
    const x = randomF32(rand, [2, 3]);
    for (const opset of [7, 10]) {
      await expectMatch({ op: 'Dropout', opset, inputs: [x], attrs: [floatAttr('ratio', 0.3)] });
      const [y, mask] = runKernel({ op: 'Dropout', opset, inputs: [x], outputs: 2 });
      expect(y!.data).toBe(x.data);
      expect(mask!.dtype).toBe(opset < 10 ? DataType.FLOAT : DataType.BOOL);
      expect(Array.from(mask!.data as Float32Array | Uint8Array)).toEqual([1, 1, 1, 1, 1, 1]);
    }
  });
  it("Dropout with training_mode=true draws numpy's MT19937 stream from `seed` (ONNX's reference outputs)", () => {
    // numpy: np.random.seed(3); np.random.uniform(0, 1, 6) = [0.5508, 0.7081, 0.2909, 0.5108, 0.8929, 0.8963];
    // ratio 0.6 keeps u >= 0.6 (elements 1, 4, 5) and scales them by 1 / 0.4 = 2.5.
    const x = f32([6], [1, 2, 3, 4, 5, 6]);
    const [y, mask] = runKernel({ op: 'Dropout', opset: 13, inputs: [x, f32([], [0.6]), bool([], [1])], attrs: [intAttr('seed', 3)], outputs: 2 });
    // (1 - float32(0.6)) makes the scale 2.5000002 in float32, as in numpy: compare to 5 digits.
    expect(Array.from(y!.data as Float32Array)).toEqual([0, 5, 0, 0, 12.5, 15].map((v) => expect.closeTo(v, 5)));
    expect(Array.from(mask!.data as Uint8Array)).toEqual([0, 1, 0, 0, 1, 1]);
    // Ratio 0 in training mode is the identity.
    const [same] = runKernel({ op: 'Dropout', opset: 13, inputs: [x, f32([], [0]), bool([], [1])] });
    expect(Array.from(same!.data as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(() => runKernel({ op: 'Dropout', opset: 13, inputs: [x, f32([], [1]), bool([], [1])] })).toThrow(BncError);
  });
  it('Identity passes float32, int64 and bool through', async () => {
    await expectMatch({ op: 'Identity', opset: 13, inputs: [randomF32(rand, [2, 3])] });
    await expectMatch({ op: 'Identity', opset: 16, inputs: [i64([3], [1, -2, 3])] });
    await expectMatch({ op: 'Identity', opset: 1, inputs: [bool([2], [1, 0])] });
  });
  it('float-only activations reject int64 with a message naming the node', () => {
    expect(() => runKernel({ op: 'Sigmoid', opset: 13, inputs: [i64([1], [1])] })).toThrow(/Sigmoid node 'Sigmoid_under_test'.*int64/);
    expect(runKernel({ op: 'Identity', opset: 13, inputs: [i64([1], [1])] })[0]!.dtype).toBe(DataType.INT64);
  });
});
