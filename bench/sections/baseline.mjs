// Section "baseline": before/after in one run. BENCH_BASELINE names the directory of another built
// checkout (its dist/ and bin/); its runModel and its CLI run in alternation with this build's on the same
// models, inputs and files, and each row gives the after/before speedup (before time / after time).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { CLI, fmtMs, gitState, log } from '../context.mjs';
import { maxRelError, measureCommandsAlternating, median, timeRunsAlternating } from '../measure.mjs';
import { seededInput } from './runtime.mjs';

/** Alternating rounds per model, at least 3: a round runs 4 variants (2 builds x 1 and 2 threads). */
function plan(label) {
  if (label === 'VGG-16') return { warmup: 1, minRuns: 3, maxRuns: 3, budgetMs: 0 };
  if (label === 'ResNet-50') return { warmup: 1, minRuns: 3, maxRuns: 5, budgetMs: 40_000 };
  return { warmup: 1, minRuns: 3, maxRuns: 7, budgetMs: 10_000 };
}
const RUN_REPEATS = 5;
const VERIFY_REPEATS = 3;

export async function run({ bnc, models, row, skip, fail }) {
  const section = 'baseline';
  const dir = process.env.BENCH_BASELINE;
  const title = 'before/after against another checkout';
  if (!dir) {
    skip(section, title, 'BENCH_BASELINE is not set (the directory of another built checkout, e.g. BENCH_BASELINE=../baseline)');
    return;
  }
  const root = path.resolve(dir);
  const beforeCli = path.join(root, 'bin', 'bnc.js');
  const beforeIndex = path.join(root, 'dist', 'index.js');
  if (!fs.existsSync(beforeIndex) || !fs.existsSync(beforeCli)) {
    skip(section, title, `${root} has no built dist/index.js and bin/bnc.js (run npm run build there)`);
    return;
  }
  const { gitCommit } = gitState(root);
  const tag = `before = ${gitCommit ?? root}`;
  row(section, 'baseline checkout', gitCommit ?? 'unknown commit', `${root}; after = this checkout (${gitState().gitCommit ?? 'unknown commit'})`, {
    baselineDir: root,
    baselineCommit: gitCommit,
  });
  const before = await import(pathToFileURL(beforeIndex).href);
  const builds = [
    { when: 'after', bnc },
    { when: 'before', bnc: before },
  ];

  // Whole models in-process: each build reads the file with its own reader and runs it with its own engine.
  for (const m of models.wholeModels()) {
    const name = `bnc runModel, ${m.label} batch 1`;
    try {
      log(`baseline: ${m.label}...`);
      const input = seededInput(1, 1001);
      const loaded = builds.map((b) => {
        const model = b.bnc.readOnnxFile(m.file);
        const feeds = new Map([[model.graph.inputs[0].name, { dtype: b.bnc.DataType.FLOAT, dims: [1, 3, 224, 224], data: input }]]);
        return { ...b, model, feeds };
      });
      const variants = [1, 2].flatMap((threads) => loaded.map(({ when, bnc: build, model, feeds }) => ({
        threads,
        when,
        run: () => build.runModel(model, feeds, { threads }).outputs.get(model.graph.outputs[0].name).data,
      })));
      const outputs = [];
      const times = await timeRunsAlternating(variants.map((v, k) => () => {
        outputs[k] = v.run();
      }), plan(m.label));
      for (const threads of [1, 2]) {
        const a = variants.findIndex((v) => v.threads === threads && v.when === 'after');
        const b = variants.findIndex((v) => v.threads === threads && v.when === 'before');
        speedupRow(`bnc runModel ${threads} thread${threads > 1 ? 's' : ''}, ${m.label} batch 1`, times[a], times[b],
          `outputs after vs before: max rel diff ${maxRelError(outputs[a], outputs[b]).toExponential(1)}`,
          { kind: 'runModel', model: m.label, threads });
      }
    } catch (e) {
      fail(section, name, e);
    }
  }

  // Whole commands: the same files, this checkout's bin/bnc.js against the baseline's.
  const resnet = models.resnet50();
  {
    const name = 'bnc run ResNet-50';
    try {
      log('baseline: bnc run...');
      const variants = [2, 1].flatMap((threads) => [CLI, beforeCli].map((cli) => ({ threads, cli })));
      const results = measureCommandsAlternating(variants.map((v) => [process.execPath, [v.cli, 'run', resnet.file, '--threads', String(v.threads)]]), RUN_REPEATS);
      for (const threads of [2, 1]) {
        const a = variants.findIndex((v) => v.threads === threads && v.cli === CLI);
        const b = variants.findIndex((v) => v.threads === threads && v.cli === beforeCli);
        speedupRow(`bnc run ResNet-50 --threads ${threads} (spawn to exit)`, results[a], results[b], undefined, { kind: 'bnc run command', model: 'ResNet-50', threads });
      }
    } catch (e) {
      fail(section, name, e);
    }
  }
  for (const m of [resnet, ...(models.mobilenetShared && fs.existsSync(models.mobilenetShared.file) ? [models.mobilenetShared] : [])]) {
    const name = `bnc verify ${m.label} vs its fold-bn output (spawn to exit)`;
    try {
      log(`baseline: bnc verify ${m.label}...`);
      const folded = models.folded(m);
      const [after, beforeResult] = measureCommandsAlternating([CLI, beforeCli].map((cli) => [process.execPath, [cli, 'verify', m.file, folded]]), VERIFY_REPEATS);
      speedupRow(name, after, beforeResult, undefined, { kind: 'bnc verify command', model: m.label });
    } catch (e) {
      fail(section, name, e);
    }
  }

  /** A row: before time / after time, medians of alternating runs, with the per-round ratios. */
  function speedupRow(name, after, beforeTimes, extra, data) {
    const perRound = after.timesMs.map((t, r) => beforeTimes.timesMs[r] / t);
    const speedup = beforeTimes.medianMs / after.medianMs;
    const rss = after.peakRssMiB != null && beforeTimes.peakRssMiB != null ? `; peak RSS ${after.peakRssMiB.toFixed(0)} MiB after, ${beforeTimes.peakRssMiB.toFixed(0)} before` : '';
    row(section, `${name}: speedup after/before`, `${speedup.toFixed(2)}x`,
      [
        `after ${fmtMs(after.medianMs)}, before ${fmtMs(beforeTimes.medianMs)} (${tag})`,
        `per round ${perRound.map((x) => x.toFixed(2)).join(', ')}, median ${median(perRound).toFixed(2)}x${rss}`,
        extra,
        `medians of ${after.runs} alternating runs`,
      ].filter(Boolean).join('; '), {
        ...data,
        afterMs: after.medianMs,
        beforeMs: beforeTimes.medianMs,
        afterTimesMs: after.timesMs,
        beforeTimesMs: beforeTimes.timesMs,
        speedup,
        speedupPerRound: perRound,
        afterPeakRssMiB: after.peakRssMiB ?? null,
        beforePeakRssMiB: beforeTimes.peakRssMiB ?? null,
      });
  }
}
