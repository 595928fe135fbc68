import { describe, expect, it } from 'vitest';
import { Attribute, intAttr, intsAttr, stringAttr } from '../../src/ir/index.js';
import { RtTensor } from '../../src/runtime/kernel.js';
import { referenceConv, referenceConvTranspose, referencePool } from '../helpers/windowReference.js';
import { NodeCase, describeCase, randomF32, randomInt, rng, runOrtNode, runThroughEngine, tensorMismatch } from '../helpers/kernelHarness.js';

// Every window geometry the ONNX spec allows runs, and gives onnxruntime's numbers: seeded random Conv
// (plain, grouped, depthwise), ConvTranspose (pads, output_padding, output_shape, auto_pad), MaxPool and
// AveragePool over 1-D, 2-D and 3-D inputs, with kernels (dilated) larger than the input, pads larger than
// the kernel, strides larger than the kernel, and inputs of size 1. Each case runs as a one-node model
// through bnc's engine (shape inference included) and through onnxruntime-node.
//
// Where onnxruntime is stricter than the spec, the generator stays inside onnxruntime's rules: pools keep
// pads smaller than the kernel, ConvTranspose keeps output_padding < max(stride, dilation) and an
// output_shape at most stride - 1 beyond the full output.

const TOL = { atol: 1e-4, rtol: 1e-4 };
const pick = <T>(rand: () => number, items: readonly T[]): T => items[randomInt(rand, items.length)]!;
const between = (rand: () => number, lo: number, hi: number) => lo + randomInt(rand, hi - lo + 1);

/** Spatial rank: mostly 2-D, 1-D and 3-D a quarter each. */
const randomRank = (rand: () => number) => pick(rand, [1, 2, 2, 3]);

interface Axis {
  input: number;
  kernel: number;
  stride: number;
  dilation: number;
  padBegin: number;
  padEnd: number;
}

/** One spatial axis of a forward window op; `maxPad` caps the pads (pools: below the kernel). */
function forwardAxis(rand: () => number, rank: number, options: { maxPad?: (kernel: number) => number; dilation?: boolean } = {}): Axis {
  const big = rank === 3 ? 3 : rank === 2 ? 5 : 8;
  const input = rand() < 0.25 ? 1 : between(rand, 1, big + 2);
  const kernel = rand() < 0.15 ? between(rand, big, big + 3) : between(rand, 1, Math.min(big, 4));
  const dilation = options.dilation === false ? 1 : pick(rand, [1, 1, 1, 2, 3]);
  const stride = pick(rand, [1, 1, 2, 3, 5]);
  const extent = (kernel - 1) * dilation + 1;
  const maxPad = options.maxPad ? options.maxPad(kernel) : extent + 2;
  const axis = { input, kernel, stride, dilation, padBegin: randomInt(rand, maxPad + 1), padEnd: randomInt(rand, maxPad + 1) };
  fit(axis, maxPad);
  return axis;
}

/** The padded input must hold one window: grow the end pad, the begin pad (up to maxPad), else the input. */
function fit(a: Axis, maxPad = Infinity): void {
  const extent = (a.kernel - 1) * a.dilation + 1;
  while (a.input + a.padBegin + a.padEnd < extent) {
    if (a.padEnd < maxPad) a.padEnd++;
    else if (a.padBegin < maxPad) a.padBegin++;
    else a.input++;
  }
}

/** auto_pad for a forward op, with the axes adjusted so it is legal (VALID needs the window to fit). */
function forwardAutoPad(rand: () => number, axes: Axis[]): string {
  const mode = pick(rand, ['NOTSET', 'NOTSET', 'NOTSET', 'NOTSET', 'SAME_UPPER', 'SAME_LOWER', 'VALID']);
  if (mode === 'VALID') for (const a of axes) a.input = Math.max(a.input, (a.kernel - 1) * a.dilation + 1);
  return mode;
}

function windowAttrs(axes: Axis[], autoPad: string, withDilations = true): Attribute[] {
  const attrs: Attribute[] = [intsAttr('strides', axes.map((a) => a.stride))];
  if (withDilations) attrs.push(intsAttr('dilations', axes.map((a) => a.dilation)));
  if (autoPad === 'NOTSET') attrs.push(intsAttr('pads', [...axes.map((a) => a.padBegin), ...axes.map((a) => a.padEnd)]));
  else attrs.push(stringAttr('auto_pad', autoPad));
  return attrs;
}

