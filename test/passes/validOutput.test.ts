import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseOnnx, serializeOnnx } from '../../src/formats/onnx/index.js';
import { bnc } from '../helpers/cli.js';
import {
  DataType,
  Model,
  ModelProblem,
  checkModel,
  assertValidModel,
  floatAttr,
  getAttribute,
  intAttr,
  intsAttr,
  tensorValueInfo,
} from '../../src/ir/index.js';
import { FOLD_BN_PIPELINE, PASSES, runPasses } from '../../src/passes/index.js';
import { runModel as runBnc } from '../../src/runtime/engine.js';
import { RtTensor } from '../../src/runtime/kernel.js';
import { buildModel, cloneModel, countOps, f32, floatInput, node, normal, rng, runModel as runOrt, uniform } from './graphBuilder.js';

// Every model a pass writes is valid for the model's opset and IR version, by checkModel (src/ir/validate.ts:
// onnx's checker rules that bnc can check, and the schemas of the ops passes write). The case: an
// opset-6, IR-version-3 model whose BN bn-to-affine rewrites: Mul/Add need broadcast=1 and axis there, and
// the new initializers must be graph inputs too.

const C = 3;
const r = rng(77);
const X = [2, C, 4, 5];
const x = normal(r, 2 * C * 20, 1);

function bnInits(p: string, c = C) {
  return [
    f32(`${p}_scale`, [c], uniform(r, c, 0.5, 1.5)),
    f32(`${p}_B`, [c], normal(r, c, 0.3)),
    f32(`${p}_mean`, [c], normal(r, c, 0.3)),
    f32(`${p}_var`, [c], uniform(r, c, 0.2, 2)),
  ];
}
const bnNode = (p: string, input: string, output: string, opset: number) =>
  node('BatchNormalization', [input, `${p}_scale`, `${p}_B`, `${p}_mean`, `${p}_var`], [output], opset <= 6 ? [intAttr('is_test', 1)] : [], p);

/**
 * x → BN (on the graph input: cannot fold) → Relu → Conv → BN (folds) → MatMul-free tail; and a second
 * branch x → Flatten → MatMul → BN (folds into a Gemm). Valid for `opset` and `irVersion`: typed outputs with
 * shapes, initializers listed as graph inputs when the IR version is 3 or older.
 */
function model(opset: number, irVersion: number): Model {
  const m = buildModel({
    nodes: [
      bnNode('bn_in', 'x', 'a', opset),
      node('Relu', ['a'], ['b']),
      node('Conv', ['b', 'W', 'Wb'], ['c'], [intsAttr('pads', [1, 1, 1, 1])], 'conv'),
      bnNode('bn_conv', 'c', 'y', opset),
      node('Flatten', ['x'], ['f'], [intAttr('axis', 1)], 'flat'),
      node('MatMul', ['f', 'M'], ['g'], [], 'mm'),
      bnNode('bn_mm', 'g', 'z', opset),
    ],
    inputs: [floatInput('x', X)],
    outputs: ['y', 'z'],
    initializers: [
      ...bnInits('bn_in'),
      f32('W', [C, C, 3, 3], normal(r, C * C * 9, 0.3)),
      f32('Wb', [C], normal(r, C, 0.1)),
      ...bnInits('bn_conv'),
      f32('M', [C * 20, 5], normal(r, C * 20 * 5, 0.2)),
      ...bnInits('bn_mm', 5),
    ],
    opset,
  });
  m.irVersion = irVersion;
  m.graph.outputs = [tensorValueInfo('y', DataType.FLOAT, X), tensorValueInfo('z', DataType.FLOAT, [2, 5])];
  if (irVersion <= 3) for (const t of m.graph.initializers) m.graph.inputs.push(tensorValueInfo(t.name, t.dtype, t.dims));
  return m;
}

function feeds(): Map<string, RtTensor> {
  return new Map([['x', { dtype: DataType.FLOAT, dims: X, data: x }]]);
}

function expectClose(got: RtTensor, want: RtTensor, what: string): void {
  expect(got.dims, what).toEqual(want.dims);
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < want.data.length; i++) scale = Math.max(scale, Math.abs(want.data[i] as number));
  for (let i = 0; i < want.data.length; i++) worst = Math.max(worst, Math.abs((got.data[i] as number) - (want.data[i] as number)));
  expect(worst / scale, what).toBeLessThan(1e-5);
}

/** IR versions that go with each opset (IR 3 covers opsets up to 7 in the onnx releases of its time). */
const CASES: [opset: number, ir: number][] = [
  [6, 3],
  [7, 3],
  [8, 4],
  [9, 4],
  [11, 6],
  [13, 7],
  [14, 7],
  [15, 8],
  [21, 10],
];

