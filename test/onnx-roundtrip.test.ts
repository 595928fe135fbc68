import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseOnnx, serializeOnnx } from '../src/formats/onnx/index.js';
import { readNpy } from '../src/io/npy.js';
import { HAVE_SHARED, SKIP_SHARED_MESSAGE, caseDir, readCase, sharedCases } from './helpers/shared.js';
import { runOrt } from './helpers/ort.js';

describe.skipIf(!HAVE_SHARED)(`round trip of the shared ONNX models ${HAVE_SHARED ? '' : `(${SKIP_SHARED_MESSAGE})`}`, () => {
  const files: string[] = [];
  for (const c of sharedCases('onnx')) {
    for (const f of fs.readdirSync(caseDir('onnx', c))) if (f.endsWith('.onnx')) files.push(path.join(c, f));
  }
  it.each(files)('%s gives bit-identical outputs in onnxruntime after read + write', async (rel) => {
    const dir = caseDir('onnx', path.dirname(rel));
    const original = fs.readFileSync(path.join(dir, path.basename(rel)));
    const model = parseOnnx(original);
    const written = serializeOnnx(model);
    // A second round trip must be byte-stable: the writer is deterministic and loses nothing.
    expect(Buffer.from(serializeOnnx(parseOnnx(written))).equals(Buffer.from(written))).toBe(true);
    const c = readCase('onnx', path.dirname(rel));
    const input = readNpy(path.join(dir, c.input.file));
    const feeds = { [c.input.name ?? 'input']: { data: input.data as Float32Array, dims: input.shape } };
    const a = await runOrt(original, feeds);
    const b = await runOrt(written, feeds);
    expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
    for (const k of Object.keys(a)) {
      expect(b[k]!.dims).toEqual(a[k]!.dims);
      const bytesOf = (t: { data: Float32Array }) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
      expect(bytesOf(b[k]!).equals(bytesOf(a[k]!)), `output '${k}' differs`).toBe(true);
    }
  });
});
