import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readModelBytes } from '../../src/formats/modelFile.js';

describe('reading a large model file reports progress', () => {
  it('calls back in chunks up to the file size, and returns every byte', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-progress-'));
    const file = path.join(dir, 'big.onnx');
    const size = 40 * 2 ** 20 + 123;
    fs.writeFileSync(file, '');
    fs.truncateSync(file, size);
    const marker = Buffer.from('end-of-file');
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, marker, 0, marker.length, size - marker.length);
    fs.closeSync(fd);
    const calls: [number, number][] = [];
    const bytes = readModelBytes(file, (done, total) => calls.push([done, total]));
    expect(bytes.length).toBe(size);
    expect(bytes.subarray(size - marker.length).equals(marker)).toBe(true);
    expect(calls.length).toBeGreaterThan(1);
    expect(calls.every(([, total]) => total === size)).toBe(true);
    expect(calls.map(([done]) => done)).toEqual([...calls.map(([done]) => done)].sort((a, b) => a - b));
    expect(calls[calls.length - 1]![0]).toBe(size);
    fs.rmSync(dir, { recursive: true });
  });

  it('small files are read in one go without callbacks', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-progress-'));
    const file = path.join(dir, 'small.onnx');
    fs.writeFileSync(file, 'abc');
    const calls: number[] = [];
    expect(readModelBytes(file, (d) => calls.push(d)).toString()).toBe('abc');
    expect(calls).toEqual([]);
    fs.rmSync(dir, { recursive: true });
  });
});
