import { parseOnnx, serializeOnnx } from '../../src/formats/onnx/index.js';
import { AttributeType, DataType, Model, Tensor, cloneModel, intsAttr } from '../../src/ir/index.js';
import { mulberry32 } from '../../src/util/seededRandom.js';

// Hostile variants of real model files, for the fuzz harness (test/fuzz/*.test.ts and scripts/fuzz.ts).
// Every mutant is a set of files to write side by side; a deterministic seed makes each run reproducible,
// so a failing mutant can be regenerated from its name alone.

/** One file of a mutant: the role says which command argument it is. */
export interface MutantFile {
  role: 'onnx' | 'prototxt' | 'caffemodel';
  bytes: Uint8Array;
}

export interface Mutant {
  /** Unique, file-system-safe, e.g. 'small_cnn.truncate-30'. */
  name: string;
  format: 'onnx' | 'caffe';
  /** The mutation family (for the per-kind counts of the report). */
  kind: string;
  files: MutantFile[];
}

/** A model the mutants are made from: an ONNX file, or a Caffe prototxt + caffemodel. */
export interface Seed {
  name: string;
  format: 'onnx' | 'caffe';
  files: MutantFile[];
}

// ---- Random numbers (mulberry32: small, seedable, good enough to pick offsets) ----

export const rng = mulberry32;

const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const int = (random: () => number, n: number) => Math.floor(random() * n);

// ---- Byte-level mutations (any format) ----

/** The file cut at 0/10 .. 9/10 of its length (0/10 is an empty file). */
export function truncations(bytes: Uint8Array): { label: string; bytes: Uint8Array }[] {
  const out: { label: string; bytes: Uint8Array }[] = [];
  for (let tenth = 0; tenth < 10; tenth++) out.push({ label: `truncate-${tenth * 10}`, bytes: bytes.slice(0, Math.floor((bytes.length * tenth) / 10)) });
  return out;
}

export function flipBits(bytes: Uint8Array, random: () => number, count: number): Uint8Array {
  const out = bytes.slice();
  for (let i = 0; i < count; i++) out[int(random, out.length)]! ^= 1 << int(random, 8);
  return out;
}

/** Overwrite a run of 1..64 bytes (sometimes all 0x00 or all 0xff) at a random place. */
export function randomRun(bytes: Uint8Array, random: () => number): Uint8Array {
  const out = bytes.slice();
  const len = 1 + int(random, 64);
  const at = int(random, Math.max(1, out.length - len));
  const fill = random();
  for (let i = at; i < Math.min(out.length, at + len); i++) out[i] = fill < 0.2 ? 0 : fill < 0.4 ? 0xff : int(random, 256);
  return out;
}

// ---- Wire-level mutations (protobuf files) ----

function readVarint(b: Uint8Array, pos: number, end: number): { value: number; next: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let i = pos; i < end && i < pos + 10; i++) {
    value += (b[i]! & 0x7f) * scale;
    scale *= 128;
    if (!(b[i]! & 0x80)) return { value, next: i + 1 };
  }
  return undefined;
}

function encodeVarint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

/** Where a length-delimited field's length varint sits. */
interface LengthField {
  at: number;
  next: number;
  length: number;
}

/**
 * Every length prefix in a protobuf message, found by walking its fields and descending into each payload
 * that itself parses as a message to its end. Written here independently of src/formats/protobuf, so a bug
 * there cannot hide the fields it mishandles.
 */
export function lengthFields(b: Uint8Array, start = 0, end = b.length, depth = 0, out: LengthField[] = []): LengthField[] {
  if (!walkable(b, start, end)) return out;
  let pos = start;
  while (pos < end) {
    const tag = readVarint(b, pos, end)!;
    pos = tag.next;
    const wire = tag.value % 8;
    if (wire === 0) pos = readVarint(b, pos, end)!.next;
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const len = readVarint(b, pos, end)!;
      out.push({ at: pos, next: len.next, length: len.value });
      if (depth < 40 && len.value > 1) lengthFields(b, len.next, len.next + len.value, depth + 1, out);
      pos = len.next + len.value;
    }
  }
  return out;
}

