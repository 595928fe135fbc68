import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DataType, ValueInfo } from '../../src/ir/index.js';
import { checkInput, nonTensorKind } from '../../src/runtime/engine.js';
import { generateInputs } from '../../src/runtime/inputs.js';
import { encodeNpy } from '../../src/io/npy.js';
import { bnc } from '../helpers/cli.js';

// An input declared as a sequence, map, optional or sparse tensor (ONNX TypeProto fields 4, 5, 9, 8)
// cannot be held by bnc's runtime. Found by `npm run sweep` on ONNX's test_identity_sequence and
// test_identity_opt: `run` generated nothing and told the user to pass a .npy (which cannot hold a
// sequence), and with `--input x=file.npy` it ran the model on a plain tensor instead of refusing it.

// TypeProto bytes by hand (onnx.proto field numbers): tensor_type(1) { elem_type(1) = FLOAT }.
const TENSOR_FLOAT = [0x0a, 0x02, 0x08, 0x01];
const wrap = (field: number, body: number[]) => [(field << 3) | 2, body.length, ...body];
const SEQUENCE = wrap(4, wrap(1, TENSOR_FLOAT)); // sequence_type { elem_type: tensor(float) }
const OPTIONAL = wrap(9, wrap(1, TENSOR_FLOAT)); // optional_type { elem_type: tensor(float) }
const MAP = wrap(5, [0x08, 0x08, ...wrap(2, TENSOR_FLOAT)]); // map_type { key_type: STRING, value_type }
const SPARSE = wrap(8, [0x08, 0x01]); // sparse_tensor_type { elem_type: FLOAT }
const DENOTED_SEQUENCE = [...wrap(6, [0x41]), ...SEQUENCE]; // denotation "A" before the value field

const opaque = (name: string, bytes: number[]): ValueInfo => ({ name, type: { opaque: Uint8Array.from(bytes) } });
const tensor = { dtype: DataType.FLOAT, dims: [2], data: new Float32Array(2) };

describe('inputs that are not tensors', () => {
  const cases: [string, number[], string][] = [
    ['seq', SEQUENCE, 'a sequence'],
    ['opt', OPTIONAL, 'an optional'],
    ['map', MAP, 'a map'],
    ['sparse', SPARSE, 'a sparse tensor'],
    ['denoted', DENOTED_SEQUENCE, 'a sequence'],
  ];
  for (const [name, bytes, kind] of cases) {
    it(`${name}: named as ${kind}; neither generated nor fed from a tensor`, () => {
      const vi = opaque(name, bytes);
      expect(nonTensorKind(vi)).toBe(kind);
      const message = `input '${name}' is ${kind}, not a tensor, which bnc's runtime cannot hold`;
      expect(() => generateInputs([vi], 0)).toThrow(message);
      expect(() => checkInput(vi, tensor)).toThrow(message);
    });
  }

  it('a tensor input and an input without a type are not refused', () => {
    const declared: ValueInfo = { name: 'x', type: { tensor: { elemType: DataType.FLOAT, shape: [{ value: 2 }] } } };
    expect(nonTensorKind(declared)).toBeUndefined();
    expect(() => checkInput(declared, tensor)).not.toThrow();
    expect(nonTensorKind({ name: 'y' })).toBeUndefined();
    expect(() => checkInput({ name: 'y' }, tensor)).not.toThrow();
  });

  const data = '/usr/share/libonnx-testdata/data/node';
  const model = path.join(data, 'test_identity_sequence', 'model.onnx');
  it.skipIf(!fs.existsSync(model))('bnc run on ONNX test_identity_sequence: a clean refusal, with or without --input', () => {
    const generated = bnc(['run', model]);
    expect(generated.code).toBe(2);
    expect(generated.stderr).toBe(`bnc: error: ${model}: input 'x' is a sequence, not a tensor, which bnc's runtime cannot hold (it runs models whose inputs are tensors)\n`);
    const npy = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-seq-')), 'x.npy');
    fs.writeFileSync(npy, encodeNpy([2, 3], new Float32Array(6)));
    const fed = bnc(['run', model, '--input', `x=${npy}`]);
    fs.rmSync(path.dirname(npy), { recursive: true, force: true });
    expect(fed.code).toBe(2);
    expect(fed.stderr).toContain(`input 'x' is a sequence, not a tensor, which bnc's runtime cannot hold`);
  });
});
