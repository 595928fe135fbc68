import * as fs from 'node:fs';
import { BncError, DataType, TypedArray, float16BitsToNumber } from '../ir/index.js';

/**
 * NumPy .npy arrays bnc reads and writes: little-endian, C order, every numeric NumPy type. float16 data is
 * kept as its bit patterns (Uint16Array), bool as one byte per element.
 */
export type NpyDtype = 'float16' | 'float32' | 'float64' | 'int8' | 'int16' | 'int32' | 'int64' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'bool';
export type NpyData = TypedArray;

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: NpyData;
}

type Ctor = { new (b: ArrayBufferLike, off: number, len: number): TypedArray; new (n: number): TypedArray; BYTES_PER_ELEMENT: number };

/** Per dtype: its descr in the header, its storage, and the ONNX element type it holds. */
const TYPES: Record<NpyDtype, { descr: string; ctor: Ctor; type: DataType }> = {
  float16: { descr: '<f2', ctor: Uint16Array, type: DataType.FLOAT16 },
  float32: { descr: '<f4', ctor: Float32Array, type: DataType.FLOAT },
  float64: { descr: '<f8', ctor: Float64Array, type: DataType.DOUBLE },
  int8: { descr: '|i1', ctor: Int8Array, type: DataType.INT8 },
  int16: { descr: '<i2', ctor: Int16Array, type: DataType.INT16 },
  int32: { descr: '<i4', ctor: Int32Array, type: DataType.INT32 },
  int64: { descr: '<i8', ctor: BigInt64Array, type: DataType.INT64 },
  uint8: { descr: '|u1', ctor: Uint8Array, type: DataType.UINT8 },
  uint16: { descr: '<u2', ctor: Uint16Array, type: DataType.UINT16 },
  uint32: { descr: '<u4', ctor: Uint32Array, type: DataType.UINT32 },
  uint64: { descr: '<u8', ctor: BigUint64Array, type: DataType.UINT64 },
  bool: { descr: '|b1', ctor: Uint8Array, type: DataType.BOOL },
};
const DESCR: Record<string, NpyDtype> = {};
for (const [name, t] of Object.entries(TYPES) as [NpyDtype, (typeof TYPES)[NpyDtype]][]) {
  DESCR[t.descr] = name;
  // One-byte types may be written with either byte-order mark ('|' is numpy's own).
  if (t.descr.startsWith('|')) DESCR[`<${t.descr.slice(1)}`] = name;
}
const SUPPORTED = Object.keys(TYPES).join(', ');

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export function parseNpy(bytes: Uint8Array, file = '<buffer>'): NpyArray {
  const bad = (why: string) => new BncError(`${file}: not a readable .npy file: ${why}`, { file, code: 'BAD_NPY' });
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw bad('missing the \\x93NUMPY magic');
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let offset: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    offset = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw bad('truncated header');
    headerLen = view.getUint32(8, true);
    offset = 12;
  } else throw bad(`format version ${major} is not supported`);
  if (offset + headerLen > bytes.length) throw bad('truncated header');
  const header = new TextDecoder('latin1').decode(bytes.subarray(offset, offset + headerLen));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw bad('malformed header');
  const dtype = DESCR[descr];
  if (!dtype) {
    throw bad(`element type '${descr}' is not supported (bnc reads little-endian ${SUPPORTED}; strings, objects and complex numbers are not tensors bnc can run)`);
  }
  if (fortran === 'True') throw bad('Fortran-order arrays are not supported; save with np.ascontiguousarray');
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length)
    .map((s) => Number(s));
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw bad(`invalid shape (${shapeText})`);
  const count = shape.reduce((a, b) => a * b, 1);
  const ctor = TYPES[dtype].ctor;
  const start = offset + headerLen;
  const need = count * ctor.BYTES_PER_ELEMENT;
  if (bytes.length - start < need) throw bad(`data is truncated: ${bytes.length - start} bytes for ${count} elements`);
  // Copy into a fresh, aligned buffer: the array outlives the file buffer and must be writable on its own.
  const copy = new Uint8Array(need);
  copy.set(bytes.subarray(start, start + need));
  return { dtype, shape, data: new ctor(copy.buffer, 0, count) };
}

export function readNpy(file: string): NpyArray {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new BncError(`${file}: ${code === 'EISDIR' ? 'is a directory' : 'cannot read the file'}`, { file, code: 'NOT_FOUND' });
  }
  return parseNpy(bytes, file);
}

/** The .npy type of an array when the array alone tells (Uint8Array: uint8, Uint16Array: uint16). */
export function dtypeOfArray(data: NpyData): NpyDtype {
  for (const [name, t] of Object.entries(TYPES) as [NpyDtype, (typeof TYPES)[NpyDtype]][]) {
    if (data instanceof t.ctor && name !== 'bool' && name !== 'float16') return name;
  }
  throw new Error(`no .npy type holds a ${data.constructor.name}`);
}

/** The ONNX element type of a .npy type. */
export function npyElementType(dtype: NpyDtype): DataType {
  return TYPES[dtype].type;
}

/** The .npy type of an ONNX element type, or undefined for types .npy cannot hold as numbers (string, complex, ...). */
export function npyDtypeOf(type: DataType): NpyDtype | undefined {
  return (Object.keys(TYPES) as NpyDtype[]).find((name) => TYPES[name].type === type);
}

/**
 * An array as a runtime value for an input declared `declared`: float16 widened to float32 (as the runtime
 * holds float16), and uint8 accepted for a bool input (files bnc wrote before it wrote bool).
 */
export function npyToTensor(array: NpyArray, declared?: DataType): { dtype: DataType; dims: number[]; data: TypedArray } {
  if (array.dtype === 'float16') {
    const bits = array.data as Uint16Array;
    const data = new Float32Array(bits.length);
    for (let i = 0; i < bits.length; i++) data[i] = float16BitsToNumber(bits[i]!);
    return { dtype: DataType.FLOAT, dims: array.shape, data };
  }
  const dtype = array.dtype === 'uint8' && declared === DataType.BOOL ? DataType.BOOL : TYPES[array.dtype].type;
  return { dtype, dims: array.shape, data: array.data };
}

export function encodeNpy(shape: readonly number[], data: NpyData, dtype: NpyDtype = dtypeOfArray(data)): Uint8Array {
  const descr = TYPES[dtype].descr;
  if (!(data instanceof TYPES[dtype].ctor)) throw new Error(`${dtype} data must be a ${TYPES[dtype].ctor.name}`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // Pad with spaces so the data starts at a multiple of 64 bytes, ending in a newline.
  const total = Math.ceil((10 + header.length + 1) / 64) * 64;
  header = header + ' '.repeat(total - 10 - header.length - 1) + '\n';
  const out = new Uint8Array(total + data.byteLength);
  out.set([...MAGIC, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), total);
  return out;
}

/** File name for a tensor: characters other than letters, digits, '_', '.', '-' become '_'. */
export function npyFileName(name: string, prefix = ''): string {
  return `${prefix}${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.npy`;
}
