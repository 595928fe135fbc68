import { Graph, Model, Node, allScopes, nodeReads, scopeLabel, topologicalOrder } from '../ir/index.js';
import { nodeLabel } from './constants.js';
import { PassOptions, PassReport, emptyReport } from './pass.js';

/**
 * cleanup: remove what nothing reads any more (typically left behind by the other passes).
 *
 *   Before:  Constant → c (unread);  initializer W (unread, maybe also listed as a graph input)
 *   After:   both gone; value_info entries for values that no longer exist dropped too
 *
 * Preconditions / rules:
 *  1. A node is dead when none of its outputs is read by a node (including inside subgraphs) or is a
 *     graph output. Dead nodes are removed repeatedly, so whole dead chains go.
 *  2. Only default-domain ONNX nodes are removed: ops of other domains may have side effects bnc cannot
 *     see. Nodes without outputs are kept for the same reason.
 *  3. An initializer nothing reads is removed; when it is also listed as a graph input (an overridable
 *     default), that graph input is removed with it. Graph inputs that are not initializers stay, read or
 *     not: they are the model's interface.
 *  4. Surviving nodes, graph inputs and graph outputs keep their names and order.
 *  5. Subgraphs (If branches, Loop/Scan bodies) are cleaned too, innermost first, so what a cleaned branch
 *     no longer reads can go from the graph around it; their inputs and outputs are never touched (they
 *     are the body's signature), and a value read only inside a subgraph is a read value.
 */
export function cleanup(model: Model, _options: PassOptions): PassReport {
  const report = emptyReport('cleanup');
  // allScopes lists a graph before its subgraphs: reversed, every subgraph is cleaned before its holder.
  for (const scope of allScopes(model.graph).reverse()) {
    const where = scopeLabel(scope);
    cleanupGraph(scope.graph, !scope.outer, where ? ` in ${where}` : '', report);
  }
  return report;
}

function cleanupGraph(graph: Graph, isMain: boolean, where: string, report: PassReport): void {
  const read = new Map<string, number>();
  const addReads = (n: Node, delta: number) => {
    for (const v of nodeReads(n)) read.set(v, (read.get(v) ?? 0) + delta);
  };
  for (const n of graph.nodes) addReads(n, 1);
  for (const o of graph.outputs) read.set(o.name, (read.get(o.name) ?? 0) + 1);

  // Walk consumers before producers, so removing a reader can make its producer dead in the same sweep.
  const dead = new Set<Node>();
  const order = topologicalOrder(graph);
  for (let i = order.length - 1; i >= 0; i--) {
    const n = order[i]!;
    const removable = (n.domain === '' || n.domain === 'ai.onnx') && n.outputs.some((o) => o !== '');
    if (!removable || n.outputs.some((o) => o !== '' && (read.get(o) ?? 0) > 0)) continue;
    dead.add(n);
    addReads(n, -1);
  }
  if (dead.size) {
    graph.nodes = graph.nodes.filter((n) => !dead.has(n));
    report.changed += dead.size;
    report.changes.push(`removed ${dead.size} unused node(s)${where}: ${summarize([...dead].map((n) => `${n.opType} '${nodeLabel(n)}'`))}`);
  }

  // A subgraph's inputs are positional (Loop/Scan bodies): an initializer shadowing one is kept.
  const inputNames = new Set(graph.inputs.map((i) => i.name));
  const deadInits = graph.initializers.filter((t) => (read.get(t.name) ?? 0) === 0 && (isMain || !inputNames.has(t.name)));
  if (deadInits.length) {
    const names = new Set(deadInits.map((t) => t.name));
    graph.initializers = graph.initializers.filter((t) => !names.has(t.name));
    const inputsBefore = graph.inputs.length;
    graph.inputs = graph.inputs.filter((i) => !names.has(i.name));
    report.changed += deadInits.length;
    report.changes.push(
      `removed ${deadInits.length} unused initializer(s)${where}` +
        (inputsBefore > graph.inputs.length ? ` (${inputsBefore - graph.inputs.length} also listed as graph inputs)` : '') +
        `: ${summarize(deadInits.map((t) => t.name))}`,
    );
  }

  const staleInfo = graph.valueInfo.length - pruneValueInfo(graph);
  if (staleInfo) report.changes.push(`dropped ${staleInfo} value_info entr${staleInfo === 1 ? 'y' : 'ies'}${where} for values that no longer exist`);
}

/** Keep value_info only for values some node still produces; returns the count kept. */
function pruneValueInfo(graph: Graph): number {
  const produced = new Set<string>();
  for (const n of graph.nodes) for (const o of n.outputs) produced.add(o);
  for (const t of graph.initializers) produced.add(t.name);
  for (const i of graph.inputs) produced.add(i.name);
  graph.valueInfo = graph.valueInfo.filter((v) => produced.has(v.name));
  return graph.valueInfo.length;
}

function summarize(items: string[], max = 8): string {
  return items.length <= max ? items.join(', ') : `${items.slice(0, max).join(', ')} and ${items.length - max} more`;
}
