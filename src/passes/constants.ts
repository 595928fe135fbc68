import {
  DataType,
  GraphIndex,
  Node,
  Tensor,
  createTensor,
  elementCount,
  getAttribute,
  numberToFloat16Bits,
  storageOf,
  tensorToFloat64,
  tensorToIntegers,
} from '../ir/index.js';

/**
 * Constant values as the BatchNorm passes see them: initializers, Constant nodes, and the simple chains
 * exporters leave around them (Identity of a constant, ConstantOfShape of a constant shape). Nothing here
 * changes the graph except `replaceConstantInput`, which is how passes write folded numbers back.
 */
export interface ConstantSource {
  tensor: Tensor;
  /** The values read on the way, starting with the one asked for (an Identity chain lists each link). */
  chain: string[];
  /** The index of the graph that defines each link of `chain` (an enclosing graph's, for outer-scope values). */
  indexes: GraphIndex[];
}

const isOnnxDomain = (n: Node) => n.domain === '' || n.domain === 'ai.onnx';

// ConstantOfShape results larger than this are not materialised: they are never BN parameters or weights.
const MAX_EXPANDED_ELEMENTS = 1 << 26;

/**
 * The constant behind `value` as read in the graph of `ix`. When that graph is a subgraph (the index has an
 * `outer`), a name it does not define resolves in the enclosing graphs: outer-scope constants are constants.
 * O(chain length × nesting depth).
 */
export function resolveConstant(ix: GraphIndex, value: string): ConstantSource | undefined {
  const chain: string[] = [];
  const indexes: GraphIndex[] = [];
  let current = value;
  // Identity chains are short; the bound guards against a malformed graph with a cycle.
  for (let hops = 0; hops < 64 && current; hops++) {
    if (ix.outer && !ix.defines(current)) {
      const owner = ix.owner(current);
      if (!owner) return undefined;
      ix = owner;
    }
    chain.push(current);
    indexes.push(ix);
    const init = ix.initializer(current);
    if (init) return { tensor: init, chain, indexes };
    const p = ix.producer(current);
    if (!p || !isOnnxDomain(p)) return undefined;
    if (p.opType === 'Constant') {
      const t = constantNodeTensor(p);
      return t ? { tensor: t, chain, indexes } : undefined;
    }
    if (p.opType === 'ConstantOfShape') {
      const shape = p.inputs[0] ? resolveConstant(ix, p.inputs[0]) : undefined;
      if (!shape) return undefined;
      const t = expandConstantOfShape(p, tensorToIntegers(shape.tensor));
      return t ? { tensor: t, chain: [...chain, ...shape.chain], indexes: [...indexes, ...shape.indexes] } : undefined;
    }
    if (p.opType !== 'Identity' || !p.inputs[0]) return undefined;
    current = p.inputs[0];
  }
  return undefined;
}

/** The tensor a Constant node produces, from any of its value attributes (value_float etc. since opset 12). */
function constantNodeTensor(node: Node): Tensor | undefined {
  const name = node.outputs[0] ?? '';
  const a = node.attributes[0];
  if (!a || node.attributes.length !== 1) return undefined;
  switch (a.name) {
    case 'value':
      return a.t;
    case 'value_float':
      return createTensor(name, DataType.FLOAT, [], Float32Array.of(a.f ?? 0));
    case 'value_floats':
      return createTensor(name, DataType.FLOAT, [a.floats?.length ?? 0], Float32Array.from(a.floats ?? []));
    case 'value_int':
      return createTensor(name, DataType.INT64, [], BigInt64Array.of(BigInt(a.i ?? 0)));
    case 'value_ints':
      return createTensor(name, DataType.INT64, [a.ints?.length ?? 0], BigInt64Array.from((a.ints ?? []).map(BigInt)));
    default:
      return undefined;
  }
}

function expandConstantOfShape(node: Node, dims: number[]): Tensor | undefined {
  if (dims.some((d) => !Number.isInteger(d) || d < 0) || elementCount(dims) > MAX_EXPANDED_ELEMENTS) return undefined;
  const fill = getAttribute(node, 'value')?.t;
  // The ONNX default is a float32 zero.
  const dtype = fill?.dtype ?? DataType.FLOAT;
  const ctor = storageOf(dtype);
  if (!ctor || (fill && Array.isArray(fill.data))) return undefined;
  const out = createTensor(node.outputs[0] ?? '', dtype, dims);
  if (fill && (fill.data as ArrayLike<unknown>).length > 0) {
    (out.data as { fill(v: unknown): unknown }).fill((fill.data as ArrayLike<unknown>)[0]);
  }
  return out;
}

