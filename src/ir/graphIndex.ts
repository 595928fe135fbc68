import { Graph, Node, ValueInfo, tensorValueInfo } from './graph.js';
import { Tensor } from './tensor.js';
import { outerReadsOf, queryStats } from './query.js';

/**
 * Lookups a pass makes over and over, in O(1): the producer and readers of a value, its use count,
 * initializers, graph inputs/outputs, declared value types, free names. Built in one walk of the graph;
 * passes change the graph through it (setInput, setOutput, addInitializer, removeNode, replaceNode,
 * dropValueInfo) so the maps stay true, and call `commit()` once at the end, which rebuilds `graph.nodes`
 * (removed nodes out, replacements in place) and `graph.valueInfo` in one pass. Until then `graph.nodes`
 * still lists removed nodes and lacks new ones: read the graph through the index.
 *
 * The query helpers in query.ts (producerOf, useCount, ...) each walk the whole graph; fine for one
 * question, quadratic in a loop. Everything that asks per node or per BatchNormalization uses this.
 *
 * Subgraphs (If/Loop/Scan bodies): one index per graph, each built with its enclosing graph's index as
 * `outer` (passScopes in passes/pass.ts). producer(), consumers(), initializer() and useCount() answer for
 * the graph itself; `owner(name)` finds the graph an outer-scope name resolves to, so resolveConstant and
 * the shape facts follow it there without walking any graph. Reads from inside subgraphs count as uses in
 * the graph that defines the value.
 */
export class GraphIndex {
  private readonly producers = new Map<string, Node>();
  /** value → reading node → number of its inputs that name the value. */
  private readonly readers = new Map<string, Map<Node, number>>();
  /** value → number of subgraph attributes (If/Loop/Scan bodies) that read it from this scope. */
  private readonly subgraphReads = new Map<string, number>();
  private readonly outputs = new Map<string, number>();
  private readonly inputInfo = new Map<string, ValueInfo>();
  private readonly outputInfo = new Map<string, ValueInfo>();
  private readonly valueInfo = new Map<string, ValueInfo>();
  private readonly initializers = new Map<string, Tensor>();
  /** Names in use; shared by every index of one model's tree of graphs (see `outer`). */
  private readonly used: Set<string>;
  private readonly removed = new Set<Node>();
  private readonly replaced = new Map<Node, Node[]>();
  private readonly droppedInfo = new Set<string>();

  /**
   * `listInitializersAsInputs`: new initializers are also declared as graph inputs, as IR version 3 and
   * older require (every initializer must be a graph input there).
   * `outer`: the index of the enclosing graph when `graph` is a subgraph (If branch, Loop/Scan body). Names
   * the subgraph does not define resolve there (`owner`, `declared`), as ONNX outer-scope reads do; the
   * set of used names is shared with it, so `uniqueName` avoids the names of every graph indexed with the
   * same root (build the indexes of all scopes before asking for new names: passScopes does).
   */
  constructor(
    readonly graph: Graph,
    private readonly options: { listInitializersAsInputs?: boolean; outer?: GraphIndex } = {},
  ) {
    this.outer = options.outer;
    this.used = options.outer ? options.outer.used : new Set<string>();
    queryStats.nodesScanned += graph.nodes.length;
    for (const n of graph.nodes) this.addNode(n);
    for (const t of graph.initializers) {
      if (!this.initializers.has(t.name)) this.initializers.set(t.name, t);
      this.used.add(t.name);
    }
    for (const i of graph.inputs) {
      if (!this.inputInfo.has(i.name)) this.inputInfo.set(i.name, i);
      this.used.add(i.name);
    }
    for (const o of graph.outputs) {
      this.outputs.set(o.name, (this.outputs.get(o.name) ?? 0) + 1);
      if (!this.outputInfo.has(o.name)) this.outputInfo.set(o.name, o);
      this.used.add(o.name);
    }
    for (const v of graph.valueInfo) if (!this.valueInfo.has(v.name)) this.valueInfo.set(v.name, v);
  }

  /** The enclosing graph's index (undefined for the main graph). */
  readonly outer: GraphIndex | undefined;

  /** Whether this graph itself defines `name` (node output, initializer or graph input); hides outer names. */
  defines(name: string): boolean {
    return this.producers.has(name) || this.initializers.has(name) || this.inputInfo.has(name);
  }

  /**
   * The index of the innermost graph, from this one outwards, that defines `name`: where a read of `name`
   * here resolves to (ONNX IR, names in subgraphs). undefined when no graph around defines it. O(depth).
   */
  owner(name: string): GraphIndex | undefined {
    for (let ix: GraphIndex | undefined = this; ix; ix = ix.outer) if (ix.defines(name)) return ix;
    return undefined;
  }

  /** The node that produces `value` in this graph (undefined for graph inputs, initializers, unknown and outer names). */
  producer(value: string): Node | undefined {
    return value ? this.producers.get(value) : undefined;
  }

  /** Nodes that read `value` as an input, each once. Subgraph reads are not included. */
  consumers(value: string): Node[] {
    const r = this.readers.get(value);
    return r ? [...r.keys()] : [];
  }

  /** Places that read `value`: node inputs (each occurrence), graph outputs, subgraphs. */
  useCount(value: string): number {
    let n = this.outputs.get(value) ?? 0;
    n += this.subgraphReads.get(value) ?? 0;
    for (const c of this.readers.get(value)?.values() ?? []) n += c;
    return n;
  }

  /** Whether any subgraph reads `value` from this scope. */
  readBySubgraph(value: string): boolean {
    return (this.subgraphReads.get(value) ?? 0) > 0;
  }

