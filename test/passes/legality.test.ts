import { describe, expect, it } from 'vitest';
import {
  BncError,
  assertValidModel,
  checkModel,
  DataType,
  Model,
  createTensor,
  float16BitsToNumber,
  floatAttr,
  intAttr,
  intsAttr,
  numberToFloat16Bits,
  tensorToFloat64,
  tensorValueInfo,
} from '../../src/ir/index.js';
import { analyzeBatchNormFolding } from '../../src/passes/bnFoldability.js';
import { FOLD_BN_PIPELINE, PassReport, runPasses } from '../../src/passes/index.js';
import { OrtFeeds } from '../helpers/ort.js';
import { buildModel, cloneModel, countOps, f32, floatInput, node, normal, rng, runModel, uniform } from './graphBuilder.js';

const C = 4;
const r = rng(42);
const X_DIMS = [1, 3, 6, 6];
const x = normal(r, 108, 1);
const feeds: OrtFeeds = { x: { data: x, dims: X_DIMS } };

/** BN parameter initializers named <p>_scale, <p>_B, <p>_mean, <p>_var. */
function bnInits(p: string, c = C) {
  return [
    f32(`${p}_scale`, [c], uniform(r, c, 0.5, 1.5)),
    f32(`${p}_B`, [c], normal(r, c, 0.3)),
    f32(`${p}_mean`, [c], normal(r, c, 0.3)),
    f32(`${p}_var`, [c], uniform(r, c, 0.2, 2)),
  ];
}
const bnNode = (p: string, input: string, output: string) =>
  node('BatchNormalization', [input, `${p}_scale`, `${p}_B`, `${p}_mean`, `${p}_var`], [output], [], p);
const convNode = (name: string, input: string, w: string, output: string) =>
  node('Conv', [input, w], [output], [intsAttr('pads', [1, 1, 1, 1]), intsAttr('kernel_shape', [3, 3])], name);
const weight = (name: string) => f32(name, [C, 3, 3, 3], normal(r, C * 27, 0.3));

/** Both models' outputs agree to float32 rounding of a few elementwise ops (1e-5 of the output scale). */
async function expectSameOutputs(a: Model, b: Model, f: OrtFeeds = feeds): Promise<void> {
  const [ra, rb] = await Promise.all([runModel(a, f), runModel(b, f)]);
  expect(Object.keys(rb).sort()).toEqual(Object.keys(ra).sort());
  for (const k of Object.keys(ra)) {
    const p = ra[k]!.data;
    const q = rb[k]!.data;
    let scale = 0;
    for (let i = 0; i < p.length; i++) scale = Math.max(scale, Math.abs(p[i]!));
    let worst = 0;
    for (let i = 0; i < p.length; i++) worst = Math.max(worst, Math.abs(p[i]! - q[i]!) / (1e-5 * scale + 1e-5 * Math.abs(p[i]!)));
    expect(q.length).toBe(p.length);
    expect(worst, `output ${k}`).toBeLessThanOrEqual(1);
  }
}

function run(model: Model, options: { keepBn?: boolean; allowWeightCopy?: boolean } = {}, passes = FOLD_BN_PIPELINE) {
  const out = cloneModel(model);
  const reports = runPasses(out, passes, options);
  assertValidModel(out, 'the passes\' output', checkModel(model));
  const byName = (n: string) => reports.find((r) => r.pass === n) as PassReport;
  return { out, reports, byName };
}

interface IllegalCase {
  name: string;
  model: Model;
  reason: RegExp;
  feeds?: OrtFeeds;
  /** BNs bn-to-affine still cannot rewrite (e.g. non-constant parameters). */
  bnLeftWithoutKeep?: number;
}

