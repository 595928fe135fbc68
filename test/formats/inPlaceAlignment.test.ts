import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseOnnx, readOnnxFile } from '../../src/formats/onnx/index.js';
import { REPO } from '../helpers/cli.js';

// readOnnxFile owns the bytes it read, so misaligned float tensors are moved onto 4-byte boundaries inside
// the file buffer and viewed there: no second copy of the weights. parseOnnx on caller bytes never does that.

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-align-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('ONNX tensors are viewed in place, aligned by moving them inside the file buffer', () => {
  const original = fs.readFileSync(path.join(REPO, 'fixtures/onnx/small_cnn.onnx'));
  // A producer_name (field 2) of 0..3 characters in front shifts every tensor payload to each residue mod 4.
  for (let pad = 0; pad < 4; pad++) {
    it(`with the payloads shifted by ${pad + 2} bytes`, () => {
      const bytes = Buffer.concat([Uint8Array.from([0x12, pad, ...new Array<number>(pad).fill(0x78)]), original]);
      const file = path.join(tmp, `shift${pad}.onnx`);
      fs.writeFileSync(file, bytes);
      const copy = Uint8Array.from(bytes);
      const reference = parseOnnx(copy);
      expect(Buffer.from(copy).equals(bytes), 'parseOnnx leaves the caller\'s bytes alone').toBe(true);
      const model = readOnnxFile(file);
      const floats = model.graph.initializers.filter((t) => t.data instanceof Float32Array);
      expect(floats.length).toBeGreaterThan(0);
      floats.forEach((t, i) => {
        expect(Array.from(t.data as Float32Array), t.name).toEqual(Array.from(reference.graph.initializers.find((r) => r.name === t.name)!.data as Float32Array));
        if (i > 0 && (t.data as Float32Array).byteLength >= 128) {
          expect((t.data as Float32Array).buffer, `${t.name} shares the file buffer`).toBe((floats[0]!.data as Float32Array).buffer);
        }
      });
    });
  }
});
