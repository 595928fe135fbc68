import { Command } from 'commander';
import { RANDOM_WEIGHTS_HELP, openModelShowingProgress, weightOptions } from '../openModel.js';
import { serializeOnnxChunks } from '../../formats/onnx/index.js';
import { assertValidModel, checkModel, validateGraph, withFile } from '../../ir/index.js';
import { checkOutputPath, writeFileAtomic } from '../../io/atomicWrite.js';
import { DEFAULT_FOLD_MAX_ELEMENTS, PASSES, parsePassList, runPasses } from '../../passes/index.js';
import { wholeNumber } from './foldBn.js';
import { Output } from '../output.js';

export function registerOptimize(program: Command): void {
  program
    .command('optimize')
    .description('run a list of graph passes and write the result as ONNX')
    .argument('<model>', 'input model (.onnx, or Caffe .prototxt)')
    .requiredOption('-o, --output <file>', 'output .onnx file')
    .option('--passes <list>', `comma-separated passes to run in order (${Object.keys(PASSES).join(', ')}), or 'none' for a plain round trip`, 'none')
    .option('--allow-weight-copy', 'fold-bn: copy a shared weight for the node whose BN folds')
    .option('--keep-bn', 'bn-to-affine: leave unfoldable BatchNormalization nodes as they are')
    .option('--fold-max-elements <n>', 'fold-constants: largest tensor (elements) a constant fold may produce', String(DEFAULT_FOLD_MAX_ELEMENTS))
    .option('--weights <file>', 'Caffe weights, when not beside the prototxt')
    .option('--random-weights', RANDOM_WEIGHTS_HELP)
    .option('-f, --force', 'replace an existing output file')
    .option('--json', 'print one JSON object')
    .action((file: string, opts: Record<string, string | boolean | undefined>, cmd: Command) => withFile(file, () => {
      const out = new Output({ ...cmd.optsWithGlobals(), json: !!opts.json });
      const output = opts.output as string;
      const passes = parsePassList(String(opts.passes));
      const foldMaxElements = wholeNumber(String(opts.foldMaxElements), '--fold-max-elements', 0);
      checkOutputPath(output, { force: !!opts.force, inputs: [file] });
      const model = openModelShowingProgress(out, file, { ...weightOptions(file, { weights: opts.weights as string | undefined, randomWeights: !!opts.randomWeights }), warn: (m) => out.warn(m) });
      const problemsBefore = checkModel(model);
      const reports = runPasses(model, passes, { allowWeightCopy: !!opts.allowWeightCopy, keepBn: !!opts.keepBn, foldMaxElements });
      validateGraph(model.graph);
      // Never write a model the passes made invalid for its opset or IR version (onnx checker rules).
      assertValidModel(model, output, problemsBefore);
      writeFileAtomic(output, () => serializeOnnxChunks(model), { force: !!opts.force, inputs: [file] });
      if (out.json) {
        out.result({ input: file, output, passes: reports });
        return;
      }
      for (const r of reports) {
        const counts = Object.entries(r.counts ?? {}).map(([k, n]) => `${k} ${n}`).join(', ');
        out.line(`${out.color.bold(r.pass)}: ${r.changed} change(s)${counts ? ` (${counts})` : ''}`);
        for (const c of r.changes) out.line(`  ${c}`);
        for (const s of r.skipped) out.line(`  ${out.color.yellow('skipped')} ${s.node}: ${s.reason}`);
        for (const w of r.warnings) out.warn(w);
      }
      out.line(`wrote ${output}${passes.length ? '' : ' (round trip, no passes)'}`);
    }));
}
