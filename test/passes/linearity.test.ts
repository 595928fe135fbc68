import { describe, expect, it } from 'vitest';
import {
  AttributeType,
  DataType,
  Graph,
  GraphIndex,
  Model,
  Node,
  ValueInfo,
  createTensor,
  emptyGraph,
  intAttr,
  intsAttr,
  queryStats,
  tensorValueInfo,
  topologicalOrder,
  validateGraph,
} from '../../src/ir/index.js';
import { FOLD_BN_PIPELINE, runPasses } from '../../src/passes/index.js';
import { AnalysisStats, GraphFacts } from '../../src/passes/shapeFacts.js';
import { summarizeModel } from '../../src/inspect/summary.js';
import { inferShapes } from '../../src/runtime/shapeInference.js';
import { runModel } from '../../src/runtime/engine.js';
import { generateInputs } from '../../src/runtime/inputs.js';
import { buildDiamondChain } from '../../bench/diamondChain.mjs';
import { buildModel, countOps, f32, floatInput, node, normal, rng, uniform } from './graphBuilder.js';

// Every graph analysis and pass is linear in nodes + edges. The model is the one that made bn-to-affine
// hang: a chain of HardSwish (x·Relu6(x+3)/6) and residual diamonds (bench/diamondChain.mjs), where the
// number of paths from a BN up to the graph input triples with every unit. Work is counted, not timed:
// `stats.shapeFactVisits` counts rank/type evaluations, `queryStats.nodesScanned` every node looked at by a
// whole-graph query (producerOf, useCount, uniqueName, GraphIndex builds, ...), so a helper called once per
// node shows up as nodes² there. Before the memo, bn-to-affine made 20, 98, 336, 1040, 3128, ... rank and
// type evaluations on chains of 1, 2, 3, 4, 5, ... units (×3 per unit: 6,776,256 at 12 units, 12 s).

const UNITS = 300;

function chain(units = UNITS): Model {
  return buildDiamondChain({ units });
}

/** Values of the graph: node outputs, initializers, graph inputs (each evaluated at most once per fact). */
function valueCount(m: Model): number {
  return m.graph.nodes.reduce((n, node) => n + node.outputs.length, 0) + m.graph.initializers.length + m.graph.inputs.length;
}

function counted<T>(run: (stats: AnalysisStats) => T): { visits: number; scanned: number; result: T } {
  const stats: AnalysisStats = { shapeFactVisits: 0 };
  queryStats.nodesScanned = 0;
  const result = run(stats);
  return { visits: stats.shapeFactVisits, scanned: queryStats.nodesScanned, result };
}

/** Largest |got − want| and largest |want|, for a relative check of two runs' outputs. */
function largestError(got: Float32Array, want: Float32Array): { worst: number; scale: number } {
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
    scale = Math.max(scale, Math.abs(want[i]!));
  }
  return { worst, scale };
}

describe(`analyses and passes are linear: a chain of ${UNITS} HardSwish/residual diamonds`, () => {
  it('bn-to-affine evaluates each value once: 5698 rank/type evaluations for 2400 nodes', () => {
    const m = chain();
    const nodes = m.graph.nodes.length;
    const values = valueCount(m);
    const { visits, scanned, result } = counted((stats) => runPasses(m, ['bn-to-affine'], { stats }));
    expect(nodes).toBe(8 * UNITS);
    // The 300 BNs after a residual Add become Mul + Add; those after a Conv are left for fold-bn.
    expect(result[0]!.changed).toBe(UNITS);
    expect(visits).toBe(5698);
    expect(visits).toBeLessThanOrEqual(2 * values);
    // One index build and one commit.
    expect(scanned).toBeLessThanOrEqual(2 * nodes);
  });

  it('the count grows linearly with the chain (twice the units, twice the work)', () => {
    const small = counted((stats) => runPasses(chain(UNITS), ['bn-to-affine'], { stats }));
    const large = counted((stats) => runPasses(chain(2 * UNITS), ['bn-to-affine'], { stats }));
    expect(large.visits).toBeLessThanOrEqual(2 * small.visits + 10);
    expect(large.scanned).toBeLessThanOrEqual(2 * small.scanned + 10);
  });

  it('the whole fold-bn pipeline: every BN folded or rewritten, linear work, outputs unchanged', () => {
    const original = chain();
    const m = chain();
    const nodes = m.graph.nodes.length;
    const { visits, scanned, result } = counted((stats) => runPasses(m, FOLD_BN_PIPELINE, { stats }));
    expect(result.find((r) => r.pass === 'fold-bn')!.changed).toBe(UNITS);
    expect(result.find((r) => r.pass === 'bn-to-affine')!.changed).toBe(UNITS);
    expect(countOps(m, 'BatchNormalization')).toBe(0);
    expect(visits).toBeLessThanOrEqual(2 * valueCount(original));
    // bn-eval, merge-bn-scale, fold-bn, bn-to-affine: an index build and a commit each; cleanup's sweeps.
    expect(scanned).toBeLessThanOrEqual(12 * nodes);
    const inputs = generateInputs(original.graph.inputs, 3);
    const want = [...runModel(original, inputs).outputs.values()][0]!.data as Float32Array;
    const got = [...runModel(m, inputs).outputs.values()][0]!.data as Float32Array;
    const { worst, scale } = largestError(got, want);
    expect(scale).toBeGreaterThan(0.01);
    expect(scale).toBeLessThan(100);
    expect(worst / scale).toBeLessThan(1e-4);
  });

  it('inspect, validation, shape inference and the facts of every value: linear', () => {
    const m = chain();
    const nodes = m.graph.nodes.length;
    // Unnamed nodes: messages would name them by position, which must not be looked up eagerly.
    for (const n of m.graph.nodes) n.name = '';
    const inspect = counted(() => summarizeModel(m));
    expect(inspect.result.batchNorm).toMatchObject({ count: 2 * UNITS, foldable: UNITS });
    expect(inspect.scanned).toBeLessThanOrEqual(2 * nodes);
    expect(counted(() => validateGraph(m.graph)).scanned).toBe(0);
    expect(counted(() => topologicalOrder(m.graph)).scanned).toBe(0);
    expect(counted(() => inferShapes(m, new Map([['x0', [1, 4, 6, 6]]]))).result.size).toBeGreaterThan(nodes);
    const all = counted((stats) => {
      const facts = new GraphFacts(new GraphIndex(m.graph), stats);
      for (const n of m.graph.nodes) for (const o of n.outputs) expect(facts.rank(o)).toBe(4);
    });
    expect(all.visits).toBeLessThanOrEqual(valueCount(m));
  });
});

