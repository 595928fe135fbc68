import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { parseOnnx, readOnnxFile, serializeOnnx } from '../src/formats/onnx/index.js';
import { AttributeType, BncError, DataType } from '../src/ir/index.js';
import { runOrt } from './helpers/ort.js';

// Models here are encoded by onnx-proto (protobufjs static code for ONNX 1.10): an encoder independent of
// bnc's own wire writer. Fields newer than that schema are appended as hand-encoded bytes.
const { onnx } = onnxProto;

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
function lenField(field: number, payload: Uint8Array): Uint8Array {
  return Uint8Array.from([...varint((field << 3) | 2), ...varint(payload.length), ...payload]);
}
const cat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));
const entry = (key: string, value: string) => onnx.StringStringEntryProto.encode({ key, value }).finish();

function richModelBytes(): { bytes: Uint8Array; nodeMeta: Uint8Array; graphMeta: Uint8Array } {
  const thenBranch = {
    name: 'then',
    node: [{ opType: 'Identity', input: ['x'], output: ['y_then'] }],
    output: [{ name: 'y_then', type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'N' }, { dimValue: 4 }] } } } }],
  };
  const weird = onnx.NodeProto.encode({
    name: 'custom',
    opType: 'FancyOp',
    domain: 'com.example',
    input: ['x', ''],
    output: ['z'],
    docString: 'a node bnc does not know',
    attribute: [
      { name: 'f', type: AttributeType.FLOAT, f: 0.25 },
      { name: 'i', type: AttributeType.INT, i: -7 },
      { name: 'big', type: AttributeType.INT, i: 1234567890123 },
      { name: 's', type: AttributeType.STRING, s: new TextEncoder().encode('hello') },
      { name: 't', type: AttributeType.TENSOR, t: { dims: [2], dataType: 7, int64Data: [5, -6] } },
      { name: 'g', type: AttributeType.GRAPH, g: thenBranch },
      { name: 'fs', type: AttributeType.FLOATS, floats: [1.5, -2] },
      { name: 'is', type: AttributeType.INTS, ints: [1, -1, 3] },
      { name: 'ss', type: AttributeType.STRINGS, strings: [new TextEncoder().encode('a'), new TextEncoder().encode('b')] },
      { name: 'ts', type: AttributeType.TENSORS, tensors: [{ dims: [1], dataType: 11, doubleData: [3.25] }] },
      { name: 'gs', type: AttributeType.GRAPHS, graphs: [thenBranch], docString: 'attr doc' },
    ],
  }).finish();
  // IR v10 node metadata_props (NodeProto field 9), unknown to the ONNX 1.10 schema.
  const nodeMeta = lenField(9, entry('node-key', 'node-value'));
  const graphBody = onnx.GraphProto.encode({
    name: 'rich',
    docString: 'graph doc',
    input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'N' }, { dimValue: 4, denotation: 'FEATURE' }] } } }, docString: 'in doc' }],
    output: [{ name: 'z', type: { tensorType: { elemType: 1 } } }],
    valueInfo: [{ name: 'z', type: { tensorType: { elemType: 1, shape: { dim: [{}, { dimValue: 4 }] } } } }],
    initializer: [
      { name: 'w_float_data', dims: [2, 2], dataType: 1, floatData: [1, 2, 3, 4] },
      { name: 'w_int8', dims: [3], dataType: 3, int32Data: [-1, 0, 127] },
      { name: 'w_f16', dims: [2], dataType: 10, int32Data: [0x3c00, 0xc000] },
      { name: 'w_double', dims: [2], dataType: 11, doubleData: [0.5, -0.25] },
      { name: 'w_int64', dims: [2], dataType: 7, int64Data: [9, -9] },
      { name: 'w_bool', dims: [2], dataType: 9, int32Data: [1, 0] },
      { name: 'w_raw', dims: [2], dataType: 1, rawData: new Uint8Array(new Float32Array([7, 8]).buffer) },
      { name: 'w_str', dims: [1], dataType: 8, stringData: [new TextEncoder().encode('text')] },
    ],
  }).finish();
  // A float8e4m3 initializer (IR v9) and graph metadata_props (IR v10, GraphProto field 16).
  const float8 = lenField(5, cat(onnx.TensorProto.encode({ name: 'w_f8', dims: [3], dataType: 17 }).finish(), lenField(9, Uint8Array.from([0x38, 0xb8, 0x7e]))));
  const graphMeta = lenField(16, entry('graph-key', 'graph-value'));
  const graph = cat(lenField(1, cat(weird, nodeMeta)), graphBody, float8, graphMeta);
  const modelHead = onnx.ModelProto.encode({
    irVersion: 10,
    producerName: 'fidelity-test',
    producerVersion: '1',
    domain: 'org.test',
    modelVersion: 3,
    docString: 'model doc',
    opsetImport: [{ domain: '', version: 13 }, { domain: 'com.example', version: 2 }],
    metadataProps: [{ key: 'author', value: 'test' }],
  }).finish();
  return { bytes: cat(modelHead, lenField(7, graph)), nodeMeta, graphMeta };
}

const contains = (hay: Uint8Array, needle: Uint8Array) => Buffer.from(hay).indexOf(Buffer.from(needle)) >= 0;

