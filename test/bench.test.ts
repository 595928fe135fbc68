// The benchmark's own measuring tools: the FLOP counter, the tfjs peer runner, the ResNet-50 builder and
// the process measurements. onnxruntime-node is the independent oracle for shapes and outputs.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { AttributeType, Model, Node, Tensor, floatAttr, intAttr, intsAttr } from '../src/ir/index.js';
import { serializeOnnx } from '../src/formats/onnx/index.js';
import { countFlops } from '../bench/flops.mjs';
import { buildResNet50 } from '../bench/resnet50.mjs';
import { buildVgg16 } from '../bench/vgg16.mjs';
import { buildTfjsRunner, loadTfjs } from '../bench/tfjs-runner.mjs';
import { maxRelError, measureCommand } from '../bench/measure.mjs';
import { runOrt } from './helpers/ort.js';
import { buildModel, f32, floatInput, rng } from './passes/graphBuilder.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const INPUT_DIMS = [2, 3, 17, 15];

function random(n: number, next: () => number, scale = 1, offset = 0): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = offset + scale * (next() * 2 - 1);
  return out;
}

function op(opType: string, name: string, inputs: string[], attributes: Node['attributes'] = []): Node {
  return { name, opType, domain: '', inputs, outputs: [name], attributes };
}

/**
 * A small CNN with every op the benchmark runners handle and awkward geometry: asymmetric pads, stride 2,
 * a dilated depthwise conv, Clip bounds from Constant nodes, a padded MaxPool, a residual Add, Gemm transB.
 */
function smallCnn(): { model: Model; values: string[] } {
  const next = rng(7);
  const bnParams = (prefix: string, c: number): Tensor[] => [
    f32(`${prefix}.scale`, [c], random(c, next, 0.5, 1)),
    f32(`${prefix}.bias`, [c], random(c, next, 0.1)),
    f32(`${prefix}.mean`, [c], random(c, next, 0.1)),
    f32(`${prefix}.var`, [c], random(c, next, 0.5, 1)),
  ];
  const bn = (name: string, x: string) =>
    op('BatchNormalization', name, [x, `${name}.scale`, `${name}.bias`, `${name}.mean`, `${name}.var`], [floatAttr('epsilon', 1e-3)]);
  const constant = (name: string, value: number): Node => ({
    ...op('Constant', name, []),
    attributes: [{ name: 'value', type: AttributeType.TENSOR, t: f32(name, [], [value]) }],
  });
  const initializers: Tensor[] = [
    f32('conv_a.w', [8, 3, 3, 3], random(8 * 27, next, 0.3)),
    f32('conv_a.b', [8], random(8, next, 0.1)),
    ...bnParams('bn_a', 8),
    f32('dw.w', [8, 1, 3, 3], random(72, next, 0.4)),
    f32('pw.w', [8, 8, 1, 1], random(64, next, 0.4)),
    ...bnParams('bn_pw', 8),
    f32('fc.w', [5, 8], random(40, next, 0.4)),
    f32('fc.b', [5], random(5, next, 0.1)),
  ];
  const nodes: Node[] = [
    op('Conv', 'conv_a', ['input', 'conv_a.w', 'conv_a.b'], [intsAttr('kernel_shape', [3, 3]), intsAttr('strides', [2, 2]), intsAttr('pads', [1, 0, 3, 2])]),
    bn('bn_a', 'conv_a'),
    op('Relu', 'relu_a', ['bn_a']),
    op('Conv', 'dw', ['relu_a', 'dw.w'], [intAttr('group', 8), intsAttr('kernel_shape', [3, 3]), intsAttr('dilations', [2, 2]), intsAttr('pads', [2, 2, 2, 2])]),
    constant('clip_lo', 0),
    constant('clip_hi', 0.6),
    op('Clip', 'clip', ['dw', 'clip_lo', 'clip_hi']),
    op('Conv', 'pw', ['clip', 'pw.w'], [intsAttr('kernel_shape', [1, 1])]),
    bn('bn_pw', 'pw'),
    op('Add', 'add', ['relu_a', 'bn_pw']),
    op('MaxPool', 'pool', ['add'], [intsAttr('kernel_shape', [3, 3]), intsAttr('strides', [2, 2]), intsAttr('pads', [1, 1, 1, 1])]),
    op('GlobalAveragePool', 'gap', ['pool']),
    op('Flatten', 'flat', ['gap'], [intAttr('axis', 1)]),
    op('Gemm', 'fc', ['flat', 'fc.w', 'fc.b'], [intAttr('transB', 1)]),
  ];
  const values = nodes.filter((n) => n.opType !== 'Constant').map((n) => n.outputs[0]!);
  const model = buildModel({ nodes, inputs: [floatInput('input', INPUT_DIMS)], outputs: ['fc'], initializers });
  return { model, values };
}

