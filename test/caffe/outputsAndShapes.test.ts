import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CaffeReadOptions, readCaffeFiles } from '../../src/formats/caffe/index.js';
import { openModel } from '../../src/formats/index.js';
import { readOnnxFile } from '../../src/formats/onnx/index.js';
import { shapeOf } from '../../src/ir/index.js';
import { REPO as REPO_ROOT, bnc } from '../helpers/cli.js';
import { bncErrorOf } from '../helpers/errors.js';

// Which blobs a Caffe net gives (Silence, --outputs), a refused Python layer's message, and --input-shape.

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-caffe-cut-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const p = path.join(tmp, `${name}.prototxt`);
  fs.writeFileSync(p, text);
  return p;
}
const read = (file: string, options: CaffeReadOptions = {}) => readCaffeFiles(file, undefined, { randomWeights: true, ...options });
const outputsOf = (c: ReturnType<typeof read>) => c.model.graph.outputs.map((o) => [o.name, shapeOf(o)]);

const conv = (name: string, bottom: string, top = name, n = 4) =>
  `layer { name: "${name}" type: "Convolution" bottom: "${bottom}" top: "${top}" convolution_param { num_output: ${n} kernel_size: 3 pad: 1 } }\n`;

// A Faster R-CNN-like head: a Python proposal layer reads conv2 and the im_info input.
const FASTER = `input: "data" input_shape { dim: 1 dim: 3 dim: 8 dim: 8 }
input: "im_info" input_shape { dim: 1 dim: 3 }
${conv('conv1', 'data')}layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
${conv('conv2', 'conv1')}layer { name: "proposal" type: "Python" bottom: "conv2" bottom: "im_info" top: "rois"
  python_param { module: "rpn.proposal_layer" layer: "ProposalLayer" param_str: "'feat_stride': 16" } }
layer { name: "head" type: "MyHead" bottom: "rois" top: "out" }
`;

describe('Silence', () => {
  it('a blob read only by Silence layers is a net output', () => {
    const file = write('silence', `input: "data" input_shape { dim: 1 dim: 1 dim: 4 dim: 4 }
${conv('conv', 'data', 'conv', 2)}layer { name: "relu" type: "ReLU" bottom: "data" top: "r" }
layer { name: "quiet" type: "Silence" bottom: "conv" }
layer { name: "quiet2" type: "Silence" bottom: "r" bottom: "conv" }`);
    const c = read(file);
    expect(c.outputs).toEqual(['conv', 'r']);
    expect(outputsOf(c)).toEqual([['conv', [1, 2, 4, 4]], ['r', [1, 1, 4, 4]]]);
  });

  it('a blob read by another layer too is not', () => {
    const file = write('silence_read', `input: "data" input_shape { dim: 1 dim: 1 dim: 4 dim: 4 }
${conv('conv', 'data', 'conv', 2)}layer { name: "quiet" type: "Silence" bottom: "conv" }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "r" }`);
    expect(read(file).outputs).toEqual(['r']);
  });
});

describe('--outputs (reader option outputs)', () => {
  const file = write('faster', FASTER);

  it('builds the net up to the named blobs only: the Python layer and everything after it are dropped', () => {
    const c = read(file, { outputs: ['conv2'] });
    expect(c.model.graph.nodes.map((n) => n.opType)).toEqual(['Conv', 'Relu', 'Conv']);
    expect(c.model.graph.inputs.map((i) => i.name)).toEqual(['data']); // im_info fed only the proposal layer
    expect(outputsOf(c)).toEqual([['conv2', [1, 4, 8, 8]]]);
    expect(c.layers).toBe(3);
  });

  it('gives the blobs in the order named, each at its final (in-place) version', () => {
    const c = read(file, { outputs: ['conv2', 'conv1'] });
    expect(c.model.graph.outputs.map((o) => o.name)).toEqual(['conv2', 'conv1']);
    // conv1's final version is the ReLU's output (Caffe's net.blobs['conv1'] after the forward pass).
    expect(c.model.graph.nodes.find((n) => n.outputs.includes('conv1'))!.opType).toBe('Relu');
    // Cut before the ReLU's consumer: still the ReLU's output (it writes conv1 in place).
    const only = read(file, { outputs: ['conv1'] });
    expect(only.model.graph.nodes.map((n) => n.opType)).toEqual(['Conv', 'Relu']);
  });

  it('is reachable through openModel (OpenOptions.outputs)', () => {
    expect(openModel(file, { randomWeights: true, outputs: ['conv1'] }).graph.outputs.map((o) => o.name)).toEqual(['conv1']);
  });

  it('refuses unknown blobs and net inputs, listing the blobs', () => {
    expect(bncErrorOf(() => read(file, { outputs: ['conv9'] })).message).toMatch(/--outputs: the TEST net of .* has no blob 'conv9'; its blobs are 'conv1', 'conv2', 'rois', 'out'/);
    expect(bncErrorOf(() => read(file, { outputs: ['im_info'] })).message).toMatch(/--outputs: 'im_info' is a net input/);
  });
});

