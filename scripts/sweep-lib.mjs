// Shared by the full sweep (scripts/sweep.mjs) and its in-process slice in `npm test`
// (test/sweep.test.ts): which models are swept, which commands run on each, and how a run is judged.
import { fork } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
export const SHARED_MODELS = path.resolve(REPO, '..', 'shared', 'models');
export const CONFORMANCE_DATA = '/usr/share/libonnx-testdata/data';
export const CONFORMANCE_SETS = ['node', 'pytorch-converted', 'pytorch-operator', 'simple'];

/** Every pass, in the order the sweep's "all passes" optimize runs them. */
export const ALL_PASSES = 'fold-constants,bn-eval,merge-bn-scale,fold-bn,bn-to-affine,cleanup';
const PASS_NAMES = ALL_PASSES.split(',');

/** The commands the sweep runs, by the label used in its counts. */
export const COMMANDS = ['inspect', 'optimize-none', 'optimize-all', 'fold-bn', 'fold-bn-verify', 'run'];
/**
 * More that `--commands` can ask for: the --json forms, `run` on two threads, `verify` of a model against
 * itself, `convert caffe-to-onnx --verify` (Caffe nets; an ONNX model is skipped as ok), `run` on what
 * every pass wrote (optimize-all-run), and `optimize` with each pass alone (pass-<name>).
 */
export const EXTRA_COMMANDS = [
  'inspect-json', 'fold-bn-json', 'run-json', 'run-threads', 'verify-self', 'convert-verify', 'optimize-all-run',
  ...PASS_NAMES.map((p) => `pass-${p}`),
];

function sortedDirs(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}

