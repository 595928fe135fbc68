import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, bnc } from './helpers/cli.js';

// convert --verify writes the converted model under a temporary name beside the output, reads that file
// back as the model it verifies, and renames it only when it passes (so the Caffe net's weights and the
// written model's are never in memory together). The written bytes are those of a convert without
// --verify; a failed check leaves neither the output nor the temporary file.

const PROTOTXT = path.join(REPO, 'fixtures/caffe/small_bn_net.prototxt');
let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-convert-verify-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('convert --verify checks the file it writes', () => {
  it('writes the bytes a convert without --verify writes, and nothing else', () => {
    const plain = path.join(dir, 'plain.onnx');
    const verified = path.join(dir, 'verified.onnx');
    expect(bnc(['convert', 'caffe-to-onnx', PROTOTXT, '-o', plain, '--quiet']).code).toBe(0);
    const r = bnc(['convert', 'caffe-to-onnx', PROTOTXT, '-o', verified, '--verify', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).verify.verdict).toBe('equivalent');
    expect(fs.readFileSync(verified).equals(fs.readFileSync(plain))).toBe(true);
    expect(fs.readdirSync(dir).sort()).toEqual(['plain.onnx', 'verified.onnx']);
  });

  it('a failed check writes neither the output nor a temporary file', () => {
    const sub = fs.mkdtempSync(path.join(dir, 'fail-'));
    const out = path.join(sub, 'out.onnx');
    // Merging BatchNorm with its Scale changes the float32 rounding: no tolerance at all fails.
    const r = bnc(['convert', 'caffe-to-onnx', PROTOTXT, '-o', out, '--verify', '--rtol', '0', '--atol', '0', '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).verify.verdict).toBe('different');
    expect(fs.readdirSync(sub)).toEqual([]);
  });
});
