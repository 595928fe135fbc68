import { Command } from 'commander';
import { openModel } from '../../formats/index.js';
import { serializeOnnx } from '../../formats/onnx/index.js';
import { Model, tensorByteSize, validateGraph } from '../../ir/index.js';
import { checkOutputPath, writeFileAtomic } from '../../io/atomicWrite.js';
import { FOLD_BN_PIPELINE, PassReport, runPasses } from '../../passes/index.js';
import { isBatchNorm } from '../../passes/bnFoldability.js';
import { Output, formatBytes } from '../output.js';

/**
 * The --json object of `bnc fold-bn` (one object on stdout):
 *   input, output            file names
 *   batchNorm                { before, after }: BatchNormalization node counts
 *   switchedToEval           BNs bn-eval changed from batch to stored statistics
 *   mergedWithScale          BNs merge-bn-scale merged with a following Mul/Add
 *   folded                   { total, byProducer: { Conv: n, ... } }
 *   notFolded                [{ node, reason, result: 'Mul+Add' | 'kept' }]
 *   parameterBytes           { before, after }: initializer payload bytes
 *   warnings                 strings (float16 rounding, ...)
 *   passes                   the full PassReport of every pass, in order
 */
export interface FoldBnResult {
  input: string;
  output: string;
  batchNorm: { before: number; after: number };
  switchedToEval: number;
  mergedWithScale: number;
  folded: { total: number; byProducer: Record<string, number> };
  notFolded: { node: string; reason: string; result: 'Mul+Add' | 'kept' }[];
  parameterBytes: { before: number; after: number };
  warnings: string[];
  passes: PassReport[];
}

const countBatchNorms = (m: Model) => m.graph.nodes.filter(isBatchNorm).length;
const parameterBytes = (m: Model) => m.graph.initializers.reduce((s, t) => s + tensorByteSize(t), 0);

/** Run the fold-bn pipeline on a model in memory and summarise it (no I/O). */
export function foldBatchNorms(model: Model, options: { allowWeightCopy?: boolean; keepBn?: boolean }): Omit<FoldBnResult, 'input' | 'output'> {
  const before = { bn: countBatchNorms(model), bytes: parameterBytes(model) };
  const reports = runPasses(model, FOLD_BN_PIPELINE, options);
  validateGraph(model.graph);
  const byName = Object.fromEntries(reports.map((r) => [r.pass, r])) as Record<string, PassReport>;
  const affine = byName['bn-to-affine']!;
  const converted = new Set(affine.changes.map((c) => c.replace(/ → Mul \+ Add$/, '')));
  return {
    batchNorm: { before: before.bn, after: countBatchNorms(model) },
    switchedToEval: byName['bn-eval']!.changed,
    mergedWithScale: byName['merge-bn-scale']!.changed,
    folded: { total: byName['fold-bn']!.changed, byProducer: byName['fold-bn']!.counts ?? {} },
    notFolded: byName['fold-bn']!.skipped.map((s) => ({ ...s, result: converted.has(s.node) ? 'Mul+Add' : 'kept' })),
    parameterBytes: { before: before.bytes, after: parameterBytes(model) },
    warnings: reports.flatMap((r) => r.warnings),
    passes: reports,
  };
}

export function registerFoldBn(program: Command): void {
  program
    .command('fold-bn')
    .description('fold BatchNormalization into the preceding Conv/ConvTranspose/Gemm/MatMul (bn-eval, merge-bn-scale, fold-bn, bn-to-affine, cleanup) and write ONNX')
    .argument('<model>', 'input model (.onnx, or Caffe .prototxt with its .caffemodel)')
    .requiredOption('-o, --output <file>', 'output .onnx file')
    .option('--allow-weight-copy', 'give a node that shares its weight with another node a private copy, so its BN can fold')
    .option('--keep-bn', 'leave BatchNorms that cannot fold as BatchNormalization (default: rewrite them as Mul + Add)')
    .option('--weights <file>', 'Caffe weights, when not beside the prototxt')
    .option('-f, --force', 'replace an existing output file')
    .option('--json', 'print one JSON object (see FoldBnResult in src/cli/commands/foldBn.ts)')
    .action((file: string, opts: { output: string; allowWeightCopy?: boolean; keepBn?: boolean; weights?: string; force?: boolean; json?: boolean }, cmd: Command) => {
      const out = new Output({ ...cmd.optsWithGlobals(), json: !!opts.json });
      const io = { force: !!opts.force, inputs: [file, ...(opts.weights ? [opts.weights] : [])] };
      checkOutputPath(opts.output, io);
      const model = openModel(file, { weights: opts.weights, warn: (m) => out.warn(m) });
      const result: FoldBnResult = { input: file, output: opts.output, ...foldBatchNorms(model, opts) };
      writeFileAtomic(opts.output, () => serializeOnnx(model), io);
      if (out.json) {
        out.result(result);
        return;
      }
      const c = out.color;
      const byProducer = Object.entries(result.folded.byProducer).map(([op, n]) => `${op} ${n}`).join(', ');
      out.line(`${c.bold('BatchNormalization')}: ${result.batchNorm.before} → ${result.batchNorm.after}`);
      if (result.switchedToEval) out.line(`  switched to stored statistics (bn-eval): ${result.switchedToEval}`);
      if (result.mergedWithScale) out.line(`  merged with their Scale (Mul/Add): ${result.mergedWithScale}`);
      out.line(`  folded: ${result.folded.total}${byProducer ? ` (${byProducer})` : ''}`);
      for (const s of result.notFolded) {
        out.line(`  ${c.yellow('not folded')} ${s.node}: ${s.reason} ${c.dim(s.result === 'Mul+Add' ? '→ Mul + Add' : '→ kept as BatchNormalization')}`);
      }
      for (const w of result.warnings) out.warn(w);
      out.line(`${c.bold('Parameters')}: ${formatBytes(result.parameterBytes.before)} → ${formatBytes(result.parameterBytes.after)}`);
      out.line(`wrote ${opts.output}`);
    });
}
