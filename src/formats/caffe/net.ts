import { BncError } from '../../ir/index.js';
import { NetState, PHASE_TEST, RuleLike, layerIncluded } from './netState.js';
import { GenericValue, TextMessage, lineOf, parseTextFormat, unknownFieldsOf } from './prototxt.js';
import { Params, caffeType, forkField } from './schema.js';

// A Caffe net definition as bnc uses it: the TEST net's layers in file order (V1 `layers {}` upgraded to
// the `layer {}` form), and the inputs declared by the net header. Input layers stay layers.

export interface CaffeLayer {
  name: string;
  type: string;
  bottom: string[];
  top: string[];
  /** The layer message (LayerParameter or V1LayerParameter): read parameter blocks with `param()`. */
  message: Params;
  /** Line of the layer in the prototxt (for messages). */
  line?: number;
  /** Names of unknown fields (e.g. a fork's `*_param`) the parser kept. */
  unknownFields: string[];
  /** Their values, parsed without a schema (e.g. a Python layer's python_param, for messages). */
  unknownValues?: Map<string, GenericValue[]>;
}

export interface CaffeNet {
  name: string;
  /** Inputs from the net header (`input:` with `input_dim:` or `input_shape {}`). */
  headerInputs: { name: string; dims: number[] }[];
  /** Layers of the TEST net, in order. */
  layers: CaffeLayer[];
  /** Names of every layer in the file, whatever its phase (to tell stray weights from excluded layers). */
  allLayerNames: Set<string>;
  state: NetState;
  v1: boolean;
}

/** Layer type names of the V1 enum, as the `layer {}` form spells them. */
const V1_TYPES: Record<string, string> = {
  ABSVAL: 'AbsVal', ACCURACY: 'Accuracy', ARGMAX: 'ArgMax', BNLL: 'BNLL', CONCAT: 'Concat',
  CONTRASTIVE_LOSS: 'ContrastiveLoss', CONVOLUTION: 'Convolution', DATA: 'Data', DECONVOLUTION: 'Deconvolution',
  DROPOUT: 'Dropout', DUMMY_DATA: 'DummyData', EUCLIDEAN_LOSS: 'EuclideanLoss', ELTWISE: 'Eltwise', EXP: 'Exp',
  FLATTEN: 'Flatten', HDF5_DATA: 'HDF5Data', HDF5_OUTPUT: 'HDF5Output', HINGE_LOSS: 'HingeLoss', IM2COL: 'Im2col',
  IMAGE_DATA: 'ImageData', INFOGAIN_LOSS: 'InfogainLoss', INNER_PRODUCT: 'InnerProduct', LRN: 'LRN',
  MEMORY_DATA: 'MemoryData', MULTINOMIAL_LOGISTIC_LOSS: 'MultinomialLogisticLoss', MVN: 'MVN', POOLING: 'Pooling',
  POWER: 'Power', RELU: 'ReLU', SIGMOID: 'Sigmoid', SIGMOID_CROSS_ENTROPY_LOSS: 'SigmoidCrossEntropyLoss',
  SILENCE: 'Silence', SOFTMAX: 'Softmax', SOFTMAX_LOSS: 'SoftmaxWithLoss', SPLIT: 'Split', SLICE: 'Slice',
  TANH: 'TanH', WINDOW_DATA: 'WindowData', THRESHOLD: 'Threshold',
};

export function v1TypeName(enumName: string): string {
  return V1_TYPES[enumName] ?? enumName;
}

/** Parse prototxt text into the TEST net. Syntax errors name file:line:col. */
export function parseNet(text: string, file: string, warn: (m: string) => void): CaffeNet {
  const netType = caffeType('NetParameter');
  const msg = parseTextFormat(text, netType, { file, warn, extraField: forkField });
  const net = new Params(msg, netType);
  const where = (m: object) => `${file}:${lineOf(m) ?? '?'}`;

  const v2 = (msg.layer as TextMessage[] | undefined) ?? [];
  const v1 = (msg.layers as TextMessage[] | undefined) ?? [];
  if (v2.length && v1.length) {
    throw new BncError(`${file}: the net mixes 'layer {}' and legacy 'layers {}' definitions; use one form`, { file });
  }
  const stateMsg = net.message('state');
  const state: NetState = {
    phase: PHASE_TEST,
    level: stateMsg.num('level'),
    stages: ((msg.state as TextMessage | undefined)?.stage as string[] | undefined) ?? [],
  };

  const headerInputs: CaffeNet['headerInputs'] = [];
  const inputNames = (msg.input as string[] | undefined) ?? [];
  const inputShapes = net.messages('input_shape');
  const inputDims = net.nums('input_dim');
  if (inputShapes.length && inputDims.length) {
    throw new BncError(`${file}: the net header gives both input_shape and input_dim; use one`, { file });
  }
  inputNames.forEach((name, i) => {
    let dims: number[] | undefined;
    if (inputShapes.length) dims = inputShapes[i]?.nums('dim');
    else if (inputDims.length) dims = inputDims.length >= 4 * (i + 1) ? inputDims.slice(4 * i, 4 * i + 4) : undefined;
    if (!dims) {
      throw new BncError(
        `${file}: net input '${name}' has no shape: give it an input_shape { dim: ... } (or 4 input_dim values) in the net header`,
        { file },
      );
    }
    headerInputs.push({ name, dims });
  });

  const layers: CaffeLayer[] = [];
  const allLayerNames = new Set<string>();
  const v1Type = caffeType('V1LayerParameter');
  const layerType = caffeType('LayerParameter');
  const v1Enum = v1Type.lookupEnum('LayerType');
  const enumName = (v: number) => Object.entries(v1Enum.values).find(([, n]) => n === v)?.[0] ?? String(v);
  const source = v1.length ? v1 : v2;
  source.forEach((m, index) => {
    const params = new Params(m, v1.length ? v1Type : layerType);
    const name = params.has('name') ? params.str('name') : `layer${index}`;
    const type = v1.length ? v1TypeName(enumName(params.num('type'))) : params.str('type');
    allLayerNames.add(name);
    if (!type) throw new BncError(`${where(m)}: layer '${name}' has no type`, { file });
    const include = (m.include as RuleLike[] | undefined) ?? [];
    const exclude = (m.exclude as RuleLike[] | undefined) ?? [];
    if (include.length && exclude.length) {
      throw new BncError(`${where(m)}: layer '${name}' has both include and exclude rules; Caffe allows only one kind`, { file });
    }
    if (!layerIncluded(state, include, exclude)) return;
    layers.push({
      name,
      type,
      bottom: (m.bottom as string[] | undefined) ?? [],
      top: (m.top as string[] | undefined) ?? [],
      message: params,
      line: lineOf(m),
      unknownFields: [...(unknownFieldsOf(m)?.keys() ?? [])],
      unknownValues: unknownFieldsOf(m),
    });
  });
  const seen = new Set<string>();
  for (const l of layers) {
    if (seen.has(l.name)) throw new BncError(`${file}:${l.line ?? '?'}: two layers of the TEST net are named '${l.name}'; layer names must be unique`, { file });
    seen.add(l.name);
  }
  return { name: net.str('name'), headerInputs, layers, allLayerNames, state, v1: v1.length > 0 };
}
