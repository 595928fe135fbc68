// Section "gemm": the GEMM core alone (1 thread) against the scalar peak, and how 2 threads scale it.
import * as path from 'node:path';
import { DIST, distHas, log, percent } from '../context.mjs';
import { measureGemmCore, measureGemmPair, measureGemmSplit } from '../gemmCore.mjs';
import { median } from '../measure.mjs';
import { measureScalarPeak } from '../peak.mjs';

export async function run({ row, skip }) {
  const section = 'gemm';
  if (!distHas('runtime/gemmCore.js')) {
    skip(section, 'bnc GEMM core (sgemm)', 'runtime not built (dist/runtime/gemmCore.js missing)');
    return;
  }
  log('GEMM core...');
  const { sgemm } = await import(path.join(DIST, 'runtime', 'gemmCore.js'));
  // The peak of this shared machine moves by tens of percent within minutes, so the GEMM's fraction of it
  // is taken per round, each GEMM measurement right after a peak measurement; the row gives the median.
  const rounds = [];
  for (let r = 0; r < 3; r++) {
    const roundPeak = measureScalarPeak({ iterations: 20_000_000, repeats: 3 }).gflops;
    const core = measureGemmCore(sgemm, { repeats: 3, flopsPerBatch: 1e9 });
    rounds.push({ peak: roundPeak, core, fraction: core.gflops / roundPeak });
  }
  const byFraction = [...rounds].sort((a, b) => a.fraction - b.fraction);
  const { core } = byFraction[1];
  const worst = core.perShape.reduce((w, s) => (s.gflops < w.gflops ? s : w));
  const best = core.perShape.reduce((w, s) => (s.gflops > w.gflops ? s : w));
  row(section, `bnc GEMM core (sgemm), ${core.perShape.length} conv shapes of ResNet-50 / MobileNet v2, 1 thread`, `${core.gflops.toFixed(2)} GFLOP/s`,
    `${percent(byFraction[1].fraction)} of the scalar peak measured just before it (median of 3 rounds: ${rounds.map((x) => percent(x.fraction)).join(', ')}; ` +
      `peaks ${rounds.map((x) => x.peak.toFixed(2)).join(', ')}); per shape ${worst.gflops.toFixed(2)} (${worst.name}) to ${best.gflops.toFixed(2)} (${best.name})`, {
      gflops: core.gflops,
      fractionOfScalarPeak: byFraction[1].fraction,
      rounds: rounds.map((x) => ({ peakGflops: x.peak, gemmGflops: x.core.gflops, fraction: x.fraction })),
      perShape: core.perShape,
    });

  // Two questions in alternating rounds, so both see the same moments of this shared machine: how far 2
  // threads scale two independent copies of the kernel (the machine's share), and how far bnc's split of
  // one GEMM over 2 threads goes (the machine's share and the split's cost).
  const parallel = await import(path.join(DIST, 'runtime', 'parallel.js'));
  // Start the pool's worker and let it load before the first timed split.
  parallel.threadsAvailable(2);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const pairRatios = [];
  const splitRatios = [];
  for (let r = 0; r < 3; r++) {
    pairRatios.push((await measureGemmPair({ rounds: 1 })).ratios[0]);
    splitRatios.push(measureGemmSplit({ ...parallel, sgemm }));
  }
  const list = (xs) => xs.map((x) => x.toFixed(2)).join(', ');
  row(section, 'bnc GEMM core, 2 independent copies side by side (summed rate)', `${median(pairRatios).toFixed(2)}x one copy`,
    `median of 3 rounds (${list(pairRatios)}): how far 2 threads can scale this kernel on this machine`, {
      ratios: pairRatios,
      median: median(pairRatios),
    });
  row(section, 'bnc GEMM core, one GEMM split over 2 threads (parallelSgemm)', `${median(splitRatios).toFixed(2)}x one thread`,
    `median of 3 rounds (${list(splitRatios)}), each right after a round of the row above; ResNet-50 3x3 64@56`, {
      ratios: splitRatios,
      median: median(splitRatios),
    });
}