function seededInput(): Float32Array {
  return random(INPUT_DIMS.reduce((a, b) => a * b, 1), rng(11));
}

describe('bench FLOP counter', () => {
  it('counts Conv and Gemm FLOPs from the shapes onnxruntime computes', async () => {
    const { model, values } = smallCnn();
    // Expose every intermediate so onnxruntime reports its shape.
    const probe: Model = { ...model, graph: { ...model.graph, outputs: values.map((v) => floatInput(v, undefined)) } };
    const shapes = await runOrt(serializeOnnx(probe), { input: { data: seededInput(), dims: INPUT_DIMS } });
    const weights = new Map(model.graph.initializers.map((t) => [t.name, t.dims]));
    let expected = 0;
    for (const n of model.graph.nodes) {
      if (n.opType !== 'Conv' && n.opType !== 'Gemm') continue;
      const outSize = shapes[n.outputs[0]!]!.dims.reduce((a, b) => a * b, 1);
      if (n.opType === 'Conv') {
        const w = weights.get(n.inputs[1]!)!;
        // Multiply-adds per output element: (Cin / group) * kh * kw.
        expected += 2 * outSize * w[1]! * w[2]! * w[3]!;
      } else if (n.opType === 'Gemm') {
        expected += 2 * outSize * shapes[n.inputs[0]!]!.dims[1]!;
      }
    }
    expect(expected).toBeGreaterThan(0);
    expect(countFlops(model, INPUT_DIMS).flops).toBe(expected);
  });

  it('refuses ops it has no shape rule for, instead of undercounting', () => {
    const { model } = smallCnn();
    model.graph.nodes.splice(3, 0, op('Softsign', 'odd', ['relu_a']));
    expect(() => countFlops(model, INPUT_DIMS)).toThrow(/Softsign/);
  });
});

describe('bench ResNet-50 builder', () => {
  const model = buildResNet50({ seed: 3 });

  it("has torchvision ResNet-50's 25,557,032 learnable parameters and a 4.09 GMAC forward pass", () => {
    let learnable = 0;
    for (const t of model.graph.initializers) {
      if (!/\.(mean|var)$/.test(t.name)) learnable += t.dims.reduce((a, b) => a * b, 1);
    }
    expect(learnable).toBe(25_557_032);
    // torchvision's model card lists 4.09 G multiply-adds at 224x224.
    const macs = countFlops(model, [1, 3, 224, 224]).flops / 2;
    expect(Math.abs(macs / 4.09e9 - 1)).toBeLessThan(0.005);
  });

  it('is deterministic for a seed', () => {
    const again = buildResNet50({ seed: 3 });
    const other = buildResNet50({ seed: 4 });
    const bytes = (m: Model, i: number) => Buffer.from((m.graph.initializers[i]!.data as Float32Array).buffer);
    expect(bytes(again, 0).equals(bytes(model, 0))).toBe(true);
    expect(bytes(other, 0).equals(bytes(model, 0))).toBe(false);
  });
});

describe('bench VGG-16 builder', () => {
  it("has configuration D's 138,357,544 parameters and a 15.47 GMAC forward pass", () => {
    const model = buildVgg16({ seed: 1 });
    const params = model.graph.initializers.reduce((n, t) => n + t.dims.reduce((a, b) => a * b, 1), 0);
    // Simonyan & Zisserman, table 2: 138 M; torchvision's vgg16 (the same layers) counts 138,357,544.
    expect(params).toBe(138_357_544);
    const macs = countFlops(model, [1, 3, 224, 224]).flops / 2;
    expect(Math.abs(macs / 15.47e9 - 1)).toBeLessThan(0.005);
    expect(model.graph.nodes.filter((n) => n.opType === 'Conv')).toHaveLength(13);
  });
});

