import { Command } from 'commander';
import { openModelShowingProgress } from '../openModel.js';
import { BncError } from '../../ir/index.js';
import { parseToleranceOptions } from '../../verify/compare.js';
import { ComparisonJson, JsonNumber, OutputReport, VerifyReport } from '../../verify/report.js';
import { verifyModels } from '../../verify/verify.js';
import { Output, table } from '../output.js';
import { THREADS_HELP, parseThreads } from '../threads.js';
import { setDefaultThreads } from '../../runtime/engine.js';
import { progressReporter } from '../progress.js';

interface VerifyCliOptions {
  input?: string[];
  seed: string;
  samples: string;
  rtol?: string[];
  atol?: string[];
  saveInputs?: string;
  loadInputs?: string;
  allTensors?: boolean;
  json?: boolean;
  weightsA?: string;
  weightsB?: string;
  force?: boolean;
  threads?: string;
}

// Repeatable options start undefined (so --help shows no '(default: [])').
const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

function wholeNumber(text: string, option: string, min: number): number {
  const n = Number(text);
  if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min) {
    throw new BncError(`${option} ${JSON.stringify(text)}: expected a whole number${min > 0 ? ` >= ${min}` : ''}`, { code: 'USAGE' });
  }
  return n;
}

function parseInputFiles(values: string[]): Map<string, string> {
  const files = new Map<string, string>();
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0 || eq === v.length - 1) throw new BncError(`--input ${JSON.stringify(v)}: expected name=file.npy`, { code: 'USAGE' });
    files.set(v.slice(0, eq), v.slice(eq + 1));
  }
  return files;
}

// ---- Human-readable report ----

function num(x: JsonNumber | null | undefined): string {
  if (x === null || x === undefined) return '-';
  if (typeof x === 'string') return x === 'Infinity' ? 'inf' : x === '-Infinity' ? '-inf' : x;
  if (x === 0) return '0';
  const abs = Math.abs(x);
  // Four significant digits; exponent form without trailing zeros (1e-5, 2.5e-7).
  return abs < 1e-3 || abs >= 1e5 ? x.toExponential(3).replace(/\.?0+e/, 'e') : String(Number(x.toPrecision(4)));
}

/** Cosine near 1 as "1-2.3e-12", which says more than "1.000". */
function cosine(x: JsonNumber): string {
  if (typeof x === 'number' && x < 1 && x > 0.999) return `1-${(1 - x).toExponential(1)}`;
  return num(x);
}

function percent(x: number | null): string {
  return x === null ? '-' : `${Number((x * 100).toFixed(2))}%`;
}

function shapeText(dims: number[]): string {
  return `[${dims.join(', ')}]`;
}

function worstText(m: ComparisonJson): string {
  const w = m.worst;
  if (!w) return 'identical';
  return `[${w.index.join(', ')}]${m.samples > 1 ? ` (sample ${w.sample})` : ''}: ${num(w.a)} vs ${num(w.b)}`;
}

/** The verify table and verdict, as `bnc verify` prints it (also used by fold-bn --verify). */
export function printVerifyReport(out: Output, r: VerifyReport): void {
  const c = out.color;
  out.line(`${c.bold('A')} ${r.modelA}`);
  out.line(`${c.bold('B')} ${r.modelB}`);
  const seeds = r.inputs.seeds;
  const seedText = seeds.length === 0 ? '' : seeds.length === 1 ? `seed ${seeds[0]}` : `seeds ${seeds[0]}..${seeds[seeds.length - 1]}`;
  for (const t of r.inputs.tensors) {
    const from = t.source === 'generated' ? `generated, ${seedText}` : t.source === 'file' ? `from ${t.file}` : `loaded from ${t.file}`;
    out.line(`${c.bold('input')} ${t.name} ${t.dtype} ${shapeText(t.shape)} (${from})`);
  }
  out.line(`${r.inputs.samples} sample${r.inputs.samples === 1 ? '' : 's'}; outputs matched by ${c.bold(r.matching)}`);
  const overrides = Object.entries(r.tolerance.perTensor).map(([name, t]) => `${name}: ${JSON.stringify(t)}`);
  out.line(
    c.dim(`rule: |a-b| <= ${num(r.tolerance.atolRel)}·max|b| + ${num(r.tolerance.rtol)}·|b| per element${overrides.length ? `; ${overrides.join(', ')}` : ''}`),
  );
  if (r.savedInputs) out.line(c.dim(`inputs saved to ${r.savedInputs}`));
  out.line();

  const header = ['output', 'shape', 'max abs', 'max rel', 'mean abs', 'cosine', 'top-1', 'top-5', 'worst element (a vs b)', 'result'];
  const rows = r.outputs.map((o) => outputRow(out, r, o));
  out.line(table([header.map((h) => c.bold(h)), ...rows]));
  out.line();

  if (r.allTensors) {
    const at = r.allTensors;
    out.line(
      `${c.bold('all tensors')}: ${at.compared} compared, ${c.green(`${at.equal} equal`)}, ` +
        `${at.diverged ? c.red(`${at.diverged} diverged`) : '0 diverged'}` +
        c.dim(` (only in A: ${at.onlyInA}, only in B: ${at.onlyInB}${at.shapeDiffers.length ? `, different shape: ${at.shapeDiffers.length}` : ''})`),
    );
    const f = at.firstDiverging;
    if (f) {
      out.line(
        `  first diverging: ${c.red.bold(f.name)} ${shapeText(f.shape)}, computed by ${f.producer}: ` +
          `max abs ${num(f.metrics.maxAbsError)}, max rel ${num(f.metrics.maxRelError)}, ${f.metrics.violations} elements beyond tolerance, worst ${worstText(f.metrics)}`,
      );
    }
    out.line();
  }
  for (const w of r.warnings) out.warn(w);

  if (r.verdict === 'equivalent') {
    out.line(`${c.green.bold('EQUIVALENT')}: ${r.outputs.length === 1 ? 'the output is' : `all ${r.outputs.length} outputs are`} within tolerance`);
  } else {
    const failed = r.outputs.filter((o) => !o.pass);
    const what = failed.map((o) => {
      if (o.mismatch) return `'${o.name}' (${o.mismatch})`;
      const m = o.metrics!;
      const nan = m.nanMismatches ? `, ${m.nanMismatches} NaN in one model only` : '';
      return `'${o.name}' (${m.violations} of ${m.elements * m.samples} elements beyond tolerance${nan}; worst ${worstText(m)}, ${num(m.worst?.ratio)}× the allowance)`;
    });
    out.line(`${c.red.bold('DIFFERENT')}: ${what.join('; ')}`);
  }
}

