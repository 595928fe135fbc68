import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { debuglog } from 'node:util';
import { Worker } from 'node:worker_threads';
import { takeFloat32 } from './bufferPool.js';
import { MatrixOperand, applyToBlock, sgemm } from './gemmCore.js';
import type { ConvEpilogue } from './epilogue.js';
import { PointwiseJob, pointwiseRange } from './pointwise.js';
import { CollectMessage, noteSharedBytes } from './sharedGarbage.js';
import { CONTROL_SLOTS, DONE_CHUNKS, FAILED_CHUNK, NEXT_CHUNK, WORKER_CHUNKS, GemmJob, JobMessage, ParallelJob, workOn } from './parallelTasks.js';

// Worker threads for the heavy kernels. runModel is synchronous, so the calling thread never yields to
// the event loop: it posts a job to the workers, works on the same job itself, and then blocks
// (Atomics.wait) until the chunks other threads claimed are done. Workers run their own event loop, so
// messages reach them while the caller is busy. A worker that is still starting simply claims nothing;
// the caller then does all the work, so nothing ever waits for a worker to start.
//
// Operands live in SharedArrayBuffers: kernels that run threaded allocate their outputs there (so the next
// node's input is already shared), and weights are copied once per tensor (cached by identity).
// Workers are unref'd: an idle pool never keeps the process alive.

const debug = debuglog('bnc');

/** Below this many multiply-adds a job is not worth the messages (~50 µs each). */
const MIN_PARALLEL_MACS = 1 << 21;

let pool: Worker[] = [];

/** Counts since the process started: threaded jobs, and chunks of them that worker threads ran. */
export const workerStats = { jobs: 0, chunksByWorkers: 0 };
let workerUrl: URL | null | undefined;

/**
 * The compiled worker next to this module. Under vitest this module runs from TypeScript source, which a
 * worker thread cannot load: then the compiled twin in dist/ (built by the test setup) is used. Without
 * either, kernels run on the calling thread (said once on NODE_DEBUG=bnc).
 */
function findWorkerFile(): URL | null {
  const candidates = [new URL('./parallelWorker.js', import.meta.url)];
  if (import.meta.url.endsWith('.ts')) candidates.push(new URL('../../dist/runtime/parallelWorker.js', import.meta.url));
  for (const url of candidates) if (fs.existsSync(fileURLToPath(url))) return url;
  debug('worker threads unavailable (no compiled parallelWorker.js next to %s); running single-threaded', fileURLToPath(import.meta.url));
  return null;
}

/** Up to `count` started workers (fewer when worker threads are unavailable). */
function workers(count: number): Worker[] {
  if (workerUrl === undefined) workerUrl = findWorkerFile();
  if (!workerUrl) return [];
  while (pool.length < count) {
    const worker = new Worker(workerUrl);
    worker.unref();
    worker.on('error', (e) => {
      debug('worker thread failed: %s', e instanceof Error ? e.message : String(e));
      pool = pool.filter((w) => w !== worker);
    });
    pool.push(worker);
  }
  return pool.slice(0, count);
}

/** Stop every worker (tests; the CLI relies on unref instead). */
export async function closeThreadPool(): Promise<void> {
  const stopping = pool.map((w) => w.terminate());
  pool = [];
  await Promise.all(stopping);
}

/**
 * A full collection in every started worker, waiting (up to `timeoutMs`) until each is done: the
 * buffers their job messages named are then released in every isolate (see sharedGarbage.ts).
 */
export function collectGarbageInWorkers(timeoutMs = 2000): void {
  if (!pool.length) return;
  const done = new Int32Array(new SharedArrayBuffer(4));
  const message: CollectMessage = { collect: done };
  for (const w of pool) w.postMessage(message);
  const deadline = performance.now() + timeoutMs;
  for (let n = Atomics.load(done, 0); n < pool.length; n = Atomics.load(done, 0)) {
    const left = deadline - performance.now();
    if (left <= 0 || Atomics.wait(done, 0, n, left) === 'timed-out') break;
  }
}

/** Whether `threads` > 1 can actually run on worker threads here. */
export function threadsAvailable(threads: number): boolean {
  return threads > 1 && workers(threads - 1).length > 0;
}

export function isShared(a: Float32Array): boolean {
  return a.buffer instanceof SharedArrayBuffer;
}

export function sharedFloat32(length: number): Float32Array {
  const pooled = takeFloat32(length, true);
  if (pooled) return pooled;
  noteSharedBytes(length * Float32Array.BYTES_PER_ELEMENT, 'major');
  return new Float32Array(new SharedArrayBuffer(length * Float32Array.BYTES_PER_ELEMENT));
}

/** Below this many elements an output is not worth a SharedArrayBuffer of its own. */
const MIN_SHARED_OUTPUT = 1 << 14;
let sharedOutputs = false;

/**
 * Run `body` with large float32 kernel outputs allocated in shared memory (see floatOutput), so that the
 * next threaded Conv or Gemm reads them in place instead of copying its input. runModel does this when it
 * runs on more than one thread.
 */
export function withSharedOutputs<T>(on: boolean, body: () => T): T {
  const before = sharedOutputs;
  sharedOutputs = on;
  try {
    return body();
  } finally {
    sharedOutputs = before;
  }
}

/** A zeroed float32 output buffer: shared when a threaded run is in progress and it is large. */
export function floatOutput(length: number): Float32Array {
  return sharedOutputs && length >= MIN_SHARED_OUTPUT ? sharedFloat32(length) : (takeFloat32(length, false) ?? new Float32Array(length));
}

