import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import protobuf from 'protobufjs';
import { afterAll, describe, expect, it } from 'vitest';
import { CaffeConversion, parseCaffemodel, readCaffeFiles } from '../../src/formats/caffe/index.js';
import { serializeOnnx } from '../../src/formats/onnx/index.js';
import { DataType } from '../../src/ir/index.js';
import { runPasses } from '../../src/passes/index.js';
import { runModel } from '../../src/runtime/engine.js';
import { REPO } from '../helpers/cli.js';
import { bncErrorOf } from '../helpers/errors.js';
import { runOrt } from '../helpers/ort.js';

// Fork layers on small nets written here (PSPNet's Interp and BN, Fast R-CNN's ROIPooling): weights encoded
// by protobufjs (a generic encoder, not bnc's); expected values worked by hand from each fork's source, and
// checked in both onnxruntime (on the written ONNX) and bnc's runtime.

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-caffe-fork-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const schema = new protobuf.Root().loadSync(path.join(REPO, 'proto/caffe.proto'), { keepCase: true });
const NetParameter = schema.lookupType('caffe.NetParameter');

type LayerIn = { name: string; type: string; blobs: { dims: number[]; data: number[] }[] };

function writeNet(name: string, prototxt: string, layers?: LayerIn[]): { prototxt: string; caffemodel?: string } {
  const p = path.join(tmp, `${name}.prototxt`);
  fs.writeFileSync(p, prototxt);
  if (!layers) return { prototxt: p };
  const net = { name, layer: layers.map((l) => ({ name: l.name, type: l.type, blobs: l.blobs.map((b) => ({ shape: { dim: b.dims }, data: b.data })) })) };
  const m = path.join(tmp, `${name}.caffemodel`);
  fs.writeFileSync(m, NetParameter.encode(NetParameter.fromObject(net)).finish());
  return { prototxt: p, caffemodel: m };
}

function convert(files: { prototxt: string; caffemodel?: string }, warnings: string[] = []): CaffeConversion {
  return readCaffeFiles(files.prototxt, files.caffemodel, { warn: (w) => warnings.push(w) });
}

type Feed = Record<string, { data: Float32Array; dims: number[] }>;

/** The net's single output from onnxruntime and from bnc's runtime. */
async function runBoth(conv: CaffeConversion, feeds: Feed): Promise<{ ort: { data: Float32Array; dims: number[] }; bnc: { data: Float32Array; dims: number[] } }> {
  const out = conv.outputs[0]!;
  const ortResult = await runOrt(serializeOnnx(conv.model), feeds);
  const run = runModel(conv.model, new Map(Object.entries(feeds).map(([k, v]) => [k, { dtype: DataType.FLOAT, dims: v.dims, data: v.data }])));
  const got = run.outputs.get(out)!;
  return { ort: ortResult[out]!, bnc: { data: got.data as Float32Array, dims: got.dims } };
}

function expectClose(got: { data: Float32Array; dims: number[] }, dims: number[], want: number[], tol = 1e-6): void {
  expect(got.dims).toEqual(dims);
  expect(got.data.length).toBe(want.length);
  want.forEach((w, i) => expect(Math.abs(got.data[i]! - w), `element ${i}: ${got.data[i]} vs ${w}`).toBeLessThanOrEqual(tol));
}

const header = (dims: number[], name = 'data') => `input: "${name}"\n${dims.map((d) => `input_dim: ${d}`).join('\n')}\n`;
const seq = (n: number) => Float32Array.from({ length: n }, (_, i) => i);