function outputRow(out: Output, r: VerifyReport, o: OutputReport): string[] {
  const c = out.color;
  const name = r.matching === 'position' && o.name !== o.nameB ? `${o.name} ↔ ${o.nameB}` : o.name;
  if (o.mismatch || !o.metrics) {
    return [name, shapeText(o.shape), '-', '-', '-', '-', '-', '-', '-', c.red(`✗ ${o.mismatch ?? 'not compared'}`)];
  }
  const m = o.metrics;
  const result = o.pass ? c.green('✓ pass') : c.red(`✗ FAIL (${m.violations})`);
  return [name, shapeText(o.shape), num(m.maxAbsError), num(m.maxRelError), num(m.meanAbsError), cosine(m.cosineSimilarity), percent(m.top1Agreement), percent(m.top5Agreement), worstText(m), result];
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('run two models on the same inputs and check that every output agrees within tolerance (exit 0 equivalent, 1 different)')
    .argument('<modelA>', 'first model (.onnx, or Caffe .prototxt)')
    .argument('<modelB>', 'second model; it is the reference b in the rule |a-b| <= atol*max|b| + rtol*|b|')
    .option('--input <name=file.npy>', 'take this input from an .npy file (repeatable; the same in every sample)', collect)
    .option('--seed <n>', 'seed of the generated inputs (sample k uses seed+k)', '0')
    .option('--samples <k>', 'number of input samples to run', '1')
    .option('--rtol <[name:]r>', 'relative tolerance (default 1e-4); name:r for one output (repeatable)', collect)
    .option('--atol <[name:]a>', 'absolute tolerance as a fraction of max|b| (default 1e-5); name:a for one output (repeatable)', collect)
    .option('--save-inputs <dir>', 'write the inputs used as .npy files plus inputs.json')
    .option('--load-inputs <dir>', 'replay inputs written by --save-inputs')
    .option('--all-tensors', 'also compare every intermediate tensor both models compute, and name the first that diverges')
    .option('--weights-a <file>', 'Caffe weights of model A, when not beside its prototxt')
    .option('--weights-b <file>', 'Caffe weights of model B, when not beside its prototxt')
    .option('-f, --force', 'let --save-inputs replace existing files')
    .option('--json', 'print one JSON object (VerifyReport in src/verify/report.ts)')
    .option('--threads <n>', THREADS_HELP)
    .action((fileA: string, fileB: string, opts: VerifyCliOptions, cmd: Command) => {
      const out = new Output({ ...cmd.optsWithGlobals(), json: !!opts.json });
      const tolerance = parseToleranceOptions(opts.rtol ?? [], opts.atol ?? []);
      const seed = wholeNumber(opts.seed, '--seed', -Infinity);
      const samples = wholeNumber(opts.samples, '--samples', 1);
      const inputFiles = parseInputFiles(opts.input ?? []);
      // verifyModels runs both models through runModel, which takes its thread count from here.
      const threads = parseThreads(opts.threads);
      setDefaultThreads(threads);
      const readerWarnings: string[] = [];
      const warnFor = (file: string) => (m: string) => {
        readerWarnings.push(`${file}: ${m}`);
        out.warn(`${file}: ${m}`);
      };
      // On worker threads, weights read into shared memory reach them without a copy.
      const sharedMemory = threads > 1;
      const modelA = openModelShowingProgress(out, fileA, { weights: opts.weightsA, warn: warnFor(fileA), sharedMemory });
      const modelB = openModelShowingProgress(out, fileB, { weights: opts.weightsB, warn: warnFor(fileB), sharedMemory });
      const progress = progressReporter('verify', out);
      let report: VerifyReport;
      try {
        report = verifyModels(modelA, modelB, {
          fileA,
          fileB,
          inputFiles,
          seed,
          samples,
          tolerance,
          saveInputsDir: opts.saveInputs,
          loadInputsDir: opts.loadInputs,
          allTensors: !!opts.allTensors,
          force: !!opts.force,
          onProgress: progress.onProgress,
        });
      } finally {
        progress.finish();
      }
      // Reader warnings were already shown on stderr; the JSON report carries them too.
      if (out.json) out.result({ ...report, warnings: [...readerWarnings, ...report.warnings] });
      else printVerifyReport(out, report);
      process.exitCode = report.exitCode;
    });
}
