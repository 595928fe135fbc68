import { Command } from 'commander';
import { BncError, Model, ValueInfo } from '../ir/index.js';
import { modelInputs } from '../runtime/engine.js';
import { InputOverrides } from '../runtime/inputs.js';
import { GivenInput } from '../verify/verify.js';
import { DEFAULT_PREPROCESSING, Preprocessing, decodeImage, imageTensor } from './image.js';

// The input flags of `run`, `verify`, `fold-bn --verify` and `convert --verify`, registered and parsed in one
// place so the four commands take the same inputs the same way.

/** The raw option values commander collects for the input flags. */
export interface InputFlagOptions {
  input?: string[];
  inputShape?: string[];
  inputRange?: string[];
  image?: string[];
  resize?: string;
  mean?: string;
  std?: string;
  scale?: string;
  bgr?: boolean;
  layout?: string;
}

/** The input flags, parsed and checked for form (not yet against a model). */
export interface InputFlags {
  /** --input NAME=file.npy */
  files: Map<string, string>;
  /** --input-shape NAME=D0,D1,... */
  shapes: Map<string, number[]>;
  /** --input-range NAME=LO,HI */
  ranges: Map<string, [number, number]>;
  /** --image NAME=file.jpg|png */
  images: Map<string, string>;
  preprocessing: Preprocessing;
}

// Repeatable options start undefined (so --help shows no '(default: [])').
/** Commander's accumulator for repeatable flags. */
export const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

/** Register the input flags on a command. `when` says when they apply, e.g. 'with --verify'. */
export function addInputOptions(cmd: Command, when = ''): Command {
  const w = when ? ` (${when})` : '';
  return cmd
    .option('--input <name=file.npy>', `feed an input from an .npy file (repeatable; the same in every sample)${w}`, collect)
    .option('--input-shape <name=d0,d1,...>', `dims of a generated input whose dims are symbolic (repeatable; fixed dims must match)${w}`, collect)
    .option('--input-range <name=lo,hi>', `generate this input uniform in [lo, hi) instead of N(0,1) (repeatable)${w}`, collect)
    .option('--image <name=file>', `feed a JPEG or PNG image to this input, preprocessed by the flags below (repeatable)${w}`, collect)
    .option('--resize <h,w>', "resize images to h×w (bilinear; default: the input's fixed size, else the image's)")
    .option('--mean <v|r,g,b>', 'subtract from each 0..255 pixel, per channel in the model\'s channel order (default 0)')
    .option('--std <v|r,g,b>', 'then divide by this, in 0..255 units (default 1)')
    .option('--scale <s>', 'then multiply by s (Caffe transform_param scale; default 1)')
    .option('--bgr', 'channels in BGR order (Caffe, OpenCV) instead of RGB')
    .option('--layout <nchw|nhwc>', 'image tensor layout (default: NHWC when the input is [N,H,W,3], else NCHW)');
}

function splitNameValue(text: string, option: string, form: string): [string, string] {
  // At the first '=': file paths may hold one, input names practically never.
  const eq = text.indexOf('=');
  if (eq <= 0 || eq === text.length - 1) throw new BncError(`${option} ${JSON.stringify(text)}: expected ${form}`, { code: 'USAGE' });
  return [text.slice(0, eq), text.slice(eq + 1)];
}

/** Comma-separated numbers; errors quote the whole flag value (`whole`, e.g. data=1,3,x). */
function numbers(text: string, option: string, form: string, whole = text): number[] {
  const parts = text.split(',').map((s) => s.trim());
  const values = parts.map(Number);
  if (parts.some((p) => p === '') || values.some((v) => !Number.isFinite(v))) {
    throw new BncError(`${option} ${JSON.stringify(whole)}: expected ${form}`, { code: 'USAGE' });
  }
  return values;
}

function collectMap<T>(values: string[] | undefined, option: string, form: string, parse: (value: string, whole: string) => T): Map<string, T> {
  const map = new Map<string, T>();
  for (const v of values ?? []) {
    const [name, value] = splitNameValue(v, option, form);
    if (map.has(name)) throw new BncError(`${option} ${name} is given twice`, { code: 'USAGE' });
    map.set(name, parse(value, v));
  }
  return map;
}

