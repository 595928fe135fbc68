// fold-constants: every expected value comes from onnxruntime-node running the model before and after the
// pass (graph optimizations off), or from the op's definition worked by hand in the comment beside it.
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  AttributeType,
  DataType,
  Graph,
  Model,
  Node,
  Tensor,
  createTensor,
  intAttr,
  intsAttr,
  numberToFloat16Bits,
  tensorToFloat64,
  tensorValueInfo,
  validateGraph,
} from '../../src/ir/index.js';
import { serializeOnnx } from '../../src/formats/onnx/index.js';
import { FOLD_BN_PIPELINE, PassReport, runPasses } from '../../src/passes/index.js';
import { findKernel } from '../../src/runtime/kernels.js';
import { runModel as runBnc } from '../../src/runtime/engine.js';
import { bnc } from '../helpers/cli.js';
import { OrtFeeds } from '../helpers/ort.js';
import { buildModel, cloneModel, countOps, f32, floatInput, node, normal, rng, runModel, uniform } from './graphBuilder.js';

const i64 = (name: string, values: number[], dims = [values.length]) => createTensor(name, DataType.INT64, dims, BigInt64Array.from(values.map(BigInt)));
const tensorAttr = (name: string, t: Tensor) => ({ name, type: AttributeType.TENSOR, t });

/**
 * A DenseNet laid out as Caffe2-era ONNX exports are: every Caffe BatchNorm + Scale is a BatchNormalization
 * (scale 1, B 0) followed by Mul and Add whose per-channel constants reach them through a chain, as the
 * ONNX version converter and Caffe2 left them. Four chain styles, cycled over the BNs:
 *   unsqueeze  gamma[C] → Unsqueeze(axes=[1,2]) (opset 9 attribute form)
 *   reshape    gamma[C] → Reshape(shape from a Constant node [C,1,1])
 *   cast       gamma as float64 → Cast(to=float) → Unsqueeze
 *   shape      gamma[C] → Reshape(Concat(Shape(gamma), [1,1]))
 */
