import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  Attribute,
  AttributeType,
  BncError,
  DataType,
  Dim,
  Graph,
  Model,
  Node,
  Tensor,
  TensorType,
  TypedArray,
  ValueInfo,
  ValueType,
  dtypeName,
  elementCount,
  storageOf,
  validateGraph,
} from '../../ir/index.js';
import { WireError, WireReader, WireType, viewAs } from '../protobuf/wire.js';
import { decodingFile } from '../format.js';
import { readModelBytes } from '../modelFile.js';

// Field numbers from onnx.proto (ONNX 1.17). Anything else a message carries is kept verbatim.

export interface ReadOnnxOptions {
  /** Directory that external-data locations are relative to (defaults to the model's folder). */
  baseDir?: string;
  /** Skip structural validation (for tools that must show a broken graph). */
  skipValidation?: boolean;
  /** Bytes read so far of a large file, for a progress bar. */
  onProgress?: (doneBytes: number, totalBytes: number) => void;
  /**
   * The bytes are the reader's to change (readOnnxFile's own file buffer): misaligned tensor data is moved
   * in place onto 4-byte boundaries and viewed there instead of copied. The bytes are no longer a valid
   * model afterwards.
   */
  overwriteBytes?: boolean;
  /** readOnnxFile: read the file into a SharedArrayBuffer (see OpenOptions.sharedMemory). */
  sharedMemory?: boolean;
}

export function readOnnxFile(file: string, options: ReadOnnxOptions = {}): Model {
  const bytes = readModelBytes(file, options.onProgress, options.sharedMemory);
  return parseOnnx(bytes, { baseDir: path.dirname(file), overwriteBytes: true, ...options }, file);
}

export function parseOnnx(bytes: Uint8Array, options: ReadOnnxOptions = {}, file = '<buffer>'): Model {
  const model = decodingFile(file, 'not a valid ONNX model', () =>
    decodeModel(new WireReader(bytes, 0, bytes.length, { overwritable: options.overwriteBytes }), options.baseDir),
  );
  if (!model.graph.nodes.length && !model.graph.inputs.length && !model.graph.outputs.length) {
    throw new BncError(`${file}: not an ONNX model (no graph found)`, { file, code: 'CORRUPT' });
  }
  if (!options.skipValidation) {
    try {
      validateGraph(model.graph);
    } catch (e) {
      if (e instanceof BncError) {
        e.file = file;
        e.message = `${file}: ${e.message}`;
      }
      throw e;
    }
  }
  return model;
}

/**
 * A serialized TensorProto (the `input_N.pb` / `output_N.pb` files of ONNX's backend test data), every
 * element type onnx.proto stores: raw_data or the typed fields (int64 and uint64 values exact). Errors
 * name `file`.
 */
export function parseTensorProto(bytes: Uint8Array, file = '<buffer>'): Tensor {
  return decodingFile(file, 'not a valid TensorProto', () => decodeTensor(new WireReader(bytes, 0, bytes.length)));
}

function decodeModel(r: WireReader, baseDir?: string): Model {
  const model: Model = { irVersion: 0, opsetImports: [], metadataProps: [], graph: undefined as unknown as Graph };
  const unknown: Uint8Array[] = [];
  while (!r.done) {
    const start = r.pos;
    const { field, wire } = r.tag();
    if (field === 1 && wire === WireType.VARINT) model.irVersion = r.int64();
    else if (field === 2 && wire === WireType.LEN) model.producerName = r.string();
    else if (field === 3 && wire === WireType.LEN) model.producerVersion = r.string();
    else if (field === 4 && wire === WireType.LEN) model.domain = r.string();
    else if (field === 5 && wire === WireType.VARINT) model.modelVersion = r.int64();
    else if (field === 6 && wire === WireType.LEN) model.docString = r.string();
    else if (field === 7 && wire === WireType.LEN) model.graph = decodeGraph(r.message(), baseDir);
    else if (field === 8 && wire === WireType.LEN) {
      const m = r.message();
      const imp = { domain: '', version: 0 };
      while (!m.done) {
        const { field: f, wire: w } = m.tag();
        if (f === 1 && w === WireType.LEN) imp.domain = m.string();
        else if (f === 2 && w === WireType.VARINT) imp.version = m.int64();
        else m.skip(w);
      }
      model.opsetImports.push(imp);
    } else if (field === 14 && wire === WireType.LEN) model.metadataProps.push(decodeStringEntry(r.message()));
    else unknown.push(r.skipKeep(start, wire));
  }
  if (!model.graph) model.graph = { name: '', nodes: [], inputs: [], outputs: [], initializers: [], valueInfo: [] };
  if (unknown.length) model.unknown = unknown;
  return model;
}

