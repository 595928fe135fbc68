import { BncError, Model, Node, getAttribute, intAttr, onnxOpset, removeAttribute, setAttribute } from '../ir/index.js';
import { isBatchNorm } from './bnFoldability.js';
import { nodeLabel } from './constants.js';
import { PassOptions, PassReport, emptyReport, passScopes } from './pass.js';

/**
 * bn-eval: make every BatchNormalization compute with its stored (running) statistics, as in inference.
 *
 *   Before:  BN(x, scale, B, mean, var) → y, running_mean, running_var[, saved_mean, saved_var]
 *            (training_mode=1 at opset 14+, or is_test=0 at opset <= 6)
 *   After:   BN(x, scale, B, mean, var) → y        (training_mode=0 / is_test=1)
 *
 * How ONNX says "training" depends on the opset: opset <= 6 by is_test (default 0 = training); opset 7-13
 * by the presence of the optional outputs (onnxruntime computes batch statistics when they exist); opset
 * 14+ by training_mode. consumed_inputs (opset <= 5) and spatial are left as they are: the first is required
 * there and only mattered for training, the second does not change with the mode.
 *
 * Preconditions:
 *  1. No optional output (running mean/var, saved mean/var) is read by anything. Otherwise the pass stops
 *     with an error naming the BN and the output: those readers need training-mode values that an
 *     inference BN does not produce.
 * The report lists each BN whose computation changed (batch statistics → stored statistics).
 * BNs inside subgraphs (If branches, Loop/Scan bodies, at any depth) are switched too; a read of an optional
 * output from a nested subgraph counts as a reader.
 */
export function batchNormEval(model: Model, options: PassOptions): PassReport {
  const report = emptyReport('bn-eval');
  const opset = onnxOpset(model);
  const scopes = passScopes(model, options).map(({ index, label }) => ({ index, label, bns: index.graph.nodes.filter(isBatchNorm) }));

  // Check every BN before changing any, so an error leaves the model untouched.
  for (const { index: ix, label, bns } of scopes) {
    for (const bn of bns) {
      for (let i = 1; i < bn.outputs.length; i++) {
        const out = bn.outputs[i]!;
        if (!out) continue;
        const readers = ix.consumers(out).map((n) => `${n.opType} '${nodeLabel(n)}'`);
        if (ix.isGraphOutput(out)) readers.push('a graph output');
        if (ix.readBySubgraph(out)) readers.push('a node inside a subgraph');
        if (readers.length) {
          throw new BncError(
            `BatchNormalization '${label(bn)}': its output '${out}' (${OPTIONAL_OUTPUTS[i - 1]}) is read by ${readers.join(', ')}; ` +
              `an inference BN does not produce it. Remove that reader, or do not run bn-eval/fold-bn on this model`,
            { code: 'BN_STATS_READ' },
          );
        }
      }
    }
  }

  for (const { label, bns } of scopes) {
    for (const bn of bns) {
      const what = switchToInference(bn, opset);
      if (what.length) {
        report.changed++;
        report.changes.push(`${label(bn)}: ${what.join('; ')} → uses stored statistics`);
      }
    }
  }
  return report;
}

const OPTIONAL_OUTPUTS = ['running mean', 'running variance', 'saved mean', 'saved inverse std'];

/** Returns what made the BN train (empty when it already used stored statistics). */
function switchToInference(bn: Node, opset: number): string[] {
  const changed: string[] = [];
  const isTest = getAttribute(bn, 'is_test');
  if (isTest ? !isTest.i : opset <= 6) {
    setAttribute(bn, intAttr('is_test', 1));
    changed.push(isTest ? 'is_test 0 → 1' : 'is_test (default 0) → 1');
  }
  const training = getAttribute(bn, 'training_mode');
  if (training && training.i) {
    setAttribute(bn, intAttr('training_mode', 0));
    changed.push('training_mode 1 → 0');
  } else if (training && opset < 14) {
    // Not part of the op before opset 14; an exporter slip. Harmless to drop.
    removeAttribute(bn, 'training_mode');
  }
  const extras = bn.outputs.slice(1).filter((o) => o !== '');
  if (extras.length) {
    bn.outputs = [bn.outputs[0]!];
    // At opset 7-13 these outputs alone select training mode; elsewhere they come with it (or are invalid).
    changed.push(`dropped ${extras.length} unused statistics output(s)`);
  }
  return changed;
}