function convCase(rand: () => number): NodeCase {
  const rank = randomRank(rand);
  const axes = Array.from({ length: rank }, () => forwardAxis(rand, rank));
  const autoPad = forwardAutoPad(rand, axes);
  const kind = pick(rand, ['plain', 'plain', 'grouped', 'depthwise', 'depthwise3x3']);
  if (kind === 'depthwise3x3' && rank >= 2) {
    for (const a of axes.slice(-2)) a.kernel = 3;
    for (const a of axes) fit(a);
    if (autoPad === 'VALID') for (const a of axes) a.input = Math.max(a.input, 2 * a.dilation + 1);
  }
  let group = 1;
  let channels = between(rand, 1, 3);
  let outChannels = between(rand, 1, 3);
  if (kind === 'grouped') {
    group = between(rand, 2, 3);
    channels = group * between(rand, 2, 3);
    outChannels = group * between(rand, 1, 2);
  } else if (kind.startsWith('depthwise')) {
    group = channels = between(rand, 1, 4);
    outChannels = channels * between(rand, 1, 2);
  }
  const batch = between(rand, 1, 2);
  const inputs: RtTensor[] = [
    randomF32(rand, [batch, channels, ...axes.map((a) => a.input)]),
    randomF32(rand, [outChannels, channels / group, ...axes.map((a) => a.kernel)], -1, 1),
  ];
  if (rand() < 0.5) inputs.push(randomF32(rand, [outChannels]));
  const attrs = windowAttrs(axes, autoPad);
  if (group !== 1) attrs.push(intAttr('group', group));
  if (rand() < 0.5) attrs.push(intsAttr('kernel_shape', axes.map((a) => a.kernel)));
  return { op: 'Conv', opset: pick(rand, [11, 13, 21]), inputs, attrs, constant: [1] };
}

function convTransposeCase(rand: () => number): NodeCase {
  const rank = randomRank(rand);
  const big = rank === 3 ? 3 : 5;
  const axes = Array.from({ length: rank }, () => {
    const kernel = rand() < 0.15 ? between(rand, big, big + 2) : between(rand, 1, 4);
    const dilation = pick(rand, [1, 1, 2, 3]);
    const stride = pick(rand, [1, 1, 2, 3, 5]);
    const input = rand() < 0.25 ? 1 : between(rand, 1, big);
    // The spec allows output_padding below the stride or the dilation; onnxruntime only below the stride.
    const outputPadding = randomInt(rand, rand() < 0.8 ? stride : Math.max(stride, dilation));
    const full = stride * (input - 1) + outputPadding + (kernel - 1) * dilation + 1;
    return { kernel, dilation, stride, input, outputPadding, full };
  });
  const mode = pick(rand, ['pads', 'pads', 'pads', 'SAME_UPPER', 'SAME_LOWER', 'VALID', 'output_shape']);
  const attrs: Attribute[] = [intsAttr('strides', axes.map((a) => a.stride)), intsAttr('dilations', axes.map((a) => a.dilation))];
  if (mode === 'pads') {
    // Any pads that leave at least one output element, larger than the kernel included.
    const pads = axes.map((a) => {
      const total = randomInt(rand, a.full);
      const begin = randomInt(rand, total + 1);
      return [begin, total - begin] as const;
    });
    attrs.push(intsAttr('pads', [...pads.map((p) => p[0]), ...pads.map((p) => p[1])]));
  } else if (mode === 'output_shape') {
    const shape = axes.map((a) => {
      a.full -= a.outputPadding;
      a.outputPadding = 0;
      return between(rand, 1, a.full + a.stride - 1);
    });
    attrs.push(intsAttr('output_shape', shape));
    const autoPad = pick(rand, ['NOTSET', 'SAME_UPPER', 'SAME_LOWER', undefined]);
    if (autoPad) attrs.push(stringAttr('auto_pad', autoPad));
  } else {
    attrs.push(stringAttr('auto_pad', mode));
  }
  if (axes.some((a) => a.outputPadding)) attrs.push(intsAttr('output_padding', axes.map((a) => a.outputPadding)));
  const group = pick(rand, [1, 1, 2, 3]);
  const channels = group * between(rand, 1, 2);
  const perGroupOut = between(rand, 1, 2);
  const batch = between(rand, 1, 2);
  const inputs: RtTensor[] = [
    randomF32(rand, [batch, channels, ...axes.map((a) => a.input)]),
    randomF32(rand, [channels, perGroupOut, ...axes.map((a) => a.kernel)], -1, 1),
  ];
  if (rand() < 0.5) inputs.push(randomF32(rand, [perGroupOut * group]));
  if (group !== 1) attrs.push(intAttr('group', group));
  if (rand() < 0.3) attrs.push(intsAttr('kernel_shape', axes.map((a) => a.kernel)));
  return { op: 'ConvTranspose', opset: pick(rand, [9, 11, 13, 21]), inputs, attrs, constant: [1] };
}

