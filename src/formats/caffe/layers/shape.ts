import { intAttr, intsAttr, stringAttr } from '../../../ir/index.js';
import { LayerMapping, MapContext, canonicalAxis, layerError, param, sizeOf } from './mapping.js';


function checkSameShapes(c: MapContext): number[] {
  const x = c.shapes[0]!;
  for (const s of c.shapes.slice(1)) {
    if (s.length !== x.length || s.some((d, i) => d !== x[i])) {
      throw layerError(c.layer, `bottoms must have the same shape, got [${x}] and [${s}]`);
    }
  }
  return x;
}

const eltwise: LayerMapping = {
  bottoms: [2, Infinity],
  map(c) {
    const p = param(c, 'eltwise_param');
    const x = checkSameShapes(c);
    const name = c.layer.name;
    const op = p.num('operation');
    const coeff = p.nums('coeff');
    if (coeff.length && op !== 1) throw layerError(c.layer, 'coeff is only allowed with operation SUM');
    if (coeff.length && coeff.length !== c.inputs.length) {
      throw layerError(c.layer, `has ${coeff.length} coeff values for ${c.inputs.length} bottoms`);
    }
    if (op === 1) {
      const terms = c.inputs.map((input, i) => {
        const k = coeff[i] ?? 1;
        if (k === 1) return input;
        const scaled = c.b.unique(`${name}/coeff${i}`);
        c.b.node('Mul', `${name}/coeff${i}`, [input, c.b.constant(`${name}.coeff${i}`, [], Float32Array.of(k))], [scaled]);
        return scaled;
      });
      c.b.node(terms.length === 2 ? 'Add' : 'Sum', name, terms, [c.outputs[0]!]);
    } else if (op === 2) {
      c.b.node('Max', name, [...c.inputs], [c.outputs[0]!]);
    } else {
      // PROD: a chain of binary Muls; the last one carries the layer's name and output.
      let acc = c.inputs[0]!;
      for (let i = 1; i < c.inputs.length; i++) {
        const last = i === c.inputs.length - 1;
        const out = last ? c.outputs[0]! : c.b.unique(`${name}/prod${i}`);
        c.b.node('Mul', last ? name : `${name}/prod${i}`, [acc, c.inputs[i]!], [out]);
        acc = out;
      }
    }
    return [x];
  },
};

const concat: LayerMapping = {
  bottoms: [1, Infinity],
  map(c) {
    const p = param(c, 'concat_param');
    const x = c.shapes[0]!;
    const axis = p.has('concat_dim') && !p.has('axis') ? p.num('concat_dim') : canonicalAxis(c.layer, p.num('axis'), x.length);
    let total = 0;
    for (const s of c.shapes) {
      if (s.length !== x.length || s.some((d, i) => i !== axis && d !== x[i])) {
        throw layerError(c.layer, `bottoms [${x}] and [${s}] differ outside the concat axis ${axis}`);
      }
      total += s[axis]!;
    }
    if (c.inputs.length === 1) c.b.node('Identity', c.layer.name, [c.inputs[0]!], [c.outputs[0]!]);
    else c.b.node('Concat', c.layer.name, [...c.inputs], [c.outputs[0]!], [intAttr('axis', axis)]);
    const out = [...x];
    out[axis] = total;
    return [out];
  },
};

const slice: LayerMapping = {
  map(c) {
    const p = param(c, 'slice_param');
    const x = c.shapes[0]!;
    const axis = p.has('slice_dim') && !p.has('axis') ? p.num('slice_dim') : canonicalAxis(c.layer, p.num('axis'), x.length);
    const count = c.outputs.length;
    const points = p.nums('slice_point');
    let sizes: number[];
    if (points.length) {
      if (points.length !== count - 1) throw layerError(c.layer, `${points.length} slice_point values for ${count} tops (need ${count - 1})`);
      const bounds = [0, ...points, x[axis]!];
      sizes = bounds.slice(1).map((b, i) => b - bounds[i]!);
      if (sizes.some((s) => s <= 0)) throw layerError(c.layer, `slice_point [${points}] must increase within 1..${x[axis]! - 1}`);
    } else {
      if (x[axis]! % count !== 0) throw layerError(c.layer, `axis ${axis} of size ${x[axis]} does not split into ${count} equal parts`);
      sizes = new Array<number>(count).fill(x[axis]! / count);
    }
    c.b.node('Split', c.layer.name, [c.inputs[0]!, c.b.int64s(`${c.layer.name}.split`, sizes)], [...c.outputs], [intAttr('axis', axis)]);
    return sizes.map((s) => x.map((d, i) => (i === axis ? s : d)));
  },
};

const split: LayerMapping = {
  map(c) {
    c.outputs.forEach((out, i) => c.b.node('Identity', i === 0 ? c.layer.name : `${c.layer.name}/${i}`, [c.inputs[0]!], [out]));
    return c.outputs.map(() => c.shapes[0]!);
  },
};

