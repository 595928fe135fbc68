import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataType } from '../../src/ir/index.js';
import { parseOnnx } from '../../src/formats/onnx/index.js';
import { decodeTensor } from '../../src/formats/onnx/reader.js';
import { WireReader } from '../../src/formats/protobuf/wire.js';
import { runModel, runtimeTensorFromInitializer } from '../../src/runtime/engine.js';
import { inferShapes } from '../../src/runtime/shapeInference.js';
import { RtTensor } from '../../src/runtime/kernel.js';
import { tensorMismatch } from '../helpers/kernelHarness.js';

// ONNX's own backend test cases for the window ops (Conv, ConvTranspose, the pools), as Debian ships them
// in libonnx-testdata: each case is model.onnx plus test_data_set_*/{input,output}_N.pb (TensorProtos,
// read with bnc's own decoder). The general conformance run over all node tests lives elsewhere; this one
// pins the geometry cases, ConvTranspose with output_shape among them.

const NODE_DIR = '/usr/share/libonnx-testdata/data/node';
const CASE = /^test_(basic_conv_|conv_|convtranspose|averagepool_|maxpool_|globalaveragepool|globalmaxpool)/;
/** Cases of these families that bnc does not claim, with the reason. */
const NOT_CLAIMED: Record<string, string> = {
  test_maxpool_2d_uint8: 'uint8 MaxPool (bnc pools float32)',
};

const present = fs.existsSync(NODE_DIR);
const cases = present ? fs.readdirSync(NODE_DIR).filter((d) => CASE.test(d)).sort() : [];

function readTensor(file: string): RtTensor {
  const bytes = fs.readFileSync(file);
  return runtimeTensorFromInitializer(decodeTensor(new WireReader(bytes, 0, bytes.length)));
}

function dataSets(dir: string): string[] {
  return fs.readdirSync(dir).filter((d) => d.startsWith('test_data_set_')).sort().map((d) => path.join(dir, d));
}

describe.skipIf(!present)(`ONNX backend test data: window ops (${NODE_DIR})`, () => {
  it('finds the cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
    expect(cases).toContain('test_convtranspose_output_shape');
  });

  for (const name of cases) {
    it.skipIf(name in NOT_CLAIMED)(name, () => {
      const dir = path.join(NODE_DIR, name);
      const model = parseOnnx(fs.readFileSync(path.join(dir, 'model.onnx')));
      const inputs = model.graph.inputs.filter((i) => !model.graph.initializers.some((t) => t.name === i.name));
      for (const set of dataSets(dir)) {
        const feeds = new Map(inputs.map((vi, i) => [vi.name, readTensor(path.join(set, `input_${i}.pb`))]));
        const shapes = inferShapes(model, new Map([...feeds].map(([n, t]) => [n, t.dims])));
        const result = runModel(model, feeds, { threads: 1 });
        model.graph.outputs.forEach((o, i) => {
          const want = readTensor(path.join(set, `output_${i}.pb`));
          const got = result.outputs.get(o.name)!;
          if (want.dtype === DataType.FLOAT) expect(shapes.get(o.name), `${name} ${o.name}: inferred shape`).toEqual(want.dims);
          expect(tensorMismatch(got, want, { atol: 1e-5, rtol: 1e-4 }), `${name} ${o.name}`).toBeUndefined();
        });
      }
    });
  }
});
