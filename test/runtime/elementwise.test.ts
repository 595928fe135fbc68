import { describe, expect, it } from 'vitest';
import { BncError, DataType, intAttr } from '../../src/ir/index.js';
import { RtTensor } from '../../src/runtime/kernel.js';
import { NodeCase, bool, compareWithOrt, describeCase, f32, i32, i64, randomF32, randomInt, rng, runKernel } from '../helpers/kernelHarness.js';

/** A random shape and a second shape that broadcasts against it (size-1 dims, shorter rank, or swapped). */
function shapePair(rand: () => number): [number[], number[]] {
  const rank = randomInt(rand, 5);
  const a = Array.from({ length: rank }, () => 1 + randomInt(rand, 4));
  let b = a.map((d) => (rand() < 0.35 ? 1 : d));
  b = b.slice(randomInt(rand, rank + 1));
  // Sometimes A has the size-1 dims instead, so both operands broadcast.
  if (rand() < 0.3) return [b.length === a.length ? a.map((d, i) => (b[i] === d && rand() < 0.3 ? 1 : d)) : a, b];
  return rand() < 0.5 ? [a, b] : [b, a];
}

function sizeOf(dims: number[]): number {
  return dims.reduce((x, y) => x * y, 1);
}

function randomInts(rand: () => number, dims: number[], lo: number, hi: number, nonZero = false): number[] {
  return Array.from({ length: sizeOf(dims) }, () => {
    let v = lo + randomInt(rand, hi - lo + 1);
    if (nonZero && v === 0) v = 1;
    return v;
  });
}

async function expectMatch(c: NodeCase, tol?: { atol: number; rtol: number }): Promise<void> {
  const mismatch = await compareWithOrt(c, tol);
  expect(mismatch, describeCase(c)).toBeUndefined();
}

describe('binary arithmetic against onnxruntime', () => {
  const rand = rng(7);
  for (const op of ['Add', 'Sub', 'Mul', 'Div', 'Pow']) {
    for (const opset of [7, 13, 14]) {
      it(`${op} float32 opset ${opset}, random broadcasting shapes`, async () => {
        for (let trial = 0; trial < 8; trial++) {
          const [da, db] = shapePair(rand);
          const lo = op === 'Pow' ? 0.1 : -3;
          const a = randomF32(rand, da, lo, 3);
          const b = randomF32(rand, db, op === 'Pow' ? -2 : op === 'Div' ? 0.5 : -3, 3);
          await expectMatch({ op, opset, inputs: [a, b] }, { atol: 1e-6, rtol: 1e-5 });
        }
      });
    }
  }

  for (const op of ['Add', 'Sub', 'Mul', 'Div']) {
    it(`${op} int64 and int32 with broadcasting (division truncates toward zero)`, async () => {
      for (let trial = 0; trial < 6; trial++) {
        const [da, db] = shapePair(rand);
        const av = randomInts(rand, da, -50, 50);
        const bv = randomInts(rand, db, -7, 7, true);
        await expectMatch({ op, opset: 13, inputs: [i64(da, av), i64(db, bv)] });
        await expectMatch({ op, opset: 13, inputs: [i32(da, av), i32(db, bv)] });
      }
    });
  }

  it('Mul int32 keeps the low 32 bits of large products', async () => {
    await expectMatch({ op: 'Mul', opset: 13, inputs: [i32([3], [123456789, -98765432, 65536]), i32([3], [987654321, 12345, 65536])] });
  });

  it('Pow with an int64 exponent on a float32 base (opset 12+ mixed types)', async () => {
    const x = randomF32(rand, [2, 3], -2, 2);
    await expectMatch({ op: 'Pow', opset: 15, inputs: [x, i64([3], [2, 3, 0])] });
  });

  it('Pow on int64 with non-negative exponents', async () => {
    await expectMatch({ op: 'Pow', opset: 15, inputs: [i64([4], [2, -3, 5, 7]), i64([4], [3, 3, 0, 2])] });
  });

  it('Equal on float32, int64 and bool, output bool', async () => {
    for (const opset of [11, 13, 19]) {
      const [da, db] = shapePair(rand);
      await expectMatch({ op: 'Equal', opset, inputs: [i64(da, randomInts(rand, da, 0, 2)), i64(db, randomInts(rand, db, 0, 2))] });
      await expectMatch({ op: 'Equal', opset, inputs: [f32(da, randomInts(rand, da, 0, 2)), f32(db, randomInts(rand, db, 0, 2))] });
      await expectMatch({ op: 'Equal', opset, inputs: [bool(da, randomInts(rand, da, 0, 1)), bool(db, randomInts(rand, db, 0, 1))] });
    }
  });

  it('Where broadcasts condition, X and Y three ways, float32 and int64', async () => {
    for (let trial = 0; trial < 6; trial++) {
      const [dc, dx] = shapePair(rand);
      const dy = dx.map((d) => (rand() < 0.5 ? 1 : d)).slice(randomInt(rand, dx.length + 1));
      const cond = bool(dc, randomInts(rand, dc, 0, 1));
      await expectMatch({ op: 'Where', opset: 16, inputs: [cond, randomF32(rand, dx), randomF32(rand, dy)] });
      await expectMatch({ op: 'Where', opset: 9, inputs: [cond, i64(dx, randomInts(rand, dx, -9, 9)), i64(dy, randomInts(rand, dy, -9, 9))] });
    }
  });
});