function decodeStringEntry(m: WireReader): { key: string; value: string } {
  const e = { key: '', value: '' };
  while (!m.done) {
    const { field, wire } = m.tag();
    if (field === 1 && wire === WireType.LEN) e.key = m.string();
    else if (field === 2 && wire === WireType.LEN) e.value = m.string();
    else m.skip(wire);
  }
  return e;
}

export function decodeGraph(r: WireReader, baseDir?: string, depth = 0): Graph {
  if (depth > 32) throw new BncError('subgraphs nested more than 32 deep', { code: 'CORRUPT' });
  const g: Graph = { name: '', nodes: [], inputs: [], outputs: [], initializers: [], valueInfo: [] };
  const unknown: Uint8Array[] = [];
  while (!r.done) {
    const start = r.pos;
    const { field, wire } = r.tag();
    if (wire !== WireType.LEN) {
      unknown.push(r.skipKeep(start, wire));
      continue;
    }
    switch (field) {
      case 1:
        g.nodes.push(decodeNode(r.message(), baseDir, depth));
        break;
      case 2:
        g.name = r.string();
        break;
      case 5:
        g.initializers.push(decodeTensor(r.message(), baseDir));
        break;
      case 10:
        g.docString = r.string();
        break;
      case 11:
        g.inputs.push(decodeValueInfo(r.message()));
        break;
      case 12:
        g.outputs.push(decodeValueInfo(r.message()));
        break;
      case 13:
        g.valueInfo.push(decodeValueInfo(r.message()));
        break;
      default:
        unknown.push(r.skipKeep(start, wire));
    }
  }
  if (unknown.length) g.unknown = unknown;
  return g;
}

function decodeNode(r: WireReader, baseDir: string | undefined, depth: number): Node {
  const n: Node = { name: '', opType: '', domain: '', inputs: [], outputs: [], attributes: [] };
  const unknown: Uint8Array[] = [];
  while (!r.done) {
    const start = r.pos;
    const { field, wire } = r.tag();
    if (wire !== WireType.LEN) {
      unknown.push(r.skipKeep(start, wire));
      continue;
    }
    switch (field) {
      case 1:
        n.inputs.push(r.string());
        break;
      case 2:
        n.outputs.push(r.string());
        break;
      case 3:
        n.name = r.string();
        break;
      case 4:
        n.opType = r.string();
        break;
      case 5:
        n.attributes.push(decodeAttribute(r.message(), baseDir, depth));
        break;
      case 6:
        n.docString = r.string();
        break;
      case 7:
        n.domain = r.string();
        break;
      default:
        unknown.push(r.skipKeep(start, wire));
    }
  }
  if (unknown.length) n.unknown = unknown;
  return n;
}

function decodeAttribute(r: WireReader, baseDir: string | undefined, depth: number): Attribute {
  const a: Attribute = { name: '', type: AttributeType.UNDEFINED };
  const unknown: Uint8Array[] = [];
  while (!r.done) {
    const start = r.pos;
    const { field, wire } = r.tag();
    if (field === 1 && wire === WireType.LEN) a.name = r.string();
    else if (field === 20 && wire === WireType.VARINT) a.type = r.uint32();
    else if (field === 2 && wire === WireType.I32) a.f = r.float();
    else if (field === 3 && wire === WireType.VARINT) a.i = r.int64();
    else if (field === 4 && wire === WireType.LEN) a.s = r.bytes();
    else if (field === 5 && wire === WireType.LEN) a.t = decodeTensor(r.message(), baseDir);
    else if (field === 6 && wire === WireType.LEN) a.g = decodeGraph(r.message(), baseDir, depth + 1);
    else if (field === 7) (a.floats ??= []).push(...readFloats(r, wire));
    else if (field === 8) (a.ints ??= []).push(...readInt64s(r, wire));
    else if (field === 9 && wire === WireType.LEN) (a.strings ??= []).push(r.bytes());
    else if (field === 10 && wire === WireType.LEN) (a.tensors ??= []).push(decodeTensor(r.message(), baseDir));
    else if (field === 11 && wire === WireType.LEN) (a.graphs ??= []).push(decodeGraph(r.message(), baseDir, depth + 1));
    else if (field === 13 && wire === WireType.LEN) a.docString = r.string();
    else if (field === 21 && wire === WireType.LEN) a.refAttrName = r.string();
    else unknown.push(r.skipKeep(start, wire));
  }
  if (a.type === AttributeType.UNDEFINED) a.type = inferAttributeType(a);
  if (unknown.length) a.unknown = unknown;
  return a;
}

