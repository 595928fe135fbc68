// The GEMM core alone (src/runtime/gemmCore.ts, one thread) on the matrix shapes of ResNet-50's and
// MobileNet v2's convolutions: M = output channels, N = output pixels, K = input channels × kernel taps.
// This is the inner kernel the "≥ 60% of the scalar peak" target is about; whole-model rows add
// im2col, depthwise convs and elementwise ops on top.

import { mulberry32 } from '../dist/util/seededRandom.js';

export const CONV_GEMM_SHAPES = [
  ['ResNet-50 3x3 64@56', 64, 56 * 56, 64 * 9],
  ['ResNet-50 1x1 256->64@56', 64, 56 * 56, 256],
  ['ResNet-50 1x1 64->256@56', 256, 56 * 56, 64],
  ['ResNet-50 3x3 128@28', 128, 28 * 28, 128 * 9],
  ['ResNet-50 3x3 256@14', 256, 14 * 14, 256 * 9],
  ['ResNet-50 1x1 1024->256@14', 256, 14 * 14, 1024],
  ['ResNet-50 3x3 512@7', 512, 7 * 7, 512 * 9],
  ['MobileNet v2 1x1 144->24@56', 24, 56 * 56, 144],
  ['MobileNet v2 1x1 960->160@7', 160, 7 * 7, 960],
];

/** GFLOP/s of sgemm per shape (best of `repeats` timed batches of about `flopsPerBatch`) and over all shapes. */
export function measureGemmCore(sgemm, { repeats = 5, flopsPerBatch = 2e9 } = {}) {
  const random = mulberry32(7);
  const fill = (n) => Float32Array.from({ length: n }, () => random() - 0.5);
  const perShape = [];
  let totalFlops = 0;
  let totalMs = 0;
  for (const [name, M, N, K] of CONV_GEMM_SHAPES) {
    const a = { data: fill(M * K), offset: 0, stride: K };
    const b = { data: fill(K * N), offset: 0, stride: N };
    const c = new Float32Array(M * N);
    const flops = 2 * M * N * K;
    const reps = Math.max(2, Math.round(flopsPerBatch / flops));
    for (let i = 0; i < 2; i++) sgemm(M, N, K, 1, a, b, c, 0, N);
    let best = Infinity;
    for (let r = 0; r < repeats; r++) {
      const t0 = performance.now();
      for (let i = 0; i < reps; i++) sgemm(M, N, K, 1, a, b, c, 0, N);
      best = Math.min(best, (performance.now() - t0) / reps);
    }
    perShape.push({ name, M, N, K, gflops: flops / (best * 1e6), bestMs: best });
    totalFlops += flops;
    totalMs += best;
  }
  return { perShape, gflops: totalFlops / (totalMs * 1e6) };
}

/**
 * The same shape as one GEMM split across 2 threads by bnc's parallelSgemm (the calling thread and one pool
 * worker, as in `--threads 2`), against sgemm alone on the calling thread: rate ratio over `ms` of each.
 */
export function measureGemmSplit({ parallelSgemm, sharedFloat32, sgemm }, { ms = 2000 } = {}) {
  const [M, N, K] = [64, 56 * 56, 64 * 9];
  const fill = (n, v) => sharedFloat32(n).fill(v);
  const A = fill(M * K, 0.5), B = fill(K * N, 0.25), C = sharedFloat32(M * N);
  const args = [M, N, K, 1, { data: A, offset: 0, stride: K }, { data: B, offset: 0, stride: N }, C, 0, N];
  const rate = (run) => {
    for (let i = 0; i < 2; i++) run();
    const t0 = performance.now();
    let n = 0;
    while (performance.now() - t0 < ms) { run(); n++; }
    return n / (performance.now() - t0);
  };
  const alone = rate(() => sgemm(...args));
  const split = rate(() => parallelSgemm(2, ...args));
  return split / alone;
}

/**
 * The GEMM core on one conv shape (ResNet-50 3x3 64@56), on two worker threads at once, each on its own
 * data, against each alone. This bounds what splitting one GEMM across two threads can give on this
 * machine: memory, caches and the host are shared even when no data is.
 */
export async function measureGemmPair({ rounds = 3, ms = 2000 } = {}) {
  const { Worker } = await import('node:worker_threads');
  const gemmCoreUrl = new URL('../dist/runtime/gemmCore.js', import.meta.url).href;
  const source = `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.gemmCoreUrl).then(({ sgemm }) => {
      const [M, N, K] = [64, 56 * 56, 64 * 9];
      const A = new Float32Array(M * K).fill(0.5), B = new Float32Array(K * N).fill(0.25), C = new Float32Array(M * N);
      const run = () => sgemm(M, N, K, 1, { data: A, offset: 0, stride: K }, { data: B, offset: 0, stride: N }, C, 0, N);
      for (let i = 0; i < 5; i++) run();
      parentPort.on('message', (ms) => {
        const t0 = performance.now();
        let n = 0;
        while (performance.now() - t0 < ms) { run(); n++; }
        parentPort.postMessage((2 * M * N * K * n) / ((performance.now() - t0) * 1e6));
      });
      parentPort.postMessage('ready');
    });`;
  const workers = [0, 1].map(() => new Worker(source, { eval: true, workerData: { gemmCoreUrl } }));
  const next = (w) => new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  const timed = (list) => Promise.all(list.map((w) => {
    const done = next(w);
    w.postMessage(ms);
    return done;
  }));
  try {
    await Promise.all(workers.map(next));
    const ratios = [];
    for (let r = 0; r < rounds; r++) {
      const [a] = await timed([workers[0]]);
      const [b] = await timed([workers[1]]);
      const both = await timed(workers);
      ratios.push((both[0] + both[1]) / ((a + b) / 2));
    }
    return { ratios, best: Math.max(...ratios), median: [...ratios].sort((x, y) => x - y)[ratios.length >> 1] };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
