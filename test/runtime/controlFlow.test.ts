import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { DataType, Model, Node, createTensor, intAttr, intsAttr, tensorValueInfo } from '../../src/ir/index.js';
import { serializeOnnx } from '../../src/formats/onnx/index.js';
import { runModel } from '../../src/runtime/engine.js';
import { RtTensor } from '../../src/runtime/kernel.js';
import { FOLD_BN_PIPELINE, runPasses } from '../../src/passes/index.js';
import { tensorMismatch } from '../helpers/kernelHarness.js';
import { buildModel, cloneModel, f32, floatInput, node, normal, rng, uniform } from '../passes/graphBuilder.js';
import { X_DIMS, floatOut, graphAttr, ifModel, loopModel, subgraph, x } from '../passes/subgraphModels.js';

// If, Loop and Scan through bnc's engine against onnxruntime on generated models: Conv + BN in branches and
// bodies (before and after fold-bn), outer-scope reads at two levels, scan axes and directions, Scan-8's
// batch and sequence lengths, an LSTM inside an If, and zero-iteration loops.

const r = rng(99);
const TOL = { atol: 1e-5, rtol: 1e-4 };

type Feeds = Record<string, RtTensor>;

async function expectLikeOrt(model: Model, feeds: Feeds): Promise<void> {
  const session = await ort.InferenceSession.create(serializeOnnx(model), { graphOptimizationLevel: 'disabled', intraOpNumThreads: 1 });
  const ortFeeds: Record<string, ort.Tensor> = {};
  for (const [k, t] of Object.entries(feeds)) {
    const type = t.dtype === DataType.INT64 ? 'int64' : t.dtype === DataType.INT32 ? 'int32' : t.dtype === DataType.BOOL ? 'bool' : 'float32';
    ortFeeds[k] = new ort.Tensor(type, t.data as Float32Array, t.dims);
  }
  const want = await session.run(ortFeeds);
  await session.release();
  const got = runModel(model, new Map(Object.entries(feeds))).outputs;
  for (const o of model.graph.outputs) {
    const w = want[o.name]!;
    const dtype = w.type === 'int64' ? DataType.INT64 : w.type === 'int32' ? DataType.INT32 : DataType.FLOAT;
    expect(tensorMismatch(got.get(o.name)!, { dtype, dims: [...w.dims], data: w.data as Float32Array }, TOL), o.name).toBeUndefined();
  }
}

const float = (dims: number[], data: ArrayLike<number>): RtTensor => ({ dtype: DataType.FLOAT, dims, data: Float32Array.from(data) });
const withNode = (n: Node, attrs: Node['attributes']): Node => ({ ...n, attributes: attrs });

describe('If', () => {
  it('runs the branch cond selects; Conv + BN in both branches, before and after fold-bn', async () => {
    const model = ifModel();
    const folded = cloneModel(model);
    runPasses(folded, FOLD_BN_PIPELINE);
    for (const flag of [1, -1]) {
      const feeds = { x: float(X_DIMS, x), flag: float([], [flag]) };
      await expectLikeOrt(model, feeds);
      await expectLikeOrt(folded, feeds);
    }
  });

  it('an LSTM inside a branch reading weights from the main graph (voice-activity style)', async () => {
    const H = 4;
    const thenG = subgraph('speech', {
      nodes: [withNode(node('LSTM', ['feat', 'W', 'R', 'Bias'], ['', 'h_last'], [], 'lstm'), [intAttr('hidden_size', H)]), node('Relu', ['h_last'], ['score'])],
      outputs: [floatOut('score')],
    });
    const elseG = subgraph('silence', { nodes: [node('Mul', ['zero', 'h0'], ['quiet'])], outputs: [floatOut('quiet')] });
    const model = buildModel({
      nodes: [
        node('Cast', ['flag'], ['cond'], [intAttr('to', DataType.BOOL)]),
        withNode(node('If', ['cond'], ['out'], [], 'vad'), [graphAttr('then_branch', thenG), graphAttr('else_branch', elseG)]),
      ],
      inputs: [floatInput('feat', [5, 2, 3]), floatInput('flag', [])],
      outputs: ['out'],
      initializers: [
        f32('W', [1, 4 * H, 3], normal(r, 48, 0.5)),
        f32('R', [1, 4 * H, H], normal(r, 64, 0.5)),
        f32('Bias', [1, 8 * H], normal(r, 32, 0.2)),
        f32('zero', [], [0]),
        f32('h0', [1, 2, H], normal(r, 8)),
      ],
    });
    for (const flag of [1, -1]) await expectLikeOrt(model, { feat: float([5, 2, 3], normal(r, 30)), flag: float([], [flag]) });
  });
});

