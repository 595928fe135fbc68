// Section "runtime": whole models at batch 1 (ResNet-50, VGG-16, MobileNet v2) in bnc's runModel (1 and 2
// threads, auto algorithm; 1 thread with Winograd off), onnxruntime-node (1 and 2 threads) and
// tfjs-backend-cpu, with output agreement against onnxruntime and rates against the scalar peaks measured
// around bnc's runs. BENCH_FULL=1 adds batch 8 for ResNet-50 and MobileNet v2, and tfjs for VGG-16.
import { AGREEMENT_LIMIT, ERROR_TARGET, FULL, errorText, fmtMs, log, measurePeaks, peaksText, percent } from '../context.mjs';
import { checkConvAlgorithmOption } from '../convAlgorithm.mjs';
import { maxRelError, median, timeRuns, timeRunsAlternating } from '../measure.mjs';
import { measureScalarPeak, measureScalarPeakOnThreads } from '../peak.mjs';
import { mulberry32 } from '../resnet50.mjs';

export function seededInput(batch, seed) {
  const random = mulberry32(seed);
  const data = new Float32Array(batch * 3 * 224 * 224);
  for (let i = 0; i < data.length; i++) data[i] = random() * 2 - 1;
  return data;
}

/**
 * Timing plans. bnc's variants run in alternating rounds, at least 3 whatever the load (their ratios are
 * targets): ResNet-50 up to 5 within 40 s, VGG-16 3 (a round of three variants takes about 30 s). tfjs
 * gets one timed run of ResNet-50 (after a small warm-up run) and of VGG-16 (cold: BENCH_FULL only).
 */
function plan(label, batch, runtime) {
  const vgg = label === 'VGG-16';
  const resnet = label === 'ResNet-50';
  if (runtime === 'onnxruntime-node') return { warmup: 1, maxRuns: 20, budgetMs: 3000 };
  if (runtime === 'tfjs-backend-cpu') {
    if (vgg || resnet) return { warmup: 0, maxRuns: 1, budgetMs: 0 };
    return batch === 1 ? { warmup: 1, maxRuns: 5, budgetMs: 5000 } : { warmup: 0, maxRuns: 3, budgetMs: 8000 };
  }
  if (batch === 1) {
    if (vgg) return { warmup: 1, minRuns: 3, maxRuns: 3, budgetMs: 0 };
    return resnet ? { warmup: 1, minRuns: 3, maxRuns: 5, budgetMs: 40_000 } : { warmup: 1, minRuns: 3, maxRuns: 7, budgetMs: 10_000 };
  }
  return resnet ? { warmup: 0, maxRuns: 1, budgetMs: 0 } : { warmup: 0, maxRuns: 3, budgetMs: 8000 };
}

