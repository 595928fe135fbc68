import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DataType, Model, Node, createTensor, emptyGraph, intsAttr, tensorValueInfo } from '../src/ir/index.js';
import { serializeOnnx } from '../src/formats/onnx/index.js';
import { encodeNpy, readNpy } from '../src/io/npy.js';
import { modelInputs, runModel } from '../src/runtime/engine.js';
import { generateInputs } from '../src/runtime/inputs.js';
import { bnc } from './helpers/cli.js';
import { runOrt } from './helpers/ort.js';
import { randomF32, rng } from './helpers/kernelHarness.js';
import { HAVE_SHARED, SKIP_SHARED_MESSAGE, caseDir, readCase, withinTolerance } from './helpers/shared.js';

// `bnc run` end to end through the built CLI: generated and file inputs, saved outputs checked against
// onnxruntime, the JSON report, and the bad-input errors (exit code 2).

let dir: string;
let modelFile: string;
let model: Model;

function node(opType: string, inputs: string[], outputs: string[], attributes: Node['attributes'] = []): Node {
  return { name: `${opType}_${outputs[0]}`, opType, domain: '', inputs, outputs, attributes };
}

function writeModel(file: string, m: Model): void {
  fs.writeFileSync(file, serializeOnnx(m));
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-run-'));
  const rand = rng(61);
  const graph = emptyGraph('run_test');
  graph.nodes = [
    node('Conv', ['x', 'w', 'b'], ['c'], [intsAttr('pads', [1, 1, 1, 1])]),
    node('Relu', ['c'], ['r']),
    node('Mul', ['r', 'gain'], ['features/out']),
    node('GlobalAveragePool', ['features/out'], ['pooled']),
  ];
  graph.inputs = [tensorValueInfo('x', DataType.FLOAT, ['batch', 2, 5, 5]), tensorValueInfo('gain', DataType.FLOAT, [1])];
  graph.outputs = [{ name: 'features/out' }, { name: 'pooled' }];
  graph.initializers = [
    createTensor('w', DataType.FLOAT, [3, 2, 3, 3], randomF32(rand, [3, 2, 3, 3]).data as Float32Array),
    createTensor('b', DataType.FLOAT, [3], Float32Array.from([0.1, -0.2, 0.3])),
  ];
  model = { irVersion: 8, opsetImports: [{ domain: '', version: 13 }], metadataProps: [], graph };
  modelFile = path.join(dir, 'model.onnx');
  writeModel(modelFile, model);
});

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

