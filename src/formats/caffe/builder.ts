import { Attribute, DataType, Graph, Node, Tensor, emptyGraph } from '../../ir/index.js';

/** Collects the nodes and initializers of the graph being built, keeping value and node names unique. */
export class GraphBuilder {
  readonly graph: Graph;
  /** Value names (node outputs, initializers, graph inputs). Node names are a namespace of their own. */
  private readonly used = new Set<string>();
  private readonly nodeNames = new Set<string>();

  constructor(name: string, reserved: Iterable<string>) {
    this.graph = emptyGraph(name);
    for (const r of reserved) this.used.add(r);
  }

  /** A fresh name derived from `base` (base itself when free), and reserve it. */
  unique(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  reserve(name: string): void {
    this.used.add(name);
  }

  isUsed(name: string): boolean {
    return this.used.has(name);
  }

  constant(base: string, dims: number[], data: Float32Array | BigInt64Array): string {
    const name = this.unique(base);
    const tensor: Tensor = {
      name,
      dtype: data instanceof BigInt64Array ? DataType.INT64 : DataType.FLOAT,
      dims: [...dims],
      data,
    };
    this.graph.initializers.push(tensor);
    return name;
  }

  int64s(base: string, values: number[]): string {
    return this.constant(base, [values.length], BigInt64Array.from(values, (v) => BigInt(v)));
  }

  node(opType: string, name: string, inputs: string[], outputs: string[], attributes: Attribute[] = []): Node {
    let unique = name;
    for (let i = 1; this.nodeNames.has(unique); i++) unique = `${name}_${i}`;
    this.nodeNames.add(unique);
    const node: Node = { name: unique, opType, domain: '', inputs, outputs, attributes };
    this.graph.nodes.push(node);
    return node;
  }
}