function caffe2DenseNet(opts: { layers: number; opset?: number; irVersion?: number; initializersAsInputs?: boolean }): Model {
  const r = rng(11);
  const nodes: Node[] = [];
  const inits: Tensor[] = [];
  let id = 0;
  const fresh = (p: string) => `${p}_${++id}`;
  const conv = (x: string, cin: number, cout: number, k: number) => {
    const w = fresh('w');
    inits.push(f32(w, [cout, cin, k, k], normal(r, cout * cin * k * k, Math.sqrt(2 / (cin * k * k)))));
    const y = fresh('conv');
    nodes.push(node('Conv', [x, w], [y], [intsAttr('kernel_shape', [k, k]), intsAttr('pads', new Array(4).fill((k - 1) / 2))]));
    return y;
  };
  const styles = ['unsqueeze', 'reshape', 'cast', 'shape'] as const;
  let bnCount = 0;
  const perChannel = (values: Float32Array, c: number): string => {
    const style = styles[bnCount % styles.length]!;
    const src = fresh('p');
    const out = fresh('pc');
    if (style === 'unsqueeze') {
      inits.push(f32(src, [c], values));
      nodes.push(node('Unsqueeze', [src], [out], [intsAttr('axes', [1, 2])]));
    } else if (style === 'reshape') {
      inits.push(f32(src, [c], values));
      const shape = fresh('shape');
      nodes.push(node('Constant', [], [shape], [tensorAttr('value', i64('', [c, 1, 1]))]));
      nodes.push(node('Reshape', [src, shape], [out]));
    } else if (style === 'cast') {
      inits.push(createTensor(src, DataType.DOUBLE, [c], Float64Array.from(values)));
      const cast = fresh('cast');
      nodes.push(node('Cast', [src], [cast], [intAttr('to', DataType.FLOAT)]));
      nodes.push(node('Unsqueeze', [cast], [out], [intsAttr('axes', [1, 2])]));
    } else {
      inits.push(f32(src, [c], values));
      const shp = fresh('shp');
      const ones = fresh('ones');
      const target = fresh('target');
      inits.push(i64(ones, [1, 1]));
      nodes.push(node('Shape', [src], [shp]));
      nodes.push(node('Concat', [shp, ones], [target], [intAttr('axis', 0)]));
      nodes.push(node('Reshape', [src, target], [out]));
    }
    return out;
  };
  const bnScaleRelu = (x: string, c: number) => {
    const p = fresh('bn');
    inits.push(
      f32(`${p}_s`, [c], new Float32Array(c).fill(1)),
      f32(`${p}_b`, [c], new Float32Array(c)),
      f32(`${p}_m`, [c], normal(r, c, 0.2)),
      f32(`${p}_v`, [c], uniform(r, c, 0.5, 1.5)),
    );
    nodes.push(node('BatchNormalization', [x, `${p}_s`, `${p}_b`, `${p}_m`, `${p}_v`], [p], [], p));
    const g = perChannel(uniform(r, c, 0.5, 1.5), c);
    const b = perChannel(normal(r, c, 0.2), c);
    bnCount++;
    const m = fresh('mul');
    const a = fresh('add');
    const y = fresh('relu');
    nodes.push(node('Mul', [p, g], [m]), node('Add', [m, b], [a]), node('Relu', [a], [y]));
    return y;
  };
  let x = bnScaleRelu(conv('data', 3, 8, 3), 8);
  let c = 8;
  for (let l = 0; l < opts.layers; l++) {
    const h = conv(bnScaleRelu(conv(bnScaleRelu(x, c), c, 8, 1), 8), 8, 4, 3);
    const y = fresh('concat');
    nodes.push(node('Concat', [x, h], [y], [intAttr('axis', 1)]));
    x = y;
    c += 4;
  }
  nodes.push(node('GlobalAveragePool', [bnScaleRelu(x, c)], ['out']));
  const opset = opts.opset ?? 9;
  const model = buildModel({ nodes, inputs: [floatInput('data', [1, 3, 8, 8])], outputs: ['out'], initializers: inits, opset });
  model.irVersion = opts.irVersion ?? 4;
  if (opts.initializersAsInputs) model.graph.inputs.push(...inits.map((t) => tensorValueInfo(t.name, t.dtype, t.dims)));
  return model;
}

const denseFeeds: OrtFeeds = { data: { data: normal(rng(3), 3 * 64), dims: [1, 3, 8, 8] } };

/** Both models' outputs agree within 1e-5 of the output scale (plus 1e-5 relative), element by element. */
async function expectSameOutputs(a: Model, b: Model, feeds: OrtFeeds): Promise<void> {
  const [ra, rb] = await Promise.all([runModel(a, feeds), runModel(b, feeds)]);
  expect(Object.keys(rb).sort()).toEqual(Object.keys(ra).sort());
  for (const k of Object.keys(ra)) {
    const p = ra[k]!.data;
    const q = rb[k]!.data;
    expect(q.length).toBe(p.length);
    let scale = 0;
    for (let i = 0; i < p.length; i++) scale = Math.max(scale, Math.abs(p[i]!));
    for (let i = 0; i < p.length; i++) expect(Math.abs(p[i]! - q[i]!), `${k}[${i}]`).toBeLessThanOrEqual(1e-5 * scale + 1e-5 * Math.abs(p[i]!));
  }
}

function runOn(model: Model, passes: string[], options = {}): { model: Model; reports: Record<string, PassReport> } {
  const out = cloneModel(model);
  const reports = runPasses(out, passes, options);
  validateGraph(out.graph);
  return { model: out, reports: Object.fromEntries(reports.map((r) => [r.pass, r])) };
}

