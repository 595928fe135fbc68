import { Graph, Model, Node, Scope, allScopes, consumersOf, isGraphOutput, removeNode, scopeLabel, useCount } from '../ir/index.js';
import { isBatchNorm } from './bnFoldability.js';
import { FOLDABLE_FLOAT_TYPES, constantValues, nodeLabel, replaceConstantInput, resolveConstant, storeValues } from './constants.js';
import { PassOptions, PassReport, emptyReport } from './pass.js';
import { knownRank } from './shapeFacts.js';
import { scopeView } from './scopeView.js';

/**
 * merge-bn-scale: merge a per-channel Mul and/or Add that follows a BatchNormalization into the BN itself.
 * This is how Caffe's BatchNorm + Scale pair arrives from the Caffe reader (BN with scale=1, B=0, then
 * Mul by gamma and Add of beta), and it is also valid for any such pair in ONNX models.
 *
 *   Before:  x → BN(scale, B, mean, var) → t → Mul(gamma) → u → Add(beta) → y
 *   After:   x → BN(scale * gamma, B * gamma + beta, mean, var) → y
 *
 * (BN → Mul, BN → Add and repeated Mul/Add chains merge the same way, one node at a time.) Pairs are found
 * through the value (producer → consumer), never by node order. The merged BN takes over the last merged
 * node's output name, so names downstream keep matching.
 *
 * Preconditions for each Mul/Add merged:
 *  1. The BN's output (at that point) feeds only this Mul/Add and is not a graph output.
 *  2. The other operand is a numeric constant that only varies along axis 1 of the BN's input, with C or
 *     1 entries there: shapes like [C,1,1] for a 4-D input, [C,1] for 3-D, [C] for 2-D, [1,C,1,1], or a
 *     scalar. Its rank must not exceed the BN input's (that would change the output shape); when that rank
 *     cannot be told, only scalars and 1-element constants of rank <= 1 merge.
 *  3. The BN's scale and B are constants of a float type (written back in that type).
 * BNs inside subgraphs (If branches, Loop/Scan bodies) merge the same way within their graph; a Mul/Add
 * constant may come from an enclosing graph, and a read from a nested subgraph counts as a reader.
 */
export function mergeBatchNormScale(model: Model, _options: PassOptions): PassReport {
  const report = emptyReport('merge-bn-scale');
  for (const scope of allScopes(model.graph)) {
    const { graph, outer } = scope;
    const where = scopeLabel(scope);
    for (const bn of graph.nodes.filter(isBatchNorm)) {
      const label = where ? `${nodeLabel(bn)} (in ${where})` : nodeLabel(bn);
      const merged: string[] = [];
      for (;;) {
        const step = mergeNext(graph, outer, bn);
        if (step.merged) merged.push(step.merged);
        else {
          if (step.skip) report.skipped.push({ node: label, reason: step.skip });
          break;
        }
      }
      if (merged.length) {
        report.changed++;
        report.changes.push(`${label} merged with ${merged.join(' and ')}`);
      }
    }
  }
  return report;
}

const isOnnxDomain = (n: Node) => n.domain === '' || n.domain === 'ai.onnx';