// The same bound with subgraphs: every pass walks each If branch and Loop body once, with one GraphIndex per
// graph that resolves outer-scope names through the enclosing graph's index. Per unit i of the chain:
//   c_i = Conv(h_{i-1}, W_i)
//   d_i = If(cond): then Relu(BN_t(Conv(c_i, Wt_i)))  — weight and BN parameters in the main graph
//                   else BN_e(c_i)                     — reads an outer value: nothing to fold into, becomes
//                                                        Mul + Add with the rank taken from the main graph
//   h_i = Loop(1 step, state d_i): s + BN_l(Conv(s, Wl_i))  — everything from the main graph; h_i's shape
//                                                        declared in value_info
// Before the per-scope index, the passes asked producerOf/useCount/scopeView per question: quadratic here.
function subgraphChain(units: number): Model {
  const C = 4;
  const r = rng(11);
  const w = (name: string) => f32(name, [C, C, 3, 3], normal(r, C * C * 9, 0.2));
  const bn = (p: string) => [
    f32(`${p}_scale`, [C], uniform(r, C, 0.5, 1.5)),
    f32(`${p}_B`, [C], normal(r, C, 0.3)),
    f32(`${p}_mean`, [C], normal(r, C, 0.3)),
    f32(`${p}_var`, [C], uniform(r, C, 0.2, 2)),
  ];
  const conv = (input: string, weight: string, output: string) =>
    node('Conv', [input, weight], [output], [intsAttr('pads', [1, 1, 1, 1]), intsAttr('kernel_shape', [3, 3])]);
  const bnNode = (p: string, input: string, output: string) =>
    node('BatchNormalization', [input, `${p}_scale`, `${p}_B`, `${p}_mean`, `${p}_var`], [output], [], p);
  const graph = (name: string, nodes: Node[], outputs: ValueInfo[], inputs: ValueInfo[] = []): Graph => ({ ...emptyGraph(name), nodes, outputs, inputs });
  const floatOut = (name: string) => tensorValueInfo(name, DataType.FLOAT, undefined);
  const g = (name: string, sub: Graph) => ({ name, type: AttributeType.GRAPH, g: sub });
  const nodes: Node[] = [node('Cast', ['flag'], ['cond'], [intAttr('to', DataType.BOOL)])];
  const initializers = [
    createTensor('one', DataType.INT64, [], BigInt64Array.of(1n)),
    createTensor('go', DataType.BOOL, [], Uint8Array.of(1)),
  ];
  let h = 'x';
  for (let i = 0; i < units; i++) {
    initializers.push(w(`W${i}`), w(`Wt${i}`), w(`Wl${i}`), ...bn(`bt${i}`), ...bn(`be${i}`), ...bn(`bl${i}`));
    nodes.push(conv(h, `W${i}`, `c${i}`));
    const thenG = graph(`then${i}`, [conv(`c${i}`, `Wt${i}`, `tc${i}`), bnNode(`bt${i}`, `tc${i}`, `tb${i}`), node('Relu', [`tb${i}`], [`to${i}`])], [floatOut(`to${i}`)]);
    const elseG = graph(`else${i}`, [bnNode(`be${i}`, `c${i}`, `eo${i}`)], [floatOut(`eo${i}`)]);
    nodes.push({ ...node('If', ['cond'], [`d${i}`], [], `if${i}`), attributes: [g('then_branch', thenG), g('else_branch', elseG)] });
    const body = graph(
      `body${i}`,
      [
        conv(`s${i}`, `Wl${i}`, `lc${i}`),
        bnNode(`bl${i}`, `lc${i}`, `lb${i}`),
        node('Add', [`s${i}`, `lb${i}`], [`sn${i}`]),
        node('Identity', [`ci${i}`], [`co${i}`]),
      ],
      [tensorValueInfo(`co${i}`, DataType.BOOL, []), floatOut(`sn${i}`)],
      [tensorValueInfo(`it${i}`, DataType.INT64, []), tensorValueInfo(`ci${i}`, DataType.BOOL, []), floatOut(`s${i}`)],
    );
    nodes.push({ ...node('Loop', ['one', 'go', `d${i}`], [`h${i}`], [], `loop${i}`), attributes: [g('body', body)] });
    h = `h${i}`;
  }
  const m = buildModel({ nodes, inputs: [floatInput('x', [1, C, 4, 4]), floatInput('flag', [])], outputs: [h], initializers });
  // As exporters write it: the Loop results' shapes are declared (a Loop's output shape cannot be derived).
  for (let i = 0; i < units; i++) m.graph.valueInfo.push(floatInput(`h${i}`, [1, C, 4, 4]));
  return m;
}

