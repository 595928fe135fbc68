// Element types. The numbers are ONNX TensorProto.DataType so they survive a round trip unchanged,
// including the newer ones (float8, int4, ...) that the IR keeps as raw bytes without interpreting.
export enum DataType {
  UNDEFINED = 0,
  FLOAT = 1,
  UINT8 = 2,
  INT8 = 3,
  UINT16 = 4,
  INT16 = 5,
  INT32 = 6,
  INT64 = 7,
  STRING = 8,
  BOOL = 9,
  FLOAT16 = 10,
  DOUBLE = 11,
  UINT32 = 12,
  UINT64 = 13,
  COMPLEX64 = 14,
  COMPLEX128 = 15,
  BFLOAT16 = 16,
  FLOAT8E4M3FN = 17,
  FLOAT8E4M3FNUZ = 18,
  FLOAT8E5M2 = 19,
  FLOAT8E5M2FNUZ = 20,
  UINT4 = 21,
  INT4 = 22,
  FLOAT4E2M1 = 23,
}

export type TypedArray =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

type ArrayCtor = { new (n: number): TypedArray; new (b: ArrayBufferLike, off: number, len: number): TypedArray; BYTES_PER_ELEMENT: number };

// How each dtype is held in memory. float16/bfloat16 keep their bit patterns in a Uint16Array;
// bool is one byte per element; complex types hold interleaved (re, im) pairs.
const STORAGE: Partial<Record<DataType, ArrayCtor>> = {
  [DataType.FLOAT]: Float32Array,
  [DataType.DOUBLE]: Float64Array,
  [DataType.UINT8]: Uint8Array,
  [DataType.INT8]: Int8Array,
  [DataType.UINT16]: Uint16Array,
  [DataType.INT16]: Int16Array,
  [DataType.INT32]: Int32Array,
  [DataType.UINT32]: Uint32Array,
  [DataType.INT64]: BigInt64Array,
  [DataType.UINT64]: BigUint64Array,
  [DataType.BOOL]: Uint8Array,
  [DataType.FLOAT16]: Uint16Array,
  [DataType.BFLOAT16]: Uint16Array,
  [DataType.COMPLEX64]: Float32Array,
  [DataType.COMPLEX128]: Float64Array,
  [DataType.FLOAT8E4M3FN]: Uint8Array,
  [DataType.FLOAT8E4M3FNUZ]: Uint8Array,
  [DataType.FLOAT8E5M2]: Uint8Array,
  [DataType.FLOAT8E5M2FNUZ]: Uint8Array,
};

/** Typed-array class that holds elements of `dtype`, or undefined for string and sub-byte types. */
export function storageOf(dtype: DataType): ArrayCtor | undefined {
  return STORAGE[dtype];
}

/** Number of storage slots per logical element (2 for complex types). */
export function slotsPerElement(dtype: DataType): number {
  return dtype === DataType.COMPLEX64 || dtype === DataType.COMPLEX128 ? 2 : 1;
}

/** Bytes per element in ONNX raw_data, or undefined for strings; sub-byte types report 0.5. */
export function bytesPerElement(dtype: DataType): number | undefined {
  if (dtype === DataType.UINT4 || dtype === DataType.INT4 || dtype === DataType.FLOAT4E2M1) return 0.5;
  const ctor = STORAGE[dtype];
  return ctor ? ctor.BYTES_PER_ELEMENT * slotsPerElement(dtype) : undefined;
}

export function dtypeName(dtype: DataType): string {
  return DataType[dtype]?.toLowerCase() ?? `dtype(${dtype})`;
}

export function isFloatType(dtype: DataType): boolean {
  return (
    dtype === DataType.FLOAT ||
    dtype === DataType.DOUBLE ||
    dtype === DataType.FLOAT16 ||
    dtype === DataType.BFLOAT16
  );
}

// float16 <-> float32 conversion: bit manipulation, used only when a pass must change float16 weights.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function float16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Round-to-nearest-even conversion of a number to float16 bits. */
export function numberToFloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

export function bfloat16BitsToNumber(h: number): number {
  u32[0] = h << 16;
  return f32[0]!;
}

/** Round-to-nearest-even conversion of a number (first rounded to float32) to bfloat16 bits; NaN stays NaN. */
export function numberToBfloat16Bits(value: number): number {
  f32[0] = value;
  const x = u32[0]!;
  if ((x & 0x7fffffff) > 0x7f800000) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}
