import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataType, intsAttr, tensorValueInfo } from '../../src/ir/index.js';
import { readOnnxFile } from '../../src/formats/onnx/index.js';
import { encodeNpy } from '../../src/io/npy.js';
import { modelInputs } from '../../src/runtime/engine.js';
import { generateInputs } from '../../src/runtime/inputs.js';
import { compareTensors, parseToleranceOptions } from '../../src/verify/compare.js';
import { parseErrorStat } from '../../src/verify/statistics.js';
import { VerifyOptions, verifyModels } from '../../src/verify/verify.js';
import { buildModel, f32, floatInput, node } from '../passes/graphBuilder.js';
import { bncErrorOf } from '../helpers/errors.js';
import { runOrt } from '../helpers/ort.js';
import { HAVE_SHARED, SHARED_MODELS, SKIP_SHARED_MESSAGE } from '../helpers/shared.js';
import { clone, convNet } from './nets.js';

// Issue 15: non-finite values, input/output maps, saved outputs, error statistics and gates, saturated
// outputs, and --input-shape for symbolic dims. Expected values are worked by hand in the comments, or come
// from onnxruntime-node.

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-verify-gates-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function options(extra: Partial<VerifyOptions> = {}): VerifyOptions {
  return { fileA: 'a.onnx', fileB: 'b.onnx', tolerance: parseToleranceOptions([], []), ...extra };
}

describe('non-finite values', () => {
  // One NaN in the input: the conv spreads it to every output of both models alike.
  const nanInput = () => {
    const file = path.join(dir, 'nan.npy');
    const x = generateInputs(modelInputs(convNet()), 0).get('x')!.data as Float32Array;
    x[5] = NaN;
    fs.writeFileSync(file, encodeNpy([1, 3, 10, 10], x));
    return new Map([['x', file]]);
  };

  // Conv → ReduceMean (no Relu: bnc's Relu turns NaN into 0, where onnxruntime keeps NaN).
  const convMean = () => {
    const m = convNet();
    m.graph.nodes = m.graph.nodes.filter((n) => n.name === 'conv1' || n.name === 'pool');
    m.graph.nodes.find((n) => n.name === 'pool')!.inputs = ['c1'];
    return m;
  };

  it('NaN in both models fails (it passed before), and says where it first appears', () => {
    const m = convMean();
    const r = verifyModels(m, clone(m), options({ inputFiles: nanInput() }));
    expect(r.verdict).toBe('different');
    expect(r.exitCode).toBe(1);
    const metrics = r.outputs[0]!.metrics!;
    expect(metrics.failures).toEqual(['non-finite']);
    expect(metrics.nanMismatches).toBe(0);
    expect(metrics.nonFinite.a.nan).toBeGreaterThan(0);
    expect(metrics.nonFinite.a).toEqual(metrics.nonFinite.b);
    expect(r.nonFinite?.a).toMatchObject({ tensor: 'scores', sample: 0 });
    expect(r.warnings.join('\n')).toMatch(/input 'x' holds 1 NaN\/inf value/);
  });

  it('--allow-nonfinite accepts NaN where both models have it; --all-tensors names the first tensor holding one', () => {
    const m = convNet();
    const r = verifyModels(m, clone(m), options({ inputFiles: nanInput(), allowNonFinite: true, allTensors: true }));
    expect(r.verdict).toBe('equivalent');
    expect(r.nonFinite?.a).toMatchObject({ tensor: 'c1', producer: "Conv node 'conv1'" });
    expect(r.nonFinite?.b).toMatchObject({ tensor: 'c1' });
  });

  it('NaN in one model only fails even with allowNonFinite', () => {
    const r = compareTensors(Float32Array.from([1, NaN]), Float32Array.from([1, 2]), [2], undefined, { failOnNonFinite: false });
    expect(r.pass).toBe(false);
    expect(r.failures).toEqual(['nan-mismatch']);
  });
});

