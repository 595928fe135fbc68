import { DataType, TypedArray, dtypeName, float16BitsToNumber, bfloat16BitsToNumber, storageOf } from './dtype.js';

/**
 * Encoded protobuf fields a reader did not understand, kept verbatim (tag included) so a writer can emit
 * them again. This is how fields newer than the schema we know survive a round trip.
 */
export type UnknownFields = Uint8Array[];

/**
 * A constant tensor. `data` holds the elements in the typed array that storageOf(dtype) names; strings
 * are byte strings; dtypes without a typed array here (int4, float4) keep their packed bytes in `raw`.
 */
export interface Tensor {
  name: string;
  dtype: DataType;
  dims: number[];
  data: TypedArray | Uint8Array[];
  /** Packed bytes for dtypes the IR does not unpack (sub-byte types); data is then an empty Uint8Array. */
  raw?: Uint8Array;
  docString?: string;
  unknown?: UnknownFields;
}

export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

export function createTensor(name: string, dtype: DataType, dims: number[], data?: TypedArray): Tensor {
  const ctor = storageOf(dtype);
  if (!ctor) throw new Error(`cannot create a tensor of type ${dtypeName(dtype)}`);
  return { name, dtype, dims: [...dims], data: data ?? new ctor(elementCount(dims)) };
}

/** Byte size of the tensor's payload (what it costs in a model file). */
export function tensorByteSize(t: Tensor): number {
  if (t.raw) return t.raw.byteLength;
  if (Array.isArray(t.data)) return t.data.reduce((s, b) => s + b.byteLength, 0);
  return (t.data as TypedArray).byteLength;
}

/** Logical element count of a tensor's payload, from dims. */
export function tensorSize(t: Tensor): number {
  return elementCount(t.dims);
}

/** Element values as float64 numbers (for passes that fold constants); throws for non-numeric types. */
export function tensorToFloat64(t: Tensor): Float64Array {
  const n = elementCount(t.dims);
  const out = new Float64Array(n);
  const d = t.data;
  if (Array.isArray(d)) throw new Error(`tensor '${t.name}' holds strings, not numbers`);
  if (t.dtype === DataType.FLOAT16) {
    for (let i = 0; i < n; i++) out[i] = float16BitsToNumber((d as Uint16Array)[i]!);
  } else if (t.dtype === DataType.BFLOAT16) {
    for (let i = 0; i < n; i++) out[i] = bfloat16BitsToNumber((d as Uint16Array)[i]!);
  } else if (d instanceof BigInt64Array || d instanceof BigUint64Array) {
    for (let i = 0; i < n; i++) out[i] = Number(d[i]!);
  } else if (storageOf(t.dtype)) {
    const arr = d as Exclude<TypedArray, BigInt64Array | BigUint64Array>;
    for (let i = 0; i < n; i++) out[i] = arr[i]!;
  } else {
    throw new Error(`tensor '${t.name}' has type ${dtypeName(t.dtype)}, which bnc cannot read as numbers`);
  }
  return out;
}

/** Element values as plain integers (shape tensors, axes); int64 values beyond 2^53 saturate. */
export function tensorToIntegers(t: Tensor): number[] {
  return Array.from(tensorToFloat64(t), (v) => (Number.isFinite(v) ? Math.trunc(v) : v));
}
