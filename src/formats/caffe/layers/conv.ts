import { Attribute, DataType, intAttr, intsAttr } from '../../../ir/index.js';
import { CaffeLayer } from '../net.js';
import { BlobSpec, LayerMapping, canonicalAxis, layerError, param, sizeOf } from './mapping.js';

// ---------------------------------------------------------------- convolution

interface ConvGeometry {
  kernel: number[];
  stride: number[];
  pad: number[];
  dilation: number[];
  group: number;
  numOutput: number;
  biasTerm: boolean;
}

/** Kernel/stride/pad/dilation from either the repeated fields or the _h/_w forms, per spatial axis. */
function convGeometry(layer: CaffeLayer, spatial: number): ConvGeometry {
  const p = param(layer, 'convolution_param');
  const perAxis = (list: number[], what: string, fallback: number | undefined): number[] => {
    if (list.length === 0) {
      if (fallback === undefined) throw layerError(layer, `convolution_param has no ${what}`);
      return new Array<number>(spatial).fill(fallback);
    }
    if (list.length === 1) return new Array<number>(spatial).fill(list[0]!);
    if (list.length !== spatial) throw layerError(layer, `${what} has ${list.length} values for ${spatial} spatial axes`);
    return list;
  };
  const hw = (h: string, w: string): number[] | undefined => {
    if (!p.has(h) && !p.has(w)) return undefined;
    if (spatial !== 2) throw layerError(layer, `${h}/${w} are only for 2-D convolution`);
    return [p.num(h), p.num(w)];
  };
  const kernel = hw('kernel_h', 'kernel_w') ?? perAxis(p.nums('kernel_size'), 'kernel_size', undefined);
  const stride = hw('stride_h', 'stride_w') ?? perAxis(p.nums('stride'), 'stride', 1);
  const pad = hw('pad_h', 'pad_w') ?? perAxis(p.nums('pad'), 'pad', 0);
  const dilation = perAxis(p.nums('dilation'), 'dilation', 1);
  if (!p.has('num_output')) throw layerError(layer, 'convolution_param has no num_output');
  if (p.num('axis') !== 1) throw layerError(layer, `convolution_param axis ${p.num('axis')} is not supported (only the channel axis 1)`);
  if (kernel.some((k) => k <= 0) || stride.some((s) => s <= 0)) throw layerError(layer, 'kernel and stride must be positive');
  return { kernel, stride, pad, dilation, group: p.num('group'), numOutput: p.num('num_output'), biasTerm: p.bool('bias_term') };
}

function convAttributes(g: ConvGeometry): Attribute[] {
  return [
    intsAttr('kernel_shape', g.kernel),
    intsAttr('strides', g.stride),
    intsAttr('pads', [...g.pad, ...g.pad]),
    intsAttr('dilations', g.dilation),
    intAttr('group', g.group),
  ];
}

function checkGroups(layer: CaffeLayer, channels: number, g: ConvGeometry): void {
  if (g.group < 1 || channels % g.group !== 0 || g.numOutput % g.group !== 0) {
    throw layerError(layer, `group ${g.group} must divide both the ${channels} input channels and num_output ${g.numOutput}`);
  }
}

const convolution: LayerMapping = {
  blobs(layer, [x]) {
    const g = convGeometry(layer, x!.length - 2);
    const fanIn = (x![1]! / g.group) * sizeOf(g.kernel);
    const specs: BlobSpec[] = [{ dims: [g.numOutput, x![1]! / g.group, ...g.kernel], role: 'weight', fanIn }];
    if (g.biasTerm) specs.push({ dims: [g.numOutput], role: 'bias' });
    return specs;
  },
  map(c) {
    const x = c.shapes[0]!;
    if (x.length < 3) throw layerError(c.layer, `needs an input with spatial axes, got shape [${x}]`);
    const g = convGeometry(c.layer, x.length - 2);
    checkGroups(c.layer, x[1]!, g);
    const inputs = [c.inputs[0]!, c.b.constant(`${c.layer.name}.weight`, [g.numOutput, x[1]! / g.group, ...g.kernel], c.blobs[0]!)];
    if (g.biasTerm) inputs.push(c.b.constant(`${c.layer.name}.bias`, [g.numOutput], c.blobs[1]!));
    c.b.node('Conv', c.layer.name, inputs, [c.outputs[0]!], convAttributes(g));
    const spatial = x.slice(2).map((size, i) => {
      const extent = g.dilation[i]! * (g.kernel[i]! - 1) + 1;
      return Math.floor((size + 2 * g.pad[i]! - extent) / g.stride[i]!) + 1;
    });
    if (spatial.some((s) => s <= 0)) throw layerError(c.layer, `the kernel does not fit the ${x.slice(2).join('x')} input`);
    return [[x[0]!, g.numOutput, ...spatial]];
  },
};