describe('bench tfjs peer runner', () => {
  it('flattens a spatial map in ONNX (NCHW) order, as VGG-16 does before its first Gemm', async () => {
    const tf = await loadTfjs();
    const next = rng(5);
    const dims = [2, 3, 6, 6];
    const model = buildModel({
      nodes: [
        op('Conv', 'conv', ['input', 'conv.w', 'conv.b'], [intsAttr('kernel_shape', [3, 3]), intsAttr('pads', [1, 1, 1, 1])]),
        op('MaxPool', 'pool', ['conv'], [intsAttr('kernel_shape', [2, 2]), intsAttr('strides', [2, 2])]),
        op('Flatten', 'flat', ['pool'], [intAttr('axis', 1)]),
        op('Gemm', 'fc', ['flat', 'fc.w', 'fc.b'], [intAttr('transB', 1)]),
      ],
      inputs: [floatInput('input', dims)],
      outputs: ['fc'],
      initializers: [
        f32('conv.w', [4, 3, 3, 3], random(108, next, 0.4)),
        f32('conv.b', [4], random(4, next, 0.1)),
        f32('fc.w', [5, 36], random(180, next, 0.3)),
        f32('fc.b', [5], random(5, next, 0.1)),
      ],
    });
    const input = random(2 * 3 * 6 * 6, rng(6));
    const runner = buildTfjsRunner(tf, model);
    const got = runner.run(input, dims);
    runner.dispose();
    const want = (await runOrt(serializeOnnx(model), { input: { data: input, dims } })).fc!;
    expect(got.dims).toEqual(want.dims);
    expect(maxRelError(got.data, want.data)).toBeLessThan(1e-5);
  });


  it('computes what onnxruntime computes on the same graph and weights', async () => {
    const tf = await loadTfjs();
    const { model } = smallCnn();
    const input = seededInput();
    const runner = buildTfjsRunner(tf, model);
    const got = runner.run(input, INPUT_DIMS);
    const before = tf.memory().numTensors;
    runner.run(input, INPUT_DIMS);
    // Intermediates are freed after each run: no tensors leak between runs.
    expect(tf.memory().numTensors).toBe(before);
    runner.dispose();
    const want = (await runOrt(serializeOnnx(model), { input: { data: input, dims: INPUT_DIMS } })).fc!;
    expect(got.dims).toEqual(want.dims);
    expect(maxRelError(got.data, want.data)).toBeLessThan(1e-5);
  });
});

describe('bench measurements', () => {
  it('maxRelError is relative to the reference scale and catches NaN and length mismatches', () => {
    expect(maxRelError([1, 2.5, -4], [1, 2, -4])).toBeCloseTo(0.125, 12);
    expect(maxRelError([1, NaN], [1, 2])).toBe(Infinity);
    expect(maxRelError([1], [1, 2])).toBe(Infinity);
  });

  const allocate = ['-e', 'const b = Buffer.alloc(200 * 2 ** 20); b.fill(1); process.stdout.write(String(b[7]))'];

  it('reports the peak RSS of a spawned command and fails on a non-zero exit', () => {
    const result = measureCommand(process.execPath, allocate);
    expect(result.stdout).toBe('1');
    expect(result.peakRssMiB).toBeGreaterThan(200);
    expect(() => measureCommand(process.execPath, ['-e', 'process.exit(3)'])).toThrow(/exited with 3/);
  });

  it('the fallback wrapper reports the max RSS of the script it runs', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-bench-'));
    try {
      const script = path.join(dir, 'alloc.mjs');
      fs.writeFileSync(script, `${allocate[1]};\n`);
      const stats = path.join(dir, 'stats.txt');
      const result = measureCommand(process.execPath, [path.join(ROOT, 'bench', 'rss-wrapper.mjs'), stats, script]);
      expect(result.stdout).toBe('1');
      const [, kib] = fs.readFileSync(stats, 'utf8').trim().split(' ').map(Number);
      expect(kib! / 1024).toBeGreaterThan(200);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
