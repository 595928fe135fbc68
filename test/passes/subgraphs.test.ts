import { describe, expect, it } from 'vitest';
import { AttributeType, DataType, Graph, Model, cloneModel as structureClone, createTensor, intAttr, validateGraph } from '../../src/ir/index.js';
import { parseOnnx, serializeOnnx } from '../../src/formats/onnx/index.js';
import { FOLD_BN_PIPELINE, PassReport, runPasses } from '../../src/passes/index.js';
import { summarizeModel } from '../../src/inspect/summary.js';
import { OrtFeeds } from '../helpers/ort.js';
import { cloneModel, floatInput, node, runModel } from './graphBuilder.js';
import { C, X_DIMS, floatOut, graphAttr, ifModel, loopModel, subgraph, x } from './subgraphModels.js';

// Conv + BatchNormalization inside If branches and Loop bodies: counted by inspect, folded by fold-bn,
// with uses from inside subgraphs counted as uses; every model checked in onnxruntime before and after.

async function expectSameOutputs(a: Model, b: Model, feeds: OrtFeeds): Promise<void> {
  const [ra, rb] = await Promise.all([runModel(a, feeds), runModel(b, feeds)]);
  expect(Object.keys(rb).sort()).toEqual(Object.keys(ra).sort());
  for (const k of Object.keys(ra)) {
    const p = ra[k]!.data;
    const q = rb[k]!.data;
    expect(q.length, k).toBe(p.length);
    let scale = 0;
    for (let i = 0; i < p.length; i++) scale = Math.max(scale, Math.abs(p[i]!));
    let worst = 0;
    for (let i = 0; i < p.length; i++) worst = Math.max(worst, Math.abs(p[i]! - q[i]!) / (1e-5 * scale + 1e-5 * Math.abs(p[i]!)));
    expect(worst, `output ${k}`).toBeLessThanOrEqual(1);
  }
}

function countEverywhere(model: Model, opType: string): number {
  const count = (g: Graph): number =>
    g.nodes.reduce((k, n) => k + (n.opType === opType ? 1 : 0) + n.attributes.reduce((j, a) => j + (a.g ? count(a.g) : 0), 0), 0);
  return count(model.graph);
}

function fold(model: Model, options: { allowWeightCopy?: boolean } = {}, passes = FOLD_BN_PIPELINE) {
  const out = cloneModel(model);
  const reports = runPasses(out, passes, options);
  // What is written must read back and validate (every subgraph read resolves).
  const back = parseOnnx(serializeOnnx(out));
  validateGraph(back.graph);
  return { out: back, report: (n: string) => reports.find((p) => p.pass === n) as PassReport };
}

