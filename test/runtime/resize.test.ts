import { describe, expect, it } from 'vitest';
import { BncError, floatAttr, floatsAttr, intAttr, intsAttr, stringAttr } from '../../src/ir/index.js';
import { RtTensor } from '../../src/runtime/kernel.js';
import { NodeCase, compareWithOrt, describeCase, f32, i32, i64, randomF32, randomInt, rng, runKernel } from '../helpers/kernelHarness.js';

async function expectMatch(c: NodeCase, tol = { atol: 1e-5, rtol: 1e-5 }): Promise<void> {
  const mismatch = await compareWithOrt(c, tol);
  expect(mismatch, describeCase(c)).toBeUndefined();
}

const EMPTY = f32([0], []);
const COORDINATE_MODES = ['half_pixel', 'pytorch_half_pixel', 'align_corners', 'asymmetric'];
const NEAREST_MODES = ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'];

/** Scales that up- and down-sample, including non-integer ratios. */
function randomScale(rand: () => number): number {
  return [0.5, 0.6, 0.75, 1, 1.5, 2, 2.5, 3, 1.7][randomInt(rand, 9)]!;
}

/** Resize 11+ inputs: either scales or sizes; opset 11 needs roi and scales present (empty when unused). */
function resizeInputs(opset: number, x: RtTensor, scales?: number[], sizes?: number[], roi?: number[]): (RtTensor | undefined)[] {
  const roiT = roi ? f32([roi.length], roi) : opset < 13 ? EMPTY : undefined;
  if (scales) return [x, roiT ?? EMPTY, f32([scales.length], scales)];
  return [x, roiT ?? (opset < 13 ? EMPTY : undefined), opset < 13 ? EMPTY : undefined, i64([sizes!.length], sizes!)];
}