describe('fold-constants on a Caffe2-era DenseNet (BN → Mul/Add with constants through chains)', () => {
  const model = caffe2DenseNet({ layers: 3 });
  const bns = countOps(model, 'BatchNormalization');

  it('without it, merge-bn-scale merges nothing: the Scale constants are not visible', () => {
    const { reports } = runOn(model, FOLD_BN_PIPELINE.filter((p) => p !== 'fold-constants'));
    expect(reports['merge-bn-scale']!.changed).toBe(0);
  });

  it('folds every chain, so every BN merges with its Mul and Add; outputs equal before and after', async () => {
    const folded = runOn(model, ['fold-constants']);
    const fc = folded.reports['fold-constants']!;
    // 2 chains per BN; by style (cycled unsqueeze, reshape, cast, shape over the BNs' gamma/beta pairs):
    // unsqueeze: 1 node, reshape: Constant + Reshape, cast: Cast + Unsqueeze, shape: Shape + Concat + Reshape.
    const perStyle = [1, 2, 2, 3];
    let expected = 0;
    for (let b = 0; b < bns; b++) expected += 2 * perStyle[b % 4]!;
    expect(fc.changed).toBe(expected);
    expect(fc.skipped).toEqual([]);
    for (const op of ['Unsqueeze', 'Reshape', 'Cast', 'Shape', 'Concat', 'Constant']) {
      // Only the DenseNet's own Concats (one per layer) remain.
      expect(countOps(folded.model, op), op).toBe(op === 'Concat' ? 3 : 0);
    }
    await expectSameOutputs(model, folded.model, denseFeeds);

    const all = runOn(model, FOLD_BN_PIPELINE);
    expect(all.reports['merge-bn-scale']!.changed).toBe(bns);
    expect(countOps(all.model, 'Mul') + countOps(all.model, 'Add')).toBe(2 * (bns - all.reports['fold-bn']!.changed));
    // Conv → BN pairs (the stem and each layer's bottleneck) fold; the BNs after a Concat become Mul + Add.
    expect(all.reports['fold-bn']!.changed).toBe(1 + 3);
    await expectSameOutputs(model, all.model, denseFeeds);
    // bnc's own runtime agrees with onnxruntime on the folded model.
    const ort = await runModel(all.model, denseFeeds);
    const own = runBnc(all.model, new Map([['data', { dtype: DataType.FLOAT, dims: [1, 3, 8, 8], data: denseFeeds.data!.data as Float32Array }]]));
    const a = ort.out!.data;
    const b = own.outputs.get('out')!.data as Float32Array;
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(a[i]!)));
  });

  it('IR version 3 (opset 8): folded results are listed as graph inputs too, and the model still runs', async () => {
    const ir3 = caffe2DenseNet({ layers: 1, opset: 8, irVersion: 3, initializersAsInputs: true });
    const { model: out, reports } = runOn(ir3, ['fold-constants', 'cleanup']);
    expect(reports['fold-constants']!.changed).toBeGreaterThan(0);
    const inputs = new Set(out.graph.inputs.map((v) => v.name));
    expect(out.graph.initializers.filter((t) => !inputs.has(t.name)).map((t) => t.name)).toEqual([]);
    await expectSameOutputs(ir3, out, denseFeeds);
    expect(runOn(ir3, FOLD_BN_PIPELINE).reports['merge-bn-scale']!.changed).toBe(countOps(ir3, 'BatchNormalization'));
  });

  it('IR version >= 4: an initializer that is also a graph input is overridable, so it does not fold (reported)', () => {
    const m = caffe2DenseNet({ layers: 1, initializersAsInputs: true });
    const { reports } = runOn(m, ['fold-constants']);
    const fc = reports['fold-constants']!;
    // Only the Constant nodes (no inputs) fold.
    expect(fc.counts).toEqual({ Constant: countOps(m, 'Constant') });
    expect(fc.skipped.length).toBeGreaterThan(0);
    expect(fc.skipped[0]!.reason).toMatch(/also a graph input, so a caller may override it/);
  });
});

