import { Attribute, intAttr, intsAttr } from '../../../ir/index.js';
import { LayerMapping, MapContext, layerError, param } from './mapping.js';


/**
 * Caffe's pooled size: ceil (default) or floor of (size + 2·pad − kernel) / stride, plus one; with padding,
 * a last window that would start in the padding (at or beyond size + pad) is dropped.
 */
export function caffePooledSize(size: number, kernel: number, stride: number, pad: number, ceil: boolean): number {
  const span = size + 2 * pad - kernel;
  let out = (ceil ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  if (pad > 0 && (out - 1) * stride >= size + pad) out--;
  return out;
}

const pooling: LayerMapping = {
  map(c) {
    const p = param(c, 'pooling_param');
    const x = c.shapes[0]!;
    const name = c.layer.name;
    if (x.length !== 4) throw layerError(c.layer, `Caffe pooling needs a 4-D input, got shape [${x}]`);
    if (c.outputs.length > 1) {
      // BVLC's MAX pooling may write its argmax mask as a second top; SegNet's max-unpooling reads it.
      throw layerError(c.layer, `has ${c.outputs.length} tops: the second is MAX pooling's argmax mask (read by SegNet-style max-unpooling), which bnc does not convert; --outputs can stop the net before this layer`);
    }
    const method = p.num('pool');
    if (method !== 0 && method !== 1) throw layerError(c.layer, 'STOCHASTIC pooling is not supported; use MAX or AVE');
    const isMax = method === 0;
    if (p.bool('global_pooling')) {
      c.b.node(isMax ? 'GlobalMaxPool' : 'GlobalAveragePool', name, [c.inputs[0]!], [c.outputs[0]!]);
      return [[x[0]!, x[1]!, 1, 1]];
    }
    const two = (h: string, w: string, single: string, fallback?: number): [number, number] => {
      if (p.has(h) || p.has(w)) return [p.num(h), p.num(w)];
      if (!p.has(single) && fallback === undefined) throw layerError(c.layer, `pooling_param has no ${single} (or ${h}/${w})`);
      const v = p.has(single) ? p.num(single) : fallback!;
      return [v, v];
    };
    const kernel = two('kernel_h', 'kernel_w', 'kernel_size');
    const stride = two('stride_h', 'stride_w', 'stride', 1);
    const pad = two('pad_h', 'pad_w', 'pad', 0);
    // round_mode (BVLC, field 13) or a fork's ceil_mode: false selects floor rounding.
    const ceil = p.num('round_mode') === 0 && (!p.has('ceil_mode') || p.bool('ceil_mode'));
    if (kernel.some((k) => !(k > 0)) || stride.some((st) => !(st > 0)) || pad.some((pd) => !(pd >= 0))) {
      throw layerError(c.layer, `kernel [${kernel}] and stride [${stride}] must be positive and pad [${pad}] not negative`);
    }
    if (pad.some((pd, i) => pd >= kernel[i]!)) throw layerError(c.layer, `pad [${pad}] must be smaller than the kernel [${kernel}]`);
    const out = emitCaffePooling(c, c.inputs[0]!, c.outputs[0]!, name, x, { isMax, kernel, stride, pad, ceil });
    return [[x[0]!, x[1]!, out[0]!, out[1]!]];
  },
};

interface PoolGeometry {
  isMax: boolean;
  kernel: number[];
  stride: number[];
  pad: number[];
  ceil: boolean;
}

/**
 * Caffe's MAX/AVE pooling of the 4-D value `input` (shape x) as ONNX MaxPool/AveragePool (+ Pad), writing
 * `output`; returns the pooled [H, W]. Shared by Pooling and SPP.
 */
function emitCaffePooling(c: MapContext, input: string, output: string, name: string, x: number[], g: PoolGeometry): number[] {
  const { isMax, kernel, stride, pad, ceil } = g;
  const out = [0, 1].map((i) => caffePooledSize(x[2 + i]!, kernel[i]!, stride[i]!, pad[i]!, ceil));
  if (out.some((o) => o <= 0)) throw layerError(c.layer, `the ${kernel.join('x')} window does not fit the ${x.slice(2).join('x')} input`);
  // Extra padding at the end so that ONNX's floor rounding yields Caffe's count of windows. Windows that
  // reach into it: MAX ignores padding anyway; AVE must not count it (Caffe divides by the window clipped
  // to input + pad), so AVE pads the real padding explicitly and excludes only the extra part.
  const extra = [0, 1].map((i) => Math.max(0, (out[i]! - 1) * stride[i]! + kernel[i]! - (x[2 + i]! + 2 * pad[i]!)));
  const attrs: Attribute[] = [intsAttr('kernel_shape', kernel), intsAttr('strides', stride)];
  if (isMax) {
    attrs.push(intsAttr('pads', [pad[0]!, pad[1]!, pad[0]! + extra[0]!, pad[1]! + extra[1]!]));
    c.b.node('MaxPool', name, [input], [output], attrs);
  } else if (extra[0] === 0 && extra[1] === 0) {
    attrs.push(intsAttr('pads', [pad[0]!, pad[1]!, pad[0]!, pad[1]!]), intAttr('count_include_pad', 1));
    c.b.node('AveragePool', name, [input], [output], attrs);
  } else {
    let padded = input;
    if (pad[0]! > 0 || pad[1]! > 0) {
      padded = c.b.unique(`${name}/pad`);
      const pads = c.b.int64s(`${name}/pads`, [0, 0, pad[0]!, pad[1]!, 0, 0, pad[0]!, pad[1]!]);
      c.b.node('Pad', `${name}/pad`, [input, pads], [padded], [stringAttrMode('constant')]);
    }
    attrs.push(intsAttr('pads', [0, 0, extra[0]!, extra[1]!]), intAttr('count_include_pad', 0));
    c.b.node('AveragePool', name, [padded], [output], attrs);
  }
  return out;
}

function stringAttrMode(mode: string): Attribute {
  return { name: 'mode', type: 3, s: new TextEncoder().encode(mode) };
}

// SPP (BVLC spp_layer.cpp): for pyramid level l (0 .. pyramid_height−1) with 2^l bins per side, a Caffe
// pooling with kernel ceil(H / bins), stride = kernel, pad (kernel·bins − H + 1) / 2 (integer division),
// each level flattened to [N, C·bins_h·bins_w] and concatenated in level order; pyramid_height 1 is the one
// pooling, not flattened ([N, C, 1, 1]).
const spp: LayerMapping = {
  map(c) {
    const p = param(c, 'spp_param');
    const x = c.shapes[0]!;
    const name = c.layer.name;
    if (x.length !== 4) throw layerError(c.layer, `SPP needs a 4-D input, got shape [${x}]`);
    if (!p.has('pyramid_height') || !(p.num('pyramid_height') >= 1)) throw layerError(c.layer, 'spp_param needs pyramid_height of 1 or more');
    const method = p.num('pool');
    if (method !== 0 && method !== 1) throw layerError(c.layer, 'STOCHASTIC pooling is not supported; use MAX or AVE');
    const height = p.num('pyramid_height');
    const levels: string[] = [];
    let total = 0;
    for (let level = 0; level < height; level++) {
      const bins = 2 ** level;
      const kernel = [x[2]!, x[3]!].map((size) => Math.ceil(size / bins));
      const pad = [x[2]!, x[3]!].map((size, i) => Math.floor((kernel[i]! * bins - size + 1) / 2));
      if (pad.some((pd, i) => pd >= kernel[i]!)) {
        throw layerError(c.layer, `pyramid level ${level} (${bins}x${bins} bins) of a ${x[2]}x${x[3]} input needs pad [${pad}] not smaller than its kernel [${kernel}], which Caffe's pooling refuses; lower pyramid_height`);
      }
      const geometry = { isMax: method === 0, kernel, stride: kernel, pad, ceil: true };
      if (height === 1) {
        const out = emitCaffePooling(c, c.inputs[0]!, c.outputs[0]!, name, x, geometry);
        return [[x[0]!, x[1]!, out[0]!, out[1]!]];
      }
      const pooled = c.b.unique(`${name}/level${level}`);
      const out = emitCaffePooling(c, c.inputs[0]!, pooled, `${name}/level${level}`, x, geometry);
      const flat = c.b.unique(`${name}/level${level}/flatten`);
      c.b.node('Flatten', `${name}/level${level}/flatten`, [pooled], [flat], [intAttr('axis', 1)]);
      levels.push(flat);
      total += x[1]! * out[0]! * out[1]!;
    }
    c.b.node('Concat', name, levels, [c.outputs[0]!], [intAttr('axis', 1)]);
    return [[x[0]!, total]];
  },
};

/** Pooling (MAX, AVE, global) and SPP. */
export const POOL_LAYERS: Record<string, LayerMapping> = {
  Pooling: pooling,
  SPP: spp,
};