describe('caffemodel: fork fields that share a number are decoded by the layer type', () => {
  // Field 143 is input_param in BVLC's LayerParameter and interp_param in hszhao/PSPNet's: two schemas
  // written here, each layer encoded with its own, in one file.
  const root = protobuf.parse(`
    syntax = "proto2";
    message BlobShape { repeated int64 dim = 1 [packed = true]; }
    message InputParameter { repeated BlobShape shape = 1; }
    message InterpParameter { optional int32 height = 1; optional int32 width = 2; optional int32 zoom_factor = 3; optional int32 pad_beg = 5; }
    message BvlcLayer { optional string name = 1; optional string type = 2; optional InputParameter input_param = 143; }
    message PspLayer { optional string name = 1; optional string type = 2; optional InterpParameter interp_param = 143; }
    message Net { repeated bytes layer = 100; }
  `, { keepCase: true }).root;
  const Bvlc = root.lookupType('BvlcLayer');
  const Psp = root.lookupType('PspLayer');
  const Net = root.lookupType('Net');
  const cat = (...parts: Uint8Array[]) => Uint8Array.from(parts.flatMap((p) => [...p]));

  it('reads input_param for an Input layer and interp_param for an Interp layer in the same file', () => {
    const input = Bvlc.encode(Bvlc.fromObject({ name: 'in', type: 'Input', input_param: { shape: [{ dim: [1, 3, 4, 5] }] } })).finish();
    const interp = Psp.encode(Psp.fromObject({ name: 'up', type: 'Interp', interp_param: { height: 7, width: 9, pad_beg: -1 } })).finish();
    // The interp_param bytes before the type: the decoder must not depend on field order.
    const interpLate = cat(
      Psp.encode(Psp.fromObject({ interp_param: { zoom_factor: 3 } })).finish(),
      Psp.encode(Psp.fromObject({ name: 'zoom', type: 'Interp' })).finish(),
    );
    const bytes = Net.encode(Net.fromObject({ layer: [input, interp, interpLate] })).finish();
    const layers = parseCaffemodel(bytes, 'mixed.caffemodel');
    expect(layers.map((l) => [l.name, l.type])).toEqual([['in', 'Input'], ['up', 'Interp'], ['zoom', 'Interp']]);
    expect(layers[0]!.params.message('input_param').messages('shape')[0]!.nums('dim')).toEqual([1, 3, 4, 5]);
    const p = layers[1]!.params.message('interp_param');
    expect([p.num('height'), p.num('width'), p.num('pad_beg'), p.has('zoom_factor')]).toEqual([7, 9, -1, false]);
    expect(layers[1]!.params.has('input_param')).toBe(false);
    expect(layers[2]!.params.message('interp_param').num('zoom_factor')).toBe(3);
  });

  it('reads interp_param by name in a prototxt', () => {
    const files = writeNet('interp_named', `${header([1, 1, 2, 3])}layer { name: "up" type: "Interp" bottom: "data" top: "up" interp_param { height: 3 width: 5 } }`);
    const warnings: string[] = [];
    const conv = readCaffeFiles(files.prototxt, undefined, { randomWeights: true, warn: (w) => warnings.push(w) });
    expect(conv.shapes.get('up')).toEqual([1, 1, 3, 5]);
    expect(warnings).toEqual([]);
  });
});