// IR version 1-2 files may omit AttributeProto.type; infer it from the field that is set.
function inferAttributeType(a: Attribute): AttributeType {
  if (a.f !== undefined) return AttributeType.FLOAT;
  if (a.i !== undefined) return AttributeType.INT;
  if (a.s !== undefined) return AttributeType.STRING;
  if (a.t) return AttributeType.TENSOR;
  if (a.g) return AttributeType.GRAPH;
  if (a.floats) return AttributeType.FLOATS;
  if (a.ints) return AttributeType.INTS;
  if (a.strings) return AttributeType.STRINGS;
  if (a.tensors) return AttributeType.TENSORS;
  if (a.graphs) return AttributeType.GRAPHS;
  return AttributeType.UNDEFINED;
}

function readFloats(r: WireReader, wire: number): number[] {
  if (wire === WireType.I32) return [r.float()];
  if (wire === WireType.LEN) return Array.from(r.packedFixed(Float32Array));
  throw new WireError(`float list with wire type ${wire}`, r.pos);
}

function readInt64s(r: WireReader, wire: number): number[] {
  if (wire === WireType.VARINT) return [r.int64()];
  if (wire === WireType.LEN) {
    const m = r.message();
    const out: number[] = [];
    while (!m.done) out.push(m.int64());
    return out;
  }
  throw new WireError(`integer list with wire type ${wire}`, r.pos);
}

/** push(...values) without spreading: a large packed field would exceed the call's argument limit. */
function append<T>(to: T[], values: T[]): void {
  for (const v of values) to.push(v);
}

/** int64_data / uint64_data: exact 64-bit values (the two's-complement bits, read as unsigned). */
function readBigVarints(r: WireReader, wire: number): bigint[] {
  if (wire === WireType.VARINT) return [r.uint64Big()];
  if (wire === WireType.LEN) {
    const m = r.message();
    const out: bigint[] = [];
    while (!m.done) out.push(m.uint64Big());
    return out;
  }
  throw new WireError(`integer list with wire type ${wire}`, r.pos);
}

function decodeValueInfo(r: WireReader): ValueInfo {
  const v: ValueInfo = { name: '' };
  const unknown: Uint8Array[] = [];
  while (!r.done) {
    const start = r.pos;
    const { field, wire } = r.tag();
    if (field === 1 && wire === WireType.LEN) v.name = r.string();
    else if (field === 2 && wire === WireType.LEN) v.type = decodeType(r.message());
    else if (field === 3 && wire === WireType.LEN) v.docString = r.string();
    else unknown.push(r.skipKeep(start, wire));
  }
  if (unknown.length) v.unknown = unknown;
  return v;
}

function decodeType(r: WireReader): ValueType {
  const whole = r.buf.subarray(r.pos, r.end);
  const t: ValueType = {};
  const unknown: Uint8Array[] = [];
  let other = false;
  while (!r.done) {
    const start = r.pos;
    const { field, wire } = r.tag();
    if (field === 1 && wire === WireType.LEN) t.tensor = decodeTensorType(r.message());
    else if (field === 6 && wire === WireType.LEN) t.denotation = r.string();
    else {
      if (field === 4 || field === 5 || field === 8 || field === 9) other = true;
      unknown.push(r.skipKeep(start, wire));
    }
  }
  // Sequence, map, optional and sparse types are kept as their encoded bytes.
  if (other && !t.tensor) return { opaque: whole };
  if (unknown.length) t.unknown = unknown;
  return t;
}

function decodeTensorType(r: WireReader): TensorType {
  const t: TensorType = { elemType: DataType.UNDEFINED };
  const unknown: Uint8Array[] = [];
  while (!r.done) {
    const start = r.pos;
    const { field, wire } = r.tag();
    if (field === 1 && wire === WireType.VARINT) t.elemType = r.uint32();
    else if (field === 2 && wire === WireType.LEN) {
      t.shape = [];
      const s = r.message();
      while (!s.done) {
        const { field: f, wire: w } = s.tag();
        if (f === 1 && w === WireType.LEN) t.shape.push(decodeDim(s.message()));
        else s.skip(w);
      }
    } else unknown.push(r.skipKeep(start, wire));
  }
  if (unknown.length) t.unknown = unknown;
  return t;
}

