import type * as protobuf from 'protobufjs';
import { BncError } from '../../ir/index.js';
import { WireError, WireReader, WireType } from '../protobuf/wire.js';
import { decodingFile } from '../format.js';
import { Params, caffeType, forkCollidingIds, forkOverlayFor } from './schema.js';

// Binary .caffemodel (a NetParameter with the weights in each layer's blobs). The blobs are read by
// walking the wire format: packed float data becomes a Float32Array view over the file bytes (or one bulk
// copy when unaligned), double_data one bulk conversion; never a call per value. Everything else in a
// layer (name, type, parameters) goes through protobufjs with proto/caffe.proto.

/** One weight blob: dims from `shape {dim}` or the legacy num/channels/height/width. */
export interface WeightBlob {
  dims: number[];
  /** True when the dims came from the legacy 4-D fields. */
  legacy: boolean;
  data: Float32Array;
}

export interface LayerWeights {
  name: string;
  type: string;
  blobs: WeightBlob[];
  /** The layer's other fields (parameter blocks), decoded by the layer's type where forks collide. */
  params: Params;
}

// Field numbers (caffe.proto).
const NET_LAYER = 100;
const NET_V1_LAYERS = 2;
const LAYER_BLOBS = 7;
const V1_BLOBS = 6;
const V1_V0_LAYER = 1;
const BLOB = { num: 1, channels: 2, height: 3, width: 4, data: 5, diff: 6, shape: 7, doubleData: 8, doubleDiff: 9 };

const V1_TYPE_NAMES: Record<number, string> = {};

/**
 * Decode the layers that carry weights (and the names/types of all layers) from caffemodel bytes. With
 * overwriteBytes (for bytes freshly read from the file), misaligned weights are moved in place rather than
 * copied: `bytes` no longer holds a valid caffemodel afterwards.
 */
export function parseCaffemodel(bytes: Uint8Array, file: string, options: { overwriteBytes?: boolean } = {}): LayerWeights[] {
  return decodingFile(file, 'not a readable .caffemodel', () => decodeNet(new WireReader(bytes, 0, bytes.length, { overwritable: options.overwriteBytes })));
}

function decodeNet(r: WireReader): LayerWeights[] {
  const layers: LayerWeights[] = [];
  while (!r.done) {
    const { field, wire } = r.tag();
    if ((field === NET_LAYER || field === NET_V1_LAYERS) && wire === WireType.LEN) {
      layers.push(decodeLayer(r.message(), field === NET_V1_LAYERS));
    } else {
      r.skip(wire);
    }
  }
  return layers;
}

function decodeLayer(r: WireReader, v1: boolean): LayerWeights {
  const layerStart = r.pos;
  const blobs: WeightBlob[] = [];
  // The fields other than blobs, re-assembled for protobufjs (small: names, types, parameters). Fields whose
  // number forks use for different blocks (PSPNet's interp_param = BVLC's input_param = 143) are set aside
  // and decoded once the layer's type is known, whatever their order in the file.
  const rest: Uint8Array[] = [];
  const colliding: Uint8Array[] = [];
  const collidingIds = v1 ? NO_IDS : (LAYER_COLLIDING_IDS ??= forkCollidingIds('LayerParameter'));
  const blobField = v1 ? V1_BLOBS : LAYER_BLOBS;
  while (!r.done) {
    const start = r.pos;
    const { field, wire } = r.tag();
    if (field === blobField && wire === WireType.LEN) {
      blobs.push(decodeBlob(r.message()));
    } else {
      if (v1 && field === V1_V0_LAYER) {
        throw new BncError(`the weights are in Caffe's V0 layer format; upgrade them with Caffe's upgrade_net_proto_binary first`, {
          code: 'UNSUPPORTED',
        });
      }
      (collidingIds.has(field) ? colliding : rest).push(r.skipKeep(start, wire));
    }
  }
  const messageType = caffeType(v1 ? 'V1LayerParameter' : 'LayerParameter');
  const decoded = decodeParts(messageType, rest, layerStart) as { name?: string; type?: string | number } & Record<string, unknown>;
  let type = '';
  if (v1) {
    if (!Object.keys(V1_TYPE_NAMES).length) {
      const values = caffeType('V1LayerParameter').lookupEnum('LayerType').values;
      for (const [k, v] of Object.entries(values)) V1_TYPE_NAMES[v] = k;
    }
    type = V1_TYPE_NAMES[Number(decoded.type ?? 0)] ?? String(decoded.type ?? '');
  } else {
    type = String(decoded.type ?? '');
  }
  if (colliding.length) {
    const overlay = forkOverlayFor('LayerParameter', type) ?? messageType;
    Object.assign(decoded, decodeParts(overlay, colliding, layerStart));
  }
  return { name: String(decoded.name ?? ''), type, blobs, params: new Params(decoded, messageType) };
}

