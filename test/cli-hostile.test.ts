import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { writeFileAtomic } from '../src/io/atomicWrite.js';
import { REPO } from './helpers/cli.js';
import { runInProcess } from './fuzz/inProcess.js';

// The CLI contract for CI use: --json gives exactly one object on stdout for every command, success or
// failure (usage errors included); no command overwrites a file without --force; a write that dies midway
// leaves no output file (and no temporary file) and the input intact.

// Faults injected into the file system and the ONNX writer, off unless a test switches them on.
const faults = vi.hoisted(() => ({
  writeFileSync: undefined as undefined | ((file: string, data: unknown) => void),
  renameSync: undefined as undefined | (() => void),
  serialize: undefined as undefined | (() => void),
}));

vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  const writeFileSync = ((file: fs.PathOrFileDescriptor, data: string | NodeJS.ArrayBufferView, ...rest: unknown[]) => {
    if (faults.writeFileSync && typeof file === 'string' && file.endsWith('.tmp')) return faults.writeFileSync(file, data);
    return (real.writeFileSync as (...a: unknown[]) => void)(file, data, ...rest);
  }) as typeof real.writeFileSync;
  // Models are written piece by piece through a file descriptor: the same fault applies to those writes.
  const tempFiles = new Map<number, string>();
  const openSync = ((file: fs.PathLike, ...rest: unknown[]) => {
    const fd = (real.openSync as (...a: unknown[]) => number)(file, ...rest);
    if (typeof file === 'string' && file.endsWith('.tmp')) tempFiles.set(fd, file);
    return fd;
  }) as typeof real.openSync;
  const closeSync = ((fd: number) => {
    tempFiles.delete(fd);
    return real.closeSync(fd);
  }) as typeof real.closeSync;
  const writeSync = ((fd: number, buffer: Uint8Array, ...rest: unknown[]) => {
    const file = tempFiles.get(fd);
    if (faults.writeFileSync && file) {
      const offset = Number(rest[0] ?? 0);
      return faults.writeFileSync(file, buffer.subarray(offset, offset + Number(rest[1] ?? buffer.length - offset)));
    }
    return (real.writeSync as (...a: unknown[]) => number)(fd, buffer, ...rest);
  }) as typeof real.writeSync;
  const renameSync = ((from: fs.PathLike, to: fs.PathLike) => {
    faults.renameSync?.();
    return real.renameSync(from, to);
  }) as typeof real.renameSync;
  const mocked = { writeFileSync, openSync, closeSync, writeSync, renameSync };
  return { ...real, default: { ...real, ...mocked }, ...mocked };
});

vi.mock('../src/formats/onnx/writer.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../src/formats/onnx/writer.js')>();
  return {
    ...real,
    serializeOnnx: (...args: Parameters<typeof real.serializeOnnx>) => {
      faults.serialize?.();
      return real.serializeOnnx(...args);
    },
    serializeOnnxChunks: (...args: Parameters<typeof real.serializeOnnxChunks>) => {
      faults.serialize?.();
      return real.serializeOnnxChunks(...args);
    },
  };
});

const ONNX = path.join(REPO, 'fixtures/onnx/small_cnn.onnx');
const PROTOTXT = path.join(REPO, 'fixtures/caffe/small_bn_net.prototxt');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-hostile-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

let dir = '';
let caseNumber = 0;
beforeEach(() => {
  faults.writeFileSync = faults.renameSync = faults.serialize = undefined;
  dir = path.join(work, `case${caseNumber++}`);
  fs.mkdirSync(dir);
});

const bnc = (...args: string[]) => runInProcess(args, { CI: '1', NO_COLOR: '1' });

/** stdout must be exactly one JSON object (pretty-printed or not) and nothing else. */
function oneJsonObject(stdout: string): Record<string, unknown> {
  const value = JSON.parse(stdout) as unknown;
  expect(typeof value === 'object' && value !== null && !Array.isArray(value)).toBe(true);
  expect(stdout.trim().startsWith('{') && stdout.trim().endsWith('}')).toBe(true);
  return value as Record<string, unknown>;
}

const filesIn = (d: string) => fs.readdirSync(d).sort();

