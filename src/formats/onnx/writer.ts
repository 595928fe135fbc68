import { Attribute, AttributeType, BncError, DataType, Dim, Graph, Model, Node, Tensor, ValueInfo, ValueType } from '../../ir/index.js';
import { WireWriter } from '../protobuf/wire.js';
import { MAX_PROTOBUF_BYTES } from '../modelFile.js';

/**
 * Encode a model as ONNX protobuf bytes. Tensors are written as raw_data (their typed arrays referenced,
 * not re-encoded); strings use string_data. Unknown fields the reader kept are appended to their message.
 */
export function serializeOnnx(model: Model): Uint8Array {
  return encodeModel(model).finish();
}

/**
 * The same bytes as serializeOnnx, as a list of pieces to write one after another: tensor data is not
 * copied into one big buffer, so a file can be written with no second copy of the weights in memory.
 */
export function serializeOnnxChunks(model: Model): Uint8Array[] {
  return encodeModel(model).finishChunks();
}

function encodeModel(model: Model): WireWriter {
  const w = new WireWriter();
  w.uint(1, model.irVersion);
  if (model.producerName !== undefined) w.string(2, model.producerName);
  if (model.producerVersion !== undefined) w.string(3, model.producerVersion);
  if (model.domain !== undefined) w.string(4, model.domain);
  if (model.modelVersion !== undefined) w.uint(5, model.modelVersion);
  if (model.docString !== undefined) w.string(6, model.docString);
  w.message(7, (g) => writeGraph(g, model.graph));
  for (const o of model.opsetImports) {
    w.message(8, (m) => {
      m.string(1, o.domain);
      m.uint(2, o.version);
    });
  }
  for (const p of model.metadataProps) w.message(14, (m) => m.string(1, p.key).string(2, p.value));
  writeUnknown(w, model.unknown);
  if (w.length > MAX_PROTOBUF_BYTES) {
    throw new BncError(
      `the model would be ${(w.length / 2 ** 30).toFixed(2)} GiB, over protobuf's 2 GiB limit for one file`,
      { code: 'TOO_LARGE' },
    );
  }
  return w;
}

function writeUnknown(w: WireWriter, unknown?: Uint8Array[]): void {
  if (unknown) for (const u of unknown) w.raw(u);
}

export function writeGraph(w: WireWriter, g: Graph): void {
  for (const n of g.nodes) w.message(1, (m) => writeNode(m, n));
  w.string(2, g.name);
  for (const t of g.initializers) w.message(5, (m) => writeTensor(m, t));
  if (g.docString !== undefined) w.string(10, g.docString);
  for (const v of g.inputs) w.message(11, (m) => writeValueInfo(m, v));
  for (const v of g.outputs) w.message(12, (m) => writeValueInfo(m, v));
  for (const v of g.valueInfo) w.message(13, (m) => writeValueInfo(m, v));
  writeUnknown(w, g.unknown);
}

function writeNode(w: WireWriter, n: Node): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.opType);
  for (const a of n.attributes) w.message(5, (m) => writeAttribute(m, a));
  if (n.docString !== undefined) w.string(6, n.docString);
  if (n.domain) w.string(7, n.domain);
  writeUnknown(w, n.unknown);
}

function writeAttribute(w: WireWriter, a: Attribute): void {
  w.string(1, a.name);
  if (a.f !== undefined) w.float(2, a.f);
  if (a.i !== undefined) w.uint(3, a.i);
  if (a.s !== undefined) w.bytes(4, a.s);
  if (a.t) w.message(5, (m) => writeTensor(m, a.t!));
  if (a.g) w.message(6, (m) => writeGraph(m, a.g!));
  if (a.floats?.length) w.packedFixed(7, Float32Array.from(a.floats));
  if (a.ints?.length) w.packedVarints(8, a.ints);
  for (const s of a.strings ?? []) w.bytes(9, s);
  for (const t of a.tensors ?? []) w.message(10, (m) => writeTensor(m, t));
  for (const g of a.graphs ?? []) w.message(11, (m) => writeGraph(m, g));
  if (a.docString !== undefined) w.string(13, a.docString);
  if (a.type !== AttributeType.UNDEFINED) w.uint(20, a.type);
  if (a.refAttrName !== undefined) w.string(21, a.refAttrName);
  writeUnknown(w, a.unknown);
}

export function writeTensor(w: WireWriter, t: Tensor): void {
  if (t.dims.length) w.packedVarints(1, t.dims);
  w.uint(2, t.dtype);
  if (t.dtype === DataType.STRING) {
    for (const s of t.data as Uint8Array[]) w.bytes(6, s);
  }
  if (t.name) w.string(8, t.name);
  if (t.dtype !== DataType.STRING) {
    const bytes = t.raw ?? (() => {
      const d = t.data as ArrayBufferView;
      return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    })();
    w.bytes(9, bytes);
  }
  if (t.docString !== undefined) w.string(12, t.docString);
  writeUnknown(w, t.unknown);
}

function writeValueInfo(w: WireWriter, v: ValueInfo): void {
  w.string(1, v.name);
  if (v.type) w.message(2, (m) => writeType(m, v.type!));
  if (v.docString !== undefined) w.string(3, v.docString);
  writeUnknown(w, v.unknown);
}

function writeType(w: WireWriter, t: ValueType): void {
  if (t.opaque) {
    w.raw(t.opaque);
    return;
  }
  if (t.tensor) {
    const tt = t.tensor;
    w.message(1, (m) => {
      m.uint(1, tt.elemType);
      if (tt.shape) m.message(2, (s) => tt.shape!.forEach((d) => s.message(1, (dm) => writeDim(dm, d))));
      writeUnknown(m, tt.unknown);
    });
  }
  if (t.denotation !== undefined) w.string(6, t.denotation);
  writeUnknown(w, t.unknown);
}

function writeDim(w: WireWriter, d: Dim): void {
  if (d.value !== undefined) w.uint(1, d.value);
  if (d.param !== undefined) w.string(2, d.param);
  if (d.denotation !== undefined) w.string(3, d.denotation);
  writeUnknown(w, d.unknown);
}