const NO_IDS = new Set<number>();
let LAYER_COLLIDING_IDS: Set<number> | undefined;

/** Decode re-assembled field bytes with protobufjs; its plain errors on corrupt bytes become WireErrors. */
function decodeParts(type: protobuf.Type, parts: Uint8Array[], at: number): Record<string, unknown> {
  let length = 0;
  for (const p of parts) length += p.length;
  const joined = new Uint8Array(length);
  let off = 0;
  for (const part of parts) {
    joined.set(part, off);
    off += part.length;
  }
  try {
    // Plain fields only: a decoded message's own properties are the fields present (what Params.has reads).
    return type.decode(joined) as unknown as Record<string, unknown>;
  } catch (e) {
    // protobufjs throws plain errors ("illegal tag", "index out of range") on corrupt bytes: they are the
    // file's fault, reported as such by parseCaffemodel.
    throw new WireError(`a layer's parameters do not decode (${e instanceof Error ? e.message : String(e)})`, at);
  }
}

function decodeBlob(r: WireReader): WeightBlob {
  const legacy = [0, 0, 0, 0];
  let hasLegacy = false;
  let shape: number[] | undefined;
  let data: Float32Array | undefined;
  let doubles: Float64Array | undefined;
  const loose: number[] = [];
  const looseDoubles: number[] = [];
  while (!r.done) {
    const tagStart = r.pos;
    const { field, wire } = r.tag();
    if (field >= BLOB.num && field <= BLOB.width && wire === WireType.VARINT) {
      legacy[field - 1] = r.int64();
      hasLegacy = true;
    } else if (field === BLOB.data && wire === WireType.LEN) {
      data = r.packedFixed(Float32Array, tagStart);
    } else if (field === BLOB.data && wire === WireType.I32) {
      loose.push(r.float()); // unpacked encoding (old writers); rare and small
    } else if (field === BLOB.doubleData && wire === WireType.LEN) {
      doubles = r.packedFixed(Float64Array);
    } else if (field === BLOB.doubleData && wire === WireType.I64) {
      looseDoubles.push(r.double());
    } else if (field === BLOB.shape && wire === WireType.LEN) {
      shape = decodeShape(r.message());
    } else {
      r.skip(wire);
    }
  }
  if (loose.length) data = concatFloats(data, Float32Array.from(loose));
  if (looseDoubles.length) doubles = Float64Array.from([...(doubles ?? []), ...looseDoubles]);
  if (!data?.length && doubles?.length) data = Float32Array.from(doubles);
  return {
    dims: shape ?? (hasLegacy ? legacy : [data?.length ?? 0]),
    legacy: !shape && hasLegacy,
    data: data ?? new Float32Array(0),
  };
}

function concatFloats(a: Float32Array | undefined, b: Float32Array): Float32Array {
  if (!a?.length) return b;
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function decodeShape(r: WireReader): number[] {
  const dims: number[] = [];
  while (!r.done) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === WireType.LEN) {
      const p = r.message();
      while (!p.done) dims.push(p.int64());
    } else if (field === 1 && wire === WireType.VARINT) {
      dims.push(r.int64());
    } else r.skip(wire);
  }
  return dims;
}

/** Shape check used by the reader: equal, or equal once every size-1 axis is dropped (legacy 4-D forms). */
export function sameBlobShape(got: readonly number[], want: readonly number[]): boolean {
  if (got.length === want.length && got.every((d, i) => d === want[i])) return true;
  const squeeze = (d: readonly number[]) => d.filter((x) => x !== 1);
  const a = squeeze(got);
  const b = squeeze(want);
  return a.length === b.length && a.every((d, i) => d === b[i]);
}