describe('Loop', () => {
  it('3 iterations of s ← s + BN(Conv(s)) with a scan output, before and after fold-bn', async () => {
    const model = loopModel();
    const folded = cloneModel(model);
    runPasses(folded, FOLD_BN_PIPELINE);
    await expectLikeOrt(model, { x: float(X_DIMS, x) });
    await expectLikeOrt(folded, { x: float(X_DIMS, x) });
  });

  it('a trip count fed at run time, cond from the body, and an If in the body reading a main-graph value', async () => {
    // Loop while i < M and the running sum stays below the limit; inside, an If adds the main graph's `a`
    // (= Relu(x), read by nothing else: it must live until the Loop has run) when the carried sign is
    // positive, else half of it; the sign flips every iteration. With sum(a) in [1.2, 6], M = 9 ends by cond.
    const thenG = subgraph('add', { nodes: [node('Add', ['acc', 'a'], ['acc_t'])], outputs: [floatOut('acc_t')] });
    const elseG = subgraph('half', { nodes: [node('Mul', ['a', 'half'], ['half_a']), node('Add', ['acc', 'half_a'], ['acc_e'])], outputs: [floatOut('acc_e')] });
    const body = subgraph('body', {
      inputs: [tensorValueInfo('i', DataType.INT64, []), tensorValueInfo('c', DataType.BOOL, []), floatOut('acc'), floatOut('sign')],
      nodes: [
        node('Cast', ['i'], ['i_f'], [intAttr('to', DataType.FLOAT)]),
        node('Relu', ['sign'], ['positive']),
        node('Cast', ['positive'], ['add_it'], [intAttr('to', DataType.BOOL)]),
        withNode(node('If', ['add_it'], ['acc_next'], [], 'pick'), [graphAttr('then_branch', thenG), graphAttr('else_branch', elseG)]),
        node('ReduceSum', ['acc_next'], ['total'], [intAttr('keepdims', 0)]),
        node('Sub', ['limit', 'total'], ['room']),
        node('Relu', ['room'], ['room_pos']),
        node('Cast', ['room_pos'], ['go_on'], [intAttr('to', DataType.BOOL)]),
        node('Neg', ['sign'], ['sign_next']),
        node('Mul', ['acc_next', 'i_f'], ['trace']),
      ],
      outputs: [tensorValueInfo('go_on', DataType.BOOL, []), floatOut('acc_next'), floatOut('sign_next'), floatOut('trace')],
    });
    const model = buildModel({
      nodes: [node('Relu', ['x'], ['a']), withNode(node('Loop', ['M', 'start', 'init', 'one'], ['acc_final', 'sign_final', 'traces'], [], 'loop'), [graphAttr('body', body)])],
      inputs: [floatInput('x', [2, 3]), tensorValueInfo('M', DataType.INT64, [])],
      outputs: ['acc_final', 'sign_final', 'traces'],
      initializers: [
        f32('init', [2, 3], new Float32Array(6)),
        f32('one', [], [1]),
        createTensor('start', DataType.BOOL, [], Uint8Array.of(1)),
        f32('limit', [], [10]),
        f32('half', [], [0.5]),
      ],
    });
    for (const m of [1, 4, 9]) {
      await expectLikeOrt(model, { x: float([2, 3], uniform(r, 6, 0.2, 1)), M: { dtype: DataType.INT64, dims: [], data: BigInt64Array.of(BigInt(m)) } });
    }
  });

  it('zero iterations: carried values are the initial ones, the scan output has shape [0]', async () => {
    const model = loopModel();
    model.graph.initializers.find((t) => t.name === 'M')!.data = BigInt64Array.of(0n);
    // The body output declares no shape, so onnxruntime (like bnc) falls back to a rank-1 [0].
    await expectLikeOrt(model, { x: float(X_DIMS, x) });
  });
});

describe('Scan', () => {
  it('opset 9+: scan axis 1, reverse input, output along axis 1 in reverse, outer-scope weight', async () => {
    const body = subgraph('body', {
      inputs: [floatOut('s'), floatOut('xt')],
      nodes: [node('Add', ['s', 'xt'], ['s_next']), node('Mul', ['s_next', 'w_outer'], ['y'])],
      outputs: [floatOut('s_next'), floatOut('y')],
    });
    for (const opset of [9, 11, 16]) {
      const model = buildModel({
        nodes: [
          withNode(node('Scan', ['s0', 'xs'], ['s_final', 'ys'], [], 'scan'), [
            graphAttr('body', body),
            intAttr('num_scan_inputs', 1),
            intsAttr('scan_input_axes', [opset >= 11 ? -2 : 1]),
            intsAttr('scan_input_directions', [1]),
            intsAttr('scan_output_axes', [1]),
            intsAttr('scan_output_directions', [1]),
          ]),
        ],
        inputs: [floatInput('s0', [3, 2]), floatInput('xs', [3, 5, 2])],
        outputs: ['s_final', 'ys'],
        initializers: [f32('w_outer', [2], [0.5, -2])],
        opset,
      });
      await expectLikeOrt(model, { s0: float([3, 2], normal(r, 6)), xs: float([3, 5, 2], normal(r, 30)) });
    }
  });

  for (const lens of [[4n, 2n], [1n, 3n]]) it(`opset 8: batch axis, sequence lengths [${lens.join(', ')}], a reversed scan input`, async () => {
    const body = subgraph('body', {
      inputs: [floatOut('s'), floatOut('xt'), floatOut('ut')],
      nodes: [node('Add', ['s', 'xt'], ['s1']), node('Mul', ['s1', 'ut'], ['s_next']), node('Identity', ['s_next'], ['y'])],
      outputs: [floatOut('s_next'), floatOut('y')],
    });
    const model = buildModel({
      nodes: [
        withNode(node('Scan', ['lens', 's0', 'xs', 'us'], ['s_final', 'ys'], [], 'scan8'), [
          graphAttr('body', body),
          intAttr('num_scan_inputs', 2),
          intsAttr('directions', [0, 1]),
        ]),
      ],
      inputs: [floatInput('s0', [2, 3]), floatInput('xs', [2, 4, 3]), floatInput('us', [2, 4, 3])],
      outputs: ['s_final', 'ys'],
      initializers: [createTensor('lens', DataType.INT64, [2], BigInt64Array.from(lens))],
      opset: 8,
    });
    await expectLikeOrt(model, { s0: float([2, 3], normal(r, 6)), xs: float([2, 4, 3], normal(r, 24)), us: float([2, 4, 3], normal(r, 24)) });
  });
});