describe('input and output maps', () => {
  const relu = (input: string, output = 'y') =>
    buildModel({ nodes: [node('Relu', [input], [output])], inputs: [floatInput(input, [1, 4])], outputs: [output], initializers: [] });

  it('one input each with different names: paired by position, and the report says so', () => {
    const r = verifyModels(relu('data'), relu('data_input'), options());
    expect(r.verdict).toBe('equivalent');
    expect(r.inputs.matching).toBe('position');
    expect(r.inputs.pairs).toEqual([['data', 'data_input']]);
  });

  it('--input-map pairs inputs by name when there are several', () => {
    const add = (x: string, y: string) =>
      buildModel({ nodes: [node('Sub', [x, y], ['s'])], inputs: [floatInput(x, [1, 4]), floatInput(y, [1, 4])], outputs: ['s'], initializers: [] });
    // B reads its inputs in the other order: without the map, x would feed B's 'q' (a different Sub).
    const b = add('p', 'q');
    b.graph.inputs.reverse();
    const r = verifyModels(add('x', 'y'), b, options({ inputMap: new Map([['x', 'p'], ['y', 'q']]) }));
    expect(r.verdict).toBe('equivalent');
    expect(r.inputs).toMatchObject({ matching: 'map', pairs: [['x', 'p'], ['y', 'q']] });
    const wrong = verifyModels(add('x', 'y'), b, options({ inputMap: new Map([['x', 'q'], ['y', 'p']]) }));
    expect(wrong.verdict).toBe('different');
    expect(bncErrorOf(() => verifyModels(add('x', 'y'), b, options({ inputMap: new Map([['x', 'nope']]) }))).message).toMatch(
      /--input-map x=nope: b\.onnx has no input 'nope' \(inputs: q, p\)/,
    );
  });

  it('--output-map pairs outputs that position would pair wrongly', () => {
    const two = (first: string, second: string, swap: boolean) => {
      const m = buildModel({
        nodes: [node('Relu', ['x'], [first]), node('Neg', ['x'], [second])],
        inputs: [floatInput('x', [1, 4])],
        outputs: swap ? [second, first] : [first, second],
        initializers: [],
      });
      return m;
    };
    const a = two('y1', 'y2', false);
    const b = two('p', 'q', true); // outputs [q (Neg), p (Relu)]
    expect(verifyModels(a, b, options()).verdict).toBe('different');
    const r = verifyModels(a, b, options({ outputMap: new Map([['y1', 'p'], ['y2', 'q']]) }));
    expect(r.verdict).toBe('equivalent');
    expect(r.matching).toBe('map');
    expect(r.outputs.map((o) => [o.name, o.nameB])).toEqual([['y1', 'p'], ['y2', 'q']]);
    const partial = verifyModels(a, b, options({ outputMap: new Map([['y1', 'p']]) }));
    expect(partial.outputs).toHaveLength(1);
    expect(partial.unpaired).toEqual({ a: ['y2'], b: ['q'] });
    expect(partial.warnings.join('\n')).toMatch(/not compared \(no pair\): A 'y2', B 'q'/);
  });
});

