import * as fs from 'node:fs';
import * as path from 'node:path';
import { BncError } from '../ir/index.js';

export interface OutputOptions {
  /** Allow replacing an existing file (never an input unless this is set too). */
  force?: boolean;
  /** Paths of the files the command reads: writing over one of them needs force. */
  inputs?: string[];
}

/** Check an output path before any work is done, so a bad -o fails fast. */
export function checkOutputPath(out: string, options: OutputOptions = {}): void {
  const resolved = path.resolve(out);
  for (const input of options.inputs ?? []) {
    if (path.resolve(input) === resolved && !options.force) {
      throw new BncError(`${out}: the output would overwrite the input; choose another -o, or pass --force`, {
        file: out,
        code: 'OVERWRITE_INPUT',
      });
    }
  }
  if (fs.existsSync(out)) {
    if (fs.statSync(out).isDirectory()) throw new BncError(`${out}: is a directory, expected an output file path`, { file: out });
    if (!options.force) {
      throw new BncError(`${out}: already exists; pass --force to replace it`, { file: out, code: 'OUTPUT_EXISTS' });
    }
  }
  const dir = path.dirname(resolved);
  if (!fs.existsSync(dir)) throw new BncError(`${out}: folder '${dir}' does not exist`, { file: out, code: 'NOT_FOUND' });
}

/**
 * Write `data` to `out` through a temporary file in the same folder and a rename, so readers never see a
 * half-written file and a failure leaves nothing behind. `produce` may throw; then no file is created.
 */
export function writeFileAtomic(out: string, produce: () => Uint8Array | string | readonly Uint8Array[], options: OutputOptions = {}): void {
  stageFile(out, produce, options).commit();
}

/** A file written under a temporary name beside its destination, not yet renamed to it. */
export interface StagedFile {
  /** The temporary file (same folder as the destination). */
  path: string;
  /** Rename it to the destination (checked again first: see checkOutputPath). */
  commit(): void;
  /** Remove it (nothing is written). */
  discard(): void;
}

/**
 * The first half of writeFileAtomic: the data written to a temporary file beside `out`, to be read back
 * (e.g. verified) before it is committed or discarded. Write failures become BncErrors naming `out`.
 */
export function stageFile(out: string, produce: () => Uint8Array | string | readonly Uint8Array[], options: OutputOptions = {}): StagedFile {
  checkOutputPath(out, options);
  const dir = path.dirname(path.resolve(out));
  const tmp = path.join(dir, `.${path.basename(out)}.${process.pid}.${Date.now()}.tmp`);
  const failed = (e: unknown): never => {
    fs.rmSync(tmp, { force: true });
    // A failed write (disk full, permissions, folder removed) is about the file, not a bug in bnc.
    const code = (e as NodeJS.ErrnoException | undefined)?.code;
    if (e instanceof Error && !(e instanceof BncError) && typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
      throw new BncError(`${out}: cannot write the file (${code}); nothing was written`, { file: out, code: 'WRITE_FAILED', cause: e });
    }
    throw e;
  };
  try {
    const data = produce();
    if (Array.isArray(data)) writeChunks(tmp, data as readonly Uint8Array[]);
    else fs.writeFileSync(tmp, data as Uint8Array | string);
  } catch (e) {
    failed(e);
  }
  return {
    path: tmp,
    commit: () => {
      try {
        checkOutputPath(out, options);
        fs.renameSync(tmp, out);
      } catch (e) {
        failed(e);
      }
    },
    discard: () => fs.rmSync(tmp, { force: true }),
  };
}

/** Small pieces are gathered into one buffer of this size before a write; large ones are written as they are. */
const GATHER_BYTES = 1 << 16;

/** Write `chunks` one after another (no concatenation of the whole file in memory). */
function writeChunks(file: string, chunks: readonly Uint8Array[]): void {
  const fd = fs.openSync(file, 'w');
  try {
    const gather = new Uint8Array(GATHER_BYTES);
    let gathered = 0;
    const writeAll = (bytes: Uint8Array) => {
      for (let done = 0; done < bytes.length; ) done += fs.writeSync(fd, bytes, done, bytes.length - done);
    };
    for (const chunk of chunks) {
      if (gathered + chunk.length > GATHER_BYTES) {
        writeAll(gather.subarray(0, gathered));
        gathered = 0;
      }
      if (chunk.length >= GATHER_BYTES) {
        writeAll(chunk);
      } else {
        gather.set(chunk, gathered);
        gathered += chunk.length;
      }
    }
    writeAll(gather.subarray(0, gathered));
  } finally {
    fs.closeSync(fd);
  }
}
