import { MatrixOperand, sgemm } from './gemmCore.js';
import { depthwisePlanes } from './depthwise.js';
import { im2colChannels } from './im2col.js';
import { PointwiseJob, pointwiseRange } from './pointwise.js';
import { EpilogueSpec, epilogueOf } from './epilogue.js';
import { WindowGeometry } from './windowGeometry.js';
import { WinogradJob, winogradChunk } from './winogradKernels.js';

// The work that worker threads share with the calling thread. A job is split into numbered chunks; the
// calling thread and the workers claim chunk numbers from one shared counter, so every chunk runs exactly
// once, on whichever thread gets to it first. Everything a job reads or writes lives in SharedArrayBuffers.
// This module is imported by both sides (src/runtime/parallel.ts and src/runtime/parallelWorker.ts).

/** Slots of a job's control array (Int32Array over a SharedArrayBuffer). */
export const NEXT_CHUNK = 0;
export const DONE_CHUNKS = 1;
/** 0, or 1 + the number of a chunk that threw in a worker. */
export const FAILED_CHUNK = 2;
/** Chunks run by worker threads (for diagnostics and tests). */
export const WORKER_CHUNKS = 3;
export const CONTROL_SLOTS = 4;

/** C += alpha · op(A) · op(B), split along M or N in `unit`-multiples (the last chunk takes the rest). */
export interface GemmJob {
  task: 'gemm';
  M: number;
  N: number;
  K: number;
  alpha: number;
  a: MatrixOperand;
  b: MatrixOperand;
  c: Float32Array;
  cOffset: number;
  ldc: number;
  /** Split the rows (M) or the columns (N) of C. */
  splitRows: boolean;
  chunkSize: number;
  /** A fused Conv's epilogue, applied to each chunk's blocks of C as they are finished (see sgemm). */
  epilogue?: EpilogueSpec;
}

/** Depthwise convolution of output planes [chunk·chunkSize, ...) (see depthwisePlanes). */
export interface DepthwiseJob {
  task: 'depthwise';
  geometry: Int32Array;
  src: Float32Array;
  weights: Float32Array;
  out: Float32Array;
  planes: number;
  chunkSize: number;
  /** A fused Conv's epilogue, applied to each output plane once it is computed. */
  epilogue?: EpilogueSpec;
}

/** im2col rows of input channels [chunk·chunkSize, ...) (see im2colChannels). */
export interface Im2colJob {
  task: 'im2col';
  geometry: WindowGeometry;
  src: Float32Array;
  srcOffset: number;
  col: Float32Array;
  channels: number;
  chunkSize: number;
}

export type ParallelJob = GemmJob | DepthwiseJob | Im2colJob | PointwiseJob | WinogradJob;

export interface JobMessage {
  job: ParallelJob;
  control: Int32Array;
  chunks: number;
}

export function runChunk(job: ParallelJob, chunk: number, chunks: number): void {
  if (job.task === 'depthwise') {
    const first = chunk * job.chunkSize;
    const last = chunk === chunks - 1 ? job.planes : first + job.chunkSize;
    depthwisePlanes(job.geometry, job.src, job.weights, job.out, first, last, job.epilogue && epilogueOf(job.epilogue));
    return;
  }
  if (job.task === 'pointwise') {
    const first = chunk * job.chunkSize;
    pointwiseRange(job, first, chunk === chunks - 1 ? job.count : first + job.chunkSize);
    return;
  }
  if (job.task === 'winograd') {
    winogradChunk(job, chunk, chunks);
    return;
  }
  if (job.task === 'im2col') {
    const first = chunk * job.chunkSize;
    const last = chunk === chunks - 1 ? job.channels : first + job.chunkSize;
    im2colChannels(job.src, job.srcOffset, job.geometry, job.col, first, last);
    return;
  }
  const total = job.splitRows ? job.M : job.N;
  const start = chunk * job.chunkSize;
  const size = (chunk === chunks - 1 ? total : start + job.chunkSize) - start;
  const { a, b } = job;
  const epilogue = job.epilogue && epilogueOf(job.epilogue);
  if (job.splitRows) {
    const rowsOfA: MatrixOperand = { ...a, offset: a.offset + (a.transposed ? start : start * a.stride) };
    sgemm(size, job.N, job.K, job.alpha, rowsOfA, b, job.c, job.cOffset + start * job.ldc, job.ldc, epilogue);
  } else {
    const columnsOfB: MatrixOperand = { ...b, offset: b.offset + (b.transposed ? start * b.stride : start) };
    sgemm(job.M, size, job.K, job.alpha, a, columnsOfB, job.c, job.cOffset + start, job.ldc, epilogue);
  }
}

/**
 * Claim and run chunks until none is left. Returns after this thread's last chunk, not after all of them
 * (the caller waits for the rest). A chunk that throws in a worker is recorded instead of lost.
 */
export function workOn(message: JobMessage, inWorker: boolean): void {
  const { job, control, chunks } = message;
  for (;;) {
    const chunk = Atomics.add(control, NEXT_CHUNK, 1);
    if (chunk >= chunks) return;
    try {
      runChunk(job, chunk, chunks);
    } catch (e) {
      if (!inWorker) throw e;
      Atomics.compareExchange(control, FAILED_CHUNK, 0, chunk + 1);
    }
    if (inWorker) Atomics.add(control, WORKER_CHUNKS, 1);
    if (Atomics.add(control, DONE_CHUNKS, 1) + 1 === chunks) Atomics.notify(control, DONE_CHUNKS);
  }
}