const deconvolution: LayerMapping = {
  blobs(layer, [x]) {
    const g = convGeometry(layer, x!.length - 2);
    const specs: BlobSpec[] = [
      { dims: [x![1]!, g.numOutput / g.group, ...g.kernel], role: 'weight', fanIn: (x![1]! / g.group) * sizeOf(g.kernel) },
    ];
    if (g.biasTerm) specs.push({ dims: [g.numOutput], role: 'bias' });
    return specs;
  },
  map(c) {
    const x = c.shapes[0]!;
    const g = convGeometry(c.layer, x.length - 2);
    checkGroups(c.layer, x[1]!, g);
    // Caffe stores deconvolution weights as [C_in, C_out / group, k...]: ConvTranspose's layout.
    const inputs = [c.inputs[0]!, c.b.constant(`${c.layer.name}.weight`, [x[1]!, g.numOutput / g.group, ...g.kernel], c.blobs[0]!)];
    if (g.biasTerm) inputs.push(c.b.constant(`${c.layer.name}.bias`, [g.numOutput], c.blobs[1]!));
    c.b.node('ConvTranspose', c.layer.name, inputs, [c.outputs[0]!], convAttributes(g));
    const spatial = x.slice(2).map((size, i) => g.stride[i]! * (size - 1) + g.dilation[i]! * (g.kernel[i]! - 1) + 1 - 2 * g.pad[i]!);
    return [[x[0]!, g.numOutput, ...spatial]];
  },
};

// ---------------------------------------------------------------- inner product

const innerProduct: LayerMapping = {
  blobs(layer, [x]) {
    const p = param(layer, 'inner_product_param');
    const axis = canonicalAxis(layer, p.num('axis'), x!.length);
    const k = sizeOf(x!.slice(axis));
    const n = p.num('num_output');
    const specs: BlobSpec[] = [{ dims: p.bool('transpose') ? [k, n] : [n, k], role: 'weight', fanIn: k }];
    if (p.bool('bias_term')) specs.push({ dims: [n], role: 'bias' });
    return specs;
  },
  map(c) {
    const p = param(c, 'inner_product_param');
    const x = c.shapes[0]!;
    if (!p.has('num_output')) throw layerError(c.layer, 'inner_product_param has no num_output');
    const axis = canonicalAxis(c.layer, p.num('axis'), x.length);
    const k = sizeOf(x.slice(axis));
    const n = p.num('num_output');
    const transposed = p.bool('transpose');
    const name = c.layer.name;
    const out = c.outputs[0]!;
    if (axis === 1) {
      // (N, C, H, W) → Flatten → Gemm: the usual classifier.
      let input = c.inputs[0]!;
      if (x.length > 2) {
        input = c.b.unique(`${name}/flatten`);
        c.b.node('Flatten', `${name}/flatten`, [c.inputs[0]!], [input], [intAttr('axis', 1)]);
      }
      const inputs = [input, c.b.constant(`${name}.weight`, transposed ? [k, n] : [n, k], c.blobs[0]!)];
      if (p.bool('bias_term')) inputs.push(c.b.constant(`${name}.bias`, [n], c.blobs[1]!));
      c.b.node('Gemm', name, inputs, [out], [intAttr('transB', transposed ? 0 : 1)]);
      return [[x[0]!, n]];
    }
    // axis > 1: the leading axes stay, the rest is flattened; MatMul with a [K, N] weight keeps them.
    let input = c.inputs[0]!;
    if (x.length > axis + 1) {
      input = c.b.unique(`${name}/flatten`);
      const shape = c.b.int64s(`${name}/flatten_shape`, [...new Array<number>(axis).fill(0), -1]);
      c.b.node('Reshape', `${name}/flatten`, [c.inputs[0]!, shape], [input]);
    }
    let weight = c.blobs[0]!;
    if (!transposed) {
      weight = new Float32Array(k * n);
      const src = c.blobs[0]!;
      for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) weight[j * n + i] = src[i * k + j]!;
    }
    const w = c.b.constant(`${name}.weight`, [k, n], weight);
    if (p.bool('bias_term')) {
      const product = c.b.unique(`${name}/matmul`);
      c.b.node('MatMul', name, [input, w], [product]);
      c.b.node('Add', `${name}/bias`, [product, c.b.constant(`${name}.bias`, [n], c.blobs[1]!)], [out]);
    } else {
      c.b.node('MatMul', name, [input, w], [out]);
    }
    return [[...x.slice(0, axis), n]];
  },
};

// ---------------------------------------------------------------- depthwise forks

/**
 * ConvolutionDepthwise (farmingyard/caffe-mobilenet `conv_dw_layer.cpp`, from BVLC/caffe PR 5665): one
 * k_h × k_w filter per input channel, weight [C, 1, k_h, k_w], bias [C]; num_output and group are not read,
 * the output has the input's channels. Its geometry reading: kernel_h/kernel_w when both are given, else
 * kernel_size (one value for both, or h then w); stride and pad likewise (absent: 1 and 0, as in BVLC);
 * dilation one value or h, w. Written as a Conv with group = C, so BatchNorm folds into it.
 */
