import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import protobuf from 'protobufjs';
import { afterAll, describe, expect, it } from 'vitest';
import { CaffeConversion, readCaffeFiles } from '../../src/formats/caffe/index.js';
import { serializeOnnx } from '../../src/formats/onnx/index.js';
import { DataType } from '../../src/ir/index.js';
import { runModel } from '../../src/runtime/engine.js';
import { runPasses } from '../../src/passes/index.js';
import { REPO } from '../helpers/cli.js';
import { bncErrorOf } from '../helpers/errors.js';
import { runOrt } from '../helpers/ort.js';

// Edge parameters of the later-BVLC and fork layers that the shared cases do not cover. Expected values
// are worked by hand from each layer's Forward_cpu (the source named above each test); every net runs in
// onnxruntime-node (the written ONNX) and in bnc's runtime, and both must give them.

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-caffe-layers-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const schema = new protobuf.Root().loadSync(path.join(REPO, 'proto/caffe.proto'), { keepCase: true });
const NetParameter = schema.lookupType('caffe.NetParameter');

type LayerWeights = { name: string; blobs: { dims: number[]; data: number[] }[] };
let count = 0;

/** Write the prototxt (an Input layer `data` of shape `dims` + `body`) and its weights; convert. */
function convert(dims: number[], body: string, weights: LayerWeights[] = [], opset?: number): CaffeConversion {
  const name = `net${count++}`;
  const prototxt = path.join(tmp, `${name}.prototxt`);
  fs.writeFileSync(prototxt, `name: "${name}"\nlayer { name: "data" type: "Input" top: "data" input_param { shape { ${dims.map((d) => `dim: ${d}`).join(' ')} } } }\n${body}`);
  const caffemodel = path.join(tmp, `${name}.caffemodel`);
  const net = { name, layer: weights.map((l) => ({ name: l.name, blobs: l.blobs.map((b) => ({ shape: { dim: b.dims }, data: b.data })) })) };
  fs.writeFileSync(caffemodel, NetParameter.encode(NetParameter.fromObject(net)).finish());
  return readCaffeFiles(prototxt, caffemodel, { opset });
}

/** Run the conversion in onnxruntime and bnc's runtime; every expected net output must match in both. */
async function expectOutputs(conv: CaffeConversion, input: number[], expected: Record<string, { dims: number[]; data: number[] }>): Promise<void> {
  const dims = conv.shapes.get('data')!;
  const x = Float32Array.from(input);
  const ort = await runOrt(serializeOnnx(conv.model), { data: { data: x, dims } });
  const bnc = runModel(conv.model, new Map([['data', { dtype: DataType.FLOAT, dims, data: x }]]));
  for (const [blob, want] of Object.entries(expected)) {
    for (const [who, got] of [
      ['onnxruntime', ort[blob]],
      ['bnc', bnc.outputs.get(blob)],
    ] as const) {
      expect(got, `${who} ${blob}`).toBeDefined();
      expect(got!.dims, `${who} ${blob} shape`).toEqual(want.dims);
      const data = Array.from(got!.data as Float32Array);
      want.data.forEach((v, i) => expect(data[i], `${who} ${blob}[${i}]`).toBeCloseTo(v, 5));
    }
  }
}

