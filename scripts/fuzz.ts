// `npm run fuzz`: the full hostile-input run. Makes mutants of the fixtures and of the shared reference
// models (when ../shared/models exists), spawns the built CLI for every mutant and command with a time
// bound (spawn timeout) and a memory bound (peak RSS, measured in the child), judges each run with
// test/fuzz/harness.ts, prints counts per format and command, and exits 1 if any run crashed or hung.
//
//   npm run fuzz -- [--seed N] [--per-file K] [--shared-per-file K] [--max-shared-mb MB] [--timeout-ms MS]
//                   [--max-rss-mb MB] [--jobs J] [--only onnx|caffe] [--report file.json] [--keep dir]
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CliRunner,
  FuzzCounts,
  Judgement,
  RunOutcome,
  fixtureSeeds,
  fuzzMutant,
  sharedSeeds,
  tally,
  writeMutant,
  writeSeed,
} from '../test/fuzz/harness.js';
import { Mutant, Seed, mutantsOf } from '../test/fuzz/mutants.js';

// Compiled to node_modules/.cache/bnc-fuzz/scripts/fuzz.js: the repository is four levels up.
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
// The CLI is run from a snapshot of bin/, dist/ and proto/ taken at start, inside the repository so that
// node_modules resolves: other work rebuilding dist/ during a long run must not be mistaken for crashes.
const SNAPSHOT = path.join(REPO, 'node_modules/.cache/bnc-fuzz/cli');
const BIN = path.join(SNAPSHOT, 'bin/bnc.js');
const MEMORY_HOOK = path.join(REPO, 'scripts/fuzz-memory-hook.mjs');
const SHARED = path.resolve(REPO, '../shared/models');

interface Options {
  seed: number;
  perFile: number;
  sharedPerFile: number;
  maxSharedBytes: number;
  timeoutMs: number;
  maxRssBytes: number;
  jobs: number;
  only?: 'onnx' | 'caffe';
  report?: string;
  keep: string;
}

function parseArgs(argv: string[]): Options {
  const o: Options = {
    seed: 1,
    perFile: 12,
    sharedPerFile: 2,
    maxSharedBytes: 1 * 2 ** 20,
    timeoutMs: 30_000,
    maxRssBytes: 1024 * 2 ** 20,
    jobs: Math.max(1, Math.min(2, os.availableParallelism())),
    keep: path.join(os.tmpdir(), 'bnc-fuzz-failures'),
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = argv[++i];
    const n = Number(value);
    const number = () => {
      if (value === undefined || !Number.isFinite(n) || n < 0) throw new Error(`${flag} needs a number`);
      return n;
    };
    if (flag === '--seed') o.seed = number();
    else if (flag === '--per-file') o.perFile = number();
    else if (flag === '--shared-per-file') o.sharedPerFile = number();
    else if (flag === '--max-shared-mb') o.maxSharedBytes = number() * 2 ** 20;
    else if (flag === '--timeout-ms') o.timeoutMs = number();
    else if (flag === '--max-rss-mb') o.maxRssBytes = number() * 2 ** 20;
    else if (flag === '--jobs') o.jobs = Math.max(1, number());
    else if (flag === '--only' && (value === 'onnx' || value === 'caffe')) o.only = value;
    else if (flag === '--report' && value) o.report = value;
    else if (flag === '--keep' && value) o.keep = value;
    else throw new Error(`unknown or incomplete option ${flag}`);
  }
  return o;
}

/** Spawn bin/bnc.js in a CI-like environment with the time bound; peak RSS comes back through the hook. */
function spawnRunner(options: Options, rssFile: string): CliRunner {
  return (args) =>
    new Promise<RunOutcome>((resolve) => {
      fs.rmSync(rssFile, { force: true });
      const child = spawn(process.execPath, ['--import', MEMORY_HOOK, BIN, ...args], {
        cwd: REPO,
        env: { ...process.env, CI: '1', NO_COLOR: '1', BNC_FUZZ_RSS_FILE: rssFile },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => stdout.push(b));
      child.stderr.on('data', (b: Buffer) => stderr.push(b));
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, options.timeoutMs);
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        const rss = fs.existsSync(rssFile) ? Number(fs.readFileSync(rssFile, 'utf8')) : undefined;
        resolve({
          code,
          signal: timedOut ? null : signal,
          timedOut,
          stdout: Buffer.concat(stdout).toString('utf8'),
          stderr: Buffer.concat(stderr).toString('utf8'),
          maxRss: rss,
        });
      });
    });
}