describe('fold-constants limits', () => {
  it('skips a result above the size cap, names the cap, and folds it when the cap allows', async () => {
    // x[1,4,2,2] + Expand(b[4,1,1], [1,4,2,2]): the Expand result has 16 elements.
    const b = f32('b', [4, 1, 1], [1, 2, 3, 4]);
    const model = buildModel({
      nodes: [
        node('Expand', ['b', 'shape'], ['bx']),
        node('Add', ['x', 'bx'], ['y']),
      ],
      inputs: [floatInput('x', [1, 4, 2, 2])],
      outputs: ['y'],
      initializers: [b, i64('shape', [1, 4, 2, 2])],
    });
    const small = runOn(model, ['fold-constants'], { foldMaxElements: 15 });
    expect(small.reports['fold-constants']!.changed).toBe(0);
    expect(small.reports['fold-constants']!.skipped).toEqual([
      { node: 'Expand_bx', reason: 'Expand: the result would have 16 elements, more than the cap of 15 (--fold-max-elements)' },
    ]);
    const enough = runOn(model, ['fold-constants'], { foldMaxElements: 16 });
    expect(enough.reports['fold-constants']!.counts).toEqual({ Expand: 1 });
    expect(enough.model.graph.initializers.find((t) => t.name === 'bx')!.dims).toEqual([1, 4, 2, 2]);
    const feeds: OrtFeeds = { x: { data: normal(rng(5), 16), dims: [1, 4, 2, 2] } };
    await expectSameOutputs(model, enough.model, feeds);
  });

  it('applies the cap after running ops it cannot predict (a Concat chain)', () => {
    const model = buildModel({
      nodes: [node('Concat', ['a', 'a'], ['aa'], [intAttr('axis', 0)]), node('Add', ['x', 'aa'], ['y'])],
      inputs: [floatInput('x', [8])],
      outputs: ['y'],
      initializers: [f32('a', [4], [1, 2, 3, 4])],
    });
    const r = runOn(model, ['fold-constants'], { foldMaxElements: 7 }).reports['fold-constants']!;
    expect(r.changed).toBe(0);
    expect(r.skipped[0]!.reason).toMatch(/8 elements, more than the cap of 7/);
  });

  it('predicts huge results before running them (ConstantOfShape, Expand, Tile, Pad, Resize)', () => {
    // Each result has 10^10 or more elements: running the kernel would fail to allocate, with another reason.
    const model = buildModel({
      nodes: [
        node('ConstantOfShape', ['big'], ['cos']),
        node('Expand', ['a', 'big'], ['ex']),
        node('Tile', ['a2', 'reps'], ['ti']),
        node('Pad', ['a2', 'pads'], ['pd']),
        node('Resize', ['a4', '', 'scales'], ['rs']),
        node('Add', ['x', 'a'], ['y']),
      ],
      inputs: [floatInput('x', [1])],
      outputs: ['y'],
      initializers: [
        i64('big', [100000, 100000]),
        f32('a', [1], [1]),
        f32('a2', [1, 1], [1]),
        i64('reps', [100000, 100000]),
        i64('pads', [0, 0, 100000, 100000]),
        f32('a4', [1, 1, 1, 1], [1]),
        f32('scales', [4], [1, 1, 1e5, 1e5]),
      ],
      opset: 13,
    });
    const r = runOn(model, ['fold-constants']).reports['fold-constants']!;
    expect(r.changed).toBe(0);
    expect(r.skipped.map((s) => s.reason)).toEqual([
      'ConstantOfShape: the result would have 10,000,000,000 elements, more than the cap of 1,048,576 (--fold-max-elements)',
      'Expand: the result would have 10,000,000,000 elements, more than the cap of 1,048,576 (--fold-max-elements)',
      'Tile: the result would have 10,000,000,000 elements, more than the cap of 1,048,576 (--fold-max-elements)',
      'Pad: the result would have 10,000,200,001 elements, more than the cap of 1,048,576 (--fold-max-elements)',
      'Resize: the result would have 10,000,000,000 elements, more than the cap of 1,048,576 (--fold-max-elements)',
    ]);
  });

  it('leaves nodes without a kernel, nondeterministic ops, other domains and graph-output producers, with reasons', () => {
    // StringNormalizer has no kernel in bnc's runtime (strings; if one is added, pick another op here).
    expect(findKernel('StringNormalizer')).toBeUndefined();
    const model = buildModel({
      nodes: [
        node('StringNormalizer', ['m'], ['d']),
        node('RandomNormal', [], ['rn'], [intsAttr('shape', [2])]),
        { ...node('Foo', ['m'], ['foo']), domain: 'com.example' },
        node('Identity', ['m'], ['out']),
        node('Add', ['x', 'd'], ['y1']),
        node('Add', ['x', 'rn'], ['y2']),
        node('Add', ['x', 'foo'], ['y3']),
      ],
      inputs: [floatInput('x', [2])],
      outputs: ['y1', 'y2', 'y3', 'out'],
      initializers: [f32('m', [2, 2], [1, 2, 3, 4])],
    });
    model.opsetImports.push({ domain: 'com.example', version: 1 });
    const r = runOn(model, ['fold-constants']).reports['fold-constants']!;
    expect(r.changed).toBe(0);
    expect(r.skipped).toEqual([
      { node: 'StringNormalizer_d', reason: "StringNormalizer: no kernel in bnc's runtime" },
      { node: 'RandomNormal_rn', reason: 'RandomNormal: nondeterministic op (folding would freeze one random draw)' },
      { node: 'Foo_foo', reason: "Foo: op of domain 'com.example' has no kernel in bnc's runtime" },
      { node: 'Identity_out', reason: "Identity: produces the graph output 'out', which stays computed by a node" },
    ]);
  });

  it('reports a kernel that rejects its constant inputs and leaves the node', () => {
    const model = buildModel({
      nodes: [node('Reshape', ['a', 's'], ['r']), node('Add', ['x', 'r'], ['y'])],
      inputs: [floatInput('x', [3])],
      outputs: ['y'],
      initializers: [f32('a', [4], [1, 2, 3, 4]), i64('s', [3])],
    });
    const r = runOn(model, ['fold-constants']).reports['fold-constants']!;
    expect(r.changed).toBe(0);
    expect(r.skipped[0]!.reason).toMatch(/^Reshape: could not be evaluated: .*cannot reshape \[4\]/);
  });
});

