import { AttributeType, GraphIndex, Model, Node, dtypeName, getAttribute, onnxOpset, setAttribute, tensorToFloat64 } from '../ir/index.js';
import { BatchNormAffine, batchNormAffine, checkBatchNormFolding, isBatchNorm } from './bnFoldability.js';
import { nodeLabel, replaceConstantInput, resolveConstant, storeValues } from './constants.js';
import { PassOptions, PassReport, commitScopes, emptyReport, passScopes } from './pass.js';

/**
 * fold-bn: fold an inference BatchNormalization into the Conv / ConvTranspose / Gemm / MatMul before it.
 *
 *   Before:  x → Conv(W, b) → t → BatchNormalization(scale, B, mean, var, eps) → y
 *   After:   x → Conv(W', b') → y          (MatMul(x, W) becomes Gemm(x, W', b'))
 *
 * With k = scale / sqrt(var + eps) per output channel: W' = W scaled by k along the output-channel axis,
 * b' = (b - mean) * k + B (a missing bias becomes one). Computed in float64, stored in the weight's type
 * (float16 rounding is reported). The producer takes over the BN's output name.
 *
 * Preconditions: exactly those of bnFoldability.ts (checked again for each BN right before it folds):
 *  1. the BN is in inference mode with no optional outputs;   4. W, b and the BN parameters are constants;
 *  2. it reads the first output of a fold target;             5. the parameter shapes give C channels;
 *  3. that output has no other reader and is not a graph output;
 *  6. W and b are not shared with another node — with allowWeightCopy this node gets private copies.
 * BNs inside subgraphs (If branches, Loop/Scan bodies, at any depth) fold the same way within their graph;
 * they are reported as "bn (in then_branch of If 'check')".
 */
export function foldBatchNormIntoConv(model: Model, options: PassOptions): PassReport {
  const report = emptyReport('fold-bn');
  const opset = onnxOpset(model);
  const counts: Record<string, number> = {};
  const scopes = passScopes(model, options);
  for (const { facts, index: ix, label } of scopes) {
    for (const bn of facts.graph.nodes.filter(isBatchNorm)) {
      const c = checkBatchNormFolding(facts, bn, { opset, allowWeightCopy: options.allowWeightCopy });
      if (!c.foldable || !c.producer) {
        report.skipped.push({ node: label(bn), reason: c.reason ?? 'not foldable' });
        continue;
      }
      const producer = c.producer;
      const producerType = producer.opType;
      const affine = batchNormAffine(ix, bn) as BatchNormAffine;
      const rounding = foldInto(ix, producer, affine, opset, !!options.inPlace);
      // The folded producer now computes the BN's output under its name.
      const oldOutput = producer.outputs[0]!;
      ix.removeNode(bn);
      ix.setOutput(producer, 0, bn.outputs[0]!);
      ix.dropValueInfo(oldOutput);
      counts[producerType] = (counts[producerType] ?? 0) + 1;
      report.changed++;
      report.changes.push(
        `${label(bn)} folded into ${producerType} '${nodeLabel(producer)}'` +
          (producerType !== producer.opType ? ` (now ${producer.opType})` : '') +
          (c.sharedWeight ? ' (weight copied: it was shared)' : ''),
      );
      for (const r of rounding) {
        report.warnings.push(
          `${producer.opType} '${label(producer)}': folded ${r.what} stored as ${dtypeName(r.dtype)}, max rounding error ${r.maxError.toExponential(2)} (${(r.maxError / (r.maxAbs || 1)).toExponential(2)} of the largest value)`,
        );
      }
    }
  }
  report.counts = counts;
  commitScopes(scopes);
  return report;
}

interface Rounding {
  what: string;
  dtype: number;
  maxError: number;
  maxAbs: number;
}