function poolCase(rand: () => number, op: 'MaxPool' | 'AveragePool'): NodeCase {
  const rank = randomRank(rand);
  const opset = op === 'MaxPool' ? pick(rand, [8, 11, 12, 21]) : pick(rand, [7, 11, 19, 21]);
  const dilations = op === 'MaxPool' ? opset >= 10 : opset >= 19;
  const axes = Array.from({ length: rank }, () => forwardAxis(rand, rank, { maxPad: (k) => k - 1, dilation: dilations }));
  const autoPad = forwardAutoPad(rand, axes);
  const attrs = windowAttrs(axes, autoPad, dilations);
  attrs.push(intsAttr('kernel_shape', axes.map((a) => a.kernel)));
  if (opset >= 10 && rand() < 0.4) attrs.push(intAttr('ceil_mode', 1));
  if (op === 'AveragePool' && rand() < 0.5) attrs.push(intAttr('count_include_pad', 1));
  const inputs = [randomF32(rand, [between(rand, 1, 2), between(rand, 1, 3), ...axes.map((a) => a.input)])];
  return { op, opset, inputs, attrs };
}

/** The spec reference for a case (see windowReference.ts). */
function reference(c: NodeCase): RtTensor {
  if (c.op === 'Conv') return referenceConv(c.inputs, c.attrs ?? []);
  if (c.op === 'ConvTranspose') return referenceConvTranspose(c.inputs, c.attrs ?? [], c.opset);
  return referencePool(c.op as 'MaxPool' | 'AveragePool', c.opset, c.inputs, c.attrs ?? []);
}

/** Where onnxruntime computes something else than the spec says, it is not asked (windowReference.ts). */
function ortDeparts(c: NodeCase): boolean {
  const attr = (name: string) => c.attrs?.find((a) => a.name === name);
  const autoPad = attr('auto_pad')?.s;
  // ConvTranspose-1 (opsets 1-10) splits an output_shape's padding the other way round.
  if (c.op === 'ConvTranspose') return c.opset < 11 && attr('output_shape') !== undefined;
  if (autoPad === undefined || !new TextDecoder().decode(autoPad).startsWith('SAME')) return false;
  const dilations = attr('dilations')?.ints ?? [];
  // Pools: SAME_* padding computed without the dilation.
  if (c.op !== 'Conv') return dilations.some((d) => d !== 1);
  // Conv: a negative total padding split into negative pads.
  const spatial = c.inputs[0]!.dims.slice(2);
  const kernel = c.inputs[1]!.dims.slice(2);
  const strides = attr('strides')?.ints ?? spatial.map(() => 1);
  return spatial.some((size, i) => {
    const out = Math.ceil(size / strides[i]!);
    return (out - 1) * strides[i]! + (kernel[i]! - 1) * (dilations[i] ?? 1) + 1 - size < 0;
  });
}

/**
 * Legal geometries onnxruntime refuses: Conv with dilations and auto_pad SAME_*; SAME_* pools whose total
 * padding would be negative (the spec's pad_shape formula; bnc pads 0); ConvTranspose output_padding of at
 * least the stride (the spec allows up to the stride or the dilation).
 */
const ORT_REFUSALS = /Dilation not supported for AutoPadType|padding values must be non-negative|may be too large for stride/;

interface Tally {
  cases: number;
  /** Checked against onnxruntime as well as the reference. */
  ort: number;
  /** onnxruntime refused (ORT_REFUSALS): checked against the reference only. */
  ortRefused: number;
  /** onnxruntime departs from the spec here: checked against the reference only. */
  ortDeparts: number;
}