describe('fold-constants: types, shapes, names', () => {
  it('keeps float16: an Unsqueeze of float16 and a Cast to float16 fold to float16 initializers', async () => {
    const h = createTensor('h', DataType.FLOAT16, [2], Uint16Array.from([0.1, 3].map(numberToFloat16Bits)));
    const model = buildModel({
      nodes: [
        node('Unsqueeze', ['h'], ['hu'], [intsAttr('axes', [0])]),
        node('Cast', ['f'], ['fh'], [intAttr('to', DataType.FLOAT16)]),
        node('Cast', ['x'], ['xh'], [intAttr('to', DataType.FLOAT16)]),
        node('Add', ['xh', 'hu'], ['s']),
        node('Add', ['s', 'fh'], ['y']),
      ],
      inputs: [floatInput('x', [1, 2])],
      outputs: ['y'],
      initializers: [h, f32('f', [2], [1 / 3, 1e5])],
      opset: 11,
    });
    model.graph.outputs[0]!.type!.tensor!.elemType = DataType.FLOAT16;
    const { model: out, reports } = runOn(model, ['fold-constants']);
    expect(reports['fold-constants']!.counts).toEqual({ Unsqueeze: 1, Cast: 1 });
    const hu = out.graph.initializers.find((t) => t.name === 'hu')!;
    expect([hu.dtype, hu.dims, [...(hu.data as Uint16Array)]]).toEqual([DataType.FLOAT16, [1, 2], [...(h.data as Uint16Array)]]);
    const fh = out.graph.initializers.find((t) => t.name === 'fh')!;
    // 1/3 rounds to float16 0x3555; 1e5 is beyond float16's range (65504) and becomes +Inf (0x7c00).
    expect([fh.dtype, [...(fh.data as Uint16Array)]]).toEqual([DataType.FLOAT16, [0x3555, 0x7c00]]);
    const feeds: OrtFeeds = { x: { data: Float32Array.from([1, -2]), dims: [1, 2] } };
    // onnxruntime returns float16 results as their bits: compare the bits of both runs.
    const [a, b] = await Promise.all([runModel(model, feeds), runModel(out, feeds)]);
    expect([...(b.y!.data as unknown as Uint16Array)]).toEqual([...(a.y!.data as unknown as Uint16Array)]);
  });

  it('folds Shape of a value with a fully static shape (and the Gather/Unsqueeze/Concat after it); not of a symbolic one', async () => {
    // Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])): flatten to [N, -1] as PyTorch exports it.
    const build = (n: number | string) => {
      const m = buildModel({
        nodes: [
          node('Relu', ['x'], ['rx']),
          node('Shape', ['rx'], ['shp']),
          node('Gather', ['shp', 'zero'], ['n'], [intAttr('axis', 0)]),
          node('Unsqueeze', ['n'], ['n1'], [intsAttr('axes', [0])]),
          node('Concat', ['n1', 'minus1'], ['target'], [intAttr('axis', 0)]),
          node('Reshape', ['rx', 'target'], ['y']),
        ],
        inputs: [floatInput('x', [n, 2, 3])],
        outputs: ['y'],
        initializers: [i64('zero', [0], []), i64('minus1', [-1])],
        opset: 11,
      });
      return m;
    };
    const fixed = runOn(build(2), ['fold-constants']);
    expect(fixed.reports['fold-constants']!.counts).toEqual({ Shape: 1, Gather: 1, Unsqueeze: 1, Concat: 1 });
    expect(tensorToFloat64(fixed.model.graph.initializers.find((t) => t.name === 'target')!)).toEqual(Float64Array.from([2, -1]));
    await expectSameOutputs(build(2), fixed.model, { x: { data: normal(rng(9), 12), dims: [2, 2, 3] } });
    const symbolic = runOn(build('N'), ['fold-constants']);
    expect(symbolic.reports['fold-constants']!.changed).toBe(0);
    expect(symbolic.reports['fold-constants']!.skipped).toEqual([]);
  });

  it('keeps value names: readers, including a subgraph reading the value from the outer scope, see the same name', () => {
    const body: Graph = {
      name: 'then',
      nodes: [node('Add', ['u', 'i'], ['t'])],
      inputs: [],
      outputs: [tensorValueInfo('t', DataType.FLOAT, [1, 2])],
      initializers: [],
      valueInfo: [],
    };
    const model = buildModel({
      nodes: [
        node('Unsqueeze', ['a'], ['u'], [intsAttr('axes', [0])]),
        node('Identity', ['a'], ['i']),
        node('If', ['cond'], ['y'], [{ name: 'then_branch', type: AttributeType.GRAPH, g: body }, { name: 'else_branch', type: AttributeType.GRAPH, g: body }]),
      ],
      inputs: [tensorValueInfo('cond', DataType.BOOL, [])],
      outputs: ['y'],
      initializers: [f32('a', [2], [1, 2])],
      opset: 11,
    });
    const { model: out, reports } = runOn(model, ['fold-constants', 'cleanup']);
    // The Identity read by the If body by name becomes an initializer of that name rather than vanishing.
    expect(reports['fold-constants']!.counts).toEqual({ Unsqueeze: 1, Identity: 1 });
    expect(out.graph.initializers.map((t) => t.name)).toEqual(['u', 'i']);
    expect(out.graph.nodes.map((n) => n.opType)).toEqual(['If']);
  });
});