/** Rewrite the producer's weight and bias; returns the float16 rounding it caused, if any. */
function foldInto(ix: GraphIndex, producer: Node, affine: BatchNormAffine, opset: number, inPlace: boolean): Rounding[] {
  const weightSource = resolveConstant(ix, producer.inputs[1]!)!;
  const W = weightSource.tensor;
  const w = tensorToFloat64(W);
  const { k, shift, channels } = affine;
  let foldedBias: { values: Float64Array; dims: number[]; dtype: number };
  const biasInput = producer.opType === 'MatMul' ? '' : producer.inputs[2] ?? '';
  const biasTensor = biasInput ? resolveConstant(ix, biasInput)!.tensor : undefined;
  const b = biasTensor ? tensorToFloat64(biasTensor) : undefined;

  if (producer.opType === 'Conv') {
    scaleRows(w, channels, k);
    foldedBias = { values: channelBias(b, k, shift), dims: [channels], dtype: biasTensor?.dtype ?? W.dtype };
  } else if (producer.opType === 'ConvTranspose') {
    scaleConvTransposeWeight(w, W.dims, getAttribute(producer, 'group')?.i ?? 1, k);
    foldedBias = { values: channelBias(b, k, shift), dims: [channels], dtype: biasTensor?.dtype ?? W.dtype };
  } else {
    // Gemm, and MatMul rewritten as Gemm: scale the output-feature columns of op(B).
    const transB = producer.opType === 'Gemm' && (getAttribute(producer, 'transB')?.i ?? 0) !== 0;
    if (transB) scaleRows(w, channels, k);
    else scaleColumns(w, channels, k);
    const beta = producer.opType === 'Gemm' ? getAttribute(producer, 'beta')?.f ?? 1 : 1;
    foldedBias = { ...gemmBias(b, biasTensor?.dims ?? [], beta, k, shift), dtype: biasTensor?.dtype ?? W.dtype };
    if (producer.opType === 'MatMul') {
      producer.opType = 'Gemm';
      producer.attributes = opset < 7 ? [{ name: 'broadcast', type: AttributeType.INT, i: 1 }] : [];
    } else if (getAttribute(producer, 'beta')) {
      // beta is now inside the stored bias.
      setAttribute(producer, { name: 'beta', type: AttributeType.FLOAT, f: 1 });
    }
  }

  const rounding: Rounding[] = [];
  const storedW = storeValues(W.name, W.dtype, W.dims, w);
  // In place: the folded values go into the array of an initializer only this node reads (the one
  // replaceConstantInput then updates under its own name), so the old weights are not kept beside them.
  const own = inPlace ? ix.initializer(producer.inputs[1]!) : undefined;
  const ownData = own?.data;
  const newData = storedW.tensor.data;
  if (own && !ix.isGraphInput(own.name) && ix.useCount(own.name) === 1 && ownData && !Array.isArray(ownData) && !Array.isArray(newData) &&
      ownData.constructor === newData.constructor && ownData.length === newData.length) {
    (ownData as Float32Array).set(newData as Float32Array);
    storedW.tensor.data = ownData;
  }
  replaceConstantInput(ix, producer, 1, storedW.tensor, `${weightSource.chain[weightSource.chain.length - 1]}_bnfolded`);
  const storedB = storeValues('', foldedBias.dtype, foldedBias.dims, foldedBias.values);
  replaceConstantInput(ix, producer, 2, storedB.tensor, biasInput ? `${biasInput}_bnfolded` : `${nodeLabel(producer)}_bias_bnfolded`);
  if (storedW.maxRoundingError > 0) rounding.push({ what: 'weight', dtype: W.dtype, maxError: storedW.maxRoundingError, maxAbs: storedW.maxAbs });
  if (storedB.maxRoundingError > 0) rounding.push({ what: 'bias', dtype: foldedBias.dtype, maxError: storedB.maxRoundingError, maxAbs: storedB.maxAbs });
  return rounding;
}

/** w viewed as [rows, rest]: row r scaled by k[r] (Conv output channels; Gemm with transB). */
function scaleRows(w: Float64Array, rows: number, k: Float64Array): void {
  const per = w.length / rows;
  for (let r = 0; r < rows; r++) {
    const kr = k[r]!;
    const base = r * per;
    for (let j = 0; j < per; j++) w[base + j]! *= kr;
  }
}

/** w viewed as [rest, cols]: column c scaled by k[c] (Gemm / MatMul weight [K, N]). */
function scaleColumns(w: Float64Array, cols: number, k: Float64Array): void {
  for (let i = 0; i < w.length; i++) w[i]! *= k[i % cols]!;
}

/**
 * ConvTranspose weight [Cin, Cout/g, kernel...]: input channel ci belongs to group ci / (Cin/g), and its
 * column j feeds output channel group * (Cout/g) + j. Scaling along axis 0 or ignoring the group is the
 * classic wrong fold.
 */
function scaleConvTransposeWeight(w: Float64Array, dims: number[], group: number, k: Float64Array): void {
  const cin = dims[0]!;
  const coutPerGroup = dims[1]!;
  const cinPerGroup = cin / group;
  let per = 1;
  for (let d = 2; d < dims.length; d++) per *= dims[d]!;
  for (let ci = 0; ci < cin; ci++) {
    const firstOut = Math.floor(ci / cinPerGroup) * coutPerGroup;
    for (let j = 0; j < coutPerGroup; j++) {
      const kj = k[firstOut + j]!;
      const base = (ci * coutPerGroup + j) * per;
      for (let s = 0; s < per; s++) w[base + s]! *= kj;
    }
  }
}

/** b' = b * k + shift, with shift = B - mean * k (so b' = (b - mean) * k + B). */
function channelBias(b: Float64Array | undefined, k: Float64Array, shift: Float64Array): Float64Array {
  const out = new Float64Array(k.length);
  for (let c = 0; c < k.length; c++) out[c] = (b ? b[c]! * k[c]! : 0) + shift[c]!;
  return out;
}

/** Gemm's C' = beta * C * k + shift, broadcast to [N] or, when C varies per row, [M, N]. */
function gemmBias(
  c: Float64Array | undefined,
  dims: number[],
  beta: number,
  k: Float64Array,
  shift: Float64Array,
): { values: Float64Array; dims: number[] } {
  const n = k.length;
  const rows = c && dims.length === 2 ? dims[0]! : 1;
  const cols = !c || dims.length === 0 ? 1 : dims[dims.length - 1]!;
  const out = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < n; j++) {
      const cv = c ? c[r * cols + (cols > 1 ? j : 0)]! : 0;
      out[r * n + j] = beta * cv * k[j]! + shift[j]!;
    }
  }
  return { values: out, dims: rows > 1 ? [rows, n] : [n] };
}
