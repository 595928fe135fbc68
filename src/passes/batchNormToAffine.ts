import { Graph, Node, Model, Scope, allScopes, dtypeName, onnxOpset, scopeGraphs, scopeLabel, uniqueName } from '../ir/index.js';
import { BatchNormAffine, batchNormAffine, checkBatchNormFolding, isBatchNorm, isInferenceBatchNorm } from './bnFoldability.js';
import { FOLDABLE_FLOAT_TYPES, nodeLabel, resolveConstant, storeValues } from './constants.js';
import { PassOptions, PassReport, emptyReport } from './pass.js';
import { knownElemType, knownRank } from './shapeFacts.js';
import { scopeView } from './scopeView.js';

/**
 * bn-to-affine: a BatchNormalization with nothing to fold into becomes a per-channel Mul and Add.
 *
 *   Before:  x → BN(scale, B, mean, var, eps) → y
 *   After:   x → Mul(k) → Add(shift) → y      k = scale / sqrt(var + eps), shift = B - mean * k
 *
 * k and shift are stored shaped for broadcasting along axis 1 of x: [C] for a 2-D x, [C, 1] for 3-D,
 * [C, 1, 1] for 4-D, and so on; in x's element type. The Add takes over the BN's output name.
 *
 * Preconditions:
 *  1. keepBn is not set (then every BN is left alone and listed).
 *  2. The BN uses stored statistics (run bn-eval first) and its scale, B, mean and var are constants.
 *  3. It cannot be folded (bnFoldability.ts); foldable BNs are left for fold-bn.
 *  4. The rank of x is known (declared shapes or a producer chain that fixes it) and at least 2, and its
 *     element type is known and float32, float64 or float16; otherwise the constants' shape or type would
 *     be a guess, and the BN is skipped with the reason.
 * BNs inside subgraphs (If branches, Loop/Scan bodies) are rewritten the same way within their graph.
 */
export function batchNormToAffine(model: Model, options: PassOptions): PassReport {
  const report = emptyReport('bn-to-affine');
  const opset = onnxOpset(model);
  const bnsByScope = allScopes(model.graph).flatMap((s) => s.graph.nodes.filter(isBatchNorm).map((bn) => ({ ...s, where: scopeLabel(s), bn })));
  for (const { graph, outer, where, bn } of bnsByScope) {
    const label = where ? `${nodeLabel(bn)} (in ${where})` : nodeLabel(bn);
    const skip = (reason: string) => report.skipped.push({ node: label, reason });
    if (options.keepBn) {
      skip('kept as BatchNormalization (--keep-bn)');
      continue;
    }
    const mode = isInferenceBatchNorm(graph, bn, opset);
    if (!mode.ok) {
      skip(mode.reason!);
      continue;
    }
    const fold = checkBatchNormFolding(graph, bn, { opset, allowWeightCopy: options.allowWeightCopy, outer });
    if (fold.foldable) {
      skip(`it can be folded into ${fold.producer!.opType} '${nodeLabel(fold.producer!)}'; run fold-bn`);
      continue;
    }
    const affine = batchNormAffine(graph, bn, outer);
    if ('reason' in affine) {
      skip(affine.reason);
      continue;
    }
    const x = bn.inputs[0]!;
    const view = scopeView(graph, outer);
    const rank = knownRank(view, x) ?? knownRank(view, bn.outputs[0]!);
    if (rank === undefined) {
      skip(`the rank of its input '${x}' is unknown (no declared shape), so the per-channel constants cannot be shaped`);
      continue;
    }
    if (rank < 2) {
      skip(`its input '${x}' is ${rank}-D; BatchNormalization needs at least 2 axes`);
      continue;
    }
    // Before opset 15 scale has x's type; from 15 on it may differ, so only a known x type is trusted.
    const dtype = knownElemType(view, x) ?? (opset < 15 ? resolveConstant(graph, bn.inputs[1]!, outer)?.tensor.dtype : undefined);
    if (dtype === undefined || !FOLDABLE_FLOAT_TYPES.has(dtype)) {
      skip(dtype === undefined ? `the element type of its input '${x}' is unknown` : `its input is ${dtypeName(dtype)}; bn-to-affine writes float32, float64 or float16`);
      continue;
    }
    replaceWithAffine(graph, outer, bn, affine, rank, dtype);
    report.changed++;
    report.changes.push(`${label} → Mul + Add`);
  }
  return report;
}

function replaceWithAffine(graph: Graph, outer: Scope | undefined, bn: Node, affine: BatchNormAffine, rank: number, dtype: number): void {
  const label = nodeLabel(bn);
  const around = scopeGraphs(outer);
  const dims = [affine.channels, ...new Array<number>(rank - 2).fill(1)];
  const kName = uniqueName(graph, `${label}_k`, around);
  graph.initializers.push({ ...storeValues(kName, dtype, dims, affine.k).tensor, name: kName });
  const shiftName = uniqueName(graph, `${label}_shift`, around);
  graph.initializers.push({ ...storeValues(shiftName, dtype, dims, affine.shift).tensor, name: shiftName });
  const scaled = uniqueName(graph, `${bn.outputs[0]}_scaled`, around);
  const mul: Node = { name: uniqueName(graph, `${label}_mul`, around), opType: 'Mul', domain: '', inputs: [bn.inputs[0]!, kName], outputs: [scaled], attributes: [] };
  const add: Node = { name: uniqueName(graph, `${label}_add`, around), opType: 'Add', domain: '', inputs: [scaled, shiftName], outputs: [bn.outputs[0]!], attributes: [] };
  graph.nodes.splice(graph.nodes.indexOf(bn), 1, mul, add);
}
