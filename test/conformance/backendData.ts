import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseTensorProto, readOnnxFile } from '../../src/formats/onnx/index.js';
import { BncError, DataType, Graph, Model, Tensor, dtypeName, float16BitsToNumber, numberToFloat16Bits } from '../../src/ir/index.js';
import { modelInputs, runModel, runtimeTypeOf } from '../../src/runtime/engine.js';
import { RtTensor, runtimeTensor } from '../../src/runtime/kernel.js';
import { findKernel } from '../../src/runtime/kernels.js';
import { inferShapes } from '../../src/runtime/shapeInference.js';

// ONNX's backend test data (Debian package libonnx-testdata): one folder per case with model.onnx and
// test_data_set_0/{input,output}_N.pb (TensorProto). The rule every case is judged by is onnx's backend
// runner's (onnx/backend/test/runner): same element type, same shape, and
// numpy.testing.assert_allclose(actual, expected, rtol=1e-3, atol=1e-7) (NaN equal to NaN).

export const TESTDATA_ROOT = process.env.BNC_ONNX_TESTDATA ?? '/usr/share/libonnx-testdata/data';
/** The four suites with data in the package (`real/` holds only download URLs). */
export const SUITES = ['node', 'pytorch-converted', 'pytorch-operator', 'simple'] as const;
export type Suite = (typeof SUITES)[number];

export const RTOL = 1e-3;
export const ATOL = 1e-7;

export function haveTestData(): boolean {
  return fs.existsSync(path.join(TESTDATA_ROOT, 'node'));
}

export interface BackendCase {
  suite: Suite;
  name: string;
  dir: string;
}

export function listCases(suite: Suite): BackendCase[] {
  const dir = path.join(TESTDATA_ROOT, suite);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((name) => fs.existsSync(path.join(dir, name, 'model.onnx')))
    .sort()
    .map((name) => ({ suite, name, dir: path.join(dir, name) }));
}

/**
 * Where a case stands before it runs: `unsupported` lists ops with no kernel in bnc's table (subgraph
 * bodies included); `type` names a graph input or output whose type bnc's runtime cannot hold; `ready`
 * carries the model and its inputs; `unreadable` is a model bnc refuses to read.
 */
export type Classified =
  | { kind: 'unsupported'; ops: string[] }
  | { kind: 'type'; what: string }
  | { kind: 'unreadable'; message: string }
  | { kind: 'ready'; model: Model; ops: string[] };

/** Element types bnc's runtime holds (float16 and bfloat16 widened to float32). */
const RUNTIME_TYPES = new Set([
  DataType.FLOAT,
  DataType.DOUBLE,
  DataType.FLOAT16,
  DataType.BFLOAT16,
  DataType.INT8,
  DataType.INT16,
  DataType.INT32,
  DataType.INT64,
  DataType.UINT8,
  DataType.UINT16,
  DataType.UINT32,
  DataType.UINT64,
  DataType.BOOL,
]);

/** Op names of every node, subgraphs (If/Loop/Scan bodies) included, as `domain:Op` outside the default domain. */
export function opsOf(graph: Graph, into = new Set<string>()): Set<string> {
  for (const node of graph.nodes) {
    const domain = node.domain === 'ai.onnx' ? '' : node.domain;
    into.add(domain ? `${domain}:${node.opType}` : node.opType);
    for (const a of node.attributes) {
      if (a.g) opsOf(a.g, into);
      for (const g of a.graphs ?? []) opsOf(g, into);
    }
  }
  return into;
}

function hasKernel(op: string): boolean {
  const at = op.lastIndexOf(':');
  return at < 0 ? findKernel(op) !== undefined : findKernel(op.slice(at + 1), op.slice(0, at)) !== undefined;
}

export function classify(c: BackendCase): Classified {
  let model: Model;
  try {
    model = readOnnxFile(path.join(c.dir, 'model.onnx'));
  } catch (e) {
    return { kind: 'unreadable', message: (e as Error).message };
  }
  const ops = [...opsOf(model.graph)].sort();
  const missing = ops.filter((op) => !hasKernel(op));
  if (missing.length) return { kind: 'unsupported', ops: missing };
  for (const [what, list] of [['input', modelInputs(model)], ['output', model.graph.outputs]] as const) {
    for (const vi of list) {
      const tensor = vi.type?.tensor;
      if (!tensor) return { kind: 'type', what: `${what} '${vi.name}' is not a tensor (sequence, map or optional)` };
      if (!RUNTIME_TYPES.has(tensor.elemType)) return { kind: 'type', what: `${what} '${vi.name}' is ${dtypeName(tensor.elemType)}` };
    }
  }
  return { kind: 'ready', model, ops };
}

function readPbs(dir: string, prefix: 'input' | 'output'): Tensor[] {
  const out: Tensor[] = [];
  for (let i = 0; ; i++) {
    const file = path.join(dir, 'test_data_set_0', `${prefix}_${i}.pb`);
    if (!fs.existsSync(file)) return out;
    out.push(parseTensorProto(fs.readFileSync(file), file));
  }
}

/** numpy has no bfloat16: onnx's generator stored bfloat16 values as uint16 bit patterns. */
function asDeclared(t: Tensor, declared: DataType | undefined): void {
  if (declared === DataType.BFLOAT16 && t.dtype === DataType.UINT16) t.dtype = DataType.BFLOAT16;
}