describe('every model a pass writes is valid for its opset and IR version', () => {
  it.each(CASES)('opset %i, IR version %i: the input is valid, every pass and the fold-bn pipeline keep it valid, outputs unchanged', async (opset, ir) => {
    const input = model(opset, ir);
    expect(checkModel(input)).toEqual([]);
    const want = runBnc(input, feeds()).outputs;
    for (const pass of Object.keys(PASSES)) {
      const m = cloneModel(input);
      runPasses(m, [pass]);
      expect(checkModel(m), `${pass} at opset ${opset}`).toEqual([]);
    }
    const m = cloneModel(input);
    runPasses(m, FOLD_BN_PIPELINE);
    expect(checkModel(m)).toEqual([]);
    expect(countOps(m, 'BatchNormalization')).toBe(0);
    expect(countOps(m, 'Gemm')).toBe(1);
    const got = runBnc(m, feeds()).outputs;
    for (const [name, t] of want) expectClose(got.get(name)!, t, `${name} at opset ${opset}`);
    if (opset >= 7) {
      // onnxruntime runs opset 7 and later: it accepts the written model and computes the same numbers.
      const ort = await runOrt(m, { x: { data: x, dims: X } });
      for (const [name, t] of want) expectClose({ dtype: DataType.FLOAT, dims: ort[name]!.dims, data: ort[name]!.data }, t, `${name} in onnxruntime`);
    }
  });

  it('opset 6: bn-to-affine writes Mul/Add with broadcast=1, axis=1 and [C] constants listed as graph inputs (IR 3)', () => {
    const m = model(6, 3);
    runPasses(m, ['bn-to-affine']);
    const mul = m.graph.nodes.find((n) => n.opType === 'Mul')!;
    const add = m.graph.nodes.find((n) => n.opType === 'Add')!;
    for (const n of [mul, add]) {
      expect(getAttribute(n, 'broadcast')?.i).toBe(1);
      expect(getAttribute(n, 'axis')?.i).toBe(1);
    }
    const k = m.graph.initializers.find((t) => t.name === mul.inputs[1])!;
    expect(k.dims).toEqual([C]);
    const inputs = new Set(m.graph.inputs.map((i) => i.name));
    for (const t of m.graph.initializers) expect(inputs.has(t.name), t.name).toBe(true);
    // From opset 7 on: numpy broadcasting, [C, 1, 1], no attributes, and (IR 4+) no extra graph inputs.
    const m13 = model(13, 7);
    runPasses(m13, ['bn-to-affine']);
    const mul13 = m13.graph.nodes.find((n) => n.opType === 'Mul')!;
    expect(mul13.attributes).toEqual([]);
    expect(m13.graph.initializers.find((t) => t.name === mul13.inputs[1])!.dims).toEqual([C, 1, 1]);
    expect(m13.graph.inputs.map((i) => i.name)).toEqual(['x']);
  });

  it('the shapes fold-bn and merge-bn-scale write back keep the parameter shapes (spatial=0 statistics at opset 7)', () => {
    const m = buildModel({
      nodes: [
        node('BatchNormalization', ['x', 's', 'b', 'mean', 'var'], ['t'], [intAttr('spatial', 0)], 'bn'),
        node('Mul', ['t', 'two'], ['y'], [], 'scale'),
      ],
      inputs: [floatInput('x', X)],
      outputs: ['y'],
      initializers: [
        f32('s', [C, 4, 5], uniform(r, C * 20, 0.5, 1.5)),
        f32('b', [C, 4, 5], normal(r, C * 20, 0.3)),
        f32('mean', [C, 4, 5], normal(r, C * 20, 0.3)),
        f32('var', [C, 4, 5], uniform(r, C * 20, 0.5, 1.5)),
        f32('two', [], [2]),
      ],
      opset: 7,
    });
    m.graph.outputs = [tensorValueInfo('y', DataType.FLOAT, X)];
    const want = runBnc(m, feeds()).outputs.get('y')!;
    const out = cloneModel(m);
    const [merge] = runPasses(out, ['merge-bn-scale']);
    expect(merge!.changed).toBe(1);
    expect(checkModel(out)).toEqual([]);
    expect(out.graph.initializers.find((t) => t.name === out.graph.nodes[0]!.inputs[1])!.dims).toEqual([C, 4, 5]);
    expectClose(runBnc(out, feeds()).outputs.get('y')!, want, 'y');
  });
});

