import * as path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type * as protobuf from 'protobufjs';

// proto/caffe.proto sits at the package root; this file is at src/formats/caffe (or dist/formats/caffe
// once built), three folders down either way.
const PROTO_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../proto/caffe.proto');

let root: protobuf.Root | undefined;

/** The caffe.* message types, loaded once (keepCase: field names as in prototxt files). */
export function caffeSchema(): protobuf.Root {
  if (!root) {
    // Required on first use, not imported: protobufjs takes ~50 ms to load, and only Caffe files need it.
    const { Root } = createRequire(import.meta.url)('protobufjs') as typeof protobuf;
    root = new Root().loadSync(PROTO_FILE, { keepCase: true });
    root.resolveAll();
  }
  return root;
}

export function caffeType(name: string): protobuf.Type {
  return caffeSchema().lookupType(`caffe.${name}`);
}

/**
 * Fork fields whose number another Caffe already gives to a different field of the same message: PSPNet's
 * interp_param is field 143 of LayerParameter, BVLC's input_param. One protobuf message cannot hold both, so
 * proto/caffe.proto declares the fork's field in a message of its own, listed here with the layer types that
 * read it. A prototxt names its fields, so there the name decides; a caffemodel has only numbers, so there the
 * layer's type decides (see forkOverlayFor).
 */
const FORK_OVERLAYS: Record<string, { message: string; layerTypes: string[] }[]> = {
  LayerParameter: [{ message: 'PSPNetLayerParameter', layerTypes: ['Interp'] }],
};

/** A fork field of `type` that the message itself cannot declare (its number is taken), by name. */
export function forkField(type: protobuf.Type, name: string): protobuf.Field | undefined {
  for (const o of FORK_OVERLAYS[type.name] ?? []) {
    const f = caffeType(o.message).fields[name];
    if (f) return f;
  }
  return undefined;
}

/** Field numbers of `message` that some fork uses for another field (decode them by the layer's type). */
export function forkCollidingIds(message: string): Set<number> {
  const ids = new Set<number>();
  for (const o of FORK_OVERLAYS[message] ?? []) for (const f of caffeType(o.message).fieldsArray) ids.add(f.id);
  return ids;
}

/** The overlay message whose fields a layer of `layerType` reads in place of `message`'s same-numbered ones. */
export function forkOverlayFor(message: string, layerType: string): protobuf.Type | undefined {
  const o = (FORK_OVERLAYS[message] ?? []).find((x) => x.layerTypes.includes(layerType));
  return o ? caffeType(o.message) : undefined;
}

/**
 * Read access to one parameter message (e.g. a layer's convolution_param) with the schema's defaults
 * for fields the file leaves out. Works on prototxt objects and on protobufjs-decoded messages alike.
 */
export class Params {
  private readonly values: Record<string, unknown>;

  constructor(values: object | undefined, private readonly type: protobuf.Type) {
    this.values = (values ?? {}) as Record<string, unknown>;
  }

  private field(name: string): protobuf.Field {
    const f = this.type.fields[name] ?? forkField(this.type, name);
    if (!f) throw new Error(`caffe.${this.type.name} has no field '${name}'`);
    return f;
  }

  has(name: string): boolean {
    const v = Object.prototype.hasOwnProperty.call(this.values, name) ? this.values[name] : undefined;
    return v !== undefined && !(Array.isArray(v) && v.length === 0);
  }

  /** A singular scalar field, or its default. */
  num(name: string): number {
    const f = this.field(name);
    if (this.has(name)) return Number(this.values[name]);
    return Number(f.typeDefault ?? 0);
  }

  bool(name: string): boolean {
    const f = this.field(name);
    if (this.has(name)) return Boolean(this.values[name]);
    return Boolean(f.typeDefault);
  }

  str(name: string): string {
    const f = this.field(name);
    if (this.has(name)) return String(this.values[name]);
    return String(f.typeDefault ?? '');
  }

  /** A repeated scalar field (empty when absent). */
  nums(name: string): number[] {
    this.field(name);
    const v = this.values[name];
    return Array.isArray(v) ? v.map(Number) : v === undefined ? [] : [Number(v)];
  }

  /** A nested message (absent: an empty one, which reads as all defaults). */
  message(name: string): Params {
    const f = this.field(name);
    return new Params(this.values[name] as object | undefined, f.resolve().resolvedType as protobuf.Type);
  }

  messages(name: string): Params[] {
    const f = this.field(name);
    const v = this.values[name];
    const list = Array.isArray(v) ? v : v === undefined ? [] : [v];
    return list.map((m) => new Params(m as object, f.resolve().resolvedType as protobuf.Type));
  }
}
