import { Graph, GraphIndex, Node, Tensor, dtypeName, getAttribute } from '../ir/index.js';
import { ConstantSource, FOLDABLE_FLOAT_TYPES, constantValues, isSharedConstant, nodeLabel, resolveConstant } from './constants.js';
import { graphScopes } from './pass.js';
import { AnalysisStats, GraphFacts } from './shapeFacts.js';

/**
 * Whether each BatchNormalization could be folded into the node that produces its input, and if not, why.
 * This is the single statement of the fold preconditions; `inspect` counts with it and `fold-bn` obeys it
 * (it re-checks each BN right before folding it, so earlier folds are taken into account).
 *
 * Preconditions, in the order they are checked:
 *  1. The BN computes with stored statistics: training_mode absent or 0 (opset 14+), is_test=1 (opset <= 6),
 *     no optional output (running mean/var, saved mean/var) present — `bn-eval` establishes all three —
 *     and not spatial=0 (per-activation statistics, opset 7-8).
 *  2. Its scale, B, mean and var are numeric constants of one length C (initializers, Constant nodes,
 *     Identity / ConstantOfShape chains of them).
 *  3. Its input is the first output of a Conv, ConvTranspose, Gemm, or MatMul (default ONNX domain).
 *  4. That output feeds nothing but this BN and is not a graph output.
 *  5. The producer's weight (and bias, when present) are constants of type float32, float64 or float16
 *     whose shapes give C output channels / features: Conv W[C, Cin/g, ...]; ConvTranspose
 *     W[Cin, C/g, ...]; Gemm B[K, C] (B[C, K] with transB) and C absent or broadcastable to [M, C];
 *     MatMul B[K, C] with a 2-D input A (BN axis 1 must be the producer's feature axis: for a rank-3
 *     MatMul output, axis 1 is not the feature axis and the BN does not fold).
 *  6. The weight and bias are read by no other node (folding in place would change that node too); with
 *     --allow-weight-copy this node gets a private copy instead.
 * Inside a subgraph (If branch, Loop/Scan body) the same rules hold, with reads from nested subgraphs
 * counted as reads, constants of the enclosing graphs taken as constants (the folded weight then becomes
 * the subgraph's own initializer), and a producer in an enclosing graph never folded into.
 */
export interface FoldCandidate {
  bn: Node;
  producer?: Node;
  foldable: boolean;
  /** Why not, in words a user can act on. */
  reason?: string;
  /** True when the weight or bias is shared with another reader (a private copy is needed to fold). */
  sharedWeight?: boolean;
}

export interface FoldabilityOptions {
  /** The model's default-domain opset; decides how training mode is expressed. Unknown: judged by attributes. */
  opset?: number;
  /** Count a BN whose only obstacle is a shared weight as foldable (the pass will copy the weight). */
  allowWeightCopy?: boolean;
}

export const FOLD_TARGETS = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);

const isOnnxDomain = (n: Node) => n.domain === '' || n.domain === 'ai.onnx';

export function isBatchNorm(node: Node): boolean {
  return node.opType === 'BatchNormalization' && isOnnxDomain(node);
}

/** Precondition 1: whether the BN uses stored statistics, and if not, what makes it train. */
export function isInferenceBatchNorm(ix: GraphIndex, bn: Node, opset?: number): { ok: boolean; reason?: string } {
  if ((getAttribute(bn, 'training_mode')?.i ?? 0) !== 0) {
    return { ok: false, reason: 'it is in training mode (training_mode=1); run bn-eval first' };
  }
  const isTest = getAttribute(bn, 'is_test');
  if ((isTest && !isTest.i) || (!isTest && opset !== undefined && opset <= 6)) {
    return { ok: false, reason: 'it is in training mode (is_test=0, opset <= 6); run bn-eval first' };
  }
  const extras = bn.outputs.slice(1).filter((o) => o !== '');
  if (extras.length) {
    const read = extras.filter((o) => ix.useCount(o) > 0);
    return {
      ok: false,
      reason: read.length
        ? `its optional output '${read[0]}' (running or saved statistics) is read by the graph`
        : `it has optional outputs (running/saved statistics), which make it compute batch statistics; run bn-eval first`,
    };
  }
  const spatial = getAttribute(bn, 'spatial');
  if (spatial && spatial.i === 0) return { ok: false, reason: 'it uses per-activation statistics (spatial=0)' };
  return { ok: true };
}