describe('later-BVLC and fork Caffe layers: edge parameters', () => {
  it('Clip with min > max gives min everywhere, as std::max(min, std::min(x, max)) does (BVLC clip_layer.cpp)', async () => {
    const conv = convert([1, 4], 'layer { name: "c" type: "Clip" bottom: "data" top: "c" clip_param { min: 1 max: 0 } }');
    await expectOutputs(conv, [-1, 0.5, 2, 0], { c: { dims: [1, 4], data: [1, 1, 1, 1] } });
  });

  it('Clip without max is refused with the layer named', () => {
    const e = bncErrorOf(() => convert([1, 4], 'layer { name: "c" type: "Clip" bottom: "data" top: "c" clip_param { min: 1 } }'));
    expect(e.message).toMatch(/layer 'c' \(Clip\): clip_param needs both min and max/);
  });

  it('Threshold is strict: x == threshold gives 0, the next float up gives 1 (BVLC threshold_layer.cpp)', async () => {
    const t = Math.fround(0.3);
    const above = new Float32Array(new Uint32Array([new Uint32Array(Float32Array.of(t).buffer)[0]! + 1]).buffer)[0]!;
    const conv = convert([1, 5], 'layer { name: "t" type: "Threshold" bottom: "data" top: "t" threshold_param { threshold: 0.3 } }');
    await expectOutputs(conv, [t, above, -5, 10, 0], { t: { dims: [1, 5], data: [0, 1, 0, 1, 0] } });
  });

  it('Threshold default 0: zero gives 0, tiny positives 1', async () => {
    const conv = convert([1, 3], 'layer { name: "t" type: "Threshold" bottom: "data" top: "t" }');
    await expectOutputs(conv, [0, 1e-30, -1e-30], { t: { dims: [1, 3], data: [0, 1, 0] } });
  });

  it('Threshold of NaN is 0 (Caffe: NaN > threshold is false)', async () => {
    const conv = convert([1, 3], 'layer { name: "t" type: "Threshold" bottom: "data" top: "t" threshold_param { threshold: -1 } }');
    await expectOutputs(conv, [NaN, 0, -2], { t: { dims: [1, 3], data: [0, 1, 0] } });
  });

  it('Swish with the default beta is x·sigmoid(x) (BVLC swish_layer.cpp)', async () => {
    const conv = convert([1, 3], 'layer { name: "s" type: "Swish" bottom: "data" top: "s" }');
    const xs = [-2, 0, 3];
    await expectOutputs(conv, xs, { s: { dims: [1, 3], data: xs.map((v) => v / (1 + Math.exp(-v))) } });
  });

  it('ReLU6 with negative_slope: min(max(x,0) + slope·min(x,0), 6) (eric612/MobileNet-YOLO relu6_layer.cpp)', async () => {
    const conv = convert([1, 5], 'layer { name: "r" type: "ReLU6" bottom: "data" top: "r" relu6_param { negative_slope: 0.1 } }');
    await expectOutputs(conv, [-10, -1, 3, 7, 6], { r: { dims: [1, 5], data: [-1, -0.1, 3, 6, 6] } });
  });

  it('Tile on axis 0 of a 2-D blob repeats the whole blob (BVLC tile_layer.cpp)', async () => {
    const conv = convert([2, 2], 'layer { name: "t" type: "Tile" bottom: "data" top: "t" tile_param { axis: 0 tiles: 2 } }');
    await expectOutputs(conv, [1, 2, 3, 4], { t: { dims: [4, 2], data: [1, 2, 3, 4, 1, 2, 3, 4] } });
  });

  it('Tile without tiles is refused', () => {
    expect(bncErrorOf(() => convert([2, 2], 'layer { name: "t" type: "Tile" bottom: "data" top: "t" }')).message).toMatch(/tile_param has no tiles/);
  });

  it('Crop with a negative axis, and an offset that does not fit is refused (BVLC crop_layer.cpp)', async () => {
    const body = (offset: number) => `layer { name: "ref" type: "Input" top: "ref" input_param { shape { dim: 1 dim: 1 dim: 2 dim: 2 } } }
      layer { name: "c" type: "Crop" bottom: "data" bottom: "ref" top: "c" crop_param { axis: -1 offset: ${offset} } }`;
    const conv = convert([1, 1, 2, 4], body(1));
    // axis -1: only the last axis is cropped, to ref's size 2 from offset 1; the 2 rows stay.
    const x = [0, 1, 2, 3, 10, 11, 12, 13];
    const dims = [1, 1, 2, 4];
    const ort = await runOrt(serializeOnnx(conv.model), { data: { data: Float32Array.from(x), dims }, ref: { data: new Float32Array(4), dims: [1, 1, 2, 2] } });
    expect(ort.c!.dims).toEqual([1, 1, 2, 2]);
    expect(Array.from(ort.c!.data)).toEqual([1, 2, 11, 12]);
    expect(bncErrorOf(() => convert([1, 1, 2, 4], body(3))).message).toMatch(/layer 'c' \(Crop\): the crop of axis 3 \(size 2 from offset 3\) does not fit/);
  });

  it('Reduction MEAN on axis -1 with coeff, ASUM on axis 0 (0-d) (BVLC reduction_layer.cpp)', async () => {
    const conv = convert(
      [2, 3],
      `layer { name: "m" type: "Reduction" bottom: "data" top: "m" reduction_param { operation: MEAN axis: -1 coeff: 3 } }
       layer { name: "a" type: "Reduction" bottom: "data" top: "a" reduction_param { operation: ASUM } }`,
    );
    // MEAN's coeff is divided by the count (3): 3/3 = 1, so m is the plain row sum / 3 · 3 = row sums.
    await expectOutputs(conv, [1, -2, 4, 0.5, 0.5, -3], { m: { dims: [2], data: [3, -2] }, a: { dims: [], data: [11] } });
  });

  it('MVN on a 2-D blob: each value is its own mean, so the output is 0; across_channels normalizes rows; the top is 4-D (BVLC mvn_layer.cpp)', async () => {
    const conv = convert(
      [2, 2],
      `layer { name: "own" type: "MVN" bottom: "data" top: "own" }
       layer { name: "rows" type: "MVN" bottom: "data" top: "rows" mvn_param { across_channels: true eps: 0.5 } }`,
    );
    // row [1, 3]: mean 2, std 1, (x − 2)/(1 + 0.5) = ∓2/3; row [0, 0]: 0/(0 + 0.5) = 0.
    // Caffe reshapes the top to (num, channels, height, width): [2, 2, 1, 1].
    await expectOutputs(conv, [1, 3, 0, 0], { own: { dims: [2, 2, 1, 1], data: [0, 0, 0, 0] }, rows: { dims: [2, 2, 1, 1], data: [-2 / 3, 2 / 3, 0, 0] } });
  });

  it('MVN at opset 18 (ReduceMean takes its axes as an input there)', async () => {
    const conv = convert([1, 1, 1, 2], 'layer { name: "m" type: "MVN" bottom: "data" top: "m" mvn_param { eps: 1 } }', [], 18);
    // mean 2, std 1: (x − 2)/(1 + 1).
    await expectOutputs(conv, [1, 3], { m: { dims: [1, 1, 1, 2], data: [-0.5, 0.5] } });
    expect(conv.model.opsetImports[0]!.version).toBe(18);
  });

  it('ArgMax ranks equal values by the HIGHER index first, as partial_sort with std::greater on pairs does (BVLC argmax_layer.cpp)', async () => {
    const conv = convert(
      [1, 5],
      `layer { name: "flat" type: "ArgMax" bottom: "data" top: "flat" argmax_param { out_max_val: true top_k: 3 } }
       layer { name: "ax" type: "ArgMax" bottom: "data" top: "ax" argmax_param { axis: 1 top_k: 2 } }`,
    );
    // values 1, 3, 3, 2, 3: the three 3s at indices 4, 2, 1 (higher index first).
    await expectOutputs(conv, [1, 3, 3, 2, 3], {
      flat: { dims: [1, 2, 3], data: [4, 2, 1, 3, 3, 3] },
      ax: { dims: [1, 2], data: [4, 2] },
    });
  });

  it('ArgMax with top_k larger than the axis is refused', () => {
    expect(bncErrorOf(() => convert([1, 3], 'layer { name: "a" type: "ArgMax" bottom: "data" top: "a" argmax_param { axis: 1 top_k: 4 } }')).message).toMatch(
      /layer 'a' \(ArgMax\): top_k 4 exceeds the size 3 of axis 1/,
    );
  });

  it('Embed without bias truncates indices toward zero (static_cast<int>) (BVLC embed_layer.cpp)', async () => {
    const conv = convert([1, 3], 'layer { name: "e" type: "Embed" bottom: "data" top: "e" embed_param { num_output: 2 input_dim: 3 bias_term: false } }', [
      { name: 'e', blobs: [{ dims: [3, 2], data: [10, 11, 20, 21, 30, 31] }] },
    ]);
    await expectOutputs(conv, [2.7, 0, 1.2], { e: { dims: [1, 3, 2], data: [30, 31, 10, 11, 20, 21] } });
  });

  it('SPP MAX, pyramid_height 2 on 3x3: level 1 has kernel 2, pad 1 and drops its last window (BVLC spp_layer.cpp)', async () => {
    const conv = convert([1, 1, 3, 3], 'layer { name: "s" type: "SPP" bottom: "data" top: "s" spp_param { pyramid_height: 2 } }');
    // level 0: max of all = 8; level 1 bins rows {0},{1,2} x cols {0},{1,2}: 0, 2, 6, 8.
    await expectOutputs(conv, [0, 1, 2, 3, 4, 5, 6, 7, 8], { s: { dims: [1, 5], data: [8, 0, 2, 6, 8] } });
  });

  it('SPP whose pyramid needs pad >= kernel is refused, as Caffe pooling is', () => {
    // 5 rows, 4 bins: kernel 2, pad (8 − 5 + 1)/2 = 2.
    expect(bncErrorOf(() => convert([1, 1, 5, 5], 'layer { name: "s" type: "SPP" bottom: "data" top: "s" spp_param { pyramid_height: 3 } }')).message).toMatch(
      /layer 's' \(SPP\): pyramid level 2 .* lower pyramid_height/,
    );
  });

  it('ShuffleChannel group 3 on 6 channels: out[j·3 + i] = in[i·2 + j] (farmingyard/ShuffleNet shuffle_channel_layer.cpp)', async () => {
    const conv = convert([1, 6, 1, 1], 'layer { name: "s" type: "ShuffleChannel" bottom: "data" top: "s" shuffle_channel_param { group: 3 } }');
    await expectOutputs(conv, [0, 1, 2, 3, 4, 5], { s: { dims: [1, 6, 1, 1], data: [0, 2, 4, 1, 3, 5] } });
  });

  it('ShuffleChannel on a 2-D blob gives a 4-D top, as Caffe reshapes it to (num, channels, height, width)', async () => {
    const conv = convert([1, 4], 'layer { name: "s" type: "ShuffleChannel" bottom: "data" top: "s" shuffle_channel_param { group: 2 } }');
    await expectOutputs(conv, [0, 1, 2, 3], { s: { dims: [1, 4, 1, 1], data: [0, 2, 1, 3] } });
  });

  it('ShuffleChannel whose group does not divide the channels is refused', () => {
    expect(bncErrorOf(() => convert([1, 6, 1, 1], 'layer { name: "s" type: "ShuffleChannel" bottom: "data" top: "s" shuffle_channel_param { group: 4 } }')).message).toMatch(
      /group 4 must be positive and divide the 6 channels/,
    );
  });

  it('Upsample scale 3: top[h][w] = bottom[h/3][w/3] (eric612/MobileNet-YOLO upsample_layer.cpp)', async () => {
    const conv = convert([1, 1, 1, 2], 'layer { name: "u" type: "Upsample" bottom: "data" top: "u" upsample_param { scale: 3 } }');
    const row = [5, 5, 5, 7, 7, 7];
    await expectOutputs(conv, [5, 7], { u: { dims: [1, 1, 3, 6], data: [...row, ...row, ...row] } });
  });

  it('ConvolutionDepthwise reads kernel_h/kernel_w, ignores num_output and group, weight [C,1,kh,kw] (farmingyard conv_dw_layer.cpp)', async () => {
    const conv = convert(
      [1, 2, 3, 2],
      'layer { name: "dw" type: "ConvolutionDepthwise" bottom: "data" top: "dw" convolution_param { num_output: 7 group: 1 kernel_h: 2 kernel_w: 1 } }',
      [{ name: 'dw', blobs: [{ dims: [2, 1, 2, 1], data: [1, 2, -1, 1] }, { dims: [2], data: [0.5, -0.5] }] }],
    );
    // channel 0 (rows [0,1],[2,3],[4,5]): x[h] + 2·x[h+1] + 0.5; channel 1 (rows [6,7],[8,9],[10,11]): −x[h] + x[h+1] − 0.5.
    const x = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
    await expectOutputs(conv, x, { dw: { dims: [1, 2, 2, 2], data: [4.5, 7.5, 10.5, 13.5, 1.5, 1.5, 1.5, 1.5] } });
    expect(conv.model.graph.nodes.find((n) => n.name === 'dw')!.opType).toBe('Conv');
  });

  it('DepthwiseConvolution and ConvolutionDepthwise + BatchNorm + Scale fold into the Conv', () => {
    const bnScale = (bottom: string, n: string) => `
      layer { name: "${n}_bn" type: "BatchNorm" bottom: "${bottom}" top: "${bottom}" }
      layer { name: "${n}_scale" type: "Scale" bottom: "${bottom}" top: "${bottom}" scale_param { bias_term: true } }`;
    const conv = convert(
      [1, 2, 4, 4],
      `layer { name: "a" type: "DepthwiseConvolution" bottom: "data" top: "a" convolution_param { num_output: 2 group: 2 kernel_size: 3 pad: 1 bias_term: false } }
       ${bnScale('a', 'a')}
       layer { name: "b" type: "ConvolutionDepthwise" bottom: "a" top: "b" convolution_param { kernel_size: 3 stride: 2 } }
       ${bnScale('b', 'b')}`,
      [
        { name: 'a', blobs: [{ dims: [2, 1, 3, 3], data: Array.from({ length: 18 }, (_, i) => (i % 5) - 2) }] },
        { name: 'b', blobs: [{ dims: [2, 1, 3, 3], data: Array.from({ length: 18 }, (_, i) => (i % 3) - 1) }, { dims: [2], data: [0.1, 0.2] }] },
        ...['a', 'b'].flatMap((n) => [
          { name: `${n}_bn`, blobs: [{ dims: [2], data: [0.5, -0.5] }, { dims: [2], data: [2, 3] }, { dims: [1], data: [1] }] },
          { name: `${n}_scale`, blobs: [{ dims: [2], data: [1.5, 0.5] }, { dims: [2], data: [0, 1] }] },
        ]),
      ],
    );
    const reports = runPasses(conv.model, ['bn-eval', 'merge-bn-scale', 'fold-bn', 'cleanup']);
    expect(reports.find((r) => r.pass === 'fold-bn')!.changed).toBe(2);
    expect(conv.model.graph.nodes.map((n) => n.opType)).toEqual(['Conv', 'Conv']);
  });
});