describe('Interp (hszhao/PSPNet interp_layer.cpp, util/interp.cpp)', () => {
  // x = [[0 1 2] [3 4 5]] (2x3). To 3x5: ratios (2−1)/(3−1) = 0.5 and (3−1)/(5−1) = 0.5, so rows 0, the mean
  // of both, 1; columns 0, .5, 1, 1.5, 2.
  const up3x5 = [0, 0.5, 1, 1.5, 2, 1.5, 2, 2.5, 3, 3.5, 3, 3.5, 4, 4.5, 5];
  const cases: { name: string; input: number[]; param: string; dims: number[]; want: number[] }[] = [
    { name: 'height/width', input: [1, 1, 2, 3], param: 'height: 3 width: 5', dims: [1, 1, 3, 5], want: up3x5 },
    // zoom_factor 2: 2 + 1·1 = 3 rows, 3 + 2·1 = 5 columns; zoom alone takes precedence over height/width.
    { name: 'zoom_factor before height/width', input: [1, 1, 2, 3], param: 'zoom_factor: 2 height: 9 width: 9', dims: [1, 1, 3, 5], want: up3x5 },
    // One output pixel: ratio 0, the top-left input value.
    { name: 'to 1x1', input: [1, 1, 2, 3], param: 'height: 1 width: 1', dims: [1, 1, 1, 1], want: [0] },
    // x 3x3 = 0..8; pad_beg −1 crops the first row and column; zoom 1 keeps the 2x2 crop as it is.
    { name: 'crop only (pad_beg -1, zoom 1)', input: [1, 1, 3, 3], param: 'pad_beg: -1 zoom_factor: 1', dims: [1, 1, 2, 2], want: [4, 5, 7, 8] },
    // pad_end −1 keeps [[0 1] [3 4]]; to 3x3 with ratio 0.5 both ways.
    { name: 'crop then resize (pad_end -1)', input: [1, 1, 3, 3], param: 'pad_end: -1 height: 3 width: 3', dims: [1, 1, 3, 3], want: [0, 0.5, 1, 1.5, 2, 2.5, 3, 3.5, 4] },
    // shrink 2 then zoom 3 on 5x5 (0..24): (5−1)/2+1 = 3, then 3 + 2·2 = 7; ratio (5−1)/(7−1) = 2/3.
    {
      name: 'shrink_factor and zoom_factor',
      input: [1, 1, 5, 5],
      param: 'shrink_factor: 2 zoom_factor: 3',
      dims: [1, 1, 7, 7],
      want: Array.from({ length: 49 }, (_, i) => 5 * ((Math.floor(i / 7) * 2) / 3) + (i % 7) * (2 / 3)),
    },
  ];
  for (const t of cases) {
    it(`${t.name}: onnxruntime and bnc's runtime give the fork's values`, async () => {
      const files = writeNet(`interp_${t.name.replace(/\W+/g, '_')}`, `${header(t.input)}layer { name: "up" type: "Interp" bottom: "data" top: "up" interp_param { ${t.param} } }`);
      const conv = readCaffeFiles(files.prototxt, undefined, { randomWeights: true });
      const size = t.input.reduce((a, b) => a * b, 1);
      const { ort, bnc } = await runBoth(conv, { data: { data: seq(size), dims: t.input } });
      expectClose(ort, t.dims, t.want, 1e-5);
      expectClose(bnc, t.dims, t.want, 1e-5);
    });
  }

  it('with --batch dynamic, sizes follow the data batch', async () => {
    const files = writeNet('interp_dynamic', `${header([1, 1, 2, 3])}layer { name: "up" type: "Interp" bottom: "data" top: "up" interp_param { height: 3 width: 5 } }`);
    const conv = readCaffeFiles(files.prototxt, undefined, { randomWeights: true, batch: 'dynamic' });
    const x = Float32Array.from([...seq(6), ...seq(6)]);
    const { ort, bnc } = await runBoth(conv, { data: { data: x, dims: [2, 1, 2, 3] } });
    expectClose(ort, [2, 1, 3, 5], [...up3x5, ...up3x5], 1e-5);
    expectClose(bnc, [2, 1, 3, 5], [...up3x5, ...up3x5], 1e-5);
  });

  it('refuses positive padding and a missing output size, naming the layer', () => {
    const pad = writeNet('interp_pad', `${header([1, 1, 3, 3])}layer { name: "up" type: "Interp" bottom: "data" top: "up" interp_param { pad_beg: 1 zoom_factor: 2 } }`);
    expect(bncErrorOf(() => readCaffeFiles(pad.prototxt, undefined, { randomWeights: true })).message).toMatch(/layer 'up' \(Interp\): pad_beg 1.*only crops/);
    const none = writeNet('interp_none', `${header([1, 1, 3, 3])}layer { name: "up" type: "Interp" bottom: "data" top: "up" interp_param { height: 4 } }`);
    expect(bncErrorOf(() => readCaffeFiles(none.prototxt, undefined, { randomWeights: true })).message).toMatch(/layer 'up' \(Interp\): gives no output size/);
  });
});