/** Per-channel y = k*x + shift for an inference BN with constant parameters, computed in float64. */
export interface BatchNormAffine {
  channels: number;
  k: Float64Array;
  shift: Float64Array;
}

export function batchNormAffine(ix: GraphIndex, bn: Node): BatchNormAffine | { reason: string } {
  const names = ['scale', 'B', 'mean', 'var'];
  const values: Float64Array[] = [];
  for (let i = 0; i < 4; i++) {
    const input = bn.inputs[i + 1] ?? '';
    const v = constantValues(ix, input);
    if (!v) return { reason: `its ${names[i]} input '${input}' is not a numeric constant` };
    values.push(v);
  }
  const [scale, bias, mean, variance] = values as [Float64Array, Float64Array, Float64Array, Float64Array];
  const c = scale.length;
  if (bias.length !== c || mean.length !== c || variance.length !== c) {
    return { reason: `its scale, B, mean and var have different lengths (${values.map((v) => v.length).join(', ')})` };
  }
  const eps = getAttribute(bn, 'epsilon')?.f ?? 1e-5;
  const k = new Float64Array(c);
  const shift = new Float64Array(c);
  for (let i = 0; i < c; i++) {
    k[i] = scale[i]! / Math.sqrt(variance[i]! + eps);
    shift[i] = bias[i]! - mean[i]! * k[i]!;
  }
  return { channels: c, k, shift };
}

/**
 * Every BN of `graph` and of all its subgraphs (If/Loop/Scan bodies, at any depth), each judged in its own
 * graph; `where` names the subgraph ("then_branch of If 'check'"), '' for the main graph. One index per graph.
 */
export function analyzeBatchNormFolding(graph: Graph, options: FoldabilityOptions & { stats?: AnalysisStats } = {}): (FoldCandidate & { where: string })[] {
  const out: (FoldCandidate & { where: string })[] = [];
  for (const { facts, where } of graphScopes(graph, options.stats)) {
    for (const bn of facts.graph.nodes.filter(isBatchNorm)) out.push({ ...checkBatchNormFolding(facts, bn, options), where });
  }
  return out;
}

export function checkBatchNormFolding(facts: GraphFacts, bn: Node, options: FoldabilityOptions = {}): FoldCandidate {
  const ix = facts.index;
  const no = (reason: string, producer?: Node, sharedWeight = false): FoldCandidate => ({
    bn,
    producer,
    foldable: false,
    reason,
    ...(sharedWeight ? { sharedWeight } : {}),
  });
  const mode = isInferenceBatchNorm(ix, bn, options.opset);
  if (!mode.ok) return no(mode.reason!);
  const affine = batchNormAffine(ix, bn);
  if ('reason' in affine) return no(affine.reason);
  const C = affine.channels;

  const x = bn.inputs[0] ?? '';
  const producer = ix.producer(x);
  if (!producer) {
    const outer = ix.outer !== undefined;
    if (ix.isGraphInput(x)) return no(`its input '${x}' is a ${outer ? 'subgraph' : 'graph'} input: there is no layer to fold into`);
    if (outer && !ix.defines(x) && !resolveConstant(ix, x)) {
      return no(`its input '${x}' comes from the enclosing graph: a layer outside this subgraph is not folded into`);
    }
    return no(`its input '${x}' is a constant`);
  }
  const p = `${producer.opType} '${nodeLabel(producer)}'`;
  if (!FOLD_TARGETS.has(producer.opType) || !isOnnxDomain(producer)) {
    return no(`its input comes from ${p}, which has no weights to fold into`, producer);
  }
  if (producer.outputs[0] !== x) return no(`it reads a secondary output of ${p}`, producer);
  if (ix.isGraphOutput(x)) return no(`'${x}' (output of ${p}) is also a graph output`, producer);
  const uses = ix.useCount(x);
  if (uses > 1) return no(`'${x}' (output of ${p}) is also read by ${uses - 1} other reader(s)`, producer);

  const weightName = producer.inputs[1] ?? '';
  const weight = weightName ? resolveConstant(ix, weightName) : undefined;
  if (!weight) return no(`the weight '${weightName}' of ${p} is not a constant`, producer);
  const W = weight.tensor;
  if (!FOLDABLE_FLOAT_TYPES.has(W.dtype)) return no(`the weight of ${p} is ${dtypeName(W.dtype)}; fold-bn handles float32, float64 and float16`, producer);
  const biasName = producer.opType === 'MatMul' ? '' : producer.inputs[2] ?? '';
  const bias = biasName ? resolveConstant(ix, biasName) : undefined;
  if (biasName && !bias) return no(`the bias '${biasName}' of ${p} is not a constant`, producer);
  if (bias && !FOLDABLE_FLOAT_TYPES.has(bias.tensor.dtype)) return no(`the bias of ${p} is ${dtypeName(bias.tensor.dtype)}`, producer);

  const shapeProblem = checkShapes(facts, producer, W, bias?.tensor, C);
  if (shapeProblem) return no(`${p}: ${shapeProblem}`, producer);

  const shared: [string, ConstantSource][] = [['weight', weight]];
  if (bias) shared.push(['bias', bias]);
  for (const [what, source] of shared) {
    if (!isSharedConstant(source)) continue;
    const name = source.chain[source.chain.length - 1]!;
    const readers = new Set(source.chain.flatMap((v, i) => source.indexes[i]!.consumers(v)).filter((n) => n !== producer));
    const by =
      [...readers].map((r) => `${r.opType} '${nodeLabel(r)}'`).join(', ') ||
      (ix.outer ? 'another reader in an enclosing graph or subgraph' : 'a graph output or a subgraph');
    if (options.allowWeightCopy) return { bn, producer, foldable: true, sharedWeight: true };
    return no(`the ${what} '${name}' of ${p} is shared with ${by}; folding in place would change that node too (use --allow-weight-copy)`, producer, true);
  }
  return { bn, producer, foldable: true };
}

