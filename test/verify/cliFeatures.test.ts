import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseOnnx, serializeOnnx } from '../../src/formats/onnx/index.js';
import { encodeNpy, readNpy } from '../../src/io/npy.js';
import { bnc } from '../helpers/cli.js';
import { convNet, scaleConvChannel } from './nets.js';

// `bnc verify` with the flags a Polygraphy user reaches for, run as the built CLI.

let dir: string;
let modelA: string;
let broken: string;
const file = (name: string) => path.join(dir, name);

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-verify-features-'));
  const m = convNet(3);
  modelA = file('a.onnx');
  fs.writeFileSync(modelA, serializeOnnx(m));
  broken = file('broken.onnx');
  fs.writeFileSync(broken, serializeOnnx(scaleConvChannel(m, 'conv2', 6, 1.01)));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('bnc verify: features from Polygraphy', () => {
  it('a Caffe net against an ONNX file whose input and output have other names: paired by position (exit 2 before)', () => {
    const onnx = file('converted.onnx');
    expect(bnc(['convert', 'caffe-to-onnx', 'fixtures/caffe/small_bn_net.prototxt', '-o', onnx]).code).toBe(0);
    const m = parseOnnx(fs.readFileSync(onnx));
    const rename = (from: string, to: string) => {
      for (const v of [...m.graph.inputs, ...m.graph.outputs]) if (v.name === from) v.name = to;
      for (const n of m.graph.nodes) {
        n.inputs = n.inputs.map((x) => (x === from ? to : x));
        n.outputs = n.outputs.map((x) => (x === from ? to : x));
      }
    };
    rename('data', 'data_input');
    rename('prob', 'prob_out');
    const other = file('other-names.onnx');
    fs.writeFileSync(other, serializeOnnx(m));
    const r = bnc(['verify', 'fixtures/caffe/small_bn_net.prototxt', other]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/input data ↔ B data_input float \[1, 3, 15, 15\]/);
    expect(r.stdout).toMatch(/inputs paired by position \(one input each, names differ\)/);
    expect(r.stdout).toMatch(/prob ↔ prob_out/);
    const mapped = bnc(['verify', 'fixtures/caffe/small_bn_net.prototxt', other, '--input-map', 'data=data_input', '--output-map', 'prob=prob_out', '--json']);
    expect(mapped.code).toBe(0);
    expect(JSON.parse(mapped.stdout)).toMatchObject({ matching: 'map', inputs: { matching: 'map', pairs: [['data', 'data_input']] } });
  });

  it('--save-outputs writes both models; --load-outputs compares a model with them; bnc run writes golden outputs too', () => {
    const saved = file('saved');
    const r = bnc(['verify', modelA, broken, '--save-outputs', saved, '--seed', '2']);
    expect(r.code).toBe(1);
    expect(fs.readdirSync(path.join(saved, 'a'))).toEqual(['scores.npy']);
    expect(fs.readdirSync(path.join(saved, 'b'))).toEqual(['scores.npy']);
    // A against B's saved outputs gives B's verdict and the same figures.
    const direct = JSON.parse(bnc(['verify', modelA, broken, '--seed', '2', '--json']).stdout);
    const loaded = bnc(['verify', modelA, '--load-outputs', path.join(saved, 'b'), '--seed', '2', '--json']);
    expect(loaded.code).toBe(1);
    const report = JSON.parse(loaded.stdout);
    expect(report.reference).toBe('files');
    expect(report.outputs[0].metrics.maxAbsError).toBe(direct.outputs[0].metrics.maxAbsError);
    // Golden outputs from bnc run (same seed, same generated inputs) of the model itself: identical.
    const golden = file('golden');
    expect(bnc(['run', modelA, '--seed', '4', '--save-outputs', golden]).code).toBe(0);
    const same = bnc(['verify', modelA, '--load-outputs', golden, '--seed', '4']);
    expect(same.code).toBe(0);
    expect(same.stdout).toMatch(/B .*golden \(expected outputs\)/);
    expect(bnc(['verify', modelA]).stderr).toMatch(/verify needs a second model, or expected outputs with --load-outputs DIR/);
  });

  it('--check-error-stat: 1 of 8 elements off fails max and p99, passes median and p80', () => {
    // With seed 0 exactly one element of 'scores' breaks the rule (the scaled channel): 12.5 % of 8.
    const base = JSON.parse(bnc(['verify', modelA, broken, '--json']).stdout);
    expect(base.outputs[0].metrics.violations).toBe(1);
    expect(bnc(['verify', modelA, broken, '--check-error-stat', 'p99']).code).toBe(1);
    expect(bnc(['verify', modelA, broken, '--check-error-stat', 'median']).code).toBe(0);
    const p80 = bnc(['verify', modelA, broken, '--check-error-stat', 'p80', '--json']);
    expect(p80.code).toBe(0);
    expect(JSON.parse(p80.stdout).gate).toEqual({ errorStat: 'p80', topK: null, allowNonFinite: false });
    expect(bnc(['verify', modelA, broken, '--check-error-stat', 'p101']).stderr).toMatch(/expected max, mean, median or p<q>/);
    // The smallest passing atol, fed back, passes.
    const atol = base.outputs[0].metrics.statistics.smallestPassingAtol as number;
    expect(bnc(['verify', modelA, broken, '--atol', String(atol * 1.001)]).code).toBe(0);
    expect(bnc(['verify', modelA, broken, '--atol', String(atol * 0.99)]).code).toBe(1);
  });

  it('NaN in the input: exit 1 naming NaN (exit 0 before); --allow-nonfinite accepts it', () => {
    const x = new Float32Array(300).fill(0.5);
    x[0] = NaN;
    const npy = file('nan.npy');
    fs.writeFileSync(npy, encodeNpy([1, 3, 10, 10], x));
    // Conv → ReduceMean (bnc's Relu turns NaN into 0, where onnxruntime keeps it, so no Relu here).
    const m = convNet(3);
    m.graph.nodes = m.graph.nodes.filter((n) => n.name === 'conv1' || n.name === 'pool');
    m.graph.nodes.find((n) => n.name === 'pool')!.inputs = ['c1'];
    const convMean = file('conv-mean.onnx');
    fs.writeFileSync(convMean, serializeOnnx(m));
    const r = bnc(['verify', convMean, convMean, '--input', `x=${npy}`, '--all-tensors']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/warning: input 'x' holds 1 NaN\/inf value/);
    expect(r.stdout).toMatch(/NaN\/inf first in A: 'c1' \[0, 0, 0, 0\] = NaN, computed by Conv node 'conv1'/);
    expect(r.stdout).toMatch(/DIFFERENT: 'scores' \(NaN\/inf: A 8 NaN; B 8 NaN\)|DIFFERENT: 'scores' \(NaN\/inf: A 8 NaN, B 8 NaN\)/);
    expect(bnc(['verify', convMean, convMean, '--input', `x=${npy}`, '--allow-nonfinite']).code).toBe(0);
  });

  it('human output fits in 100 columns', () => {
    const r = bnc(['verify', modelA, broken, '--all-tensors', '--samples', '2', '--check-error-stat', 'p90', '--top-k', '3']);
    const wide = r.stdout.split('\n').filter((l) => [...l].length > 100);
    expect(wide).toEqual([]);
    expect(r.stdout).toMatch(/\|a-b\| by decade/);
    expect(r.stdout).toMatch(/smallest passing --atol \S+ at --rtol 1e-4; p90 of \|a-b\|\/allowance/);
  });

  it('--save-outputs files hold what the models compute (A against bnc run of A)', () => {
    const saved = file('saved2');
    bnc(['verify', modelA, broken, '--save-outputs', saved, '--seed', '7']);
    bnc(['run', modelA, '--seed', '7', '--save-outputs', file('run7')]);
    expect(Array.from(readNpy(path.join(saved, 'a', 'scores.npy')).data as Float32Array)).toEqual(
      Array.from(readNpy(path.join(file('run7'), 'scores.npy')).data as Float32Array),
    );
  });
});
