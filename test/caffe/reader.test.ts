import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import protobuf from 'protobufjs';
import { afterAll, describe, expect, it } from 'vitest';
import { CaffeConversion, readCaffeFiles } from '../../src/formats/caffe/index.js';
import { caffePooledSize } from '../../src/formats/caffe/layers/index.js';
import { serializeOnnx } from '../../src/formats/onnx/index.js';
import { REPO } from '../helpers/cli.js';
import { runOrt } from '../helpers/ort.js';
import { bncErrorOf } from '../helpers/errors.js';

// Reader behaviour on small nets written here: weights encoded by protobufjs (a generic encoder, not
// bnc's), expected values from plain reference loops in this file.

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-caffe-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const schema = new protobuf.Root().loadSync(path.join(REPO, 'proto/caffe.proto'), { keepCase: true });
const NetParameter = schema.lookupType('caffe.NetParameter');

type BlobIn = { dims: number[]; data: number[]; legacy?: boolean; double?: boolean };
type LayerIn = { name: string; type?: string; blobs: BlobIn[] };

function blobObject(b: BlobIn): Record<string, unknown> {
  const shape = b.legacy
    ? (() => {
        const d = [1, 1, 1, 1, ...b.dims].slice(-4);
        return { num: d[0], channels: d[1], height: d[2], width: d[3] };
      })()
    : { shape: { dim: b.dims } };
  return { ...shape, [b.double ? 'double_data' : 'data']: b.data };
}

function writeNet(name: string, prototxt: string, layers: LayerIn[] | undefined, v1 = false): { prototxt: string; caffemodel?: string } {
  const p = path.join(tmp, `${name}.prototxt`);
  fs.writeFileSync(p, prototxt);
  if (!layers) return { prototxt: p };
  const net = v1
    ? { name, layers: layers.map((l) => ({ name: l.name, type: 4, blobs: l.blobs.map(blobObject) })) }
    : { name, layer: layers.map((l) => ({ name: l.name, type: l.type ?? '', blobs: l.blobs.map(blobObject) })) };
  const m = path.join(tmp, `${name}.caffemodel`);
  fs.writeFileSync(m, NetParameter.encode(NetParameter.fromObject(net)).finish());
  return { prototxt: p, caffemodel: m };
}

function convert(files: { prototxt: string; caffemodel?: string }, warnings: string[] = []): CaffeConversion {
  return readCaffeFiles(files.prototxt, files.caffemodel, { warn: (w) => warnings.push(w) });
}

const seq = (n: number, f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));

// A 1x1 convolution (2 → 2 channels) and its weights, used by several tests.
const conv1x1 = (bottom: string, top: string, name = 'conv') =>
  `layer { name: "${name}" type: "Convolution" bottom: "${bottom}" top: "${top}" convolution_param { num_output: 2 kernel_size: 1 } }`;
const conv1x1Weights = (name = 'conv'): LayerIn => ({
  name,
  type: 'Convolution',
  blobs: [
    { dims: [2, 2, 1, 1], data: [1, 2, -1, 0.5] },
    { dims: [2], data: [0.25, -0.5] },
  ],
});
const conv1x1Ref = (x: Float32Array, hw: number) => {
  const out = new Float32Array(2 * hw);
  for (let i = 0; i < hw; i++) {
    out[i] = 1 * x[i]! + 2 * x[hw + i]! + 0.25;
    out[hw + i] = -1 * x[i]! + 0.5 * x[hw + i]! - 0.5;
  }
  return out;
};

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol = 1e-5): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i]! - want[i]!) <= tol * (1 + Math.abs(want[i]!)))) throw new Error(`element ${i}: ${got[i]} vs ${want[i]}`);
  }
}

