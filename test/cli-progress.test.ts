import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProgressBar, ProgressStream, progressColor, progressReporter, shouldShowProgress } from '../src/cli/progress.js';
import { REPO } from './helpers/cli.js';
import { runInProcess } from './fuzz/inProcess.js';

/** A stream that records what is written, posing as a terminal of `columns` columns (or not). */
function fakeStream(isTTY: boolean, columns = 80): ProgressStream & { text: string[] } {
  const text: string[] = [];
  return { isTTY, columns, text, write: (s: string) => text.push(s) };
}

const stripClear = (s: string) => s.replace('\r\u001b[K', '');

describe('when a progress bar is shown', () => {
  const tty = fakeStream(true);
  it('on a terminal with no CI, --json or --quiet', () => {
    expect(shouldShowProgress(tty, { env: {} })).toBe(true);
    expect(shouldShowProgress(tty, { env: { CI: 'false' } })).toBe(true);
    expect(shouldShowProgress(tty, { env: { CI: '0' } })).toBe(true);
  });
  it('not off a terminal (pipes, log files)', () => {
    expect(shouldShowProgress(fakeStream(false), { env: {} })).toBe(false);
    expect(shouldShowProgress({ write: () => true }, { env: {} })).toBe(false);
  });
  it('not in CI, with --json, with --quiet, or on a dumb terminal', () => {
    expect(shouldShowProgress(tty, { env: { CI: 'true' } })).toBe(false);
    expect(shouldShowProgress(tty, { env: { CI: '1' } })).toBe(false);
    expect(shouldShowProgress(tty, { env: {}, json: true })).toBe(false);
    expect(shouldShowProgress(tty, { env: {}, quiet: true })).toBe(false);
    expect(shouldShowProgress(tty, { env: { TERM: 'dumb' } })).toBe(false);
  });
  it('colored only on a terminal without NO_COLOR (any value, even empty)', () => {
    expect(progressColor(tty, {})).toBe(true);
    expect(progressColor(tty, { NO_COLOR: '' })).toBe(false);
    expect(progressColor(tty, { NO_COLOR: '1' })).toBe(false);
    expect(progressColor(fakeStream(false), {})).toBe(false);
  });
  it('progressReporter gives no callback when no bar is shown', () => {
    const off = progressReporter('run', { env: {} }, fakeStream(false));
    expect(off.onProgress).toBeUndefined();
    off.finish();
    const on = progressReporter('run', { env: {} }, fakeStream(true));
    expect(on.onProgress).toBeTypeOf('function');
  });
});

describe('the bar on a fake terminal', () => {
  it('draws label, bar and counts, throttled by the clock, always drawing the last step', () => {
    const stream = fakeStream(true);
    let now = 0;
    const bar = new ProgressBar(stream, 'run', { now: () => now, intervalMs: 50 });
    bar.update(1, 4);
    now = 10;
    bar.update(2, 4); // within the interval: skipped
    now = 60;
    bar.update(3, 4);
    now = 61;
    bar.update(4, 4); // complete: drawn at once
    expect(stream.text.length).toBe(3);
    expect(stream.text.every((t) => t.startsWith('\r\u001b[K'))).toBe(true);
    expect(stripClear(stream.text[0]!)).toMatch(/^run [█░]+ 1\/4 25%$/);
    expect(stripClear(stream.text[2]!)).toMatch(/^run █+ 4\/4 100%$/);
    bar.finish();
    expect(stream.text.at(-1)).toBe('\r\u001b[K');
  });

  it('fills in proportion and fits a narrow terminal', () => {
    const bar = new ProgressBar(fakeStream(true, 30), 'verify');
    const line = bar.render(1, 2);
    expect(line.length).toBeLessThanOrEqual(30);
    const filled = [...line].filter((c) => c === '█').length;
    const empty = [...line].filter((c) => c === '░').length;
    expect(filled).toBe(empty);
    expect(line).not.toContain('\u001b[');
    expect(new ProgressBar(fakeStream(true), 'x', { color: true }).render(1, 2)).toContain('\u001b[36m');
  });

  it('erases nothing when nothing was drawn', () => {
    const stream = fakeStream(true);
    new ProgressBar(stream, 'run').finish();
    expect(stream.text).toEqual([]);
  });
});

describe('commands draw the bar on stderr only for a person at a terminal', () => {
  const model = path.join(REPO, 'fixtures/onnx/small_cnn.onnx');
  async function runWithTty(args: string[], env: Record<string, string | undefined>): Promise<{ stderr: string; stdout: string; code: number | null }> {
    const saved = process.stderr.isTTY;
    process.stderr.isTTY = true;
    try {
      return await runInProcess(args, env);
    } finally {
      process.stderr.isTTY = saved;
    }
  }

  it('bnc run and bnc verify --samples 3 show it on a TTY and erase it', async () => {
    for (const args of [['run', model], ['verify', model, model, '--samples', '3']]) {
      const r = await runWithTty(args, { CI: undefined, NO_COLOR: '1' });
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/\r\u001b\[K(run|verify) █+ \d+\/\d+ 100%/);
      expect(r.stderr.endsWith('\r\u001b[K')).toBe(true);
      expect(r.stderr).not.toContain('\u001b[36m'); // NO_COLOR
      expect(r.stdout).not.toContain('█');
    }
  });

  it('no bar with CI set, --json or --quiet, nor off a terminal', async () => {
    for (const [args, env] of [
      [['run', model], { CI: 'true' }],
      [['run', model, '--json'], { CI: undefined }],
      [['--quiet', 'run', model], { CI: undefined }],
    ] as const) {
      const r = await runWithTty([...args], env);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe('');
    }
    const piped = await runInProcess(['run', model], { CI: undefined });
    expect(piped.stderr).toBe('');
  });
});