function filesUnder(dir, test) {
  if (!fs.existsSync(dir)) return [];
  const out = [];
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (test(e.name)) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/**
 * The swept models, each `{ group, name, file }`: ../shared/models (onnx/<case>/model.onnx and
 * caffe/<case>/net.prototxt), every .onnx and .prototxt under fixtures/, and ONNX's conformance data
 * (<set>/<case>/model.onnx). Missing folders contribute nothing.
 */
export function listModels() {
  const models = [];
  for (const c of sortedDirs(path.join(SHARED_MODELS, 'onnx'))) {
    const file = path.join(SHARED_MODELS, 'onnx', c, 'model.onnx');
    if (fs.existsSync(file)) models.push({ group: 'shared-onnx', name: c, file });
  }
  for (const c of sortedDirs(path.join(SHARED_MODELS, 'caffe'))) {
    const file = path.join(SHARED_MODELS, 'caffe', c, 'net.prototxt');
    if (fs.existsSync(file)) models.push({ group: 'shared-caffe', name: c, file });
  }
  for (const file of filesUnder(path.join(REPO, 'fixtures'), (n) => n.endsWith('.onnx') || n.endsWith('.prototxt'))) {
    models.push({ group: 'fixtures', name: path.relative(path.join(REPO, 'fixtures'), file), file });
  }
  for (const set of CONFORMANCE_SETS) {
    for (const c of sortedDirs(path.join(CONFORMANCE_DATA, set))) {
      const file = path.join(CONFORMANCE_DATA, set, c, 'model.onnx');
      if (fs.existsSync(file)) models.push({ group: set, name: c, file });
    }
  }
  return models;
}

/**
 * The CLI arguments of one sweep command on `file`; `out` is where writing commands write. A prototxt
 * without its caffemodel runs with --random-weights (verify has no such flag and is refused cleanly);
 * undefined when the command does not apply to the file.
 */
export function argsFor(command, file, out) {
  const caffe = file.endsWith('.prototxt');
  const weightless = caffe && !fs.existsSync(file.replace(/\.prototxt$/, '.caffemodel'));
  const weights = weightless && command !== 'verify-self' ? ['--random-weights'] : [];
  if (command === 'optimize-all-run') return [[...baseArgsFor('optimize-all', file, out, caffe), ...weights], ['run', out]];
  if (command.startsWith('pass-')) return ['optimize', file, '-o', out, '-f', '--passes', command.slice(5), ...weights];
  const args = baseArgsFor(command, file, out, caffe);
  return args && [...args, ...weights];
}

function baseArgsFor(command, file, out, caffe) {
  switch (command) {
    case 'inspect':
      return ['inspect', file];
    case 'optimize-none':
      return ['optimize', file, '-o', out, '-f', '--passes', 'none'];
    case 'optimize-all':
      return ['optimize', file, '-o', out, '-f', '--passes', ALL_PASSES];
    case 'fold-bn':
      return ['fold-bn', file, '-o', out, '-f'];
    case 'fold-bn-verify':
      return ['fold-bn', file, '-o', out, '-f', '--verify'];
    case 'run':
      return ['run', file];
    case 'inspect-json':
      return ['inspect', file, '--json'];
    case 'fold-bn-json':
      return ['fold-bn', file, '-o', out, '-f', '--verify', '--json'];
    case 'run-json':
      return ['run', file, '--json'];
    case 'run-threads':
      return ['run', file, '--threads', '2'];
    case 'verify-self':
      return ['verify', file, file];
    case 'convert-verify':
      return caffe ? ['convert', 'caffe-to-onnx', file, '-o', out, '-f', '--verify'] : undefined;
    default:
      throw new Error(`unknown sweep command ${command}`);
  }
}

/** Verdicts, in the order the report prints them. */
export const VERDICTS = ['ok', 'clean', 'internal', 'crash', 'hang'];

/**
 * Judge one run: `ok` (exit 0), `clean` (exit 1: verification failed; exit 2 with exactly one
 * `bnc: error:` line that names the model file), `internal` (an `internal error` or `out of memory`
 * report), `crash` (anything else: another exit code, a signal, a stack trace, stray or several error
 * lines, a message that does not name the file), `hang` (no result within the time bound).
 * @param outcome `{ code, signal?, timedOut?, stderr }`
 */
export function judgeRun(outcome, file) {
  const lines = (outcome.stderr ?? '').split('\n').filter((l) => l.trim() !== '');
  let message = lines.find((l) => l.startsWith('bnc:')) ?? lines[0] ?? '';
  if (outcome.timedOut) return { verdict: 'hang', message: 'no result within the time bound' };
  if (/internal error|out of memory/.test(outcome.stderr ?? '')) return { verdict: 'internal', message };
  if (outcome.stdout !== undefined) return judgeJsonRun(outcome, file, message);
  if (outcome.code === 0 && !outcome.signal) return { verdict: 'ok', message: '' };
  // Exit 1 is a verification result (outputs differ), reported on stdout: not an error line.
  if (outcome.code === 1 && !outcome.signal && !/^\s+at .+[(:]\d+/m.test(outcome.stderr ?? '')) {
    return { verdict: 'clean', message: message || 'verification failed (exit 1)' };
  }
  const problems = [];
  if (outcome.signal) problems.push(`killed by ${outcome.signal}`);
  if (outcome.code !== 1 && outcome.code !== 2) problems.push(`exit code ${outcome.code}`);
  if (/^\s+at .+[(:]\d+/m.test(outcome.stderr ?? '')) problems.push('stack trace');
  const errors = lines.filter((l) => l.startsWith('bnc: error: '));
  if (errors.length !== 1) problems.push(`${errors.length} error lines`);
  if (lines.some((l) => !l.startsWith('bnc: error: ') && !l.startsWith('warning: ') && !l.startsWith('bnc: warning'))) {
    problems.push('stray lines on stderr');
  }
  const named = outcome.step ? path.basename(outcome.namedFile ?? 'out.onnx') : path.basename(file);
  if (!message.includes(file) && !message.includes(named)) problems.push('the message does not name the file');
  if (problems.length) return { verdict: 'crash', message: `${problems.join('; ')}: ${message}` };
  return { verdict: 'clean', message };
}

/** A --json run: stdout is one JSON object, the result or `{error: {code, message}}` (stderr: warnings only). */
function judgeJsonRun(outcome, file, stderrMessage) {
  let parsed;
  try {
    parsed = JSON.parse(outcome.stdout);
  } catch {
    return { verdict: 'crash', message: `stdout is not one JSON object (exit ${outcome.code}): ${stderrMessage}` };
  }
  const error = parsed?.error;
  if (!error) {
    if (outcome.code === 0 && !outcome.signal) return { verdict: 'ok', message: '' };
    // exit 1 of a failed --verify still prints the result object.
    if (outcome.code === 1) return { verdict: 'clean', message: `exit 1: ${stderrMessage}` };
    return { verdict: 'crash', message: `exit ${outcome.code} without an error object: ${stderrMessage}` };
  }
  const message = `bnc: ${error.code}: ${error.message}`;
  if (error.code === 'INTERNAL' || /internal error|out of memory/.test(error.message)) return { verdict: 'internal', message };
  if ((outcome.code !== 1 && outcome.code !== 2) || outcome.signal) return { verdict: 'crash', message: `exit ${outcome.code}: ${message}` };
  if (!error.message.includes(file) && !error.message.includes(path.basename(file))) {
    return { verdict: 'crash', message: `the message does not name the file: ${message}` };
  }
  return { verdict: 'clean', message };
}

/** A message with its varying parts (numbers, paths, quoted names) blanked, to group failures by kind. */
export function kindOf(message) {
  return message
    .replace(/\/[^\s:'"]+/g, '<path>')
    .replace(/"[^"]*"|'[^']*'/g, '<name>')
    .replace(/\d+(\.\d+)?(e[-+]?\d+)?/gi, 'N')
    .slice(0, 160);
}

/** One worker process; `run(args)` resolves with `{ code, signal, timedOut, stderr }`. */
export class Worker {
  constructor(index, options) {
    this.index = index;
    this.options = options;
    this.out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-sweep-')), 'out.onnx');
    this.child = undefined;
    this.jobs = 0;
  }

  async start() {
    this.jobs = 0;
    this.stderr = '';
    this.child = fork(path.join(REPO, 'scripts', 'sweep-worker.mjs'), [], {
      cwd: REPO,
      env: { ...process.env, CI: '1', NO_COLOR: '1' },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    this.child.stderr.on('data', (b) => (this.stderr += b.toString('utf8')));
    await new Promise((resolve, reject) => {
      this.child.once('message', (m) => (m.ready ? resolve() : reject(new Error('worker did not start'))));
      this.child.once('exit', (code) => reject(new Error(`worker exited with ${code} before starting:\n${this.stderr}`)));
    });
  }

  stop() {
    if (this.child && this.child.exitCode === null) this.child.kill('SIGKILL');
    this.child = undefined;
  }

  async run(args) {
    if (!this.child || this.jobs >= (this.options.recycle ?? 150)) {
      this.stop();
      await this.start();
    }
    this.jobs++;
    const child = this.child;
    this.stderr = '';
    return new Promise((resolve) => {
      let done = false;
      const finish = (outcome) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(outcome);
      };
      const onMessage = (m) => finish({ code: m.code, stderr: m.stderr, stdout: m.stdout, step: m.step });
      const onExit = (code, signal) => {
        this.child = undefined;
        finish({ code, signal, stderr: this.stderr || `worker died (exit ${code}, signal ${signal})` });
      };
      const timer = setTimeout(() => {
        this.stop();
        finish({ timedOut: true, code: null, stderr: '' });
      }, this.options.timeoutMs);
      child.on('message', onMessage);
      child.on('exit', onExit);
      child.send({ id: this.jobs, args });
    });
  }
}

/**
 * Run `commands` on every model with `jobs` worker processes (built CLI from dist/), each run bounded by
 * `timeoutMs`; returns one `{ group, model, file, command, verdict, message, ms }` per run, in queue order.
 * `onResult(result, doneCount)` sees each as it finishes.
 */
export async function runSweep(models, { commands = COMMANDS, timeoutMs = 60_000, jobs = 2 } = {}, onResult = () => undefined) {
  const queue = models.flatMap((model) => commands.map((command) => ({ model, command })));
  const results = new Array(queue.length);
  let next = 0;
  let done = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(jobs, queue.length)) }, (_, i) => new Worker(i, { timeoutMs }));
  await Promise.all(
    workers.map(async (w) => {
      try {
        while (next < queue.length) {
          const i = next++;
          const { model, command } = queue[i];
          const t0 = Date.now();
          const args = argsFor(command, model.file, w.out);
          const outcome = args ? await w.run(args) : { code: 0, stderr: '' };
          const { verdict, message } = judgeRun(outcome, model.file);
          results[i] = { group: model.group, model: model.name, file: model.file, command, verdict, message, ms: Date.now() - t0 };
          onResult(results[i], ++done);
        }
      } finally {
        w.stop();
        fs.rmSync(path.dirname(w.out), { recursive: true, force: true });
      }
    }),
  );
  return results;
}
