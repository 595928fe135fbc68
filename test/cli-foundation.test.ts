import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import onnxProto from 'onnx-proto';
import { beforeAll, describe, expect, it } from 'vitest';
import { bnc } from './helpers/cli.js';
import { HAVE_SHARED, SHARED_MODELS, SKIP_SHARED_MESSAGE } from './helpers/shared.js';

const { onnx } = onnxProto;

// A tiny valid model encoded by onnx-proto (independent of bnc's writer): y = Relu(x) -> Sigmoid.
function tinyModel(mutate?: (g: Record<string, unknown[]>) => void): Uint8Array {
  const vi = (name: string) => ({ name, type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 1 }, { dimValue: 4 }] } } } });
  const graph: Record<string, unknown[]> & { name?: string } = {
    node: [
      { name: 'relu', opType: 'Relu', input: ['x'], output: ['h'] },
      { name: 'sig', opType: 'Sigmoid', input: ['h'], output: ['y'] },
    ],
    input: [vi('x')],
    output: [vi('y')],
  };
  mutate?.(graph);
  return onnx.ModelProto.encode({ irVersion: 7, opsetImport: [{ domain: '', version: 13 }], graph: { name: 'tiny', ...graph } }).finish();
}

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-cli-'));
});

function file(name: string, bytes: Uint8Array | string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, bytes);
  return p;
}

function expectCleanFailure(r: { code: number; stderr: string; stdout: string }, pattern: RegExp): void {
  expect(r.code).toBe(2);
  const lines = r.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
}

describe('bnc CLI: basics', () => {
  it('--help lists the commands and the exit codes', () => {
    const r = bnc(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/inspect/);
    expect(r.stdout).toMatch(/Exit codes/);
  });

  it('inspect --json reports the tiny model', () => {
    const r = bnc(['inspect', file('tiny.onnx', tinyModel()), '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.nodeCount).toBe(2);
    expect(s.opHistogram).toEqual({ Relu: 1, Sigmoid: 1 });
    expect(s.inputs).toEqual([{ name: 'x', dtype: 'float', shape: [1, 4] }]);
  });

  it('optimize --passes none writes a model that reads back identical', () => {
    const input = file('rt.onnx', tinyModel());
    const out = path.join(dir, 'rt-out.onnx');
    const r = bnc(['optimize', input, '-o', out, '--passes', 'none']);
    expect(r.code).toBe(0);
    const a = onnx.ModelProto.decode(fs.readFileSync(input)).toJSON();
    const b = onnx.ModelProto.decode(fs.readFileSync(out)).toJSON();
    expect(b).toEqual(a);
  });
});

describe('bnc CLI: bad input gives one line, exit 2, and no output file', () => {
  const cases: [string, () => string, RegExp][] = [
    ['a missing file', () => path.join(dir, 'nope.onnx'), /nope\.onnx: no such file/],
    ['a directory', () => fs.mkdtempSync(path.join(dir, 'd-')) + '.onnx/', /is a directory/],
    ['an empty file', () => file('empty.onnx', ''), /empty\.onnx: the file is empty/],
    ['a truncated model', () => file('trunc.onnx', tinyModel().subarray(0, 50)), /trunc\.onnx: .*(truncated|corrupt|not a valid)/],
    ['a graph with a cycle', () => file('cycle.onnx', tinyModel((g) => ((g.node![0] as { input: string[] }).input = ['y']))), /cycle\.onnx: .*cycle/],
    ['a dangling input', () => file('dangle.onnx', tinyModel((g) => ((g.node![1] as { input: string[] }).input = ['ghost']))), /dangle\.onnx: .*'ghost'.*dangling/],
    ['random bytes', () => file('noise.onnx', Uint8Array.from({ length: 300 }, (_, i) => (i * 7919 + 13) % 251)), /noise\.onnx: /],
  ];
  for (const [what, make, pattern] of cases) {
    it(what, () => {
      let input = make();
      if (what === 'a directory') {
        input = input.replace(/\.onnx\/$/, '');
      }
      const out = path.join(dir, `out-${what.replace(/\W/g, '_')}.onnx`);
      expectCleanFailure(bnc(['inspect', input]), pattern);
      const r = bnc(['optimize', input, '-o', out, '--passes', 'none']);
      expectCleanFailure(r, pattern);
      expect(fs.existsSync(out)).toBe(false);
      expect(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    });
  }

  it('bit flips never crash: every flipped byte gives exit 0 or a one-line error', () => {
    const good = tinyModel();
    for (let i = 0; i < good.length; i += 3) {
      const bad = Uint8Array.from(good);
      bad[i] ^= 0x5a;
      const r = bnc(['inspect', file('flip.onnx', bad), '--json']);
      expect([0, 2]).toContain(r.code);
      const obj = JSON.parse(r.stdout);
      if (r.code === 2) expect(obj.error.message).toMatch(/flip\.onnx/);
    }
  });

  it('refuses to overwrite the input, and an existing output, without --force', () => {
    const input = file('keep.onnx', tinyModel());
    const before = fs.readFileSync(input);
    expectCleanFailure(bnc(['optimize', input, '-o', input, '--passes', 'none']), /overwrite the input/);
    expect(fs.readFileSync(input).equals(before)).toBe(true);
    const existing = file('exists.onnx', 'keep me');
    expectCleanFailure(bnc(['optimize', input, '-o', existing, '--passes', 'none']), /already exists.*--force/);
    expect(fs.readFileSync(existing, 'utf8')).toBe('keep me');
    expect(bnc(['optimize', input, '-o', existing, '--passes', 'none', '--force']).code).toBe(0);
  });

  it('--json errors are one object on stdout', () => {
    const r = bnc(['inspect', path.join(dir, 'missing.onnx'), '--json']);
    expect(r.code).toBe(2);
    const obj = JSON.parse(r.stdout);
    expect(obj.error.code).toBe('NOT_FOUND');
    expect(obj.error.file).toMatch(/missing\.onnx$/);
  });

  it('an unknown option is a usage error with exit 2', () => {
    expect(bnc(['inspect', '--no-such-flag', 'x.onnx']).code).toBe(2);
  });
});

describe.skipIf(!HAVE_SHARED)(`inspect on the shared MobileNet v2 ${HAVE_SHARED ? '' : SKIP_SHARED_MESSAGE}`, () => {
  it('counts nodes and op types as an independent ONNX decoder does', () => {
    const file = path.join(SHARED_MODELS, 'onnx/mobilenet_v2/model.onnx');
    const r = bnc(['inspect', file, '--json']);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    const decoded = onnx.ModelProto.decode(fs.readFileSync(file));
    const hist: Record<string, number> = {};
    for (const n of decoded.graph!.node!) hist[n.opType!] = (hist[n.opType!] ?? 0) + 1;
    expect(s.nodeCount).toBe(decoded.graph!.node!.length);
    expect(s.opHistogram).toEqual(hist);
    expect(s.batchNorm).toMatchObject({ count: 52, foldable: 52 });
  });
});
