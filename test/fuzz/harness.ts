import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Mutant, Seed } from './mutants.js';

// Runs every CLI command on a mutant and judges the result against the hostile-input contract:
// exit code 0, 1 or 2; on failure one line on stderr naming the file and the problem (never an internal
// error, an out-of-memory report or a stack trace); no output or temporary file left behind on failure;
// inputs untouched; every run within a time bound (and, when spawned, a memory bound).

export type CommandName = 'inspect' | 'convert' | 'fold-bn' | 'optimize' | 'verify' | 'run';

/** What one CLI invocation did. `timedOut`/`signal` only come from a spawned run. */
export interface RunOutcome {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut?: boolean;
  signal?: string | null;
  /** Peak resident memory in bytes, when measured. */
  maxRss?: number;
}

/** Runs the CLI with these arguments (in-process or spawned). */
export type CliRunner = (args: string[]) => RunOutcome | Promise<RunOutcome>;

export type Verdict = 'accepted' | 'clean-error' | 'verify-failed' | 'crash' | 'hang';

export interface Judgement {
  mutant: string;
  format: Mutant['format'];
  kind: string;
  command: CommandName;
  verdict: Verdict;
  /** Why a run is a crash or hang (empty otherwise). */
  problems: string[];
  exitCode: number | null;
  message: string;
  args: string[];
}

