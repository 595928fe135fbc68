import * as fs from 'node:fs';
import { BncError } from '../ir/index.js';

/** NumPy .npy arrays bnc reads and writes: little-endian, C order, these element types. */
export type NpyDtype = 'float32' | 'float64' | 'int64' | 'int32' | 'uint8';
export type NpyData = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: NpyData;
}

const DESCR: Record<string, NpyDtype> = { '<f4': 'float32', '<f8': 'float64', '<i8': 'int64', '<i4': 'int32', '|u1': 'uint8', '<u1': 'uint8' };
const CTOR = { float32: Float32Array, float64: Float64Array, int64: BigInt64Array, int32: Int32Array, uint8: Uint8Array };
const DESCR_OF: Record<NpyDtype, string> = { float32: '<f4', float64: '<f8', int64: '<i8', int32: '<i4', uint8: '|u1' };
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
    throw bad(`element type '${descr}' is not supported (bnc reads little-endian float32, float64, int64, int32 and uint8)`);
  }
  if (fortran === 'True') throw bad('Fortran-order arrays are not supported; save with np.ascontiguousarray');
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length)
    .map((s) => Number(s));
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw bad(`invalid shape (${shapeText})`);
  const count = shape.reduce((a, b) => a * b, 1);
  const ctor = CTOR[dtype];
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

export function dtypeOfArray(data: NpyData): NpyDtype {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int32Array) return 'int32';
  return 'uint8';
}

export function encodeNpy(shape: readonly number[], data: NpyData): Uint8Array {
  const descr = DESCR_OF[dtypeOfArray(data)];
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
