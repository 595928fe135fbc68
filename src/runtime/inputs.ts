import { BncError, DataType, ValueInfo, dtypeName } from '../ir/index.js';
import { RtTensor } from './kernel.js';
import { checkTensorInput, runtimeTypeOf } from './engine.js';
import { fillNormal, mulberry32 } from '../util/seededRandom.js';

/**
 * What the user said about generated inputs (--input-shape, --input-range), by input name.
 *   shapes: the dims to use; each must agree with the declaration's rank and fixed dims (see resolveDims).
 *   ranges: [low, high]: floats uniform in [low, high), integers uniform in low..high (inclusive).
 */
export interface InputOverrides {
  shapes?: ReadonlyMap<string, readonly number[]>;
  ranges?: ReadonlyMap<string, readonly [number, number]>;
}

/**
 * Seeded inputs for models run without --input. The documented distribution:
 *   - float32 / float64 / float16 / bfloat16 inputs: standard normal N(0, 1) (float16 inputs run as float32);
 *   - integer inputs (int64, int32, int16, int8, uint8, ...): uniform integers 0..9;
 *   - bool inputs: 0 or 1 with equal probability;
 *   - with overrides.ranges: uniform in the given range instead (floats [low, high), integers low..high);
 *   - symbolic or unknown dimensions are taken as 1 unless overrides.shapes gives the input's dims.
 * The generator is mulberry32, normal values by Box-Muller. Input k (in the order given) draws from its own
 * stream seeded by (seed, k), so one input's values do not depend on the shapes of the others.
 */
export function generateInputs(inputs: ValueInfo[], seed: number, overrides: InputOverrides = {}): Map<string, RtTensor> {
  const out = new Map<string, RtTensor>();
  inputs.forEach((vi, k) =>
    out.set(vi.name, generateInput(vi, streamSeed(seed, k), overrides.shapes?.get(vi.name), overrides.ranges?.get(vi.name))),
  );
  return out;
}

/** A dim the model leaves open (symbolic or unknown) and the size used for it. */
export interface OpenDim {
  dim: number;
  /** The symbol ('N', 'height'), or '?' for an unknown dim. */
  name: string;
  size: number;
}

/**
 * Concrete dims of a declared input: `override` (from --input-shape) when given, else the declaration with
 * 1 for symbolic and unknown dims. An override must have the declared rank and keep every fixed dim, as
 * onnxruntime requires of a fed tensor ("Got invalid dimensions for input"); only open dims may change.
 * Throws a USAGE error naming the input and the dim otherwise.
 */
export function concreteDims(vi: ValueInfo, override?: readonly number[]): number[] {
  checkTensorInput(vi);
  const shape = vi.type?.tensor?.shape;
  if (!shape) {
    if (override) return [...override];
    throw new BncError(
      `input '${vi.name}' declares no shape, so bnc cannot generate it; give it with --input-shape ${vi.name}=D0,D1,... or --input ${vi.name}=file.npy`,
      { code: 'INPUT_MISMATCH' },
    );
  }
  const declared = shape.map((d) => (d.value !== undefined && d.value >= 0 ? String(d.value) : d.param || '?'));
  if (override) {
    if (override.length !== shape.length) {
      throw new BncError(
        `--input-shape ${vi.name}=${override.join(',')}: the model declares ${shape.length} dims [${declared.join(', ')}], not ${override.length}`,
        { code: 'USAGE' },
      );
    }
    shape.forEach((d, i) => {
      if (d.value !== undefined && d.value >= 0 && d.value !== override[i]) {
        throw new BncError(
          `--input-shape ${vi.name}=${override.join(',')}: dim ${i} is fixed at ${d.value} in the model [${declared.join(', ')}]; ` +
            'only symbolic or unknown dims can be set',
          { code: 'USAGE' },
        );
      }
    });
    return [...override];
  }
  return shape.map((d) => (d.value !== undefined && d.value >= 0 ? d.value : 1));
}

/** The dims a declared input leaves open, with the size `dims` gives each. */
export function openDims(vi: ValueInfo, dims: readonly number[]): OpenDim[] {
  const shape = vi.type?.tensor?.shape ?? [];
  const open: OpenDim[] = [];
  shape.forEach((d, i) => {
    if (!(d.value !== undefined && d.value >= 0)) open.push({ dim: i, name: d.param || '?', size: dims[i] ?? 1 });
  });
  return open;
}

/**
 * The hint for an error raised while running a model whose generated inputs had open dims taken as 1
 * (the usual reason a kernel finds a window larger than its input), or undefined when none were.
 * E.g. "input 'x' dim 2 ('height') is symbolic and was taken as 1; pass --input-shape x=1,3,<height>,<width>".
 */
