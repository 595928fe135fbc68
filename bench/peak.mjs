// The peak scalar floating-point rate V8 reaches on this machine, on one thread: a loop of multiply-adds
// on 12 independent float64 accumulators that never leave registers (no memory traffic, no calls). 12
// chains hide the latency of a dependent multiply then add (about 6 cycles) at 2 multiplies + 2 adds per
// cycle, and 12 accumulators plus m and c still fit x86-64's 16 XMM registers (with 16 accumulators V8
// spilled to the stack and the loop ran at a third of the rate). V8 emits no fused multiply-add, so each
// a = a * m + c counts as 2 FLOPs.

function multiplyAddLoop(iterations, m, c) {
  let a0 = 0.1, a1 = 0.2, a2 = 0.3, a3 = 0.4, a4 = 0.5, a5 = 0.6;
  let a6 = 0.7, a7 = 0.8, a8 = 0.9, a9 = 1.0, a10 = 1.1, a11 = 1.2;
  for (let i = 0; i < iterations; i++) {
    a0 = a0 * m + c; a1 = a1 * m + c; a2 = a2 * m + c; a3 = a3 * m + c;
    a4 = a4 * m + c; a5 = a5 * m + c; a6 = a6 * m + c; a7 = a7 * m + c;
    a8 = a8 * m + c; a9 = a9 * m + c; a10 = a10 * m + c; a11 = a11 * m + c;
  }
  // The sum is returned so the loop's results are used and cannot be optimized away.
  return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
}

const FLOPS_PER_ITERATION = 12 * 2;

/**
 * Measured peak in GFLOP/s: best of `repeats` runs of `iterations` loop iterations after a warm-up that
 * gets the loop optimized. m < 1 and c > 0 keep every accumulator converging to c / (1 - m), far from
 * overflow and denormals, whose slow paths would understate the peak.
 */
export function measureScalarPeak({ iterations = 50_000_000, repeats = 5 } = {}) {
  const m = 0.999999;
  const c = 1e-6;
  multiplyAddLoop(1_000_000, m, c);
  let best = Infinity;
  let sink = 0;
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    sink += multiplyAddLoop(iterations, m, c);
    best = Math.min(best, performance.now() - t0);
  }
  if (!Number.isFinite(sink)) throw new Error('peak loop diverged');
  return { gflops: (iterations * FLOPS_PER_ITERATION) / (best * 1e6), bestMs: best, iterations };
}

/**
 * The same loop on `threads` worker threads at once: their summed rate, measured over the same wall-clock
 * window. On a machine whose cores are really independent this is `threads` times the one-thread peak;
 * on a shared virtual machine (vCPUs that are hyper-threads of one host core, or busy neighbours) it is
 * less, and that ratio is the ceiling for any multi-threaded speedup of compute-bound code in the same run.
 */
export async function measureScalarPeakOnThreads(threads, { iterations = 50_000_000, repeats = 3 } = {}) {
  const { Worker } = await import('node:worker_threads');
  const source = `
    const { parentPort, workerData } = require('node:worker_threads');
    ${multiplyAddLoop.toString()}
    multiplyAddLoop(1000000, 0.999999, 1e-6);
    parentPort.on('message', () => {
      const t0 = Date.now();
      const sink = multiplyAddLoop(workerData.iterations, 0.999999, 1e-6);
      parentPort.postMessage({ ms: Date.now() - t0, sink });
    });
    parentPort.postMessage('ready');`;
  const workers = Array.from({ length: threads }, () => new Worker(source, { eval: true, workerData: { iterations } }));
  const next = (w) => new Promise((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  try {
    await Promise.all(workers.map(next));
    let best = 0;
    for (let r = 0; r < repeats; r++) {
      const done = workers.map(next);
      workers.forEach((w) => w.postMessage('go'));
      const results = await Promise.all(done);
      // Summed rate: each thread's work over the slowest thread's time (they ran side by side).
      const slowest = Math.max(...results.map((x) => x.ms));
      best = Math.max(best, (threads * iterations * FLOPS_PER_ITERATION) / (slowest * 1e6));
    }
    return { gflops: best, threads, iterations };
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