describe('BN (hszhao/PSPNet bn_layer.cpp)', () => {
  const prototxt = `${header([1, 2, 1, 2])}
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv" convolution_param { num_output: 2 kernel_size: 1 bias_term: false } }
layer { name: "bn" type: "BN" bottom: "conv" top: "conv" bn_param { eps: 1 frozen: true } }`;
  const weights: LayerIn[] = [
    { name: 'conv', type: 'Convolution', blobs: [{ dims: [2, 2, 1, 1], data: [1, 0, 0, 1] }] },
    // slope, bias, mean, var (1xCx1x1); var + eps = 4 and 1.
    { name: 'bn', type: 'BN', blobs: [{ dims: [1, 2, 1, 1], data: [2, 0.5] }, { dims: [1, 2, 1, 1], data: [1, -1] }, { dims: [1, 2, 1, 1], data: [1, 2] }, { dims: [1, 2, 1, 1], data: [3, 0] }] },
  ];
  // x = [1 2 | 3 4]: channel 0: 2·(x−1)/2 + 1 = x; channel 1: 0.5·(x−2)/1 − 1 = −0.5, 0.
  const want = [1, 2, -0.5, 0];

  it('is one BatchNormalization with the stored statistics, in onnxruntime and bnc', async () => {
    const conv = convert(writeNet('psp_bn', prototxt, weights));
    expect(conv.model.graph.nodes.map((n) => n.opType)).toEqual(['Conv', 'BatchNormalization']);
    const { ort, bnc } = await runBoth(conv, { data: { data: Float32Array.of(1, 2, 3, 4), dims: [1, 2, 1, 2] } });
    expectClose(ort, [1, 2, 1, 2], want);
    expectClose(bnc, [1, 2, 1, 2], want);
  });

  it('folds into the convolution before it (fold-bn)', async () => {
    const conv = convert(writeNet('psp_bn_fold', prototxt, weights));
    runPasses(conv.model, ['fold-bn', 'cleanup']);
    expect(conv.model.graph.nodes.map((n) => n.opType)).toEqual(['Conv']);
    const { ort } = await runBoth(conv, { data: { data: Float32Array.of(1, 2, 3, 4), dims: [1, 2, 1, 2] } });
    expectClose(ort, [1, 2, 1, 2], want);
  });
});

describe('ROIPooling (rbgirshick/caffe-fast-rcnn roi_pooling_layer.cpp)', () => {
  // Features 0..15 (4x4, after a ReLU); rois as a 4-D blob [2, 5, 1, 1] (Caffe checks only C·H·W = 5).
  // Region 0: (0,0)-(3,3), 4x4, bins of 2: maxima 5, 7, 13, 15.
  // Region 1: x 1.5 → 2, y 0.4 → 0, x 2.5 → 3, y 1.6 → 2: width 2, height 3; bin 1.5 x 1: rows [0, 2) and
  // [1, 3), columns 2 and 3: maxima 6, 7, 10, 11.
  const prototxt = `${header([1, 1, 4, 4])}${header([2, 5, 1, 1], 'rois')}
layer { name: "relu" type: "ReLU" bottom: "data" top: "feat" }
layer { name: "pool" type: "ROIPooling" bottom: "feat" bottom: "rois" top: "pool" roi_pooling_param { pooled_h: 2 pooled_w: 2 spatial_scale: 1 } }`;
  const rois = Float32Array.of(0, 0, 0, 3, 3, 0, 1.5, 0.4, 2.5, 1.6);

  it('is one MaxRoiPool (rois reshaped to [R, 5]) giving the fork values in onnxruntime and bnc', async () => {
    const warnings: string[] = [];
    const conv = convert(writeNet('roi_pool', prototxt, []), warnings);
    expect(conv.model.graph.nodes.map((n) => n.opType)).toEqual(['Relu', 'Reshape', 'MaxRoiPool']);
    expect(warnings).toEqual([]);
    const { ort, bnc } = await runBoth(conv, { data: { data: seq(16), dims: [1, 1, 4, 4] }, rois: { data: rois, dims: [2, 5, 1, 1] } });
    const want = [5, 7, 13, 15, 6, 7, 10, 11];
    expectClose(ort, [2, 1, 2, 2], want, 0);
    expectClose(bnc, [2, 1, 2, 2], want, 0);
  });

  it('refuses a missing pooled size and a rois blob without 5 values per region', () => {
    const noSize = writeNet('roi_nosize', prototxt.replace('pooled_h: 2 ', ''), []);
    expect(bncErrorOf(() => convert(noSize)).message).toMatch(/layer 'pool' \(ROIPooling\): pooled_h 0 and pooled_w 2 must both be set/);
    const badRois = writeNet('roi_bad', prototxt.replace('input_dim: 5', 'input_dim: 4'), []);
    expect(bncErrorOf(() => convert(badRois)).message).toMatch(/bottom 1 \(rois\) has shape \[2,4,1,1\]; it must hold 5 values per region/);
  });
});