/** Whether bytes [start, end) parse as a sequence of well-formed fields (no groups). */
function walkable(b: Uint8Array, start: number, end: number): boolean {
  let pos = start;
  while (pos < end) {
    const tag = readVarint(b, pos, end);
    if (!tag || tag.value < 8) return false;
    pos = tag.next;
    const wire = tag.value % 8;
    if (wire === 0) {
      const v = readVarint(b, pos, end);
      if (!v) return false;
      pos = v.next;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const len = readVarint(b, pos, end);
      if (!len || len.next + len.value > end) return false;
      pos = len.next + len.value;
    } else return false;
  }
  return pos === end;
}

/** Replace the length prefix of one field by `length` (the following bytes shift when its size changes). */
export function setLength(b: Uint8Array, field: LengthField, length: number): Uint8Array {
  const enc = encodeVarint(length);
  const out = new Uint8Array(b.length - (field.next - field.at) + enc.length);
  out.set(b.subarray(0, field.at));
  out.set(enc, field.at);
  out.set(b.subarray(field.next), field.at + enc.length);
  return out;
}

/** Lengths a hostile file claims: 4 GiB - 1, 2 GiB, past the end by one, 2^40 (a 6-byte varint). */
export const HUGE_LENGTHS = [0xffffffff, 0x80000000, -1, 2 ** 40];

// ---- Deep nesting ----

function lenField(field: number, payload: number[] | Uint8Array): number[] {
  return [...encodeVarint(field * 8 + 2), ...encodeVarint(payload.length), ...payload];
}

/** One level of nesting: `prefix` bytes, then field `field` whose payload is the next level inward. */
interface Wrapper {
  prefix: number[];
  field: number;
}

/**
 * `inner` wrapped in the `levels` wrappers (outermost first), built inside out in one pass: the headers
 * are computed from the growing length and joined once at the end (no copying per level).
 */
function nest(inner: number[], levels: Wrapper[]): Uint8Array {
  const headers: number[][] = [];
  let length = inner.length;
  for (let i = levels.length - 1; i >= 0; i--) {
    const w = levels[i]!;
    const header = [...w.prefix, ...encodeVarint(w.field * 8 + 2), ...encodeVarint(length)];
    headers.push(header);
    length += header.length;
  }
  const out = new Uint8Array(length);
  let at = 0;
  for (let i = headers.length - 1; i >= 0; i--) {
    out.set(headers[i]!, at);
    at += headers[i]!.length;
  }
  out.set(inner, at);
  return out;
}

/**
 * An ONNX ModelProto whose graph holds a node whose attribute holds a graph ... `depth` times
 * (ModelProto.graph = 7, GraphProto.node = 1, NodeProto.op_type = 4 / attribute = 5, AttributeProto.name = 1 / g = 6).
 */
export function nestedOnnxGraphs(depth: number): Uint8Array {
  const opType = lenField(4, [...new TextEncoder().encode('If')]);
  const attrName = lenField(1, [0x67]);
  const levels: Wrapper[] = [{ prefix: [0x08, 0x07], field: 7 }];
  for (let i = 0; i < depth; i++) levels.push({ prefix: [], field: 1 }, { prefix: opType, field: 5 }, { prefix: attrName, field: 6 });
  return nest(lenField(2, [0x67]), levels);
}

/** `depth` protobuf start-group tags (wire type 3) that never close, inside a field a reader skips. */
export function nestedGroups(prefix: Uint8Array, depth: number, field = 15): Uint8Array {
  const tag = encodeVarint(field * 8 + 3);
  const out = new Uint8Array(prefix.length + depth * tag.length);
  out.set(prefix);
  for (let i = 0; i < depth; i++) out.set(tag, prefix.length + i * tag.length);
  return out;
}

