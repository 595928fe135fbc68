import { Command } from 'commander';
import { RANDOM_WEIGHTS_HELP, openModelShowingProgress, weightOptions } from '../openModel.js';
import { parseOnnx, serializeOnnx, serializeOnnxChunks } from '../../formats/onnx/index.js';
import { BncError, Model, allScopes, assertValidModel, checkModel, cloneModel, tensorByteSize, validateGraph, withFile } from '../../ir/index.js';
import { checkOutputPath, writeFileAtomic } from '../../io/atomicWrite.js';
import { DEFAULT_FOLD_MAX_ELEMENTS, FOLD_BN_PIPELINE, PassReport, runPasses } from '../../passes/index.js';
import { isBatchNorm } from '../../passes/bnFoldability.js';
import { VerifyReport } from '../../verify/report.js';
import { verifyModels } from '../../verify/verify.js';
import { Output, formatBytes } from '../output.js';
import { printVerifyReport } from './verify.js';
import { progressReporter } from '../progress.js';
import { VerifyGateOptions, addVerifyGateOptions, parseVerifyGate } from '../verifyGate.js';
import { InputFlagOptions, addInputOptions, inputShapesOption, parseInputFlags, resolveInputs } from '../inputFlags.js';

/**
 * The --json object of `bnc fold-bn` (one object on stdout):
 *   input, output            file names
 *   nodes                    { before, after }: node counts of the graph
 *   batchNorm                { before, after }: BatchNormalization node counts
 *   constantsFolded          { total, byOp: { Unsqueeze: n, ... }, skipped: [{ node, reason }] }: nodes
 *                            fold-constants evaluated away (outputs now initializers, or for an Identity
 *                            its readers reading the constant), and all-constant nodes it left, with why
 *   switchedToEval           BNs bn-eval changed from batch to stored statistics
 *   mergedWithScale          BNs merge-bn-scale merged with a following Mul/Add
 *   folded                   { total, byProducer: { Conv: n, ... } }
 *   notFolded                [{ node, reason, result: 'Mul+Add' | 'kept' }]
 *   parameterBytes           { before, after }: initializer payload bytes
 *   warnings                 strings (float16 rounding, ...)
 *   passes                   the full PassReport of every pass, in order
 *   verify                   with --verify: the `bnc verify` report (original vs folded), else null
 *   written                  whether the output file was written (not when verification failed)
 */
export interface FoldBnResult {
  input: string;
  output: string;
  nodes: { before: number; after: number };
  batchNorm: { before: number; after: number };
  constantsFolded: { total: number; byOp: Record<string, number>; skipped: { node: string; reason: string }[] };
  switchedToEval: number;
  mergedWithScale: number;
  folded: { total: number; byProducer: Record<string, number> };
  notFolded: { node: string; reason: string; result: 'Mul+Add' | 'kept' }[];
  parameterBytes: { before: number; after: number };
  warnings: string[];
  passes: PassReport[];
  verify: VerifyReport | null;
  written: boolean;
}

// Over the main graph and every subgraph (If branches, Loop/Scan bodies).
const countBatchNorms = (m: Model) => allScopes(m.graph).reduce((k, s) => k + s.graph.nodes.filter(isBatchNorm).length, 0);
const parameterBytes = (m: Model) =>
  allScopes(m.graph).reduce((k, s) => k + s.graph.initializers.reduce((b, t) => b + tensorByteSize(t), 0), 0);

/** Run the fold-bn pipeline on a model in memory and summarise it (no I/O). */
export function foldBatchNorms(
  model: Model,
  options: { allowWeightCopy?: boolean; keepBn?: boolean; foldMaxElements?: number; inPlace?: boolean },
): Omit<FoldBnResult, 'input' | 'output' | 'verify' | 'written'> {
  const before = { nodes: model.graph.nodes.length, bn: countBatchNorms(model), bytes: parameterBytes(model) };
  const reports = runPasses(model, FOLD_BN_PIPELINE, options);
  validateGraph(model.graph);
  const byName = Object.fromEntries(reports.map((r) => [r.pass, r])) as Record<string, PassReport>;
  const affine = byName['bn-to-affine']!;
  const converted = new Set(affine.changes.map((c) => c.replace(/ → Mul \+ Add$/, '')));
  const constants = byName['fold-constants']!;
  return {
    nodes: { before: before.nodes, after: model.graph.nodes.length },
    batchNorm: { before: before.bn, after: countBatchNorms(model) },
    constantsFolded: { total: constants.changed, byOp: constants.counts ?? {}, skipped: constants.skipped },
    switchedToEval: byName['bn-eval']!.changed,
    mergedWithScale: byName['merge-bn-scale']!.changed,
    folded: { total: byName['fold-bn']!.changed, byProducer: byName['fold-bn']!.counts ?? {} },
    notFolded: byName['fold-bn']!.skipped.map((s) => ({ ...s, result: converted.has(s.node) ? 'Mul+Add' : 'kept' })),
    parameterBytes: { before: before.bytes, after: parameterBytes(model) },
    warnings: reports.flatMap((r) => r.warnings),
    passes: reports,
  };
}