describe('BatchNormalization inside If branches', () => {
  it('inspect counts nodes, ops, BNs and parameters in both branches', () => {
    const s = summarizeModel(ifModel());
    expect(s.nodeCount).toBe(4 + 3 + 2);
    expect(s.subgraphs).toEqual({ count: 2, nodeCount: 5 });
    expect(s.opHistogram.Conv).toBe(3);
    expect(s.batchNorm.count).toBe(3);
    expect(s.batchNorm.foldable).toBe(3);
    // W0, W_outer (4·3·9 each) + 2×4 BN vectors in the main graph; W_e + 4 BN vectors in the else branch.
    expect(s.initializerCount).toBe(2 + 8 + 5);
    expect(s.parameterCount).toBe(3 * 108 + 12 * 4);
    expect(s.constants).toEqual({ count: 0, parameterCount: 0, parameterBytes: 0 });
  });

  it('inspect counts weights held in Constant nodes (main graph and branches) apart from initializers', () => {
    const model = ifModel();
    const weight = (n: number) => createTensor('', DataType.FLOAT, [n, 3], new Float32Array(n * 3));
    model.graph.nodes.unshift(node('Constant', [], ['k_main'], [{ name: 'value', type: AttributeType.TENSOR, t: weight(5) }]));
    const branch = model.graph.nodes.find((n) => n.opType === 'If')!.attributes[0]!.g!;
    branch.nodes.unshift(node('Constant', [], ['k_branch'], [{ name: 'value', type: AttributeType.TENSOR, t: weight(2) }]));
    const s = summarizeModel(model);
    // 5·3 + 2·3 float32 elements in two Constant nodes; the initializers' count is unchanged.
    expect(s.constants).toEqual({ count: 2, parameterCount: 21, parameterBytes: 84 });
    expect(s.parameterCount).toBe(3 * 108 + 12 * 4);
  });

  it('fold-bn folds the BNs in both branches and the outputs match onnxruntime for either branch', async () => {
    const model = ifModel();
    const { out, report } = fold(model);
    expect(countEverywhere(out, 'BatchNormalization')).toBe(0);
    expect(report('fold-bn').changed).toBe(3);
    expect(report('fold-bn').changes.some((c) => c.includes("then_branch of If 'if0'"))).toBe(true);
    // W_outer and bn_t's parameters were read only by the then branch: the folded copy lives there now.
    expect(out.graph.initializers.map((t) => t.name)).not.toContain('W_outer');
    for (const flag of [1, -1]) {
      await expectSameOutputs(model, out, { x: { data: x, dims: X_DIMS }, flag: { data: Float32Array.of(flag), dims: [] } });
    }
  });

  it('a Conv output that a branch also reads is not folded into, and stays', async () => {
    const model = ifModel();
    // The then branch now reads c0 (main graph Conv output) too: c0 has two readers.
    const thenG = model.graph.nodes[3]!.attributes[0]!.g!;
    thenG.nodes.push(node('Add', ['t_out', 'c0'], ['t_sum']));
    thenG.outputs = [floatOut('t_sum')];
    const { out, report } = fold(model);
    const skipped = report('fold-bn').skipped.find((s) => s.node === 'bn0');
    expect(skipped?.reason).toMatch(/'c0' .* also read by 1 other reader/);
    expect(countEverywhere(out, 'BatchNormalization')).toBe(0); // bn0 became Mul + Add
    expect(out.graph.nodes.some((n) => n.outputs.includes('c0'))).toBe(true);
    await expectSameOutputs(model, out, { x: { data: x, dims: X_DIMS }, flag: { data: Float32Array.of(1), dims: [] } });
  });

  it('a weight shared between the main graph and a branch is not changed in place', async () => {
    const model = ifModel();
    const thenG = model.graph.nodes[3]!.attributes[0]!.g!;
    thenG.nodes[0]!.inputs[1] = 'W0';
    const { report } = fold(model, {}, ['fold-bn']);
    expect(report('fold-bn').skipped.find((s) => s.node.startsWith('bn_t'))?.reason).toMatch(/'W0' .* shared/);
    expect(report('fold-bn').skipped.find((s) => s.node === 'bn0')?.reason).toMatch(/'W0' .* shared/);
    const copied = fold(model, { allowWeightCopy: true });
    expect(countEverywhere(copied.out, 'BatchNormalization')).toBe(0);
    for (const flag of [1, -1]) {
      await expectSameOutputs(model, copied.out, { x: { data: x, dims: X_DIMS }, flag: { data: Float32Array.of(flag), dims: [] } });
    }
  });

  it('merge-bn-scale merges a Mul/Add of main-graph constants (one a Constant node) inside a branch', async () => {
    const model = ifModel();
    const thenG = model.graph.nodes[3]!.attributes[0]!.g!;
    // then: Conv → BN → Mul(gamma) → Add(beta) → Relu, gamma a main-graph Constant node, beta an initializer.
    thenG.nodes.splice(2, 0, node('Mul', ['t_bn', 'gamma'], ['t_scaled']), node('Add', ['t_scaled', 'beta'], ['t_shifted']));
    thenG.nodes[4]!.inputs[0] = 't_shifted';
    const gamma = createTensor('gamma_value', DataType.FLOAT, [C, 1, 1], Float32Array.of(0.5, -1.5, 2, 0.25));
    model.graph.nodes.unshift({ ...node('Constant', [], ['gamma'], [], 'gamma_const'), attributes: [{ name: 'value', type: AttributeType.TENSOR, t: gamma }] });
    model.graph.initializers.push(createTensor('beta', DataType.FLOAT, [1, C, 1, 1], Float32Array.of(0.1, 0.2, -0.3, 0.4)));
    const { out, report } = fold(model);
    expect(report('merge-bn-scale').changes).toEqual(["bn_t (in then_branch of If 'if0') merged with Mul 'Mul_t_scaled' and Add 'Add_t_shifted'"]);
    expect(countEverywhere(out, 'BatchNormalization') + countEverywhere(out, 'Mul') + countEverywhere(out, 'Add')).toBe(0);
    await expectSameOutputs(model, out, { x: { data: x, dims: X_DIMS }, flag: { data: Float32Array.of(1), dims: [] } });
  });

  it('cleanup keeps an initializer and a node that only a branch reads', () => {
    const model = ifModel();
    const { out } = fold(model, {}, ['cleanup']);
    expect(out.graph.initializers.map((t) => t.name)).toContain('W_outer');
    // A dead node inside a branch goes; the branch's outputs stay.
    const m2 = ifModel();
    m2.graph.nodes[3]!.attributes[1]!.g!.nodes.push(node('Relu', ['e_c'], ['e_dead']));
    const cleaned = fold(m2, {}, ['cleanup']);
    const elseG = cleaned.out.graph.nodes.find((n) => n.opType === 'If')!.attributes[1]!.g!;
    expect(elseG.nodes.map((n) => n.opType)).toEqual(['Conv', 'BatchNormalization']);
    expect(cleaned.report('cleanup').changes.join()).toMatch(/else_branch of If 'if0'/);
  });
});