/** A length-delimited unknown field whose payload is itself nested `depth` times (a reader skipping it must not recurse). */
export function nestedUnknownMessages(prefix: Uint8Array, depth: number, field = 15): Uint8Array {
  const levels: Wrapper[] = [{ prefix: [...prefix], field }];
  for (let i = 0; i < depth; i++) levels.push({ prefix: [], field: 1 });
  return nest([0x08, 0x01], levels);
}

// ---- Prototxt token edits ----

const TOKEN = /"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|#[^\n]*|[{}:<>\[\],;]|[^\s{}:<>\[\],;"'#]+/g;

/** Replacement tokens: structure, extreme numbers, and names a net uses. */
const HOSTILE_TOKENS = [
  '{', '}', ':', '"', '0', '-1', '1', '2147483648', '4294967296', '99999999999999999999', '1e308', '-1e308', 'nan', 'inf', '-inf',
  '0.5', '"x"', '""', 'layer', 'bottom', 'top', 'name', 'type', '"Convolution"', '"BatchNorm"', '"Scale"', '"Eltwise"', '"Reshape"',
  'num_output', 'kernel_size', 'stride', 'pad', 'dim', 'group', 'axis', 'input_param', 'shape', 'true', 'false', 'MAX', 'AVE',
  '"\\x00"', '"\\377"', '\u0000', 'é', '[', ']', '<', '>', ',',
];

/** 1..`maxEdits` random token edits: delete, duplicate, replace (hostile or from the file), swap. */
export function editTokens(text: string, random: () => number, maxEdits = 3): string {
  const tokens: { at: number; text: string }[] = [];
  for (const m of text.matchAll(TOKEN)) if (!m[0].startsWith('#')) tokens.push({ at: m.index!, text: m[0] });
  if (!tokens.length) return text + ' }';
  const edited = new Map<number, string>();
  const edits = 1 + int(random, maxEdits);
  for (let e = 0; e < edits; e++) {
    const i = int(random, tokens.length);
    const current = edited.get(i) ?? tokens[i]!.text;
    const op = int(random, 5);
    if (op === 0) edited.set(i, '');
    else if (op === 1) edited.set(i, `${current} ${current}`);
    else if (op === 2) edited.set(i, pick(random, HOSTILE_TOKENS));
    else if (op === 3) edited.set(i, tokens[int(random, tokens.length)]!.text);
    else {
      const j = int(random, tokens.length);
      edited.set(i, edited.get(j) ?? tokens[j]!.text);
      edited.set(j, current);
    }
  }
  let out = '';
  let last = 0;
  tokens.forEach((t, i) => {
    out += text.slice(last, t.at) + (edited.has(i) ? edited.get(i)! : t.text);
    last = t.at + t.text.length;
  });
  return out + text.slice(last);
}

/** Every number in the prototxt that follows `key:` set to `value` (e.g. num_output → 0). */
export function setNumbers(text: string, key: string, value: string): string {
  return text.replace(new RegExp(`(\\b${key}\\s*:\\s*)-?[0-9.eE+-]+`, 'g'), `$1${value}`);
}

// ---- ONNX structural mutations (through bnc's own reader and writer) ----

type ModelEdit = (m: Model, random: () => number) => boolean;

const floatInits = (m: Model) => m.graph.initializers.filter((t) => t.dtype === DataType.FLOAT && (t.data as Float32Array).length > 0);

