import { Model, Node, getAttribute, onnxOpset } from '../ir/index.js';
import { isBatchNorm } from './bnFoldability.js';
import { FOLDABLE_FLOAT_TYPES, constantValues, nodeLabel, replaceConstantInput, resolveConstant, storeValues } from './constants.js';
import { PassOptions, PassReport, commitScopes, emptyReport, passScopes } from './pass.js';
import { GraphFacts } from './shapeFacts.js';

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
 *  4. Before opset 7, with `broadcast`=1 the constant is the second input and is aligned at `axis` (default:
 *     trailing axes), as the opset-1..6 Mul/Add define it: a [C] constant with axis=1 is per-channel (how
 *     Caffe2 exported Scale).
 * BNs inside subgraphs (If branches, Loop/Scan bodies) merge the same way within their graph; a Mul/Add
 * constant may come from an enclosing graph, and a read from a nested subgraph counts as a reader.
 */
export function mergeBatchNormScale(model: Model, options: PassOptions): PassReport {
  const report = emptyReport('merge-bn-scale');
  const opset = onnxOpset(model);
  const scopes = passScopes(model, options);
  for (const { facts, label } of scopes) {
    for (const bn of facts.graph.nodes.filter(isBatchNorm)) {
      const merged: string[] = [];
      for (;;) {
        const step = mergeNext(facts, bn, opset);
        if (step.merged) merged.push(step.merged);
        else {
          if (step.skip) report.skipped.push({ node: label(bn), reason: step.skip });
          break;
        }
      }
      if (merged.length) {
        report.changed++;
        report.changes.push(`${label(bn)} merged with ${merged.join(' and ')}`);
      }
    }
  }
  commitScopes(scopes);
  return report;
}

const isOnnxDomain = (n: Node) => n.domain === '' || n.domain === 'ai.onnx';

/** Merge the Mul/Add reading the BN's output, if legal. `skip` explains a candidate that could not merge. */
function mergeNext(facts: GraphFacts, bn: Node, opset: number): { merged?: string; skip?: string } {
  const ix = facts.index;
  const y = bn.outputs[0] ?? '';
  const consumers = ix.consumers(y);
  const candidate = consumers.find((n) => (n.opType === 'Mul' || n.opType === 'Add') && isOnnxDomain(n));
  if (!candidate) return {};
  const what = `${candidate.opType} '${nodeLabel(candidate)}'`;
  if (candidate.inputs.length !== 2 || candidate.inputs[0] === candidate.inputs[1]) return {};
  const other = candidate.inputs[0] === y ? candidate.inputs[1]! : candidate.inputs[0]!;
  const source = resolveConstant(ix, other);
  const values = constantValues(ix, other);
  // A Mul/Add with a computed operand (a residual sum, a squeeze-excitation scale) is not a Scale layer.
  if (!source || !values) return {};
  if (ix.isGraphOutput(y)) return { skip: `its output '${y}' is a graph output, so ${what} cannot be merged into it` };
  if (ix.useCount(y) !== 1) return { skip: `its output '${y}' is also read by other nodes besides ${what}` };

  const scaleIn = resolveConstant(ix, bn.inputs[1] ?? '');
  const biasIn = resolveConstant(ix, bn.inputs[2] ?? '');
  if (!scaleIn || !biasIn) return { skip: `its scale or B is not a constant` };
  if (!FOLDABLE_FLOAT_TYPES.has(scaleIn.tensor.dtype) || !FOLDABLE_FLOAT_TYPES.has(biasIn.tensor.dtype)) {
    return { skip: `its scale or B is not float32, float64 or float16` };
  }
  const scale = constantValues(ix, bn.inputs[1]!)!;
  const bias = constantValues(ix, bn.inputs[2]!)!;
  const channels = scale.length;
  if (bias.length !== channels) return { skip: `its scale and B have different lengths` };
  const rank = facts.rank(bn.inputs[0] ?? '') ?? facts.rank(y) ?? facts.rank(candidate.outputs[0] ?? '');
  // Opset < 7 with broadcast=1: B (only B) is broadcast, placed at `axis` (default: its trailing axes).
  let axis: number | undefined;
  if (opset < 7 && getAttribute(candidate, 'broadcast')?.i) {
    if (candidate.inputs[0] !== y) return { skip: `${what}: with opset-${opset} broadcast=1 only the second input broadcasts, and the constant is the first` };
    const a = getAttribute(candidate, 'axis')?.i;
    if (a !== undefined && rank !== undefined) axis = a < 0 ? a + rank : a;
  }
  const perChannel = perChannelValues(source.tensor.dims, values, rank, channels, axis);
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
    // Stored in the parameters' own shape ([C], or C×D1×... for opset-6-to-8 spatial=0 statistics).
    const s = storeValues('', scaleIn.tensor.dtype, scaleIn.tensor.dims, scale);
    replaceConstantInput(ix, bn, 1, s.tensor, `${bnName}_scale_merged`);
  }
  const b = storeValues('', biasIn.tensor.dtype, biasIn.tensor.dims, bias);
  replaceConstantInput(ix, bn, 2, b.tensor, `${bnName}_B_merged`);

  // The BN now produces the merged node's output under its name.
  ix.removeNode(candidate);
  ix.setOutput(bn, 0, candidate.outputs[0]!);
  ix.dropValueInfo(y);
  return { merged: what };
}

/**
 * The constant's value for each of the C channels, when it broadcasts against a rank-`rank` input along
 * axis 1 only; otherwise a reason. Numpy broadcasting aligns trailing axes: a [C] constant on a 4-D input
 * would scale the last (width) axis, not the channels. `axis` (opset < 7) places the constant's first axis.
 */
function perChannelValues(dims: number[], values: Float64Array, rank: number | undefined, channels: number, axis?: number): Float64Array | string {
  const out = new Float64Array(channels);
  if (values.length === 1 && dims.length <= 1) return out.fill(values[0]!);
  if (rank === undefined) return `the rank of the BN's input is unknown, so it cannot be told which axis the [${dims.join(', ')}] constant applies to`;
  if (dims.length > rank) return `the constant has rank ${dims.length}, more than the ${rank}-D input (it would change the output shape)`;
  const offset = axis ?? rank - dims.length;
  if (offset < 0 || offset + dims.length > rank) return `the constant of shape [${dims.join(', ')}] does not fit a ${rank}-D input at axis ${offset}`;
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
