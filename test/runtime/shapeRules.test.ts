import { describe, expect, it } from 'vitest';
import { DataType, intAttr, intsAttr, stringAttr } from '../../src/ir/index.js';
import { RtTensor } from '../../src/runtime/kernel.js';
import { NodeCase, describeCase, f32, randomF32, rng, runOrtNode, runThroughEngine, tensorMismatch } from '../helpers/kernelHarness.js';

// Shape rules (src/runtime/shapeInference.ts) and kernels no stricter than the ONNX spec of each opset bnc
// claims (6 to 21). Each case runs as a one-node model through bnc's engine, so the shape rules run before
// the kernel, and is checked against onnxruntime where it runs that opset (7 and later), else against the
// spec's own formula. The window ops (Conv, ConvTranspose, pools) have their own property test
// (windowGeometry.property.test.ts) and ONNX test-data test (onnxTestDataWindows.test.ts).

const TOL = { atol: 1e-5, rtol: 1e-5 };

async function expectOrt(c: NodeCase): Promise<void> {
  const got = runThroughEngine(c);
  const want = await runOrtNode(c);
  for (let i = 0; i < want.length; i++) {
    expect(got.inferred[i], `${describeCase(c)}: inferred shape of output ${i}`).toEqual(want[i]!.dims);
    expect(tensorMismatch(got.outputs[i]!, want[i]!, TOL), describeCase(c)).toBeUndefined();
  }
}

function bnCase(rand: () => number, opset: number, x: number[], stats: number[], attrs = [] as ReturnType<typeof intAttr>[]): NodeCase {
  const inputs = [randomF32(rand, x), randomF32(rand, stats, 0.5, 1.5), randomF32(rand, stats), randomF32(rand, stats), randomF32(rand, stats, 0.5, 1.5)];
  return { op: 'BatchNormalization', opset, inputs, attrs, constant: [1, 2, 3, 4] };
}

/** The spec's formula, per element: y = scale·(x − mean)/√(var + ε) + B, with statistic index `stat(i)`. */
function bnSpec(c: NodeCase, stat: (i: number) => number): Float32Array {
  const [x, s, b, m, v] = c.inputs.map((t) => t!.data as Float32Array) as [Float32Array, Float32Array, Float32Array, Float32Array, Float32Array];
  return Float32Array.from(x, (xi, i) => {
    const k = stat(i);
    return (s[k]! * (xi - m[k]!)) / Math.sqrt(v[k]! + 1e-5) + b[k]!;
  });
}

describe('BatchNormalization: every input rank and statistics layout the spec allows', () => {
  const rand = rng(606);

  it('1-D input of size N (C = 1) and 2-D input (N x C), at opsets 7, 9, 14 and 15', async () => {
    for (const opset of [7, 9, 14, 15]) {
      await expectOrt(bnCase(rand, opset, [5], [1]));
      await expectOrt(bnCase(rand, opset, [4, 3], [3]));
    }
  });

  it('spatial=0 at opsets 7 and 8: statistics shaped like X[1:] (C x D1 x ... x Dn), ranks 2 to 4', async () => {
    for (const opset of [7, 8]) {
      await expectOrt(bnCase(rand, opset, [4, 3], [3], [intAttr('spatial', 0)]));
      await expectOrt(bnCase(rand, opset, [2, 3, 4], [3, 4], [intAttr('spatial', 0)]));
      await expectOrt(bnCase(rand, opset, [2, 3, 2, 2], [3, 2, 2], [intAttr('spatial', 0)]));
    }
  });

  it('opset 6 (onnxruntime does not run it): spatial=0 and 1-D input, by the spec formula', () => {
    const perElement = bnCase(rand, 6, [2, 3, 4], [3, 4], [intAttr('is_test', 1), intAttr('spatial', 0)]);
    const got = runThroughEngine(perElement);
    expect(got.inferred[0]).toEqual([2, 3, 4]);
    expect(tensorMismatch(got.outputs[0]!, f32([2, 3, 4], bnSpec(perElement, (i) => i % 12)), TOL)).toBeUndefined();
    const oneD = bnCase(rand, 6, [5], [1], [intAttr('is_test', 1)]);
    expect(tensorMismatch(runThroughEngine(oneD).outputs[0]!, f32([5], bnSpec(oneD, () => 0)), TOL)).toBeUndefined();
    // spatial=1 keeps per-channel statistics.
    const perChannel = bnCase(rand, 6, [2, 3, 4], [3], [intAttr('is_test', 1)]);
    expect(tensorMismatch(runThroughEngine(perChannel).outputs[0]!, f32([2, 3, 4], bnSpec(perChannel, (i) => Math.floor(i / 4) % 3)), TOL)).toBeUndefined();
  });

  it('the optional running/saved statistics outputs get the statistics shape', () => {
    const c = { ...bnCase(rand, 9, [2, 3, 4], [3]), outputs: 5 };
    const got = runThroughEngine(c);
    expect(got.inferred).toEqual([[2, 3, 4], [3], [3], [3], [3]]);
    expect(got.outputs.map((t) => t.dims)).toEqual(got.inferred);
  });

  it('statistics of the wrong size are still an error that names the node', () => {
    const c = bnCase(rand, 15, [2, 3, 4], [4]);
    expect(() => runThroughEngine(c)).toThrow(/BatchNormalization node 'BatchNormalization_under_test': scale '.*' has 4 values, but the input \[2,3,4\] has 3 channels/);
  });
});