describe('--json: one object on stdout for every command', () => {
  const out = () => path.join(dir, 'out.onnx');
  const unwritten = () => path.join(dir, 'unwritten.onnx');
  const commands: { name: string; ok: () => string[]; badFile: () => string[]; usage: string[][] }[] = [
    { name: 'inspect', ok: () => ['inspect', ONNX], badFile: () => ['inspect', path.join(dir, 'missing.onnx')], usage: [['inspect'], ['inspect', ONNX, '--bogus']] },
    {
      name: 'optimize',
      ok: () => ['optimize', ONNX, '-o', out(), '--passes', 'fold-bn'],
      badFile: () => ['optimize', path.join(dir, 'missing.onnx'), '-o', unwritten()],
      usage: [['optimize', ONNX], ['optimize', ONNX, '-o', 'x.onnx', '--passes', 'no-such-pass']],
    },
    {
      name: 'fold-bn',
      ok: () => ['fold-bn', ONNX, '-o', out(), '--verify'],
      badFile: () => ['fold-bn', PROTOTXT.replace('.prototxt', '_missing.prototxt'), '-o', unwritten()],
      usage: [['fold-bn', ONNX], ['fold-bn', ONNX, '-o', 'x.onnx', '--samples', 'zero']],
    },
    {
      name: 'verify',
      ok: () => ['verify', ONNX, ONNX],
      badFile: () => ['verify', ONNX, path.join(dir, 'missing.onnx')],
      usage: [['verify', ONNX], ['verify', ONNX, ONNX, '--rtol', 'abc']],
    },
    { name: 'run', ok: () => ['run', ONNX], badFile: () => ['run', path.join(dir, 'missing.onnx')], usage: [['run'], ['run', ONNX, '--seed', '-3']] },
    {
      name: 'convert caffe-to-onnx',
      ok: () => ['convert', 'caffe-to-onnx', PROTOTXT, '-o', out(), '--verify'],
      badFile: () => ['convert', 'caffe-to-onnx', path.join(dir, 'missing.prototxt'), '-o', unwritten()],
      usage: [['convert', 'caffe-to-onnx', PROTOTXT], ['convert', 'caffe-to-onnx', PROTOTXT, '-o', 'x.onnx', '--opset', '7']],
    },
  ];

  for (const c of commands) {
    it(`${c.name}: success, a bad file and usage errors each give exactly one object`, async () => {
      const ok = await bnc(...c.ok(), '--json');
      expect(ok.code, ok.stderr).toBe(0);
      expect(oneJsonObject(ok.stdout).error).toBeUndefined();

      const bad = await bnc(...c.badFile(), '--json');
      expect(bad.code).toBe(2);
      const error = oneJsonObject(bad.stdout).error as { code: string; message: string; file?: string };
      expect(error.code).toBe('NOT_FOUND');
      expect(error.file).toContain('missing');
      expect(error.message).toContain(error.file!);

      for (const args of c.usage) {
        const usage = await bnc(...args, '--json');
        expect(usage.code, args.join(' ')).toBe(2);
        const e = oneJsonObject(usage.stdout).error as { code: string; message: string };
        expect(e.code).toBe('USAGE');
        expect(e.message.length).toBeGreaterThan(5);
      }
    });
  }

  it('a command that is not there, with --json, still gives one object', async () => {
    const r = await bnc('no-such-command', '--json');
    expect(r.code).toBe(2);
    expect((oneJsonObject(r.stdout).error as { code: string }).code).toBe('USAGE');
  });

  it('without --json, errors are one line on stderr and stdout stays empty', async () => {
    const r = await bnc('run', path.join(dir, 'missing.onnx'));
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toEqual([`bnc: error: ${path.join(dir, 'missing.onnx')}: no such file`]);
  });
});

