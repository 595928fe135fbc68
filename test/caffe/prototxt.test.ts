import { describe, expect, it } from 'vitest';
import { BncError } from '../../src/ir/index.js';
import { parseTextFormat, unknownFieldsOf } from '../../src/formats/caffe/prototxt.js';
import { caffeType } from '../../src/formats/caffe/schema.js';

// The protobuf text-format parser, against the caffe.proto schema.

const layerType = () => caffeType('LayerParameter');
const netType = () => caffeType('NetParameter');

function parseError(text: string, type = netType()): string {
  try {
    parseTextFormat(text, type, { file: 'net.prototxt' });
  } catch (e) {
    expect(e).toBeInstanceOf(BncError);
    return (e as Error).message;
  }
  throw new Error('expected a parse error');
}

describe('prototxt parser', () => {
  it('reads comments, nested messages with and without ":", <> delimiters and repeated fields', () => {
    const m = parseTextFormat(
      `# a comment
name: "n"  # trailing comment
layer { name: "a" type: "Convolution" bottom: "x" top: "y" top: "z"
  convolution_param: { kernel_size: 3 kernel_size: 5 pad: [1, 2] }
}
layer < name: "b", type: "ReLU"; >
layer: { name: "c" }`,
      netType(),
    );
    expect(m.name).toBe('n');
    const layers = m.layer as Record<string, unknown>[];
    expect(layers.map((l) => l.name)).toEqual(['a', 'b', 'c']);
    expect(layers[0]!.top).toEqual(['y', 'z']);
    expect((layers[0]!.convolution_param as Record<string, unknown>).kernel_size).toEqual([3, 5]);
    expect((layers[0]!.convolution_param as Record<string, unknown>).pad).toEqual([1, 2]);
    expect(layers[1]!.type).toBe('ReLU');
  });

  it('decodes string escapes and joins adjacent literals', () => {
    const m = parseTextFormat(String.raw`name: "a\"b\n\t\\" 'c\'d' "\x41\101\u00e9" name2_param { }`, layerType(), { warn: () => undefined });
    expect(m.name).toBe('a"b\n\t\\' + "c'd" + 'AAé');
  });

  it('reads numbers in every text form, by the field type', () => {
    const bn = parseTextFormat('eps: 1e-5 moving_average_fraction: .5', caffeType('BatchNormParameter'));
    expect(bn.eps).toBe(1e-5);
    expect(bn.moving_average_fraction).toBe(0.5);
    const power = parseTextFormat('power: -inf scale: nan shift: 2.5f', caffeType('PowerParameter'));
    expect(power.power).toBe(-Infinity);
    expect(Number.isNaN(power.scale)).toBe(true);
    expect(power.shift).toBe(2.5);
    expect(parseTextFormat('power: -.25 scale: 3 shift: inf', caffeType('PowerParameter'))).toEqual({ power: -0.25, scale: 3, shift: Infinity });
    const conv = parseTextFormat('num_output: 0x1F group: 010 kernel_size: 3', caffeType('ConvolutionParameter'));
    expect(conv.num_output).toBe(31);
    expect(conv.group).toBe(8); // octal, as protobuf text format reads a leading 0
    expect(parseTextFormat('axis: -1', caffeType('SoftmaxParameter')).axis).toBe(-1);
    expect(parseTextFormat('use_global_stats: True', caffeType('BatchNormParameter')).use_global_stats).toBe(true);
    expect(parseTextFormat('use_global_stats: 0', caffeType('BatchNormParameter')).use_global_stats).toBe(false);
  });

  it('resolves enum identifiers and accepts enum numbers', () => {
    expect(parseTextFormat('pool: AVE round_mode: FLOOR', caffeType('PoolingParameter'))).toEqual({ pool: 1, round_mode: 1 });
    expect(parseTextFormat('pool: 1', caffeType('PoolingParameter'))).toEqual({ pool: 1 });
    expect(parseTextFormat('type: CONVOLUTION', caffeType('V1LayerParameter')).type).toBe(4);
  });

  it('warns once per unknown field and message type, then once with the count (a fork field in every layer)', () => {
    const warnings: string[] = [];
    const text = Array.from({ length: 25 }, () => 'layer { name: "b" type: "BN" bn_param { bn_mode: INFERENCE } }').join('\n');
    parseTextFormat(text, caffeType('NetParameter'), { file: 'segnet.prototxt', warn: (w) => warnings.push(w) });
    expect(warnings).toEqual([
      expect.stringMatching(/^segnet\.prototxt:1:\d+: unknown field 'bn_mode' in BNParameter/),
      "segnet.prototxt: unknown field 'bn_mode' in BNParameter appears 24 more times after 1:41 (not repeated above)",
    ]);
  });

  it('keeps unknown *_param blocks of custom forks and warns with line:col', () => {
    const warnings: string[] = [];
    const m = parseTextFormat('name: "up"\ninterp_param { height: 8 width: 8 mode { a: "x" } }\ntype: "Interp"', layerType(), {
      file: 'f.prototxt',
      warn: (w) => warnings.push(w),
    });
    expect(m.type).toBe('Interp');
    expect(warnings).toEqual([expect.stringMatching(/^f\.prototxt:2:1: unknown field 'interp_param' in LayerParameter/)]);
    expect(unknownFieldsOf(m)?.get('interp_param')).toEqual([[['height', '8'], ['width', '8'], ['mode', [['a', 'x']]]]]);
  });

  it('reports syntax errors as file:line:col: expected X, found Y', () => {
    expect(parseError('name: "n"\nlayer {\n  name "x"\n}')).toBe(`net.prototxt:3:8: expected ':' after 'name', found '"x"'`);
    expect(parseError('layer {\n  name: "x"\n')).toBe(`net.prototxt:3:1: expected '}' to close the message opened on line 1, found end of file`);
    expect(parseError('layer { name: "x }\n}')).toBe('net.prototxt:1:15: expected a closing ", found end of line');
    expect(parseError('input_dim: 1.5')).toBe(`net.prototxt:1:12: expected an integer for 'input_dim', found '1.5'`);
    expect(parseError('layer { convolution_param { num_output: -3 } }')).toBe(
      `net.prototxt:1:42: expected a non-negative integer for 'num_output', found '-3'`,
    );
    expect(parseError('layer { pooling_param { pool: MEDIAN } }')).toBe(
      `net.prototxt:1:31: expected one of MAX, AVE, STOCHASTIC for 'pool', found 'MEDIAN'`,
    );
    expect(parseError('name: 12')).toBe(`net.prototxt:1:7: expected a string for 'name', found '12'`);
    expect(parseError('layer { name: "a" } }')).toBe(`net.prototxt:1:21: expected a field name, found '}'`);
    expect(parseError('layer { batch_norm_param { eps: 1e-5x } }')).toBe(`net.prototxt:1:33: expected a number, found '1e-5x'`);
  });
});
