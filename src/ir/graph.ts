import { DataType } from './dtype.js';
import { Tensor, UnknownFields } from './tensor.js';

export enum AttributeType {
  UNDEFINED = 0,
  FLOAT = 1,
  INT = 2,
  STRING = 3,
  TENSOR = 4,
  GRAPH = 5,
  FLOATS = 6,
  INTS = 7,
  STRINGS = 8,
  TENSORS = 9,
  GRAPHS = 10,
  SPARSE_TENSOR = 11,
  SPARSE_TENSORS = 12,
  TYPE_PROTO = 13,
  TYPE_PROTOS = 14,
}

/**
 * A node attribute. Integers are JS numbers: int64 values beyond 2^53 (in practice only the INT64_MAX/MIN
 * sentinels some exporters use) are written back saturated to the int64 range.
 */
export interface Attribute {
  name: string;
  type: AttributeType;
  f?: number;
  i?: number;
  s?: Uint8Array;
  t?: Tensor;
  g?: Graph;
  floats?: number[];
  ints?: number[];
  strings?: Uint8Array[];
  tensors?: Tensor[];
  graphs?: Graph[];
  /** Encoded sparse tensors and type protos, which bnc never interprets. */
  opaque?: Uint8Array[];
  refAttrName?: string;
  docString?: string;
  unknown?: UnknownFields;
}

export interface Node {
  name: string;
  opType: string;
  /** '' is the default ONNX domain ('ai.onnx'). */
  domain: string;
  /** '' marks an omitted optional input. */
  inputs: string[];
  outputs: string[];
  attributes: Attribute[];
  docString?: string;
  unknown?: UnknownFields;
}

/** One dimension of a shape: a fixed size, a symbolic name, or unknown. */
export interface Dim {
  value?: number;
  param?: string;
  denotation?: string;
  unknown?: UnknownFields;
}

export interface TensorType {
  elemType: DataType;
  /** undefined: rank unknown. */
  shape?: Dim[];
  unknown?: UnknownFields;
}

/** The type of a value: a tensor type, or an encoded TypeProto bnc does not interpret (sequence, map, ...). */
export interface ValueType {
  tensor?: TensorType;
  opaque?: Uint8Array;
  denotation?: string;
  unknown?: UnknownFields;
}

export interface ValueInfo {
  name: string;
  type?: ValueType;
  docString?: string;
  unknown?: UnknownFields;
}

export interface OpsetImport {
  domain: string;
  version: number;
}

export interface Graph {
  name: string;
  nodes: Node[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  initializers: Tensor[];
  valueInfo: ValueInfo[];
  docString?: string;
  /** Sparse initializers, quantization annotations and newer fields, kept encoded. */
  unknown?: UnknownFields;
}

export interface Model {
  irVersion: number;
  opsetImports: OpsetImport[];
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  metadataProps: { key: string; value: string }[];
  graph: Graph;
  /** Functions, training info and newer fields, kept encoded. */
  unknown?: UnknownFields;
}

/** Version of the default ONNX domain the model imports (1 if none is listed). */
export function onnxOpset(model: Model): number {
  const imp = model.opsetImports.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  return imp?.version ?? 1;
}

export function getAttribute(node: Node, name: string): Attribute | undefined {
  return node.attributes.find((a) => a.name === name);
}

export function setAttribute(node: Node, attr: Attribute): void {
  const i = node.attributes.findIndex((a) => a.name === attr.name);
  if (i >= 0) node.attributes[i] = attr;
  else node.attributes.push(attr);
}

export function removeAttribute(node: Node, name: string): boolean {
  const i = node.attributes.findIndex((a) => a.name === name);
  if (i < 0) return false;
  node.attributes.splice(i, 1);
  return true;
}

export function intAttr(name: string, i: number): Attribute {
  return { name, type: AttributeType.INT, i };
}
export function floatAttr(name: string, f: number): Attribute {
  return { name, type: AttributeType.FLOAT, f };
}
export function intsAttr(name: string, ints: number[]): Attribute {
  return { name, type: AttributeType.INTS, ints };
}
export function floatsAttr(name: string, floats: number[]): Attribute {
  return { name, type: AttributeType.FLOATS, floats };
}
export function stringAttr(name: string, s: string): Attribute {
  return { name, type: AttributeType.STRING, s: new TextEncoder().encode(s) };
}

/** Shape as a list: numbers for fixed sizes, strings for symbolic dims, null for unknown. */
export function shapeOf(vi: ValueInfo): (number | string | null)[] | undefined {
  const shape = vi.type?.tensor?.shape;
  return shape?.map((d) => d.value ?? d.param ?? null);
}

export function tensorValueInfo(name: string, elemType: DataType, shape?: (number | string | null)[]): ValueInfo {
  return {
    name,
    type: {
      tensor: {
        elemType,
        shape: shape?.map((d) => (typeof d === 'number' ? { value: d } : typeof d === 'string' ? { param: d } : {})),
      },
    },
  };
}

export function emptyGraph(name = 'graph'): Graph {
  return { name, nodes: [], inputs: [], outputs: [], initializers: [], valueInfo: [] };
}
