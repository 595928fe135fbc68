// Child of scripts/sweep.mjs: runs bnc's main() (from dist/) in this process for each job the parent
// sends, with stdout and stderr captured, and sends back the exit code and stderr. The parent holds the
// time bound: it kills this process when a job runs too long and starts a new one.
import { main } from '../dist/cli/main.js';

async function runOne(args) {
  const stderr = [];
  // Only --json runs keep their stdout (one JSON object, judged by the parent).
  const keepStdout = args.includes('--json');
  const stdout = [];
  let stdoutChars = 0;
  const writeOut = process.stdout.write;
  const writeErr = process.stderr.write;
  const capture = (onChunk) =>
    (chunk, ...rest) => {
      onChunk(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      const callback = rest.find((r) => typeof r === 'function');
      callback?.();
      return true;
    };
  process.stdout.write = capture((s) => {
    stdoutChars += s.length;
    if (keepStdout && stdoutChars < 8_000_000) stdout.push(s);
  });
  process.stderr.write = capture((s) => stderr.push(s));
  process.exitCode = undefined;
  try {
    await main(['node', 'bnc', ...args]);
  } catch (e) {
    // main() must never throw: report it the way node would show an uncaught error.
    stderr.push(`uncaught: ${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 99;
  } finally {
    process.stdout.write = writeOut;
    process.stderr.write = writeErr;
  }
  const code = typeof process.exitCode === 'number' ? process.exitCode : Number(process.exitCode ?? 0);
  process.exitCode = undefined;
  return { code, stderr: stderr.join('').slice(0, 4000), stdoutChars, ...(keepStdout ? { stdout: stdout.join('') } : {}) };
}

// A job is one argument list, or several run in order until one fails (e.g. optimize, then run its output).
process.on('message', async (job) => {
  const steps = Array.isArray(job.args[0]) ? job.args : [job.args];
  let result;
  for (const [step, args] of steps.entries()) {
    result = { ...(await runOne(args)), step };
    if (result.code !== 0) break;
  }
  process.send({ id: job.id, ...result });
});
process.send({ ready: true });