describe('fold-constants: Identity of a constant', () => {
  it('hands its readers the constant itself: no copy of the weight, same outputs', async () => {
    // PyTorch exports give one deduplicated weight several names through Identity nodes.
    const r = rng(31);
    const model = buildModel({
      nodes: [
        node('Conv', ['x', 'w'], ['c1'], [intsAttr('kernel_shape', [1, 1])]),
        node('Identity', ['w'], ['w_copy']),
        node('Conv', ['c1', 'w_copy'], ['y'], [intsAttr('kernel_shape', [1, 1])]),
      ],
      inputs: [floatInput('x', [1, 2, 3, 3])],
      outputs: ['y'],
      initializers: [f32('w', [2, 2, 1, 1], normal(r, 4))],
    });
    const { model: out, reports } = runOn(model, ['fold-constants', 'cleanup']);
    expect(reports['fold-constants']!.counts).toEqual({ Identity: 1 });
    expect(reports['fold-constants']!.changes[0]).toMatch(/^1 Identity node\(s\) removed, their readers now read the constant/);
    expect(out.graph.initializers.map((t) => t.name)).toEqual(['w']);
    expect(out.graph.nodes.map((n) => n.inputs[1])).toEqual(['w', 'w']);
    await expectSameOutputs(model, out, { x: { data: normal(r, 18), dims: [1, 2, 3, 3] } });
  });
});