async function checkCases(make: (rand: () => number) => NodeCase, seed: number, count: number): Promise<Tally> {
  const rand = rng(seed);
  const tally: Tally = { cases: 0, ort: 0, ortRefused: 0, ortDeparts: 0 };
  for (let trial = 0; trial < count; trial++) {
    const c = make(rand);
    const label = `case ${trial} (seed ${seed}): ${describeCase(c)}`;
    let got: ReturnType<typeof runThroughEngine>;
    try {
      got = runThroughEngine(c);
    } catch (e) {
      throw new Error(`${label}: bnc failed: ${(e as Error).message}`);
    }
    const want = reference(c);
    expect(got.inferred[0], `${label}: inferred shape`).toEqual(want.dims);
    expect(tensorMismatch(got.outputs[0]!, want, TOL), `${label} vs the reference`).toBeUndefined();
    if (ortDeparts(c)) {
      tally.ortDeparts++;
    } else {
      let ortOut: RtTensor | undefined;
      try {
        ortOut = (await runOrtNode(c))[0]!;
      } catch (e) {
        if (!ORT_REFUSALS.test((e as Error).message)) throw new Error(`${label}: onnxruntime: ${(e as Error).message}`);
        tally.ortRefused++;
      }
      if (ortOut) {
        expect(tensorMismatch(got.outputs[0]!, ortOut, TOL), `${label} vs onnxruntime`).toBeUndefined();
        tally.ort++;
      }
    }
    tally.cases++;
  }
  return tally;
}

/** Number of random geometries each family runs (the total is reported by the last test). */
const COUNTS = { Conv: 400, ConvTranspose: 250, MaxPool: 175, AveragePool: 175 };
const ran: Record<string, Tally> = {};

describe('every legal window geometry runs and matches onnxruntime', () => {
  it(`Conv: ${COUNTS.Conv} random geometries (plain, grouped, depthwise; 1-D/2-D/3-D; auto_pad)`, async () => {
    ran.Conv = await checkCases(convCase, 9001, COUNTS.Conv);
  });
  it(`ConvTranspose: ${COUNTS.ConvTranspose} random geometries (pads, output_padding, output_shape, auto_pad)`, async () => {
    ran.ConvTranspose = await checkCases(convTransposeCase, 9002, COUNTS.ConvTranspose);
  });
  it(`MaxPool: ${COUNTS.MaxPool} random geometries (dilations, ceil_mode, auto_pad)`, async () => {
    ran.MaxPool = await checkCases((r) => poolCase(r, 'MaxPool'), 9003, COUNTS.MaxPool);
  });
  it(`AveragePool: ${COUNTS.AveragePool} random geometries (count_include_pad, ceil_mode, dilations at opset 19)`, async () => {
    ran.AveragePool = await checkCases((r) => poolCase(r, 'AveragePool'), 9004, COUNTS.AveragePool);
  });
  it('ran every case, most of them against onnxruntime too', () => {
    for (const [op, count] of Object.entries(COUNTS)) {
      const t = ran[op]!;
      expect(t.cases, op).toBe(count);
      expect(t.ort + t.ortRefused + t.ortDeparts, op).toBe(count);
      expect(t.ort, op).toBeGreaterThan(count * 0.75);
    }
    console.log(`window geometries: ${Object.entries(ran).map(([op, t]) => `${op} ${t.cases} (onnxruntime ${t.ort}, refused ${t.ortRefused}, departs ${t.ortDeparts})`).join('; ')}`);
  });

  it("the issue's two crashes: 7×7 pad 3 on a 1×1 input, 1-D kernel 1 pad 2", async () => {
    const rand = rng(5);
    const cases: NodeCase[] = [
      { op: 'Conv', opset: 13, inputs: [randomF32(rand, [1, 3, 1, 1]), randomF32(rand, [8, 3, 7, 7])], attrs: [intsAttr('pads', [3, 3, 3, 3])], constant: [1] },
      { op: 'Conv', opset: 13, inputs: [randomF32(rand, [2, 4, 1, 1]), randomF32(rand, [4, 4, 7, 7])], attrs: [intsAttr('pads', [3, 3, 3, 3]), intsAttr('strides', [2, 2])], constant: [1] },
      { op: 'Conv', opset: 13, inputs: [randomF32(rand, [1, 2, 5]), randomF32(rand, [3, 2, 1])], attrs: [intsAttr('pads', [2, 2])], constant: [1] },
      { op: 'Conv', opset: 13, inputs: [randomF32(rand, [1, 2, 1]), randomF32(rand, [3, 2, 1])], attrs: [intsAttr('pads', [2, 2]), intsAttr('strides', [3])], constant: [1] },
    ];
    for (const c of cases) {
      const want = await runOrtNode(c);
      expect(tensorMismatch(runThroughEngine(c).outputs[0]!, want[0]!, TOL), describeCase(c)).toBeUndefined();
    }
  });
});
