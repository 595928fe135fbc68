import { Graph, Node } from './graph.js';

/**
 * Subgraphs: the GRAPH / GRAPHS attributes of If (then_branch, else_branch), Loop (body), Scan (body) and any
 * other op that carries graphs. ONNX IR §Graphs / §Names: a node in a subgraph may read a value of any
 * enclosing graph by name (outer-scope value); a name defined in a graph (input, initializer, node output)
 * hides the same name of the graphs around it.
 */

/** One graph in a model's tree of graphs, with the graphs around it. */
export interface Scope {
  graph: Graph;
  /** The enclosing graph's scope; undefined for the main graph. */
  outer?: Scope;
  /** The node whose attribute holds this graph, and that attribute's name (undefined for the main graph). */
  holder?: Node;
  attribute?: string;
}

/** The graphs a node carries in its attributes, in attribute order. */
export function subgraphsOf(node: Node): Graph[] {
  const out: Graph[] = [];
  for (const a of node.attributes) {
    if (a.g) out.push(a.g);
    if (a.graphs) out.push(...a.graphs);
  }
  return out;
}

/**
 * Every graph of the tree rooted at `root` (root first, then each node's subgraphs depth-first in node and
 * attribute order), each exactly once: linear in the number of nodes and attributes of all graphs.
 * `outer` places `root` inside an enclosing scope.
 */
export function allScopes(root: Graph, outer?: Scope): Scope[] {
  const out: Scope[] = [];
  const stack: Scope[] = [{ graph: root, outer }];
  while (stack.length) {
    const scope = stack.pop()!;
    out.push(scope);
    const children: Scope[] = [];
    for (const node of scope.graph.nodes) {
      for (const a of node.attributes) {
        for (const g of a.g ? [a.g] : a.graphs ?? []) children.push({ graph: g, outer: scope, holder: node, attribute: a.name });
      }
    }
    // Reversed onto the stack so they come off in node order.
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
  }
  return out;
}

/** Whether `graph` itself defines `name` (graph input, initializer, or node output); O(graph size). */
export function definesValue(graph: Graph, name: string): boolean {
  return (
    graph.inputs.some((v) => v.name === name) ||
    graph.initializers.some((t) => t.name === name) ||
    graph.nodes.some((n) => n.outputs.includes(name))
  );
}

/**
 * The innermost scope, starting at `scope` and going outwards, whose graph defines `name`: where a read of
 * `name` in `scope` resolves to. undefined when no enclosing graph defines it.
 */
export function definingScope(scope: Scope | undefined, name: string): Scope | undefined {
  for (let s = scope; s; s = s.outer) if (definesValue(s.graph, name)) return s;
  return undefined;
}

/** Where a subgraph sits, for messages: "then_branch of If 'check'" (nested: "body of Loop 'l' > ..."). */
export function scopeLabel(scope: Scope): string {
  const parts: string[] = [];
  for (let s: Scope | undefined = scope; s?.holder; s = s.outer) {
    parts.unshift(`${s.attribute} of ${s.holder.opType} '${s.holder.name || s.holder.outputs[0] || '?'}'`);
  }
  return parts.join(' > ');
}
