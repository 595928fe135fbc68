import { Graph, Node, Tensor, getAttribute, initializerOf, isGraphInput, isGraphOutput, producerOf, useCount } from '../ir/index.js';

/**
 * Whether each BatchNormalization could be folded into the node that produces its input, and if not, why.
 * This is the single statement of the fold preconditions; `inspect` counts with it and `fold-bn` obeys it.
 *
 * Preconditions, in the order they are checked:
 *  1. The BN is in inference mode: training_mode absent or 0, and no optional output (running mean/var,
 *     saved mean/var) is read by anything.
 *  2. Its input is produced by a Conv, ConvTranspose, Gemm, or a MatMul with a constant 2-D weight.
 *  3. That output feeds nothing but this BN and is not a graph output.
 *  4. The producer's weight and bias, and the BN's scale, B, mean and var, are constants.
 *  5. The weight and bias are read by no other node (else folding in place would change the other reader).
 *  6. For Gemm/MatMul the BN normalises the producer's output features (its input is 2-D).
 */
export interface FoldCandidate {
  bn: Node;
  producer?: Node;
  foldable: boolean;
  /** Why not, in words a user can act on. */
  reason?: string;
  /** True when the only obstacle is a weight shared with another node (a private copy would fix it). */
  sharedWeight?: boolean;
}

export const FOLD_TARGETS = new Set(['Conv', 'ConvTranspose', 'Gemm', 'MatMul']);

/** A constant value: an initializer, or the tensor of a Constant node. */
export function constantOf(graph: Graph, value: string): Tensor | undefined {
  if (!value) return undefined;
  const init = initializerOf(graph, value);
  // An initializer also listed as a graph input can be overridden by the caller: not a constant then,
  // except that older exporters list every weight as an input; onnxruntime treats those as constants too.
  if (init) return init;
  const p = producerOf(graph, value);
  if (p && p.opType === 'Constant' && (p.domain === '' || p.domain === 'ai.onnx')) {
    const t = getAttribute(p, 'value')?.t;
    if (t) return t;
  }
  if (p && p.opType === 'Identity' && p.inputs[0]) return constantOf(graph, p.inputs[0]);
  return undefined;
}

export function isInferenceBatchNorm(graph: Graph, bn: Node): { ok: boolean; reason?: string } {
  const training = getAttribute(bn, 'training_mode')?.i ?? 0;
  if (training) return { ok: false, reason: 'it is in training mode (training_mode=1); run bn-eval first' };
  for (const extra of bn.outputs.slice(1)) {
    if (extra && useCount(graph, extra) > 0) {
      return { ok: false, reason: `its optional output '${extra}' (running or saved statistics) is read by the graph` };
    }
  }
  return { ok: true };
}

export function analyzeBatchNormFolding(graph: Graph): FoldCandidate[] {
  const out: FoldCandidate[] = [];
  for (const bn of graph.nodes) {
    if (bn.opType !== 'BatchNormalization' || (bn.domain !== '' && bn.domain !== 'ai.onnx')) continue;
    out.push(checkBatchNorm(graph, bn));
  }
  return out;
}

function checkBatchNorm(graph: Graph, bn: Node): FoldCandidate {
  const no = (reason: string, producer?: Node, sharedWeight = false): FoldCandidate => ({
    bn,
    producer,
    foldable: false,
    reason,
    ...(sharedWeight ? { sharedWeight } : {}),
  });
  const mode = isInferenceBatchNorm(graph, bn);
  if (!mode.ok) return no(mode.reason!);
  const x = bn.inputs[0]!;
  const producer = producerOf(graph, x);
  if (!producer) {
    return no(isGraphInput(graph, x) ? `its input '${x}' is a graph input: there is no layer to fold into` : `its input '${x}' is a constant`);
  }
  if (!FOLD_TARGETS.has(producer.opType) || (producer.domain !== '' && producer.domain !== 'ai.onnx')) {
    return no(`its input comes from ${producer.opType} '${producer.name}', which has no weights to fold into`, producer);
  }
  if (producer.outputs[0] !== x) return no(`it reads a secondary output of '${producer.name}'`, producer);
  if (isGraphOutput(graph, x)) return no(`'${x}' (output of '${producer.name}') is also a graph output`, producer);
  const uses = useCount(graph, x);
  if (uses > 1) {
    return no(`'${x}' (output of ${producer.opType} '${producer.name}') is also read by ${uses - 1} other node(s)`, producer);
  }
  const params = bn.inputs.slice(1, 5);
  const paramNames = ['scale', 'B', 'mean', 'var'];
  for (let i = 0; i < 4; i++) {
    if (!params[i] || !constantOf(graph, params[i]!)) {
      return no(`its ${paramNames[i]} input '${params[i] ?? ''}' is not a constant`, producer);
    }
  }
  const weight = producer.inputs[1];
  const W = weight ? constantOf(graph, weight) : undefined;
  if (!W) return no(`the weight '${weight ?? ''}' of ${producer.opType} '${producer.name}' is not a constant`, producer);
  const biasName = producer.opType === 'MatMul' ? undefined : producer.inputs[2];
  if (biasName && !constantOf(graph, biasName)) {
    return no(`the bias '${biasName}' of ${producer.opType} '${producer.name}' is not a constant`, producer);
  }
  if (producer.opType === 'MatMul' && W.dims.length !== 2) {
    return no(`the weight of MatMul '${producer.name}' is ${W.dims.length}-D, not a 2-D matrix`, producer);
  }
  if (producer.opType === 'Gemm' && producer.inputs[2]) {
    const C = constantOf(graph, producer.inputs[2])!;
    if (C.dims.length > 1 && C.dims[0] !== 1) {
      return no(`the bias of Gemm '${producer.name}' varies per row (shape [${C.dims.join(', ')}])`, producer);
    }
  }
  for (const shared of [weight, biasName]) {
    if (!shared) continue;
    const readers = graph.nodes.filter((n) => n !== producer && n.inputs.includes(shared));
    if (readers.length || isGraphOutput(graph, shared)) {
      return no(
        `the ${shared === weight ? 'weight' : 'bias'} '${shared}' is shared with ${readers.map((r) => `${r.opType} '${r.name}'`).join(', ') || 'a graph output'}; folding in place would change that node too (use --allow-weight-copy)`,
        producer,
        true,
      );
    }
  }
  return { bn, producer, foldable: true };
}