export function symbolicDimsHint(inputs: readonly ValueInfo[], overridden: ReadonlySet<string>): string | undefined {
  const parts: string[] = [];
  for (const vi of inputs) {
    if (overridden.has(vi.name)) continue;
    const shape = vi.type?.tensor?.shape;
    if (!shape) continue;
    const open = openDims(vi, concreteDims(vi));
    if (!open.length) continue;
    // Keep the leading (batch) dim at 1 in the suggestion; name the others after their symbols.
    const suggestion = shape.map((d, i) => (d.value !== undefined && d.value >= 0 ? String(d.value) : i === 0 ? '1' : `<${d.param || `dim${i}`}>`));
    const which = open.filter((o) => !(o.dim === 0 && shape.length > 1));
    if (!which.length) continue;
    const dims = which.map((o) => `dim ${o.dim}${o.name !== '?' ? ` ('${o.name}')` : ''}`).join(', ');
    parts.push(
      `input '${vi.name}' ${dims} ${which.length === 1 ? 'is' : 'are'} ${which.every((o) => o.name !== '?') ? 'symbolic' : 'open'} and ` +
        `${which.length === 1 ? 'was' : 'were'} taken as 1; pass --input-shape ${vi.name}=${suggestion.join(',')}`,
    );
  }
  return parts.length ? parts.join('; ') : undefined;
}

export function generateInput(vi: ValueInfo, seed: number, shape?: readonly number[], range?: readonly [number, number]): RtTensor {
  const declared = vi.type?.tensor?.elemType ?? DataType.UNDEFINED;
  const dims = concreteDims(vi, shape);
  const n = dims.reduce((a, b) => a * b, 1);
  const random = mulberry32(seed);
  const dtype = runtimeTypeOf(declared);
  if (range && dtype !== DataType.BOOL) return uniformInput(vi, dtype, dims, n, random, range);
  switch (dtype) {
    case DataType.FLOAT:
    case DataType.DOUBLE: {
      const data = dtype === DataType.FLOAT ? new Float32Array(n) : new Float64Array(n);
      fillNormal(data, random);
      return { dtype, dims, data };
    }
    case DataType.INT64: {
      const data = new BigInt64Array(n);
      for (let i = 0; i < n; i++) data[i] = BigInt(Math.floor(random() * 10));
      return { dtype, dims, data };
    }
    case DataType.INT32:
    case DataType.INT16:
    case DataType.INT8:
    case DataType.UINT8:
    case DataType.UINT16:
    case DataType.UINT32: {
      const ctor = { [DataType.INT32]: Int32Array, [DataType.INT16]: Int16Array, [DataType.INT8]: Int8Array, [DataType.UINT8]: Uint8Array, [DataType.UINT16]: Uint16Array, [DataType.UINT32]: Uint32Array }[dtype];
      const data = new ctor(n);
      for (let i = 0; i < n; i++) data[i] = Math.floor(random() * 10);
      return { dtype, dims, data };
    }
    case DataType.BOOL: {
      const data = new Uint8Array(n);
      for (let i = 0; i < n; i++) data[i] = random() < 0.5 ? 0 : 1;
      return { dtype, dims, data };
    }
    default:
      throw new BncError(`input '${vi.name}' has type ${dtypeName(declared)}, which bnc cannot generate; pass it with --input ${vi.name}=file.npy`, {
        code: 'INPUT_MISMATCH',
      });
  }
}

const INT_CTORS = {
  [DataType.INT32]: Int32Array,
  [DataType.INT16]: Int16Array,
  [DataType.INT8]: Int8Array,
  [DataType.UINT8]: Uint8Array,
  [DataType.UINT16]: Uint16Array,
  [DataType.UINT32]: Uint32Array,
} as const;

/** --input-range: floats uniform in [low, high), integers uniform in low..high inclusive. */
function uniformInput(vi: ValueInfo, dtype: DataType, dims: number[], n: number, random: () => number, [low, high]: readonly [number, number]): RtTensor {
  if (dtype === DataType.FLOAT || dtype === DataType.DOUBLE) {
    const data = dtype === DataType.FLOAT ? new Float32Array(n) : new Float64Array(n);
    for (let i = 0; i < n; i++) data[i] = low + (high - low) * random();
    return { dtype, dims, data };
  }
  const lo = Math.ceil(low);
  const span = Math.floor(high) - lo + 1;
  if (span < 1) throw new BncError(`--input-range ${vi.name}=${low},${high}: holds no integer for this ${dtypeName(dtype)} input`, { code: 'USAGE' });
  if (dtype === DataType.INT64) {
    const data = new BigInt64Array(n);
    for (let i = 0; i < n; i++) data[i] = BigInt(lo + Math.floor(random() * span));
    return { dtype, dims, data };
  }
  const ctor = INT_CTORS[dtype as keyof typeof INT_CTORS];
  if (!ctor) {
    throw new BncError(`input '${vi.name}' has type ${dtypeName(dtype)}, which bnc cannot generate; pass it with --input ${vi.name}=file.npy`, {
      code: 'INPUT_MISMATCH',
    });
  }
  const data = new ctor(n);
  for (let i = 0; i < n; i++) data[i] = lo + Math.floor(random() * span);
  return { dtype, dims, data };
}

/** Seed of input k's stream: the two numbers mixed so that nearby seeds give unrelated streams. */
function streamSeed(seed: number, k: number): number {
  let h = Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(k + 1, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h >>> 0;
}
