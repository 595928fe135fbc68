import { describe, expect, it } from 'vitest';
import { GraphIndex, Model, queryStats, topologicalOrder, validateGraph } from '../../src/ir/index.js';
import { FOLD_BN_PIPELINE, runPasses } from '../../src/passes/index.js';
import { AnalysisStats, GraphFacts } from '../../src/passes/shapeFacts.js';
import { summarizeModel } from '../../src/inspect/summary.js';
import { inferShapes } from '../../src/runtime/shapeInference.js';
import { runModel } from '../../src/runtime/engine.js';
import { generateInputs } from '../../src/runtime/inputs.js';
import { buildDiamondChain } from '../../bench/diamondChain.mjs';
import { countOps } from './graphBuilder.js';

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
    let worst = 0;
    let scale = 0;
    for (let i = 0; i < want.length; i++) {
      worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
      scale = Math.max(scale, Math.abs(want[i]!));
    }
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