describe('bn-eval inside subgraphs', () => {
  it('switches a training BN in a branch, and refuses when a nested subgraph reads its statistics', () => {
    const model = ifModel();
    const elseG = model.graph.nodes[3]!.attributes[1]!.g!;
    elseG.nodes[1]!.outputs.push('e_mean', 'e_var');
    const { out, report } = fold(model, {}, ['bn-eval']);
    expect(report('bn-eval').changes).toEqual(["bn_e (in else_branch of If 'if0'): dropped 2 unused statistics output(s) → uses stored statistics"]);
    expect(out.graph.nodes[3]!.attributes[1]!.g!.nodes[1]!.outputs).toEqual(['e_out']);
    // The then branch cannot see else-branch values; a nested If inside the else branch can.
    const nested = subgraph('peek', { nodes: [node('Identity', ['e_mean'], ['peeked'])], outputs: [floatOut('peeked')] });
    elseG.nodes.push(
      node('Cast', ['flag'], ['cond2'], [intAttr('to', DataType.BOOL)]),
      { ...node('If', ['cond2'], ['e_peek'], [], 'peek_if'), attributes: [graphAttr('then_branch', nested), graphAttr('else_branch', nested)] },
    );
    expect(() => runPasses(cloneModel(model), ['bn-eval'])).toThrowError(/bn_e \(in else_branch of If 'if0'\)': its output 'e_mean' \(running mean\) is read by a node inside a subgraph/);
  });
});

describe('BatchNormalization inside a Loop body', () => {
  it('folds into the Conv in the body; final state and scan output match onnxruntime', async () => {
    const model = loopModel();
    expect(summarizeModel(model).batchNorm).toMatchObject({ count: 1, foldable: 1 });
    const { out } = fold(model);
    expect(countEverywhere(out, 'BatchNormalization')).toBe(0);
    await expectSameOutputs(model, out, { x: { data: x, dims: X_DIMS } });
  });

  it('a BN whose input is a body input is rewritten to Mul + Add inside the body, not folded', async () => {
    const model = loopModel();
    const body = model.graph.nodes[1]!.attributes[0]!.g!;
    // BN directly on the loop-carried state, with a declared rank for bn-to-affine.
    body.nodes[1]!.inputs[0] = 's';
    body.inputs[2] = floatInput('s', [1, C, 6, 6]);
    const { out, report } = fold(model);
    expect(report('fold-bn').skipped[0]!.reason).toMatch(/'s' is a subgraph input/);
    expect(countEverywhere(out, 'BatchNormalization')).toBe(0);
    expect(countEverywhere(out, 'Mul')).toBe(1);
    await expectSameOutputs(model, out, { x: { data: x, dims: X_DIMS } });
  });
});

describe('cloneModel', () => {
  it('copies subgraphs, so a pass on the copy leaves the original branches alone', () => {
    const model = ifModel();
    const copy = structureClone(model);
    runPasses(copy, FOLD_BN_PIPELINE);
    expect(countEverywhere(model, 'BatchNormalization')).toBe(3);
    expect(countEverywhere(copy, 'BatchNormalization')).toBe(0);
  });
});
