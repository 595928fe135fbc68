import { Command } from 'commander';
import { RANDOM_WEIGHTS_HELP, openModelShowingProgress, weightOptions } from '../openModel.js';
import { withFile } from '../../ir/index.js';
import { summarizeModel, ValueSummary } from '../../inspect/summary.js';
import { Output, formatBytes, table } from '../output.js';

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('show inputs, outputs, opsets, op histogram, parameters and BatchNorm foldability of a model')
    .argument('<model>', 'model file (.onnx, or .prototxt with its .caffemodel beside it)')
    .option('--weights <file>', 'Caffe weights, when not beside the prototxt')
    .option('--random-weights', RANDOM_WEIGHTS_HELP)
    .option('--json', 'print one JSON object')
    .action((file: string, opts: { weights?: string; randomWeights?: boolean; json?: boolean }, cmd: Command) => withFile(file, () => {
      const out = new Output({ ...cmd.optsWithGlobals(), json: opts.json });
      const model = openModelShowingProgress(out, file, { ...weightOptions(file, opts), warn: (m) => out.warn(m) });
      const s = summarizeModel(model);
      if (out.json) {
        out.result({ file, ...s });
        return;
      }
      const c = out.color;
      const shape = (v: ValueSummary) => (v.shape ? `[${v.shape.map((d) => d ?? '?').join(', ')}]` : '(unknown rank)');
      out.line(c.bold(file));
      out.line(`  IR version ${s.irVersion}, opsets ${s.opsets.map((o) => `${o.domain} ${o.version}`).join(', ')}${s.producer ? `, produced by ${s.producer}` : ''}`);
      out.line(c.bold('Inputs'));
      out.line(table(s.inputs.map((v) => [v.name, v.dtype, shape(v)])));
      out.line(c.bold('Outputs'));
      out.line(table(s.outputs.map((v) => [v.name, v.dtype, shape(v)])));
      const inSubgraphs = s.subgraphs.count ? ` (${s.subgraphs.nodeCount} in ${s.subgraphs.count} subgraph${s.subgraphs.count === 1 ? '' : 's'})` : '';
      out.line(c.bold(`Nodes: ${s.nodeCount}`) + inSubgraphs);
      out.line(table(Object.entries(s.opHistogram).map(([op, n]) => [op, String(n)])));
      out.line(
        c.bold('Parameters: ') +
          `${s.parameterCount.toLocaleString('en-US')} in ${s.initializerCount} initializers, ${formatBytes(s.parameterBytes)}` +
          (s.constants.count
            ? `; ${s.constants.parameterCount.toLocaleString('en-US')} in ${s.constants.count} Constant nodes, ${formatBytes(s.constants.parameterBytes)}`
            : ''),
      );
      out.line(c.bold('BatchNormalization: ') + `${s.batchNorm.count}, ${s.batchNorm.foldable} directly foldable`);
      for (const nf of s.batchNorm.notFoldable) out.line(`  ${c.yellow(nf.node)}: not foldable: ${nf.reason}`);
    }));
}
