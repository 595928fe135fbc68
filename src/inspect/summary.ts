import { DataType, Model, ValueInfo, allScopes, dtypeName, elementCount, onnxOpset, shapeOf, tensorByteSize } from '../ir/index.js';
import { analyzeBatchNormFolding } from '../passes/bnFoldability.js';

export interface ValueSummary {
  name: string;
  dtype: string;
  /** numbers for fixed dims, strings for symbolic ones, null for unknown; null for unknown rank */
  shape: (number | string | null)[] | null;
}

export interface ModelSummary {
  irVersion: number;
  opsets: { domain: string; version: number }[];
  producer: string;
  inputs: ValueSummary[];
  outputs: ValueSummary[];
  /** Nodes of the main graph and of every subgraph (If branches, Loop/Scan bodies), at any depth. */
  nodeCount: number;
  /** Subgraphs in the model, and how many of nodeCount are inside them. */
  subgraphs: { count: number; nodeCount: number };
  /** op type → count over all graphs, most frequent first (domain-qualified for non-ONNX domains) */
  opHistogram: Record<string, number>;
  initializerCount: number;
  parameterCount: number;
  parameterBytes: number;
  /**
   * Weights held in Constant nodes' `value` tensors instead of initializers (some exporters, e.g.
   * paddle2onnx, write every weight that way): nodes, elements and bytes, over all graphs.
   */
  constants: { count: number; parameterCount: number; parameterBytes: number };
  batchNorm: {
    count: number;
    foldable: number;
    notFoldable: { node: string; reason: string }[];
  };
}

function valueSummary(v: ValueInfo): ValueSummary {
  const elem = v.type?.tensor?.elemType;
  return {
    name: v.name,
    dtype: elem === undefined ? (v.type?.opaque ? 'non-tensor' : 'unknown') : dtypeName(elem as DataType),
    shape: shapeOf(v) ?? null,
  };
}

/**
 * Facts about a model for `bnc inspect`. Nodes, op types, initializers and BatchNorms are counted over the
 * main graph and every subgraph (If branches, Loop/Scan bodies); inputs and outputs are the main graph's.
 */
export function summarizeModel(model: Model): ModelSummary {
  const g = model.graph;
  const initNames = new Set(g.initializers.map((t) => t.name));
  const hist = new Map<string, number>();
  const scopes = allScopes(g);
  const initializers = scopes.flatMap((s) => s.graph.initializers);
  let nodeCount = 0;
  const constants = { count: 0, parameterCount: 0, parameterBytes: 0 };
  for (const { graph } of scopes) {
    for (const n of graph.nodes) {
      const value = n.opType === 'Constant' && (!n.domain || n.domain === 'ai.onnx') ? n.attributes.find((a) => a.name === 'value')?.t : undefined;
      if (value) {
        constants.count++;
        constants.parameterCount += elementCount(value.dims);
        constants.parameterBytes += tensorByteSize(value);
      }
      const key = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}:${n.opType}` : n.opType;
      hist.set(key, (hist.get(key) ?? 0) + 1);
    }
    nodeCount += graph.nodes.length;
  }
  const bns = analyzeBatchNormFolding(g, { opset: onnxOpset(model) });
  return {
    irVersion: model.irVersion,
    opsets: model.opsetImports.map((o) => ({ domain: o.domain || 'ai.onnx', version: o.version })),
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(' '),
    // Older exporters list initializers as graph inputs too; those are weights, not inputs to feed.
    inputs: g.inputs.filter((i) => !initNames.has(i.name)).map(valueSummary),
    outputs: g.outputs.map(valueSummary),
    nodeCount,
    subgraphs: { count: scopes.length - 1, nodeCount: nodeCount - g.nodes.length },
    opHistogram: Object.fromEntries([...hist.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))),
    initializerCount: initializers.length,
    parameterCount: initializers.reduce((s, t) => s + elementCount(t.dims), 0),
    parameterBytes: initializers.reduce((s, t) => s + tensorByteSize(t), 0),
    constants,
    batchNorm: {
      count: bns.length,
      foldable: bns.filter((b) => b.foldable).length,
      notFoldable: bns
        .filter((b) => !b.foldable)
        .map((b) => ({ node: (b.bn.name || b.bn.outputs[0]!) + (b.where ? ` (in ${b.where})` : ''), reason: b.reason! })),
    },
  };
}
