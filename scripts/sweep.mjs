// The model sweep: every bnc command (scripts/sweep-lib.mjs COMMANDS) on every model in ../shared/models,
// fixtures/ and ONNX's conformance data, each with a time bound, judged ok / clean error / internal error /
// crash / hang. Runs the built CLI (`npm run sweep` builds first) in worker processes that the parent
// kills and restarts when a run passes the time bound or the process dies.
//   npm run sweep -- [--timeout-ms MS] [--jobs J] [--only REGEX] [--commands a,b] [--report r.json]
// Exits 1 when any run is an internal error, a crash or a hang.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { COMMANDS, EXTRA_COMMANDS, REPO, VERDICTS, kindOf, listModels, runSweep } from './sweep-lib.mjs';

function parseArgs(argv) {
  const o = { timeoutMs: 120_000, jobs: 2, only: undefined, commands: COMMANDS, report: undefined };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    if (flag === '--timeout-ms') o.timeoutMs = Number(value());
    else if (flag === '--jobs') o.jobs = Number(value());
    else if (flag === '--only') o.only = new RegExp(value());
    else if (flag === '--commands') o.commands = value().split(',');
    else if (flag === '--report') o.report = value();
    else throw new Error(`unknown option ${flag}`);
  }
  for (const c of o.commands) {
    if (!COMMANDS.includes(c) && !EXTRA_COMMANDS.includes(c)) throw new Error(`unknown command ${c} (one of ${[...COMMANDS, ...EXTRA_COMMANDS].join(', ')})`);
  }
  return o;
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  if (!fs.existsSync(path.join(REPO, 'dist', 'cli', 'main.js'))) throw new Error('dist/ is missing: run `npm run build` first');
  const models = listModels().filter((m) => !options.only || options.only.test(`${m.group}/${m.name}`));
  const queue = models.flatMap((m) => options.commands.map((command) => ({ model: m, command })));
  const groups = [...new Set(models.map((m) => m.group))].map((g) => `${g} ${models.filter((m) => m.group === g).length}`);
  process.stdout.write(
    `sweep: ${models.length} models (${groups.join(', ')}), ${options.commands.length} commands, ` +
      `${queue.length} runs, ${options.jobs} workers, bound ${options.timeoutMs / 1000} s per run\n`,
  );
  const started = Date.now();
  const results = await runSweep(models, options, (r, done) => {
    if (r.verdict !== 'ok' && r.verdict !== 'clean') process.stdout.write(`${r.verdict.padEnd(8)} ${r.command.padEnd(15)} ${r.group}/${r.model}: ${r.message}\n`);
    if (done % 200 === 0) process.stdout.write(`  ${done}/${queue.length} runs, ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  });

  // Counts per command, then the failures grouped by kind.
  process.stdout.write(`\n${'command'.padEnd(16)}${VERDICTS.map((v) => v.padStart(9)).join('')}\n`);
  for (const command of options.commands) {
    const mine = results.filter((r) => r.command === command);
    process.stdout.write(`${command.padEnd(16)}${VERDICTS.map((v) => String(mine.filter((r) => r.verdict === v).length).padStart(9)).join('')}\n`);
  }
  const bad = results.filter((r) => r.verdict !== 'ok' && r.verdict !== 'clean');
  const kinds = new Map();
  for (const r of bad) {
    const k = `${r.verdict}: ${kindOf(r.message)}`;
    kinds.set(k, [...(kinds.get(k) ?? []), r]);
  }
  if (kinds.size) process.stdout.write('\nfailures by kind:\n');
  for (const [k, rs] of [...kinds].sort((a, b) => b[1].length - a[1].length)) {
    process.stdout.write(`  ${String(rs.length).padStart(4)}  ${k}\n        e.g. ${rs[0].command} ${rs[0].file}\n`);
  }
  process.stdout.write(`\n${results.length} runs in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
  if (options.report) fs.writeFileSync(options.report, JSON.stringify({ options: { ...options, only: options.only?.source }, results }, null, 1));
  return bad.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`sweep: ${e.message}\n`);
    process.exit(2);
  },
);