interface FoldBnOptions extends InputFlagOptions, VerifyGateOptions {
  output: string;
  allowWeightCopy?: boolean;
  keepBn?: boolean;
  foldMaxElements?: string;
  weights?: string;
  randomWeights?: boolean;
  verify?: boolean;
  seed: string;
  samples: string;
  force?: boolean;
  json?: boolean;
}

export function wholeNumber(text: string, option: string, min: number): number {
  const n = Number(text);
  if (!/^-?\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n < min) {
    throw new BncError(`${option} ${JSON.stringify(text)}: expected a whole number${min > 0 ? ` >= ${min}` : ''}`, { code: 'USAGE' });
  }
  return n;
}

export function registerFoldBn(program: Command): void {
  const cmd = program
    .command('fold-bn')
    .description('fold BatchNormalization into the preceding Conv/ConvTranspose/Gemm/MatMul (bn-eval, fold-constants, merge-bn-scale, fold-bn, bn-to-affine, cleanup) and write ONNX')
    .argument('<model>', 'input model (.onnx, or Caffe .prototxt with its .caffemodel)')
    .requiredOption('-o, --output <file>', 'output .onnx file')
    .option('--allow-weight-copy', 'give a node that shares its weight with another node a private copy, so its BN can fold')
    .option('--keep-bn', 'leave BatchNorms that cannot fold as BatchNormalization (default: rewrite them as Mul + Add)')
    .option('--fold-max-elements <n>', 'fold-constants: largest tensor (elements) a constant fold may produce', String(DEFAULT_FOLD_MAX_ELEMENTS))
    .option('--weights <file>', 'Caffe weights, when not beside the prototxt')
    .option('--random-weights', RANDOM_WEIGHTS_HELP)
    .option('--verify', "run the original and the folded model in bnc's runtime on the same seeded inputs; exit 1 and write nothing if they differ")
    .option('--seed <n>', 'seed of the --verify inputs (sample k uses seed+k)', '0')
    .option('--samples <k>', 'number of --verify input samples', '1');
  addVerifyGateOptions(addInputOptions(cmd, 'with --verify; --input-shape also fixes a Caffe net\'s input shape'), ' (with --verify)')
    .option('-f, --force', 'replace an existing output file')
    .option('--json', 'print one JSON object (see FoldBnResult in src/cli/commands/foldBn.ts)')
    .action((file: string, opts: FoldBnOptions, cmd: Command) => withFile(file, () => {
      const out = new Output({ ...cmd.optsWithGlobals(), json: !!opts.json });
      const io = { force: !!opts.force, inputs: [file, ...(opts.weights ? [opts.weights] : [])] };
      checkOutputPath(opts.output, io);
      const seed = wholeNumber(opts.seed, '--seed', Number.MIN_SAFE_INTEGER);
      const samples = wholeNumber(opts.samples, '--samples', 1);
      const foldMaxElements = wholeNumber(opts.foldMaxElements ?? String(DEFAULT_FOLD_MAX_ELEMENTS), '--fold-max-elements', 0);
      const flags = parseInputFlags(opts);
      const gate = parseVerifyGate(opts);
      // --input-shape fixes a Caffe net's input shape when it is read; the other flags feed --verify only.
      if (!opts.verify && (flags.files.size || flags.ranges.size || flags.images.size)) {
        throw new BncError('--input, --input-range and --image choose the inputs of --verify; add --verify', { code: 'USAGE' });
      }
      const original = openModelShowingProgress(out, file, { ...weightOptions(file, opts), warn: (m) => out.warn(m), inputShapes: inputShapesOption(flags) });
      if (!opts.verify && flags.shapes.size && !file.toLowerCase().endsWith('.prototxt')) {
        out.warn('--input-shape sets the shape of --verify inputs (and of Caffe nets); without --verify it changes nothing in an ONNX model');
      }
      const problemsBefore = checkModel(original);
      // Without --verify the original is not needed again: it is folded itself, weights in place (they are
      // views of the file just read), so the weights never exist twice. --verify keeps it as the reference.
      const model = opts.verify ? cloneModel(original) : original;
      const folded = foldBatchNorms(model, { allowWeightCopy: opts.allowWeightCopy, keepBn: opts.keepBn, foldMaxElements, inPlace: !opts.verify });
      // Never write a model the passes made invalid for its opset or IR version (onnx checker rules).
      assertValidModel(model, opts.output, problemsBefore);
      // --verify checks the very bytes it writes, so it holds them; otherwise the file is written piece by
      // piece (tensor data straight from the model), never whole in memory.
      const bytes = opts.verify ? serializeOnnx(model) : undefined;
      let verify: VerifyReport | null = null;
      if (opts.verify) {
        // bn-eval changes what a training-mode model computes on purpose (batch → stored statistics), so
        // the fold is checked against the original in eval mode. The bytes about to be written are parsed
        // back, so the check covers the file itself.
        const reference = folded.switchedToEval ? cloneModel(original) : original;
        if (folded.switchedToEval) runPasses(reference, ['bn-eval']);
        const progress = progressReporter('verify', out);
        try {
          verify = verifyModels(reference, parseOnnx(bytes!, {}, opts.output), {
            allowNonFinite: gate.allowNonFinite,
            errorStat: gate.errorStat,
            fileA: file,
            fileB: opts.output,
            ...resolveInputs(flags, reference),
            seed,
            samples,
            tolerance: gate.tolerance,
            onProgress: progress.onProgress,
          });
        } finally {
          progress.finish();
        }
      }
      const written = !verify || verify.exitCode === 0;
      if (written) writeFileAtomic(opts.output, () => bytes ?? serializeOnnxChunks(model), io);
      const result: FoldBnResult = { input: file, output: opts.output, ...folded, verify, written };
      if (verify) process.exitCode = verify.exitCode;
      if (out.json) {
        out.result(result);
        return;
      }
      const c = out.color;
      const byProducer = Object.entries(result.folded.byProducer).map(([op, n]) => `${op} ${n}`).join(', ');
      const byOp = Object.entries(result.constantsFolded.byOp).map(([op, n]) => `${op} ${n}`).join(', ');
      if (result.constantsFolded.total) out.line(`${c.bold('Constants folded')}: ${result.constantsFolded.total} node(s) (${byOp})`);
      for (const s of result.constantsFolded.skipped) out.line(`  ${c.yellow('constant not folded')} ${s.node}: ${s.reason}`);
      out.line(`${c.bold('BatchNormalization')}: ${result.batchNorm.before} → ${result.batchNorm.after}`);
      if (result.switchedToEval) out.line(`  switched to stored statistics (bn-eval): ${result.switchedToEval}`);
      if (result.mergedWithScale) out.line(`  merged with their Scale (Mul/Add): ${result.mergedWithScale}`);
      out.line(`  folded: ${result.folded.total}${byProducer ? ` (${byProducer})` : ''}`);
      for (const s of result.notFolded) {
        out.line(`  ${c.yellow('not folded')} ${s.node}: ${s.reason} ${c.dim(s.result === 'Mul+Add' ? '→ Mul + Add' : '→ kept as BatchNormalization')}`);
      }
      for (const w of result.warnings) out.warn(w);
      out.line(`${c.bold('Nodes')}: ${result.nodes.before} → ${result.nodes.after}`);
      out.line(`${c.bold('Parameters')}: ${formatBytes(result.parameterBytes.before)} → ${formatBytes(result.parameterBytes.after)}`);
      if (verify) {
        out.line();
        if (result.switchedToEval) out.line(c.dim('verify compares the folded model with the original in eval mode (stored statistics)'));
        printVerifyReport(out, verify);
      }
      out.line(written ? `wrote ${opts.output}` : `${opts.output} not written (verification failed)`);
    }));
}