const illegal: IllegalCase[] = [
  {
    name: 'fan-out: the Conv output also feeds a Relu',
    model: buildModel({
      nodes: [convNode('c', 'x', 'W', 't'), bnNode('bn', 't', 'y'), node('Relu', ['t'], ['z'])],
      inputs: [floatInput('x', X_DIMS)],
      outputs: ['y', 'z'],
      initializers: [weight('W'), ...bnInits('bn')],
    }),
    reason: /also read by 1 other/,
  },
  {
    name: 'the Conv output is a graph output',
    model: buildModel({
      nodes: [convNode('c', 'x', 'W', 't'), bnNode('bn', 't', 'y')],
      inputs: [floatInput('x', X_DIMS)],
      outputs: ['y', 't'],
      initializers: [weight('W'), ...bnInits('bn')],
    }),
    reason: /is also a graph output/,
  },
  {
    name: 'two Convs share one weight',
    model: buildModel({
      nodes: [
        convNode('c1', 'x', 'W', 't1'),
        bnNode('bn1', 't1', 'y1'),
        node('Relu', ['x'], ['xr']),
        convNode('c2', 'xr', 'W', 't2'),
        bnNode('bn2', 't2', 'y2'),
        node('Add', ['y1', 'y2'], ['y']),
      ],
      inputs: [floatInput('x', X_DIMS)],
      outputs: ['y'],
      initializers: [weight('W'), ...bnInits('bn1'), ...bnInits('bn2')],
    }),
    reason: /weight 'W' .* is shared with Conv '.*'.*--allow-weight-copy/,
  },
  {
    name: 'the BN scale is a graph input (not a constant)',
    model: buildModel({
      nodes: [convNode('c', 'x', 'W', 't'), node('BatchNormalization', ['t', 'scale_in', 'bn_B', 'bn_mean', 'bn_var'], ['y'], [], 'bn')],
      inputs: [floatInput('x', X_DIMS), floatInput('scale_in', [C])],
      outputs: ['y'],
      initializers: [weight('W'), ...bnInits('bn').slice(1)],
    }),
    reason: /scale input 'scale_in' is not a numeric constant/,
    feeds: { ...feeds, scale_in: { data: uniform(r, C, 0.5, 1.5), dims: [C] } },
    bnLeftWithoutKeep: 1,
  },
  {
    name: 'the BN reads the graph input',
    model: buildModel({
      nodes: [bnNode('bn', 'x', 'y')],
      inputs: [floatInput('x', X_DIMS)],
      outputs: ['y'],
      initializers: bnInits('bn', 3),
    }),
    reason: /graph input: there is no layer to fold into/,
  },
  {
    // Features (C) == BN channels (C), so only the rank tells that axis 1 is not the feature axis.
    name: 'MatMul on a rank-3 input: BN axis 1 is not its feature axis',
    model: buildModel({
      nodes: [node('MatMul', ['x3', 'M'], ['t'], [], 'mm'), bnNode('bn', 't', 'y')],
      inputs: [floatInput('x3', [2, C, 5])],
      outputs: ['y'],
      initializers: [f32('M', [5, C], normal(r, 5 * C, 0.5)), ...bnInits('bn')],
    }),
    reason: /3-D: the BN normalises axis 1, which is not the MatMul's feature axis/,
    feeds: { x3: { data: normal(r, 2 * C * 5, 1), dims: [2, C, 5] } },
  },
];

describe('illegal folds leave the graph correct and say why', () => {
  it.each(illegal.map((c) => [c.name, c]))('%s', async (_name, c) => {
    const { out, byName } = run(c.model, { keepBn: true });
    const fold = byName('fold-bn');
    expect(fold.changed).toBe(0);
    expect(fold.skipped.length).toBeGreaterThan(0);
    for (const s of fold.skipped) expect(s.reason).toMatch(c.reason);
    expect(countOps(out, 'BatchNormalization')).toBe(countOps(c.model, 'BatchNormalization'));
    await expectSameOutputs(c.model, out, c.feeds);
    // inspect's view agrees (same source of truth).
    expect(analyzeBatchNormFolding(c.model.graph).every((f) => !f.foldable)).toBe(true);

    // Without --keep-bn the BNs become Mul + Add where they can, and the outputs still agree.
    const affine = run(c.model);
    expect(countOps(affine.out, 'BatchNormalization')).toBe(c.bnLeftWithoutKeep ?? 0);
    await expectSameOutputs(c.model, affine.out, c.feeds);
  });

  it('--allow-weight-copy folds both BNs of the shared-weight case, each into its own copy', async () => {
    const shared = illegal[2]!.model;
    const { out, byName } = run(shared, { allowWeightCopy: true });
    expect(byName('fold-bn').changed).toBe(2);
    expect(countOps(out, 'BatchNormalization')).toBe(0);
    const [c1, c2] = out.graph.nodes.filter((n) => n.opType === 'Conv');
    expect(c1!.inputs[1]).not.toBe(c2!.inputs[1]);
    await expectSameOutputs(shared, out);
  });

  it('a training-mode BN is not folded by fold-bn alone (bn-eval must run first)', () => {
    const m = buildModel({
      nodes: [{ ...convNode('c', 'x', 'W', 't') }, { ...bnNode('bn', 't', 'y'), outputs: ['y', 'rm', 'rv'], attributes: [intAttr('training_mode', 1)] }],
      inputs: [floatInput('x', X_DIMS)],
      outputs: ['y'],
      initializers: [weight('W'), ...bnInits('bn')],
      opset: 15,
    });
    const { byName } = run(m, {}, ['fold-bn']);
    expect(byName('fold-bn').skipped[0]!.reason).toMatch(/training mode.*run bn-eval/);
    const all = run(m);
    expect(all.byName('bn-eval').changed).toBe(1);
    expect(all.byName('fold-bn').changed).toBe(1);
  });
});

