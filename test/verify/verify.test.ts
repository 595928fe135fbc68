import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataType, intAttr, intsAttr } from '../../src/ir/index.js';
import { serializeOnnx } from '../../src/formats/onnx/index.js';
import { encodeNpy, readNpy } from '../../src/io/npy.js';
import { parseToleranceOptions } from '../../src/verify/compare.js';
import { INPUTS_MANIFEST, verifyModels, VerifyOptions } from '../../src/verify/verify.js';
import { VerifyReport } from '../../src/verify/report.js';
import { buildModel, f32, floatInput, node, normal, rng, uniform } from '../passes/graphBuilder.js';
import { CHANNELS, clone, convNet, scaleConvChannel } from './nets.js';
import { runOrt } from '../helpers/ort.js';
import { bncErrorOf } from '../helpers/errors.js';

// End-to-end tests of verifyModels on small conv nets built with the IR. Verdicts follow from how the
// second model was made (a copy, a rewrite that keeps the function, or one channel scaled by 1.01); the
// metrics are checked against onnxruntime-node running the same two models on the same saved inputs.

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-verify-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function options(extra: Partial<VerifyOptions> = {}): VerifyOptions {
  return { fileA: 'a.onnx', fileB: 'b.onnx', tolerance: parseToleranceOptions([], []), ...extra };
}

