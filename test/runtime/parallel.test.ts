import { afterAll, describe, expect, it } from 'vitest';
import { Attribute, DataType, Model, Node, createTensor, emptyGraph, floatAttr, intAttr, intsAttr, tensorValueInfo } from '../../src/ir/index.js';
import { runModel } from '../../src/runtime/engine.js';
import { AttributeReader, RtTensor } from '../../src/runtime/kernel.js';
import { findKernel } from '../../src/runtime/kernels.js';
import { closeThreadPool, sharedFloat32, threadsAvailable, withSharedOutputs, workerStats } from '../../src/runtime/parallel.js';
import { randomF32, rng } from '../helpers/kernelHarness.js';

// The threaded kernels split C into row or column ranges (GEMM) or output planes (depthwise) and compute
// each element exactly as the single-threaded code does, so the two paths must agree bit for bit.
// Under vitest the worker runs the compiled dist/runtime/parallelWorker.js (built by the test setup).

function runNode(op: string, inputs: RtTensor[], attributes: Attribute[], threads: number): Float32Array {
  const node: Node = { name: `${op}_threads`, opType: op, domain: '', inputs: inputs.map((_, i) => `in${i}`), outputs: ['out'], attributes };
  // As in runModel: on several threads, kernel outputs are allocated in shared memory.
  const [out] = withSharedOutputs(threads > 1, () => findKernel(op)!.run({ node, opset: 13, inputs, attrs: new AttributeReader(node), threads }));
  return out!.data as Float32Array;
}

function countDifferences(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.max(a.length, b.length);
  let differing = 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) differing++;
  return differing;
}

/**
 * Run the node threaded until a worker has taken part (a fresh worker warms up first and may join only
 * later jobs), then compare with the single-threaded result.
 */
async function expectThreadedEqual(op: string, inputs: RtTensor[], attributes: Attribute[]): Promise<void> {
  const single = runNode(op, inputs, attributes, 1);
  const before = workerStats.chunksByWorkers;
  for (let attempt = 0; attempt < 50 && workerStats.chunksByWorkers === before; attempt++) {
    const threaded = runNode(op, inputs, attributes, 2);
    expect(countDifferences(threaded, single)).toBe(0);
    if (workerStats.chunksByWorkers === before) await new Promise((resolve) => setTimeout(resolve, 20));
  }
  expect(workerStats.chunksByWorkers, 'a worker thread ran part of the node').toBeGreaterThan(before);
}

const ints = intsAttr;
const int = intAttr;