/** Merge the Mul/Add reading the BN's output, if legal. `skip` explains a candidate that could not merge. */
function mergeNext(graph: Graph, outer: Scope | undefined, bn: Node): { merged?: string; skip?: string } {
  const y = bn.outputs[0] ?? '';
  const consumers = consumersOf(graph, y);
  const candidate = consumers.find((n) => (n.opType === 'Mul' || n.opType === 'Add') && isOnnxDomain(n));
  if (!candidate) return {};
  const what = `${candidate.opType} '${nodeLabel(candidate)}'`;
  if (candidate.inputs.length !== 2 || candidate.inputs[0] === candidate.inputs[1]) return {};
  const other = candidate.inputs[0] === y ? candidate.inputs[1]! : candidate.inputs[0]!;
  const source = resolveConstant(graph, other, outer);
  const values = constantValues(graph, other, outer);
  // A Mul/Add with a computed operand (a residual sum, a squeeze-excitation scale) is not a Scale layer.
  if (!source || !values) return {};
  if (isGraphOutput(graph, y)) return { skip: `its output '${y}' is a graph output, so ${what} cannot be merged into it` };
  if (useCount(graph, y) !== 1) return { skip: `its output '${y}' is also read by other nodes besides ${what}` };

  const scaleIn = resolveConstant(graph, bn.inputs[1] ?? '', outer);
  const biasIn = resolveConstant(graph, bn.inputs[2] ?? '', outer);
  if (!scaleIn || !biasIn) return { skip: `its scale or B is not a constant` };
  if (!FOLDABLE_FLOAT_TYPES.has(scaleIn.tensor.dtype) || !FOLDABLE_FLOAT_TYPES.has(biasIn.tensor.dtype)) {
    return { skip: `its scale or B is not float32, float64 or float16` };
  }
  const scale = constantValues(graph, bn.inputs[1]!, outer)!;
  const bias = constantValues(graph, bn.inputs[2]!, outer)!;
  const channels = scale.length;
  if (bias.length !== channels) return { skip: `its scale and B have different lengths` };
  const view = scopeView(graph, outer);
  const rank = knownRank(view, bn.inputs[0] ?? '') ?? knownRank(view, y) ?? knownRank(view, candidate.outputs[0] ?? '');
  const perChannel = perChannelValues(source.tensor.dims, values, rank, channels);
  if (typeof perChannel === 'string') return { skip: `${what}: ${perChannel}` };

  if (candidate.opType === 'Mul') {
    for (let c = 0; c < channels; c++) {
      scale[c]! *= perChannel[c]!;
      bias[c]! *= perChannel[c]!;
    }
  } else {
    for (let c = 0; c < channels; c++) bias[c]! += perChannel[c]!;
  }
  const bnName = nodeLabel(bn);
  if (candidate.opType === 'Mul') {
    const s = storeValues('', scaleIn.tensor.dtype, [channels], scale);
    replaceConstantInput(graph, bn, 1, s.tensor, `${bnName}_scale_merged`, outer);
  }
  const b = storeValues('', biasIn.tensor.dtype, [channels], bias);
  replaceConstantInput(graph, bn, 2, b.tensor, `${bnName}_B_merged`, outer);

  // The BN now produces the merged node's output under its name.
  bn.outputs[0] = candidate.outputs[0]!;
  removeNode(graph, candidate);
  graph.valueInfo = graph.valueInfo.filter((v) => v.name !== y);
  return { merged: what };
}

/**
 * The constant's value for each of the C channels, when it broadcasts against a rank-`rank` input along
 * axis 1 only; otherwise a reason. Numpy broadcasting aligns trailing axes: a [C] constant on a 4-D input
 * would scale the last (width) axis, not the channels.
 */
function perChannelValues(dims: number[], values: Float64Array, rank: number | undefined, channels: number): Float64Array | string {
  const out = new Float64Array(channels);
  if (values.length === 1 && dims.length <= 1) return out.fill(values[0]!);
  if (rank === undefined) return `the rank of the BN's input is unknown, so it cannot be told which axis the [${dims.join(', ')}] constant applies to`;
  if (dims.length > rank) return `the constant has rank ${dims.length}, more than the ${rank}-D input (it would change the output shape)`;
  const offset = rank - dims.length;
  for (let i = 0; i < dims.length; i++) {
    const axis = offset + i;
    if (axis === 1 ? dims[i] !== channels && dims[i] !== 1 : dims[i] !== 1) {
      return `the constant of shape [${dims.join(', ')}] on a ${rank}-D input is not per-channel (${channels} values along axis 1)`;
    }
  }
  if (values.length === 1) return out.fill(values[0]!);
  out.set(values);
  return out;
}