describe('no command overwrites a file without --force', () => {
  it('optimize, fold-bn and convert refuse an existing -o, and replace it with --force', async () => {
    const target = path.join(dir, 'existing.onnx');
    for (const args of [
      ['optimize', ONNX, '-o', target],
      ['fold-bn', ONNX, '-o', target],
      ['convert', 'caffe-to-onnx', PROTOTXT, '-o', target],
    ]) {
      fs.writeFileSync(target, 'keep me');
      const refused = await bnc(...args);
      expect(refused.code, args[0]).toBe(2);
      expect(refused.stderr).toContain('already exists; pass --force');
      expect(fs.readFileSync(target, 'utf8')).toBe('keep me');
      const forced = await bnc(...args, '--force');
      expect(forced.code, forced.stderr).toBe(0);
      expect(fs.readFileSync(target).subarray(0, 7).toString()).not.toBe('keep me');
    }
    expect(filesIn(dir)).toEqual(['existing.onnx']);
  });

  it('no command writes over its input unless forced', async () => {
    const input = path.join(dir, 'model.onnx');
    fs.copyFileSync(ONNX, input);
    const before = fs.readFileSync(input);
    for (const cmd of ['optimize', 'fold-bn']) {
      const r = await bnc(cmd, input, '-o', input);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('would overwrite the input');
    }
    expect(fs.readFileSync(input).equals(before)).toBe(true);
  });

  it('run --save-outputs and verify --save-inputs refuse existing files', async () => {
    const saved = path.join(dir, 'outs');
    expect((await bnc('run', ONNX, '--save-outputs', saved)).code).toBe(0);
    const npy = path.join(saved, filesIn(saved)[0]!);
    const first = fs.readFileSync(npy);
    const again = await bnc('run', ONNX, '--save-outputs', saved, '--seed', '5');
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already exists; pass --force');
    expect(fs.readFileSync(npy).equals(first)).toBe(true);
    expect((await bnc('run', ONNX, '--save-outputs', saved, '--seed', '5', '--force')).code).toBe(0);
    expect(fs.readFileSync(npy).equals(first)).toBe(false);

    const inputs = path.join(dir, 'ins');
    expect((await bnc('verify', ONNX, ONNX, '--save-inputs', inputs)).code).toBe(0);
    const refused = await bnc('verify', ONNX, ONNX, '--save-inputs', inputs);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('already exists; pass --force');
    expect((await bnc('verify', ONNX, ONNX, '--save-inputs', inputs, '--force')).code).toBe(0);
  });
});

describe('a write that dies midway leaves nothing behind', () => {
  it('writeFileAtomic: a throwing producer creates no file and keeps an existing one', () => {
    const target = path.join(dir, 'a.bin');
    expect(() => writeFileAtomic(target, () => { throw new Error('producer died'); })).toThrow('producer died');
    expect(filesIn(dir)).toEqual([]);
    fs.writeFileSync(target, 'old');
    expect(() => writeFileAtomic(target, () => { throw new Error('producer died'); }, { force: true })).toThrow('producer died');
    expect(filesIn(dir)).toEqual(['a.bin']);
    expect(fs.readFileSync(target, 'utf8')).toBe('old');
  });

  it('fold-bn with the disk filling up halfway through the write: clean error, no output, no temp file, input intact', async () => {
    const input = path.join(dir, 'model.onnx');
    fs.copyFileSync(ONNX, input);
    const before = fs.readFileSync(input);
    faults.writeFileSync = (file, data) => {
      // Half the bytes reach the disk, then the device is full.
      const bytes = data as Uint8Array;
      fs.appendFileSync(file, bytes.subarray(0, bytes.length >> 1));
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    };
    const out = path.join(dir, 'folded.onnx');
    const r = await bnc('fold-bn', input, '-o', out);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`bnc: error: ${out}: cannot write the file (ENOSPC); nothing was written`);
    expect(filesIn(dir)).toEqual(['model.onnx']);
    expect(fs.readFileSync(input).equals(before)).toBe(true);
  });

  it('convert with the rename failing: no output, no temp file', async () => {
    faults.renameSync = () => {
      throw Object.assign(new Error('EXDEV: cross-device link not permitted'), { code: 'EXDEV' });
    };
    const out = path.join(dir, 'net.onnx');
    const r = await bnc('convert', 'caffe-to-onnx', PROTOTXT, '-o', out, '--json');
    expect(r.code).toBe(2);
    expect((oneJsonObject(r.stdout).error as { code: string }).code).toBe('WRITE_FAILED');
    expect(filesIn(dir)).toEqual([]);
  });

  it('optimize with the serializer crashing inside the atomic write: no output, existing file kept with --force', async () => {
    faults.serialize = () => {
      throw new Error('simulated crash in the ONNX writer');
    };
    const out = path.join(dir, 'opt.onnx');
    fs.writeFileSync(out, 'previous result');
    const r = await bnc('optimize', ONNX, '-o', out, '--force');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('simulated crash in the ONNX writer');
    expect(filesIn(dir)).toEqual(['opt.onnx']);
    expect(fs.readFileSync(out, 'utf8')).toBe('previous result');
  });

  it('run --save-outputs failing on its write leaves no .npy and no temp file', async () => {
    faults.writeFileSync = () => {
      throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
    };
    const saved = path.join(dir, 'outs');
    const r = await bnc('run', ONNX, '--save-outputs', saved);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^bnc: error: .*logits\.npy: cannot write the file \(EIO\)/);
    expect(filesIn(saved)).toEqual([]);
  });
});
