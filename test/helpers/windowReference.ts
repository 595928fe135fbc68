import { Attribute, DataType } from '../../src/ir/index.js';
import { RtTensor } from '../../src/runtime/kernel.js';

// Plain, slow reference implementations of Conv, ConvTranspose, MaxPool and AveragePool written from the
// ONNX operator documents, in float64 over N-D index tuples: no im2col, no 3-D form, no fast paths. They
// check bnc where onnxruntime refuses a legal geometry or departs from the spec:
//  - onnxruntime's Conv refuses dilations with auto_pad SAME_*;
//  - its pools compute SAME_* padding without the dilation (the spec's pad_shape includes it).
// Rules followed where the spec text leaves room (the same as onnxruntime's where it runs):
//  - ConvTranspose with output_shape: total padding = max(0, full - output_shape), split as the spec says
//    (from opset 11 SAME_UPPER puts the odd pixel at the end, otherwise at the beginning; opsets 1-10 the
//    other way round, where onnxruntime keeps opset 11's split); an output_shape beyond the full output
//    adds zero (bias) elements at the end.
//  - ConvTranspose SAME_*: the same with output_shape = input · stride, except that a full output smaller
//    than that is kept (total padding 0), as onnx's shape inference and onnxruntime do.
//  - Pools with ceil_mode: a last window that would start in the end padding is dropped.
//  - SAME_* padding is never negative: a total below 0 (stride larger than the window) pads nothing, as in
//    TensorFlow, where SAME comes from. onnxruntime's Conv splits the negative total and so starts the
//    windows inside the input; its pools refuse it.

interface Attrs {
  ints(name: string): number[] | undefined;
  int(name: string, fallback: number): number;
  str(name: string, fallback: string): string;
}

function reader(attrs: Attribute[]): Attrs {
  const get = (name: string) => attrs.find((a) => a.name === name);
  return {
    ints: (name) => get(name)?.ints,
    int: (name, fallback) => get(name)?.i ?? fallback,
    str: (name, fallback) => {
      const s = get(name)?.s;
      return s ? new TextDecoder().decode(s) : fallback;
    },
  };
}

const prod = (v: readonly number[]) => v.reduce((a, b) => a * b, 1);

/** Row-major strides of a shape. */
function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length).fill(1);
  for (let i = dims.length - 2; i >= 0; i--) s[i] = s[i + 1]! * dims[i + 1]!;
  return s;
}

/** Every index tuple of a shape, in row-major order. */
function* indices(dims: readonly number[]): Generator<number[]> {
  const n = prod(dims);
  const idx = new Array<number>(dims.length).fill(0);
  for (let k = 0; k < n; k++) {
    yield idx;
    for (let a = dims.length - 1; a >= 0; a--) {
      if (++idx[a]! < dims[a]!) break;
      idx[a] = 0;
    }
  }
}

interface Forward {
  out: number[];
  padBegin: number[];
  padEnd: number[];
  kernel: number[];
  strides: number[];
  dilations: number[];
}

/** Output size and begin padding of Conv and the pools, from the operator documents. */
function forwardWindow(a: Attrs, input: number[], kernel: number[], ceilMode: boolean, useDilations: boolean): Forward {
  const r = input.length;
  const strides = a.ints('strides') ?? new Array<number>(r).fill(1);
  const dilations = (useDilations && a.ints('dilations')) || new Array<number>(r).fill(1);
  const pads = a.ints('pads') ?? new Array<number>(2 * r).fill(0);
  const autoPad = a.str('auto_pad', 'NOTSET');
  const out: number[] = [];
  const padBegin: number[] = [];
  const padEnd: number[] = [];
  for (let i = 0; i < r; i++) {
    const extent = (kernel[i]! - 1) * dilations[i]! + 1;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      const o = Math.ceil(input[i]! / strides[i]!);
      const total = Math.max(0, (o - 1) * strides[i]! + extent - input[i]!);
      const small = Math.floor(total / 2);
      padBegin.push(autoPad === 'SAME_UPPER' ? small : total - small);
      padEnd.push(total - padBegin[i]!);
      out.push(o);
      continue;
    }
    const b = autoPad === 'VALID' ? 0 : pads[i]!;
    const e = autoPad === 'VALID' ? 0 : pads[i + r]!;
    const span = input[i]! + b + e - extent;
    let o = (ceilMode ? Math.ceil(span / strides[i]!) : Math.floor(span / strides[i]!)) + 1;
    if (ceilMode && (o - 1) * strides[i]! >= input[i]! + b) o--;
    out.push(o);
    padBegin.push(b);
    padEnd.push(e);
  }
  return { out, padBegin, padEnd, kernel, strides, dilations };
}