describe('merge-bn-scale', () => {
  // Caffe's BatchNorm (scale 1, B 0) + Scale as the Caffe reader emits it.
  const caffeStyle = (gammaDims: number[], betaDims: number[] | null, gammaFirst = false) =>
    buildModel({
      nodes: [
        convNode('c', 'x', 'W', 't'),
        bnNode('bn', 't', 'n'),
        node('Mul', gammaFirst ? ['gamma', 'n'] : ['n', 'gamma'], ['s'], [], 'scale_mul'),
        ...(betaDims ? [node('Add', ['s', 'beta'], ['sb'], [], 'scale_add')] : []),
        node('Relu', [betaDims ? 'sb' : 's'], ['y']),
      ],
      inputs: [floatInput('x', X_DIMS)],
      outputs: ['y'],
      initializers: [
        weight('W'),
        f32('bn_scale', [C], new Float32Array(C).fill(1)),
        f32('bn_B', [C], new Float32Array(C)),
        f32('bn_mean', [C], normal(r, C, 0.3)),
        f32('bn_var', [C], uniform(r, C, 0.2, 2)),
        f32('gamma', gammaDims, uniform(r, gammaDims.reduce((a, b) => a * b, 1), 0.5, 1.5)),
        ...(betaDims ? [f32('beta', betaDims, normal(r, betaDims.reduce((a, b) => a * b, 1), 0.2))] : []),
      ],
    });

  it.each([
    ['Mul [C,1,1] + Add [C,1,1]', caffeStyle([C, 1, 1], [C, 1, 1])],
    ['Mul [1,C,1,1] only (Scale without bias)', caffeStyle([1, C, 1, 1], null)],
    ['Mul with the constant first + Add [C,1,1]', caffeStyle([C, 1, 1], [C, 1, 1], true)],
    ['scalar Mul + Add [1]', caffeStyle([], [1])],
  ])('%s merges into the BN, which takes over the last output name; then folds', async (_n, m) => {
    const merged = run(m, {}, ['merge-bn-scale', 'cleanup']);
    expect(merged.byName('merge-bn-scale').changed).toBe(1);
    expect(countOps(merged.out, 'Mul') + countOps(merged.out, 'Add')).toBe(0);
    const bn = merged.out.graph.nodes.find((n) => n.opType === 'BatchNormalization')!;
    expect(bn.outputs[0]).toBe(merged.out.graph.nodes.find((n) => n.opType === 'Relu')!.inputs[0]);
    expect(['sb', 's']).toContain(bn.outputs[0]);
    await expectSameOutputs(m, merged.out);
    const folded = run(m);
    expect(folded.out.graph.nodes.map((n) => n.opType)).toEqual(['Conv', 'Relu']);
    await expectSameOutputs(m, folded.out);
  });

  it('a [C] constant on a 4-D input is not per-channel (it scales the last axis): skipped with the reason', async () => {
    // C = 4 and the width is 6, so use a width-sized constant that broadcasts legally over the last axis.
    const m = caffeStyle([6], null);
    const { out, byName } = run(m, {}, ['merge-bn-scale']);
    expect(byName('merge-bn-scale').changed).toBe(0);
    expect(byName('merge-bn-scale').skipped[0]!.reason).toMatch(/not per-channel/);
    await expectSameOutputs(m, out);
  });

  it('a BN output read by the Mul and by another node is not merged', async () => {
    const m = caffeStyle([C, 1, 1], null);
    m.graph.nodes.push(node('Sigmoid', ['n'], ['z']));
    m.graph.outputs.push({ name: 'z', type: { tensor: { elemType: DataType.FLOAT } } });
    const { out, byName } = run(m, {}, ['merge-bn-scale']);
    expect(byName('merge-bn-scale').skipped[0]!.reason).toMatch(/also read by other nodes/);
    await expectSameOutputs(m, out);
  });

  it('two BNs sharing one "ones" scale initializer each merge their own gamma without touching the other', async () => {
    const ones = f32('ones', [C], new Float32Array(C).fill(1));
    const zeros = f32('zeros', [C], new Float32Array(C));
    const bnShared = (p: string, input: string, output: string) =>
      node('BatchNormalization', [input, 'ones', 'zeros', `${p}_mean`, `${p}_var`], [output], [], p);
    const m = buildModel({
      nodes: [
        convNode('c1', 'x', 'W1', 't1'),
        bnShared('b1', 't1', 'n1'),
        node('Mul', ['n1', 'g1'], ['s1']),
        convNode('c2', 'x', 'W2', 't2'),
        bnShared('b2', 't2', 'n2'),
        node('Mul', ['n2', 'g2'], ['s2']),
        node('Add', ['s1', 's2'], ['y']),
      ],
      inputs: [floatInput('x', X_DIMS)],
      outputs: ['y'],
      initializers: [
        weight('W1'),
        weight('W2'),
        ones,
        zeros,
        ...bnInits('b1').slice(2),
        ...bnInits('b2').slice(2),
        f32('g1', [C, 1, 1], uniform(r, C, 0.5, 1.5)),
        f32('g2', [C, 1, 1], uniform(r, C, 0.5, 1.5)),
      ],
    });
    const merged = run(m, {}, ['merge-bn-scale']);
    expect(merged.byName('merge-bn-scale').changed).toBe(2);
    await expectSameOutputs(m, merged.out);
    const folded = run(m);
    expect(countOps(folded.out, 'BatchNormalization')).toBe(0);
    await expectSameOutputs(m, folded.out);
  });
});

