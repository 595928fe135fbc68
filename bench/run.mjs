// bnc benchmark: `npm run bench` (builds, then runs this against dist/). Prints a table and writes
// bench/results.json. Every figure is measured in this run; rows whose prerequisites are missing are
// listed as skipped with the reason. The sections live in bench/sections/; bench/README.md describes
// every row.
//   BENCH_ONLY=runtime,command   run only these sections (parse, command, runtime, gemm, winograd, memory,
//                                baseline); their rows replace those sections' rows in results.json
//   BENCH_BASELINE=../baseline   the "baseline" section: another built checkout, before/after in one run
//   BENCH_FULL=1                 also batch 8 (ResNet-50, MobileNet v2) and the slow tfjs rows
// Exits 1 if a row fails or a runtime's output differs from onnxruntime's by more than 1e-3.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AGREEMENT_LIMIT, DIST, OUT, ROOT, createModels, createRows, gitState } from './context.mjs';
import { RSS_SOURCE } from './sections/command.mjs';
import { evaluateTargets, metText } from './targets.mjs';

const SECTIONS = {
  parse: '1. Parse / load throughput',
  command: '2. Whole commands (wall time, peak RSS)',
  runtime: '3. Whole models at batch 1: runModel vs onnxruntime-node vs tfjs-backend-cpu',
  gemm: '4. GEMM core',
  winograd: '5. Winograd per layer',
  memory: '6. Peak RSS against weight bytes',
  baseline: '7. Before/after (BENCH_BASELINE)',
};
const RESULTS = path.join(ROOT, 'bench', 'results.json');

const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim()).filter(Boolean);
const unknown = (only ?? []).filter((s) => !(s in SECTIONS));
if (unknown.length) {
  process.stderr.write(`bench: unknown section(s) in BENCH_ONLY: ${unknown.join(', ')} (sections: ${Object.keys(SECTIONS).join(', ')})\n`);
  process.exit(2);
}
const selected = only ?? Object.keys(SECTIONS);

const startedAt = Date.now();
const loadAtStart = os.loadavg();
const bnc = await import(path.join(DIST, 'index.js'));
fs.mkdirSync(OUT, { recursive: true });
const { rows, row, skip, fail } = createRows();
const ctx = { bnc, models: createModels(bnc), rows, row, skip, fail };
const sectionRuns = {};
for (const section of Object.keys(SECTIONS).filter((s) => selected.includes(s))) {
  const t0 = Date.now();
  const load = os.loadavg();
  try {
    await (await import(`./sections/${section}.mjs`)).run(ctx);
  } catch (e) {
    fail(section, `section ${section}`, e);
  }
  sectionRuns[section] = {
    date: new Date(t0).toISOString(),
    seconds: Math.round((Date.now() - t0) / 1000),
    loadAverageAtStart: load.map((l) => +l.toFixed(2)),
    loadAverageAtEnd: os.loadavg().map((l) => +l.toFixed(2)),
  };
}

// ---------------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------------
const machine = {
  cpu: os.cpus()[0]?.model ?? 'unknown',
  cores: os.cpus().length,
  memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
  node: process.version,
  platform: `${os.platform()} ${os.release()} ${os.arch()}`,
  date: new Date(startedAt).toISOString(),
  loadAverageAtStart: loadAtStart.map((l) => +l.toFixed(2)),
  loadAverageAtEnd: os.loadavg().map((l) => +l.toFixed(2)),
  peakRssSource: RSS_SOURCE,
  ...gitState(),
  versions: {
    onnxruntimeNode: packageVersion('onnxruntime-node'),
    tfjsCore: packageVersion('@tensorflow/tfjs-core'),
    tfjsBackendCpu: packageVersion('@tensorflow/tfjs-backend-cpu'),
  },
};
const totalSeconds = (Date.now() - startedAt) / 1000;
for (const s of Object.values(sectionRuns)) Object.assign(s, { gitCommit: machine.gitCommit, srcUncommittedChanges: machine.srcUncommittedChanges });

function packageVersion(name) {
  try {
    return JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

const nameWidth = Math.max(...rows.map((r) => r.name.length));
const resultWidth = Math.max(...rows.map((r) => r.result.length));
const lines = [`bnc benchmark: ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${machine.date}`];
lines.push(
  `commit ${machine.gitCommit ?? 'unknown'}${machine.srcUncommittedChanges ? ' + uncommitted src/ changes' : ''}; load average at start ${machine.loadAverageAtStart.join(' ')}, at end ${machine.loadAverageAtEnd.join(' ')}`,
);
for (const section of Object.keys(sectionRuns)) {
  lines.push('', `${SECTIONS[section]} (${sectionRuns[section].seconds} s)`);
  for (const r of rows.filter((x) => x.section === section)) {
    lines.push(`  ${r.name.padEnd(nameWidth)}  ${r.result.padStart(resultWidth)}  ${r.detail}`);
  }
}

// With BENCH_ONLY, the sections not run keep their rows from the previous results.json (those it dates:
// a file from before sections were recorded gives none).
let kept = { rows: [], sections: {} };
if (only && fs.existsSync(RESULTS)) {
  try {
    const previous = JSON.parse(fs.readFileSync(RESULTS, 'utf8'));
    const sections = Object.fromEntries(Object.entries(previous.sections ?? {}).filter(([s]) => !selected.includes(s)));
    kept = { rows: (previous.rows ?? []).filter((r) => r.section in sections), sections };
  } catch {
    process.stderr.write('bench: the previous bench/results.json is unreadable; writing this run\'s sections only\n');
  }
}
const allRows = [...kept.rows, ...rows].sort((a, b) => Object.keys(SECTIONS).indexOf(a.section) - Object.keys(SECTIONS).indexOf(b.section));
const sections = { ...kept.sections, ...sectionRuns };
const targets = evaluateTargets(allRows);
lines.push('', `Issue 16 targets${kept.rows.length ? ' (with rows kept from earlier runs: see results.json sections)' : ''}`);
for (const t of targets) lines.push(`  ${metText(t.met).padEnd(12)}  ${t.target}: ${t.measured}`);
lines.push('', `total ${totalSeconds.toFixed(0)} s`);
process.stdout.write(lines.join('\n') + '\n');

fs.writeFileSync(RESULTS, JSON.stringify({ machine, totalSeconds, sections, targets, rows: allRows }, null, 2) + '\n');
process.stderr.write(`bench: wrote bench/results.json\n`);
const mismatches = rows.filter((r) => r.mismatch);
if (mismatches.length) {
  process.stderr.write(`bench: ${mismatches.length} runtime row(s) disagree with the reference by more than ${AGREEMENT_LIMIT}\n`);
  process.exitCode = 1;
}
const failures = rows.filter((r) => r.failed);
if (failures.length) {
  process.stderr.write(`bench: ${failures.length} row(s) failed: ${failures.map((r) => r.name).join('; ')}\n`);
  process.exitCode = 1;
}
