import * as fs from 'node:fs';
import { BncError } from '../ir/index.js';

// Reading a model file from disk, with the checks every format shares (ONNX files, caffemodels, prototxts).

/** Protobuf cannot address more than 2 GiB in one message; larger files need external data. */
export const MAX_PROTOBUF_BYTES = 2 ** 31 - 1;

/**
 * The checks readModelBytes makes before reading (exists, is a file, not empty, not over 2 GiB), for a
 * file read later: its errors come before any long work. Returns the file's stat.
 */
export function checkModelFile(file: string): fs.Stats {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch {
    throw new BncError(`${file}: no such file`, { file, code: 'NOT_FOUND' });
  }
  if (stat.isDirectory()) throw new BncError(`${file}: is a directory, expected a model file`, { file });
  if (stat.size === 0) throw new BncError(`${file}: the file is empty`, { file });
  if (stat.size > MAX_PROTOBUF_BYTES) {
    throw new BncError(
      `${file}: ${(stat.size / 2 ** 30).toFixed(2)} GiB is over protobuf's 2 GiB limit; save the weights as ONNX external data`,
      { file, code: 'TOO_LARGE' },
    );
  }
  return stat;
}

/**
 * Read a model file with the checks every format shares: exists, is a file, not empty, not over 2 GiB.
 * `shared`: the bytes land in a SharedArrayBuffer.
 */
export function readModelBytes(file: string, onProgress?: (doneBytes: number, totalBytes: number) => void, shared = false): Buffer {
  const stat = checkModelFile(file);
  if (!shared && (!onProgress || stat.size < PROGRESS_MIN_BYTES)) return fs.readFileSync(file);
  // Large files are read in chunks so a progress bar can follow; the bytes land in one buffer all the same.
  const buf = shared ? Buffer.from(new SharedArrayBuffer(stat.size)) : Buffer.allocUnsafe(stat.size);
  const fd = fs.openSync(file, 'r');
  try {
    let done = 0;
    while (done < stat.size) {
      const n = fs.readSync(fd, buf, done, Math.min(PROGRESS_CHUNK_BYTES, stat.size - done), done);
      if (n === 0) throw new BncError(`${file}: the file shrank while it was being read`, { file, code: 'CORRUPT' });
      done += n;
      if (stat.size >= PROGRESS_MIN_BYTES) onProgress?.(done, stat.size);
    }
  } finally {
    fs.closeSync(fd);
  }
  return buf;
}

const PROGRESS_MIN_BYTES = 32 * 2 ** 20;
const PROGRESS_CHUNK_BYTES = 8 * 2 ** 20;
