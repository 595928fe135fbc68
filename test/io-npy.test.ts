import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataType, Model, TypedArray, emptyGraph, tensorValueInfo } from '../src/ir/index.js';
import { serializeOnnx } from '../src/formats/onnx/index.js';
import { NpyDtype, encodeNpy, npyToTensor, parseNpy, readNpy } from '../src/io/npy.js';
import { bnc } from './helpers/cli.js';

// .npy of every numeric NumPy type: parsed from headers written as numpy writes them (format spec:
// magic, version 1.0, little-endian header length, a dict with 'descr', 'fortran_order', 'shape',
// space-padded to 64 bytes), and carried through `bnc run --input` / `--save-outputs` unchanged.

/** Bytes of a version-1.0 .npy file, header written out by hand. */
function npyBytes(descr: string, shape: number[], data: TypedArray): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  header += ' '.repeat(64 - ((10 + header.length + 1) % 64 || 64)) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length & 0xff, header.length >> 8]);
  out.set(Buffer.from(header, 'latin1'), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

const CASES: { dtype: NpyDtype; descr: string; data: TypedArray; type: DataType }[] = [
  { dtype: 'int8', descr: '|i1', data: Int8Array.of(-128, -1, 0, 127), type: DataType.INT8 },
  { dtype: 'int16', descr: '<i2', data: Int16Array.of(-32768, -2, 3, 32767), type: DataType.INT16 },
  { dtype: 'uint16', descr: '<u2', data: Uint16Array.of(0, 1, 40000, 65535), type: DataType.UINT16 },
  { dtype: 'uint32', descr: '<u4', data: Uint32Array.of(0, 7, 3000000000, 4294967295), type: DataType.UINT32 },
  { dtype: 'uint64', descr: '<u8', data: BigUint64Array.of(0n, 9n, 2n ** 63n, 2n ** 64n - 1n), type: DataType.UINT64 },
  { dtype: 'bool', descr: '|b1', data: Uint8Array.of(1, 0, 0, 1), type: DataType.BOOL },
  { dtype: 'uint8', descr: '|u1', data: Uint8Array.of(0, 1, 128, 255), type: DataType.UINT8 },
  { dtype: 'int32', descr: '<i4', data: Int32Array.of(-5, 0, 5, 2147483647), type: DataType.INT32 },
  { dtype: 'int64', descr: '<i8', data: BigInt64Array.of(-(2n ** 63n), -1n, 0n, 2n ** 62n), type: DataType.INT64 },
  { dtype: 'float64', descr: '<f8', data: Float64Array.of(-1.5, 0, 1e300, Math.PI), type: DataType.DOUBLE },
];

describe('.npy element types', () => {
  for (const c of CASES) {
    it(`${c.dtype} ('${c.descr}') parses, maps to ONNX ${DataType[c.type]}, and encodes back byte for byte`, () => {
      const bytes = npyBytes(c.descr, [2, 2], c.data);
      const a = parseNpy(bytes);
      expect(a.dtype).toBe(c.dtype);
      expect(a.shape).toEqual([2, 2]);
      expect(Array.from(a.data as ArrayLike<unknown>)).toEqual(Array.from(c.data as ArrayLike<unknown>));
      expect(npyToTensor(a).dtype).toBe(c.type);
      expect(Buffer.from(encodeNpy(a.shape, a.data, a.dtype)).equals(Buffer.from(bytes))).toBe(true);
    });
  }
  it("float16 ('<f2') is read as its bit patterns and widened to float32 for the runtime", () => {
    // IEEE half: 0x3c00 = 1, 0xc000 = -2, 0x3555 = 0.333251953125, 0x7c00 = +inf.
    const a = parseNpy(npyBytes('<f2', [4], Uint16Array.of(0x3c00, 0xc000, 0x3555, 0x7c00)));
    expect(a.dtype).toBe('float16');
    const t = npyToTensor(a);
    expect(t.dtype).toBe(DataType.FLOAT);
    expect(Array.from(t.data as Float32Array)).toEqual([1, -2, 0.333251953125, Infinity]);
  });
  it('one-byte types written with the < byte-order mark, and uint8 for a bool input', () => {
    expect(parseNpy(npyBytes('<i1', [1], Int8Array.of(-3))).dtype).toBe('int8');
    expect(npyToTensor(parseNpy(npyBytes('|u1', [1], Uint8Array.of(1))), DataType.BOOL).dtype).toBe(DataType.BOOL);
  });
  it('big-endian, string and complex arrays are refused with the list of types bnc reads', () => {
    for (const descr of ['>i4', '<U3', '<c8', '|O']) {
      expect(() => parseNpy(npyBytes(descr, [1], Int32Array.of(0)), 'x.npy')).toThrow(/x\.npy: .*'.*' is not supported .*int8, int16/);
    }
  });
});

describe('bnc run with every numeric .npy type', () => {
  it('feeds each type to a model input and saves the output in the same type', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-npy-'));
    const graph = emptyGraph('types');
    const all = [...CASES, { dtype: 'float16' as NpyDtype, descr: '<f2', data: Uint16Array.of(0x3c00, 0xc000, 0x3555, 0x0001), type: DataType.FLOAT16 }];
    const args = ['run', path.join(dir, 'model.onnx'), '--save-outputs', path.join(dir, 'out'), '--quiet'];
    all.forEach((c, i) => {
      graph.inputs.push(tensorValueInfo(`in${i}`, c.type, [2, 2]));
      graph.outputs.push(tensorValueInfo(`out${i}`, c.type, [2, 2]));
      graph.nodes.push({ name: `id${i}`, opType: 'Identity', domain: '', inputs: [`in${i}`], outputs: [`out${i}`], attributes: [] });
      fs.writeFileSync(path.join(dir, `in${i}.npy`), npyBytes(c.descr, [2, 2], c.data));
      args.push('--input', `in${i}=${path.join(dir, `in${i}.npy`)}`);
    });
    const model: Model = { irVersion: 8, opsetImports: [{ domain: '', version: 13 }], metadataProps: [], graph };
    fs.writeFileSync(path.join(dir, 'model.onnx'), serializeOnnx(model));
    const r = bnc(args);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    CASES.forEach((c, i) => {
      const out = readNpy(path.join(dir, 'out', `out${i}.npy`));
      expect(out.dtype, c.dtype).toBe(c.dtype);
      expect(Array.from(out.data as ArrayLike<unknown>)).toEqual(Array.from(c.data as ArrayLike<unknown>));
    });
    // float16 runs (and is saved) as float32: 0x0001 is the smallest subnormal, 2^-24.
    const half = readNpy(path.join(dir, 'out', `out${CASES.length}.npy`));
    expect(half.dtype).toBe('float32');
    expect(Array.from(half.data as Float32Array)).toEqual([1, -2, 0.333251953125, 2 ** -24]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
