import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO, bnc } from './helpers/cli.js';

// fold-bn --verify takes --allow-nonfinite as verify does (a model whose outputs are NaN for N(0,1)
// inputs, like Sqrt, otherwise never passes), and verify's input errors name the model file.
const NODE = '/usr/share/libonnx-testdata/data/node';
const HAVE = fs.existsSync(path.join(NODE, 'test_sqrt/model.onnx'));
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-verify-flags-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(!HAVE)(`verify flags on ONNX test models${HAVE ? '' : ` (libonnx-testdata not installed at ${NODE}: skipped)`}`, () => {
  it('fold-bn --verify: NaN in both outputs fails (exit 1, nothing written) unless --allow-nonfinite', () => {
    const model = path.join(NODE, 'test_sqrt/model.onnx');
    const out = path.join(tmp, 'sqrt.onnx');
    const refused = bnc(['fold-bn', model, '-o', out, '--verify']);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/NaN\/inf: A \d+ NaN, B \d+ NaN/);
    expect(fs.existsSync(out)).toBe(false);
    const allowed = bnc(['fold-bn', model, '-o', out, '--verify', '--allow-nonfinite']);
    expect(allowed.code).toBe(0);
    expect(fs.existsSync(out)).toBe(true);
  });

  it('verify: an input bnc cannot generate is an error naming the model file and the flag to pass', () => {
    const model = path.join(NODE, 'test_bitshift_left_uint64/model.onnx');
    const r = bnc(['verify', model, model]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${model}: input 'x' has type uint64, which bnc cannot generate; pass it with --input x=file.npy`);
  });
});

describe('fold-bn --verify and convert --verify take verify\'s pass rule', () => {
  const fixture = path.join(REPO, 'fixtures/caffe/small_bn_net.prototxt');

  it('--rtol 0 --atol 0 asks for bit equality, which a fold in float32 does not give (exit 1, nothing written); the default passes', () => {
    const out = path.join(tmp, 'exact.onnx');
    const strict = bnc(['fold-bn', fixture, '-o', out, '--verify', '--rtol', '0', '--atol', '0']);
    expect(strict.code).toBe(1);
    expect(fs.existsSync(out)).toBe(false);
    expect(bnc(['fold-bn', fixture, '-o', out, '--verify']).code).toBe(0);
  });

  it('--check-error-stat median gates the median instead of every element, and a bad statistic is a usage error', () => {
    const out = path.join(tmp, 'median.onnx');
    const median = bnc(['convert', 'caffe-to-onnx', fixture, '-o', out, '--verify', '--check-error-stat', 'median', '--json', '--force']);
    expect(median.code).toBe(0);
    expect(JSON.parse(median.stdout).verify.gate.errorStat).toBe('median');
    const bad = bnc(['fold-bn', fixture, '-o', out, '--verify', '--check-error-stat', 'p200', '--force']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--check-error-stat "p200"/);
  });
});