describe('bnc run', () => {
  it('runs with inputs from .npy files and saves outputs that match onnxruntime', async () => {
    const rand = rng(62);
    const x = randomF32(rand, [2, 2, 5, 5]);
    const gain = Float32Array.from([1.5]);
    fs.writeFileSync(path.join(dir, 'x.npy'), encodeNpy(x.dims, x.data as Float32Array));
    fs.writeFileSync(path.join(dir, 'gain.npy'), encodeNpy([1], gain));
    const outDir = path.join(dir, 'out-files');
    const r = bnc(['run', modelFile, '--input', `x=${path.join(dir, 'x.npy')}`, '--input', `gain=${path.join(dir, 'gain.npy')}`, '--save-outputs', outDir]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/ran 4 nodes/);
    expect(r.stdout).toMatch(/features\/out\s+float\s+\[2, 3, 5, 5\]/);
    expect(r.stdout).toContain(`wrote ${path.join(outDir, 'features_out.npy')}`);
    const want = await runOrt(serializeOnnx(model), { x: { data: x.data as Float32Array, dims: x.dims }, gain: { data: gain, dims: [1] } });
    for (const [name, file] of [['features/out', 'features_out.npy'], ['pooled', 'pooled.npy']] as const) {
      const saved = readNpy(path.join(outDir, file));
      expect(saved.shape).toEqual(want[name]!.dims);
      expect(maxAbsDiff(saved.data as Float32Array, want[name]!.data)).toBeLessThan(1e-5);
    }
  });

  it('generates inputs from --seed exactly as generateInputs does (symbolic batch → 1), and reports them in --json', () => {
    const outDir = path.join(dir, 'out-seed');
    const r = bnc(['run', modelFile, '--seed', '5', '--save-outputs', outDir, '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.seed).toBe(5);
    expect(report.inputs).toEqual([
      { name: 'x', dtype: 'float', shape: [1, 2, 5, 5], source: 'generated', symbolicDims: [{ dim: 0, name: 'batch', size: 1 }] },
      { name: 'gain', dtype: 'float', shape: [1], source: 'generated' },
    ]);
    expect(report.outputs.map((o: { name: string; shape: number[] }) => [o.name, o.shape])).toEqual([
      ['features/out', [1, 3, 5, 5]],
      ['pooled', [1, 3, 1, 1]],
    ]);
    const expected = runModel(model, generateInputs(modelInputs(model), 5)).outputs.get('pooled')!.data as Float32Array;
    const saved = readNpy(path.join(outDir, 'pooled.npy')).data as Float32Array;
    expect(Buffer.from(saved.buffer, saved.byteOffset, saved.byteLength).equals(Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength))).toBe(true);
    // min / max / mean are those of the saved data.
    const pooled = report.outputs[1];
    expect(pooled.min).toBeCloseTo(Math.min(...saved), 6);
    expect(pooled.max).toBeCloseTo(Math.max(...saved), 6);
    // Another seed gives other numbers.
    const other = JSON.parse(bnc(['run', modelFile, '--seed', '6', '--json']).stdout);
    expect(other.outputs[1].mean).not.toBe(pooled.mean);
  });

  it('refuses to overwrite saved outputs without --force', () => {
    const outDir = path.join(dir, 'out-twice');
    expect(bnc(['run', modelFile, '--save-outputs', outDir]).code).toBe(0);
    const again = bnc(['run', modelFile, '--save-outputs', outDir]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exists; pass --force/);
    expect(bnc(['run', modelFile, '--save-outputs', outDir, '--force']).code).toBe(0);
  });

  it('bad inputs are one-line errors with exit code 2', () => {
    const rand = rng(63);
    const wrong = randomF32(rand, [1, 3, 5, 5]);
    fs.writeFileSync(path.join(dir, 'wrong.npy'), encodeNpy(wrong.dims, wrong.data as Float32Array));
    const shape = bnc(['run', modelFile, '--input', `x=${path.join(dir, 'wrong.npy')}`]);
    expect(shape.code).toBe(2);
    expect(shape.stderr).toContain("input 'x' has shape [1, 3, 5, 5], but the model declares [batch, 2, 5, 5]");
    expect(shape.stderr.trim().split('\n')).toHaveLength(1);

    const f64 = path.join(dir, 'x64.npy');
    fs.writeFileSync(f64, encodeNpy([1, 2, 5, 5], new Float64Array(50)));
    const type = bnc(['run', modelFile, '--input', `x=${f64}`]);
    expect(type.code).toBe(2);
    expect(type.stderr).toMatch(/has type double, but the model declares float \(save the array with \.astype\(np\.float32\)\)/);

    const unknown = bnc(['run', modelFile, '--input', `y=${f64}`]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("the model has no input 'y' (inputs: x, gain)");

    const malformed = bnc(['run', modelFile, '--input', 'x.npy']);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('expected name=file.npy');

    const missing = bnc(['run', modelFile, '--input', `x=${path.join(dir, 'nope.npy')}`, '--json']);
    expect(missing.code).toBe(2);
    expect(JSON.parse(missing.stdout).error.code).toBe('NOT_FOUND');
  });

  it('an unsupported op fails before anything runs, naming every unsupported node', () => {
    const graph = emptyGraph('unsupported');
    graph.nodes = [node('Relu', ['x'], ['a']), node('FancyOp', ['a'], ['b']), node('FancyOp', ['b'], ['y'])];
    graph.inputs = [tensorValueInfo('x', DataType.FLOAT, [2])];
    graph.outputs = [{ name: 'y' }];
    const file = path.join(dir, 'unsupported.onnx');
    writeModel(file, { irVersion: 8, opsetImports: [{ domain: '', version: 13 }], metadataProps: [], graph });
    const r = bnc(['run', file, '--save-outputs', path.join(dir, 'never')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("2 unsupported ops: FancyOp (nodes 'FancyOp_b', 'FancyOp_y')");
    expect(fs.existsSync(path.join(dir, 'never'))).toBe(false);
  });
});

describe.skipIf(!HAVE_SHARED)(`bnc run on the shared mobilenet_v2${HAVE_SHARED ? '' : ` (${SKIP_SHARED_MESSAGE})`}`, () => {
  it('matches ref_output.npy within the case tolerance', () => {
    const cdir = caseDir('onnx', 'mobilenet_v2');
    const spec = readCase('onnx', 'mobilenet_v2');
    const outDir = path.join(dir, 'mobilenet');
    const r = bnc(['run', path.join(cdir, 'model.onnx'), '--input', `input=${path.join(cdir, 'input.npy')}`, '--save-outputs', outDir, '-q']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    const got = readNpy(path.join(outDir, 'output.npy'));
    const ref = readNpy(path.join(cdir, 'ref_output.npy'));
    expect(got.shape).toEqual(ref.shape);
    expect(withinTolerance(got.data as Float32Array, ref.data as Float32Array, spec.tolerance).ok).toBe(true);
  });
});
