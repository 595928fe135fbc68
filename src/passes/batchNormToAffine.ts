import { GraphIndex, Node, Model, dtypeName, intAttr, onnxOpset } from '../ir/index.js';
import { BatchNormAffine, batchNormAffine, checkBatchNormFolding, isBatchNorm, isInferenceBatchNorm } from './bnFoldability.js';
import { FOLDABLE_FLOAT_TYPES, nodeLabel, resolveConstant, storeValues } from './constants.js';
import { PassOptions, PassReport, commitScopes, emptyReport, passScopes } from './pass.js';

/**
 * bn-to-affine: a BatchNormalization with nothing to fold into becomes a per-channel Mul and Add.
 *
 *   Before:  x → BN(scale, B, mean, var, eps) → y
 *   After:   x → Mul(k) → Add(shift) → y      k = scale / sqrt(var + eps), shift = B - mean * k
 *
 * k and shift are stored shaped for broadcasting along axis 1 of x: [C] for a 2-D x, [C, 1] for 3-D,
 * [C, 1, 1] for 4-D, and so on; in x's element type. The Add takes over the BN's output name. Before
 * opset 7, Mul and Add broadcast only when asked (broadcast=1) and then match B's shape against A's from
 * `axis` on, without size-1 stretching: there k and shift are [C] with broadcast=1, axis=1. With IR version
 * 3 or older the new initializers are listed as graph inputs too, as those versions require.
 *
 * Preconditions:
 *  1. keepBn is not set (then every BN is left alone and listed).
 *  2. The BN uses stored statistics (run bn-eval first) and its scale, B, mean and var are constants.
 *  3. It cannot be folded (bnFoldability.ts); foldable BNs are left for fold-bn.
 *  4. The rank of x is known (declared shapes or a producer chain that fixes it), at least 2 or 1 with C = 1, and its
 *     element type is known and float32, float64 or float16; otherwise the constants' shape or type would
 *     be a guess, and the BN is skipped with the reason.
 * BNs inside subgraphs (If branches, Loop/Scan bodies) are rewritten the same way within their graph.
 */
export function batchNormToAffine(model: Model, options: PassOptions): PassReport {
  const report = emptyReport('bn-to-affine');
  const opset = onnxOpset(model);
  const scopes = passScopes(model, options);
  for (const { facts, index: ix, label: labelOf } of scopes) {
    for (const bn of facts.graph.nodes.filter(isBatchNorm)) {
      const label = labelOf(bn);
      const skip = (reason: string) => report.skipped.push({ node: label, reason });
      if (options.keepBn) {
        skip('kept as BatchNormalization (--keep-bn)');
        continue;
      }
      const mode = isInferenceBatchNorm(ix, bn, opset);
      if (!mode.ok) {
        skip(mode.reason!);
        continue;
      }
      const fold = checkBatchNormFolding(facts, bn, { opset, allowWeightCopy: options.allowWeightCopy });
      if (fold.foldable) {
        skip(`it can be folded into ${fold.producer!.opType} '${nodeLabel(fold.producer!)}'; run fold-bn`);
        continue;
      }
      const affine = batchNormAffine(ix, bn);
      if ('reason' in affine) {
        skip(affine.reason);
        continue;
      }
      const x = bn.inputs[0]!;
      const rank = facts.rank(x) ?? facts.rank(bn.outputs[0]!);
      if (rank === undefined) {
        skip(`the rank of its input '${x}' is unknown (no declared shape), so the per-channel constants cannot be shaped`);
        continue;
      }
      if (rank < 1 || (rank === 1 && affine.channels !== 1)) {
        skip(`its input '${x}' is ${rank}-D, which does not fit its ${affine.channels} channels`);
        continue;
      }
      // Before opset 15 scale has x's type; from 15 on it may differ, so only a known x type is trusted.
      const dtype = facts.elemType(x) ?? (opset < 15 ? resolveConstant(ix, bn.inputs[1]!)?.tensor.dtype : undefined);
      if (dtype === undefined || !FOLDABLE_FLOAT_TYPES.has(dtype)) {
        skip(dtype === undefined ? `the element type of its input '${x}' is unknown` : `its input is ${dtypeName(dtype)}; bn-to-affine writes float32, float64 or float16`);
        continue;
      }
      replaceWithAffine(ix, bn, affine, rank, dtype, opset);
      report.changed++;
      report.changes.push(`${label} → Mul + Add`);
    }
  }
  commitScopes(scopes);
  return report;
}

function replaceWithAffine(ix: GraphIndex, bn: Node, affine: BatchNormAffine, rank: number, dtype: number, opset: number): void {
  const label = nodeLabel(bn);
  const legacyBroadcast = opset < 7;
  // A 1-D x of size N is (N) with C = 1: k and shift are [1] then.
  const dims = legacyBroadcast || rank < 2 ? [affine.channels] : [affine.channels, ...new Array<number>(rank - 2).fill(1)];
  // Legacy broadcasting places the [C] constant at the channel axis: 1, or 0 for a 1-D x.
  const attributes = () => (legacyBroadcast ? [intAttr('broadcast', 1), intAttr('axis', rank < 2 ? 0 : 1)] : []);
  const kName = ix.uniqueName(`${label}_k`);
  ix.addInitializer({ ...storeValues(kName, dtype, dims, affine.k).tensor, name: kName });
  const shiftName = ix.uniqueName(`${label}_shift`);
  ix.addInitializer({ ...storeValues(shiftName, dtype, dims, affine.shift).tensor, name: shiftName });
  const scaled = ix.uniqueName(`${bn.outputs[0]}_scaled`);
  const mul: Node = { name: ix.uniqueName(`${label}_mul`), opType: 'Mul', domain: '', inputs: [bn.inputs[0]!, kName], outputs: [scaled], attributes: attributes() };
  const add: Node = { name: ix.uniqueName(`${label}_add`), opType: 'Add', domain: '', inputs: [scaled, shiftName], outputs: [bn.outputs[0]!], attributes: attributes() };
  ix.replaceNode(bn, [mul, add]);
}