export interface HarnessLimits {
  /** Peak RSS above this is a failure (spawned runs only). */
  maxRssBytes: number;
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** File name of a mutant's file: Caffe pairs share a base name so the caffemodel is found beside the prototxt. */
function fileNameOf(mutant: Mutant, role: string): string {
  const ext = role === 'onnx' ? 'onnx' : role;
  return `${mutant.name.replace(/[^A-Za-z0-9_.=-]/g, '_')}.${ext}`;
}

/** Write the mutant's files into `dir`; returns their paths by role. */
export function writeMutant(mutant: Mutant, dir: string): Record<string, string> {
  const paths: Record<string, string> = {};
  for (const f of mutant.files) {
    const p = path.join(dir, fileNameOf(mutant, f.role));
    fs.writeFileSync(p, f.bytes);
    paths[f.role] = p;
  }
  return paths;
}

/** The commands run on a mutant, with their arguments; `output` is where writing commands write. */
export function commandsFor(
  mutant: Mutant,
  paths: Record<string, string>,
  original: Record<string, string>,
  output: string,
  only?: readonly CommandName[],
): { command: CommandName; args: string[]; writes?: string }[] {
  const model = mutant.format === 'onnx' ? paths.onnx! : paths.prototxt!;
  const reference = mutant.format === 'onnx' ? original.onnx! : original.prototxt!;
  const all: { command: CommandName; args: string[]; writes?: string }[] = [
    { command: 'inspect', args: ['inspect', model] },
    { command: 'fold-bn', args: ['fold-bn', model, '-o', output], writes: output },
    { command: 'verify', args: ['verify', model, reference] },
    { command: 'run', args: ['run', model] },
  ];
  if (mutant.format === 'caffe') {
    all.push({ command: 'convert', args: ['convert', 'caffe-to-onnx', paths.prototxt!, paths.caffemodel!, '-o', output], writes: output });
  } else {
    all.push({ command: 'optimize', args: ['optimize', model, '-o', output, '--passes', 'fold-bn'], writes: output });
  }
  return only ? all.filter((c) => only.includes(c.command)) : all;
}

/** Judge one run by the contract. */
export function judge(
  outcome: RunOutcome,
  context: { mutantFiles: string[]; writes?: string; dir: string; limits?: HarnessLimits; verifies: boolean },
): { verdict: Verdict; problems: string[]; message: string } {
  const problems: string[] = [];
  const stderrLines = outcome.stderr.split('\n').filter((l) => l.trim() !== '');
  const message = stderrLines.find((l) => l.startsWith('bnc:')) ?? stderrLines[0] ?? '';
  if (outcome.timedOut) return { verdict: 'hang', problems: ['no result within the time bound'], message };
  if (outcome.signal) problems.push(`killed by ${outcome.signal}`);
  if (outcome.code !== 0 && outcome.code !== 1 && outcome.code !== 2) problems.push(`exit code ${outcome.code}`);
  if (outcome.code === 1 && !context.verifies) problems.push('exit code 1 from a command that does not verify');
  if (/^\s+at .+[(:]\d+/m.test(outcome.stderr)) problems.push('stack trace on stderr');
  if (/internal error/.test(outcome.stderr)) problems.push(`internal error: ${message}`);
  if (/out of memory/.test(outcome.stderr)) problems.push(`tried to allocate: ${message}`);
  if (context.limits && outcome.maxRss !== undefined && outcome.maxRss > context.limits.maxRssBytes) {
    problems.push(`peak memory ${(outcome.maxRss / 2 ** 20).toFixed(0)} MiB`);
  }
  if (outcome.code === 2) {
    const errors = stderrLines.filter((l) => l.startsWith('bnc:'));
    if (errors.length !== 1) problems.push(`expected one error line, got ${errors.length}`);
    else if (!errors[0]!.startsWith('bnc: error: ')) problems.push(`not a clean error line: ${errors[0]}`);
    if (stderrLines.some((l) => !l.startsWith('bnc:') && !l.startsWith('warning: '))) problems.push('stray lines on stderr');
    if (!context.mutantFiles.some((f) => message.includes(f) || message.includes(path.basename(f)))) {
      problems.push(`the message does not name the file: ${message}`);
    }
  }
  if (outcome.code !== 0 && context.writes && fs.existsSync(context.writes)) {
    problems.push(`output ${context.writes} left behind after exit ${outcome.code}`);
  }
  const temps = fs.readdirSync(context.dir).filter((f) => f.endsWith('.tmp'));
  if (temps.length) problems.push(`temporary files left: ${temps.join(', ')}`);
  if (problems.length) return { verdict: 'crash', problems, message };
  return { verdict: outcome.code === 0 ? 'accepted' : outcome.code === 1 ? 'verify-failed' : 'clean-error', problems, message };
}

/** Run every command on one mutant in `dir` (emptied first) and judge each run. */
export async function fuzzMutant(
  mutant: Mutant,
  original: Record<string, string>,
  dir: string,
  run: CliRunner,
  options: { limits?: HarnessLimits; only?: readonly CommandName[] } = {},
): Promise<Judgement[]> {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const paths = writeMutant(mutant, dir);
  const hashes = Object.values(paths).map((p) => sha(fs.readFileSync(p)));
  const output = path.join(dir, 'out.onnx');
  const judgements: Judgement[] = [];
  for (const c of commandsFor(mutant, paths, original, output, options.only)) {
    fs.rmSync(output, { force: true });
    const outcome = await run(c.args);
    const j = judge(outcome, {
      mutantFiles: Object.values(paths),
      writes: c.writes,
      dir,
      limits: options.limits,
      verifies: c.command === 'verify',
    });
    Object.values(paths).forEach((p, i) => {
      if (sha(fs.readFileSync(p)) !== hashes[i]) j.problems.push(`input ${p} was modified`);
    });
    if (j.problems.length && j.verdict !== 'hang') j.verdict = 'crash';
    judgements.push({ mutant: mutant.name, format: mutant.format, kind: mutant.kind, command: c.command, exitCode: outcome.code, args: c.args, ...j });
  }
  return judgements;
}

/** Counts for the report: per format and command, and per mutation kind. */
export interface FuzzCounts {
  mutants: number;
  runs: number;
  accepted: number;
  cleanErrors: number;
  verifyFailed: number;
  crashes: number;
  hangs: number;
}

export function tally(judgements: readonly Judgement[], key: (j: Judgement) => string): Map<string, FuzzCounts> {
  const table = new Map<string, FuzzCounts & { names: Set<string> }>();
  for (const j of judgements) {
    const k = key(j);
    let row = table.get(k);
    if (!row) table.set(k, (row = { mutants: 0, runs: 0, accepted: 0, cleanErrors: 0, verifyFailed: 0, crashes: 0, hangs: 0, names: new Set() }));
    row.names.add(j.mutant);
    row.mutants = row.names.size;
    row.runs++;
    if (j.verdict === 'accepted') row.accepted++;
    else if (j.verdict === 'clean-error') row.cleanErrors++;
    else if (j.verdict === 'verify-failed') row.verifyFailed++;
    else if (j.verdict === 'crash') row.crashes++;
    else row.hangs++;
  }
  return new Map([...table].map(([k, { names: _names, ...counts }]) => [k, counts]));
}

/** The project's fixtures as seeds. */
export function fixtureSeeds(repo: string): Seed[] {
  const read = (p: string) => new Uint8Array(fs.readFileSync(path.join(repo, p)));
  return [
    { name: 'small_cnn', format: 'onnx', files: [{ role: 'onnx', bytes: read('fixtures/onnx/small_cnn.onnx') }] },
    {
      name: 'small_bn_net',
      format: 'caffe',
      files: [
        { role: 'prototxt', bytes: read('fixtures/caffe/small_bn_net.prototxt') },
        { role: 'caffemodel', bytes: read('fixtures/caffe/small_bn_net.caffemodel') },
      ],
    },
  ];
}

/** Shared reference models as seeds (those up to `maxBytes`), or none when the folder is absent. */
export function sharedSeeds(sharedDir: string, maxBytes: number, names?: readonly string[]): Seed[] {
  if (!fs.existsSync(path.join(sharedDir, 'README.md'))) return [];
  const seeds: Seed[] = [];
  for (const kind of ['onnx', 'caffe'] as const) {
    for (const c of fs.readdirSync(path.join(sharedDir, kind)).sort()) {
      if (names && !names.includes(c)) continue;
      const dir = path.join(sharedDir, kind, c);
      const files =
        kind === 'onnx'
          ? [{ role: 'onnx' as const, file: path.join(dir, 'model.onnx') }]
          : [
              { role: 'prototxt' as const, file: path.join(dir, 'net.prototxt') },
              { role: 'caffemodel' as const, file: path.join(dir, 'net.caffemodel') },
            ];
      if (!files.every((f) => fs.existsSync(f.file))) continue;
      if (files.reduce((s, f) => s + fs.statSync(f.file).size, 0) > maxBytes) continue;
      seeds.push({ name: c, format: kind, files: files.map((f) => ({ role: f.role, bytes: new Uint8Array(fs.readFileSync(f.file)) })) });
    }
  }
  return seeds;
}

/** Write a seed unchanged (the reference `verify` compares mutants against). */
export function writeSeed(seed: Seed, dir: string): Record<string, string> {
  fs.mkdirSync(dir, { recursive: true });
  return writeMutant({ name: `${seed.name}.original`, format: seed.format, kind: 'original', files: seed.files }, dir);
}
