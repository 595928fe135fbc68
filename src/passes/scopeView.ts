import { Graph, Scope, scopeGraphs } from '../ir/index.js';

/**
 * A read-only view of a subgraph together with every graph around it, for the rank and type facts
 * (shapeFacts.ts) about values that come from an enclosing graph: the subgraph's own lists come first, so
 * its names hide the outer ones. Built per question, so it always reflects the current graphs; never
 * rewrite through it. For the main graph (no `outer`) it is the graph itself.
 */
export function scopeView(graph: Graph, outer?: Scope): Graph {
  if (!outer) return graph;
  const graphs = [graph, ...scopeGraphs(outer)];
  return {
    ...graph,
    nodes: graphs.flatMap((g) => g.nodes),
    inputs: graphs.flatMap((g) => g.inputs),
    outputs: graphs.flatMap((g) => g.outputs),
    initializers: graphs.flatMap((g) => g.initializers),
    valueInfo: graphs.flatMap((g) => g.valueInfo),
  };
}