/** Runs a ready case and returns undefined when every output matches, else what differs. */
export function runCase(c: BackendCase, model: Model): string | undefined {
  const inputs = readPbs(c.dir, 'input');
  const expected = readPbs(c.dir, 'output');
  const declared = modelInputs(model);
  const feeds = new Map<string, RtTensor>();
  inputs.forEach((t, i) => {
    // The .pb files carry the input's name; position among the non-initializer inputs otherwise.
    const name = declared.some((v) => v.name === t.name) ? t.name : declared[i]?.name;
    if (name === undefined) throw new Error(`input_${i}.pb matches no model input`);
    asDeclared(t, declared.find((v) => v.name === name)?.type?.tensor?.elemType);
    feeds.set(name, runtimeTensor(t, (type) => new Error(`input_${i}.pb has ${type}`)));
  });
  let outputs: Map<string, RtTensor>;
  const problems: string[] = [];
  try {
    const result = runModel(model, feeds, { threads: 1, keepAll: true });
    outputs = result.outputs;
    // Every shape the static rules claim must be the shape the kernels computed.
    const inferred = inferShapes(model, new Map([...feeds].map(([name, t]) => [name, t.dims])));
    for (const [name, t] of result.intermediates!) {
      const dims = inferred.get(name);
      if (dims && (dims.length !== t.dims.length || dims.some((d, i) => d !== t.dims[i]))) {
        problems.push(`shape inference says '${name}' is [${dims.join(',')}], the kernel computed [${t.dims.join(',')}]`);
      }
    }
  } catch (e) {
    return `${e instanceof BncError ? '' : 'internal error: '}${(e as Error).message}`;
  }
  model.graph.outputs.forEach((o, i) => {
    const want = expected.find((t) => t.name === o.name) ?? expected[i];
    if (want) asDeclared(want, o.type?.tensor?.elemType);
    const got = outputs.get(o.name);
    if (!want || !got) return problems.push(`output '${o.name}': ${want ? 'not computed' : 'no output_N.pb'}`);
    const p = compareTensor(got, want);
    if (p) problems.push(`output '${o.name}': ${p}`);
  });
  return problems.length ? problems.join('; ') : undefined;
}

/**
 * numpy.testing.assert_allclose(got, want, rtol, atol) plus the type and shape checks of onnx's backend
 * runner. float16 results (held as float32 by the runtime) are rounded to float16 first, as writing them
 * out would. Integers of 64 bits compare exactly.
 */
export function compareTensor(got: RtTensor, want: Tensor, rtol = RTOL, atol = ATOL): string | undefined {
  const wantType = runtimeTypeOf(want.dtype);
  if (got.dtype !== wantType) return `type ${dtypeName(got.dtype)}, expected ${dtypeName(want.dtype)}`;
  if (got.dims.length !== want.dims.length || got.dims.some((d, i) => d !== want.dims[i])) {
    return `shape [${got.dims.join(',')}], expected [${want.dims.join(',')}]`;
  }
  const w = runtimeTensor(want, (type) => new Error(`expected output has ${type}`)).data;
  const g = got.data;
  if (g.length !== w.length) return `${g.length} values, expected ${w.length}`;
  let bad = 0;
  let first = '';
  const roundHalf = want.dtype === DataType.FLOAT16;
  for (let i = 0; i < w.length; i++) {
    let ok: boolean;
    let gv: number | bigint = g[i]!;
    const wv = w[i]!;
    if (typeof gv === 'bigint' || typeof wv === 'bigint') ok = gv === wv;
    else {
      if (roundHalf) gv = float16BitsToNumber(numberToFloat16Bits(gv));
      if (Number.isNaN(wv) || Number.isNaN(gv)) ok = Number.isNaN(wv) && Number.isNaN(gv);
      else if (!Number.isFinite(wv) || !Number.isFinite(gv)) ok = wv === gv;
      else ok = Math.abs(gv - wv) <= atol + rtol * Math.abs(wv);
    }
    if (!ok && bad++ === 0) first = `[${i}] ${String(gv)} vs ${String(wv)}`;
  }
  return bad ? `${bad} of ${w.length} elements differ (first ${first})` : undefined;
}

export type Outcome = 'pass' | 'unsupported' | 'type' | 'fail';

export interface CaseResult {
  c: BackendCase;
  outcome: Outcome;
  detail?: string;
  ops?: string[];
}

/** Classify and, when ready, run one case. */
export function evaluate(c: BackendCase): CaseResult {
  const k = classify(c);
  if (k.kind === 'unsupported') return { c, outcome: 'unsupported', ops: k.ops, detail: k.ops.join(', ') };
  if (k.kind === 'type') return { c, outcome: 'type', detail: k.what };
  if (k.kind === 'unreadable') return { c, outcome: 'fail', detail: `bnc cannot read the model: ${k.message}` };
  let problem: string | undefined;
  try {
    problem = runCase(c, k.model);
  } catch (e) {
    problem = `internal error: ${(e as Error).message}`;
  }
  return { c, outcome: problem ? 'fail' : 'pass', detail: problem, ops: k.ops };
}
