import { KernelConfig, RtTensor, floatTensor, kernelError, requireFloat, requireInput } from './kernel.js';
import { sgemm } from './gemmCore.js';
import { parallelSgemm, shareConstant, shareCopy, sharedFloat32, worthThreads } from './parallel.js';
import { broadcastDims, broadcastTo, formatDims } from './broadcast.js';

// Gemm (Y = alpha·op(A)·op(B) + beta·C with C broadcast to M×N) and MatMul (numpy matmul: 1-D operands
// promoted, batch axes broadcast). Both run on the packed GEMM of gemmCore.

const gemm: KernelConfig = {
  opType: 'Gemm',
  run(ctx) {
    const a = requireInput(ctx, 0, 'A');
    const b = requireInput(ctx, 1, 'B');
    const aData = requireFloat(ctx, a, 'A');
    const bData = requireFloat(ctx, b, 'B');
    const transA = ctx.attrs.int('transA', 0) !== 0;
    const transB = ctx.attrs.int('transB', 0) !== 0;
    const alpha = ctx.attrs.float('alpha', 1);
    const beta = ctx.attrs.float('beta', 1);
    if (a.dims.length !== 2 || b.dims.length !== 2) {
      throw kernelError(ctx.node, `A ${formatDims(a.dims)} and B ${formatDims(b.dims)} must both be 2-D matrices`);
    }
    const [M, K] = transA ? [a.dims[1]!, a.dims[0]!] : [a.dims[0]!, a.dims[1]!];
    const [kB, N] = transB ? [b.dims[1]!, b.dims[0]!] : [b.dims[0]!, b.dims[1]!];
    if (K !== kB) {
      throw kernelError(ctx.node, `inner dimensions differ: op(A) is ${M}×${K}, op(B) is ${kB}×${N} (transA=${+transA}, transB=${+transB})`);
    }
    // Large products run on worker threads, with operands and result in shared memory.
    const threaded = worthThreads(ctx.threads, M * N * K);
    const out = threaded ? sharedFloat32(M * N) : new Float32Array(M * N);
    const c = ctx.inputs[2];
    if (c && beta !== 0) {
      requireFloat(ctx, c, 'C');
      // C broadcasts unidirectionally to M×N (opset 7+; the older `broadcast` attribute allowed the same shapes).
      const target = broadcastDims(ctx.node, [c.dims, [M, N]]);
      if (target.length !== 2 || target[0] !== M || target[1] !== N) {
        throw kernelError(ctx.node, `C ${formatDims(c.dims)} does not broadcast to the ${M}×${N} result`);
      }
      const full = broadcastTo(ctx.node, c, [M, N]).data as Float32Array;
      for (let i = 0; i < out.length; i++) out[i] = beta * full[i]!;
    }
    parallelSgemm(
      threaded ? ctx.threads : 1, M, N, K, alpha,
      { data: threaded ? shareCopy(aData) : aData, offset: 0, stride: a.dims[1]!, transposed: transA },
      { data: threaded ? shareConstant(bData) : bData, offset: 0, stride: b.dims[1]!, transposed: transB },
      out, 0, N,
    );
    return [floatTensor([M, N], out)];
  },
};

const matMul: KernelConfig = {
  opType: 'MatMul',
  run(ctx) {
    const a = requireInput(ctx, 0, 'A');
    const b = requireInput(ctx, 1, 'B');
    return [matMulFloat(ctx.node, a, requireFloat(ctx, a, 'A'), b, requireFloat(ctx, b, 'B'))];
  },
};

/** numpy.matmul on float32: batch axes broadcast; a 1-D A is a row vector, a 1-D B a column vector. */
function matMulFloat(node: Parameters<typeof kernelError>[0], a: RtTensor, aData: Float32Array, b: RtTensor, bData: Float32Array): RtTensor {
  if (a.dims.length === 0 || b.dims.length === 0) throw kernelError(node, 'MatMul operands must have at least one axis');
  const aDims = a.dims.length === 1 ? [1, a.dims[0]!] : a.dims;
  const bDims = b.dims.length === 1 ? [b.dims[0]!, 1] : b.dims;
  const M = aDims[aDims.length - 2]!;
  const K = aDims[aDims.length - 1]!;
  const N = bDims[bDims.length - 1]!;
  if (bDims[bDims.length - 2] !== K) {
    throw kernelError(node, `inner dimensions differ: A ${formatDims(a.dims)} and B ${formatDims(b.dims)}`);
  }
  const aBatch = aDims.slice(0, -2);
  const bBatch = bDims.slice(0, -2);
  const batch = broadcastDims(node, [aBatch, bBatch]);
  const batchCount = batch.reduce((x, y) => x * y, 1);
  const out = new Float32Array(batchCount * M * N);
  if (bBatch.every((d) => d === 1) && aBatch.length >= bBatch.length) {
    // One shared B: A's batch rows stack into one tall matrix (the common Linear-on-3-D case).
    sgemm(batchCount * M, N, K, 1, { data: aData, offset: 0, stride: K }, { data: bData, offset: 0, stride: N }, out, 0, N);
  } else {
    const aOffsets = batchOffsets(batch, aBatch, M * K);
    const bOffsets = batchOffsets(batch, bBatch, K * N);
    for (let i = 0; i < batchCount; i++) {
      sgemm(M, N, K, 1, { data: aData, offset: aOffsets[i]!, stride: K }, { data: bData, offset: bOffsets[i]!, stride: N }, out, i * M * N, N);
    }
  }
  const dims = [...batch];
  if (a.dims.length > 1) dims.push(M);
  if (b.dims.length > 1) dims.push(N);
  return floatTensor(dims, out);
}

/** For each batch index of the broadcast `batch` shape, the element offset of the operand's matrix. */
function batchOffsets(batch: number[], own: number[], matrixSize: number): Int32Array | Float64Array {
  const count = batch.reduce((x, y) => x * y, 1);
  const offsets = new Float64Array(count);
  const lead = batch.length - own.length;
  // Stride of each broadcast axis in the operand (0 where it has size 1 or lacks the axis).
  const strides = new Array<number>(batch.length).fill(0);
  let step = matrixSize;
  for (let i = own.length - 1; i >= 0; i--) {
    strides[lead + i] = own[i] === 1 ? 0 : step;
    step *= own[i]!;
  }
  const index = new Array<number>(batch.length).fill(0);
  for (let k = 0; k < count; k++) {
    let off = 0;
    for (let i = 0; i < batch.length; i++) off += index[i]! * strides[i]!;
    offsets[k] = off;
    for (let i = batch.length - 1; i >= 0; i--) {
      if (++index[i]! < batch[i]!) break;
      index[i] = 0;
    }
  }
  return offsets;
}

export const GEMM_KERNELS: KernelConfig[] = [gemm, matMul];
