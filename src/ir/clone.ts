import { Attribute, Graph, Model } from './graph.js';

/**
 * A copy of a model's structure (nodes, value lists, initializer records, and the same for every subgraph)
 * that passes can rewrite while the original stays as it was. Tensor payloads are shared: passes replace a
 * tensor's data, never write into it, so sharing them is safe and costs no memory.
 */
export function cloneModel(model: Model): Model {
  return {
    ...model,
    opsetImports: model.opsetImports.map((o) => ({ ...o })),
    metadataProps: model.metadataProps.map((p) => ({ ...p })),
    graph: cloneGraph(model.graph),
  };
}

/** Structure copy of one graph and, recursively, the graphs in its nodes' attributes. */
export function cloneGraph(g: Graph): Graph {
  return {
    ...g,
    nodes: g.nodes.map((n) => ({ ...n, inputs: [...n.inputs], outputs: [...n.outputs], attributes: n.attributes.map(cloneAttribute) })),
    inputs: g.inputs.map((v) => ({ ...v })),
    outputs: g.outputs.map((v) => ({ ...v })),
    initializers: g.initializers.map((t) => ({ ...t, dims: [...t.dims] })),
    valueInfo: g.valueInfo.map((v) => ({ ...v })),
  };
}

function cloneAttribute(a: Attribute): Attribute {
  const c: Attribute = { ...a };
  if (a.g) c.g = cloneGraph(a.g);
  if (a.graphs) c.graphs = a.graphs.map(cloneGraph);
  return c;
}
