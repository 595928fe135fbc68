// Issue 16's targets, checked against the rows of a results.json: each target with the value measured and
// whether it is met. Used by run.mjs (printed and stored with the results) and table.mjs.

/** Issue 16's accuracy target: max|a-b| / max|ref| against onnxruntime-node. Missing it is flagged, not a failure. */
export const ERROR_TARGET = 1e-5;

const fmt = (x, digits = 2) => (x === undefined || x === null || Number.isNaN(x) ? 'n/a' : x.toFixed(digits));

/**
 * One entry per target: { target, measured, met } (met is undefined when a row it needs was not
 * measured in these results, e.g. a section left out with BENCH_ONLY or skipped).
 */
export function evaluateTargets(rows) {
  const targets = [];
  const add = (target, measured, met) => targets.push({ target, measured, met });
  const bnc = (model, threads, convAlgorithm = 'auto') =>
    rows.find((r) => r.section === 'runtime' && r.runtime === 'bnc' && r.model === model && r.batch === 1 && r.threads === threads && r.convAlgorithm === convAlgorithm);

  const run2 = rows.find((r) => r.section === 'command' && r.kind === 'bnc run command' && r.threads === 2);
  add('ResNet-50 batch 1, whole `bnc run --threads 2`: ≥ 40% of the 2-core scalar peak (direct-conv FLOP/s)',
    run2 ? `${(100 * run2.fractionOfTwoThreadPeak).toFixed(0)}% (${(run2.medianMs / 1000).toFixed(2)} s, ${fmt(run2.gflops)} GFLOP/s)` : 'not measured',
    run2 ? run2.fractionOfTwoThreadPeak >= 0.4 : undefined);

  const vgg = bnc('VGG-16', 1);
  add('VGG-16 whole model: Winograd ≥ 2× the direct path (1 thread)',
    vgg?.winogradSpeedup !== undefined ? `${fmt(vgg.winogradSpeedup)}×` : 'not measured',
    vgg?.winogradSpeedup !== undefined ? vgg.winogradSpeedup >= 2 : undefined);

  for (const model of ['ResNet-50', 'MobileNet v2']) {
    const one = bnc(model, 1);
    const two = bnc(model, 2);
    const has = one?.tfjsSpeedup !== undefined;
    add(`${model} batch 1: ≥ 10× tfjs-backend-cpu (bnc on 1 thread, as tfjs)`,
      has ? `${fmt(one.tfjsSpeedup, 1)}× (2 threads: ${fmt(two?.tfjsSpeedup, 1)}×)` : 'not measured',
      has ? one.tfjsSpeedup >= 10 : undefined);
  }

  for (const model of ['ResNet-50', 'VGG-16', 'MobileNet v2']) {
    const errors = rows
      .filter((r) => r.section === 'runtime' && r.runtime === 'bnc' && r.model === model && r.maxRelErrorVsOrt !== undefined)
      .map((r) => r.maxRelErrorVsOrt);
    const worst = errors.length ? Math.max(...errors) : undefined;
    add(`${model}: max error vs onnxruntime-node ≤ ${ERROR_TARGET.toExponential(0)} of the output's max (every bnc row)`,
      worst === undefined ? 'not measured' : `${worst.toExponential(1)} (worst of ${errors.length} rows)`,
      worst === undefined ? undefined : worst <= ERROR_TARGET);
  }

  // bench/memory.mjs rows: `ratio` is peak RSS / weight bytes; a failed command counts against the target.
  const memory = rows.filter((r) => r.section === 'memory' && (typeof r.ratio === 'number' || r.failed));
  const failedMemory = memory.filter((r) => r.failed);
  const measuredMemory = memory.filter((r) => typeof r.ratio === 'number');
  const worstMemory = measuredMemory.reduce((w, r) => (!w || r.ratio > w.ratio ? r : w), undefined);
  add('Peak RSS ≤ 2.5× weight bytes: convert, fold-bn, run, verify of AlexNet, VGG-16, ResNet-152',
    worstMemory || failedMemory.length
      ? [worstMemory && `worst ${fmt(worstMemory.ratio)}× (${worstMemory.name}; ${measuredMemory.length} rows)`, failedMemory.length && `${failedMemory.length} failed`].filter(Boolean).join('; ')
      : 'not measured',
    memory.length ? failedMemory.length === 0 && worstMemory.ratio <= 2.5 : undefined);
  return targets;
}

export const metText = (met) => (met === undefined ? 'not measured' : met ? 'met' : 'NOT met');
