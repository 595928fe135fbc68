import { describe, expect, it } from 'vitest';
import {
  BncError,
  DataType,
  Graph,
  Node,
  consumersOf,
  createTensor,
  emptyGraph,
  producerOf,
  removeNode,
  replaceAllUses,
  tensorValueInfo,
  topologicalOrder,
  useCount,
  validateGraph,
} from '../src/ir/index.js';

const node = (name: string, opType: string, inputs: string[], outputs: string[]): Node => ({
  name,
  opType,
  domain: '',
  inputs,
  outputs,
  attributes: [],
});

function chain(): Graph {
  const g = emptyGraph('chain');
  g.inputs.push(tensorValueInfo('x', DataType.FLOAT, ['N', 3]));
  g.initializers.push(createTensor('w', DataType.FLOAT, [3, 3]));
  // Listed out of order on purpose: topologicalOrder must sort it.
  g.nodes.push(node('c', 'Relu', ['b_out'], ['y']), node('a', 'MatMul', ['x', 'w'], ['a_out']), node('b', 'Sigmoid', ['a_out'], ['b_out']));
  g.outputs.push(tensorValueInfo('y', DataType.FLOAT));
  return g;
}

describe('graph IR helpers', () => {
  it('finds producers and consumers', () => {
    const g = chain();
    expect(producerOf(g, 'a_out')!.name).toBe('a');
    expect(producerOf(g, 'x')).toBeUndefined();
    expect(consumersOf(g, 'a_out').map((n) => n.name)).toEqual(['b']);
    expect(useCount(g, 'y')).toBe(1);
  });

  it('orders nodes topologically', () => {
    expect(topologicalOrder(chain()).map((n) => n.name)).toEqual(['a', 'b', 'c']);
  });

  it('rewires uses and removes nodes', () => {
    const g = chain();
    const b = g.nodes.find((n) => n.name === 'b')!;
    expect(replaceAllUses(g, 'b_out', 'a_out')).toBe(1);
    removeNode(g, b);
    validateGraph(g);
    expect(topologicalOrder(g).map((n) => n.name)).toEqual(['a', 'c']);
  });

  it('rejects a cycle, naming the nodes on it', () => {
    const g = chain();
    g.nodes.find((n) => n.name === 'a')!.inputs[0] = 'y';
    expect(() => validateGraph(g)).toThrowError(/cycle through .*'c'/);
  });

  it('rejects a dangling input, naming the node and value', () => {
    const g = chain();
    g.nodes.find((n) => n.name === 'b')!.inputs[0] = 'nowhere';
    expect(() => validateGraph(g)).toThrowError(/Sigmoid node 'b' reads 'nowhere'/);
  });

  it('rejects a value defined twice', () => {
    const g = chain();
    g.nodes.find((n) => n.name === 'b')!.outputs[0] = 'a_out';
    let err: unknown;
    try {
      validateGraph(g);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BncError);
    expect((err as Error).message).toMatch(/'a_out' is defined twice/);
  });

  it('accepts initializers that are also listed as graph inputs (older exporters)', () => {
    const g = chain();
    g.inputs.push(tensorValueInfo('w', DataType.FLOAT, [3, 3]));
    expect(() => validateGraph(g)).not.toThrow();
  });
});