describe('fold-constants is linear in nodes + edges', () => {
  /** A chain of `n` Unsqueeze/Squeeze pairs on a constant, then Mul/Add on the input, with the graph's arrays counted. */
  function countedRun(n: number): { reads: number; size: number } {
    const nodes: Node[] = [];
    let v = 'c0';
    for (let i = 0; i < n; i++) {
      nodes.push(node('Unsqueeze', [v], [`u${i}`], [intsAttr('axes', [0])]), node('Squeeze', [`u${i}`], [`c${i + 1}`], [intsAttr('axes', [0])]));
      v = `c${i + 1}`;
      nodes.push(node(i % 2 ? 'Mul' : 'Add', [i ? `x${i}` : 'x', v], [`x${i + 1}`]));
    }
    const model = buildModel({ nodes, inputs: [floatInput('x', [2])], outputs: [`x${n}`], initializers: [f32('c0', [2], [1, 2])], opset: 11 });
    let reads = 0;
    const counted = <T,>(arr: T[]): T[] =>
      new Proxy(arr, {
        get(target, key, receiver) {
          if (typeof key === 'string' && /^\d+$/.test(key)) reads++;
          return Reflect.get(target, key, receiver);
        },
      });
    const g = model.graph;
    g.nodes = counted(g.nodes);
    g.initializers = counted(g.initializers);
    g.inputs = counted(g.inputs);
    g.outputs = counted(g.outputs);
    g.valueInfo = counted(g.valueInfo);
    for (const nd of g.nodes) {
      nd.inputs = counted(nd.inputs);
      nd.outputs = counted(nd.outputs);
    }
    const size = g.nodes.length + g.nodes.reduce((s, nd) => s + nd.inputs.length + nd.outputs.length, 0);
    reads = 0;
    const r = runPasses(model, ['fold-constants'])[0]!;
    expect(r.changed).toBe(2 * n);
    return { reads, size };
  }

  it('reads each node and edge a bounded number of times, whatever the graph size', () => {
    const small = countedRun(500);
    const large = countedRun(4000);
    // Work per node+edge is a constant: a lookup by scanning the node list (producerOf, initializerOf)
    // would make the large graph's ratio about 8 times the small one's.
    expect(large.reads / large.size).toBeLessThan(12);
    expect(large.reads / large.size).toBeLessThan(1.2 * (small.reads / small.size));
  });
});

describe('CLI', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-foldconst-'));
  const file = path.join(tmp, 'dense.onnx');
  fs.writeFileSync(file, serializeOnnx(caffe2DenseNet({ layers: 2 })));

  it('fold-bn reports the folded constants and node counts, in text and --json, and verifies', () => {
    const out = path.join(tmp, 'dense-folded.onnx');
    const j = bnc(['fold-bn', file, '-o', out, '--json', '--verify']);
    expect(j.code).toBe(0);
    const r = JSON.parse(j.stdout);
    expect(r.constantsFolded.total).toBeGreaterThan(0);
    expect(r.constantsFolded.byOp.Unsqueeze).toBeGreaterThan(0);
    expect(r.constantsFolded.skipped).toEqual([]);
    expect(r.mergedWithScale).toBe(r.batchNorm.before);
    expect(r.nodes.after).toBeLessThan(r.nodes.before);
    expect(r.passes.map((p: PassReport) => p.pass)).toEqual(FOLD_BN_PIPELINE);
    expect(r.verify.verdict).toBe('equivalent');
    const t = bnc(['fold-bn', file, '-o', out, '--force']);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/^Constants folded: \d+ node\(s\) \(Unsqueeze \d+, /m);
    expect(t.stdout).toMatch(/^Nodes: \d+ → \d+$/m);
  });

  it('optimize runs fold-constants alone, and --fold-max-elements sets the cap', () => {
    const out = path.join(tmp, 'dense-fc.onnx');
    const j = JSON.parse(bnc(['optimize', file, '-o', out, '--passes', 'fold-constants', '--json']).stdout);
    expect(j.passes[0].pass).toBe('fold-constants');
    expect(j.passes[0].changed).toBeGreaterThan(0);
    const capped = JSON.parse(bnc(['optimize', file, '-o', out, '--force', '--passes', 'fold-constants', '--fold-max-elements', '1', '--json']).stdout);
    expect(capped.passes[0].skipped.some((s: { reason: string }) => /more than the cap of 1 /.test(s.reason))).toBe(true);
    const bad = bnc(['optimize', file, '-o', out, '--force', '--passes', 'fold-constants', '--fold-max-elements', 'lots']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--fold-max-elements "lots": expected a whole number/);
  });
});