/** Structural edits that each produce a model a careful reader/runtime must refuse or handle. */
export const ONNX_EDITS: Record<string, ModelEdit> = {
  // A node reads the output of a node after it, closing a loop.
  cycle: (m) => {
    const nodes = m.graph.nodes;
    if (nodes.length < 2) return false;
    const first = nodes.findIndex((n) => n.inputs.length > 0);
    if (first < 0) return false;
    nodes[first]!.inputs[0] = nodes[nodes.length - 1]!.outputs[0]!;
    return true;
  },
  'self-loop': (m) => {
    const n = m.graph.nodes.find((x) => x.inputs.length && x.outputs.length);
    if (!n) return false;
    n.inputs[0] = n.outputs[0]!;
    return true;
  },
  'dangling-input': (m, random) => {
    const nodes = m.graph.nodes.filter((n) => n.inputs.length);
    if (!nodes.length) return false;
    const n = pick(random, nodes);
    n.inputs[int(random, n.inputs.length)] = 'nowhere_defined';
    return true;
  },
  'dangling-output': (m) => {
    if (!m.graph.outputs.length) return false;
    m.graph.outputs[0]!.name = 'never_computed';
    return true;
  },
  'duplicate-output': (m) => {
    const nodes = m.graph.nodes;
    if (nodes.length < 2) return false;
    nodes[1]!.outputs[0] = nodes[0]!.outputs[0]!;
    return true;
  },
  // raw_data shorter or longer than dims say: the tensor is rewritten with a wrong-sized array.
  'initializer-short': (m, random) => {
    const inits = floatInits(m);
    if (!inits.length) return false;
    const t = pick(random, inits);
    t.data = (t.data as Float32Array).slice(0, Math.max(0, (t.data as Float32Array).length - 1 - int(random, 3)));
    return true;
  },
  'initializer-long': (m, random) => {
    const inits = floatInits(m);
    if (!inits.length) return false;
    const t = pick(random, inits);
    const d = t.data as Float32Array;
    const longer = new Float32Array(d.length + 1 + int(random, 7));
    longer.set(d);
    t.data = longer;
    return true;
  },
  // Dims and data that agree with each other but not with the graph: weights of another shape.
  'weight-shape': (m, random) => {
    const inits = floatInits(m).filter((t) => t.dims.length >= 2);
    if (!inits.length) return false;
    const t = pick(random, inits);
    const n = (t.data as Float32Array).length;
    t.dims = random() < 0.5 ? [n] : [1, n, ...t.dims.slice(2).map(() => 1)];
    return true;
  },
  'weight-transposed': (m, random) => {
    const inits = floatInits(m).filter((t) => t.dims.length >= 2 && t.dims[0] !== t.dims[1]);
    if (!inits.length) return false;
    const t = pick(random, inits);
    [t.dims[0], t.dims[1]] = [t.dims[1]!, t.dims[0]!];
    return true;
  },
  'input-channels': (m) => {
    const shape = m.graph.inputs[0]?.type?.tensor?.shape;
    if (!shape || shape.length < 2) return false;
    shape[1] = { value: (shape[1]!.value ?? 3) + 2 };
    return true;
  },
  'input-rank': (m) => {
    const shape = m.graph.inputs[0]?.type?.tensor?.shape;
    if (!shape || !shape.length) return false;
    shape.pop();
    return true;
  },
  'nan-weights': (m, random) => setWeights(m, random, NaN),
  'inf-weights': (m, random) => setWeights(m, random, random() < 0.5 ? Infinity : -Infinity),
  'huge-weights': (m, random) => setWeights(m, random, 3.4e38),
  'zero-dim-input': (m) => {
    const shape = m.graph.inputs[0]?.type?.tensor?.shape;
    if (!shape || shape.length < 3) return false;
    shape[2] = { value: 0 };
    return true;
  },
  'zero-dim-weight': (m, random) => {
    const inits = floatInits(m);
    if (!inits.length) return false;
    const t = pick(random, inits);
    t.dims = [0, ...t.dims.slice(1)];
    t.data = new Float32Array(0);
    return true;
  },
  // Dims whose product is astronomically large: must be refused before anything is allocated.
  'huge-input': (m, random) => {
    const shape = m.graph.inputs[0]?.type?.tensor?.shape;
    if (!shape || shape.length < 3) return false;
    const big = pick(random, [65536, 1e6, 2 ** 31, 2 ** 40]);
    shape[2] = { value: big };
    shape[shape.length - 1] = { value: big };
    return true;
  },
  'negative-input-dim': (m) => {
    const shape = m.graph.inputs[0]?.type?.tensor?.shape;
    if (!shape || !shape.length) return false;
    shape[0] = { value: -5 };
    return true;
  },
  'huge-batch': (m) => {
    const shape = m.graph.inputs[0]?.type?.tensor?.shape;
    if (!shape || !shape.length) return false;
    shape[0] = { value: 2 ** 33 };
    return true;
  },
  'unknown-op': (m, random) => {
    if (!m.graph.nodes.length) return false;
    pick(random, m.graph.nodes).opType = pick(random, ['NoSuchOp', '', 'conv', 'Loop']);
    return true;
  },
  'bad-attribute': (m, random) => {
    const nodes = m.graph.nodes.filter((n) => n.attributes.length);
    if (!nodes.length) return false;
    const n = pick(random, nodes);
    const a = pick(random, n.attributes);
    const value = pick(random, [[0, 0], [-1, -1], [2 ** 31, 2 ** 31], [], [1e15], [3, 3, 3, 3, 3, 3, 3]]);
    n.attributes[n.attributes.indexOf(a)] = { ...intsAttr(a.name, value), ...(random() < 0.5 ? { i: value[0] ?? 0, type: AttributeType.INT } : {}) };
    return true;
  },
  'bad-group': (m, random) => {
    const convs = m.graph.nodes.filter((n) => n.opType === 'Conv' || n.opType === 'ConvTranspose');
    if (!convs.length) return false;
    const n = pick(random, convs);
    n.attributes = n.attributes.filter((a) => a.name !== 'group');
    n.attributes.push({ name: 'group', type: AttributeType.INT, i: pick(random, [0, -1, 5, 7, 1000]) });
    return true;
  },
  'missing-input': (m, random) => {
    const nodes = m.graph.nodes.filter((n) => n.inputs.length > 1);
    if (!nodes.length) return false;
    const n = pick(random, nodes);
    n.inputs = n.inputs.slice(0, 1);
    return true;
  },
  'no-outputs': (m) => {
    m.graph.outputs = [];
    return true;
  },
  'opset-0': (m) => {
    m.opsetImports = [{ domain: '', version: pick(rng(1), [0, 1, 99999]) }];
    return true;
  },
  'string-initializer': (m, random) => {
    const inits = floatInits(m);
    if (!inits.length) return false;
    const t = pick(random, inits) as Tensor;
    t.dtype = DataType.STRING;
    t.data = [new Uint8Array([1, 2])];
    t.dims = [1];
    return true;
  },
  'int-weights': (m, random) => {
    const inits = floatInits(m);
    if (!inits.length) return false;
    const t = pick(random, inits);
    t.dtype = DataType.INT32;
    t.data = new Int32Array((t.data as Float32Array).length);
    return true;
  },
};

