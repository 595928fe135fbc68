import { describe, expect, it } from 'vitest';
import { AttributeType, Graph, Node, allScopes, definingScope, emptyGraph, scopeLabel, uniqueName, useCount } from '../src/ir/index.js';

// The subgraph walk and outer-scope resolution of src/ir/subgraphs.ts, and useCount / uniqueName across scopes.

const n = (opType: string, inputs: string[], outputs: string[], name = outputs[0]!, graphs: [string, Graph][] = []): Node => ({
  name,
  opType,
  domain: '',
  inputs,
  outputs,
  attributes: graphs.map(([attr, g]) => ({ name: attr, type: AttributeType.GRAPH, g })),
});

function graph(name: string, nodes: Node[], inputs: string[] = [], outputs: string[] = []): Graph {
  const g = emptyGraph(name);
  g.nodes = nodes;
  g.inputs = inputs.map((i) => ({ name: i }));
  g.outputs = outputs.map((o) => ({ name: o }));
  return g;
}

// main: a = Relu(x); If(c) { then: t = Add(a, a); inner Loop body reads a and shadows nothing;
//                             else: defines its own 'a' (hides the main graph's) }
function tree() {
  const body = graph('body', [n('Mul', ['a', 'v'], ['w'])], ['i', 'cond', 'v'], ['cond', 'w']);
  const thenG = graph('then', [n('Add', ['a', 'a'], ['t']), n('Loop', ['', 'c', 't'], ['t2'], 'inner', [['body', body]])], [], ['t2']);
  const elseG = graph('else', [n('Neg', ['x'], ['a']), n('Identity', ['a'], ['e'])], [], ['e']);
  const main = graph('main', [n('Relu', ['x'], ['a']), n('If', ['c'], ['y'], 'choose', [['then_branch', thenG], ['else_branch', elseG]])], ['x', 'c'], ['y']);
  return { main, thenG, elseG, body };
}

describe('allScopes', () => {
  it('lists every graph once, outer before inner, with where it sits', () => {
    const { main, thenG, elseG, body } = tree();
    const scopes = allScopes(main);
    expect(scopes.map((s) => s.graph)).toEqual([main, thenG, body, elseG]);
    expect(scopes.map(scopeLabel)).toEqual([
      '',
      "then_branch of If 'choose'",
      "then_branch of If 'choose' > body of Loop 'inner'",
      "else_branch of If 'choose'",
    ]);
    expect(scopes[2]!.outer!.graph).toBe(thenG);
  });

  it('walks a chain of 30 nested bodies with 100 siblings each: one visit per graph', () => {
    let inner = graph('leaf', [n('Identity', ['x'], ['leaf_out'])], [], ['leaf_out']);
    let graphs = 1;
    for (let d = 0; d < 30; d++) {
      const siblings = Array.from({ length: 100 }, (_, k) => graph(`s${d}_${k}`, [], [], []));
      graphs += 100;
      inner = graph(`level${d}`, [n('If', ['c'], [`o${d}`], `if${d}`, [['then_branch', inner], ...siblings.map((s, k): [string, Graph] => [`g${k}`, s])])], [], [`o${d}`]);
      graphs++;
    }
    expect(allScopes(inner).length).toBe(graphs);
  });
});

describe('outer-scope resolution', () => {
  it('resolves a name to the innermost graph that defines it', () => {
    const { main } = tree();
    const [, thenScope, bodyScope, elseScope] = allScopes(main);
    expect(definingScope(bodyScope, 'a')!.graph.name).toBe('main');
    expect(definingScope(bodyScope, 'v')!.graph.name).toBe('body');
    expect(definingScope(thenScope, 't')!.graph.name).toBe('then');
    // The else branch defines its own 'a'.
    expect(definingScope(elseScope, 'a')!.graph.name).toBe('else');
    expect(definingScope(bodyScope, 'nowhere')).toBeUndefined();
  });

  it('useCount counts every read inside subgraphs that resolves to the value, not the hidden ones', () => {
    const { main } = tree();
    // then: Add reads a twice; body: Mul reads a once; else: its own 'a' (not counted). No main-graph reader.
    expect(useCount(main, 'a')).toBe(3);
    expect(useCount(main, 'c')).toBe(2); // the If, and the Loop inside the then branch
  });

  it('uniqueName avoids names of nested subgraphs and of the enclosing graphs', () => {
    const { main, thenG } = tree();
    expect(uniqueName(main, 'w')).toBe('w_1'); // 'w' exists only in the Loop body, two levels down
    expect(uniqueName(thenG, 'y', [main])).toBe('y_1'); // 'y' is a main-graph value
    expect(uniqueName(thenG, 'y')).toBe('y');
  });
});
