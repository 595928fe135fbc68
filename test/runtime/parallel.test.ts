import { afterAll, describe, expect, it } from 'vitest';
import { Attribute, Node, floatAttr, intAttr, intsAttr } from '../../src/ir/index.js';
import { AttributeReader, RtTensor } from '../../src/runtime/kernel.js';
import { findKernel } from '../../src/runtime/kernels.js';
import { closeThreadPool, threadsAvailable, workerStats } from '../../src/runtime/parallel.js';
import { randomF32, rng } from '../helpers/kernelHarness.js';

// The threaded kernels split C into row or column ranges (GEMM) or output planes (depthwise) and compute
// each element exactly as the single-threaded code does, so the two paths must agree bit for bit.
// Under vitest the worker runs the compiled dist/runtime/parallelWorker.js (built by the test setup).

function runNode(op: string, inputs: RtTensor[], attributes: Attribute[], threads: number): Float32Array {
  const node: Node = { name: `${op}_threads`, opType: op, domain: '', inputs: inputs.map((_, i) => `in${i}`), outputs: ['out'], attributes };
  const [out] = findKernel(op)!.run({ node, opset: 13, inputs, attrs: new AttributeReader(node), threads });
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
      [randomF32(r, [1, 32, 30, 30]), randomF32(r, [48, 32, 3, 3]), randomF32(r, [48])],
      [ints('kernel_shape', [3, 3]), ints('pads', [1, 1, 1, 1])],
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

  it('Gemm with transB, alpha and a broadcast C', async () => {
    const r = rng(14);
    await expectThreadedEqual(
      'Gemm',
      [randomF32(r, [70, 300]), randomF32(r, [257, 300]), randomF32(r, [257])],
      [int('transB', 1), floatAttr('alpha', 0.75)],
    );
  });
});
