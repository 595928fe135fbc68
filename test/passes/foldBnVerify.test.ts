import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { serializeOnnx } from '../../src/formats/onnx/index.js';
import { DataType, createTensor, intsAttr, numberToFloat16Bits, tensorValueInfo } from '../../src/ir/index.js';
import { bnc } from '../helpers/cli.js';
import { HAVE_SHARED, SKIP_SHARED_MESSAGE, caseDir } from '../helpers/shared.js';
import { buildModel, f32, floatInput, node, normal, rng, uniform } from './graphBuilder.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-foldverify-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function convBnModel(dtype: DataType): Uint8Array {
  const r = rng(7);
  const C = 8;
  const store = (name: string, dims: number[], values: Float32Array) => {
    if (dtype === DataType.FLOAT) return f32(name, dims, values);
    const t = createTensor(name, DataType.FLOAT16, dims);
    const bits = t.data as Uint16Array;
    for (let i = 0; i < values.length; i++) bits[i] = numberToFloat16Bits(values[i]!);
    return t;
  };
  const model = buildModel({
    nodes: [
      node('Conv', ['x', 'W', 'b'], ['c'], [intsAttr('kernel_shape', [3, 3]), intsAttr('pads', [1, 1, 1, 1])], 'conv'),
      node('BatchNormalization', ['c', 'gamma', 'beta', 'mean', 'var'], ['y'], [], 'bn'),
    ],
    inputs: [dtype === DataType.FLOAT ? floatInput('x', [1, 4, 6, 6]) : tensorValueInfo('x', DataType.FLOAT16, [1, 4, 6, 6])],
    outputs: ['y'],
    initializers: [
      store('W', [C, 4, 3, 3], normal(r, C * 36, 0.3)),
      store('b', [C], normal(r, C, 0.1)),
      store('gamma', [C], uniform(r, C, 0.5, 3)),
      store('beta', [C], normal(r, C, 0.2)),
      store('mean', [C], normal(r, C, 0.3)),
      // Small variances make k = gamma/sqrt(var+eps) large, so float16 rounding of W' shows.
      store('var', [C], uniform(r, C, 0.001, 0.01)),
    ],
  });
  return serializeOnnx(model);
}

describe('bnc fold-bn --verify', () => {
  it('passes and writes the file when the fold is exact to float32 rounding', () => {
    const input = path.join(tmp, 'f32.onnx');
    fs.writeFileSync(input, convBnModel(DataType.FLOAT));
    const out = path.join(tmp, 'f32-folded.onnx');
    const r = bnc(['fold-bn', input, '-o', out, '--verify', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.verify.verdict).toBe('equivalent');
    expect(j.written).toBe(true);
    expect(fs.existsSync(out)).toBe(true);
  });

  it('exits 1 and writes nothing when the folded model differs (float16 weights lose precision)', () => {
    const input = path.join(tmp, 'f16.onnx');
    fs.writeFileSync(input, convBnModel(DataType.FLOAT16));
    const out = path.join(tmp, 'f16-folded.onnx');
    const r = bnc(['fold-bn', input, '-o', out, '--verify']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/DIFFERENT: 'y'/);
    expect(r.stdout).toMatch(/not written \(verification failed\)/);
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readdirSync(tmp).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe.skipIf(!HAVE_SHARED)(`fold-bn --verify on a training-mode model ${HAVE_SHARED ? '' : SKIP_SHARED_MESSAGE}`, () => {
  it('checks the fold against the original in eval mode', () => {
    const input = path.join(caseDir('onnx', 'bn_training_mode_opset15'), 'model.onnx');
    const out = path.join(tmp, 'train15.onnx');
    const r = bnc(['fold-bn', input, '-o', out, '--verify', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.switchedToEval).toBe(2);
    expect(j.verify.verdict).toBe('equivalent');
  });
});
