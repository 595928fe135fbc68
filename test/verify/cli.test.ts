import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serializeOnnx } from '../../src/formats/onnx/index.js';
import { bnc } from '../helpers/cli.js';
import { buildModel, floatInput, node } from '../passes/graphBuilder.js';
import { convNet, scaleConvChannel } from './nets.js';

// `bnc verify` as a user runs it: the built CLI spawned without a TTY (NO_COLOR set by the helper).

let dir: string;
let modelA: string;
let sameAsA: string;
let broken: string;
let otherInput: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-verify-cli-'));
  const write = (name: string, bytes: Uint8Array) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, bytes);
    return p;
  };
  const m = convNet(3);
  modelA = write('a.onnx', serializeOnnx(m));
  sameAsA = write('a-copy.onnx', serializeOnnx(m));
  broken = write('broken.onnx', serializeOnnx(scaleConvChannel(m, 'conv2', 6, 1.01)));
  otherInput = write(
    'other-input.onnx',
    serializeOnnx(buildModel({ nodes: [node('Relu', ['data'], ['scores'])], inputs: [floatInput('data', [1, 8])], outputs: ['scores'], initializers: [] })),
  );
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('bnc verify (CLI)', () => {
  it('equivalent models: exit 0, a table and the verdict, no color without a TTY', () => {
    const r = bnc(['verify', modelA, sameAsA, '--samples', '2']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/outputs matched by name/);
    expect(r.stdout).toMatch(/max abs\s+max rel\s+cosine\s+top-1\s+top-5\s+result/);
    expect(r.stdout).toMatch(/scores\s+\[1, 8\].*✓ pass/);
    expect(r.stdout).toMatch(/EQUIVALENT/);
    expect(r.stdout).not.toMatch(/\u001b\[/);
  });

  it('one conv channel scaled by 1.01: exit 1, names the output; --all-tensors names the first diverging tensor', () => {
    const r = bnc(['verify', modelA, broken, '--all-tensors']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/DIFFERENT: 'scores' \(\d+ of 8 elements beyond tolerance, worst \[0, 6\]/);
    expect(r.stdout).toMatch(/all tensors: 7 compared, 4 equal, 3 diverged/);
    expect(r.stdout).toMatch(/first diverging: c2 \[1, 8, 8, 8\]\n\s+computed by Conv node 'conv2'/);
  });

  it('--json prints exactly one object on stdout, with the verdict and exit code', () => {
    const r = bnc(['verify', modelA, broken, '--json', '--all-tensors', '--seed', '4']);
    expect(r.code).toBe(1);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ schema: 'bnc.verify/2', verdict: 'different', exitCode: 1, matching: 'name' });
    expect(report.inputs.seeds).toEqual([4]);
    expect(report.outputs[0].name).toBe('scores');
    expect(report.allTensors.firstDiverging.name).toBe('c2');
  });

  it('per-output tolerance loosens one output', () => {
    const r = bnc(['verify', modelA, broken, '--rtol', 'scores:0.05', '--atol', '1e-5']);
    expect(r.code).toBe(0);
  });

  it('--save-inputs then --load-inputs replays the same inputs', () => {
    const saved = path.join(dir, 'inputs');
    const first = bnc(['verify', modelA, broken, '--samples', '2', '--seed', '9', '--save-inputs', saved, '--json']);
    expect(first.code).toBe(1);
    expect(fs.readdirSync(saved).sort()).toEqual(['inputs.json', 'sample0_x.npy', 'sample1_x.npy']);
    const replay = bnc(['verify', modelA, broken, '--load-inputs', saved, '--json']);
    expect(replay.code).toBe(1);
    expect(JSON.parse(replay.stdout).outputs).toEqual(JSON.parse(first.stdout).outputs);
    const human = bnc(['verify', modelA, broken, '--input', `x=${path.join(saved, 'sample0_x.npy')}`]);
    expect(human.stdout).toMatch(/input x float \[1, 3, 10, 10\] \(from .*sample0_x\.npy\)/);
  });

  it('models with different inputs: exit 2 and one line on stderr', () => {
    const r = bnc(['verify', modelA, otherInput]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    // One input each: paired by position, then the shapes disagree.
    expect(r.stderr).toMatch(/bnc: error: input 'x' \(B: 'data'\) has shape \[1, 3, 10, 10\] in .*a\.onnx but \[1, 8\] in .*other-input\.onnx/);
  });

  it('usage errors exit 2; with --json the error is the one object on stdout', () => {
    expect(bnc(['verify', modelA, broken, '--rtol', 'lots']).code).toBe(2);
    expect(bnc(['verify', modelA, broken, '--samples', '0']).stderr).toMatch(/--samples "0": expected a whole number >= 1/);
    expect(bnc(['verify', modelA, broken, '--input', 'x']).stderr).toMatch(/expected name=file\.npy/);
    const r = bnc(['verify', modelA, path.join(dir, 'missing.onnx'), '--json']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout).error.message).toMatch(/missing\.onnx: no such file/);
  });
});