function decodeDim(r: WireReader): Dim {
  const d: Dim = {};
  const unknown: Uint8Array[] = [];
  while (!r.done) {
    const start = r.pos;
    const { field, wire } = r.tag();
    if (field === 1 && wire === WireType.VARINT) d.value = r.int64();
    else if (field === 2 && wire === WireType.LEN) d.param = r.string();
    else if (field === 3 && wire === WireType.LEN) d.denotation = r.string();
    else unknown.push(r.skipKeep(start, wire));
  }
  if (unknown.length) d.unknown = unknown;
  return d;
}

interface RawTensorFields {
  floatData?: Float32Array[];
  int32Data?: number[];
  int64Data?: bigint[];
  doubleData?: Float64Array[];
  uint64Data?: bigint[];
  rawData?: Uint8Array;
  external?: { key: string; value: string }[];
  dataLocation?: number;
}

export function decodeTensor(r: WireReader, baseDir?: string): Tensor {
  const t: Tensor = { name: '', dtype: DataType.UNDEFINED, dims: [], data: new Float32Array(0) };
  const f: RawTensorFields = {};
  const strings: Uint8Array[] = [];
  const unknown: Uint8Array[] = [];
  while (!r.done) {
    const start = r.pos;
    const { field, wire } = r.tag();
    if (field === 1) {
      if (wire === WireType.VARINT) t.dims.push(r.int64());
      else if (wire === WireType.LEN) {
        const m = r.message();
        while (!m.done) t.dims.push(m.int64());
      } else r.skip(wire);
    } else if (field === 2 && wire === WireType.VARINT) t.dtype = r.uint32();
    else if (field === 4) {
      if (wire === WireType.LEN) (f.floatData ??= []).push(r.packedFixed(Float32Array));
      else (f.floatData ??= []).push(new Float32Array([r.float()]));
    } else if (field === 5) append((f.int32Data ??= []), readInt64s(r, wire));
    else if (field === 6 && wire === WireType.LEN) strings.push(r.bytes());
    else if (field === 7) append((f.int64Data ??= []), readBigVarints(r, wire));
    else if (field === 8 && wire === WireType.LEN) t.name = r.string();
    // 4-byte aligned when the reader may move bytes: float32/int32 data is then viewed, not copied.
    else if (field === 9 && wire === WireType.LEN) f.rawData = r.alignedBytes(4, start);
    else if (field === 10) {
      if (wire === WireType.LEN) (f.doubleData ??= []).push(r.packedFixed(Float64Array));
      else (f.doubleData ??= []).push(new Float64Array([r.double()]));
    } else if (field === 11) append((f.uint64Data ??= []), readBigVarints(r, wire));
    else if (field === 12 && wire === WireType.LEN) t.docString = r.string();
    else if (field === 13 && wire === WireType.LEN) (f.external ??= []).push(decodeStringEntry(r.message()));
    else if (field === 14 && wire === WireType.VARINT) f.dataLocation = r.uint32();
    else unknown.push(r.skipKeep(start, wire));
  }
  if (unknown.length) t.unknown = unknown;
  for (const d of t.dims) {
    if (d < 0 || !Number.isSafeInteger(d)) {
      throw new BncError(`initializer '${t.name}' has an invalid dimension ${d}`, { code: 'CORRUPT' });
    }
  }
  if (t.dtype === DataType.STRING) {
    t.data = strings;
    return t;
  }
  if (f.dataLocation === 1) f.rawData = readExternalData(t, f.external ?? [], baseDir);
  fillTensorData(t, f);
  return t;
}