describe('Resize 11+ against onnxruntime', () => {
  const rand = rng(51);
  for (const opset of [11, 13, 19]) {
    for (const coord of COORDINATE_MODES) {
      it(`opset ${opset}, ${coord}: nearest (every nearest_mode) and linear, scales and sizes`, async () => {
        for (let trial = 0; trial < 3; trial++) {
          const x = randomF32(rand, [1 + randomInt(rand, 2), 1 + randomInt(rand, 3), 1 + randomInt(rand, 5), 1 + randomInt(rand, 5)]);
          const scales = [1, 1, randomScale(rand), randomScale(rand)];
          const sizes = [x.dims[0]!, x.dims[1]!, 1 + randomInt(rand, 9), 1 + randomInt(rand, 9)];
          const coordAttr = stringAttr('coordinate_transformation_mode', coord);
          // align_corners with scales: onnxruntime divides by the floored output length, ONNX by
          // scale·length (see the hand-worked case below), so compare only where the two agree.
          const integral = x.dims.every((d, i) => Number.isInteger(Math.fround(d * scales[i]!)));
          const compareScales = coord !== 'align_corners' || integral;
          for (const nearest of NEAREST_MODES) {
            const attrs = [coordAttr, stringAttr('mode', 'nearest'), stringAttr('nearest_mode', nearest)];
            if (compareScales) await expectMatch({ op: 'Resize', opset, inputs: resizeInputs(opset, x, scales), attrs });
            await expectMatch({ op: 'Resize', opset, inputs: resizeInputs(opset, x, undefined, sizes), attrs });
          }
          const linear = [coordAttr, stringAttr('mode', 'linear')];
          if (compareScales) await expectMatch({ op: 'Resize', opset, inputs: resizeInputs(opset, x, scales), attrs: linear });
          await expectMatch({ op: 'Resize', opset, inputs: resizeInputs(opset, x, undefined, sizes), attrs: linear });
        }
      });
    }
  }
  it('align_corners downsampling by scales divides by scale·length - 1, unfloored (ONNX reference, onnx/onnx#2462)', () => {
    // x = [[1,2,3,4],[5,6,7,8]], scales 0.6: output 1×2. Width: length_resized = 4·0.6 = 2.4, so output
    // column 1 samples x = 1·(4-1)/(2.4-1) = 2.142857, between 3 and 4: 3.142857. Height 2·0.6 = 1.2: row 0.
    const x = f32([1, 1, 2, 4], [1, 2, 3, 4, 5, 6, 7, 8]);
    const attrs = [stringAttr('mode', 'linear'), stringAttr('coordinate_transformation_mode', 'align_corners')];
    const [y] = runKernel({ op: 'Resize', opset: 13, inputs: resizeInputs(13, x, [1, 1, 0.6, 0.6]), attrs });
    expect(y!.dims).toEqual([1, 1, 1, 2]);
    expect(Array.from(y!.data as Float32Array)).toEqual([1, Math.fround(1 + 3 / 1.4)].map((v) => expect.closeTo(v, 5)));
  });
  it('defaults (mode nearest, half_pixel, round_prefer_floor) at opset 13', async () => {
    const x = randomF32(rand, [1, 2, 4, 6]);
    await expectMatch({ op: 'Resize', opset: 13, inputs: resizeInputs(13, x, [1, 1, 0.5, 0.5]) });
    await expectMatch({ op: 'Resize', opset: 13, inputs: resizeInputs(13, x, undefined, [1, 2, 7, 3]) });
  });
  it('cubic, with and without exclude_outside and a custom cubic_coeff_a', async () => {
    const x = randomF32(rand, [1, 2, 5, 4]);
    for (const coord of [...COORDINATE_MODES]) {
      for (const attrs of [[], [intAttr('exclude_outside', 1)], [floatAttr('cubic_coeff_a', -0.5)]]) {
        const all = [stringAttr('mode', 'cubic'), stringAttr('coordinate_transformation_mode', coord), ...attrs];
        await expectMatch({ op: 'Resize', opset: 13, inputs: resizeInputs(13, x, [1, 1, 1.6, 0.75]), attrs: all }, { atol: 1e-4, rtol: 1e-4 });
        await expectMatch({ op: 'Resize', opset: 13, inputs: resizeInputs(13, x, undefined, [1, 2, 3, 9]), attrs: all }, { atol: 1e-4, rtol: 1e-4 });
      }
    }
  });
  it('tf_crop_and_resize with roi and extrapolation_value', async () => {
    const x = randomF32(rand, [1, 1, 5, 6]);
    const roi = [0, 0, -0.2, 0.1, 1, 1, 0.9, 1.3];
    for (const mode of ['nearest', 'linear']) {
      const attrs = [stringAttr('mode', mode), stringAttr('coordinate_transformation_mode', 'tf_crop_and_resize'), floatAttr('extrapolation_value', 7)];
      await expectMatch({ op: 'Resize', opset: 13, inputs: resizeInputs(13, x, undefined, [1, 1, 4, 7], roi), attrs });
      await expectMatch({ op: 'Resize', opset: 11, inputs: resizeInputs(11, x, [1, 1, 2, 1.5], undefined, roi), attrs });
    }
  });
  it('half_pixel_symmetric (opset 19) and tf_half_pixel_for_nn', async () => {
    const x = randomF32(rand, [1, 2, 5, 3]);
    for (const mode of ['nearest', 'linear']) {
      const attrs = [stringAttr('mode', mode), stringAttr('coordinate_transformation_mode', 'half_pixel_symmetric')];
      await expectMatch({ op: 'Resize', opset: 19, inputs: resizeInputs(19, x, [1, 1, 1.7, 0.6]), attrs });
      await expectMatch({ op: 'Resize', opset: 19, inputs: resizeInputs(19, x, undefined, [1, 2, 8, 2]), attrs });
    }
    await expectMatch({ op: 'Resize', opset: 13, inputs: resizeInputs(13, x, [1, 1, 2.5, 0.7]), attrs: [stringAttr('coordinate_transformation_mode', 'tf_half_pixel_for_nn')] });
  });
  it('opset 18: axes and keep_aspect_ratio_policy', async () => {
    const x = randomF32(rand, [1, 2, 4, 6]);
    for (const policy of ['stretch', 'not_larger', 'not_smaller']) {
      for (const mode of ['nearest', 'linear']) {
        const attrs = [stringAttr('mode', mode), intsAttr('axes', [2, 3]), stringAttr('keep_aspect_ratio_policy', policy)];
        await expectMatch({ op: 'Resize', opset: 18, inputs: [x, undefined, undefined, i64([2], [7, 9])], attrs });
      }
    }
    await expectMatch({ op: 'Resize', opset: 18, inputs: [x, undefined, f32([2], [2, 0.5])], attrs: [stringAttr('mode', 'linear'), intsAttr('axes', [3, 2])] });
    await expectMatch({ op: 'Resize', opset: 18, inputs: [x, undefined, undefined, i64([2], [3, 5])], attrs: [intsAttr('axes', [-2, -1])] });
  });
  it('opset 18: negative axes mean the same axes under every policy', () => {
    // onnxruntime 1.x ignores keep_aspect_ratio_policy when axes are negative, so compare bnc with itself.
    const x = randomF32(rand, [1, 2, 4, 6]);
    for (const policy of ['not_larger', 'not_smaller']) {
      const run = (axes: number[]) =>
        runKernel({ op: 'Resize', opset: 18, inputs: [x, undefined, undefined, i64([2], [7, 9])], attrs: [intsAttr('axes', axes), stringAttr('keep_aspect_ratio_policy', policy)] })[0]!;
      const positive = run([2, 3]);
      const negative = run([-2, -1]);
      expect(negative.dims).toEqual(positive.dims);
      expect(Buffer.from((negative.data as Float32Array).buffer).equals(Buffer.from((positive.data as Float32Array).buffer))).toBe(true);
    }
  });
  it('trilinear on 5-D input and nearest on 3-D input', async () => {
    const x = randomF32(rand, [1, 1, 3, 4, 5]);
    await expectMatch({ op: 'Resize', opset: 13, inputs: resizeInputs(13, x, [1, 1, 2, 0.5, 1.5]), attrs: [stringAttr('mode', 'linear')] });
    await expectMatch({ op: 'Resize', opset: 13, inputs: resizeInputs(13, randomF32(rand, [2, 3, 5]), undefined, [2, 3, 11]), attrs: [stringAttr('mode', 'nearest')] });
  });
  it('nearest on int32 data, and int64 data gives the same values as float32 (onnxruntime has no int64 Resize)', async () => {
    const values = [1, -2, 3, 40, 5, -6];
    const attrs = [stringAttr('mode', 'nearest')];
    await expectMatch({ op: 'Resize', opset: 13, inputs: resizeInputs(13, i32([1, 1, 2, 3], values), [1, 1, 2, 1.5]), attrs });
    const [asInt] = runKernel({ op: 'Resize', opset: 13, inputs: resizeInputs(13, i64([1, 1, 2, 3], values), [1, 1, 2, 1.5]), attrs });
    const [asFloat] = runKernel({ op: 'Resize', opset: 13, inputs: resizeInputs(13, f32([1, 1, 2, 3], values), [1, 1, 2, 1.5]), attrs });
    expect(asInt!.dims).toEqual(asFloat!.dims);
    expect(Array.from(asInt!.data as BigInt64Array, Number)).toEqual(Array.from(asFloat!.data as Float32Array));
  });
});

