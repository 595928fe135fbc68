import { parentPort } from 'node:worker_threads';
import { sgemm } from './gemmCore.js';
import { DW_GEOMETRY_LENGTH, depthwisePlanes } from './depthwise.js';
import { JobMessage, workOn } from './parallelTasks.js';
import { CollectMessage, collectSharedGarbage, noteSharedBytes } from './sharedGarbage.js';
import { WinogradTile, winogradRows } from './winogradKernels.js';

// Entry point of a runtime worker thread (started by src/runtime/parallel.ts): claims chunks of every
// job it is sent until the job has none left. Failures are recorded in the job's control array, where
// the calling thread looks for them.

/**
 * A worker is a fresh V8 isolate: until its kernels are compiled by the optimizing tier, a chunk runs
 * tens of times slower than on the warm calling thread, which would then wait for it. Jobs queue up
 * while this runs (tens of milliseconds, on the worker's own core), so the first chunk it claims is fast.
 */
function warmUp(): void {
  const n = 48;
  const a = new Float32Array(n * n).fill(0.5);
  const c = new Float32Array(n * n);
  for (let i = 0; i < 30; i++) {
    sgemm(n, n, n, 1, { data: a, offset: 0, stride: n }, { data: a, offset: 0, stride: n }, c, 0, n);
    sgemm(n - 1, n - 2, n, 1, { data: a, offset: 0, stride: n }, { data: a, offset: 0, stride: n }, c, 0, n);
  }
  // 3×3 depthwise, stride 1, pad 1, 8 channels of 16×16.
  const g = new Int32Array(DW_GEOMETRY_LENGTH);
  g.set([1, 16, 16, 1, 16, 16, 1, 3, 3, 1, 1, 1, 1, 1, 1, 0, 1, 1, 8, 8, 1]);
  const x = new Float32Array(8 * 256).fill(0.5);
  const w = new Float32Array(8 * 9).fill(0.5);
  const y = new Float32Array(8 * 256);
  for (let i = 0; i < 40; i++) depthwisePlanes(g, x, w, y, 0, 8);
  // Winograd F(2×2) and F(4×4) tiles: 16 channels of 16×16, pad 1.
  for (const tile of [2, 4] as WinogradTile[]) {
    const tiles = Math.ceil(16 / tile);
    const a = tile + 2;
    const u = new Float32Array(a * a * 16 * 16).fill(0.01);
    const xw = new Float32Array(16 * 256).fill(0.5);
    const out = new Float32Array(16 * 256);
    const plan = {
      tile, H: 16, W: 16, OH: 16, OW: 16, padTop: 1, padLeft: 1, tilesH: tiles, tilesW: tiles, batch: 1, C: 16, M: 16,
      x: xw, xOffset: 0, xImageStride: 16 * 256, u, out, outOffset: 0, outImageStride: 16 * 256,
    };
    for (let i = 0; i < 10; i++) winogradRows(plan, 0, tiles);
  }
}

// Every job arrives as a structured clone: each SharedArrayBuffer it names becomes a new object in this
// isolate, which holds the buffer's memory until this isolate collects it (see sharedGarbage.ts).
/** Bytes of the typed arrays a job names (its fields, and the fields of its operands such as a GEMM's a and b). */
function jobArrayBytes(message: JobMessage): number {
  let bytes = 0;
  for (const v of Object.values(message.job)) {
    if (ArrayBuffer.isView(v)) bytes += v.byteLength;
    else if (v && typeof v === 'object') for (const w of Object.values(v)) if (ArrayBuffer.isView(w)) bytes += w.byteLength;
  }
  return bytes;
}

warmUp();
parentPort?.on('message', (message: JobMessage | CollectMessage) => {
  if ('collect' in message) {
    // The calling thread let go of large shared buffers (a model's weights) and waits for this isolate to
    // drop its copies of them too.
    collectSharedGarbage();
    Atomics.add(message.collect, 0, 1);
    Atomics.notify(message.collect, 0);
    return;
  }
  workOn(message, true);
  noteSharedBytes(jobArrayBytes(message), 'minor');
});