const flatten: LayerMapping = {
  map(c) {
    const p = param(c, 'flatten_param');
    const x = c.shapes[0]!;
    const axis = canonicalAxis(c.layer, p.num('axis'), x.length);
    const end = canonicalAxis(c.layer, p.num('end_axis'), x.length, 'end_axis');
    const out = [...x.slice(0, axis), sizeOf(x.slice(axis, end + 1)), ...x.slice(end + 1)];
    if (axis === 1 && end === x.length - 1) {
      c.b.node('Flatten', c.layer.name, [c.inputs[0]!], [c.outputs[0]!], [intAttr('axis', 1)]);
    } else {
      const spec = [...new Array<number>(axis).fill(0), -1, ...x.slice(end + 1)];
      c.b.node('Reshape', c.layer.name, [c.inputs[0]!, c.b.int64s(`${c.layer.name}.shape`, spec)], [c.outputs[0]!]);
    }
    return [out];
  },
};

const reshape: LayerMapping = {
  map(c) {
    const p = param(c, 'reshape_param');
    const x = c.shapes[0]!;
    const spec = p.message('shape').nums('dim');
    const axisParam = p.num('axis');
    const axis = axisParam < 0 ? x.length + axisParam + 1 : axisParam;
    const numAxes = p.num('num_axes');
    const end = numAxes === -1 ? x.length : axis + numAxes;
    if (axis < 0 || axis > x.length || end > x.length) throw layerError(c.layer, `axis ${axisParam} / num_axes ${numAxes} do not fit a ${x.length}-D input`);
    if (spec.filter((d) => d === -1).length > 1) throw layerError(c.layer, 'only one dim may be -1');
    // Caffe: dims [axis, end) are replaced by the spec; 0 copies the input dim at the same position.
    const out = [...x.slice(0, axis), ...spec.map((d, i) => (d === 0 ? x[axis + i]! : d)), ...x.slice(end)];
    const known = out.reduce((a, d) => (d === -1 ? a : a * d), 1);
    const inferred = out.indexOf(-1);
    if (inferred >= 0) {
      if (known === 0 || sizeOf(x) % known !== 0) throw layerError(c.layer, `cannot reshape [${x}] to [${out}]`);
      out[inferred] = sizeOf(x) / known;
    }
    if (sizeOf(out) !== sizeOf(x)) throw layerError(c.layer, `cannot reshape [${x}] (${sizeOf(x)} values) to [${out}]`);
    // The ONNX shape keeps 0/-1 where positions line up (prefix and spec), so the batch may vary.
    const onnxShape = [...new Array<number>(axis).fill(0), ...spec, ...x.slice(end)];
    c.b.node('Reshape', c.layer.name, [c.inputs[0]!, c.b.int64s(`${c.layer.name}.shape`, onnxShape)], [c.outputs[0]!]);
    return [out];
  },
};

const permute: LayerMapping = {
  map(c) {
    const x = c.shapes[0]!;
    const order = param(c, 'permute_param').nums('order');
    const perm = [...order];
    for (let i = 0; i < x.length; i++) if (!perm.includes(i)) perm.push(i);
    if (perm.length !== x.length || new Set(perm).size !== x.length || perm.some((a) => a >= x.length)) {
      throw layerError(c.layer, `order [${order}] is not a permutation of the ${x.length} axes`);
    }
    c.b.node('Transpose', c.layer.name, [c.inputs[0]!], [c.outputs[0]!], [intsAttr('perm', perm)]);
    return [perm.map((a) => x[a]!)];
  },
};

const silence: LayerMapping = {
  bottoms: [0, Infinity],
  map: () => [],
};

// Crop (BVLC crop_layer.cpp): axes from `axis` on take bottom[1]'s size, starting at one offset for all
// of them or one offset per axis (none: 0); axes before `axis` are kept whole. One Slice.
const crop: LayerMapping = {
  bottoms: [2, 2],
  map(c) {
    const p = param(c, 'crop_param');
    const [x, ref] = [c.shapes[0]!, c.shapes[1]!];
    const start = canonicalAxis(c.layer, p.num('axis'), x.length);
    const offsets = p.nums('offset');
    if (ref.length !== x.length) throw layerError(c.layer, `bottoms must have the same number of axes, got [${x}] and [${ref}]`);
    if (offsets.length > 1 && start + offsets.length !== x.length) {
      throw layerError(c.layer, `${offsets.length} offsets for the ${x.length - start} axes from axis ${start}: give one offset, or one per axis`);
    }
    const axes: number[] = [];
    const starts: number[] = [];
    const ends: number[] = [];
    const out = [...x];
    for (let i = start; i < x.length; i++) {
      const offset = offsets.length === 1 ? offsets[0]! : offsets.length > 1 ? offsets[i - start]! : 0;
      if (x[i]! - offset < ref[i]!) {
        throw layerError(c.layer, `the crop of axis ${i} (size ${ref[i]} from offset ${offset}) does not fit the first bottom's size ${x[i]}`);
      }
      out[i] = ref[i]!;
      axes.push(i);
      starts.push(offset);
      ends.push(offset + ref[i]!);
    }
    const name = c.layer.name;
    c.b.node('Slice', name, [c.inputs[0]!, c.b.int64s(`${name}.starts`, starts), c.b.int64s(`${name}.ends`, ends), c.b.int64s(`${name}.axes`, axes)], [c.outputs[0]!]);
    return [out];
  },
};

