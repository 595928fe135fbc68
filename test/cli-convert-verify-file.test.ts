import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO, bnc } from './helpers/cli.js';
import { SKIP_SHARED_MESSAGE, caseDir, sharedCases } from './helpers/shared.js';

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

describe('convert --verify on every shared Caffe case', () => {
  // The shared cases carry Constant-held priors (SSD), in-place layers and fork layers: a run that recycled
  // or overwrote one of the model's own arrays made the second model's outputs wrong (ssd_head).
  const cases = sharedCases('caffe').map((name) => caseDir('caffe', name)).filter((c) => fs.existsSync(path.join(c, 'net.caffemodel')));
  it.skipIf(cases.length === 0)(`converts and verifies each case with a caffemodel (${cases.length})${cases.length ? '' : `: ${SKIP_SHARED_MESSAGE}`}`, () => {
    const failed: string[] = [];
    for (const c of cases) {
      const out = path.join(dir, `${path.basename(c)}.onnx`);
      // The case's own inputs (ROI pooling needs real regions, not random numbers).
      const inputs = (JSON.parse(fs.readFileSync(path.join(c, 'case.json'), 'utf8')).inputs ?? []) as { blob: string; file: string }[];
      const inputFlags = inputs.flatMap((i) => ['--input', `${i.blob}=${path.join(c, i.file)}`]);
      const r = bnc(['convert', 'caffe-to-onnx', path.join(c, 'net.prototxt'), '-o', out, '--verify', '--force', '--json', ...inputFlags]);
      if (r.code !== 0) failed.push(`${path.basename(c)}: exit ${r.code} ${r.stdout.slice(0, 300)}${r.stderr.slice(0, 300)}`);
    }
    expect(failed).toEqual([]);
  }, 600_000);
});