function readExternalData(t: Tensor, entries: { key: string; value: string }[], baseDir?: string): Uint8Array {
  const get = (k: string) => entries.find((e) => e.key === k)?.value;
  const location = get('location');
  if (!location) throw new BncError(`tensor '${t.name}' is stored externally but names no location`, { code: 'CORRUPT' });
  if (path.isAbsolute(location) || location.split(/[\\/]/).includes('..')) {
    throw new BncError(`tensor '${t.name}': external data location '${location}' must be a path inside the model's folder`);
  }
  const file = path.join(baseDir ?? '.', location);
  const offset = Number(get('offset') ?? 0);
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch {
    throw new BncError(`tensor '${t.name}': external data file '${file}' not found (it must sit beside the model)`, {
      file,
      code: 'NOT_FOUND',
    });
  }
  try {
    const size = fs.fstatSync(fd).size;
    const length = get('length') !== undefined ? Number(get('length')) : size - offset;
    if (!(offset >= 0 && length >= 0 && offset + length <= size)) {
      throw new BncError(
        `tensor '${t.name}': external data range ${offset}+${length} is outside '${file}' (${size} bytes)`,
        { file, code: 'CORRUPT' },
      );
    }
    const buf = Buffer.allocUnsafe(length);
    fs.readSync(fd, buf, 0, length, offset);
    return buf;
  } finally {
    fs.closeSync(fd);
  }
}

// Element types that ONNX stores in int32_data (one value per int32 slot).
function fromInt32Slots(dtype: DataType, values: number[], n: number): TypedArray {
  const ctor = storageOf(dtype)!;
  const out = new ctor(n) as Exclude<TypedArray, BigInt64Array | BigUint64Array>;
  for (let i = 0; i < n; i++) out[i] = values[i]!;
  return out;
}

// 64-bit slots (int64_data, uint64_data) into the dtype's storage: BigInt arrays keep every bit, narrower
// integer types take the low bits as a C cast would.
function fromBigSlots(dtype: DataType, values: bigint[]): TypedArray {
  if (dtype === DataType.INT64) return BigInt64Array.from(values, (v) => BigInt.asIntN(64, v));
  if (dtype === DataType.UINT64) return BigUint64Array.from(values, (v) => BigInt.asUintN(64, v));
  const ctor = storageOf(dtype)!;
  const out = new ctor(values.length) as Exclude<TypedArray, BigInt64Array | BigUint64Array>;
  for (let i = 0; i < values.length; i++) out[i] = Number(BigInt.asIntN(64, values[i]!));
  return out;
}

function fillTensorData(t: Tensor, f: RawTensorFields): void {
  const n = elementCount(t.dims);
  const what = `initializer '${t.name}' (${dtypeName(t.dtype)}, dims [${t.dims.join(', ')}])`;
  const ctor = storageOf(t.dtype);
  if (!ctor) {
    // Sub-byte and other types bnc does not unpack: keep the payload bytes as they are.
    if (t.dtype === DataType.UNDEFINED) throw new BncError(`${what} has no data type`, { code: 'CORRUPT' });
    t.raw = f.rawData ?? new Uint8Array(0);
    t.data = new Uint8Array(0);
    if (f.int32Data) t.raw = Uint8Array.from(f.int32Data);
    return;
  }
  const slots = n * (t.dtype === DataType.COMPLEX64 || t.dtype === DataType.COMPLEX128 ? 2 : 1);
  let data: TypedArray;
  if (f.rawData) {
    const expected = slots * ctor.BYTES_PER_ELEMENT;
    if (f.rawData.length !== expected) {
      throw new BncError(`${what} holds ${f.rawData.length} bytes, expected ${expected}`, { code: 'CORRUPT' });
    }
    data = ctor.BYTES_PER_ELEMENT === 1 ? new ctor(f.rawData.buffer, f.rawData.byteOffset, slots) : viewAs(f.rawData, ctor as never);
  } else if (f.floatData) {
    data = concatTyped(f.floatData, Float32Array);
  } else if (f.doubleData) {
    data = concatTyped(f.doubleData, Float64Array);
  } else if (f.int64Data) {
    data = fromBigSlots(t.dtype, f.int64Data);
  } else if (f.uint64Data) {
    // uint64_data holds uint32 and uint64 elements (onnx.proto).
    data = fromBigSlots(t.dtype, f.uint64Data);
  } else if (f.int32Data) {
    data = fromInt32Slots(t.dtype, f.int32Data, f.int32Data.length);
  } else {
    data = new ctor(0);
  }
  if (data.length !== slots) {
    throw new BncError(`${what} holds ${data.length} values, expected ${slots}`, { code: 'CORRUPT' });
  }
  t.data = data;
}

function concatTyped<T extends Float32Array | Float64Array>(parts: T[], ctor: { new (n: number): T }): T {
  if (parts.length === 1) return parts[0]!;
  const out = new ctor(parts.reduce((s, p) => s + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
