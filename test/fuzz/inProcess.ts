import { main } from '../../src/cli/main.js';
import { RunOutcome } from './harness.js';

/**
 * Run the CLI's main() in this process with stdout and stderr captured: the same code path as bin/bnc.js
 * without a process start per run, so a test can try hundreds of mutants in seconds. No time or memory
 * bound here (the spawned `npm run fuzz` has both).
 */
export async function runInProcess(args: string[], env: Record<string, string | undefined> = {}): Promise<RunOutcome> {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const writeOut = process.stdout.write;
  const writeErr = process.stderr.write;
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  const capture = (sink: string[]) =>
    ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      sink.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      callback?.();
      return true;
    }) as typeof process.stdout.write;
  process.stdout.write = capture(stdout);
  process.stderr.write = capture(stderr);
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  process.exitCode = undefined;
  try {
    await main(['node', 'bnc', ...args]);
  } catch (e) {
    // main() must never throw; if it does, report it as a crash the way node would show it.
    stderr.push(`uncaught: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 99;
  } finally {
    process.stdout.write = writeOut;
    process.stderr.write = writeErr;
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
  const code = typeof process.exitCode === 'number' ? process.exitCode : Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { code, stdout: stdout.join(''), stderr: stderr.join('') };
}