describe('verifyModels on built conv nets', () => {
  it('a model against itself: equivalent, exit 0, matched by name, identical', () => {
    const m = convNet();
    const r = verifyModels(m, clone(m), options({ samples: 2, seed: 5 }));
    expect(r.verdict).toBe('equivalent');
    expect(r.exitCode).toBe(0);
    expect(r.matching).toBe('name');
    expect(r.inputs.seeds).toEqual([5, 6]);
    expect(r.inputs.tensors).toEqual([{ name: 'x', dtype: 'float', shape: [1, 3, 10, 10], source: 'generated' }]);
    expect(r.outputs).toHaveLength(1);
    const o = r.outputs[0]!;
    expect(o).toMatchObject({ name: 'scores', nameB: 'scores', shape: [1, CHANNELS], pass: true, mismatch: null });
    expect(o.metrics).toMatchObject({ identical: true, violations: 0, samples: 2, maxAbsError: 0, cosineSimilarity: 1, top1Agreement: 1, top5Agreement: 1, topKRows: 2 });
  });

  it('a rewrite that keeps the function (per-channel scale folded into the conv) passes without being identical', () => {
    const m = convNet();
    const folded = clone(m);
    const g = folded.graph;
    const init = (name: string) => g.initializers.find((t) => t.name === name)!.data as Float32Array;
    const w1 = init('w1');
    const b1 = init('b1');
    const scale = init('scale');
    const shift = init('shift');
    for (let c = 0; c < CHANNELS; c++) {
      for (let i = c * 27; i < (c + 1) * 27; i++) w1[i] = w1[i]! * scale[c]!;
      b1[c] = b1[c]! * scale[c]! + shift[c]!;
    }
    // Relu now reads the conv directly; the Mul and Add (and their constants) go away.
    g.nodes = g.nodes.filter((n) => n.name !== 'mul' && n.name !== 'add');
    g.nodes.find((n) => n.name === 'relu1')!.inputs = ['c1'];
    g.initializers = g.initializers.filter((t) => t.name !== 'scale' && t.name !== 'shift');
    const r = verifyModels(m, folded, options({ samples: 3, allTensors: true }));
    expect(r.verdict).toBe('equivalent');
    expect(r.outputs[0]!.metrics!.identical).toBe(false);
    expect(r.outputs[0]!.metrics!.violations).toBe(0);
    // c1 means something else after the fold (pre- vs post-scale): it diverges, but the verdict is about outputs.
    expect(r.allTensors!.firstDiverging?.name).toBe('c1');
    expect(r.allTensors!.onlyInA).toBe(2); // scaled, shifted
  });

  it('one output channel of one conv scaled by 1.01: different, names the output and the first diverging tensor', () => {
    const m = convNet();
    const broken = scaleConvChannel(m, 'conv2', 3, 1.01);
    const r = verifyModels(m, broken, options({ allTensors: true }));
    expect(r.verdict).toBe('different');
    expect(r.exitCode).toBe(1);
    const o = r.outputs[0]!;
    expect(o.name).toBe('scores');
    expect(o.pass).toBe(false);
    // Only channel 3 of the scores changes, so the worst element is there.
    expect(o.metrics!.worst!.index).toEqual([0, 3]);
    const at = r.allTensors!;
    expect(at.firstDiverging).toMatchObject({ name: 'c2', producer: "Conv node 'conv2'" });
    expect(at.divergingNames).toEqual(['c2', 'r2', 'scores']);
    expect(at).toMatchObject({ compared: 7, equal: 4, diverged: 3, onlyInA: 0, onlyInB: 0, shapeDiffers: [] });
  });

  it('metrics agree with onnxruntime running both models on the saved inputs', async () => {
    const m = convNet(7);
    const broken = scaleConvChannel(m, 'conv1', 0, 1.01);
    const saveDir = path.join(dir, 'ort-inputs');
    const r = verifyModels(m, broken, options({ seed: 11, saveInputsDir: saveDir }));
    const manifest = JSON.parse(fs.readFileSync(path.join(saveDir, INPUTS_MANIFEST), 'utf8'));
    const x = readNpy(path.join(saveDir, manifest['0'].x));
    const feeds = { x: { data: x.data as Float32Array, dims: x.shape } };
    const ya = (await runOrt(serializeOnnx(m), feeds)).scores!.data;
    const yb = (await runOrt(serializeOnnx(broken), feeds)).scores!.data;
    let maxAbs = 0;
    let maxRef = 0;
    for (let i = 0; i < ya.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(ya[i]! - yb[i]!));
      maxRef = Math.max(maxRef, Math.abs(yb[i]!));
    }
    // The pass rule applied to onnxruntime's results, written out independently of src/verify.
    let ortViolations = 0;
    for (let i = 0; i < ya.length; i++) if (Math.abs(ya[i]! - yb[i]!) > 1e-5 * maxRef + 1e-4 * Math.abs(yb[i]!)) ortViolations++;
    const metrics = r.outputs[0]!.metrics!;
    expect(maxAbs).toBeGreaterThan(0);
    expect(Math.abs((metrics.maxAbsError as number) - maxAbs)).toBeLessThan(1e-3 * maxAbs + 1e-6 * maxRef);
    expect(metrics.atolEffective as number).toBeCloseTo(1e-5 * maxRef, 8);
    expect(metrics.violations).toBe(ortViolations);
    expect(r.verdict).toBe(ortViolations > 0 ? 'different' : 'equivalent');
  });

  it('per-output tolerances can accept a known difference', () => {
    const m = convNet();
    const broken = scaleConvChannel(m, 'conv2', 3, 1.01);
    const loose = verifyModels(m, broken, options({ tolerance: parseToleranceOptions(['scores:0.02'], []) }));
    expect(loose.verdict).toBe('equivalent');
    expect(loose.tolerance.perTensor).toEqual({ scores: { rtol: 0.02 } });
    expect(loose.outputs[0]!.metrics!.rtol).toBe(0.02);
    const e = bncErrorOf(() => verifyModels(m, broken, options({ tolerance: parseToleranceOptions(['score:0.02'], []) })));
    expect(e.message).toMatch(/no output named 'score'/);
    expect(e.exitCode).toBe(2);
  });

  it('pairs outputs by position when the names differ, and says so', () => {
    const m = convNet();
    const renamed = clone(m);
    renamed.graph.nodes.at(-1)!.outputs = ['logits'];
    renamed.graph.outputs[0]!.name = 'logits';
    const r = verifyModels(m, renamed, options());
    expect(r.matching).toBe('position');
    expect(r.outputs[0]).toMatchObject({ name: 'scores', nameB: 'logits', pass: true });
  });

  it('NaN in one model only fails', () => {
    const sqrtOf = (abs: boolean) =>
      buildModel({
        nodes: abs ? [node('Abs', ['x'], ['ax']), node('Sqrt', ['ax'], ['y'])] : [node('Sqrt', ['x'], ['y'])],
        inputs: [floatInput('x', [2, 6])],
        outputs: ['y'],
        initializers: [],
      });
    const r = verifyModels(sqrtOf(false), sqrtOf(true), options());
    expect(r.verdict).toBe('different');
    expect(r.outputs[0]!.metrics!.nanMismatches).toBeGreaterThan(0);
    expect(r.outputs[0]!.metrics!.worst!.a).toBe('NaN');
    expect(JSON.parse(JSON.stringify(r))).toEqual(r); // the report survives JSON unchanged
  });

  it('outputs of different shapes fail the pair with a reason', () => {
    const flat = (axes: number[]) =>
      buildModel({
        nodes: [node('ReduceMean', ['x'], ['y'], [intsAttr('axes', axes), intAttr('keepdims', 0)])],
        inputs: [floatInput('x', [2, 3, 4])],
        outputs: ['y'],
        initializers: [],
      });
    const r = verifyModels(flat([2]), flat([1]), options());
    expect(r.verdict).toBe('different');
    expect(r.outputs[0]).toMatchObject({ pass: false, mismatch: 'shape [2, 3] vs [2, 4]', metrics: null });
  });
});