describe('bn-eval', () => {
  it('refuses, naming the BN and the reader, when something reads the running statistics; the model is untouched', () => {
    const m = buildModel({
      nodes: [
        convNode('c', 'x', 'W', 't'),
        { ...bnNode('bn', 't', 'y'), outputs: ['y', 'running_mean', 'running_var'], attributes: [intAttr('training_mode', 1)] },
        node('Identity', ['running_mean'], ['rm_out'], [], 'export_stats'),
      ],
      inputs: [floatInput('x', X_DIMS)],
      outputs: ['y', 'rm_out'],
      initializers: [weight('W'), ...bnInits('bn')],
      opset: 15,
    });
    const before = JSON.stringify(m.graph.nodes);
    let error: unknown;
    try {
      runPasses(m, ['bn-eval']);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(BncError);
    expect((error as BncError).message).toMatch(/'bn'.*'running_mean' \(running mean\) is read by Identity 'export_stats'/);
    expect(JSON.stringify(m.graph.nodes)).toBe(before);
  });

  it('opset 6: is_test (default 0 = training) becomes 1; an inference BN is left alone', () => {
    const m = buildModel({
      nodes: [convNode('c', 'x', 'W', 't'), bnNode('bn', 't', 'y'), { ...bnNode('bn2', 'y', 'z'), attributes: [intAttr('is_test', 1)] }],
      inputs: [floatInput('x', X_DIMS)],
      outputs: ['z'],
      initializers: [weight('W'), ...bnInits('bn'), ...bnInits('bn2')],
      opset: 6,
    });
    const report = runPasses(m, ['bn-eval'])[0]!;
    expect(report.changed).toBe(1);
    expect(report.changes[0]).toMatch(/^bn: is_test \(default 0\) → 1/);
    expect(m.graph.nodes[1]!.attributes.find((a) => a.name === 'is_test')?.i).toBe(1);
  });
});

describe('bn-to-affine', () => {
  it('uses [C,1,1] constants for a 4-D input, and skips a BN whose input rank cannot be told', async () => {
    const m = buildModel({
      nodes: [bnNode('bn', 'x', 'y')],
      inputs: [floatInput('x', X_DIMS)],
      outputs: ['y'],
      initializers: bnInits('bn', 3),
    });
    const { out, byName } = run(m, {}, ['bn-to-affine']);
    expect(byName('bn-to-affine').changed).toBe(1);
    const k = out.graph.initializers.find((t) => t.name === out.graph.nodes[0]!.inputs[1])!;
    expect(k.dims).toEqual([3, 1, 1]);
    expect(out.graph.nodes.map((n) => n.opType)).toEqual(['Mul', 'Add']);
    expect(out.graph.nodes[1]!.outputs[0]).toBe('y');
    await expectSameOutputs(m, out);

    const unknownRank = cloneModel(m);
    unknownRank.graph.inputs = [tensorValueInfo('x', DataType.FLOAT, undefined)];
    const skipped = run(unknownRank, {}, ['bn-to-affine']);
    expect(skipped.byName('bn-to-affine').changed).toBe(0);
    expect(skipped.byName('bn-to-affine').skipped[0]!.reason).toMatch(/rank of its input 'x' is unknown/);
  });
});

describe('cleanup', () => {
  it('removes dead nodes and initializers (and the graph input listing a dead initializer); keeps names and real inputs', async () => {
    const m = buildModel({
      nodes: [
        node('Constant', [], ['dead_const'], [{ name: 'value', type: 4, t: f32('', [1], [1]) }], 'dead_constant'),
        node('Relu', ['dead_const'], ['dead_relu'], [], 'dead_chain'),
        convNode('c', 'x', 'W', 'y'),
      ],
      inputs: [floatInput('x', X_DIMS), floatInput('unused_feed', [1]), floatInput('old_weight', [2])],
      outputs: ['y'],
      initializers: [weight('W'), f32('old_weight', [2], [1, 2])],
    });
    m.graph.valueInfo.push(tensorValueInfo('dead_relu', DataType.FLOAT, [1]));
    const { out, byName } = run(m, {}, ['cleanup']);
    expect(byName('cleanup').changed).toBe(3);
    expect(out.graph.nodes.map((n) => n.name)).toEqual(['c']);
    expect(out.graph.initializers.map((t) => t.name)).toEqual(['W']);
    expect(out.graph.inputs.map((i) => i.name)).toEqual(['x', 'unused_feed']);
    expect(out.graph.valueInfo).toEqual([]);
    const f = { ...feeds, unused_feed: { data: new Float32Array(1), dims: [1] } };
    await expectSameOutputs(m, out, f);
  });
});

describe('float16 weights', () => {
  it('fold in float64, store float16 (round to nearest), and report the rounding error', () => {
    const half = (name: string, dims: number[], v: Float32Array) => createTensor(name, DataType.FLOAT16, dims, Uint16Array.from(v, numberToFloat16Bits));
    const w = normal(r, C * 27, 0.3);
    const p = { scale: uniform(r, C, 0.5, 1.5), B: normal(r, C, 0.3), mean: normal(r, C, 0.3), var: uniform(r, C, 0.2, 2) };
    const m = buildModel({
      nodes: [convNode('c', 'x', 'W', 't'), { ...bnNode('bn', 't', 'y'), attributes: [floatAttr('epsilon', 1e-3)] }],
      inputs: [tensorValueInfo('x', DataType.FLOAT16, X_DIMS)],
      outputs: ['y'],
      initializers: [half('W', [C, 3, 3, 3], w), half('bn_scale', [C], p.scale), half('bn_B', [C], p.B), half('bn_mean', [C], p.mean), half('bn_var', [C], p.var)],
    });
    const original = m.graph.initializers.map((t) => tensorToFloat64(t));
    const { out, byName } = run(m);
    const fold = byName('fold-bn');
    expect(fold.changed).toBe(1);
    expect(fold.warnings.join('\n')).toMatch(/stored as float16, max rounding error/);
    const conv = out.graph.nodes[0]!;
    const W2 = out.graph.initializers.find((t) => t.name === conv.inputs[1])!;
    const b2 = out.graph.initializers.find((t) => t.name === conv.inputs[2])!;
    expect(W2.dtype).toBe(DataType.FLOAT16);
    expect(b2.dtype).toBe(DataType.FLOAT16);
    // Independent check: exact fold from the stored float16 inputs, then each stored value is within half
    // a float16 ulp of it (relative 2^-11, or 2^-25 absolute in the subnormal range).
    const [W, scale, B, mean, variance] = original as [Float64Array, Float64Array, Float64Array, Float64Array, Float64Array];
    const eps = Math.fround(1e-3);
    const gotW = W2.data as Uint16Array;
    const gotB = b2.data as Uint16Array;
    for (let o = 0; o < C; o++) {
      const k = scale[o]! / Math.sqrt(variance[o]! + eps);
      for (let j = 0; j < 27; j++) {
        const exact = W[o * 27 + j]! * k;
        expect(Math.abs(float16BitsToNumber(gotW[o * 27 + j]!) - exact)).toBeLessThanOrEqual(Math.max(Math.abs(exact) * 2 ** -11, 2 ** -25));
      }
      const exactB = B[o]! - mean[o]! * k;
      expect(Math.abs(float16BitsToNumber(gotB[o]!) - exactB)).toBeLessThanOrEqual(Math.max(Math.abs(exactB) * 2 ** -11, 2 ** -25));
    }
  });
});
