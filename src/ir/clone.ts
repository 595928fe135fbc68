import { Model } from './graph.js';

/**
 * A copy of a model's structure (nodes, value lists, initializer records) that passes can rewrite while
 * the original stays as it was. Tensor payloads are shared: passes replace a tensor's data, never write
 * into it, so sharing them is safe and costs no memory.
 */
export function cloneModel(model: Model): Model {
  const g = model.graph;
  return {
    ...model,
    opsetImports: model.opsetImports.map((o) => ({ ...o })),
    metadataProps: model.metadataProps.map((p) => ({ ...p })),
    graph: {
      ...g,
      nodes: g.nodes.map((n) => ({ ...n, inputs: [...n.inputs], outputs: [...n.outputs], attributes: n.attributes.map((a) => ({ ...a })) })),
      inputs: g.inputs.map((v) => ({ ...v })),
      outputs: g.outputs.map((v) => ({ ...v })),
      initializers: g.initializers.map((t) => ({ ...t, dims: [...t.dims] })),
      valueInfo: g.valueInfo.map((v) => ({ ...v })),
    },
  };
}
