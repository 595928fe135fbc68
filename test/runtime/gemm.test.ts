import { describe, expect, it } from 'vitest';
import { floatAttr, intAttr } from '../../src/ir/index.js';
import { sgemm } from '../../src/runtime/gemmCore.js';
import { NodeCase, compareWithOrt, describeCase, randomF32, randomInt, rng, runKernel } from '../helpers/kernelHarness.js';

const TOL = { atol: 1e-4, rtol: 1e-4 };

async function expectMatch(c: NodeCase): Promise<void> {
  const mismatch = await compareWithOrt(c, TOL);
  expect(mismatch, describeCase(c)).toBeUndefined();
}

describe('packed GEMM core against a plain triple loop', () => {
  const rand = rng(31);
  it('all transpose combinations, edge tiles, sizes across the block boundaries, offsets and strides', () => {
    const sizes: [number, number, number][] = [[1, 1, 1], [3, 5, 7], [4, 4, 4], [17, 9, 300], [130, 7, 260], [5, 1030, 3], [2, 3, 513], [66, 33, 1]];
    for (const [M, N, K] of sizes) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const pad = 3;
          const lda = (transA ? M : K) + pad;
          const ldb = (transB ? K : N) + pad;
          const ldc = N + 2;
          const A = randomF32(rand, [(transA ? K : M) * lda + 5]).data as Float32Array;
          const B = randomF32(rand, [(transB ? N : K) * ldb + 5]).data as Float32Array;
          const C = randomF32(rand, [M * ldc + 4]).data as Float32Array;
          const want = Float64Array.from(C);
          const alpha = 0.75;
          for (let i = 0; i < M; i++) {
            for (let j = 0; j < N; j++) {
              let s = 0;
              for (let p = 0; p < K; p++) {
                const a = transA ? A[2 + p * lda + i]! : A[2 + i * lda + p]!;
                const b = transB ? B[1 + j * ldb + p]! : B[1 + p * ldb + j]!;
                s += a * b;
              }
              want[1 + i * ldc + j] += alpha * s;
            }
          }
          sgemm(M, N, K, alpha, { data: A, offset: 2, stride: lda, transposed: transA }, { data: B, offset: 1, stride: ldb, transposed: transB }, C, 1, ldc);
          let worst = 0;
          for (let i = 0; i < C.length; i++) worst = Math.max(worst, Math.abs(C[i]! - want[i]!) / (1 + Math.abs(want[i]!)));
          expect(worst, `M=${M} N=${N} K=${K} transA=${transA} transB=${transB}`).toBeLessThan(1e-5);
        }
      }
    }
  });
});

describe('Gemm against onnxruntime', () => {
  const rand = rng(32);
  it('transA / transB / alpha / beta and C broadcast from (N), (M,1), (1,N), scalar, (M,N) and absent', async () => {
    for (let trial = 0; trial < 24; trial++) {
      const M = 1 + randomInt(rand, 9);
      const N = 1 + randomInt(rand, 9);
      const K = 1 + randomInt(rand, 20);
      const transA = randomInt(rand, 2);
      const transB = randomInt(rand, 2);
      const a = randomF32(rand, transA ? [K, M] : [M, K]);
      const b = randomF32(rand, transB ? [N, K] : [K, N]);
      const cShapes = [[N], [M, 1], [1, N], [], [M, N], undefined];
      const cDims = cShapes[trial % cShapes.length];
      const attrs = [intAttr('transA', transA), intAttr('transB', transB)];
      if (rand() < 0.5) attrs.push(floatAttr('alpha', 0.5 + rand()), floatAttr('beta', rand() < 0.2 ? 0 : -1 + 2 * rand()));
      const opset = cDims === undefined ? 13 : [7, 9, 11, 13][randomInt(rand, 4)]!;
      await expectMatch({ op: 'Gemm', opset, inputs: cDims ? [a, b, randomF32(rand, cDims)] : [a, b], attrs });
    }
  });
  it('a linear layer with many outputs (the M = 1 path)', async () => {
    await expectMatch({ op: 'Gemm', opset: 13, inputs: [randomF32(rand, [1, 300]), randomF32(rand, [70, 300]), randomF32(rand, [70])], attrs: [intAttr('transB', 1)] });
    await expectMatch({ op: 'Gemm', opset: 13, inputs: [randomF32(rand, [1, 40]), randomF32(rand, [40, 70]), randomF32(rand, [70])] });
  });
  it('mismatched inner dimensions are a clear error', () => {
    expect(() => runKernel({ op: 'Gemm', opset: 13, inputs: [randomF32(rand, [2, 3]), randomF32(rand, [4, 5])] })).toThrow(/inner dimensions differ/);
  });
});

describe('MatMul against onnxruntime', () => {
  const rand = rng(33);
  it('batched with broadcasting batch axes, and 1-D operands on either side', async () => {
    const cases: [number[], number[]][] = [
      [[3, 4], [4, 5]],
      [[2, 3, 4], [4, 5]],
      [[2, 3, 4], [2, 4, 5]],
      [[2, 1, 3, 4], [5, 4, 6]],
      [[1, 3, 4], [2, 2, 4, 5]],
      [[4], [4, 5]],
      [[2, 3, 4], [4]],
      [[4], [4]],
      [[6], [3, 6, 2]],
      [[3, 2, 6], [6]],
      [[1, 7], [7, 1]],
      [[130, 20], [20, 9]],
    ];
    for (const [aDims, bDims] of cases) {
      await expectMatch({ op: 'MatMul', opset: 13, inputs: [randomF32(rand, aDims), randomF32(rand, bDims)] });
    }
  });
  it('non-broadcastable batch axes are a clear error', () => {
    expect(() => runKernel({ op: 'MatMul', opset: 13, inputs: [randomF32(rand, [2, 3, 4]), randomF32(rand, [3, 4, 5])] })).toThrow(/cannot be broadcast/);
  });
});
