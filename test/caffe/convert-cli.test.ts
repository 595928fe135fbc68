import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCaffemodel, randomCaffemodelFor, readCaffeFiles } from '../../src/formats/caffe/index.js';
import { readOnnxFile, serializeOnnx, serializeOnnxChunks } from '../../src/formats/onnx/index.js';
import { writeFileAtomic } from '../../src/io/atomicWrite.js';
import { bnc, REPO } from '../helpers/cli.js';
import { runOrt } from '../helpers/ort.js';

// `bnc convert caffe-to-onnx` as a user runs it, on the bundled fixture (no shared data needed).

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-convert-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const PROTOTXT = path.join(REPO, 'fixtures/caffe/small_bn_net.prototxt');
const CAFFEMODEL = path.join(REPO, 'fixtures/caffe/small_bn_net.caffemodel');

describe('bnc convert caffe-to-onnx', () => {
  it('converts the fixture, merges BatchNorm with Scale, and the ONNX runs like the Caffe IR', async () => {
    const out = path.join(tmp, 'small.onnx');
    const r = bnc(['convert', 'caffe-to-onnx', PROTOTXT, '-o', out, '--verify']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/8 layers → 7 ONNX nodes, opset 13/);
    expect(r.stdout).toMatch(/BatchNorm: 1, merged with their Scale: 1/);
    expect(r.stdout).toMatch(/EQUIVALENT/);
    const written = readOnnxFile(out);
    expect(written.graph.nodes.map((n) => n.opType)).toEqual(['Conv', 'BatchNormalization', 'Relu', 'MaxPool', 'Flatten', 'Gemm', 'Softmax']);

    // The written file against the unmerged Caffe IR, both in onnxruntime.
    const caffe = readCaffeFiles(PROTOTXT, CAFFEMODEL).model;
    const x = Float32Array.from({ length: 3 * 15 * 15 }, (_, i) => Math.sin(i * 0.7));
    const feeds = { data: { data: x, dims: [1, 3, 15, 15] } };
    const a = await runOrt(fs.readFileSync(out), feeds);
    const b = await runOrt(serializeOnnx(caffe), feeds);
    for (let i = 0; i < 10; i++) expect(Math.abs(a.prob!.data[i]! - b.prob!.data[i]!)).toBeLessThan(1e-6);
  });

  it("the written file has no initializer that nothing reads (the merged Scale's gamma and beta are gone)", () => {
    const out = path.join(tmp, 'clean.onnx');
    expect(bnc(['convert', 'caffe-to-onnx', PROTOTXT, '-o', out, '--force']).code).toBe(0);
    const model = readOnnxFile(out);
    const read = new Set(model.graph.nodes.flatMap((n) => n.inputs));
    expect(model.graph.initializers.filter((t) => !read.has(t.name)).map((t) => t.name)).toEqual([]);
  });

  it('--json prints one object; an existing output needs --force (exit 2)', () => {
    const out = path.join(tmp, 'json.onnx');
    const r = bnc(['convert', 'caffe-to-onnx', PROTOTXT, CAFFEMODEL, '-o', out, '--json', '--batch', 'dynamic']);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.inputs).toEqual([{ name: 'data', shape: ['N', 3, 15, 15] }]);
    expect(result.outputs).toEqual([{ name: 'prob', shape: [null, 10] }]);
    expect(result.batchNorm).toEqual({ count: 1, mergedWithScale: 1, trainingMode: 0 });
    const again = bnc(['convert', 'caffe-to-onnx', PROTOTXT, '-o', out]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exists; pass --force/);
  });

  it('bad input is one line and exit 2: unsupported layers, missing weights, bad options', () => {
    const proto = path.join(tmp, 'bad.prototxt');
    fs.writeFileSync(proto, 'input: "data"\ninput_dim: 1 input_dim: 1 input_dim: 2 input_dim: 2\nlayer { name: "p" type: "Proposal" bottom: "data" top: "p" }\n');
    const r = bnc(['convert', 'caffe-to-onnx', proto, '-o', path.join(tmp, 'bad.onnx'), '--random-weights']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/1 unsupported layer in the TEST net: 'p' \(Proposal\)/);
    const noWeights = bnc(['convert', 'caffe-to-onnx', proto, '-o', path.join(tmp, 'bad.onnx')]);
    expect(noWeights.code).toBe(2);
    expect(noWeights.stderr).toMatch(/no weights given/);
    const badOpset = bnc(['convert', 'caffe-to-onnx', PROTOTXT, '-o', path.join(tmp, 'o.onnx'), '--opset', '9']);
    expect(badOpset.code).toBe(2);
    expect(badOpset.stderr).toMatch(/--opset "9": expected a whole number from 13 to 21/);
    expect(fs.existsSync(path.join(tmp, 'bad.onnx'))).toBe(false);
  });
});