  initializer(name: string): Tensor | undefined {
    return this.initializers.get(name);
  }

  isGraphInput(name: string): boolean {
    return this.inputInfo.has(name);
  }

  isGraphOutput(name: string): boolean {
    return this.outputs.has(name);
  }

  /**
   * The declared type of a value: value_info first, then graph inputs, then graph outputs; for a name this
   * graph does not define, the enclosing graph's declaration.
   */
  declared(name: string): ValueInfo | undefined {
    const own = this.valueInfo.get(name) ?? this.inputInfo.get(name) ?? this.outputInfo.get(name);
    if (own || !this.outer || this.defines(name)) return own;
    return this.outer.declared(name);
  }

  /** A name not used by any value or node, derived from `base`; reserved at once. */
  uniqueName(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  addInitializer(t: Tensor): void {
    this.graph.initializers.push(t);
    this.initializers.set(t.name, t);
    this.used.add(t.name);
    if (this.options.listInitializersAsInputs && !this.inputInfo.has(t.name)) {
      const vi = tensorValueInfo(t.name, t.dtype, t.dims);
      this.graph.inputs.push(vi);
      this.inputInfo.set(t.name, vi);
    }
  }

  /** Make `node` read `value` at input `index` (padding with omitted inputs). */
  setInput(node: Node, index: number, value: string): void {
    while (node.inputs.length <= index) node.inputs.push('');
    this.unread(node.inputs[index]!, node);
    node.inputs[index] = value;
    this.read(value, node);
  }

  /** Make `node` produce `value` as output `index`. */
  setOutput(node: Node, index: number, value: string): void {
    const old = node.outputs[index];
    if (old && this.producers.get(old) === node) this.producers.delete(old);
    node.outputs[index] = value;
    if (value) {
      this.producers.set(value, node);
      this.used.add(value);
    }
  }

  /** Drop node outputs from index `from` on. */
  truncateOutputs(node: Node, from: number): void {
    for (const o of node.outputs.slice(from)) if (o && this.producers.get(o) === node) this.producers.delete(o);
    node.outputs.length = Math.min(node.outputs.length, from);
  }

  removeNode(node: Node): void {
    this.forgetNode(node);
    this.removed.add(node);
  }

  /** Put `replacements` where `node` stands (in that order) and remove `node`. */
  replaceNode(node: Node, replacements: Node[]): void {
    this.forgetNode(node);
    this.replaced.set(node, replacements);
    for (const r of replacements) this.addNode(r);
  }

  /** Remove the value_info entry of `name` (at commit), e.g. for a value that no longer exists. */
  dropValueInfo(name: string): void {
    if (this.valueInfo.delete(name)) this.droppedInfo.add(name);
  }

  /** Write the node list and value_info back to the graph in one pass. */
  commit(): void {
    if (this.removed.size || this.replaced.size) {
      queryStats.nodesScanned += this.graph.nodes.length;
      const nodes: Node[] = [];
      for (const n of this.graph.nodes) {
        const r = this.replaced.get(n);
        if (r) for (const x of r) !this.removed.has(x) && nodes.push(x);
        else if (!this.removed.has(n)) nodes.push(n);
      }
      this.graph.nodes = nodes;
      // Replacements are now plain nodes; a later replaceNode of one of them works as for any node.
      this.replaced.clear();
      this.removed.clear();
    }
    if (this.droppedInfo.size) {
      this.graph.valueInfo = this.graph.valueInfo.filter((v) => !this.droppedInfo.has(v.name) || this.valueInfo.get(v.name) === v);
      this.droppedInfo.clear();
    }
  }

  private addNode(n: Node): void {
    for (const o of n.outputs) {
      if (!o) continue;
      if (!this.producers.has(o)) this.producers.set(o, n);
      this.used.add(o);
    }
    if (n.name) this.used.add(n.name);
    for (const v of n.inputs) this.read(v, n);
    for (const v of this.subgraphReadsOf(n)) this.subgraphReads.set(v, (this.subgraphReads.get(v) ?? 0) + 1);
  }

  private forgetNode(n: Node): void {
    for (const o of n.outputs) if (o && this.producers.get(o) === n) this.producers.delete(o);
    for (const v of n.inputs) this.unread(v, n);
    for (const v of this.subgraphReadsOf(n)) {
      const left = (this.subgraphReads.get(v) ?? 0) - 1;
      if (left > 0) this.subgraphReads.set(v, left);
      else this.subgraphReads.delete(v);
    }
  }

  /**
   * Outer values read inside each subgraph attribute of `n` (and their own subgraphs), once per reading
   * place, as query.ts's useCount counts them.
   */
  private subgraphReadsOf(n: Node): string[] {
    const reads: string[] = [];
    for (const a of n.attributes) {
      for (const g of a.g ? [a.g] : a.graphs ?? []) reads.push(...outerReadsOf(g));
    }
    return reads;
  }

  private read(value: string, node: Node): void {
    if (!value) return;
    let r = this.readers.get(value);
    if (!r) this.readers.set(value, (r = new Map()));
    r.set(node, (r.get(node) ?? 0) + 1);
    this.used.add(value);
  }

  private unread(value: string, node: Node): void {
    const r = value ? this.readers.get(value) : undefined;
    const c = r?.get(node);
    if (!r || c === undefined) return;
    if (c > 1) r.set(node, c - 1);
    else {
      r.delete(node);
      if (!r.size) this.readers.delete(value);
    }
  }
}
