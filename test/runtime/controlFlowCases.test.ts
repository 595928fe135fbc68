import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readOnnxFile } from '../../src/formats/onnx/index.js';
import { decodeTensor } from '../../src/formats/onnx/reader.js';
import { WireReader } from '../../src/formats/protobuf/wire.js';
import { runModel, runtimeTensorFromInitializer } from '../../src/runtime/engine.js';
import { RtTensor } from '../../src/runtime/kernel.js';
import { tensorMismatch } from '../helpers/kernelHarness.js';

// ONNX's own backend test cases for the ops of this family (If, Loop, Scan, LSTM, GRU, RNN), as shipped in
// Debian's libonnx-testdata: each case's model run on its input_N.pb must give its output_N.pb. Cases that
// need sequence or optional values (test_if_seq, test_if_opt, test_loop13_seq, test_loop16_seq_none) are out
// of scope: bnc's runtime holds tensors only.

const DATA = '/usr/share/libonnx-testdata/data/node';
const CASES = /^test_(if|loop11|scan|scan9|lstm|gru|rnn|simple_rnn)(_|$)/;
const OUT_OF_SCOPE = new Set(['test_if_seq', 'test_if_opt', 'test_loop13_seq', 'test_loop16_seq_none']);

function readPb(file: string): RtTensor {
  const bytes = fs.readFileSync(file);
  return runtimeTensorFromInitializer(decodeTensor(new WireReader(bytes, 0, bytes.length)));
}

function readSet(dir: string, kind: 'input' | 'output'): RtTensor[] {
  const out: RtTensor[] = [];
  for (let i = 0; fs.existsSync(path.join(dir, `${kind}_${i}.pb`)); i++) out.push(readPb(path.join(dir, `${kind}_${i}.pb`)));
  return out;
}

const have = fs.existsSync(DATA);
const cases = have ? fs.readdirSync(DATA).filter((d) => CASES.test(d) && !OUT_OF_SCOPE.has(d)) : [];

describe.skipIf(!have)('shipped ONNX node tests for If, Loop, Scan, LSTM, GRU, RNN', () => {
  if (!have) it.skip(`${DATA} is absent (apt-get install libonnx-testdata)`, () => {});
  it('finds the cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(16);
  });
  for (const name of cases) {
    it(name, () => {
      const model = readOnnxFile(path.join(DATA, name, 'model.onnx'));
      const set = path.join(DATA, name, 'test_data_set_0');
      const inputs = readSet(set, 'input');
      const want = readSet(set, 'output');
      const feeds = new Map(model.graph.inputs.slice(0, inputs.length).map((vi, i) => [vi.name, inputs[i]!] as const));
      const got = runModel(model, feeds).outputs;
      model.graph.outputs.forEach((o, i) => {
        expect(tensorMismatch(got.get(o.name)!, want[i]!, { atol: 1e-5, rtol: 1e-4 }), `${name} output ${o.name}`).toBeUndefined();
      });
    });
  }
});