/** The array itself when it is shared, else a shared copy. */
export function shareCopy(a: Float32Array): Float32Array {
  if (isShared(a)) return a;
  const copy = sharedFloat32(a.length);
  copy.set(a);
  return copy;
}

const sharedConstants = new WeakMap<Float32Array, Float32Array>();

/** Shared copy of a value that does not change between runs (weights): made once per array. */
export function shareConstant(a: Float32Array): Float32Array {
  if (isShared(a)) return a;
  let copy = sharedConstants.get(a);
  if (!copy) {
    copy = shareCopy(a);
    sharedConstants.set(a, copy);
  }
  return copy;
}

/** Run `chunks` chunks of `job` on the calling thread and up to threads - 1 workers; returns when all are done. */
export function runJob(job: ParallelJob, chunks: number, threads: number): void {
  const helpers = workers(Math.min(threads, chunks) - 1);
  const control = new Int32Array(new SharedArrayBuffer(CONTROL_SLOTS * Int32Array.BYTES_PER_ELEMENT));
  const message: JobMessage = { job, control, chunks };
  for (const w of helpers) w.postMessage(message);
  workOn(message, false);
  for (;;) {
    const done = Atomics.load(control, DONE_CHUNKS);
    if (done >= chunks) break;
    Atomics.wait(control, DONE_CHUNKS, done);
  }
  const byWorkers = Atomics.load(control, WORKER_CHUNKS);
  workerStats.jobs++;
  workerStats.chunksByWorkers += byWorkers;
  // Every thread that joined the job made exactly one claim past the last chunk.
  debug('%s job: %d chunks, %d of them on workers; %d of %d threads joined', job.task, chunks, byWorkers, Atomics.load(control, NEXT_CHUNK) - chunks, helpers.length + 1);
  const failed = Atomics.load(control, FAILED_CHUNK);
  if (failed) throw new Error(`a worker thread failed on chunk ${failed - 1} of a ${job.task} job (run with --threads 1 to see the error)`);
}

/**
 * sgemm on up to `threads` threads: C is split into column (or, when C is tall and narrow, row) ranges.
 * Each element of C is computed exactly as in the single-threaded sgemm (same blocking along K, same
 * order of additions), so the result is bit-identical. A, B and C must be shared when threads > 1 is used;
 * small products and unshared operands run single-threaded. An epilogue (see epilogue.ts) is applied to
 * each finished block of C, by worker threads too when it has a spec (its residual then shared).
 */
export function parallelSgemm(
  threads: number,
  M: number,
  N: number,
  K: number,
  alpha: number,
  a: MatrixOperand,
  b: MatrixOperand,
  c: Float32Array,
  cOffset: number,
  ldc: number,
  epilogue?: ConvEpilogue,
): void {
  const macs = M * N * K;
  // Every chunk packs the operand it does not split: split the longer side so the repacked one is smaller.
  const splitRows = M > N;
  const total = splitRows ? M : N;
  // Whole register tiles per chunk (4 rows or 3 columns; see gemmCore). Column chunks are cheap to start
  // (each packs the small A again): 4 per thread balance the load. Row chunks each pack all of B again,
  // so there are 2 per thread.
  const unit = splitRows ? 4 : 3;
  const chunks = Math.min(threads * (splitRows ? 2 : 4), Math.floor(total / (2 * unit)));
  if (threads <= 1 || macs < MIN_PARALLEL_MACS || chunks < 2 || !isShared(a.data) || !isShared(b.data) || !isShared(c) || !threadsAvailable(threads)) {
    sgemm(M, N, K, alpha, a, b, c, cOffset, ldc, epilogue);
    return;
  }
  const chunkSize = Math.floor(total / chunks / unit) * unit;
  const job: GemmJob = { task: 'gemm', M, N, K, alpha, a, b, c, cOffset, ldc, splitRows, chunkSize, epilogue: epilogue?.spec };
  runJob(job, chunks, threads);
  // An epilogue without a spec cannot travel to the workers: it runs here, after the whole product.
  if (epilogue && !epilogue.spec) applyToBlock(epilogue, c, cOffset, M, N, ldc);
}

/** Whether a kernel with this many multiply-adds should prepare shared buffers for threads. */
export function worthThreads(threads: number, macs: number): boolean {
  return threads > 1 && macs >= MIN_PARALLEL_MACS && threadsAvailable(threads);
}

/** Below this many elements an elementwise op stays on the calling thread (a job costs ~50 µs). */
const MIN_PARALLEL_ELEMENTS = 1 << 17;

/**
 * A pointwise job on up to `threads` threads when it is large and its arrays are shared (outputs of a
 * threaded run are), else whole on the calling thread. `chunkSize` is set here.
 */
export function runPointwise(job: Omit<PointwiseJob, 'task' | 'chunkSize'>, threads: number): void {
  const elements = job.op === 'channelAffine' ? job.count * job.plane! : job.count;
  const chunks = Math.min(job.count, threads * 2);
  const arrays = [job.x, job.out, ...(job.y ? [job.y] : [])];
  const full: PointwiseJob = { ...job, task: 'pointwise', chunkSize: Math.floor(job.count / Math.max(1, chunks)) };
  if (threads > 1 && elements >= MIN_PARALLEL_ELEMENTS && chunks > 1 && arrays.every((a) => a.buffer instanceof SharedArrayBuffer) && threadsAvailable(threads)) {
    runJob(full, chunks, threads);
  } else {
    pointwiseRange(full, 0, job.count);
  }
}