function allNodes(m: Model): Node[] {
  const out: Node[] = [];
  const walk = (gr: Graph) => {
    for (const n of gr.nodes) {
      out.push(n);
      for (const a of n.attributes) if (a.g) walk(a.g);
    }
  };
  walk(m.graph);
  return out;
}

describe('passes are linear with If branches and Loop bodies: 200 units of Conv, If, Loop', () => {
  const U = 200;

  it('the fold-bn pipeline folds every BN in every branch and body: 1400 rank/type evaluations, 23604 nodes scanned for 2201 nodes', () => {
    const m = subgraphChain(U);
    const nodes = allNodes(m).length;
    expect(nodes).toBe(1 + 11 * U);
    const values = allNodes(m).reduce((k, n) => k + n.outputs.length, 0) + m.graph.initializers.length + m.graph.inputs.length;
    const { visits, scanned, result } = counted((stats) => runPasses(m, FOLD_BN_PIPELINE, { stats }));
    // BN_t and BN_l fold into their Conv (outer weights become the subgraph's own); BN_e becomes Mul + Add.
    expect(result.find((r) => r.pass === 'fold-bn')!.changed).toBe(2 * U);
    expect(result.find((r) => r.pass === 'bn-to-affine')!.changed).toBe(U);
    expect(allNodes(m).filter((n) => n.opType === 'BatchNormalization')).toHaveLength(0);
    expect(visits).toBe(1400);
    expect(visits).toBeLessThanOrEqual(2 * values);
    // Per pass: one index per graph (plus each subgraph's outer reads, read once by its holder's index) and
    // commits; cleanup's sweeps.
    expect(scanned).toBe(23604);
    expect(scanned).toBeLessThanOrEqual(12 * nodes);
  });

  it('outputs are unchanged, either branch taken (8 units: values of a longer chain overflow float32)', () => {
    const original = subgraphChain(8);
    const m = subgraphChain(8);
    runPasses(m, FOLD_BN_PIPELINE);
    expect(allNodes(m).filter((n) => n.opType === 'BatchNormalization')).toHaveLength(0);
    for (const flag of [1, 0]) {
      const inputs = generateInputs(original.graph.inputs, 5);
      inputs.set('flag', { dtype: DataType.FLOAT, dims: [], data: Float32Array.of(flag) });
      const want = [...runModel(original, inputs).outputs.values()][0]!.data as Float32Array;
      const got = [...runModel(m, inputs).outputs.values()][0]!.data as Float32Array;
      const { worst, scale } = largestError(got, want);
      expect(scale).toBeGreaterThan(0);
      expect(worst / scale).toBeLessThan(1e-4);
    }
  });

  it('twice the units, twice the work (each pass, and inspect)', () => {
    for (const pass of ['bn-eval', 'merge-bn-scale', 'fold-bn', 'bn-to-affine', 'cleanup']) {
      const small = counted((stats) => runPasses(subgraphChain(U), [pass], { stats }));
      const large = counted((stats) => runPasses(subgraphChain(2 * U), [pass], { stats }));
      expect(large.visits, pass).toBeLessThanOrEqual(2 * small.visits + 10);
      expect(large.scanned, pass).toBeLessThanOrEqual(2 * small.scanned + 10);
    }
    const small = counted(() => summarizeModel(subgraphChain(U)));
    const large = counted(() => summarizeModel(subgraphChain(2 * U)));
    expect(large.scanned).toBeLessThanOrEqual(2 * small.scanned + 10);
  });
});