describe('merge-bn-scale on opset-6 Caffe2 exports (Mul/Add with broadcast=1, axis=1)', () => {
  const C6 = 3;
  const r6 = rng(21);
  const [s, b, m, v, g, beta] = [uniform(r6, C6, 0.5, 1.5), normal(r6, C6, 0.3), normal(r6, C6, 0.3), uniform(r6, C6, 0.2, 2), uniform(r6, C6, 0.5, 1.5), normal(r6, C6, 0.3)];
  const build = (axis: number | undefined, constantFirst = false) => {
    const attrs = [intAttr('broadcast', 1), ...(axis === undefined ? [] : [intAttr('axis', axis)])];
    const model = buildModel({
      nodes: [
        node('BatchNormalization', ['x', 's', 'b', 'm', 'v'], ['t'], [intAttr('is_test', 1)], 'bn'),
        node('Mul', constantFirst ? ['g', 't'] : ['t', 'g'], ['u'], attrs),
        node('Add', ['u', 'beta'], ['y'], attrs),
      ],
      inputs: [floatInput('x', [1, C6, 2, 2])],
      outputs: ['y'],
      initializers: [f32('s', [C6], s), f32('b', [C6], b), f32('m', [C6], m), f32('v', [C6], v), f32('g', [C6], g), f32('beta', [C6], beta)],
      opset: 6,
    });
    model.irVersion = 3;
    model.graph.inputs.push(...model.graph.initializers.map((t) => tensorValueInfo(t.name, t.dtype, t.dims)));
    return model;
  };
  const x = normal(rng(22), C6 * 4);
  // By hand, in float64: y = ((x - mean)/sqrt(var + 1e-5)·scale + B)·gamma + beta, channel c = element / 4.
  const expected = Array.from(x, (xi, i) => {
    const c = Math.floor(i / 4);
    return ((xi - m[c]!) / Math.sqrt(v[c]! + 1e-5) * s[c]! + b[c]!) * g[c]! + beta[c]!;
  });
  const runIt = (model: Model) => runBnc(model, new Map([['x', { dtype: DataType.FLOAT, dims: [1, C6, 2, 2], data: x }]])).outputs.get('y')!.data as Float32Array;

  it('merges the per-channel constant placed at axis 1, and the result matches the definition', () => {
    const model = build(1);
    for (let i = 0; i < x.length; i++) expect(Math.abs(runIt(model)[i]! - expected[i]!)).toBeLessThan(1e-5);
    const { model: out, reports } = runOn(model, ['merge-bn-scale', 'cleanup']);
    expect(reports['merge-bn-scale']!.changes).toEqual(["bn merged with Mul 'Mul_u' and Add 'Add_y'"]);
    expect(out.graph.nodes.map((n) => n.opType)).toEqual(['BatchNormalization']);
    const y = runIt(out);
    for (let i = 0; i < x.length; i++) expect(Math.abs(y[i]! - expected[i]!)).toBeLessThan(1e-5);
  });

  it('does not merge a [C] constant aligned at the trailing axis (no axis given), nor one given first', () => {
    for (const model of [build(undefined), build(1, true)]) {
      const r = runOn(model, ['merge-bn-scale']).reports['merge-bn-scale']!;
      expect(r.changed).toBe(0);
      expect(r.skipped[0]!.reason).toMatch(/not per-channel|only the second input broadcasts/);
    }
  });
});