describe('net inputs', () => {
  const body = conv1x1('data', 'out');
  const x = Float32Array.from(seq(2 * 3 * 4, (i) => Math.sin(i)));
  const headers: Record<string, string> = {
    'input + input_dim': 'input: "data"\ninput_dim: 1\ninput_dim: 2\ninput_dim: 3\ninput_dim: 4\n',
    'input + input_shape': 'input: "data"\ninput_shape { dim: 1 dim: 2 dim: 3 dim: 4 }\n',
    'Input layer': 'layer { name: "in" type: "Input" top: "data" input_param { shape { dim: 1 dim: 2 dim: 3 dim: 4 } } }\n',
  };
  for (const [style, header] of Object.entries(headers)) {
    it(`${style}: graph input 'data' [1, 2, 3, 4], and the net computes`, async () => {
      const conv = convert(writeNet(style.replace(/\W+/g, '_'), header + body, [conv1x1Weights()]));
      expect(conv.model.graph.inputs.map((i) => [i.name, i.type?.tensor?.shape?.map((d) => d.value)])).toEqual([['data', [1, 2, 3, 4]]]);
      const r = await runOrt(serializeOnnx(conv.model), { data: { data: x, dims: [1, 2, 3, 4] } });
      expectClose(r.out!.data, conv1x1Ref(x, 12));
    });
  }

  it('a header input without a shape is an error naming it', () => {
    const e = bncErrorOf(() => convert(writeNet('noshape', 'input: "data"\n' + body, [conv1x1Weights()])));
    expect(e.message).toMatch(/net input 'data' has no shape/);
  });
});

describe('V1 layers format', () => {
  it('converts `layers { type: CONVOLUTION }` with a V1 caffemodel (legacy 4-D blob shapes) like the layer {} form', async () => {
    const v1 = writeNet(
      'v1',
      `input: "data"
input_dim: 1 input_dim: 2 input_dim: 3 input_dim: 4
layers { name: "conv" type: CONVOLUTION bottom: "data" top: "out" blobs_lr: 1 blobs_lr: 2 weight_decay: 1 weight_decay: 0
  convolution_param { num_output: 2 kernel_size: 1 } }
layers { name: "relu" type: RELU bottom: "out" top: "out" }`,
      [{ name: 'conv', blobs: conv1x1Weights().blobs.map((b) => ({ ...b, legacy: true })) }],
      true,
    );
    const conv = convert(v1);
    expect(conv.model.graph.nodes.map((n) => [n.name, n.opType])).toEqual([
      ['conv', 'Conv'],
      ['relu', 'Relu'],
    ]);
    const x = Float32Array.from(seq(24, (i) => Math.cos(i)));
    const r = await runOrt(serializeOnnx(conv.model), { data: { data: x, dims: [1, 2, 3, 4] } });
    expectClose(r.out!.data, conv1x1Ref(x, 12).map((v) => Math.max(0, v)));
  });
});

describe('include/exclude rules build the TEST net', () => {
  it('drops TRAIN-only layers and keeps TEST ones, by phase, level and stage', () => {
    const files = writeNet(
      'rules',
      `state { level: 2 stage: "deploy" }
layer { name: "in" type: "Input" top: "data" input_param { shape { dim: 1 dim: 2 dim: 1 dim: 1 } } }
layer { name: "train_only" type: "ReLU" bottom: "data" top: "data" include { phase: TRAIN } }
layer { name: "not_in_test" type: "Sigmoid" bottom: "data" top: "data" exclude { phase: TEST } }
layer { name: "test_only" type: "TanH" bottom: "data" top: "a" include { phase: TEST } }
layer { name: "level_ok" type: "AbsVal" bottom: "a" top: "a" include { min_level: 1 max_level: 2 } }
layer { name: "level_too_high" type: "Sigmoid" bottom: "a" top: "a" include { min_level: 3 } }
layer { name: "stage_ok" type: "ELU" bottom: "a" top: "a" include { stage: "deploy" } }
layer { name: "not_stage" type: "Sigmoid" bottom: "a" top: "a" include { not_stage: "deploy" } }
layer { name: "either_rule" type: "ReLU" bottom: "a" top: "a" include { phase: TRAIN } include { stage: "deploy" } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "a" bottom: "label" top: "loss" include { phase: TRAIN } }`,
      [],
    );
    const conv = convert(files);
    expect(conv.model.graph.nodes.map((n) => n.name)).toEqual(['test_only', 'level_ok', 'stage_ok', 'either_rule']);
    expect(conv.outputs).toEqual(['a']);
  });
});