describe('opset 1-6 broadcasting (broadcast=1, axis) for every op that has it', () => {
  it('Equal at opset 6 broadcasts B onto A at the given axis (spec example shapes)', () => {
    const a: RtTensor = f32([2, 3, 4, 5], Array.from({ length: 120 }, (_, i) => i % 3));
    const b: RtTensor = f32([3, 4], Array.from({ length: 12 }, (_, i) => i % 3));
    const c: NodeCase = { op: 'Equal', opset: 6, inputs: [a, b], attrs: [intAttr('broadcast', 1), intAttr('axis', 1)] };
    const got = runThroughEngine(c);
    expect(got.inferred[0]).toEqual([2, 3, 4, 5]);
    const want = Uint8Array.from({ length: 120 }, (_, i) => (i % 3 === Math.floor(i / 5) % 12 % 3 ? 1 : 0));
    expect(got.outputs[0]!.dtype).toBe(DataType.BOOL);
    expect(Array.from(got.outputs[0]!.data as Uint8Array)).toEqual(Array.from(want));
  });
});

describe('ConvTranspose output_shape: the padding split of each opset', () => {
  // x = [1, 2, 3], w = [1, 1, 1], stride 2: the full output is [1, 1, 3, 2, 5, 3, 3]; output_shape [6]
  // drops one element. ConvTranspose-11 pads the odd element at the beginning (SAME_UPPER: at the end);
  // ConvTranspose-1 (opsets 1-10) the other way round.
  const c = (opset: number, autoPad?: string): NodeCase => ({
    op: 'ConvTranspose',
    opset,
    inputs: [f32([1, 1, 3], [1, 2, 3]), f32([1, 1, 3], [1, 1, 1])],
    attrs: [intsAttr('strides', [2]), intsAttr('output_shape', [6]), ...(autoPad ? [stringAttr('auto_pad', autoPad)] : [])],
  });
  const values = (k: NodeCase) => Array.from(runThroughEngine(k).outputs[0]!.data as Float32Array);

  it('opset 11 and later, as onnxruntime', async () => {
    expect(values(c(11))).toEqual([1, 3, 2, 5, 3, 3]);
    expect(values(c(13, 'SAME_UPPER'))).toEqual([1, 1, 3, 2, 5, 3]);
    await expectOrt(c(13));
    await expectOrt(c(13, 'SAME_UPPER'));
  });

  it('opsets 1 to 10, as ConvTranspose-1 says', () => {
    expect(values(c(10))).toEqual([1, 1, 3, 2, 5, 3]);
    expect(values(c(9, 'SAME_UPPER'))).toEqual([1, 3, 2, 5, 3, 3]);
  });
});
