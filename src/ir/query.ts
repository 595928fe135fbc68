import { Graph, Node } from './graph.js';
import { Tensor } from './tensor.js';
import { BncError } from './errors.js';

/**
 * Nodes looked at by the whole-graph queries below and by GraphIndex builds. Tests read it to check that an
 * analysis stays linear: a query helper called once per node shows up as nodes² here.
 */
export const queryStats = { nodesScanned: 0 };

/** A label for a node in messages: its name, or its op type and position when unnamed. */
export function describeNode(graph: Graph, node: Node): string {
  if (node.name) return `${node.opType} node '${node.name}'`;
  queryStats.nodesScanned += graph.nodes.length;
  return `${node.opType} node #${graph.nodes.indexOf(node)}`;
}

/** The node that produces `value`, or undefined for graph inputs, initializers and unknown names. */
export function producerOf(graph: Graph, value: string): Node | undefined {
  queryStats.nodesScanned += graph.nodes.length;
  return graph.nodes.find((n) => n.outputs.includes(value));
}

/** Nodes that read `value` (a node reading it twice appears once). Subgraph reads are not included. */
export function consumersOf(graph: Graph, value: string): Node[] {
  queryStats.nodesScanned += graph.nodes.length;
  return graph.nodes.filter((n) => n.inputs.includes(value));
}

/**
 * Number of places that read `value`: node inputs (each occurrence), graph outputs, and every read inside
 * nested subgraphs that resolves to this graph's `value` (a subgraph that defines the name itself hides it).
 */
export function useCount(graph: Graph, value: string): number {
  queryStats.nodesScanned += graph.nodes.length;
  let n = 0;
  for (const node of graph.nodes) {
    for (const i of node.inputs) if (i === value) n++;
    for (const a of node.attributes) {
      for (const g of a.g ? [a.g] : a.graphs ?? []) n += outerReadCount(g, value);
    }
  }
  for (const o of graph.outputs) if (o.name === value) n++;
  return n;
}

/** Whether a subgraph (If/Loop/Scan body) reads `value` from the enclosing scope. */
export function readsOuterValue(g: Graph, value: string): boolean {
  return outerReadCount(g, value) > 0;
}

/** Reads of an enclosing scope's `value` inside subgraph `g` and its own subgraphs; linear in their size. */
function outerReadCount(g: Graph, value: string): number {
  if (g.inputs.some((v) => v.name === value) || g.initializers.some((t) => t.name === value)) return 0;
  if (g.nodes.some((n) => n.outputs.includes(value))) return 0;
  let n = 0;
  for (const node of g.nodes) {
    for (const i of node.inputs) if (i === value) n++;
    for (const a of node.attributes) for (const sg of a.g ? [a.g] : a.graphs ?? []) n += outerReadCount(sg, value);
  }
  for (const o of g.outputs) if (o.name === value) n++;
  return n;
}

export function isGraphOutput(graph: Graph, value: string): boolean {
  queryStats.nodesScanned += graph.nodes.length;
  return graph.outputs.some((o) => o.name === value);
}

export function isGraphInput(graph: Graph, value: string): boolean {
  queryStats.nodesScanned += graph.nodes.length;
  return graph.inputs.some((i) => i.name === value);
}

export function initializerOf(graph: Graph, value: string): Tensor | undefined {
  queryStats.nodesScanned += graph.nodes.length;
  return graph.initializers.find((t) => t.name === value);
}

/** Rewire every reader of `from` (node inputs and graph outputs) to read `to` instead. */
export function replaceAllUses(graph: Graph, from: string, to: string): number {
  queryStats.nodesScanned += graph.nodes.length;
  let n = 0;
  for (const node of graph.nodes) {
    for (let i = 0; i < node.inputs.length; i++) {
      if (node.inputs[i] === from) {
        node.inputs[i] = to;
        n++;
      }
    }
  }
  for (const o of graph.outputs) {
    if (o.name === from) {
      o.name = to;
      n++;
    }
  }
  return n;
}