describe('in-place layers', () => {
  it('become distinct SSA values; the last write carries the blob name, node names are layer names', async () => {
    const files = writeNet(
      'inplace',
      `input: "data" input_shape { dim: 1 dim: 2 dim: 1 dim: 3 }
${conv1x1('data', 'c')}
layer { name: "scale" type: "Scale" bottom: "c" top: "c" }
layer { name: "relu" type: "ReLU" bottom: "c" top: "c" }
layer { name: "after" type: "Power" bottom: "c" top: "d" power_param { shift: 1 } }
layer { name: "neg" type: "Power" bottom: "c" top: "c" power_param { scale: -1 } }`,
      [conv1x1Weights(), { name: 'scale', type: 'Scale', blobs: [{ dims: [2], data: [2, -3] }] }],
    );
    const conv = convert(files);
    const g = conv.model.graph;
    expect(g.nodes.map((n) => [n.name, n.inputs[0], n.outputs[0]])).toEqual([
      ['conv', 'data', 'c/conv'],
      ['scale', 'c/conv', 'c/scale'],
      ['relu', 'c/scale', 'c/relu'],
      ['after', 'c/relu', 'd'],
      ['neg', 'c/relu', 'c'],
    ]);
    expect(conv.outputs.sort()).toEqual(['c', 'd']);
    const x = Float32Array.from([0.5, -1, 2, 1, 0.25, -0.75]);
    const r = await runOrt(serializeOnnx(conv.model), { data: { data: x, dims: [1, 2, 1, 3] } });
    const relu = conv1x1Ref(x, 3).map((v, i) => Math.max(0, v * (i < 3 ? 2 : -3)));
    expectClose(r.d!.data, relu.map((v) => v + 1));
    expectClose(r.c!.data, relu.map((v) => -v));
  });
});

describe('BatchNorm', () => {
  const header = 'input: "data" input_shape { dim: 1 dim: 2 dim: 2 dim: 2 }\n';
  const bnLayer = (extra = '') => `layer { name: "bn" type: "BatchNorm" bottom: "data" top: "y" ${extra} }`;
  const x = Float32Array.from([1, -2, 3, 0.5, -1, 4, 2, -0.5]);

  it('divides mean and variance by the stored factor s', async () => {
    const s = 999.982;
    const conv = convert(
      writeNet('bn_s', header + bnLayer('batch_norm_param { eps: 0.001 }'), [
        { name: 'bn', type: 'BatchNorm', blobs: [{ dims: [2], data: [0.5 * s, -1 * s] }, { dims: [2], data: [2 * s, 0.25 * s] }, { dims: [1], data: [s] }] },
      ]),
    );
    const r = await runOrt(serializeOnnx(conv.model), { data: { data: x, dims: [1, 2, 2, 2] } });
    const eps = Math.fround(0.001);
    const mean = [0.5, -1];
    const variance = [2, 0.25];
    expectClose(r.y!.data, Array.from(x, (v, i) => (v - mean[i >> 2]!) / Math.sqrt(variance[i >> 2]! + eps)));
  });

  it('s == 0 means mean = var = 0 (Caffe), whatever the stored blobs say', async () => {
    const conv = convert(
      writeNet('bn_s0', header + bnLayer(), [
        { name: 'bn', type: 'BatchNorm', blobs: [{ dims: [2], data: [5, 6] }, { dims: [2], data: [7, 8] }, { dims: [1], data: [0] }] },
      ]),
    );
    const r = await runOrt(serializeOnnx(conv.model), { data: { data: x, dims: [1, 2, 2, 2] } });
    expectClose(r.y!.data, Array.from(x, (v) => v / Math.sqrt(Math.fround(1e-5))), 1e-4);
  });

  it('use_global_stats: false in TEST is written as training_mode=1 at opset 15, with a warning', () => {
    const warnings: string[] = [];
    const conv = convert(
      writeNet('bn_train', header + bnLayer('batch_norm_param { use_global_stats: false }'), [
        { name: 'bn', type: 'BatchNorm', blobs: [{ dims: [2], data: [0, 0] }, { dims: [2], data: [1, 1] }, { dims: [1], data: [1] }] },
      ]),
      warnings,
    );
    expect(conv.model.opsetImports).toEqual([{ domain: '', version: 15 }]);
    expect(conv.model.graph.nodes[0]!.attributes.find((a) => a.name === 'training_mode')?.i).toBe(1);
    expect(warnings.some((w) => /'bn'.*use_global_stats: false/.test(w))).toBe(true);
  });
});

