import { Graph } from './graph.js';
import { BncError } from './errors.js';
import { describeNode, topologicalOrder } from './query.js';

/**
 * Structural checks every reader runs before handing a graph on: each value has one producer, each node
 * input is produced somewhere (graph input, initializer, node output, or the enclosing scope), the graph
 * outputs exist, and there is no cycle. Errors name the node and the value.
 */
export function validateGraph(graph: Graph, outerScope: ReadonlySet<string> = new Set()): void {
  validateScope(graph, [outerScope]);
}

/** Names visible from an enclosing graph: one set per level, searched innermost first (no copies). */
type Scope = readonly { has(name: string): boolean }[];

function validateScope(graph: Graph, outer: Scope): void {
  // What defines each value: 'graph input', 'initializer', or the index of the producing node.
  const defined = new Map<string, string | number>();
  const what = (d: string | number) => (typeof d === 'number' ? describeNode(graph, graph.nodes[d]!) : d);
  const define = (name: string, by: string | number) => {
    if (!name) return;
    const prev = defined.get(name);
    if (prev !== undefined && !(prev === 'graph input' && by === 'initializer') && !(prev === 'initializer' && by === 'graph input')) {
      throw new BncError(`value '${name}' is defined twice in graph '${graph.name}': by ${what(prev)} and by ${what(by)}`, {
        code: 'DUPLICATE_NAME',
      });
    }
    defined.set(name, by);
  };
  for (const i of graph.inputs) define(i.name, 'graph input');
  for (const t of graph.initializers) define(t.name, 'initializer');
  graph.nodes.forEach((n, index) => n.outputs.forEach((o) => define(o, index)));
  const visible = (v: string) => defined.has(v) || outer.some((s) => s.has(v));

  const inner: Scope = [defined, ...outer];
  for (const n of graph.nodes) {
    for (const v of n.inputs) {
      if (v !== '' && !visible(v)) {
        throw new BncError(
          `${describeNode(graph, n)} reads '${v}', which no node, graph input or initializer defines (a dangling input)`,
          { code: 'DANGLING_INPUT' },
        );
      }
    }
    for (const a of n.attributes) {
      for (const g of a.g ? [a.g] : a.graphs ?? []) validateScope(g, inner);
    }
  }
  for (const o of graph.outputs) {
    if (!visible(o.name)) {
      throw new BncError(`graph output '${o.name}' of graph '${graph.name}' is never computed`, { code: 'DANGLING_OUTPUT' });
    }
  }
  topologicalOrder(graph);
}