describe('Upsample and Resize-10 against onnxruntime', () => {
  const rand = rng(52);
  it('Resize-10: nearest and linear, up- and down-sampling', async () => {
    for (let trial = 0; trial < 6; trial++) {
      const x = randomF32(rand, [1, 2, 2 + randomInt(rand, 5), 2 + randomInt(rand, 5)]);
      const scales = f32([4], [1, 1, randomScale(rand), randomScale(rand)]);
      for (const mode of ['nearest', 'linear']) await expectMatch({ op: 'Resize', opset: 10, inputs: [x, scales], attrs: [stringAttr('mode', mode)] });
    }
  });
  it('Resize-10 nearest downsampling by non-integer ratios (ceil of the coordinate) and upsampling (truncation)', async () => {
    const x = randomF32(rand, [1, 1, 7, 9]);
    for (const scales of [[1, 1, 0.6, 0.75], [1, 1, 0.7, 1.3], [1, 1, 1.6, 0.45]]) {
      await expectMatch({ op: 'Resize', opset: 10, inputs: [x, f32([4], scales)], attrs: [stringAttr('mode', 'nearest')] });
    }
  });
  it('Upsample-9 (scales input) and Upsample-7 (scales attribute)', async () => {
    for (let trial = 0; trial < 4; trial++) {
      const x = randomF32(rand, [1, 2, 1 + randomInt(rand, 4), 1 + randomInt(rand, 4)]);
      const scales = [1, 1, [1, 2, 3, 1.5][randomInt(rand, 4)]!, [1, 2, 2.5, 4][randomInt(rand, 4)]!];
      for (const mode of ['nearest', 'linear']) {
        await expectMatch({ op: 'Upsample', opset: 9, inputs: [x, f32([4], scales)], attrs: [stringAttr('mode', mode)], constant: [1] });
        await expectMatch({ op: 'Upsample', opset: 7, inputs: [x], attrs: [stringAttr('mode', mode), floatsAttr('scales', scales)] });
      }
    }
  });
});

describe('Resize errors', () => {
  const x = f32([1, 1, 2, 2], [1, 2, 3, 4]);
  it('both scales and sizes', () => {
    expect(() => runKernel({ op: 'Resize', opset: 13, inputs: [x, undefined, f32([4], [1, 1, 2, 2]), i64([4], [1, 1, 4, 4])] })).toThrow(/both scales and sizes/);
  });
  it('neither scales nor sizes, wrong scales length, unknown mode', () => {
    expect(() => runKernel({ op: 'Resize', opset: 13, inputs: [x] })).toThrow(BncError);
    expect(() => runKernel({ op: 'Resize', opset: 13, inputs: [x, undefined, f32([2], [2, 2])] })).toThrow(/scales has 2 values for 4 axes/);
    expect(() => runKernel({ op: 'Resize', opset: 13, inputs: [x, undefined, f32([4], [1, 1, 2, 2])], attrs: [stringAttr('mode', 'area')] })).toThrow(
      /Resize node 'Resize_under_test': mode 'area'/,
    );
  });
});