describe('seeded random weights', () => {
  it('randomCaffemodelFor writes a caffemodel that reads back to the same weights as --random-weights', () => {
    const bytes = randomCaffemodelFor(PROTOTXT, 5);
    const layers = parseCaffemodel(bytes, 'random.caffemodel');
    expect(layers.map((l) => [l.name, l.type, l.blobs.length])).toEqual([
      ['conv1', 'Convolution', 1],
      ['conv1/bn', 'BatchNorm', 3],
      ['conv1/scale', 'Scale', 2],
      ['fc', 'InnerProduct', 2],
    ]);
    const file = path.join(tmp, 'random.caffemodel');
    fs.writeFileSync(file, bytes);
    const fromFile = readCaffeFiles(PROTOTXT, file).model;
    const generated = readCaffeFiles(PROTOTXT, undefined, { randomWeights: true, seed: 5 }).model;
    const weights = (m: typeof fromFile) => m.graph.initializers.map((t) => Buffer.from((t.data as Float32Array).buffer, (t.data as Float32Array).byteOffset, (t.data as Float32Array).byteLength));
    const a = weights(fromFile);
    const b = weights(generated);
    expect(a.length).toBe(b.length);
    a.forEach((buf, i) => expect(buf.equals(b[i]!), fromFile.graph.initializers[i]!.name).toBe(true));
    // Another seed gives other weights.
    const other = weights(readCaffeFiles(PROTOTXT, undefined, { randomWeights: true, seed: 6 }).model);
    expect(other[0]!.equals(a[0]!)).toBe(false);
  });
});

describe('memory: weights are never copied twice', () => {
  it('misaligned caffemodel weights are aligned in place in the file buffer, with the same values as a copy', () => {
    const bytes = randomCaffemodelFor(PROTOTXT, 9);
    // A NetParameter name (field 1) of 0..3 characters in front shifts every blob to each residue mod 4.
    for (let pad = 0; pad < 4; pad++) {
      const prefix = Uint8Array.from([0x0a, pad, ...new Array<number>(pad).fill(0x78)]);
      const file = new Uint8Array(prefix.length + bytes.length);
      file.set(prefix);
      file.set(bytes, prefix.length);
      const copied = parseCaffemodel(file.slice(), 'copy.caffemodel');
      const inPlace = parseCaffemodel(file, 'in-place.caffemodel', { overwriteBytes: true });
      expect(inPlace.length).toBe(copied.length);
      inPlace.forEach((layer, i) => {
        layer.blobs.forEach((blob, j) => {
          const want = copied[i]!.blobs[j]!;
          expect(blob.dims).toEqual(want.dims);
          expect(Array.from(blob.data), `${layer.name} blob ${j}, shift ${prefix.length}`).toEqual(Array.from(want.data));
          // Payloads of 128 bytes and more have room to move back over their own tag and length.
          if (blob.data.byteLength >= 128) expect(blob.data.buffer, `${layer.name} blob ${j} is a view`).toBe(file.buffer);
        });
      });
    }
  });

  it('an ONNX file written piece by piece (serializeOnnxChunks + writeFileAtomic) is byte-identical to serializeOnnx', () => {
    const model = readCaffeFiles(PROTOTXT, CAFFEMODEL).model;
    const chunks = serializeOnnxChunks(model);
    expect(chunks.length).toBeGreaterThan(1);
    const out = path.join(tmp, 'chunks.onnx');
    writeFileAtomic(out, () => chunks);
    expect(fs.readFileSync(out).equals(Buffer.from(serializeOnnx(model)))).toBe(true);
    expect(fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});