describe('ONNX reader and writer keep everything', () => {
  const { bytes, nodeMeta, graphMeta } = richModelBytes();
  const model = parseOnnx(bytes);
  const written = serializeOnnx(model);

  it('reads every tensor storage form into the right typed array', () => {
    const init = Object.fromEntries(model.graph.initializers.map((t) => [t.name, t]));
    expect(Array.from(init.w_float_data!.data as Float32Array)).toEqual([1, 2, 3, 4]);
    expect(Array.from(init.w_int8!.data as Int8Array)).toEqual([-1, 0, 127]);
    expect(Array.from(init.w_f16!.data as Uint16Array)).toEqual([0x3c00, 0xc000]);
    expect(Array.from(init.w_double!.data as Float64Array)).toEqual([0.5, -0.25]);
    expect(Array.from(init.w_int64!.data as BigInt64Array)).toEqual([9n, -9n]);
    expect(Array.from(init.w_bool!.data as Uint8Array)).toEqual([1, 0]);
    expect(Array.from(init.w_raw!.data as Float32Array)).toEqual([7, 8]);
    expect(new TextDecoder().decode((init.w_str!.data as Uint8Array[])[0])).toBe('text');
    expect(init.w_f8!.dtype).toBe(DataType.FLOAT8E4M3FN);
  });

  it('keeps attributes of every type, doc strings, shapes, opsets and metadata (checked by an independent decoder)', () => {
    const a = onnx.ModelProto.decode(bytes).toJSON();
    const b = onnx.ModelProto.decode(written).toJSON();
    // The writer stores tensors as raw_data; compare tensor values, everything else literally.
    const stripTensors = (m: Record<string, unknown>) => {
      const g = m.graph as { initializer: unknown[] };
      g.initializer = [];
      return m;
    };
    const attrsA = (a.graph.node[0].attribute as { name: string }[]).filter((x) => !['t', 'ts'].includes(x.name));
    const attrsB = (b.graph.node[0].attribute as { name: string }[]).filter((x) => !['t', 'ts'].includes(x.name));
    expect(attrsB).toEqual(attrsA);
    b.graph.node[0].attribute = attrsB;
    a.graph.node[0].attribute = attrsA;
    expect(stripTensors(b)).toEqual(stripTensors(a));
    const t = model.graph.nodes[0]!.attributes.find((x) => x.name === 't')!.t!;
    expect(Array.from(t.data as BigInt64Array)).toEqual([5n, -6n]);
  });

  it('keeps fields newer than the ONNX 1.10 schema byte for byte', () => {
    expect(contains(written, nodeMeta)).toBe(true);
    expect(contains(written, graphMeta)).toBe(true);
    expect(contains(written, Uint8Array.from([0x38, 0xb8, 0x7e]))).toBe(true);
    const again = parseOnnx(written);
    expect(again.graph.initializers.find((t) => t.name === 'w_f8')!.dtype).toBe(DataType.FLOAT8E4M3FN);
    expect(Buffer.from(serializeOnnx(again)).equals(Buffer.from(written))).toBe(true);
  });
});

describe('ONNX external data and limits', () => {
  it('reads tensors stored in a file beside the model, and the inlined copy runs identically', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-ext-'));
    const weights = new Float32Array([0.5, -1, 2, 3, 4, 5]);
    const bias = new Float32Array([1, 2]);
    const blob = Buffer.concat([Buffer.alloc(16), Buffer.from(weights.buffer), Buffer.from(bias.buffer)]);
    fs.writeFileSync(path.join(dir, 'weights.bin'), blob);
    const ext = (offset: number, length: number) => [
      { key: 'location', value: 'weights.bin' },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(length) },
    ];
    const bytes = onnx.ModelProto.encode({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 13 }],
      graph: {
        name: 'ext',
        node: [{ opType: 'Gemm', input: ['x', 'W', 'b'], output: ['y'], attribute: [{ name: 'transB', type: 2, i: 1 }] }],
        input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: 3 }] } } } }],
        output: [{ name: 'y', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: 2 }] } } } }],
        initializer: [
          { name: 'W', dims: [2, 3], dataType: 1, dataLocation: 1, externalData: ext(16, 24) },
          { name: 'b', dims: [2], dataType: 1, dataLocation: 1, externalData: ext(40, 8) },
        ],
      },
    }).finish();
    const file = path.join(dir, 'model.onnx');
    fs.writeFileSync(file, bytes);
    const model = readOnnxFile(file);
    expect(Array.from(model.graph.initializers[0]!.data as Float32Array)).toEqual(Array.from(weights));
    const x = { x: { data: new Float32Array([1, 2, 3]), dims: [1, 3] } };
    const inlined = await runOrt(serializeOnnx(model), x);
    // y = W x + b computed by hand: [0.5*1 - 2 + 6 + 1, 3 + 8 + 15 + 2]
    expect(Array.from(inlined.y!.data)).toEqual([5.5, 28]);
  });

  it('refuses files over 2 GiB before reading them', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-big-'));
    const file = path.join(dir, 'huge.onnx');
    fs.writeFileSync(file, '');
    fs.truncateSync(file, 2 ** 31 + 10); // sparse: takes no disk space
    expect(() => readOnnxFile(file)).toThrowError(/over protobuf's 2 GiB limit/);
    fs.rmSync(dir, { recursive: true });
  });

  it('reports a truncated file as corrupt, naming the file', () => {
    const { bytes } = richModelBytes();
    try {
      parseOnnx(bytes.subarray(0, bytes.length - 7), {}, 'cut.onnx');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(BncError);
      expect((e as BncError).message).toMatch(/^cut\.onnx: .*truncated/);
    }
  });
});