function setWeights(m: Model, random: () => number, value: number): boolean {
  const inits = floatInits(m);
  if (!inits.length) return false;
  const t = pick(random, inits);
  const data = (t.data as Float32Array).slice();
  const count = random() < 0.3 ? data.length : 1 + int(random, Math.min(4, data.length));
  for (let i = 0; i < count; i++) data[count === data.length ? i : int(random, data.length)] = value;
  t.data = data;
  return true;
}

/** Apply a structural edit to a copy of the model (tensor payloads are replaced, never written into). */
export function editOnnx(bytes: Uint8Array, edit: ModelEdit, random: () => number): Uint8Array | undefined {
  const model = cloneModel(parseOnnx(bytes, { skipValidation: true }));
  model.graph.initializers = model.graph.initializers.map((t) => ({ ...t, dims: [...t.dims] }));
  model.graph.inputs = model.graph.inputs.map((v) =>
    v.type?.tensor ? { ...v, type: { ...v.type, tensor: { ...v.type.tensor, shape: v.type.tensor.shape?.map((d) => ({ ...d })) } } } : v,
  );
  if (!edit(model, random)) return undefined;
  return serializeOnnx(model);
}

// ---- Mutant sets ----

export interface MutantPlan {
  /** Random bit-flip / byte-run / token-edit mutants per seed file. */
  randomPerFile: number;
  seed: number;
}