/** Parse the input flags (form only; names and shapes are checked against the model later). */
export function parseInputFlags(opts: InputFlagOptions): InputFlags {
  const files = collectMap(opts.input, '--input', 'name=file.npy', (v) => v);
  const shapes = collectMap(opts.inputShape, '--input-shape', 'name=D0,D1,... (whole numbers >= 1)', (v, whole) => {
    const dims = numbers(v, '--input-shape', 'name=D0,D1,... (whole numbers >= 1)', whole);
    if (dims.some((d) => !Number.isSafeInteger(d) || d < 1)) {
      throw new BncError(`--input-shape ${JSON.stringify(whole)}: expected name=D0,D1,... (whole numbers >= 1)`, { code: 'USAGE' });
    }
    return dims;
  });
  const ranges = collectMap(opts.inputRange, '--input-range', 'name=LO,HI with LO < HI', (v, whole) => {
    const r = numbers(v, '--input-range', 'name=LO,HI with LO < HI', whole);
    if (r.length !== 2 || !(r[0]! < r[1]!)) throw new BncError(`--input-range ${JSON.stringify(whole)}: expected name=LO,HI with LO < HI`, { code: 'USAGE' });
    return [r[0]!, r[1]!] as [number, number];
  });
  const images = collectMap(opts.image, '--image', 'name=file.jpg|png', (v) => v);
  for (const name of images.keys()) {
    if (files.has(name)) throw new BncError(`input '${name}' is given by both --input and --image; choose one`, { code: 'USAGE' });
  }
  const preprocessing: Preprocessing = { ...DEFAULT_PREPROCESSING, bgr: !!opts.bgr };
  if (opts.resize !== undefined) {
    const r = numbers(opts.resize, '--resize', 'H,W (whole numbers >= 1)');
    if (r.length !== 2 || r.some((d) => !Number.isSafeInteger(d) || d < 1)) throw new BncError(`--resize ${JSON.stringify(opts.resize)}: expected H,W (whole numbers >= 1)`, { code: 'USAGE' });
    preprocessing.resize = [r[0]!, r[1]!];
  }
  if (opts.mean !== undefined) preprocessing.mean = numbers(opts.mean, '--mean', 'one number or one per channel (r,g,b)');
  if (opts.std !== undefined) {
    preprocessing.std = numbers(opts.std, '--std', 'one number or one per channel (r,g,b)');
    if (preprocessing.std.some((s) => s === 0)) throw new BncError(`--std ${opts.std}: cannot divide by 0`, { code: 'USAGE' });
  }
  if (opts.scale !== undefined) {
    const s = numbers(opts.scale, '--scale', 'one number');
    if (s.length !== 1) throw new BncError(`--scale ${JSON.stringify(opts.scale)}: expected one number`, { code: 'USAGE' });
    preprocessing.scale = s[0]!;
  }
  if (opts.layout !== undefined) {
    const l = opts.layout.toLowerCase();
    if (l !== 'nchw' && l !== 'nhwc') throw new BncError(`--layout ${JSON.stringify(opts.layout)}: expected nchw or nhwc`, { code: 'USAGE' });
    preprocessing.layout = l;
  }
  const usesPreprocessing = opts.resize !== undefined || opts.mean !== undefined || opts.std !== undefined || opts.scale !== undefined || opts.bgr || opts.layout !== undefined;
  if (usesPreprocessing && images.size === 0) {
    throw new BncError('--resize, --mean, --std, --scale, --bgr and --layout preprocess --image inputs; no --image was given', { code: 'USAGE' });
  }
  return { files, shapes, ranges, images, preprocessing };
}

/** Whether any input flag was given (fold-bn and convert take them only with --verify). */
export function anyInputFlag(flags: InputFlags): boolean {
  return flags.files.size + flags.shapes.size + flags.ranges.size + flags.images.size > 0;
}

/** --input-shape as the OpenOptions.inputShapes a Caffe reader fixes the net's input shape with. */
export function inputShapesOption(flags: InputFlags): Record<string, number[]> | undefined {
  return flags.shapes.size ? Object.fromEntries(flags.shapes) : undefined;
}

/** What prepareInputs (src/verify/verify.ts) takes: files, decoded images, and overrides for generated inputs. */
export interface ResolvedInputs {
  inputFiles: Map<string, string>;
  inputTensors: Map<string, GivenInput>;
  overrides: InputOverrides;
}

/**
 * Decode and preprocess the --image inputs for `model`'s declared inputs; the other flags pass through
 * (prepareInputs checks their names and shapes). Errors name the flag and the input.
 */
export function resolveInputs(flags: InputFlags, model: Model): ResolvedInputs {
  const declared: ValueInfo[] = modelInputs(model);
  const inputTensors = new Map<string, GivenInput>();
  for (const [name, file] of flags.images) {
    const vi = declared.find((v) => v.name === name);
    if (!vi) throw new BncError(`--image ${name}=...: the model has no input '${name}' (inputs: ${declared.map((v) => v.name).join(', ') || 'none'})`, { code: 'USAGE' });
    const { tensor, description } = imageTensor(decodeImage(file), vi, flags.preprocessing, file);
    inputTensors.set(name, { tensor, file, preprocessing: description });
  }
  return { inputFiles: flags.files, inputTensors, overrides: { shapes: flags.shapes, ranges: flags.ranges } };
}