describe('verifyModels: models that cannot be compared are errors (exit 2)', () => {
  const identity = (input: string, dims: number[], output = 'y') =>
    buildModel({ nodes: [node('Relu', [input], [output])], inputs: [floatInput(input, dims)], outputs: [output], initializers: [] });

  it('different input names (two inputs each: no pairing by position)', () => {
    const add = (x: string, y: string) =>
      buildModel({ nodes: [node('Add', [x, y], ['s'])], inputs: [floatInput(x, [1, 4]), floatInput(y, [1, 4])], outputs: ['s'], initializers: [] });
    const e = bncErrorOf(() => verifyModels(add('x', 'y'), add('data', 'y'), options()));
    expect(e.exitCode).toBe(2);
    expect(e.message).toMatch(/different inputs: a\.onnx has \[x, y\], b\.onnx has \[data, y\]; pair them with --input-map x=data/);
  });

  it('different input shapes', () => {
    const e = bncErrorOf(() => verifyModels(identity('x', [1, 4]), identity('x', [1, 5]), options()));
    expect(e.message).toMatch(/input 'x' has shape \[1, 4\] in a\.onnx but \[1, 5\] in b\.onnx/);
  });

  it('different numbers of outputs with different names', () => {
    const two = buildModel({
      nodes: [node('Relu', ['x'], ['y1']), node('Neg', ['x'], ['y2'])],
      inputs: [floatInput('x', [1, 4])],
      outputs: ['y1', 'y2'],
      initializers: [],
    });
    const e = bncErrorOf(() => verifyModels(identity('x', [1, 4]), two, options()));
    expect(e.message).toMatch(/cannot pair the outputs: a\.onnx has 1 \(y\), b\.onnx has 2 \(y1, y2\)/);
  });

  it('an op the runtime lacks, named with the file', () => {
    const odd = buildModel({ nodes: [node('NoSuchOp', ['x'], ['y'], [], 'weird')], inputs: [floatInput('x', [1, 4])], outputs: ['y'], initializers: [] });
    const e = bncErrorOf(() => verifyModels(identity('x', [1, 4]), odd, options()));
    expect(e.message).toMatch(/^b\.onnx: 1 unsupported op: NoSuchOp \(node 'weird'\)/);
  });

  it('an --input file of the wrong shape names the file', () => {
    const file = path.join(dir, 'wrong.npy');
    fs.writeFileSync(file, encodeNpy([1, 5], new Float32Array(5)));
    const m = identity('x', [1, 4]);
    const e = bncErrorOf(() => verifyModels(m, clone(m), options({ inputFiles: new Map([['x', file]]) })));
    expect(e.message).toMatch(/wrong\.npy: input 'x' has shape \[1, 5\]/);
    const unknown = bncErrorOf(() => verifyModels(m, clone(m), options({ inputFiles: new Map([['nope', file]]) })));
    expect(unknown.message).toMatch(/no input 'nope' \(inputs: x\)/);
  });
});