/** All mutants of one seed model: deterministic for a given plan. */
export function mutantsOf(seed: Seed, plan: MutantPlan): Mutant[] {
  const out: Mutant[] = [];
  const random = rng(plan.seed ^ hash(seed.name));
  const add = (kind: string, label: string, role: MutantFile['role'], bytes: Uint8Array) => {
    const files = seed.files.map((f) => (f.role === role ? { role, bytes } : f));
    out.push({ name: `${seed.name}.${label}`, format: seed.format, kind, files });
  };
  for (const file of seed.files) {
    const tag = seed.format === 'caffe' ? `${file.role}.` : '';
    for (const t of truncations(file.bytes)) add('truncate', tag + t.label, file.role, t.bytes);
    for (let i = 0; i < plan.randomPerFile; i++) add('bitflip', `${tag}bitflip-${i}`, file.role, flipBits(file.bytes, random, 1 + int(random, 16)));
    for (let i = 0; i < plan.randomPerFile; i++) add('byterun', `${tag}byterun-${i}`, file.role, randomRun(file.bytes, random));
    if (file.role === 'prototxt') {
      const text = new TextDecoder().decode(file.bytes);
      for (let i = 0; i < plan.randomPerFile * 2; i++) add('tokens', `${tag}tokens-${i}`, file.role, new TextEncoder().encode(editTokens(text, random)));
      const numeric: [string, string][] = [
        ['num_output', '0'], ['num_output', '2147483647'], ['kernel_size', '0'], ['kernel_size', '100'], ['stride', '0'], ['pad', '-3'],
        ['dim', '0'], ['dim', '-1'], ['dim', '4294967297'], ['dim', '100000'], ['eps', '-1'], ['group', '3'], ['axis', '9'],
      ];
      for (const [key, value] of numeric) {
        const edited = setNumbers(text, key, value);
        if (edited !== text) add('numbers', `${tag}${key}=${value}`, file.role, new TextEncoder().encode(edited));
      }
      add('nesting', `${tag}deep-braces`, file.role, new TextEncoder().encode(text + 'x { '.repeat(100000)));
      continue;
    }
    // Protobuf files: lengths made huge, deep nesting.
    const fields = lengthFields(file.bytes);
    for (let i = 0; i < Math.min(fields.length, plan.randomPerFile); i++) {
      const f = fields[Math.floor((i * fields.length) / Math.min(fields.length, plan.randomPerFile))]!;
      const claim = HUGE_LENGTHS[i % HUGE_LENGTHS.length]!;
      add('huge-length', `${tag}huge-length-${i}`, file.role, setLength(file.bytes, f, claim < 0 ? f.length + 1 : claim));
    }
    add('nesting', `${tag}deep-groups`, file.role, nestedGroups(file.bytes, 200000));
    add('nesting', `${tag}deep-unknown`, file.role, nestedUnknownMessages(file.bytes, 20000));
    if (file.role === 'caffemodel') {
      for (const value of [NaN, Infinity, -3.4e38]) {
        const bytes = poisonFloats(file.bytes, fields, value, random);
        if (bytes) add('structure', `caffemodel.${String(value)}-weights`, file.role, bytes);
      }
    }
    if (file.role === 'onnx') {
      add('nesting', 'deep-graphs', file.role, nestedOnnxGraphs(5000));
      for (const [name, edit] of Object.entries(ONNX_EDITS)) {
        const bytes = editOnnx(file.bytes, edit, random);
        if (bytes) add('structure', name, file.role, bytes);
      }
    }
  }
  return out;
}

/** Overwrite a few floats of the largest packed payload (a weight blob) with `value`. */
function poisonFloats(bytes: Uint8Array, fields: LengthField[], value: number, random: () => number): Uint8Array | undefined {
  const blobs = fields.filter((f) => f.length >= 16 && f.length % 4 === 0).sort((a, b) => b.length - a.length);
  const blob = blobs[0];
  if (!blob) return undefined;
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  for (let i = 0; i < 4; i++) view.setFloat32(blob.next + 4 * int(random, blob.length / 4), value, true);
  return out;
}

function hash(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}
