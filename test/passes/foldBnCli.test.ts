import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseOnnx, serializeOnnx } from '../../src/formats/onnx/index.js';
import { intAttr } from '../../src/ir/index.js';
import { readNpy } from '../../src/io/npy.js';
import { bnc } from '../helpers/cli.js';
import { runOrt } from '../helpers/ort.js';
import { HAVE_SHARED, SKIP_SHARED_MESSAGE, caseDir, readCase, withinTolerance } from '../helpers/shared.js';
import { buildModel, countOps, f32, floatInput, node, normal, rng } from './graphBuilder.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-foldbn-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(!HAVE_SHARED)(`bnc fold-bn / optimize on shared models ${HAVE_SHARED ? '' : `(${SKIP_SHARED_MESSAGE})`}`, () => {
  it('folds conv_bn_relu, prints the summary, and the written file matches the refs in onnxruntime', async () => {
    const input = path.join(caseDir('onnx', 'conv_bn_relu'), 'model.onnx');
    const out = path.join(tmp, 'conv_bn_relu.onnx');
    const r = bnc(['fold-bn', input, '-o', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^BatchNormalization: 2 → 0$/m);
    expect(r.stdout).toMatch(/^ {2}folded: 2 \(Conv 2\)$/m);
    expect(r.stdout).toMatch(/^Parameters: .* → .*$/m);
    const model = parseOnnx(fs.readFileSync(out));
    expect(countOps(model, 'BatchNormalization')).toBe(0);
    const c = readCase('onnx', 'conv_bn_relu');
    const x = readNpy(path.join(caseDir('onnx', 'conv_bn_relu'), c.input.file));
    const got = await runOrt(fs.readFileSync(out), { input: { data: x.data as Float32Array, dims: x.shape } });
    const ref = readNpy(path.join(caseDir('onnx', 'conv_bn_relu'), 'ref_output.npy')).data as Float32Array;
    expect(withinTolerance(got.output!.data, ref, c.tolerance).ok).toBe(true);
  });

  it('--json prints one object with counts, reasons and parameter bytes; --keep-bn keeps unfoldable BNs', () => {
    const input = path.join(caseDir('onnx', 'shared_weight_convs'), 'model.onnx');
    const out = path.join(tmp, 'shared.onnx');
    const r = bnc(['fold-bn', input, '-o', out, '--keep-bn', '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.batchNorm).toEqual({ before: 2, after: 2 });
    expect(j.folded.total).toBe(0);
    expect(j.notFolded).toHaveLength(2);
    for (const n of j.notFolded) {
      expect(n.result).toBe('kept');
      expect(n.reason).toMatch(/shared.*--allow-weight-copy/);
    }
    expect(j.parameterBytes.before).toBe(j.parameterBytes.after);

    const copied = bnc(['fold-bn', input, '-o', out, '--force', '--allow-weight-copy', '--json']);
    expect(copied.code).toBe(0);
    const k = JSON.parse(copied.stdout);
    expect(k.folded).toEqual({ total: 2, byProducer: { Conv: 2 } });
    expect(k.batchNorm.after).toBe(0);
  });

  it('does not overwrite an existing output without --force (exit 2)', () => {
    const input = path.join(caseDir('onnx', 'conv_bn_relu'), 'model.onnx');
    const out = path.join(tmp, 'exists.onnx');
    fs.writeFileSync(out, 'x');
    const r = bnc(['fold-bn', input, '-o', out]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/already exists; pass --force/);
    expect(fs.readFileSync(out, 'utf8')).toBe('x');
  });

  it('optimize runs a pass list in order; an unknown pass name is a usage error', () => {
    const input = path.join(caseDir('onnx', 'bn_training_mode_opset15'), 'model.onnx');
    const out = path.join(tmp, 'opt.onnx');
    const r = bnc(['optimize', input, '-o', out, '--passes', 'bn-eval,fold-bn,cleanup']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/bn-eval: 2 change/);
    expect(r.stdout).toMatch(/fold-bn: 2 change/);
    expect(countOps(parseOnnx(fs.readFileSync(out)), 'BatchNormalization')).toBe(0);
    const bad = bnc(['optimize', input, '-o', path.join(tmp, 'bad.onnx'), '--passes', 'fold-bn,fold-everything']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown pass 'fold-everything'; available: bn-eval, fold-constants, merge-bn-scale, fold-bn, bn-to-affine, cleanup/);
  });
});

describe('bnc fold-bn on a model whose running statistics are read', () => {
  it('exits 2 with one line naming the BN and the reader, and writes no output', () => {
    const r0 = rng(3);
    const model = buildModel({
      nodes: [
        { ...node('BatchNormalization', ['x', 's', 'b', 'm', 'v'], ['y', 'rm', 'rv'], [intAttr('training_mode', 1)]), name: 'bn1' },
        node('Identity', ['rm'], ['stats'], [], 'read_stats'),
      ],
      inputs: [floatInput('x', [2, 3, 4, 4])],
      outputs: ['y', 'stats'],
      initializers: [f32('s', [3], [1, 1, 1]), f32('b', [3], normal(r0, 3)), f32('m', [3], normal(r0, 3)), f32('v', [3], [1, 2, 3])],
      opset: 15,
    });
    const input = path.join(tmp, 'reads_stats.onnx');
    fs.writeFileSync(input, serializeOnnx(model));
    const out = path.join(tmp, 'reads_stats.out.onnx');
    const r = bnc(['fold-bn', input, '-o', out]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/BatchNormalization 'bn1': its output 'rm' \(running mean\) is read by Identity 'read_stats'/);
    expect(fs.existsSync(out)).toBe(false);
  });
});