/** A constant's values in float64, or undefined when the value is not a numeric constant. */
export function constantValues(ix: GraphIndex, value: string): Float64Array | undefined {
  const c = value ? resolveConstant(ix, value) : undefined;
  if (!c || !storageOf(c.tensor.dtype)) return undefined;
  try {
    return tensorToFloat64(c.tensor);
  } catch {
    return undefined;
  }
}

/**
 * Whether any link of a constant's chain is read by more than one place (node input, graph output, read
 * inside a subgraph), counted in the graph that defines the link.
 */
export function isSharedConstant(source: ConstantSource): boolean {
  return source.chain.some((v, i) => source.indexes[i]!.useCount(v) > 1);
}

/** Float types a pass can rewrite: computed in float64, stored back in the same type. */
export const FOLDABLE_FLOAT_TYPES = new Set([DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16]);

export interface StoredValues {
  tensor: Tensor;
  /** Largest |stored - exact| (non-zero only where the storage type rounds more than float32 would). */
  maxRoundingError: number;
  maxAbs: number;
}

/** Store float64 results as `dtype` (float32, float64 or float16), measuring the rounding for float16. */
export function storeValues(name: string, dtype: DataType, dims: number[], values: Float64Array): StoredValues {
  let maxAbs = 0;
  for (let i = 0; i < values.length; i++) maxAbs = Math.max(maxAbs, Math.abs(values[i]!));
  if (dtype === DataType.DOUBLE) return { tensor: createTensor(name, dtype, dims, values), maxRoundingError: 0, maxAbs };
  if (dtype === DataType.FLOAT) {
    // The typed-array constructor converts natively (round to nearest), no per-element calls.
    return { tensor: createTensor(name, dtype, dims, new Float32Array(values)), maxRoundingError: 0, maxAbs };
  }
  if (dtype === DataType.FLOAT16) {
    const bits = new Uint16Array(values.length);
    let maxErr = 0;
    const back = createTensor(name, dtype, dims, bits);
    for (let i = 0; i < values.length; i++) bits[i] = numberToFloat16Bits(values[i]!);
    const stored = tensorToFloat64(back);
    for (let i = 0; i < values.length; i++) maxErr = Math.max(maxErr, Math.abs(stored[i]! - values[i]!));
    return { tensor: back, maxRoundingError: maxErr, maxAbs };
  }
  throw new Error(`storeValues: unsupported type ${dtype}`);
}

/**
 * Make `node` read `tensor` at input `index`. A plain initializer that only this node reads is updated in
 * place (its name kept); anything else (a shared weight, a Constant node, an initializer that is also a
 * graph input a caller could override) gets a new initializer under a fresh name derived from `baseName`,
 * and the old value is left for `cleanup` to drop when nothing reads it any more. In a subgraph (an index
 * with `outer`) a value of an enclosing graph is never changed: the new initializer goes into the subgraph,
 * under a name no other graph of the model uses. Returns the name used.
 */
export function replaceConstantInput(ix: GraphIndex, node: Node, index: number, tensor: Tensor, baseName: string): string {
  const current = node.inputs[index] ?? '';
  // initializer() answers for this graph only: an enclosing graph's value is never changed from a subgraph.
  const init = current ? ix.initializer(current) : undefined;
  if (init && !ix.isGraphInput(current) && ix.useCount(current) === 1) {
    init.dtype = tensor.dtype;
    init.dims = [...tensor.dims];
    init.data = tensor.data;
    delete init.raw;
    return current;
  }
  const name = ix.uniqueName(baseName);
  ix.addInitializer({ ...tensor, name, dims: [...tensor.dims] });
  ix.setInput(node, index, name);
  return name;
}

/** Label for a node in reports: its name, else its first output. */
export function nodeLabel(node: Node): string {
  return node.name || node.outputs[0] || node.opType;
}