describe('Caffe pooling geometry', () => {
  /**
   * Count windows one by one: in padded coordinates window i starts at i·s; ceil rounding keeps a window
   * while some of the padded input is still uncovered (start < L − k + s), floor only whole windows; and
   * with padding, a window starting in the trailing padding (start − pad >= size) is not produced.
   */
  function bruteForce(size: number, k: number, s: number, p: number, ceil: boolean): number {
    const padded = size + 2 * p;
    let n = 0;
    for (let start = 0; ; start += s) {
      const produced = ceil ? start < padded - k + s : start + k <= padded;
      if (!produced || (p > 0 && start - p >= size)) break;
      n++;
    }
    return n;
  }

  it('matches a window-counting reference for ceil and floor rounding', () => {
    for (let size = 1; size <= 12; size++) {
      for (let k = 1; k <= 4; k++) {
        for (let s = 1; s <= 3; s++) {
          for (let p = 0; p < k; p++) {
            if (size + 2 * p < k) continue;
            for (const ceil of [true, false]) {
              expect(caffePooledSize(size, k, s, p, ceil), `size ${size} k ${k} s ${s} p ${p} ceil ${ceil}`).toBe(bruteForce(size, k, s, p, ceil));
            }
          }
        }
      }
    }
  });

  /** Caffe's pooling forward pass, written out: windows clipped to input + pad for the AVE divisor. */
  function caffePool(x: Float32Array, h: number, w: number, k: number, s: number, p: number, ave: boolean): { out: Float32Array; oh: number; ow: number } {
    const oh = caffePooledSize(h, k, s, p, true);
    const ow = caffePooledSize(w, k, s, p, true);
    const out = new Float32Array(oh * ow);
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        let hs = i * s - p;
        let ws = j * s - p;
        let he = Math.min(hs + k, h + p);
        let we = Math.min(ws + k, w + p);
        const poolSize = (he - hs) * (we - ws);
        hs = Math.max(hs, 0);
        ws = Math.max(ws, 0);
        he = Math.min(he, h);
        we = Math.min(we, w);
        let acc = ave ? 0 : -Infinity;
        for (let a = hs; a < he; a++) for (let b = ws; b < we; b++) acc = ave ? acc + x[a * w + b]! : Math.max(acc, x[a * w + b]!);
        out[i * ow + j] = ave ? acc / poolSize : acc;
      }
    }
    return { out, oh, ow };
  }

  for (const [h, w, k, s, p] of [
    [7, 8, 3, 2, 1],
    [6, 6, 2, 2, 1],
    [5, 9, 3, 3, 2],
    [10, 7, 3, 2, 0],
  ] as const) {
    it(`MAX and AVE ${h}x${w}, kernel ${k}, stride ${s}, pad ${p} agree with Caffe's forward pass in onnxruntime`, async () => {
      const files = writeNet(
        `pool_${h}_${w}_${k}_${s}_${p}`,
        `input: "data" input_shape { dim: 1 dim: 1 dim: ${h} dim: ${w} }
layer { name: "mx" type: "Pooling" bottom: "data" top: "mx" pooling_param { pool: MAX kernel_size: ${k} stride: ${s} pad: ${p} } }
layer { name: "av" type: "Pooling" bottom: "data" top: "av" pooling_param { pool: AVE kernel_size: ${k} stride: ${s} pad: ${p} } }`,
        [],
      );
      const conv = convert(files);
      const x = Float32Array.from(seq(h * w, (i) => Math.sin(i * 1.3) * 3));
      const r = await runOrt(serializeOnnx(conv.model), { data: { data: x, dims: [1, 1, h, w] } });
      const mx = caffePool(x, h, w, k, s, p, false);
      const av = caffePool(x, h, w, k, s, p, true);
      expect(r.mx!.dims).toEqual([1, 1, mx.oh, mx.ow]);
      expectClose(r.mx!.data, mx.out);
      expectClose(r.av!.data, av.out);
    });
  }
});