function f64(t: RtTensor): Float64Array {
  return Float64Array.from(t.data as Float32Array);
}

function result(dims: number[], values: Float64Array): RtTensor {
  return { dtype: DataType.FLOAT, dims, data: Float32Array.from(values) };
}

export function referenceConv(inputs: (RtTensor | undefined)[], attrs: Attribute[]): RtTensor {
  const a = reader(attrs);
  const [x, w, b] = inputs as [RtTensor, RtTensor, RtTensor | undefined];
  const [batch, channels] = x.dims as [number, number];
  const m = w.dims[0]!;
  const group = a.int('group', 1);
  const cg = channels / group;
  const mg = m / group;
  const spatial = x.dims.slice(2);
  const kernel = w.dims.slice(2);
  const g = forwardWindow(a, spatial, kernel, false, true);
  const xs = stridesOf(x.dims);
  const ws = stridesOf(w.dims);
  const xv = f64(x);
  const wv = f64(w);
  const bv = b ? f64(b) : undefined;
  const outDims = [batch, m, ...g.out];
  const y = new Float64Array(prod(outDims));
  let o = 0;
  for (const [n, oc, ...pos] of indices(outDims)) {
    let sum = bv ? bv[oc!]! : 0;
    const group0 = Math.floor(oc! / mg) * cg;
    for (let c = 0; c < cg; c++) {
      taps: for (const k of indices(kernel)) {
        let xi = n! * xs[0]! + (group0 + c) * xs[1]!;
        for (let i = 0; i < k.length; i++) {
          const p = pos[i]! * g.strides[i]! - g.padBegin[i]! + k[i]! * g.dilations[i]!;
          if (p < 0 || p >= spatial[i]!) continue taps;
          xi += p * xs[i + 2]!;
        }
        let wi = oc! * ws[0]! + c * ws[1]!;
        for (let i = 0; i < k.length; i++) wi += k[i]! * ws[i + 2]!;
        sum += xv[xi]! * wv[wi]!;
      }
    }
    y[o++] = sum;
  }
  return result(outDims, y);
}