describe('variadic Sum, Mean, Max, Min against onnxruntime', () => {
  const rand = rng(11);
  for (const op of ['Sum', 'Mean', 'Max', 'Min']) {
    for (const opset of [8, 13]) {
      it(`${op} opset ${opset} with 1 to 4 broadcasting inputs`, async () => {
        for (let count = 1; count <= 4; count++) {
          const [da, db] = shapePair(rand);
          const shapes = [da, db, da.slice(1), db.map(() => 1)].slice(0, count);
          await expectMatch({ op, opset, inputs: shapes.map((d) => randomF32(rand, d)) });
        }
      });
    }
  }
  it('Max and Min on int64 (opset 12+)', async () => {
    await expectMatch({ op: 'Max', opset: 13, inputs: [i64([2, 3], [1, -5, 3, 9, 0, -2]), i64([3], [2, 2, 2])] });
    await expectMatch({ op: 'Min', opset: 13, inputs: [i64([2, 3], [1, -5, 3, 9, 0, -2]), i64([1], [0])] });
  });
});

describe('unary math against onnxruntime', () => {
  const rand = rng(3);
  const cases: [string, number, number][] = [
    ['Exp', -5, 5],
    ['Log', 0.01, 10],
    ['Sqrt', 0, 10],
    ['Neg', -5, 5],
    ['Abs', -5, 5],
    ['Reciprocal', 0.1, 5],
  ];
  for (const [op, lo, hi] of cases) {
    it(`${op} float32 at opsets 6 and 13`, async () => {
      for (const opset of [6, 13]) await expectMatch({ op, opset, inputs: [randomF32(rand, [2, 3, 4], lo, hi)] });
    });
  }
  it('Neg and Abs on int64 and int32', async () => {
    for (const op of ['Neg', 'Abs']) {
      await expectMatch({ op, opset: 13, inputs: [i64([5], [-3, 0, 7, -1, 2])] });
      await expectMatch({ op, opset: 13, inputs: [i32([5], [-3, 0, 7, -1, 2])] });
    }
  });
});

/**
 * Opset-6 legacy broadcasting, which onnxruntime refuses to load: checked against a direct reference
 * that walks A's indices and picks B's element from the aligned axes.
 */