// Tile (BVLC tile_layer.cpp): the block from `axis` on is repeated `tiles` times ([a b c] → [a b c a b c]),
// which is ONNX Tile with repeats 1 except at `axis`.
const tile: LayerMapping = {
  map(c) {
    const p = param(c, 'tile_param');
    const x = c.shapes[0]!;
    const axis = canonicalAxis(c.layer, p.num('axis'), x.length);
    if (!p.has('tiles')) throw layerError(c.layer, 'tile_param has no tiles');
    const tiles = p.num('tiles');
    if (!(tiles > 0)) throw layerError(c.layer, `tiles ${tiles} must be positive`);
    const repeats = x.map((_, i) => (i === axis ? tiles : 1));
    c.b.node('Tile', c.layer.name, [c.inputs[0]!, c.b.int64s(`${c.layer.name}.repeats`, repeats)], [c.outputs[0]!]);
    return [x.map((d, i) => (i === axis ? d * tiles : d))];
  },
};

// ShuffleChannel (farmingyard/ShuffleNet shuffle_channel_layer.cpp, shuffle_channel_param = 164): input
// channel i·(C/g) + j goes to output channel j·g + i, i.e. the channels seen as a [g, C/g] matrix are
// transposed. Reshape to [N, g, C/g, rest], swap axes 1 and 2, reshape to the top's shape, which Caffe
// takes from the legacy num/channels/height/width (a 2-D or 3-D bottom gives a 4-D top, missing axes 1).
const shuffleChannel: LayerMapping = {
  map(c) {
    const x = c.shapes[0]!;
    const group = param(c, 'shuffle_channel_param').num('group');
    if (x.length < 2 || x.length > 4) throw layerError(c.layer, `takes a 2-D to 4-D input (Caffe's legacy blob axes), got shape [${x}]`);
    const ch = x[1]!;
    if (!(group > 0) || ch % group !== 0) throw layerError(c.layer, `group ${group} must be positive and divide the ${ch} channels`);
    const name = c.layer.name;
    const grouped = c.b.unique(`${name}/split_groups`);
    c.b.node('Reshape', `${name}/split_groups`, [c.inputs[0]!, c.b.int64s(`${name}.grouped_shape`, [0, group, ch / group, -1])], [grouped]);
    const swapped = c.b.unique(`${name}/transpose`);
    c.b.node('Transpose', `${name}/transpose`, [grouped], [swapped], [intsAttr('perm', [0, 2, 1, 3])]);
    const top = [...x, 1, 1].slice(0, 4);
    c.b.node('Reshape', name, [swapped, c.b.int64s(`${name}.shape`, [0, ...top.slice(1)])], [c.outputs[0]!]);
    return [top];
  },
};

// Upsample, darknet style (eric612/MobileNet-YOLO src/caffe/layers/upsample_layer.cpp, upsample_param =
// 150): the last two axes grow by the integer `scale`, top[h][w] = bottom[h / scale][w / scale]
// (integer division): ONNX Resize, nearest, asymmetric coordinates, floor.
const upsample: LayerMapping = {
  map(c) {
    const x = c.shapes[0]!;
    const scale = param(c, 'upsample_param').num('scale');
    if (x.length !== 4) throw layerError(c.layer, `needs a 4-D input, got shape [${x}]`);
    if (!(scale >= 1)) throw layerError(c.layer, `scale ${scale} must be a positive integer`);
    const name = c.layer.name;
    const scales = c.b.constant(`${name}.scales`, [4], Float32Array.of(1, 1, scale, scale));
    c.b.node('Resize', name, [c.inputs[0]!, '', scales], [c.outputs[0]!], [
      stringAttr('mode', 'nearest'),
      stringAttr('coordinate_transformation_mode', 'asymmetric'),
      stringAttr('nearest_mode', 'floor'),
    ]);
    return [[x[0]!, x[1]!, x[2]! * scale, x[3]! * scale]];
  },
};

/** Layers that combine, split or reshape blobs. */
export const SHAPE_LAYERS: Record<string, LayerMapping> = {
  Eltwise: eltwise,
  Concat: concat,
  Slice: slice,
  Split: split,
  Flatten: flatten,
  Reshape: reshape,
  Permute: permute,
  Silence: silence,
  Crop: crop,
  Tile: tile,
  ShuffleChannel: shuffleChannel,
  Upsample: upsample,
};