describe('malformed control flow is a user error naming the node, never a crash', () => {
  const run = (m: Model, feeds: Feeds) => () => runModel(m, new Map(Object.entries(feeds)));
  const one = { x: float([2], [1, 2]) };
  const identityBody = (inputs: string[], outputs: string[]) =>
    subgraph('b', {
      inputs: inputs.map((n) => (n === 'i' ? tensorValueInfo('i', DataType.INT64, []) : n === 'c' ? tensorValueInfo('c', DataType.BOOL, []) : floatOut(n))),
      nodes: outputs.map((o, k) => node('Identity', [inputs[Math.min(k + 1, inputs.length - 1)]!], [o])),
      outputs: outputs.map((o, k) => (k === 0 && inputs[1] === 'c' ? tensorValueInfo(o, DataType.BOOL, []) : floatOut(o))),
    });

  it('If without else_branch', () => {
    const m = buildModel({
      nodes: [
        node('Cast', ['x'], ['c'], [intAttr('to', DataType.BOOL)]),
        node('ReduceMax', ['c_f'], ['y'], [intAttr('keepdims', 0)]),
        node('Cast', ['c'], ['c_f'], [intAttr('to', DataType.FLOAT)]),
        withNode(node('If', ['c'], ['z'], [], 'broken_if'), [graphAttr('then_branch', identityBody([], []))]),
      ],
      inputs: [floatInput('x', [2])],
      outputs: ['z'],
      initializers: [],
    });
    expect(run(m, one)).toThrowError(/If node 'broken_if': cond must hold one element/);
    m.graph.nodes[3]!.inputs = ['y_bool'];
    m.graph.nodes.push(node('Cast', ['y'], ['y_bool'], [intAttr('to', DataType.BOOL)]));
    expect(run(m, { x: float([2], [0, 0]) })).toThrowError(/If node 'broken_if': attribute 'else_branch' \(a graph\) is missing/);
  });

  it('Loop with neither trip count nor condition, and a body of the wrong arity', () => {
    const loop = (inputs: string[], body: ReturnType<typeof identityBody>) =>
      buildModel({
        nodes: [withNode(node('Loop', inputs, ['y'], [], 'l'), [graphAttr('body', body)])],
        inputs: [floatInput('x', [2])],
        outputs: ['y'],
        initializers: [createTensor('M', DataType.INT64, [], BigInt64Array.of(2n))],
      });
    expect(run(loop(['', '', 'x'], identityBody(['i', 'c', 's'], ['c2', 's2'])), one)).toThrowError(/Loop node 'l': it has neither a trip count M nor a condition/);
    expect(run(loop(['M', '', 'x'], identityBody(['i', 's'], ['c2', 's2'])), one)).toThrowError(/Loop node 'l': the body has 2 inputs, expected 3/);
  });

  it('Scan whose num_scan_inputs exceeds its inputs, and scan inputs of different lengths', () => {
    const scan = (m: number, xs: number[][]) =>
      buildModel({
        nodes: [
          withNode(node('Scan', ['s', ...xs.map((_, i) => `x${i}`)], ['y'], [], 'sc'), [
            graphAttr('body', identityBody(['s', ...xs.map((_, i) => `t${i}`)], ['s2'])),
            intAttr('num_scan_inputs', m),
          ]),
        ],
        inputs: [floatInput('s', [1]), ...xs.map((d, i) => floatInput(`x${i}`, d))],
        outputs: ['y'],
        initializers: [],
        opset: 11,
      });
    expect(run(scan(3, [[2, 1]]), { s: float([1], [0]), x0: float([2, 1], [1, 2]) })).toThrowError(/Scan node 'sc': num_scan_inputs is 3, but the node has 2 inputs/);
    expect(run(scan(2, [[2, 1], [3, 1]]), { s: float([1], [0]), x0: float([2, 1], [1, 2]), x1: float([3, 1], [1, 2, 3]) })).toThrowError(
      /Scan node 'sc': scan input 1 has 3 steps along axis 0, scan input 0 has 2/,
    );
  });
});
