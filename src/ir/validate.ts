import { Graph } from './graph.js';
import { BncError } from './errors.js';
import { describeNode, topologicalOrder } from './query.js';

/**
 * Structural checks every reader runs before handing a graph on: each value has one producer, each node
 * input is produced somewhere (graph input, initializer, node output, or the enclosing scope), the graph
 * outputs exist, and there is no cycle. Errors name the node and the value.
 */
export function validateGraph(graph: Graph, outerScope: ReadonlySet<string> = new Set()): void {
  const defined = new Map<string, string>();
  const define = (name: string, what: string) => {
    if (!name) return;
    const prev = defined.get(name);
    if (prev && !(prev === 'graph input' && what === 'initializer') && !(prev === 'initializer' && what === 'graph input')) {
      throw new BncError(`value '${name}' is defined twice in graph '${graph.name}': by ${prev} and by ${what}`, {
        code: 'DUPLICATE_NAME',
      });
    }
    defined.set(name, what);
  };
  for (const i of graph.inputs) define(i.name, 'graph input');
  for (const t of graph.initializers) define(t.name, 'initializer');
  for (const n of graph.nodes) for (const o of n.outputs) define(o, describeNode(graph, n));

  for (const n of graph.nodes) {
    for (const v of n.inputs) {
      if (v !== '' && !defined.has(v) && !outerScope.has(v)) {
        throw new BncError(
          `${describeNode(graph, n)} reads '${v}', which no node, graph input or initializer defines (a dangling input)`,
          { code: 'DANGLING_INPUT' },
        );
      }
    }
    for (const a of n.attributes) {
      for (const g of a.g ? [a.g] : a.graphs ?? []) {
        validateGraph(g, new Set([...outerScope, ...defined.keys()]));
      }
    }
  }
  for (const o of graph.outputs) {
    if (!defined.has(o.name) && !outerScope.has(o.name)) {
      throw new BncError(`graph output '${o.name}' of graph '${graph.name}' is never computed`, { code: 'DANGLING_OUTPUT' });
    }
  }
  topologicalOrder(graph);
}
