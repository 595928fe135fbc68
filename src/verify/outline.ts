import { Attribute, Dim, Graph, Model, Tensor, ValueInfo, ValueType } from '../ir/index.js';

// The structure of a model without its weights: what verify still reads of model A once A has run
// (names, inputs and outputs, node order for depths and producers), so A's weights can be freed before
// model B is loaded. A reader's tensors, unknown fields and byte attributes are views of the model file's
// buffer, and one such view keeps the whole buffer alive: an outline copies nothing that views it.

/** Initializer data in an outline: no elements. */
const NO_DATA = new Float32Array(0);

/**
 * A copy of `model` with the same graph structure (nodes with their numeric and string attributes,
 * inputs, outputs, value infos, initializer names, types and dims) and none of its data: initializers
 * hold no elements, tensor and subgraph attributes, unknown fields and opaque types are dropped, byte
 * strings are copied. Enough to pair inputs and outputs, order nodes and name producers; not to run.
 */
export function modelOutline(model: Model): Model {
  return {
    irVersion: model.irVersion,
    opsetImports: model.opsetImports.map((o) => ({ ...o })),
    metadataProps: model.metadataProps.map((p) => ({ ...p })),
    ...(model.producerName !== undefined ? { producerName: model.producerName } : {}),
    graph: graphOutline(model.graph),
  };
}

export function graphOutline(g: Graph): Graph {
  return {
    name: g.name,
    nodes: g.nodes.map((n) => ({
      name: n.name,
      opType: n.opType,
      domain: n.domain,
      inputs: [...n.inputs],
      outputs: [...n.outputs],
      attributes: n.attributes.filter((a) => !a.t && !a.g && !a.tensors?.length && !a.graphs?.length).map(attributeOutline),
    })),
    inputs: g.inputs.map(valueInfoOutline),
    outputs: g.outputs.map(valueInfoOutline),
    initializers: g.initializers.map((t): Tensor => ({ name: t.name, dtype: t.dtype, dims: [...t.dims], data: NO_DATA })),
    valueInfo: g.valueInfo.map(valueInfoOutline),
  };
}

function attributeOutline(a: Attribute): Attribute {
  const c: Attribute = { name: a.name, type: a.type };
  if (a.f !== undefined) c.f = a.f;
  if (a.i !== undefined) c.i = a.i;
  if (a.s !== undefined) c.s = a.s.slice();
  if (a.floats) c.floats = [...a.floats];
  if (a.ints) c.ints = [...a.ints];
  if (a.strings) c.strings = a.strings.map((s) => s.slice());
  return c;
}

function valueInfoOutline(v: ValueInfo): ValueInfo {
  return v.type ? { name: v.name, type: typeOutline(v.type) } : { name: v.name };
}

function typeOutline(t: ValueType): ValueType {
  if (!t.tensor) return {};
  const shape = t.tensor.shape?.map((d): Dim => ({ ...(d.value !== undefined ? { value: d.value } : {}), ...(d.param !== undefined ? { param: d.param } : {}) }));
  return { tensor: { elemType: t.tensor.elemType, ...(shape ? { shape } : {}) } };
}

/**
 * Replace `model`'s graph by its outline (see modelOutline), in place: once no other reference to its
 * tensors is left, its weights (and the file buffer they view) can be collected. The model can no longer
 * run; its structure stays readable.
 */
export function releaseModelTensors(model: Model): void {
  model.graph = graphOutline(model.graph);
  delete model.unknown;
}
