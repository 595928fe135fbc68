import { BncError, DataType, ValueInfo, dtypeName } from '../ir/index.js';
import { RtTensor } from './kernel.js';
import { checkTensorInput, runtimeTypeOf } from './engine.js';
import { fillNormal, mulberry32 } from '../util/seededRandom.js';

/**
 * Seeded inputs for models run without --input. The documented distribution:
 *   - float32 / float64 / float16 / bfloat16 inputs: standard normal N(0, 1) (float16 inputs run as float32);
 *   - integer inputs (int64, int32, int16, int8, uint8, ...): uniform integers 0..9;
 *   - bool inputs: 0 or 1 with equal probability;
 *   - symbolic or unknown dimensions are taken as 1.
 * The generator is mulberry32, normal values by Box-Muller. Input k (in the order given) draws from its own
 * stream seeded by (seed, k), so one input's values do not depend on the shapes of the others.
 */
export function generateInputs(inputs: ValueInfo[], seed: number): Map<string, RtTensor> {
  const out = new Map<string, RtTensor>();
  inputs.forEach((vi, k) => out.set(vi.name, generateInput(vi, streamSeed(seed, k))));
  return out;
}

/** Concrete dims of a declared input, with 1 for symbolic and unknown dimensions. */
export function concreteDims(vi: ValueInfo): number[] {
  checkTensorInput(vi);
  const shape = vi.type?.tensor?.shape;
  if (!shape) {
    throw new BncError(`input '${vi.name}' declares no shape, so bnc cannot generate it; pass it with --input ${vi.name}=file.npy`, {
      code: 'INPUT_MISMATCH',
    });
  }
  return shape.map((d) => (d.value !== undefined && d.value >= 0 ? d.value : 1));
}

export function generateInput(vi: ValueInfo, seed: number): RtTensor {
  const declared = vi.type?.tensor?.elemType ?? DataType.UNDEFINED;
  const dims = concreteDims(vi);
  const n = dims.reduce((a, b) => a * b, 1);
  const random = mulberry32(seed);
  const dtype = runtimeTypeOf(declared);
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

/** Seed of input k's stream: the two numbers mixed so that nearby seeds give unrelated streams. */
function streamSeed(seed: number, k: number): number {
  let h = Math.imul((seed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(k + 1, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h >>> 0;
}