describe('opset-6 legacy broadcast/axis attributes (independent reference)', () => {
  const rand = rng(5);
  function legacyReference(a: RtTensor, b: RtTensor, axis: number, op: (x: number, y: number) => number): Float32Array {
    const out = new Float32Array(a.data.length);
    const rank = a.dims.length;
    const idx = new Array<number>(rank).fill(0);
    for (let i = 0; i < out.length; i++) {
      let bi = 0;
      for (let k = 0; k < b.dims.length; k++) bi = bi * b.dims[k]! + (b.dims[k] === 1 ? 0 : idx[axis + k]!);
      out[i] = op((a.data as Float32Array)[i]!, (b.data as Float32Array)[bi]!);
      for (let d = rank - 1; d >= 0; d--) {
        if (++idx[d]! < a.dims[d]!) break;
        idx[d] = 0;
      }
    }
    return out;
  }
  const ops: [string, (x: number, y: number) => number][] = [
    ['Add', (x, y) => x + y],
    ['Sub', (x, y) => x - y],
    ['Mul', (x, y) => x * y],
    ['Div', (x, y) => x / y],
  ];
  for (const [op, fn] of ops) {
    it(`${op}: B aligned at an explicit axis, at the default (suffix) axis, and as a scalar`, () => {
      const a = randomF32(rand, [2, 3, 4, 5]);
      const layouts: { b: number[]; axis?: number }[] = [
        { b: [3], axis: 1 },
        { b: [3, 4], axis: 1 },
        { b: [3, 1], axis: -3 },
        { b: [4, 5] },
        { b: [5] },
        { b: [1] },
        { b: [2, 3, 4, 5] },
      ];
      for (const { b: bDims, axis } of layouts) {
        const b = randomF32(rand, bDims, 0.5, 2);
        const attrs = [intAttr('broadcast', 1), ...(axis === undefined ? [] : [intAttr('axis', axis)])];
        const [got] = runKernel({ op, opset: 6, inputs: [a, b], attrs });
        const alignAt = axis === undefined ? 4 - bDims.length : axis < 0 ? axis + 4 : axis;
        const want = bDims.length === 1 && bDims[0] === 1 ? legacyReference(a, b, 3, fn) : legacyReference(a, b, alignAt, fn);
        expect(got!.dims).toEqual([2, 3, 4, 5]);
        const gd = got!.data as Float32Array;
        let bad = -1;
        for (let i = 0; i < want.length; i++) if (gd[i] !== want[i]) bad = i;
        expect(bad, `${op} B=[${bDims}] axis=${axis}`).toBe(-1);
      }
    });
  }
  it('without broadcast=1, different shapes are an error naming the node', () => {
    const run = () => runKernel({ op: 'Add', opset: 6, inputs: [randomF32(rand, [2, 3]), randomF32(rand, [3])] });
    expect(run).toThrow(BncError);
    expect(run).toThrow(/Add node 'Add_under_test'.*broadcast=0/);
  });
  it('a B that does not fit at the axis is an error', () => {
    const run = () =>
      runKernel({ op: 'Mul', opset: 6, inputs: [randomF32(rand, [2, 3, 4]), randomF32(rand, [4])], attrs: [intAttr('broadcast', 1), intAttr('axis', 1)] });
    expect(run).toThrow(/does not match/);
  });
  it('opset 7 ignores nothing: numpy broadcasting applies and the legacy attributes are not read', () => {
    const a = randomF32(rand, [2, 3]);
    const b = randomF32(rand, [3]);
    const [got] = runKernel({ op: 'Add', opset: 7, inputs: [a, b] });
    expect(got!.dims).toEqual([2, 3]);
    expect((got!.data as Float32Array)[4]).toBe(Math.fround((a.data as Float32Array)[4]! + (b.data as Float32Array)[1]!));
  });
});

describe('elementwise errors', () => {
  it('non-broadcastable shapes name the node and both shapes', () => {
    const run = () => runKernel({ op: 'Add', opset: 13, inputs: [f32([2, 3], [1, 2, 3, 4, 5, 6]), f32([2], [1, 2])] });
    expect(run).toThrow(BncError);
    expect(run).toThrow(/Add node 'Add_under_test': input shapes \[2,3\] and \[2\] cannot be broadcast/);
  });
  it('mixed input types are an error', () => {
    expect(() => runKernel({ op: 'Mul', opset: 13, inputs: [f32([1], [1]), i64([1], [1])] })).toThrow(/different types/);
  });
  it('int64 division by zero is an error, not a crash', () => {
    expect(() => runKernel({ op: 'Div', opset: 13, inputs: [i64([1], [1]), i64([1], [0])] })).toThrow(BncError);
  });
  it('Where needs a bool condition', () => {
    expect(() => runKernel({ op: 'Where', opset: 16, inputs: [f32([1], [1]), f32([1], [1]), f32([1], [2])] })).toThrow(/bool/);
  });
  it('the output dtype of Equal is bool', () => {
    const [out] = runKernel({ op: 'Equal', opset: 13, inputs: [i64([2], [1, 2]), i64([2], [1, 3])] });
    expect(out!.dtype).toBe(DataType.BOOL);
    expect(Array.from(out!.data as Uint8Array)).toEqual([1, 0]);
  });
});