describe('inputs: --input files, --save-inputs and --load-inputs', () => {
  it('--input feeds a file to every sample', () => {
    const m = convNet();
    const file = path.join(dir, 'x.npy');
    fs.writeFileSync(file, encodeNpy([1, 3, 10, 10], uniform(rng(3), 300, -1, 1)));
    const r = verifyModels(m, scaleConvChannel(m, 'conv2', 0, 1.01), options({ inputFiles: new Map([['x', file]]), samples: 3 }));
    expect(r.inputs.tensors[0]).toMatchObject({ source: 'file', file });
    expect(r.inputs.samples).toBe(1);
    expect(r.inputs.seeds).toEqual([]);
    expect(r.warnings[0]).toMatch(/identical/);
    expect(r.verdict).toBe('different');
  });

  it('saved inputs replay to the same report', () => {
    const m = convNet(2);
    const broken = scaleConvChannel(m, 'conv1', 5, 1.01);
    const saveDir = path.join(dir, 'saved');
    const first: VerifyReport = verifyModels(m, broken, options({ seed: 42, samples: 2, saveInputsDir: saveDir }));
    const manifest = JSON.parse(fs.readFileSync(path.join(saveDir, INPUTS_MANIFEST), 'utf8'));
    expect(manifest).toEqual({ '0': { x: 'sample0_x.npy' }, '1': { x: 'sample1_x.npy' } });
    expect(readNpy(path.join(saveDir, 'sample1_x.npy')).shape).toEqual([1, 3, 10, 10]);
    const replay = verifyModels(m, broken, options({ loadInputsDir: saveDir }));
    expect(replay.inputs.tensors[0]).toMatchObject({ source: 'loaded', file: saveDir });
    expect(replay.inputs.samples).toBe(2);
    expect(replay.outputs).toEqual(first.outputs);
    // Saving again over the same files needs --force.
    expect(bncErrorOf(() => verifyModels(m, broken, options({ saveInputsDir: saveDir }))).message).toMatch(/already exists/);
    expect(verifyModels(m, broken, options({ saveInputsDir: saveDir, force: true })).savedInputs).toBe(saveDir);
  });

  it('--load-inputs without a manifest, or with a sample missing an input, is a clear error', () => {
    const m = convNet();
    const empty = fs.mkdtempSync(path.join(dir, 'empty-'));
    expect(bncErrorOf(() => verifyModels(m, m, options({ loadInputsDir: empty }))).message).toMatch(/inputs\.json: not found/);
    fs.writeFileSync(path.join(empty, INPUTS_MANIFEST), JSON.stringify({ '0': { other: 'a.npy' } }));
    expect(bncErrorOf(() => verifyModels(m, m, options({ loadInputsDir: empty }))).message).toMatch(/sample "0" has no file for input 'x'/);
  });

  it('integer inputs are generated and compared exactly', () => {
    // y = Gather(table, indices): an int64 input; and an int64 output (Shape) compared exactly.
    const r = rng(9);
    const gatherModel = () =>
      buildModel({
        nodes: [node('Gather', ['table', 'idx'], ['y']), node('Shape', ['y'], ['shape'])],
        inputs: [{ name: 'idx', type: { tensor: { elemType: DataType.INT64, shape: [{ value: 4 }] } } }],
        outputs: ['y', 'shape'],
        initializers: [f32('table', [10, 3], normal(r, 30))],
      });
    const a = gatherModel();
    const rep = verifyModels(a, clone(a), options());
    expect(rep.verdict).toBe('equivalent');
    expect(rep.inputs.tensors[0]!.dtype).toBe('int64');
    expect(rep.outputs[1]).toMatchObject({ name: 'shape', dtype: 'int64', pass: true });
    expect(rep.outputs[1]!.metrics).toMatchObject({ rtol: 0, atolRel: 0 });
  });
});