describe.skipIf(!HAVE_SHARED)('saved outputs (--load-outputs) against onnxruntime-node', () => {
  if (!HAVE_SHARED) console.warn(SKIP_SHARED_MESSAGE);
  const modelFile = path.join(SHARED_MODELS, 'onnx/conv_bn_relu/model.onnx');

  it('golden outputs written from onnxruntime on the same generated inputs: equivalent; one value off by 1 %: different', async () => {
    const model = readOnnxFile(modelFile);
    const x = generateInputs(modelInputs(model), 3).get('input')!;
    const ort = await runOrt(fs.readFileSync(modelFile), { input: { data: x.data as Float32Array, dims: x.dims } });
    const golden = path.join(dir, 'golden');
    fs.mkdirSync(golden, { recursive: true });
    const out = ort.output!;
    fs.writeFileSync(path.join(golden, 'output.npy'), encodeNpy(out.dims, out.data));
    const r = verifyModels(model, { outputsDir: golden }, options({ fileB: golden, seed: 3, tolerance: parseToleranceOptions([], ['1e-4']) }));
    expect(r.reference).toBe('files');
    expect(r.verdict).toBe('equivalent');
    expect(r.outputs[0]!.metrics!.maxAbsError).toBeLessThan(1e-4);
    expect(r.warnings.join('\n')).toMatch(/bnc run --seed 3/);

    const bad = Float32Array.from(out.data);
    bad[100] = bad[100]! * 1.01 + 0.01;
    const broken = path.join(dir, 'broken');
    fs.mkdirSync(broken, { recursive: true });
    fs.writeFileSync(path.join(broken, 'output.npy'), encodeNpy(out.dims, bad));
    const d = verifyModels(model, { outputsDir: broken }, options({ fileB: broken, seed: 3, tolerance: parseToleranceOptions([], ['1e-4']) }));
    expect(d.verdict).toBe('different');
    expect(d.outputs[0]!.metrics!.violations).toBe(1);
  });

  it("the shared case's own input and reference (ref_output.npy, through --output-map)", () => {
    const caseDir = path.dirname(modelFile);
    const r = verifyModels(
      readOnnxFile(modelFile),
      { outputsDir: caseDir },
      options({
        fileB: caseDir,
        inputFiles: new Map([['input', path.join(caseDir, 'input.npy')]]),
        outputMap: new Map([['output', 'ref_output']]),
        tolerance: parseToleranceOptions([], ['1e-4']),
      }),
    );
    expect(r.verdict).toBe('equivalent');
    expect(r.outputs[0]).toMatchObject({ name: 'output', nameB: 'ref_output' });
  });

  it('several samples: --save-outputs writes sample<k>_ files and --load-outputs reads them back', () => {
    const m = convNet();
    const saved = path.join(dir, 'multi');
    const direct = verifyModels(m, clone(m), options({ samples: 3, seed: 11, saveOutputsDir: saved }));
    expect(fs.readdirSync(path.join(saved, 'b')).sort()).toEqual(['sample0_scores.npy', 'sample1_scores.npy', 'sample2_scores.npy']);
    const loaded = verifyModels(m, { outputsDir: path.join(saved, 'b') }, options({ fileB: saved, samples: 3, seed: 11 }));
    expect(loaded.verdict).toBe('equivalent');
    expect(loaded.outputs[0]!.metrics).toMatchObject({ samples: 3, identical: true });
    expect(direct.outputs[0]!.metrics!.identical).toBe(true);
    // Other seeds than the files were made from: the outputs differ.
    expect(verifyModels(m, { outputsDir: path.join(saved, 'b') }, options({ fileB: saved, samples: 3, seed: 12 })).verdict).toBe('different');
  });

  it('a missing expected file is an error that says how to make it', () => {
    const e = bncErrorOf(() => verifyModels(readOnnxFile(modelFile), { outputsDir: dir }, options({ fileB: dir })));
    expect(e.message).toMatch(/no output\.npy for output 'output' \(write them with bnc run MODEL --save-outputs/);
  });
});

describe('error statistics and gates (worked by hand)', () => {
  // b = [10, 1 × 9]; a = b + err with err = [0, 1e-5 … 8e-5, 1e-2]. rtol 1e-4, atol 1e-5·max|b| = 1e-4, so
  // the allowance is 1e-4 at b = 10 and 2e-4 at b = 1: only the last element (ratio 50) breaks the rule.
  const errs = [0, 1e-5, 2e-5, 3e-5, 4e-5, 5e-5, 6e-5, 7e-5, 8e-5, 1e-2];
  const b = Float64Array.from([10, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
  const a = Float64Array.from(b, (v, i) => v + errs[i]!);
  const run = (stat: string) => compareTensors(a, b, [10], undefined, { statistics: true, errorStat: parseErrorStat(stat)! });

  it('max, mean and nearest-rank median/p90/p99 of |a-b|; histogram by decade', () => {
    const s = run('max').statistics!;
    expect(s.abs.max).toBeCloseTo(1e-2, 12);
    expect(s.abs.mean).toBeCloseTo((36e-5 + 1e-2) / 10, 12);
    expect(s.abs.median).toBeCloseTo(4e-5, 12); // rank ceil(0.5·10) = 5
    expect(s.abs.p90).toBeCloseTo(8e-5, 12); // rank 9
    expect(s.abs.p99).toBeCloseTo(1e-2, 12); // rank 10
    expect(s.rel.max).toBeCloseTo(1e-2, 12); // |b| = 1 there
    expect(s.histogram).toEqual([
      { decade: null, count: 1 },
      { decade: -5, count: 8 },
      { decade: -4, count: 0 },
      { decade: -3, count: 0 },
      { decade: -2, count: 1 },
    ]);
  });

  it('max fails; p90 and median pass; mean (ratios sum to 1.8 + 50, over 10 elements) fails', () => {
    const max = run('max');
    expect(max.pass).toBe(false);
    expect(max.statistics!.gate.value).toBeCloseTo(50, 6); // 1e-2 / 2e-4
    expect(run('p90').pass).toBe(true);
    expect(run('p90').statistics!.gate.value).toBeCloseTo(0.4, 6);
    expect(run('median').pass).toBe(true);
    const mean = run('mean');
    expect(mean.statistics!.gate.value).toBeCloseTo((1.8 + 50) / 10, 6);
    expect(mean.pass).toBe(false);
  });

  it('smallest passing atol at rtol 1e-4: (1e-2 − 1e-4)/10 for max, 0 for p90, and for mean x·10+1e-4 ≥ Σerr/10', () => {
    expect(run('max').statistics!.smallestPassingAtol).toBeCloseTo(9.9e-4, 9);
    expect(run('p90').statistics!.smallestPassingAtol).toBe(0);
    const meanAtol = run('mean').statistics!.smallestPassingAtol;
    const exact = ((36e-5 + 1e-2) / 10 - 1e-4) / 10;
    expect(Math.abs(meanAtol - exact) / exact).toBeLessThan(2e-3);
    // Check the claim: with that atol the comparison passes under max.
    const tol = { rtol: 1e-4, atolRel: run('max').statistics!.smallestPassingAtol * 1.0001 };
    expect(compareTensors(a, b, [10], tol).pass).toBe(true);
  });

  it('parses the gate names as Polygraphy spells them, and p<q>', () => {
    expect(parseErrorStat('elemwise')).toEqual({ kind: 'max' });
    expect(parseErrorStat('p99.9')).toMatchObject({ kind: 'quantile', label: 'p99.9' });
    expect((parseErrorStat('p99.9') as { q: number }).q).toBeCloseTo(0.999, 12);
    expect(parseErrorStat('p0')).toBeUndefined();
    expect(parseErrorStat('quartile')).toBeUndefined();
  });

  it('--top-k makes top-K agreement a pass condition on class scores', () => {
    // Row: classes 0..5; a swaps the 2nd and 3rd best within tolerance? No: by a large margin, but the
    // elementwise rule is loosened so only the top-k gate can fail.
    const bb = Float32Array.from([6, 5, 4, 3, 2, 1]);
    const aa = Float32Array.from([6, 4, 5, 3, 2, 1]);
    const loose = { rtol: 1, atolRel: 1 };
    expect(compareTensors(aa, bb, [1, 6], loose).pass).toBe(true);
    const top1 = compareTensors(aa, bb, [1, 6], loose, { topK: 1, gateTopK: true });
    expect(top1.pass).toBe(true);
    expect(top1.topK).toEqual({ k: 1, agreement: 1, gated: true });
    const top2 = compareTensors(aa, bb, [1, 6], loose, { topK: 2, gateTopK: true });
    expect(top2.pass).toBe(false);
    expect(top2.failures).toEqual(['top-k']);
    expect(top2.topK).toEqual({ k: 2, agreement: 0, gated: true });
    expect(compareTensors(aa, bb, [1, 6], loose, { topK: 3, gateTopK: true }).pass).toBe(true); // same set {0,1,2}
  });
});

describe('vacuous checks', () => {
  it('a softmax saturated to one-hot is flagged, with what to do', () => {
    // Logits scaled by 1000 before the softmax: every row is one-hot to float32's resolution.
    const m = buildModel({
      nodes: [node('Mul', ['x', 'k'], ['big']), node('Softmax', ['big'], ['prob'])],
      inputs: [floatInput('x', [2, 10])],
      outputs: ['prob'],
      initializers: [f32('k', [], [1000])],
    });
    const r = verifyModels(m, clone(m), options());
    expect(r.outputs[0]!.saturated).toBe('one-hot');
    expect(r.warnings.join('\n')).toMatch(/output 'prob' is one-hot in every row .* proves little; feed realistic inputs \(--image, --input-range\) or compare every tensor \(--all-tensors\)/);
  });

  it('a constant output is flagged; an ordinary one is not', () => {
    const relu = buildModel({ nodes: [node('Relu', ['x'], ['y'])], inputs: [floatInput('x', [1, 8])], outputs: ['y'], initializers: [] });
    expect(verifyModels(relu, clone(relu), options()).outputs[0]!.saturated).toBe(null);
    // Inputs all below zero: Relu gives a constant 0.
    const neg = verifyModels(relu, clone(relu), options({ overrides: { ranges: new Map([['x', [-2, -1] as [number, number]]]) } }));
    expect(neg.outputs[0]!.saturated).toBe('constant');
    expect(neg.inputs.tensors[0]).toMatchObject({ source: 'range', range: [-2, -1] });
  });
});

describe('--input-shape for symbolic dims', () => {
  // MaxPool 2×2 on [N, 3, H, W]: with every open dim taken as 1 the window does not fit.
  const pool = () =>
    buildModel({
      nodes: [node('MaxPool', ['x'], ['y'], [intsAttr('kernel_shape', [2, 2])], 'pool')],
      inputs: [tensorValueInfo('x', DataType.FLOAT, ['N', 3, 'height', 'width'])],
      outputs: ['y'],
      initializers: [],
    });

  it('without it the error names the input, the dims and the flag', () => {
    const e = bncErrorOf(() => verifyModels(pool(), pool(), options()));
    expect(e.message).toMatch(/input 'x' dim 2 \('height'\), dim 3 \('width'\) are symbolic and were taken as 1; pass --input-shape x=1,3,<height>,<width>/);
  });

  it('with it the model runs at that size, and the report lists the sizes used', () => {
    const r = verifyModels(pool(), pool(), options({ overrides: { shapes: new Map([['x', [2, 3, 8, 6]]]) } }));
    expect(r.verdict).toBe('equivalent');
    expect(r.outputs[0]!.shape).toEqual([2, 3, 7, 5]); // 2×2 window, stride 1
    expect(r.inputs.tensors[0]!.symbolicDims).toEqual([
      { dim: 0, name: 'N', size: 2 },
      { dim: 2, name: 'height', size: 8 },
      { dim: 3, name: 'width', size: 6 },
    ]);
  });

  it('a fixed dim cannot be changed, nor the rank', () => {
    expect(bncErrorOf(() => verifyModels(pool(), pool(), options({ overrides: { shapes: new Map([['x', [1, 4, 8, 8]]]) } }))).message).toMatch(
      /--input-shape x=1,4,8,8: dim 1 is fixed at 3 in the model \[N, 3, height, width\]/,
    );
    expect(bncErrorOf(() => verifyModels(pool(), pool(), options({ overrides: { shapes: new Map([['x', [1, 3, 8]]]) } }))).message).toMatch(
      /declares 4 dims \[N, 3, height, width\], not 3/,
    );
  });
});