export async function run({ bnc, models, row, skip, fail }) {
  const section = 'runtime';
  log('runtime: scalar peaks...');
  const peak = measureScalarPeak();
  row(section, 'V8 scalar peak: 12 float64 multiply-add chains, 1 thread', `${peak.gflops.toFixed(2)} GFLOP/s`, `best of 5 x ${peak.iterations / 1e6}M iterations`, {
    gflops: peak.gflops,
  });
  const two = await measureScalarPeakOnThreads(2);
  row(section, 'V8 scalar peak, 2 threads side by side (summed)', `${two.gflops.toFixed(2)} GFLOP/s`,
    `${(two.gflops / peak.gflops).toFixed(2)}x one thread: what the second core gave at that moment (it varies between runs); best of 3`, {
      gflops: two.gflops,
      ratioToOneThread: two.gflops / peak.gflops,
    });

  let ortModule;
  try {
    const ort = await import('onnxruntime-node');
    ortModule = ort.default ?? ort;
  } catch {
    ortModule = undefined;
  }
  let tfjs;
  let tfjsMissing = 'not installed';
  try {
    const { loadTfjs, buildTfjsRunner } = await import('../tfjs-runner.mjs');
    tfjs = { tf: await loadTfjs(), buildTfjsRunner };
  } catch (e) {
    tfjsMissing = `@tensorflow/tfjs-core / tfjs-backend-cpu could not be loaded (${String(e.message).split('\n')[0]})`;
  }
  const direct = checkConvAlgorithmOption(bnc, bnc);

  for (const m of models.wholeModels()) {
    const model = bnc.readOnnxFile(m.file);
    const inputName = model.graph.inputs[0].name;
    const outputName = model.graph.outputs[0].name;
    const ortSessions = [];
    if (ortModule) {
      // Graph optimizations at onnxruntime's default level.
      for (const threads of [1, 2]) ortSessions.push({ threads, session: await ortModule.InferenceSession.create(m.file, { intraOpNumThreads: threads, interOpNumThreads: 1 }) });
    }
    const tfjsWanted = m.label !== 'VGG-16' || FULL;
    let tfjsRunner;
    if (tfjs && tfjsWanted) {
      try {
        tfjsRunner = tfjs.buildTfjsRunner(tfjs.tf, model);
      } catch (e) {
        fail(section, `tfjs-backend-cpu, ${m.label}`, e);
      }
    }
    const batches = FULL && m.label !== 'VGG-16' ? [1, 8] : [1];
    for (const batch of batches) {
      try {
        await measureModel({ m, model, inputName, outputName, batch, ortSessions, tfjsRunner, tfjsWanted });
      } catch (e) {
        fail(section, `${m.label} batch ${batch}`, e);
      }
    }
    for (const { session } of ortSessions) await session.release();
    tfjsRunner?.dispose();
  }

  async function measureModel({ m, model, inputName, outputName, batch, ortSessions, tfjsRunner, tfjsWanted }) {
    const dims = [batch, 3, 224, 224];
    const input = seededInput(batch, 1000 + batch);
    const flops = m.flopsPerImage * batch;
    const tag = `${m.label} batch ${batch}`;
    const gflopsOf = (ms) => flops / (ms * 1e6);
    const common = { model: m.label, batch };
    log(`runtime: ${tag}...`);

    // onnxruntime-node: the reference output (1 thread) and the native-SIMD peer.
    let reference;
    const ortTimes = new Map();
    for (const { threads, session } of ortSessions) {
      const feeds = { [inputName]: new ortModule.Tensor('float32', input, dims) };
      let output;
      const t = await timeRuns(async () => {
        output = (await session.run(feeds))[outputName].data;
      }, plan(m.label, batch, 'onnxruntime-node'));
      if (threads === 1) reference = output;
      ortTimes.set(threads, t.medianMs);
      row(section, `onnxruntime-node ${threads} thread${threads > 1 ? 's' : ''}, ${tag}`, fmtMs(t.medianMs), `${gflopsOf(t.medianMs).toFixed(2)} GFLOP/s; median of ${t.runs}`, {
        ...common,
        runtime: 'onnxruntime-node',
        threads,
        medianMs: t.medianMs,
        bestMs: t.bestMs,
        gflops: gflopsOf(t.medianMs),
      });
    }
    if (!ortModule) skip(section, `onnxruntime-node, ${tag}`, 'onnxruntime-node not installed (npm install -D onnxruntime-node)');

    // bnc: the variants in alternating rounds, between two peak measurements.
    const variants = [
      { threads: 1, convAlgorithm: 'auto', name: `bnc runModel 1 thread, ${tag}` },
      { threads: 2, convAlgorithm: 'auto', name: `bnc runModel 2 threads, ${tag}` },
    ];
    const directName = `bnc runModel 1 thread, convAlgorithm 'direct' (no Winograd), ${tag}`;
    if (direct.honoured) variants.push({ threads: 1, convAlgorithm: 'direct', name: directName });
    else skip(section, directName, direct.why);
    const feeds = new Map([[inputName, { dtype: bnc.DataType.FLOAT, dims, data: input }]]);
    const outputs = [];
    const peaksBefore = await measurePeaks();
    const times = await timeRunsAlternating(
      variants.map((v, k) => () => {
        const options = v.convAlgorithm === 'auto' ? { threads: v.threads } : { threads: v.threads, convAlgorithm: v.convAlgorithm };
        outputs[k] = bnc.runModel(model, feeds, options).outputs.get(outputName).data;
      }),
      plan(m.label, batch, 'bnc'),
    );
    const peaksAfter = await measurePeaks();
    const peaks = { one: (peaksBefore.one + peaksAfter.one) / 2, two: (peaksBefore.two + peaksAfter.two) / 2 };
    const at = (threads, convAlgorithm) => variants.findIndex((v) => v.threads === threads && v.convAlgorithm === convAlgorithm);
    /** Round by round (each round runs every variant back to back): time of variant j over time of variant k. */
    const perRound = (j, k) => times[j].timesMs.map((tj, r) => tj / times[k].timesMs[r]);
    const roundsText = (r) => `per round ${r.map((x) => x.toFixed(2)).join(', ')}`;

    // tfjs-backend-cpu (single-threaded), after bnc so its rows can give bnc's speedup.
    let tfjsResult;
    const tfjsName = `tfjs-backend-cpu, ${tag}`;
    if (!tfjsWanted) skip(section, tfjsName, 'VGG-16 in tfjs takes minutes per run; run with BENCH_FULL=1');
    else if (!tfjsRunner) skip(section, tfjsName, tfjsMissing);
    else {
      try {
        let output;
        // A full-size warm-up run of ResNet-50 would take as long as the timed one; one at 64x64 goes
        // through the same kernels, so the timed run does not pay for their first compilation.
        if (m.label === 'ResNet-50') tfjsRunner.run(input.subarray(0, 3 * 64 * 64), [1, 3, 64, 64]);
        const t = await timeRuns(() => {
          output = tfjsRunner.run(input, dims).data;
        }, plan(m.label, batch, 'tfjs-backend-cpu'));
        tfjsResult = { t, output };
      } catch (e) {
        fail(section, tfjsName, e);
      }
    }

    variants.forEach((v, k) => {
      const t = times[k];
      const gflops = gflopsOf(t.medianMs);
      const error = reference ? maxRelError(outputs[k], reference) : undefined;
      const one = at(1, 'auto');
      const directIndex = at(1, 'direct');
      const data = {
        ...common,
        runtime: 'bnc',
        threads: v.threads,
        convAlgorithm: v.convAlgorithm,
        medianMs: t.medianMs,
        bestMs: t.bestMs,
        timesMs: t.timesMs,
        runs: t.runs,
        gflops,
        peaks: { before: peaksBefore, after: peaksAfter },
        fractionOfScalarPeak: gflops / peaks.one,
        fractionOfTwoThreadPeak: gflops / peaks.two,
        maxRelErrorVsOrt: error,
        errorTargetMet: error === undefined ? undefined : error <= ERROR_TARGET,
        mismatch: error > AGREEMENT_LIMIT,
      };
      const parts = [`${gflops.toFixed(2)} GFLOP/s = ${percent(data.fractionOfScalarPeak)} of the 1-thread peak, ${percent(data.fractionOfTwoThreadPeak)} of the 2-thread peak`];
      if (v.threads > 1) {
        const r = perRound(one, k);
        Object.assign(data, { speedupOverOneThread: times[one].medianMs / t.medianMs, speedupPerRound: r });
        parts.push(`${data.speedupOverOneThread.toFixed(2)}x bnc 1 thread (${roundsText(r)}, median ${median(r).toFixed(2)}x)`);
      }
      if (v.convAlgorithm === 'auto' && v.threads === 1 && directIndex >= 0) {
        const r = perRound(directIndex, k);
        Object.assign(data, { winogradSpeedup: times[directIndex].medianMs / t.medianMs, winogradSpeedupPerRound: r });
        parts.push(`Winograd/direct ${data.winogradSpeedup.toFixed(2)}x (direct time / this; ${roundsText(r)})`);
      }
      if (tfjsResult) {
        data.tfjsSpeedup = tfjsResult.t.medianMs / t.medianMs;
        parts.push(`${data.tfjsSpeedup.toFixed(1)}x faster than tfjs`);
      }
      const ortMs = ortTimes.get(v.threads);
      if (ortMs) {
        data.timeOverOrt = t.medianMs / ortMs;
        parts.push(`${data.timeOverOrt.toFixed(1)}x ort ${v.threads}-thread time`);
      }
      parts.push(errorText(error), `median of ${t.runs}; ${peaksText(peaks)} (mean of before and after)`);
      row(section, v.name, fmtMs(t.medianMs), parts.join('; '), data);
    });

    if (tfjsResult) {
      const { t, output } = tfjsResult;
      const against = reference ?? outputs[0];
      const error = against ? maxRelError(output, against) : undefined;
      const bncMs = (threads) => times[at(threads, 'auto')]?.medianMs;
      row(section, tfjsName, fmtMs(t.medianMs),
        [
          `${gflopsOf(t.medianMs).toFixed(2)} GFLOP/s`,
          `bnc is ${(t.medianMs / bncMs(1)).toFixed(1)}x faster on 1 thread, ${(t.medianMs / bncMs(2)).toFixed(1)}x on 2`,
          errorText(error, reference ? 'ort' : 'bnc'),
          `median of ${t.runs}`,
        ].join('; '), {
          ...common,
          runtime: 'tfjs-backend-cpu',
          threads: 1,
          medianMs: t.medianMs,
          runs: t.runs,
          gflops: gflopsOf(t.medianMs),
          bncSpeedup: t.medianMs / bncMs(1),
          bncSpeedupTwoThreads: t.medianMs / bncMs(2),
          maxRelErrorVsReference: error,
          mismatch: error > AGREEMENT_LIMIT,
        });
    }
  }
}