export function referenceConvTranspose(inputs: (RtTensor | undefined)[], attrs: Attribute[], opset = 11): RtTensor {
  const a = reader(attrs);
  const [x, w, b] = inputs as [RtTensor, RtTensor, RtTensor | undefined];
  const [batch, channels] = x.dims as [number, number];
  const group = a.int('group', 1);
  const cg = channels / group;
  const mg = w.dims[1]!;
  const m = mg * group;
  const spatial = x.dims.slice(2);
  const kernel = w.dims.slice(2);
  const r = spatial.length;
  const strides = a.ints('strides') ?? new Array<number>(r).fill(1);
  const dilations = a.ints('dilations') ?? new Array<number>(r).fill(1);
  const pads = a.ints('pads') ?? new Array<number>(2 * r).fill(0);
  const outputPadding = a.ints('output_padding') ?? new Array<number>(r).fill(0);
  const autoPad = a.str('auto_pad', 'NOTSET');
  let outputShape = a.ints('output_shape');
  if (outputShape && outputShape.length === r + 2) outputShape = outputShape.slice(2);
  const out: number[] = [];
  const padBegin: number[] = [];
  for (let i = 0; i < r; i++) {
    const full = strides[i]! * (spatial[i]! - 1) + outputPadding[i]! + (kernel[i]! - 1) * dilations[i]! + 1;
    if (outputShape || autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      const wanted = outputShape ? outputShape[i]! : spatial[i]! * strides[i]!;
      const total = Math.max(0, full - wanted);
      const small = Math.floor(total / 2);
      // ConvTranspose-1: "If (auto_pads != SAME_UPPER): pads[start_i] = total_padding[i]/2"; -11 reversed it.
      const smallFirst = outputShape && opset < 11 ? autoPad !== 'SAME_UPPER' : autoPad === 'SAME_UPPER';
      padBegin.push(smallFirst ? small : total - small);
      out.push(outputShape ? wanted : full - total);
    } else {
      const [pb, pe] = autoPad === 'VALID' ? [0, 0] : [pads[i]!, pads[i + r]!];
      padBegin.push(pb);
      out.push(full - pb - pe);
    }
  }
  const outDims = [batch, m, ...out];
  const os = stridesOf(outDims);
  const ws = stridesOf(w.dims);
  const xv = f64(x);
  const wv = f64(w);
  const y = new Float64Array(prod(outDims));
  if (b) {
    const bv = f64(b);
    for (const [n, oc] of indices([batch, m])) y.fill(bv[oc!]!, (n! * m + oc!) * os[1]!, (n! * m + oc! + 1) * os[1]!);
  }
  let xi = 0;
  for (const [n, c, ...pos] of indices(x.dims)) {
    const v = xv[xi++]!;
    const gi = Math.floor(c! / cg);
    for (let j = 0; j < mg; j++) {
      const oc = gi * mg + j;
      taps: for (const k of indices(kernel)) {
        let yi = n! * os[0]! + oc * os[1]!;
        for (let i = 0; i < r; i++) {
          const p = pos[i]! * strides[i]! - padBegin[i]! + k[i]! * dilations[i]!;
          if (p < 0 || p >= out[i]!) continue taps;
          yi += p * os[i + 2]!;
        }
        let wi = c! * ws[0]! + j * ws[1]!;
        for (let i = 0; i < r; i++) wi += k[i]! * ws[i + 2]!;
        y[yi] += v * wv[wi]!;
      }
    }
  }
  return result(outDims, y);
}

export function referencePool(op: 'MaxPool' | 'AveragePool', opset: number, inputs: (RtTensor | undefined)[], attrs: Attribute[]): RtTensor {
  const a = reader(attrs);
  const x = inputs[0]!;
  const spatial = x.dims.slice(2);
  const kernel = a.ints('kernel_shape')!;
  const ceilMode = opset >= 10 && a.int('ceil_mode', 0) !== 0;
  const useDilations = opset >= (op === 'MaxPool' ? 10 : 19);
  const countPad = op === 'AveragePool' && opset >= 7 && a.int('count_include_pad', 0) !== 0;
  const g = forwardWindow(a, spatial, kernel, ceilMode, useDilations);
  const xs = stridesOf(x.dims);
  const xv = f64(x);
  const outDims = [x.dims[0]!, x.dims[1]!, ...g.out];
  const y = new Float64Array(prod(outDims));
  let o = 0;
  for (const [n, c, ...pos] of indices(outDims)) {
    let max = -Infinity;
    let sum = 0;
    let count = 0;
    let taken = 0;
    taps: for (const k of indices(kernel)) {
      let xi = n! * xs[0]! + c! * xs[1]!;
      let inside = true;
      for (let i = 0; i < k.length; i++) {
        const p = pos[i]! * g.strides[i]! - g.padBegin[i]! + k[i]! * g.dilations[i]!;
        // Taps beyond the end padding (ceil_mode's overhang) never count.
        if (p >= spatial[i]! + g.padEnd[i]!) continue taps;
        if (p < 0 || p >= spatial[i]!) inside = false;
        else xi += p * xs[i + 2]!;
      }
      if (inside) {
        max = Math.max(max, xv[xi]!);
        sum += xv[xi]!;
        count++;
        taken++;
      } else if (countPad) {
        count++;
      }
    }
    // A window with no tap inside the input (dilated, all padding) gives what onnxruntime gives: the lowest
    // float32 (MaxPool), 0 (AveragePool).
    y[o++] = op === 'MaxPool' ? (taken ? max : -3.4028234663852886e38) : count ? sum / count : 0;
  }
  return result(outDims, y);
}
