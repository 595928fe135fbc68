import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataType, Model, createTensor, emptyGraph, intsAttr, tensorValueInfo } from '../../src/ir/index.js';
import { serializeOnnx } from '../../src/formats/onnx/index.js';
import { encodeNpy, readNpy } from '../../src/io/npy.js';
import { bnc } from '../helpers/cli.js';
import { runOrt } from '../helpers/ort.js';
import { randomF32, rng } from '../helpers/kernelHarness.js';

// `bnc run --conv-algorithm` end to end through the built CLI: every algorithm agrees with onnxruntime
// within its bound (winograd.test.ts), the forced ones really change the arithmetic (their outputs differ
// from direct's in the last bits), a stride-2 Conv falls back to direct, and a bad value is a usage error.

let dir: string;
let modelFile: string;
let model: Model;
const x = randomF32(rng(5), [2, 24, 13, 11]);

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-winograd-'));
  const rand = rng(81);
  const graph = emptyGraph('winograd_cli');
  graph.nodes = [
    // 3×3 stride 1: Winograd when asked; then a stride-2 3×3, which stays direct.
    { name: 'conv1', opType: 'Conv', domain: '', inputs: ['x', 'w1', 'b1'], outputs: ['c1'], attributes: [intsAttr('pads', [1, 0, 1, 2])] },
    { name: 'conv2', opType: 'Conv', domain: '', inputs: ['c1', 'w2'], outputs: ['y'], attributes: [intsAttr('strides', [2, 2])] },
  ];
  graph.inputs = [tensorValueInfo('x', DataType.FLOAT, [2, 24, 13, 11])];
  graph.outputs = [{ name: 'c1' }, { name: 'y' }];
  graph.initializers = [
    createTensor('w1', DataType.FLOAT, [20, 24, 3, 3], randomF32(rand, [20, 24, 3, 3], -1, 1).data as Float32Array),
    createTensor('b1', DataType.FLOAT, [20], randomF32(rand, [20]).data as Float32Array),
    createTensor('w2', DataType.FLOAT, [17, 20, 3, 3], randomF32(rand, [17, 20, 3, 3], -1, 1).data as Float32Array),
  ];
  model = { irVersion: 8, opsetImports: [{ domain: '', version: 13 }], metadataProps: [], graph };
  modelFile = path.join(dir, 'model.onnx');
  fs.writeFileSync(modelFile, serializeOnnx(model));
  fs.writeFileSync(path.join(dir, 'x.npy'), encodeNpy(x.dims, x.data as Float32Array));
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function runWith(algorithm: string): Record<'c1' | 'y', Float32Array> {
  const outDir = path.join(dir, algorithm);
  const r = bnc(['run', modelFile, '--input', `x=${path.join(dir, 'x.npy')}`, '--save-outputs', outDir, '--conv-algorithm', algorithm, '--threads', '1']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return {
    c1: readNpy(path.join(outDir, 'c1.npy')).data as Float32Array,
    y: readNpy(path.join(outDir, 'y.npy')).data as Float32Array,
  };
}

function relativeError(got: Float32Array, want: Float32Array): number {
  let max = 0;
  let err = 0;
  for (let i = 0; i < want.length; i++) {
    max = Math.max(max, Math.abs(want[i]!));
    err = Math.max(err, Math.abs(got[i]! - want[i]!));
  }
  return err / max;
}

describe('bnc run --conv-algorithm', () => {
  it('auto, direct, winograd2 and winograd4 all match onnxruntime; the forced ones change the arithmetic', async () => {
    const want = await runOrt(serializeOnnx(model), { x: { data: x.data as Float32Array, dims: x.dims } });
    const outputs: Record<string, Record<'c1' | 'y', Float32Array>> = {};
    // Bounds per algorithm: winograd.test.ts's, doubled for the second layer's propagation.
    const bounds: Record<string, number> = { auto: 3e-6, direct: 1e-6, winograd2: 1e-6, winograd4: 3e-6 };
    for (const algorithm of ['auto', 'direct', 'winograd2', 'winograd4']) {
      outputs[algorithm] = runWith(algorithm);
      for (const name of ['c1', 'y'] as const) {
        expect(relativeError(outputs[algorithm]![name], want[name]!.data), `${algorithm} ${name}`).toBeLessThan(bounds[algorithm]!);
      }
    }
    const differs = (a: Float32Array, b: Float32Array) => a.some((v, i) => !Object.is(v, b[i]));
    expect(differs(outputs.winograd2!.c1, outputs.direct!.c1)).toBe(true);
    expect(differs(outputs.winograd4!.c1, outputs.direct!.c1)).toBe(true);
    expect(differs(outputs.winograd4!.c1, outputs.winograd2!.c1)).toBe(true);
  });

  it('a value other than auto, direct, winograd2, winograd4 is a usage error', () => {
    const r = bnc(['run', modelFile, '--conv-algorithm', 'winograd6']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--conv-algorithm "winograd6": expected one of auto, direct, winograd2, winograd4');
    expect(bnc(['run', '--help']).stdout).toContain('--conv-algorithm');
  });
});
