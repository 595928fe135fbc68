/**
 * An error caused by the model or the user's input, not by a bug in bnc. `exitCode` is 2 (bad input or
 * usage) unless said otherwise; `file` names the file it is about when known. The CLI prints these as
 * one line; anything else is a bug and gets a stack trace only with --debug.
 */
export class BncError extends Error {
  readonly exitCode: number;
  file?: string;
  readonly code: string;

  constructor(message: string, options: { code?: string; file?: string; exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'BncError';
    this.code = options.code ?? 'BAD_INPUT';
    this.file = options.file;
    this.exitCode = options.exitCode ?? 2;
  }
}

/** Attach the file name to a BncError raised below the layer that knows which file it was reading. */
export function withFile<T>(file: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    // Usage errors are about the command line, not the file.
    if (e instanceof BncError && !e.file && e.code !== 'USAGE') e.file = file;
    throw e;
  }
}
