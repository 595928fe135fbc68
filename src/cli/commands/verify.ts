import { Command } from 'commander';
import { OUTPUTS_HELP, openModelShowingProgress, outputsOption } from '../openModel.js';
import { BncError, withFile } from '../../ir/index.js';
import { ComparisonJson, JsonNumber, OutputReport, VerifyReport } from '../../verify/report.js';
import { parseNameMap, verifyModels } from '../../verify/verify.js';
import { renderHtmlReport } from '../../verify/htmlReport.js';
import { checkOutputPath, writeFileAtomic } from '../../io/atomicWrite.js';
import { InputFlagOptions, addInputOptions, collect, inputShapesOption, parseInputFlags, resolveInputs } from '../inputFlags.js';
import { VerifyGateOptions, addVerifyGateOptions, parseVerifyGate } from '../verifyGate.js';
import { Output, table } from '../output.js';
import { THREADS_HELP, parseThreads } from '../threads.js';
import { setDefaultThreads } from '../../runtime/engine.js';
import { progressReporter } from '../progress.js';
import { checkModelFile } from '../../formats/modelFile.js';

interface VerifyCliOptions extends InputFlagOptions, VerifyGateOptions {
  outputs?: string[];
  inputMap?: string[];
  outputMap?: string[];
  loadOutputs?: string;
  saveOutputs?: string;
  topK?: string;
  report?: string;
  seed: string;
  samples: string;
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
function wholeNumber(text: string, option: string, min: number): number {
  const n = Number(text);
  if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min) {
    throw new BncError(`${option} ${JSON.stringify(text)}: expected a whole number${min > 0 ? ` >= ${min}` : ''}`, { code: 'USAGE' });
  }
  return n;
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

function decadeLabel(d: number | null | 'inf'): string {
  if (d === null) return '0';
  if (d === 'inf') return 'NaN/inf';
  return `1e${d}..1e${d + 1}`;
}

/** Bars of the |a-b| histogram by decade, each at most `width` cells. */
function histogramLines(out: Output, bins: { decade: number | null | 'inf'; count: number }[], width = 40): string[] {
  const most = Math.max(1, ...bins.map((b) => b.count));
  const labels = bins.map((b) => decadeLabel(b.decade));
  const pad = Math.max(...labels.map((l) => l.length));
  return bins.map((b, i) => {
    const cells = b.count === 0 ? 0 : Math.max(1, Math.round((b.count / most) * width));
        // ▇ rather than █: the progress bar's block stays unique to stderr.
    return `    ${labels[i]!.padEnd(pad)}  ${out.color.cyan('▇'.repeat(cells))}${cells ? ' ' : ''}${b.count}`;
  });
}

function summaryText(s: { max: JsonNumber; mean: JsonNumber; median: JsonNumber; p90: JsonNumber; p99: JsonNumber; count: number }): string {
  if (s.count === 0) return '-';
  return `max ${num(s.max)}  mean ${num(s.mean)}  median ${num(s.median)}  p90 ${num(s.p90)}  p99 ${num(s.p99)}`;
}

function nonFiniteText(c: { nan: number; posInf: number; negInf: number }): string {
  const parts = [c.nan && `${c.nan} NaN`, c.posInf && `${c.posInf} +inf`, c.negInf && `${c.negInf} -inf`].filter(Boolean);
  return parts.length ? parts.join(', ') : 'none';
}

/** The verify table, per-output statistics and verdict, as `bnc verify` prints it (also used by fold-bn --verify). */
export function printVerifyReport(out: Output, r: VerifyReport): void {
  const c = out.color;
  out.line(`${c.bold('A')} ${r.modelA}`);
  out.line(`${c.bold('B')} ${r.modelB}${r.reference === 'files' ? ' (expected outputs)' : ''}`);
  const seeds = r.inputs.seeds;
  const seedText = seeds.length === 0 ? '' : seeds.length === 1 ? `seed ${seeds[0]}` : `seeds ${seeds[0]}..${seeds[seeds.length - 1]}`;
  for (const t of r.inputs.tensors) {
    const open = t.symbolicDims?.length ? `; ${t.symbolicDims.map((d) => `${d.name === '?' ? `dim ${d.dim}` : d.name}=${d.size}`).join(', ')}` : '';
    const from =
      t.source === 'generated'
        ? `N(0,1), ${seedText}${open}`
        : t.source === 'range'
          ? `uniform [${t.range![0]}, ${t.range![1]}), ${seedText}${open}`
          : t.source === 'file'
            ? `from ${t.file}`
            : t.source === 'image'
              ? `image ${t.file}: ${t.preprocessing}`
              : `loaded from ${t.file}`;
    const pair = r.inputs.pairs.find(([na]) => na === t.name);
    const b = pair && pair[1] !== t.name ? ` ↔ B ${pair[1]}` : '';
    out.line(`${c.bold('input')} ${t.name}${b} ${t.dtype} ${shapeText(t.shape)} (${from})`);
  }
  if (r.inputs.matching !== 'name') out.line(c.dim(`inputs paired ${r.inputs.matching === 'position' ? 'by position (one input each, names differ)' : 'with --input-map'}`));
  out.line(`${r.inputs.samples} sample${r.inputs.samples === 1 ? '' : 's'}; outputs matched by ${c.bold(r.matching === 'map' ? '--output-map' : r.matching)}`);
  const overrides = Object.entries(r.tolerance.perTensor).map(([name, t]) => `${name}: ${JSON.stringify(t)}`);
  out.line(
    c.dim(`rule: |a-b| <= ${num(r.tolerance.atolRel)}·max|b| + ${num(r.tolerance.rtol)}·|b| per element${overrides.length ? `; ${overrides.join(', ')}` : ''}`),
  );
  const gates = [
    r.gate.errorStat === 'max' ? 'every element' : `${r.gate.errorStat} of |a-b|/allowance <= 1`,
    r.gate.topK !== null ? `top-${r.gate.topK} classes equal` : '',
    r.gate.allowNonFinite ? 'NaN/inf allowed where both have them' : 'no NaN/inf',
  ].filter(Boolean);
  out.line(c.dim(`pass: ${gates.join('; ')}`));
  if (r.savedInputs) out.line(c.dim(`inputs saved to ${r.savedInputs}`));
  if (r.savedOutputs) out.line(c.dim(`outputs saved to ${r.savedOutputs}/a${r.reference === 'model' ? ` and ${r.savedOutputs}/b` : ''}`));
  out.line();

  const header = ['output', 'shape', 'max abs', 'max rel', 'cosine', 'top-1', r.gate.topK !== null ? `top-${r.gate.topK}` : 'top-5', 'result'];
  const rows = r.outputs.map((o) => outputRow(out, r, o));
  out.line(table([header.map((h) => c.bold(h)), ...rows]));
  out.line();
  for (const o of r.outputs) printOutputDetails(out, r, o);

  if (r.allTensors) {
    const at = r.allTensors;
    out.line(
      `${c.bold('all tensors')}: ${at.compared} compared, ${c.green(`${at.equal} equal`)}, ` +
        `${at.diverged ? c.red(`${at.diverged} diverged`) : '0 diverged'}` +
        c.dim(` (only in A: ${at.onlyInA}, only in B: ${at.onlyInB}${at.shapeDiffers.length ? `, different shape: ${at.shapeDiffers.length}` : ''})`),
    );
    const f = at.firstDiverging;
    if (f) {
      out.line(`  first diverging: ${c.red.bold(f.name)} ${shapeText(f.shape)}`);
      out.line(`    computed by ${f.producer}`);
      out.line(`    max abs ${num(f.metrics.maxAbsError)}, max rel ${num(f.metrics.maxRelError)}, ${f.metrics.violations} elements beyond tolerance`);
      out.line(`    worst ${worstText(f.metrics)}`);
    }
    out.line();
  }
  if (r.nonFinite) {
    for (const [side, at] of [['A', r.nonFinite.a], ['B', r.nonFinite.b]] as const) {
      if (!at) continue;
      out.line(
        `${c.yellow('NaN/inf')} first in ${side}: '${at.tensor}' [${at.index.join(', ')}]${r.inputs.samples > 1 ? ` (sample ${at.sample})` : ''} = ${num(at.value)}, ` +
          `computed by ${at.producer}${r.allTensors ? '' : c.dim(' (outputs only; --all-tensors finds the first tensor)')}`,
      );
    }
    out.line();
  }
  for (const w of r.warnings) out.warn(w);
  if (r.htmlReport) out.line(c.dim(`report written to ${r.htmlReport}`));

  if (r.verdict === 'equivalent') {
    out.line(`${c.green.bold('EQUIVALENT')}: ${r.outputs.length === 1 ? 'the output is' : `all ${r.outputs.length} outputs are`} within tolerance`);
  } else {
    const failed = r.outputs.filter((o) => !o.pass);
    const what = failed.map((o) => {
      if (o.mismatch) return `'${o.name}' (${o.mismatch})`;
      const m = o.metrics!;
      const reasons = m.failures.map((f) => {
        if (f === 'tolerance') {
          return r.gate.errorStat === 'max'
            ? `${m.violations - m.nanMismatches} of ${m.elements * m.samples} elements beyond tolerance, worst ${worstText(m)}, ${num(m.worst?.ratio)}× the allowance`
            : `${r.gate.errorStat} of |a-b|/allowance is ${num(m.statistics?.gate.value)} > 1`;
        }
        if (f === 'nan-mismatch') return `${m.nanMismatches} NaN in one model only`;
        if (f === 'non-finite') return `NaN/inf: A ${nonFiniteText(m.nonFinite.a)}, B ${nonFiniteText(m.nonFinite.b)}`;
        return `top-${m.topK?.k} agreement ${percent(m.topK?.agreement ?? null)}`;
      });
      return `'${o.name}' (${reasons.join('; ')})`;
    });
    out.line(`${c.red.bold('DIFFERENT')}: ${what.join('; ')}`);
  }
}

function printOutputDetails(out: Output, r: VerifyReport, o: OutputReport): void {
  const c = out.color;
  const m = o.metrics;
  if (!m) return;
  out.line(`${c.bold(o.name)}${o.nameB !== o.name ? ` ↔ ${o.nameB}` : ''}`);
  if (m.identical && m.failures.length === 0) {
    out.line('  identical in every element');
    out.line();
    return;
  }
  const s = m.statistics;
  if (s) {
    out.line(`  |a-b|      ${summaryText(s.abs)}`);
    out.line(`  |a-b|/|b|  ${summaryText(s.rel)}`);
  }
  if (m.worst) out.line(`  worst      ${worstText(m)} (${num(m.worst.ratio)}× the allowance)`);
  if (s) {
    const atol = typeof s.smallestPassingAtol === 'number' ? `${num(s.smallestPassingAtol)}` : 'none (NaN or error where max|b| is 0)';
    const gate = r.gate.errorStat !== 'max' ? `; ${s.gate.stat} of |a-b|/allowance ${num(s.gate.value)}` : '';
    out.line(`  smallest passing --atol ${atol} at --rtol ${num(m.rtol)}${gate}`);
    if (s.keptEvery > 1) out.line(c.dim(`  statistics from every ${s.keptEvery}th element`));
    if (s.histogram.length) {
      out.line('  |a-b| by decade');
      for (const line of histogramLines(out, s.histogram)) out.line(line);
    }
  }
  const nf = m.nonFinite;
  if (nf.a.nan + nf.a.posInf + nf.a.negInf + nf.b.nan + nf.b.posInf + nf.b.negInf > 0) {
    out.line(`  ${c.yellow('NaN/inf')}  A ${nonFiniteText(nf.a)}; B ${nonFiniteText(nf.b)}`);
  }
  if (o.saturated) out.line(`  ${c.yellow('saturated')} (${o.saturated}): agreement here proves little`);
  out.line();
}

function outputRow(out: Output, r: VerifyReport, o: OutputReport): string[] {
  const c = out.color;
  const name = o.name !== o.nameB ? `${o.name} ↔ ${o.nameB}` : o.name;
  if (o.mismatch || !o.metrics) {
    return [name, shapeText(o.shape), '-', '-', '-', '-', '-', c.red(`✗ ${o.mismatch ?? 'not compared'}`)];
  }
  const m = o.metrics;
  const result = o.pass ? c.green('✓ pass') : c.red(`✗ FAIL (${m.failures.map((f) => (f === 'tolerance' ? String(m.violations - m.nanMismatches) : f)).join(', ')})`);
  const topK = r.gate.topK !== null ? percent(m.topK?.agreement ?? null) : percent(m.top5Agreement);
  return [name, shapeText(o.shape), num(m.maxAbsError), num(m.maxRelError), cosine(m.cosineSimilarity), percent(m.top1Agreement), topK, result];
}

export function registerVerify(program: Command): void {
  const cmd = program
    .command('verify')
    .description(
      'run two models on the same inputs (or one model against saved outputs) and check that every output agrees within tolerance (exit 0 equivalent, 1 different)',
    )
    .argument('<modelA>', 'first model (.onnx, or Caffe .prototxt)')
    .argument('[modelB]', 'second model; it is the reference b in the rule |a-b| <= atol*max|b| + rtol*|b| (omit with --load-outputs)');
  addVerifyGateOptions(addInputOptions(cmd))
    .option('--input-map <a=b>', "which input of B takes A's input a (repeatable; one input each pairs by position)", collect)
    .option('--output-map <a=b>', "compare A's output a with B's output b, or with file b.npy of --load-outputs (repeatable)", collect)
    .option('--load-outputs <dir>', 'compare model A with expected outputs: <dir>/<output>.npy (bnc run --save-outputs writes these)')
    .option('--save-outputs <dir>', "write each model's outputs as .npy to <dir>/a and <dir>/b")
    .option('--seed <n>', 'seed of the generated inputs (sample k uses seed+k)', '0')
    .option('--samples <k>', 'number of input samples to run', '1')
    .option('--top-k <k>', 'also require the same top-k classes in every row of class-score outputs')
    .option('--save-inputs <dir>', 'write the inputs used as .npy files plus inputs.json')
    .option('--load-inputs <dir>', 'replay inputs written by --save-inputs')
    .option('--all-tensors', 'also compare every intermediate tensor both models compute, and name the first that diverges')
    .option('--report <file.html>', 'write a self-contained HTML report: verdict, table, error histograms, error by depth with --all-tensors')
    .option('--weights-a <file>', 'Caffe weights of model A, when not beside its prototxt')
    .option('--weights-b <file>', 'Caffe weights of model B, when not beside its prototxt')
    .option('--outputs <blobs>', `${OUTPUTS_HELP} (each Caffe model)`, collect)
    .option('-f, --force', 'let --save-inputs, --save-outputs and --report replace existing files')
    .option('--json', 'print one JSON object (VerifyReport, schema bnc.verify/2, in src/verify/report.ts)')
    .option('--threads <n>', THREADS_HELP)
    // Errors that name no file (an input bnc cannot generate, ...) are about model A, whose inputs lead.
    .action((fileA: string, fileB: string | undefined, opts: VerifyCliOptions, cmd: Command) => withFile(fileA, () => {
      const out = new Output({ ...cmd.optsWithGlobals(), json: !!opts.json });
      const { tolerance, errorStat, allowNonFinite } = parseVerifyGate(opts);
      const seed = wholeNumber(opts.seed, '--seed', -Infinity);
      const samples = wholeNumber(opts.samples, '--samples', 1);
      const flags = parseInputFlags(opts);
      const topK = opts.topK === undefined ? undefined : wholeNumber(opts.topK, '--top-k', 1);
      if (fileB === undefined && !opts.loadOutputs) {
        throw new BncError('verify needs a second model, or expected outputs with --load-outputs DIR', { code: 'USAGE' });
      }
      if (opts.report !== undefined) {
        checkOutputPath(opts.report, { force: !!opts.force, inputs: [fileA, ...(fileB ? [fileB] : [])] });
      }
      if (fileB !== undefined && opts.loadOutputs) {
        throw new BncError(`--load-outputs replaces model B; give either ${fileB} or --load-outputs ${opts.loadOutputs}`, { code: 'USAGE' });
      }
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
      const inputShapes = inputShapesOption(flags);
      const outputs = outputsOption(opts.outputs, fileB === undefined ? [fileA] : [fileA, fileB]);
      // B's files must exist before A runs; B itself is opened once A has run and let go of its weights,
      // so the two models are never in memory together.
      if (fileB !== undefined) checkModelFile(fileB);
      const modelA = openModelShowingProgress(out, fileA, { weights: opts.weightsA, warn: warnFor(fileA), sharedMemory, inputShapes, outputs });
      const modelB = fileB === undefined ? undefined : { load: () => openModelShowingProgress(out, fileB, { weights: opts.weightsB, warn: warnFor(fileB), sharedMemory, inputShapes, outputs }) };
      const inputs = resolveInputs(flags, modelA);
      const progress = progressReporter('verify', out);
      let report: VerifyReport;
      try {
        report = verifyModels(modelA, modelB ?? { outputsDir: opts.loadOutputs! }, {
          fileA,
          fileB: fileB ?? opts.loadOutputs!,
          ...inputs,
          seed,
          samples,
          tolerance,
          errorStat,
          topK,
          allowNonFinite,
          inputMap: parseNameMap(opts.inputMap ?? [], '--input-map'),
          outputMap: parseNameMap(opts.outputMap ?? [], '--output-map'),
          saveInputsDir: opts.saveInputs,
          saveOutputsDir: opts.saveOutputs,
          loadInputsDir: opts.loadInputs,
          allTensors: !!opts.allTensors,
          force: !!opts.force,
          onProgress: progress.onProgress,
          releaseA: true,
        });
      } finally {
        progress.finish();
      }
      // Reader warnings were already shown on stderr; the JSON report carries them too.
      report = { ...report, warnings: [...readerWarnings, ...report.warnings], htmlReport: opts.report ?? null };
      if (opts.report !== undefined) {
        const page = renderHtmlReport(report);
        writeFileAtomic(opts.report, () => page, { force: !!opts.force, inputs: [fileA, ...(fileB ? [fileB] : [])] });
      }
      if (out.json) out.result(report);
      else printVerifyReport(out, report);
      process.exitCode = report.exitCode;
    }));
}
