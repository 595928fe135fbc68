import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseOnnx, serializeOnnx } from '../../src/formats/onnx/index.js';
import { REPO } from '../helpers/cli.js';
import { runInProcess } from './inProcess.js';
import { lengthFields, setLength } from './mutants.js';

// One test per bug the fuzzer found (each was an "internal error" or an attempt to allocate), built by hand
// so it stays covered even if the random mutants change.

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-fuzz-regress-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));
const PROTOTXT = fs.readFileSync(path.join(REPO, 'fixtures/caffe/small_bn_net.prototxt'), 'utf8');
const CAFFEMODEL = fs.readFileSync(path.join(REPO, 'fixtures/caffe/small_bn_net.caffemodel'));

/** Write a Caffe pair (prototxt + caffemodel beside it) and return the prototxt path. */
function caffePair(name: string, prototxt: string, caffemodel: Uint8Array = CAFFEMODEL): string {
  fs.writeFileSync(path.join(work, `${name}.caffemodel`), caffemodel);
  const p = path.join(work, `${name}.prototxt`);
  fs.writeFileSync(p, prototxt);
  return p;
}

async function expectCleanError(args: string[], file: string, pattern: RegExp): Promise<void> {
  const r = await runInProcess(args, { CI: '1', NO_COLOR: '1' });
  expect(r.code, r.stderr).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines.length, r.stderr).toBe(1);
  expect(lines[0]!.startsWith(`bnc: error: ${file}`), lines[0]).toBe(true);
  expect(lines[0]).toMatch(pattern);
}

describe('fuzz findings stay fixed', () => {
  it('a prototxt of 100000 nested blocks: clean error, not a stack overflow', async () => {
    const p = caffePair('deep', PROTOTXT + 'x { '.repeat(100_000));
    await expectCleanError(['inspect', p], p, /nested more than 100 deep/);
  });

  it('pooling with stride 0: refused by the Caffe reader (was NaN dims reaching the ONNX writer)', async () => {
    const p = caffePair('stride0', PROTOTXT.replace('kernel_size: 3 stride: 2', 'kernel_size: 3 stride: 0'));
    await expectCleanError(['convert', 'caffe-to-onnx', p, '-o', path.join(work, 'stride0.onnx')], p, /stride \[0,0\] must be positive/);
    expect(fs.existsSync(path.join(work, 'stride0.onnx'))).toBe(false);
  });

  it('a layer with more tops than it produces: clean error (was a TypeError)', async () => {
    const p = caffePair('tops', PROTOTXT.replace('  bottom: "conv1"\n  top: "conv1"\n}\nlayer {\n  name: "pool1"', '  bottom: "conv1"\n  top: "conv1"\n  top: "extra"\n}\nlayer {\n  name: "pool1"'));
    expect(fs.readFileSync(p, 'utf8')).toContain('top: "extra"');
    await expectCleanError(['inspect', p], p, /has 2 tops, but it produces 1/);
  });

  it("a caffemodel whose layer parameters do not decode: clean error naming the caffemodel (was protobufjs' 'illegal tag')", async () => {
    // A convolution_param (field 106) appended to the first layer, holding a tag with field number 0: bnc's
    // wire walk keeps the field whole, protobufjs decodes inside it and fails.
    const bytes = new Uint8Array(CAFFEMODEL);
    const layer = lengthFields(bytes).find((f) => bytes[f.next] === 0x0a)!; // first LayerParameter: starts with its name
    const end = layer.next + layer.length;
    const extra = [0xd2, 0x06, 0x01, 0x00];
    const grown = new Uint8Array(bytes.length + extra.length);
    grown.set(bytes.subarray(0, end));
    grown.set(extra, end);
    grown.set(bytes.subarray(end), end + extra.length);
    const corrupt = setLength(grown, layer, layer.length + extra.length);
    const p = caffePair('badlayer', PROTOTXT, corrupt);
    const weights = p.replace('.prototxt', '.caffemodel');
    await expectCleanError(['inspect', p], weights, /not a readable \.caffemodel .*do not decode/);
  });

  it('a caffemodel length claiming 4 GiB: refused before allocating', async () => {
    const fields = lengthFields(new Uint8Array(CAFFEMODEL));
    const p = caffePair('huge', PROTOTXT, setLength(new Uint8Array(CAFFEMODEL), fields[0]!, 0xffffffff));
    await expectCleanError(['run', p], p.replace('.prototxt', '.caffemodel'), /runs past the end of the data/);
  });

  it('ONNX input dims whose product is huge: refused before generating the input (was an allocation failure)', async () => {
    const model = parseOnnx(fs.readFileSync(path.join(REPO, 'fixtures/onnx/small_cnn.onnx')));
    model.graph.inputs[0]!.type!.tensor!.shape = [{ value: 2 ** 33 }, { value: 3 }, { value: 65536 }, { value: 65536 }];
    const p = path.join(work, 'huge_input.onnx');
    fs.writeFileSync(p, serializeOnnx(model));
    for (const args of [['run', p], ['verify', p, p]]) {
      await expectCleanError(args, p, /declares shape \[8589934592, 3, 65536, 65536\] .* more than bnc will generate/);
    }
  });
});
