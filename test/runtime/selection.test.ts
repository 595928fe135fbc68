import { describe, expect, it } from 'vitest';
import { DataType, intAttr } from '../../src/ir/index.js';
import { NodeCase, compareWithOrt, describeCase, f32, i64, oneNodeModelBytes, randomInt, rng, runKernel, runOrtNode } from '../helpers/kernelHarness.js';
import { parseOnnx } from '../../src/formats/onnx/index.js';
import { inferShapes } from '../../src/runtime/shapeInference.js';
import { HAVE_ONNX_NODE_TESTS, onnxNodeCases, runOnnxNodeCase } from '../helpers/onnxNodeTests.js';
import { bncErrorOf } from '../helpers/errors.js';

async function expectMatch(c: NodeCase): Promise<void> {
  expect(await compareWithOrt(c, { atol: 0, rtol: 0 }), describeCase(c)).toBeUndefined();
}

function randomDims(rand: () => number): number[] {
  const rank = 1 + randomInt(rand, 4);
  return Array.from({ length: rank }, () => 1 + randomInt(rand, 6));
}

/** Small integers as floats, so most lanes hold ties and the tie rules are exercised. */
function tiedF32(rand: () => number, dims: number[]) {
  const n = dims.reduce((a, b) => a * b, 1);
  return f32(dims, Array.from({ length: n }, () => randomInt(rand, 4) - 2));
}

describe('ArgMax / ArgMin against onnxruntime', () => {
  const rand = rng(7);
  for (const op of ['ArgMax', 'ArgMin']) {
    it(`${op}: random axes, keepdims 0/1, select_last_index 0/1, ties, float and int64`, async () => {
      for (let trial = 0; trial < 12; trial++) {
        const dims = randomDims(rand);
        const x = tiedF32(rand, dims);
        const axis = randomInt(rand, dims.length) - (rand() < 0.5 ? dims.length : 0);
        for (const keepdims of [0, 1]) {
          await expectMatch({ op, opset: 11, inputs: [x], attrs: [intAttr('axis', axis), intAttr('keepdims', keepdims)] });
          for (const last of [0, 1]) {
            await expectMatch({ op, opset: 13, inputs: [x], attrs: [intAttr('axis', axis), intAttr('keepdims', keepdims), intAttr('select_last_index', last)] });
          }
        }
        const xi = i64(dims, Array.from(x.data as Float32Array));
        await expectMatch({ op, opset: 13, inputs: [xi], attrs: [intAttr('axis', axis), intAttr('select_last_index', 1)] });
      }
    });
  }
  it('default axis is 0 and keepdims 1', async () => {
    await expectMatch({ op: 'ArgMax', opset: 13, inputs: [tiedF32(rand, [3, 4])] });
  });
});

