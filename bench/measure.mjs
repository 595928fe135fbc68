// Timing and process-measurement helpers for the benchmark.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const GNU_TIME = '/usr/bin/time';
export const HAVE_GNU_TIME = fs.existsSync(GNU_TIME);

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Time `fn` (sync or async): `warmup` untimed calls, then timed calls until `maxRuns` are done or
 * `budgetMs` has passed (always at least one). Returns every time in ms, the median and the best.
 */
export async function timeRuns(fn, { warmup = 1, maxRuns = 5, budgetMs = 10_000 } = {}) {
  for (let i = 0; i < warmup; i++) await fn();
  const times = [];
  const start = performance.now();
  do {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  } while (times.length < maxRuns && performance.now() - start < budgetMs);
  return { runs: times.length, medianMs: median(times), bestMs: Math.min(...times), timesMs: times };
}

/**
 * Time several functions in alternation (a, b, a, b, ...), so that a change in the machine's load during
 * the measurement hits all of them alike: `warmup` untimed rounds, then timed rounds until `maxRuns`
 * rounds are done or, once `minRuns` are, `budgetMs` has passed. One result per function, as timeRuns gives.
 */
export async function timeRunsAlternating(fns, { warmup = 1, minRuns = 1, maxRuns = 5, budgetMs = 10_000 } = {}) {
  for (let i = 0; i < warmup; i++) for (const fn of fns) await fn();
  const times = fns.map(() => []);
  const start = performance.now();
  do {
    for (let k = 0; k < fns.length; k++) {
      const t0 = performance.now();
      await fns[k]();
      times[k].push(performance.now() - t0);
    }
  } while (times[0].length < maxRuns && (times[0].length < minRuns || performance.now() - start < budgetMs));
  return times.map((t) => ({ runs: t.length, medianMs: median(t), bestMs: Math.min(...t), timesMs: t }));
}

/**
 * Run a command once and measure its wall time (ms, from spawn to exit) and peak RSS (MiB). Peak RSS comes
 * from GNU time's %M when /usr/bin/time exists; otherwise Node commands go through bench/rss-wrapper.mjs,
 * which runs the script in its own process and reports process.resourceUsage().maxRSS on exit.
 */
export function measureCommand(command, args, { cwd } = {}) {
  const statsFile = path.join(os.tmpdir(), `bnc-bench-${process.pid}-${Math.random().toString(36).slice(2)}.txt`);
  let argv;
  if (HAVE_GNU_TIME) {
    argv = [GNU_TIME, ['-f', '%e %M', '-o', statsFile, command, ...args]];
  } else if (command === process.execPath) {
    argv = [process.execPath, [path.join(BENCH_DIR, 'rss-wrapper.mjs'), statsFile, ...args]];
  } else {
    argv = [command, args];
  }
  const t0 = performance.now();
  const result = spawnSync(argv[0], argv[1], { cwd, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  const wallMs = performance.now() - t0;
  let peakRssMiB = null;
  if (fs.existsSync(statsFile)) {
    const fields = fs.readFileSync(statsFile, 'utf8').trim().split(/\s+/);
    // GNU time writes "Command exited with non-zero status N" first when the command fails.
    const kib = Number(fields[fields.length - 1]);
    if (Number.isFinite(kib)) peakRssMiB = kib / 1024;
    fs.rmSync(statsFile, { force: true });
  }
  if (result.status !== 0) {
    const detail = (result.stderr || result.stdout || String(result.error ?? '')).trim().split('\n').slice(-3).join(' | ');
    throw new Error(`${path.basename(command)} ${args.join(' ')} exited with ${result.status}: ${detail}`);
  }
  return { wallMs, peakRssMiB, stdout: result.stdout };
}

/** measureCommand `runs` times: median wall time, largest peak RSS. */
export function measureCommandRuns(command, args, runs, options) {
  const samples = [];
  for (let i = 0; i < runs; i++) samples.push(measureCommand(command, args, options));
  return {
    runs,
    medianMs: median(samples.map((s) => s.wallMs)),
    bestMs: Math.min(...samples.map((s) => s.wallMs)),
    peakRssMiB: samples.some((s) => s.peakRssMiB === null) ? null : Math.max(...samples.map((s) => s.peakRssMiB)),
    stdout: samples[samples.length - 1].stdout,
  };
}

/** max|a - b| / max|b|: the error relative to the output's scale (b is the reference). */
export function maxRelError(a, b) {
  if (a.length !== b.length) return Infinity;
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < b.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    // NaN never compares greater, so count it explicitly.
    if (d > maxDiff || Number.isNaN(d)) maxDiff = Number.isNaN(d) ? Infinity : d;
    const r = Math.abs(b[i]);
    if (r > maxRef) maxRef = r;
  }
  return maxRef > 0 ? maxDiff / maxRef : maxDiff;
}

/**
 * Several commands ([command, args] pairs) run in alternation, `runs` rounds (a, b, a, b, ...), so a
 * change in the machine's load hits all of them alike. Per command: median and best wall time (ms), every
 * time, and the largest peak RSS (MiB, null when it cannot be measured).
 */
export function measureCommandsAlternating(commands, runs, options) {
  const samples = commands.map(() => []);
  for (let r = 0; r < runs; r++) {
    commands.forEach(([command, args], k) => samples[k].push(measureCommand(command, args, options)));
  }
  return samples.map((s) => ({
    runs,
    medianMs: median(s.map((x) => x.wallMs)),
    bestMs: Math.min(...s.map((x) => x.wallMs)),
    timesMs: s.map((x) => x.wallMs),
    peakRssMiB: s.some((x) => x.peakRssMiB === null) ? null : Math.max(...s.map((x) => x.peakRssMiB)),
  }));
}