describe('a refused Python layer', () => {
  it('names its module and layer, lists every unsupported layer, and suggests --outputs with the blobs feeding it', () => {
    const e = bncErrorOf(() => read(write('faster_full', FASTER)));
    expect(e.code).toBe('UNSUPPORTED_LAYER');
    expect(e.message).toMatch(
      /2 unsupported layers in the TEST net: 'proposal' \(Python: module rpn\.proposal_layer, layer ProposalLayer\), 'head' \(MyHead\); a Python layer .* --outputs conv2;/,
    );
  });

  it('a chain of Python layers: the suggested blobs are the ones bnc can build', () => {
    const file = write('py_chain', FASTER.replace('type: "MyHead"', 'type: "Python" python_param { module: "post" layer: "Post" }'));
    expect(bncErrorOf(() => read(file)).message).toMatch(/'head' \(Python: module post, layer Post\); .* --outputs conv2;/);
  });

  it('a Python layer without bottoms (a data layer) is told to become a net input', () => {
    const file = write('py_data', `layer { name: "input-data" type: "Python" top: "data" top: "im_info" python_param { module: "roi_data_layer.layer" layer: "RoIDataLayer" } }
${conv('conv1', 'data')}`);
    expect(bncErrorOf(() => read(file)).message).toMatch(/'input-data' \(Python: module roi_data_layer\.layer, layer RoIDataLayer\); .*declare its tops \(data, im_info\) as net inputs/);
  });
});

describe('--input-shape (reader option inputShapes)', () => {
  const file = write('pose', `layer { name: "input" type: "Input" top: "image" input_param { shape { dim: 1 dim: 3 dim: 16 dim: 16 } } }
${conv('conv1', 'image')}layer { name: "pool" type: "Pooling" bottom: "conv1" top: "pool" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }`);

  it('replaces the declared shape of an Input layer or a header input', () => {
    const c = read(file, { inputShapes: { image: [1, 3, 368, 368] } });
    expect(c.model.graph.inputs.map((i) => shapeOf(i))).toEqual([[1, 3, 368, 368]]);
    expect(outputsOf(c)).toEqual([['pool', [1, 4, 184, 184]]]);
    const header = read(write('faster_shape', FASTER), { inputShapes: { data: [2, 3, 20, 12] }, outputs: ['conv2'] });
    expect(outputsOf(header)).toEqual([['conv2', [2, 4, 20, 12]]]);
    // An input the cut leaves unused may still be named.
    expect(read(write('faster_unused', FASTER), { inputShapes: { im_info: [1, 4] }, outputs: ['conv2'] }).model.graph.inputs.map((i) => i.name)).toEqual(['data']);
  });

  it('refuses a name that is not a net input and a different rank', () => {
    expect(bncErrorOf(() => read(file, { inputShapes: { data: [1, 3, 8, 8] } })).message).toBe(
      `--input-shape data=1,3,8,8: 'data' is not an input of the TEST net; its inputs are 'image'`,
    );
    expect(bncErrorOf(() => read(file, { inputShapes: { image: [3, 8, 8] } })).message).toBe(
      `--input-shape image=3,8,8: the net declares 'image' with 4 axes [1,3,16,16]; give 4 sizes`,
    );
  });
});

describe('bnc convert caffe-to-onnx --outputs --input-shape', () => {
  it('converts up to the blobs with the given input shape', () => {
    const out = path.join(tmp, 'cut.onnx');
    const r = bnc(['convert', 'caffe-to-onnx', write('faster_cli', FASTER), '-o', out, '--random-weights', '--outputs', 'conv1,conv2', '--input-shape', 'data=1,3,10,6']);
    // python_param may be unknown to bnc's schema: at most that warning.
    expect(r.stderr.split('\n').filter((l) => l && !/unknown field 'python_param'/.test(l))).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/output conv1 float \[1, 4, 10, 6\]/);
    const model = readOnnxFile(out);
    expect(model.graph.outputs.map((o) => [o.name, shapeOf(o)])).toEqual([['conv1', [1, 4, 10, 6]], ['conv2', [1, 4, 10, 6]]]);
  });

  it('a malformed --input-shape is a usage error (exit 2)', () => {
    const r = bnc(['convert', 'caffe-to-onnx', write('faster_bad', FASTER), '-o', path.join(tmp, 'bad.onnx'), '--random-weights', '--input-shape', 'data=1,3,x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--input-shape "data=1,3,x": expected name=D0,D1,\.\.\./);
  });
});

describe('bnc run / verify --outputs', () => {
  const fixture = path.join(REPO_ROOT, 'fixtures/caffe/small_bn_net.prototxt');

  it('run cuts a Caffe net at the named blob and saves only it', () => {
    const dir = path.join(tmp, 'run_cut');
    const r = bnc(['run', fixture, '--outputs', 'pool1', '--save-outputs', dir, '--json']);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.outputs.map((o: { name: string }) => o.name)).toEqual(['pool1']);
    expect(fs.readdirSync(dir)).toEqual(['pool1.npy']);
  });

  it('verify cuts every Caffe model it is given at the same blobs', () => {
    const r = bnc(['verify', fixture, fixture, '--outputs', 'conv1,fc', '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.outputs.map((o: { name: string }) => o.name).sort()).toEqual(['conv1', 'fc']);
  });

  it('--outputs on ONNX models only is a usage error naming the files (exit 2)', () => {
    const onnx = path.join(REPO_ROOT, 'fixtures/onnx/small_cnn.onnx');
    const r = bnc(['run', onnx, '--outputs', 'logits']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--outputs cuts Caffe nets \(a \.prototxt\).*small_cnn\.onnx is not one/);
  });
});


describe('a MAX pooling with a second top (SegNet\'s argmax mask)', () => {
  it('is refused naming the layer, what the second top is, and --outputs', () => {
    const file = write('segnet_pool', `input: "data" input_shape { dim: 1 dim: 2 dim: 8 dim: 8 }
layer { name: "pool1" type: "Pooling" bottom: "data" top: "pool1" top: "pool1_mask" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }`);
    expect(bncErrorOf(() => read(file)).message).toMatch(/layer 'pool1' \(Pooling\): has 2 tops: the second is MAX pooling's argmax mask .* --outputs/);
  });
});