describe('bn-to-affine on a 1-D input (N, with C = 1)', () => {
  it('becomes Mul + Add with [1] constants, valid, same numbers, at opsets 6 and 15', () => {
    for (const [opset, ir] of [[6, 3], [15, 8]] as const) {
      const m = buildModel({ nodes: [bnNode('bn', 'v', 'w', opset)], inputs: [floatInput('v', [7])], outputs: ['w'], initializers: bnInits('bn', 1), opset });
      m.irVersion = ir;
      m.graph.outputs = [tensorValueInfo('w', DataType.FLOAT, [7])];
      if (ir <= 3) for (const t of m.graph.initializers) m.graph.inputs.push(tensorValueInfo(t.name, t.dtype, t.dims));
      const feed = new Map([['v', { dtype: DataType.FLOAT, dims: [7], data: x.slice(0, 7) } as RtTensor]]);
      const want = runBnc(m, feed).outputs.get('w')!;
      const out = cloneModel(m);
      expect(runPasses(out, ['bn-to-affine'])[0]!.changed).toBe(1);
      expect(checkModel(out)).toEqual([]);
      expect(countOps(out, 'Mul')).toBe(1);
      expectClose(runBnc(out, feed).outputs.get('w')!, want, `w at opset ${opset}`);
    }
  });
});

describe('the CLI checks what it writes', () => {
  it('optimize --passes bn-to-affine and fold-bn on the opset-6, IR-3 model write valid files', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-valid-'));
    try {
      const file = path.join(dir, 'opset6.onnx');
      fs.writeFileSync(file, serializeOnnx(model(6, 3)));
      for (const args of [['optimize', '--passes', 'bn-to-affine'], ['fold-bn', '--verify']]) {
        const out = path.join(dir, `${args[0]}.onnx`);
        const r = bnc([args[0]!, file, '-o', out, ...args.slice(1)]);
        expect(r.code, r.stderr).toBe(0);
        expect(checkModel(parseOnnx(fs.readFileSync(out)))).toEqual([]);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('checkModel: the onnx checker rules bnc checks', () => {
  const valid = () => model(13, 7);
  const rules = (m: Model) => checkModel(m).map((p: ModelProblem) => p.rule);

  it('accepts a valid model and names each broken rule', () => {
    expect(checkModel(valid())).toEqual([]);

    const unsorted = valid();
    unsorted.graph.nodes.reverse();
    expect(rules(unsorted)).toContain('topological-order');

    const twice = valid();
    twice.graph.nodes[1]!.outputs = ['a'];
    expect(rules(twice)).toContain('ssa');

    const ir3 = valid();
    ir3.irVersion = 3;
    expect(rules(ir3)).toContain('ir3-initializer-input');

    const legacy = model(6, 3);
    legacy.graph.nodes.push(node('Mul', ['x', 'bn_in_scale'], ['q'], [], 'legacy_mul'));
    legacy.graph.outputs.push(tensorValueInfo('q', DataType.FLOAT, X));
    expect(checkModel(legacy).map((p) => p.message).join('\n')).toMatch(/Mul node 'legacy_mul' combines a 4-D and a 1-D operand without broadcast=1/);
    legacy.graph.nodes[legacy.graph.nodes.length - 1]!.attributes = [intAttr('broadcast', 1), intAttr('axis', 4)];
    expect(rules(legacy)).toContain('legacy-broadcast');
    legacy.graph.nodes[legacy.graph.nodes.length - 1]!.attributes = [intAttr('broadcast', 1), intAttr('axis', 1)];
    expect(checkModel(legacy)).toEqual([]);

    const attr = valid();
    attr.graph.nodes[0]!.attributes.push(intAttr('is_test', 1), floatAttr('spatial', 1));
    expect(checkModel(attr).map((p) => p.message)).toEqual([
      "BatchNormalization node 'bn_in' has the attribute 'is_test', which BatchNormalization does not have at opset 13",
      "BatchNormalization node 'bn_in' has the attribute 'spatial', which BatchNormalization does not have at opset 13",
    ]);

    const gemm = model(9, 4);
    gemm.graph.nodes.push(node('Gemm', ['f', 'M'], ['h'], [], 'gemm_no_c'));
    gemm.graph.outputs.push(tensorValueInfo('h', DataType.FLOAT, [2, 5]));
    expect(rules(gemm)).toEqual(['arity']);

    const noImport = valid();
    noImport.graph.nodes[1]!.domain = 'com.example';
    expect(rules(noImport)).toEqual(['opset-import']);

    const badTensor = valid();
    badTensor.graph.initializers[0]!.dims = [C + 1];
    expect(rules(badTensor)).toEqual(['tensor']);

    const dangling = valid();
    dangling.graph.outputs.push(tensorValueInfo('nowhere', DataType.FLOAT, [1]));
    expect(rules(dangling)).toEqual(['graph-output']);

    const untyped = valid();
    untyped.graph.outputs[0] = { name: 'y' };
    expect(rules(untyped)).toEqual(['value-info']);
  });

  it('assertValidModel reports only problems the baseline did not have', () => {
    const m = valid();
    m.graph.outputs[0] = { name: 'y' };
    const baseline = checkModel(m);
    expect(() => assertValidModel(m, 'out.onnx', baseline)).not.toThrow();
    m.graph.nodes.reverse();
    expect(() => assertValidModel(m, 'out.onnx', baseline)).toThrow(/out.onnx would not be a valid ONNX model \(\d+ problems?\): .*reads/);
  });
});