/** Precondition 5: the producer's parameters give exactly C output channels along the BN's axis 1. */
function checkShapes(facts: GraphFacts, producer: Node, W: Tensor, bias: Tensor | undefined, C: number): string | undefined {
  const biasLength = bias ? bias.dims.reduce((n, d) => n * d, 1) : 0;
  switch (producer.opType) {
    case 'Conv': {
      if (W.dims.length < 3 || W.dims[0] !== C) return `weight shape [${W.dims.join(', ')}] does not have ${C} output channels (BN length)`;
      if (bias && biasLength !== C) return `bias has ${biasLength} elements, expected ${C}`;
      return undefined;
    }
    case 'ConvTranspose': {
      const group = getAttribute(producer, 'group')?.i ?? 1;
      if (W.dims.length < 3 || W.dims[1]! * group !== C || W.dims[0]! % group !== 0) {
        return `weight shape [${W.dims.join(', ')}] with group ${group} does not have ${C} output channels (BN length)`;
      }
      if (bias && biasLength !== C) return `bias has ${biasLength} elements, expected ${C}`;
      return undefined;
    }
    case 'Gemm': {
      if (W.dims.length !== 2) return `weight is ${W.dims.length}-D, not a matrix`;
      const transB = getAttribute(producer, 'transB')?.i ?? 0;
      const n = transB ? W.dims[0] : W.dims[1];
      if (n !== C) return `it has ${n} output features but the BN has ${C} channels`;
      if (bias) {
        const d = bias.dims;
        const cols = d.length === 0 ? 1 : d[d.length - 1]!;
        if (d.length > 2 || (cols !== 1 && cols !== C)) return `bias shape [${d.join(', ')}] does not broadcast to [M, ${C}]`;
      }
      return undefined;
    }
    case 'MatMul': {
      if (W.dims.length !== 2) return `weight is ${W.dims.length}-D, not a 2-D matrix`;
      if (W.dims[1] !== C) return `it has ${W.dims[1]} output features but the BN has ${C} channels`;
      const rank = facts.rank(producer.inputs[0] ?? '') ?? facts.rank(producer.outputs[0] ?? '');
      if (rank === undefined) return `the rank of its input is unknown, so it cannot be told whether the BN normalises its output features`;
      if (rank !== 2) return `its output is ${rank}-D: the BN normalises axis 1, which is not the MatMul's feature axis`;
      return undefined;
    }
  }
  return `not a fold target`;
}

