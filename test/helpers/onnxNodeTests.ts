import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseOnnx } from '../../src/formats/onnx/index.js';
import { decodeTensor } from '../../src/formats/onnx/reader.js';
import { WireReader } from '../../src/formats/protobuf/wire.js';
import { runModel, runtimeTensorFromInitializer } from '../../src/runtime/engine.js';
import { RtTensor } from '../../src/runtime/kernel.js';
import { tensorMismatch } from './kernelHarness.js';

/**
 * The ONNX project's own node test cases as Debian ships them (package libonnx-testdata): a one-node
 * model.onnx and test_data_set_0/{input,output}_N.pb TensorProtos per case. Tests skip when absent.
 */
export const ONNX_NODE_TESTS = '/usr/share/libonnx-testdata/data/node';
export const HAVE_ONNX_NODE_TESTS = fs.existsSync(ONNX_NODE_TESTS);

/** Case directory names starting with `prefix`, sorted. */
export function onnxNodeCases(prefix: string): string[] {
  if (!HAVE_ONNX_NODE_TESTS) return [];
  return fs.readdirSync(ONNX_NODE_TESTS).filter((d) => d.startsWith(prefix)).sort();
}

function readPb(file: string): { name: string; value: RtTensor } {
  const bytes = new Uint8Array(fs.readFileSync(file));
  const t = decodeTensor(new WireReader(bytes));
  return { name: t.name, value: runtimeTensorFromInitializer(t) };
}

/** Runs one case through bnc's runModel; returns the first disagreement with its stored outputs, or undefined. */
export function runOnnxNodeCase(name: string, tol = { atol: 1e-6, rtol: 1e-6 }): string | undefined {
  const dir = path.join(ONNX_NODE_TESTS, name);
  const model = parseOnnx(new Uint8Array(fs.readFileSync(path.join(dir, 'model.onnx'))));
  const data = path.join(dir, 'test_data_set_0');
  const files = fs.readdirSync(data).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  const inputs = new Map<string, RtTensor>();
  const declared = model.graph.inputs.map((v) => v.name);
  files.filter((f) => f.startsWith('input_')).forEach((f, i) => {
    const { name: n, value } = readPb(path.join(data, f));
    inputs.set(n || declared[i]!, value);
  });
  const outputs = runModel(model, inputs).outputs;
  const wanted = files.filter((f) => f.startsWith('output_'));
  for (let i = 0; i < wanted.length; i++) {
    const { name: n, value } = readPb(path.join(data, wanted[i]!));
    const outName = n || model.graph.outputs[i]!.name;
    const got = outputs.get(outName);
    if (!got) return `output '${outName}' missing`;
    const m = tensorMismatch(got, value, tol);
    if (m) return `output '${outName}': ${m}`;
  }
  return undefined;
}