describe('threaded kernels match the single-threaded ones bit for bit', () => {
  afterAll(() => closeThreadPool());

  it('worker threads start from the compiled worker', () => {
    expect(threadsAvailable(2)).toBe(true);
  });

  it('Conv 3×3 with padding and bias (im2col + GEMM split by columns)', async () => {
    const r = rng(11);
    await expectThreadedEqual(
      'Conv',
      // 12 input channels: below Winograd's minimum, so this stays on the im2col path.
      [randomF32(r, [1, 12, 30, 30]), randomF32(r, [48, 12, 3, 3]), randomF32(r, [48])],
      [ints('kernel_shape', [3, 3]), ints('pads', [1, 1, 1, 1])],
    );
  });

  it('Conv 3×3 stride 1 with 64 channels (Winograd: each of the 16 transform-point GEMMs split by columns)', async () => {
    const r = rng(12);
    await expectThreadedEqual(
      'Conv',
      [randomF32(r, [1, 64, 56, 56]), randomF32(r, [64, 64, 3, 3]), randomF32(r, [64])],
      [ints('kernel_shape', [3, 3]), ints('pads', [1, 1, 1, 1])],
    );
  });

  it('Conv 3×3 stride 2, dilated, 2 groups of 13 channels (im2col split unevenly by input channel)', async () => {
    const r = rng(15);
    await expectThreadedEqual(
      'Conv',
      [randomF32(r, [2, 26, 61, 57]), randomF32(r, [40, 13, 3, 3])],
      [ints('kernel_shape', [3, 3]), ints('strides', [2, 2]), ints('dilations', [2, 1]), ints('pads', [2, 1, 0, 1]), int('group', 2)],
    );
  });

  it('Conv 1×1 with many output channels and a small image (pointwise GEMM split by rows)', async () => {
    const r = rng(12);
    await expectThreadedEqual('Conv', [randomF32(r, [1, 300, 7, 7]), randomF32(r, [518, 300, 1, 1])], [ints('kernel_shape', [1, 1])]);
  });

  it('depthwise Conv 3×3 stride 2 (split by output planes)', async () => {
    const r = rng(13);
    await expectThreadedEqual(
      'Conv',
      [randomF32(r, [2, 96, 81, 81]), randomF32(r, [96, 1, 3, 3]), randomF32(r, [96])],
      [ints('kernel_shape', [3, 3]), ints('strides', [2, 2]), ints('pads', [1, 1, 1, 1]), int('group', 96)],
    );
  });

  // Elementwise ops go to worker threads only when their input already lives in shared memory (an output
  // of a threaded run), so these inputs are shared, with NaN, ±0, ±Infinity and denormals mixed in.
  const sharedInput = (r: () => number, dims: number[]): RtTensor => {
    const t = randomF32(r, dims, -3, 3);
    const data = sharedFloat32(t.data.length);
    data.set(t.data as Float32Array);
    [NaN, -0, 0, Infinity, -Infinity, 1e-40, -1e-40].forEach((v, i) => (data[i * 997] = v));
    return { ...t, data };
  };

  it('Relu, Clip, same-shape Add and BatchNormalization on shared inputs (split by element ranges and planes)', async () => {
    const r = rng(17);
    const dims = [2, 24, 61, 53];
    const x = sharedInput(r, dims);
    await expectThreadedEqual('Relu', [x], []);
    const bound = (v: number): RtTensor => ({ dtype: x.dtype, dims: [], data: Float32Array.of(v) });
    await expectThreadedEqual('Clip', [x, bound(0), bound(6)], []);
    await expectThreadedEqual('Add', [x, sharedInput(r, dims)], []);
    const perChannel = () => randomF32(r, [24], 0.5, 2);
    await expectThreadedEqual('BatchNormalization', [x, perChannel(), perChannel(), perChannel(), perChannel()], [floatAttr('epsilon', 1e-3)]);
  });

  it('Gemm with transB, alpha and a broadcast C', async () => {
    const r = rng(14);
    await expectThreadedEqual(
      'Gemm',
      [randomF32(r, [70, 300]), randomF32(r, [257, 300]), randomF32(r, [257])],
      [int('transB', 1), floatAttr('alpha', 0.75)],
    );
  });

  it('a whole model: outputs of Relu, BatchNormalization, MaxPool and Add feed threaded convs from shared memory', async () => {
    const r = rng(16);
    const weight = (name: string, dims: number[]) => createTensor(name, DataType.FLOAT, dims, randomF32(r, dims, -0.5, 0.5).data as Float32Array);
    const variance = createTensor('var', DataType.FLOAT, [48], Float32Array.from({ length: 48 }, (_, i) => 0.5 + i / 48));
    const n = (opType: string, inputs: string[], outputs: string[], attributes: Attribute[] = []): Node => ({ name: outputs[0]!, opType, domain: '', inputs, outputs, attributes });
    const graph = emptyGraph('threaded_chain');
    graph.nodes = [
      n('Conv', ['x', 'w1', 'b1'], ['c1'], [ints('pads', [1, 1, 1, 1])]),
      n('BatchNormalization', ['c1', 'gamma', 'beta', 'mean', 'var'], ['bn']),
      n('Relu', ['bn'], ['r1']),
      n('MaxPool', ['r1'], ['p1'], [ints('kernel_shape', [2, 2]), ints('strides', [2, 2])]),
      n('Conv', ['p1', 'w2'], ['c2']),
      n('Conv', ['p1', 'w3'], ['c3'], [ints('pads', [1, 1, 1, 1])]),
      n('Add', ['c2', 'c3'], ['sum']),
      n('Conv', ['sum', 'w4'], ['y'], [ints('kernel_shape', [3, 3]), ints('strides', [2, 2])]),
    ];
    graph.inputs = [tensorValueInfo('x', DataType.FLOAT, [1, 24, 64, 64])];
    graph.outputs = [{ name: 'y', type: { tensor: { elemType: DataType.FLOAT } } }];
    graph.initializers = [
      weight('w1', [48, 24, 3, 3]), weight('b1', [48]), weight('gamma', [48]), weight('beta', [48]), weight('mean', [48]), variance,
      weight('w2', [64, 48, 1, 1]), weight('w3', [64, 48, 3, 3]), weight('w4', [32, 64, 3, 3]),
    ];
    const model: Model = { irVersion: 8, opsetImports: [{ domain: '', version: 13 }], metadataProps: [], graph };
    const inputs = new Map([['x', randomF32(r, [1, 24, 64, 64])]]);
    const single = runModel(model, inputs, { threads: 1 }).outputs.get('y')!.data as Float32Array;
    const before = workerStats.chunksByWorkers;
    for (let attempt = 0; attempt < 50 && workerStats.chunksByWorkers === before; attempt++) {
      const threaded = runModel(model, inputs, { threads: 2 }).outputs.get('y')!.data as Float32Array;
      expect(countDifferences(threaded, single)).toBe(0);
      if (workerStats.chunksByWorkers === before) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(workerStats.chunksByWorkers, 'a worker thread ran part of the model').toBeGreaterThan(before);
  });
});
