import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: plain ESM script shared with `npm run sweep`, no type declarations
import { CONFORMANCE_DATA, COMMANDS, Worker, judgeRun, listModels, runSweep } from '../scripts/sweep-lib.mjs';

// The bounded slice of `npm run sweep` that runs in `npm test`: every command on the fixtures, the small
// shared models and every 12th ONNX conformance model, in worker processes on the built CLI (dist/ is
// compiled by test/setup/build.ts) with a time bound per run. No run may end in an internal error, a
// crash or a hang.

interface Model {
  group: string;
  name: string;
  file: string;
}
interface Result extends Model {
  command: string;
  verdict: 'ok' | 'clean' | 'internal' | 'crash' | 'hang';
  message: string;
  model: string;
}

const BOUND_MS = 30_000;
const models = listModels() as Model[];
const sizeOk = (m: Model) => {
  const dir = path.dirname(m.file);
  const weights = path.join(dir, 'net.caffemodel');
  return fs.statSync(m.file).size + (fs.existsSync(weights) ? fs.statSync(weights).size : 0) < 1_000_000;
};
const conformance = models.filter((m) => m.file.startsWith(CONFORMANCE_DATA));
const slice = [
  ...models.filter((m) => !m.file.startsWith(CONFORMANCE_DATA) && sizeOk(m)),
  ...conformance.filter((_, i) => i % 12 === 0),
];

function failures(results: Result[]): string {
  return results
    .filter((r) => r.verdict !== 'ok' && r.verdict !== 'clean')
    .map((r) => `${r.verdict} ${r.command} ${r.file}: ${r.message}`)
    .join('\n');
}

describe('sweep: judging a run', () => {
  const file = '/m/model.onnx';
  it('exit 0 is ok; exit 1 (verification failed) and exit 2 with one error line naming the file are clean', () => {
    expect(judgeRun({ code: 0, stderr: '' }, file).verdict).toBe('ok');
    expect(judgeRun({ code: 2, stderr: `bnc: error: ${file}: node "a" (Foo): unsupported op\n` }, file).verdict).toBe('clean');
    expect(judgeRun({ code: 1, stderr: 'warning: x\nbnc: error: model.onnx: outputs differ\n' }, file).verdict).toBe('clean');
    expect(judgeRun({ code: 1, stderr: "warning: output 'y' is constant\n" }, file).verdict).toBe('clean');
  });
  it('internal errors, stack traces, messages without the file, other exit codes and timeouts are failures', () => {
    expect(judgeRun({ code: 2, stderr: 'bnc: internal error: x is undefined (run with --debug for details)\n' }, file).verdict).toBe('internal');
    expect(judgeRun({ code: 2, stderr: 'bnc: error: something failed\n' }, file).verdict).toBe('crash');
    expect(judgeRun({ code: 2, stderr: `bnc: error: ${file}: x\n    at f (/a/b.js:1:2)\n` }, file).verdict).toBe('crash');
    expect(judgeRun({ code: 134, signal: 'SIGABRT', stderr: 'FATAL ERROR: heap limit\n' }, file).verdict).toBe('crash');
    expect(judgeRun({ code: null, timedOut: true, stderr: '' }, file).verdict).toBe('hang');
  });
});

describe('sweep: the time bound', () => {
  const big = models.find((m) => !sizeOk(m) && m.file.endsWith('.onnx'));
  it.skipIf(!big)('a run past the bound is killed and reported as a hang; the next run gets a fresh worker', async () => {
    const w = new Worker(0, { timeoutMs: 20 });
    try {
      expect((await w.run(['run', big!.file])).timedOut).toBe(true);
      w.options.timeoutMs = BOUND_MS;
      const fixture = models.find((m) => m.group === 'fixtures')!;
      expect(judgeRun(await w.run(['inspect', fixture.file]), fixture.file).verdict).toBe('ok');
    } finally {
      w.stop();
    }
  });
});

describe('sweep: slice', () => {
  it(`${slice.length} models x ${COMMANDS.length} commands: no internal error, crash or hang`, async () => {
    const results = (await runSweep(slice, { timeoutMs: BOUND_MS, jobs: 1 })) as Result[];
    expect(results.length).toBe(slice.length * COMMANDS.length);
    expect(failures(results)).toBe('');
    // The judge saw both outcomes (a slice where everything is refused, or nothing is, tests nothing).
    expect(results.some((r) => r.verdict === 'ok')).toBe(true);
    if (conformance.length) expect(results.some((r) => r.verdict === 'clean')).toBe(true);
  }, 240_000);
});
