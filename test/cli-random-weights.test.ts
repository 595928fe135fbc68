import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO, bnc } from './helpers/cli.js';

// A prototxt without its caffemodel: the reader's "no weights given" message advises --random-weights,
// so every command that opens a model must take that flag (found by `npm run sweep` on
// ../shared/models/caffe/resnet50_prototxt_only, where inspect, optimize, fold-bn and run said
// "unknown option '--random-weights'").

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-random-weights-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const prototxt = path.join(dir, 'net.prototxt');
fs.copyFileSync(path.join(REPO, 'fixtures/caffe/small_bn_net.prototxt'), prototxt);
const out = path.join(dir, 'out.onnx');

const COMMANDS: string[][] = [
  ['inspect', prototxt],
  ['optimize', prototxt, '-o', out, '-f', '--passes', 'fold-bn'],
  ['fold-bn', prototxt, '-o', out, '-f', '--verify'],
  ['run', prototxt],
];

describe('--random-weights on every command that opens a Caffe net', () => {
  for (const args of COMMANDS) {
    it(`${args[0]}: the advice of the no-weights error works`, () => {
      const refused = bnc(args);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/no weights given: .*--random-weights/);
      const r = bnc([...args, '--random-weights']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
    });
  }

  it('inspect --random-weights shows the same net as with the trained caffemodel, parameters included', () => {
    const a = JSON.parse(bnc(['inspect', prototxt, '--random-weights', '--json']).stdout);
    const b = JSON.parse(bnc(['inspect', prototxt, '--weights', path.join(REPO, 'fixtures/caffe/small_bn_net.caffemodel'), '--json']).stdout);
    for (const key of ['inputs', 'outputs', 'nodeCount', 'opHistogram', 'parameterCount', 'batchNorm']) expect(a[key]).toEqual(b[key]);
    expect(a.parameterCount).toBeGreaterThan(0);
  });

  it('refuses --random-weights with --weights, and on an ONNX model, naming the flag', () => {
    const both = bnc(['inspect', prototxt, '--random-weights', '--weights', path.join(REPO, 'fixtures/caffe/small_bn_net.caffemodel')]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/^bnc: error: --random-weights and --weights .* were both given; choose one\n$/);
    const onnx = path.join(REPO, 'fixtures/onnx/small_cnn.onnx');
    const r = bnc(['run', onnx, '--random-weights']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${onnx}: --random-weights applies to Caffe nets (.prototxt) only`);
  });
});