function depthwiseGeometry(layer: CaffeLayer, channels: number): ConvGeometry {
  const p = param(layer, 'convolution_param');
  const pair = (h: string, w: string, list: string, fallback: number | undefined): number[] => {
    if (p.has(h) && p.has(w)) return [p.num(h), p.num(w)];
    const v = p.nums(list);
    if (v.length === 0) {
      if (fallback === undefined) throw layerError(layer, `convolution_param has no ${list} (or ${h}/${w})`);
      return [fallback, fallback];
    }
    return v.length === 1 ? [v[0]!, v[0]!] : [v[0]!, v[1]!];
  };
  const kernel = pair('kernel_h', 'kernel_w', 'kernel_size', undefined);
  const stride = pair('stride_h', 'stride_w', 'stride', 1);
  const pad = pair('pad_h', 'pad_w', 'pad', 0);
  const d = p.nums('dilation');
  const dilation = d.length === 0 ? [1, 1] : d.length === 1 ? [d[0]!, d[0]!] : [d[0]!, d[1]!];
  if ([...kernel, ...stride, ...dilation].some((k) => !(k > 0))) throw layerError(layer, 'kernel, stride and dilation must be positive');
  return { kernel, stride, pad, dilation, group: channels, numOutput: channels, biasTerm: p.bool('bias_term') };
}

const convolutionDepthwise: LayerMapping = {
  blobs(layer, [x]) {
    const ch = x!.length > 1 ? x![1]! : 1;
    const g = depthwiseGeometry(layer, ch);
    const specs: BlobSpec[] = [{ dims: [ch, 1, ...g.kernel], role: 'weight', fanIn: sizeOf(g.kernel) }];
    if (g.biasTerm) specs.push({ dims: [ch], role: 'bias' });
    return specs;
  },
  map(c) {
    const x = c.shapes[0]!;
    if (x.length !== 4) throw layerError(c.layer, `needs a 4-D input, got shape [${x}]`);
    const ch = x[1]!;
    const g = depthwiseGeometry(c.layer, ch);
    const inputs = [c.inputs[0]!, c.b.constant(`${c.layer.name}.weight`, [ch, 1, ...g.kernel], c.blobs[0]!)];
    if (g.biasTerm) inputs.push(c.b.constant(`${c.layer.name}.bias`, [ch], c.blobs[1]!));
    c.b.node('Conv', c.layer.name, inputs, [c.outputs[0]!], convAttributes(g));
    const spatial = x.slice(2).map((size, i) => Math.floor((size + 2 * g.pad[i]! - (g.dilation[i]! * (g.kernel[i]! - 1) + 1)) / g.stride[i]!) + 1);
    if (spatial.some((s) => s <= 0)) throw layerError(c.layer, `the kernel does not fit the ${x.slice(2).join('x')} input`);
    return [[x[0]!, ch, ...spatial]];
  },
};

// ---------------------------------------------------------------- Embed

// Embed (BVLC embed_layer.cpp): each bottom value, truncated to an integer index (static_cast<int>),
// selects a row of the [input_dim, num_output] weight; top shape = bottom shape + [num_output]; plus the
// bias. Cast to int64 (truncating, as C) + Gather + Add.
const embed: LayerMapping = {
  blobs(layer) {
    const p = param(layer, 'embed_param');
    const [k, n] = [p.num('input_dim'), p.num('num_output')];
    const specs: BlobSpec[] = [{ dims: [k, n], role: 'weight', fanIn: 1 }];
    if (p.bool('bias_term')) specs.push({ dims: [n], role: 'bias' });
    return specs;
  },
  map(c) {
    const p = param(c, 'embed_param');
    const [k, n] = [p.num('input_dim'), p.num('num_output')];
    if (!(k > 0) || !(n > 0)) throw layerError(c.layer, `embed_param needs positive input_dim and num_output, got ${k} and ${n}`);
    const name = c.layer.name;
    const index = c.b.unique(`${name}/index`);
    c.b.node('Cast', `${name}/index`, [c.inputs[0]!], [index], [intAttr('to', DataType.INT64)]);
    const weight = c.b.constant(`${name}.weight`, [k, n], c.blobs[0]!);
    const bias = p.bool('bias_term');
    const rows = bias ? c.b.unique(`${name}/gather`) : c.outputs[0]!;
    c.b.node('Gather', bias ? `${name}/gather` : name, [weight, index], [rows], [intAttr('axis', 0)]);
    if (bias) c.b.node('Add', `${name}/bias`, [rows, c.b.constant(`${name}.bias`, [n], c.blobs[1]!)], [c.outputs[0]!]);
    return [[...c.shapes[0]!, n]];
  },
};

/** Convolution, Deconvolution, InnerProduct, the depthwise convolutions of the forks, and Embed. */
export const CONV_LAYERS: Record<string, LayerMapping> = {
  Convolution: convolution,
  Deconvolution: deconvolution,
  InnerProduct: innerProduct,
  // yonghenglh6/DepthwiseConvolution (also in eric612/MobileNet-YOLO): its CPU forward is BVLC's grouped
  // convolution with the prototxt's group (= channels), so it is a Convolution.
  DepthwiseConvolution: convolution,
  ConvolutionDepthwise: convolutionDepthwise,
  Embed: embed,
};
