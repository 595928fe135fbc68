import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openModel } from '../../src/formats/index.js';
import { Model } from '../../src/ir/index.js';
import { shareConstant } from '../../src/runtime/parallel.js';
import { REPO } from '../helpers/cli.js';

// With sharedMemory (what `run` and `verify` ask for on more than one thread), model files are read into a
// SharedArrayBuffer: weights that view the file are then handed to worker threads as they are, not copied.

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-shared-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

function floatWeights(model: Model): Map<string, Float32Array> {
  return new Map(model.graph.initializers.filter((t) => t.data instanceof Float32Array).map((t) => [t.name, t.data as Float32Array]));
}

function expectSharedTwin(file: string): void {
  const plain = floatWeights(openModel(file));
  const shared = floatWeights(openModel(file, { sharedMemory: true }));
  expect([...shared.keys()]).toEqual([...plain.keys()]);
  let viewed = 0;
  for (const [name, data] of shared) {
    expect(Array.from(data), name).toEqual(Array.from(plain.get(name)!));
    expect(plain.get(name)!.buffer instanceof SharedArrayBuffer, `${name} without sharedMemory`).toBe(false);
    if (data.buffer instanceof SharedArrayBuffer) {
      viewed++;
      expect(shareConstant(data), `${name} goes to the workers as it is`).toBe(data);
    }
  }
  // Every weight read from the file is a view of it; only tensors a reader computes (e.g. folded Caffe
  // BatchNorm statistics) may be ordinary arrays.
  expect(viewed).toBeGreaterThan(0);
}

describe('reading models into shared memory', () => {
  it('ONNX, with tensor payloads moved into alignment inside the shared buffer', () => {
    // One byte of producer_name in front puts every payload off the 4-byte grid.
    const bytes = Buffer.concat([Uint8Array.from([0x12, 1, 0x78]), fs.readFileSync(path.join(REPO, 'fixtures/onnx/small_cnn.onnx'))]);
    const file = path.join(tmp, 'shifted.onnx');
    fs.writeFileSync(file, bytes);
    expectSharedTwin(file);
  });

  it('Caffe prototxt + caffemodel', () => {
    expectSharedTwin(path.join(REPO, 'fixtures/caffe/small_bn_net.prototxt'));
  });
});
