import { Command, CommanderError } from 'commander';
import { BncError } from '../ir/index.js';
import { registerInspect } from './commands/inspect.js';
import { registerOptimize } from './commands/optimize.js';
import { registerFoldBn } from './commands/foldBn.js';
import { registerVerify } from './commands/verify.js';
import { registerRun } from './commands/run.js';
import { registerConvert } from './commands/convert.js';
import { setWinogradWeightCache } from '../runtime/winograd.js';

export const EXIT_OK = 0;
export const EXIT_VERIFY_FAILED = 1;
export const EXIT_BAD_INPUT = 2;

const EXIT_CODES_HELP = `
Exit codes:
  0  success
  1  verification failed (outputs differ beyond tolerance)
  2  bad input or usage (missing/corrupt file, unsupported layer, bad option),
     or an internal error (reported as such; rerun with --debug and report it)`;

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('bnc')
    .description('Convert Caffe and ONNX CNNs, fold BatchNorm away, and verify the numbers did not change.')
    .version('0.1.0')
    .option('--debug', 'show stack traces for errors')
    .option('-q, --quiet', 'print nothing but errors (and the --json object)')
    .addHelpText('after', EXIT_CODES_HELP)
    .showHelpAfterError(false)
    .exitOverride();
  registerInspect(program);
  registerOptimize(program);
  registerFoldBn(program);
  registerVerify(program);
  registerRun(program);
  registerConvert(program);
  for (const c of program.commands) c.exitOverride();
  return program;
}

let epipeHandled = false;

/** Entry point: parse, run, and turn every error into one line and an exit code. Only place that exits. */
export async function main(argv: string[]): Promise<void> {
  // `bnc ... | head` closes the pipe early: stop quietly instead of dying on EPIPE. Once per process
  // (tests call main() many times in one process).
  if (!epipeHandled) {
    epipeHandled = true;
    for (const stream of [process.stdout, process.stderr]) {
      stream.on('error', (e: NodeJS.ErrnoException) => {
        if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
        throw e;
      });
    }
  }
  // A command runs each model once or a few times: Winograd weight transforms are made per layer and let
  // go, so that peak memory does not hold them all (issue targets: peak RSS ≤ 2.5× the weights).
  setWinogradWeightCache(false);
  const program = buildProgram();
  const wantsJson = argv.includes('--json');
  const debug = argv.includes('--debug');
  try {
    await program.parseAsync(argv);
  } catch (e) {
    process.exitCode = reportError(e, wantsJson, debug);
  }
}

function reportError(e: unknown, json: boolean, debug: boolean): number {
  if (e instanceof CommanderError) {
    // --help and --version end here with exit code 0; usage errors were already printed by commander.
    if (e.exitCode === 0 || e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return 0;
    if (json) printJsonError('USAGE', e.message.replace(/^error: /, ''));
    return EXIT_BAD_INPUT;
  }
  if (e instanceof BncError) {
    // Every message names the file it is about, even when raised below the layer that knew the file.
    const message = e.file && !e.message.includes(e.file) ? `${e.file}: ${e.message}` : e.message;
    if (json) printJsonError(e.code, message, e.file);
    else process.stderr.write(`bnc: error: ${oneLine(message)}\n`);
    if (debug) process.stderr.write(`${e.stack}\n`);
    return e.exitCode;
  }
  const err = e instanceof Error ? e : new Error(String(e));
  const message =
    err instanceof RangeError && /allocation|Array buffer|Invalid typed array length/i.test(err.message)
      ? `out of memory: ${err.message}`
      : `internal error: ${err.message}`;
  if (json) printJsonError('INTERNAL', message);
  else process.stderr.write(`bnc: ${message}${debug ? '' : ' (run with --debug for details)'}\n`);
  if (debug) process.stderr.write(`${err.stack}\n`);
  return EXIT_BAD_INPUT;
}

/** Messages are one line on stderr whatever the input put in them (names with newlines, ...). */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}

function printJsonError(code: string, message: string, file?: string): void {
  process.stdout.write(JSON.stringify({ error: { code, message, ...(file ? { file } : {}) } }, null, 2) + '\n');
}