function formatCounts(label: string, c: FuzzCounts): string {
  return (
    `${label.padEnd(22)} ${String(c.mutants).padStart(5)} ${String(c.runs).padStart(6)} ${String(c.cleanErrors).padStart(7)} ` +
    `${String(c.accepted).padStart(8)} ${String(c.verifyFailed).padStart(7)} ${String(c.crashes).padStart(7)} ${String(c.hangs).padStart(5)}`
  );
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(path.join(REPO, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run npm run build first');
  fs.rmSync(SNAPSHOT, { recursive: true, force: true });
  for (const dir of ['bin', 'dist', 'proto']) fs.cpSync(path.join(REPO, dir), path.join(SNAPSHOT, dir), { recursive: true });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-fuzz-'));
  const seeds: { seed: Seed; perFile: number }[] = [
    ...fixtureSeeds(REPO).map((seed) => ({ seed, perFile: options.perFile })),
    ...sharedSeeds(SHARED, options.maxSharedBytes).map((seed) => ({ seed, perFile: options.sharedPerFile })),
  ].filter((s) => !options.only || s.seed.format === options.only);
  if (!fs.existsSync(path.join(SHARED, 'README.md'))) console.log(`(${SHARED} not found: fuzzing the fixtures only)`);

  // Every mutant with the originals it is verified against.
  const jobs: { mutant: Mutant; original: Record<string, string> }[] = [];
  for (const { seed, perFile } of seeds) {
    const original = writeSeed(seed, path.join(work, 'originals', seed.format, seed.name));
    for (const mutant of mutantsOf(seed, { seed: options.seed, randomPerFile: perFile })) jobs.push({ mutant, original });
  }
  console.log(
    `bnc fuzz: seed ${options.seed}, ${seeds.length} models, ${jobs.length} mutants, ${options.jobs} at a time, ` +
      `bounds ${options.timeoutMs / 1000} s and ${options.maxRssBytes / 2 ** 20} MiB per run`,
  );

  const judgements: Judgement[] = [];
  let next = 0;
  let done = 0;
  let maxRss = 0;
  const started = Date.now();
  const worker = async (slot: number) => {
    const dir = path.join(work, `slot${slot}`);
    const rssFile = path.join(work, `rss${slot}`);
    const base = spawnRunner(options, rssFile);
    const run: CliRunner = async (args) => {
      const r = await base(args);
      if (r.maxRss) maxRss = Math.max(maxRss, r.maxRss);
      return r;
    };
    while (next < jobs.length) {
      const { mutant, original } = jobs[next++]!;
      const results = await fuzzMutant(mutant, original, dir, run, { limits: { maxRssBytes: options.maxRssBytes } });
      judgements.push(...results);
      const bad = results.filter((j) => j.verdict === 'crash' || j.verdict === 'hang');
      if (bad.length) {
        // Keep the mutant's files for the reproducer commands printed at the end.
        const keep = path.join(options.keep, mutant.name);
        fs.mkdirSync(keep, { recursive: true });
        writeMutant(mutant, keep);
      }
      if (++done % 50 === 0 || done === jobs.length) {
        process.stderr.write(`  ${done}/${jobs.length} mutants, ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
      }
    }
  };
  await Promise.all(Array.from({ length: options.jobs }, (_, i) => worker(i)));
  fs.rmSync(work, { recursive: true, force: true });

  const header = `${'format / command'.padEnd(22)} ${'mutants'.padStart(5)} ${'runs'.padStart(6)} ${'clean'.padStart(7)} ${'accepted'.padStart(8)} ${'verify1'.padStart(7)} ${'crashes'.padStart(7)} ${'hangs'.padStart(5)}`;
  console.log(`\n${header}`);
  for (const [k, c] of [...tally(judgements, (j) => `${j.format} ${j.command}`)].sort()) console.log(formatCounts(k, c));
  const total = tally(judgements, () => 'total').get('total')!;
  console.log(formatCounts('total', total));
  console.log(`\nby mutation kind:`);
  for (const [k, c] of [...tally(judgements, (j) => `${j.format} ${j.kind}`)].sort()) console.log(formatCounts(k, c));
  console.log(
    `\n${total.mutants} mutants, ${total.runs} runs: ${total.cleanErrors} clean errors, ${total.accepted} accepted, ` +
      `${total.verifyFailed} verification failures (exit 1), ${total.crashes} crashes, ${total.hangs} hangs; ` +
      `peak memory of any run ${(maxRss / 2 ** 20).toFixed(0)} MiB; ${((Date.now() - started) / 1000).toFixed(0)} s`,
  );
  const failures = judgements.filter((j) => j.verdict === 'crash' || j.verdict === 'hang');
  for (const f of failures.slice(0, 50)) {
    console.log(`\nFAIL ${f.mutant} / ${f.command}: ${f.problems.join('; ')}\n  kept in ${path.join(options.keep, f.mutant)}\n  bnc ${f.args.join(' ')}`);
  }
  if (options.report) {
    fs.writeFileSync(
      options.report,
      JSON.stringify({ seed: options.seed, total, byFormatAndCommand: Object.fromEntries(tally(judgements, (j) => `${j.format} ${j.command}`)), failures }, null, 2),
    );
  }
  return failures.length ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(`fuzz: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 2;
  },
);