describe('TopK against onnxruntime', () => {
  const rand = rng(11);
  it('opset 11: K input, largest/smallest, random axes, every k, ties by lower index', async () => {
    for (let trial = 0; trial < 10; trial++) {
      const dims = randomDims(rand);
      const x = tiedF32(rand, dims);
      const axis = randomInt(rand, dims.length) - (rand() < 0.5 ? dims.length : 0);
      const n = dims[axis < 0 ? axis + dims.length : axis]!;
      for (let k = 0; k <= n; k++) {
        for (const largest of [0, 1]) {
          await expectMatch({ op: 'TopK', opset: 11, inputs: [x, i64([1], [k])], attrs: [intAttr('axis', axis), intAttr('largest', largest)], outputs: 2, constant: [1] });
        }
      }
    }
  });
  it('opset 1 (k attribute) and opset 10 (K input), default axis -1', async () => {
    const x = tiedF32(rand, [3, 7]);
    await expectMatch({ op: 'TopK', opset: 1, inputs: [x], attrs: [intAttr('k', 4)], outputs: 2 });
    await expectMatch({ op: 'TopK', opset: 10, inputs: [x, i64([1], [5])], outputs: 2, constant: [1] });
  });
  it('int64 values and a long axis (1000 elements, k 200)', async () => {
    const n = 1000;
    const data = Array.from({ length: n }, () => randomInt(rand, 50));
    await expectMatch({ op: 'TopK', opset: 11, inputs: [i64([1, n], data), i64([1], [200])], outputs: 2, constant: [1] });
    await expectMatch({ op: 'TopK', opset: 11, inputs: [f32([1, n], data), i64([1], [200])], outputs: 2, constant: [1], attrs: [intAttr('largest', 0)] });
  });
  it('sorted = 0: the same elements as onnxruntime (any order is allowed)', async () => {
    const x = f32([10], [3, 1, 4, 1, 5, 9, 2, 6, 5, 3]);
    const c: NodeCase = { op: 'TopK', opset: 11, inputs: [x, i64([1], [4])], attrs: [intAttr('sorted', 0)], outputs: 2, constant: [1] };
    const want = await runOrtNode(c);
    const got = runKernel(c);
    const pairs = (t: typeof got) => Array.from(t[1]!.data as BigInt64Array, (idx, i) => `${idx}:${t[0]!.data[i]}`).sort();
    expect(pairs(got)).toEqual(pairs(want));
  });
  it('k larger than the axis is an error naming the node', () => {
    const e = bncErrorOf(() => runKernel({ op: 'TopK', opset: 11, inputs: [f32([3], [1, 2, 3]), i64([1], [4])], outputs: 2 }));
    expect(e.message).toMatch(/TopK node 'TopK_under_test': k = 4 is outside \[0, 3\]/);
  });
  it('NaN ranks above every number', () => {
    const [v, idx] = runKernel({ op: 'TopK', opset: 11, inputs: [f32([4], [1, NaN, 3, 2]), i64([1], [2])], outputs: 2 });
    expect(Array.from(idx!.data as BigInt64Array, Number)).toEqual([1, 2]);
    expect(Number.isNaN(v!.data[0] as number)).toBe(true);
    const [am] = runKernel({ op: 'ArgMax', opset: 13, inputs: [f32([4], [1, NaN, 3, 2])] });
    expect(am!.dtype).toBe(DataType.INT64);
    expect(Number(am!.data[0])).toBe(1);
  });
});

describe('shape inference of the selection ops', () => {
  const shapesOf = (c: NodeCase) => {
    const model = parseOnnx(oneNodeModelBytes(c));
    return inferShapes(model, new Map(c.inputs.flatMap((t, i) => (t && !c.constant?.includes(i) ? [[`in${i}`, t.dims] as [string, number[]]] : []))));
  };
  it('TopK with a constant K, ArgMax/ArgMin with and without keepdims', () => {
    const x = f32([2, 5, 3], new Array(30).fill(0));
    const topk = shapesOf({ op: 'TopK', opset: 11, inputs: [x, i64([1], [2])], attrs: [intAttr('axis', 1)], outputs: 2, constant: [1] });
    expect([topk.get('out0'), topk.get('out1')]).toEqual([[2, 2, 3], [2, 2, 3]]);
    expect(shapesOf({ op: 'ArgMax', opset: 13, inputs: [x], attrs: [intAttr('axis', -1)] }).get('out0')).toEqual([2, 5, 1]);
    expect(shapesOf({ op: 'ArgMin', opset: 13, inputs: [x], attrs: [intAttr('axis', 1), intAttr('keepdims', 0)] }).get('out0')).toEqual([2, 3]);
  });
  it('a constant K larger than the axis fails before any kernel runs, naming the node and the shape', () => {
    const e = bncErrorOf(() => shapesOf({ op: 'TopK', opset: 11, inputs: [f32([3], [1, 2, 3]), i64([1], [4])], outputs: 2, constant: [1] }));
    expect(e.message).toMatch(/TopK node 'TopK_under_test': k = 4 is outside \[0, 3\] \(the size of axis 0 of \[3\]\)/);
  });
});

describe.skipIf(!HAVE_ONNX_NODE_TESTS)("the ONNX project's node tests (libonnx-testdata)", () => {
  for (const name of [...onnxNodeCases('test_top_k'), ...onnxNodeCases('test_argmax'), ...onnxNodeCases('test_argmin')]) {
    it(name, () => {
      expect(runOnnxNodeCase(name)).toBeUndefined();
    });
  }
});