describe('bad input', () => {
  const good = () =>
    writeNet('good', `input: "data" input_shape { dim: 1 dim: 2 dim: 3 dim: 4 }\n${conv1x1('data', 'out')}`, [conv1x1Weights()]);

  it('a truncated caffemodel', () => {
    const files = good();
    const bytes = fs.readFileSync(files.caffemodel!);
    const cut = path.join(tmp, 'truncated.caffemodel');
    fs.writeFileSync(cut, bytes.subarray(0, bytes.length - 7));
    const e = bncErrorOf(() => convert({ prototxt: files.prototxt, caffemodel: cut }));
    expect(e.message).toMatch(/truncated\.caffemodel: not a readable \.caffemodel \(.*\); the file may be truncated or corrupted/);
    expect(e.exitCode).toBe(2);
  });

  it('a prototxt syntax error names line and column', () => {
    const files = writeNet('syntax', 'input: "data"\nlayer {\n  name: "a"\n  type "ReLU"\n}', []);
    expect(bncErrorOf(() => convert(files)).message).toBe(`${files.prototxt}:4:8: expected ':' after 'type', found '"ReLU"'`);
  });

  it('every unsupported layer is listed by name and type in one error', () => {
    const files = writeNet(
      'unsupported',
      `input: "data" input_shape { dim: 1 dim: 2 dim: 3 dim: 4 }
layer { name: "ps" type: "PSROIPooling" bottom: "data" top: "ps" psroi_pooling_param { output_dim: 8 } }
layer { name: "r" type: "ReLU" bottom: "ps" top: "r" }
layer { name: "mine" type: "MyLayer" bottom: "r" top: "mine" }`,
      [],
    );
    const warnings: string[] = [];
    const e = bncErrorOf(() => convert(files, warnings));
    expect(e.message).toMatch(/2 unsupported layers in the TEST net: 'ps' \(PSROIPooling\), 'mine' \(MyLayer\)/);
    expect(e.code).toBe('UNSUPPORTED_LAYER');
    expect(warnings[0]).toMatch(/unknown field 'psroi_pooling_param'/);
  });

  it('a blob shape that contradicts the prototxt', () => {
    const files = writeNet('badshape', `input: "data" input_shape { dim: 1 dim: 2 dim: 3 dim: 4 }\n${conv1x1('data', 'out')}`, [
      { name: 'conv', type: 'Convolution', blobs: [{ dims: [2, 2, 3, 3], data: seq(36, () => 0.1) }, { dims: [2], data: [0, 0] }] },
    ]);
    expect(bncErrorOf(() => convert(files)).message).toMatch(
      /layer 'conv' \(Convolution\): weight blob 0 \(weight\) in .* has shape \[2,2,3,3\], but the prototxt implies \[2,2,1,1\]/,
    );
  });

  it('NaN and Inf weights are flagged with the layer name', () => {
    for (const [bad, word] of [
      [NaN, 'NaN'],
      [Infinity, 'Infinity'],
    ] as const) {
      const files = writeNet(`nan${word}`, `input: "data" input_shape { dim: 1 dim: 2 dim: 3 dim: 4 }\n${conv1x1('data', 'out')}`, [
        { name: 'conv', type: 'Convolution', blobs: [{ dims: [2, 2, 1, 1], data: [1, 2, bad, 4] }, { dims: [2], data: [0, 0] }] },
      ]);
      expect(bncErrorOf(() => convert(files)).message).toMatch(new RegExp(`layer 'conv' \\(Convolution\\): weight blob 0 \\(weight\\) .* contains ${word} at element 2`));
    }
  });

  it('a learnable layer without weights is an error; weights without a layer a warning', () => {
    const files = writeNet('missing', `input: "data" input_shape { dim: 1 dim: 2 dim: 3 dim: 4 }\n${conv1x1('data', 'out')}`, [
      { ...conv1x1Weights('stray'), type: 'Convolution' },
    ]);
    const warnings: string[] = [];
    expect(bncErrorOf(() => convert(files, warnings)).message).toMatch(/no weights for 1 learnable layer: 'conv' \(Convolution\).*--random-weights/);
    expect(warnings.some((w) => /weights for 1 layer the prototxt does not have: 'stray'/.test(w))).toBe(true);
  });

  it('double_data blobs are read', async () => {
    const files = writeNet('doubles', `input: "data" input_shape { dim: 1 dim: 2 dim: 1 dim: 2 }\n${conv1x1('data', 'out')}`, [
      { name: 'conv', type: 'Convolution', blobs: conv1x1Weights().blobs.map((b) => ({ ...b, double: true })) },
    ]);
    const x = Float32Array.from([1, 2, 3, 4]);
    const r = await runOrt(serializeOnnx(convert(files).model), { data: { data: x, dims: [1, 2, 1, 2] } });
    expectClose(r.out!.data, conv1x1Ref(x, 2));
  });
});