export function removeNode(graph: Graph, node: Node): void {
  queryStats.nodesScanned += graph.nodes.length;
  const i = graph.nodes.indexOf(node);
  if (i < 0) throw new Error(`node '${node.name}' is not in graph '${graph.name}'`);
  graph.nodes.splice(i, 1);
}

/**
 * Nodes in an order where every node comes after the producers of its inputs (Kahn's algorithm, stable:
 * ties keep file order). Throws a BncError naming the nodes on a cycle.
 */
export function topologicalOrder(graph: Graph): Node[] {
  const producer = new Map<string, number>();
  graph.nodes.forEach((n, idx) => n.outputs.forEach((o) => o && producer.set(o, idx)));
  const indeg = new Array<number>(graph.nodes.length).fill(0);
  const readers: number[][] = graph.nodes.map(() => []);
  graph.nodes.forEach((n, idx) => {
    const deps = new Set<number>();
    for (const v of nodeReads(n)) {
      const p = producer.get(v);
      // A node that reads its own output is a cycle of length one.
      if (p !== undefined) deps.add(p);
    }
    for (const p of deps) {
      indeg[idx]!++;
      readers[p]!.push(idx);
    }
  });
  const ready: number[] = [];
  indeg.forEach((d, i) => d === 0 && ready.push(i));
  const order: Node[] = [];
  let head = 0;
  while (head < ready.length) {
    const i = ready[head++]!;
    order.push(graph.nodes[i]!);
    for (const r of readers[i]!) if (--indeg[r]! === 0) ready.push(r);
  }
  if (order.length !== graph.nodes.length) {
    const stuck = graph.nodes.filter((_, i) => indeg[i]! > 0);
    const names = stuck.slice(0, 5).map((n) => describeNode(graph, n));
    throw new BncError(
      `graph '${graph.name}' has a cycle through ${names.join(', ')}${stuck.length > 5 ? ` and ${stuck.length - 5} more` : ''}`,
      { code: 'CYCLE' },
    );
  }
  return order;
}

/** Values a node reads, including outer-scope values read inside its subgraphs. */
export function nodeReads(node: Node): string[] {
  const reads = node.inputs.filter((i) => i !== '');
  for (const a of node.attributes) {
    for (const g of a.g ? [a.g] : a.graphs ?? []) reads.push(...outerReadsOf(g));
  }
  return reads;
}

/** Values a subgraph reads from the enclosing scopes (once per reading place). */
export function outerReadsOf(g: Graph): string[] {
  queryStats.nodesScanned += g.nodes.length;
  const local = new Set<string>([...g.inputs.map((v) => v.name), ...g.initializers.map((t) => t.name)]);
  const out: string[] = [];
  for (const n of g.nodes) {
    for (const v of nodeReads(n)) if (!local.has(v)) out.push(v);
    for (const o of n.outputs) local.add(o);
  }
  for (const o of g.outputs) if (!local.has(o.name)) out.push(o.name);
  return out;
}

/**
 * A value name not yet used in the graph, its subgraphs, or the enclosing graphs `outer` (outermost last),
 * derived from `base`: a new name must neither hide an outer value nor be hidden by an inner one.
 */
export function uniqueName(graph: Graph, base: string, outer: Graph[] = []): string {
  queryStats.nodesScanned += graph.nodes.length;
  const used = new Set<string>();
  const add = (g: Graph, deep: boolean) => {
    for (const n of g.nodes) {
      n.inputs.forEach((v) => used.add(v));
      n.outputs.forEach((v) => used.add(v));
      used.add(n.name);
      if (deep) for (const a of n.attributes) for (const sg of a.g ? [a.g] : a.graphs ?? []) add(sg, true);
    }
    g.inputs.forEach((v) => used.add(v.name));
    g.outputs.forEach((v) => used.add(v.name));
    g.initializers.forEach((t) => used.add(t.name));
  };
  add(graph, true);
  for (const g of outer) add(g, false);
  if (!used.has(base)) return base;
  for (let i = 1; ; i++) if (!used.has(`${base}_${i}`)) return `${base}_${i}`;
}
