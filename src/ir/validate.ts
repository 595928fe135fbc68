import { Graph, Model, Node, ValueInfo } from './graph.js';
import { Tensor, elementCount } from './tensor.js';
import { DataType, slotsPerElement } from './dtype.js';
import { BncError } from './errors.js';
import { describeNode, topologicalOrder } from './query.js';

/**
 * Structural checks every reader runs before handing a graph on: each value has one producer, each node
 * input is produced somewhere (graph input, initializer, node output, or the enclosing scope), the graph
 * outputs exist, and there is no cycle. Errors name the node and the value.
 */
export function validateGraph(graph: Graph, outerScope: ReadonlySet<string> = new Set()): void {
  validateScope(graph, [outerScope]);
}

/** Names visible from an enclosing graph: one set per level, searched innermost first (no copies). */
type Scope = readonly { has(name: string): boolean }[];

function validateScope(graph: Graph, outer: Scope): void {
  // What defines each value: 'graph input', 'initializer', or the index of the producing node.
  const defined = new Map<string, string | number>();
  const what = (d: string | number) => (typeof d === 'number' ? describeNode(graph, graph.nodes[d]!) : d);
  const define = (name: string, by: string | number) => {
    if (!name) return;
    const prev = defined.get(name);
    if (prev !== undefined && !(prev === 'graph input' && by === 'initializer') && !(prev === 'initializer' && by === 'graph input')) {
      throw new BncError(`value '${name}' is defined twice in graph '${graph.name}': by ${what(prev)} and by ${what(by)}`, {
        code: 'DUPLICATE_NAME',
      });
    }
    defined.set(name, by);
  };
  for (const i of graph.inputs) define(i.name, 'graph input');
  for (const t of graph.initializers) define(t.name, 'initializer');
  graph.nodes.forEach((n, index) => n.outputs.forEach((o) => define(o, index)));
  const visible = (v: string) => defined.has(v) || outer.some((s) => s.has(v));

  const inner: Scope = [defined, ...outer];
  for (const n of graph.nodes) {
    for (const v of n.inputs) {
      if (v !== '' && !visible(v)) {
        throw new BncError(
          `${describeNode(graph, n)} reads '${v}', which no node, graph input or initializer defines (a dangling input)`,
          { code: 'DANGLING_INPUT' },
        );
      }
    }
    for (const a of n.attributes) {
      for (const g of a.g ? [a.g] : a.graphs ?? []) validateScope(g, inner);
    }
  }
  for (const o of graph.outputs) {
    if (!visible(o.name)) {
      throw new BncError(`graph output '${o.name}' of graph '${graph.name}' is never computed`, { code: 'DANGLING_OUTPUT' });
    }
  }
  topologicalOrder(graph);
}

/** One rule of checkModel broken, with where. */
export interface ModelProblem {
  /** Short rule id, e.g. 'topological-order', 'ir3-initializer-input', 'attribute-not-in-opset'. */
  rule: string;
  message: string;
}

/**
 * The rules of onnx's checker (onnx/checker.cc) that bnc can check without onnx's operator schemas, plus
 * the schema rules of the ops bnc's passes write (BatchNormalization, Mul/Add/Sub/Div, Gemm, MatMul, Conv,
 * ConvTranspose, Identity), in one linear walk. Returns every problem; [] for a valid model.
 *
 *  Model: ir_version set; opset_import present (IR >= 3), for every domain a node uses; metadata keys unique.
 *  Graph (and every subgraph, with the names of the enclosing scopes): graph inputs unique; with IR version
 *    3 or older every initializer is also a graph input; initializer names unique; every node input defined
 *    by a graph input, initializer, enclosing scope or an EARLIER node (topological order); every node
 *    output defined once and not shadowing a name of an enclosing scope (SSA); graph outputs computed;
 *    main-graph inputs and outputs typed (element type and shape).
 *  Node: op_type set; some input or output; attribute names set and unique.
 *  Tensors (initializers, tensor attributes): a defined element type; as many elements as the dims say.
 *  Schemas of the ops passes write, by opset: only the attributes that version defines; the number of
 *    inputs and outputs; before opset 7, Add/Sub/Mul/Div of operands of different rank need broadcast=1
 *    and an axis that places B inside A; before opset 11, Gemm needs its C input.
 */
export function checkModel(model: Model): ModelProblem[] {
  const problems: ModelProblem[] = [];
  const add = (rule: string, message: string) => problems.push({ rule, message });
  if (!model.irVersion) add('ir-version', 'the model has no ir_version');
  const opsets = new Map<string, number>();
  for (const o of model.opsetImports) opsets.set(o.domain === 'ai.onnx' ? '' : o.domain, o.version);
  if (model.irVersion >= 3 && !model.opsetImports.length) add('opset-import', 'a model with IR version >= 3 must import an opset');
  const keys = new Set<string>();
  for (const p of model.metadataProps) {
    if (keys.has(p.key)) add('metadata-keys', `metadata_props has the key '${p.key}' twice`);
    keys.add(p.key);
  }
  checkGraphRules(model.graph, { irVersion: model.irVersion, opsets, main: true, outer: [] }, add);
  return problems;
}

/**
 * Throws a BncError listing the problems checkModel finds that `baseline` (the input model's) did not have:
 * a rule broken more often than in the input. So a pass never makes a model invalid, and a model that came
 * in with a flaw (an untyped output, say) is still written.
 */
export function assertValidModel(model: Model, what: string, baseline: readonly ModelProblem[] = []): void {
  const before = new Map<string, number>();
  for (const p of baseline) before.set(p.rule, (before.get(p.rule) ?? 0) + 1);
  const after = checkModel(model);
  const count = new Map<string, number>();
  for (const p of after) count.set(p.rule, (count.get(p.rule) ?? 0) + 1);
  const known = new Set(baseline.map((p) => p.message));
  const fresh = after.filter((p) => count.get(p.rule)! > (before.get(p.rule) ?? 0) && !known.has(p.message));
  if (!fresh.length) return;
  const shown = fresh.slice(0, 5).map((p) => p.message).join('; ');
  throw new BncError(
    `${what} would not be a valid ONNX model (${fresh.length} problem${fresh.length === 1 ? '' : 's'}): ${shown}${fresh.length > 5 ? `; and ${fresh.length - 5} more` : ''}. Nothing was written; this is a bug in bnc, please report it`,
    { code: 'INVALID_OUTPUT' },
  );
}

interface RuleContext {
  irVersion: number;
  opsets: ReadonlyMap<string, number>;
  main: boolean;
  /** Names defined by enclosing graphs, innermost first. */
  outer: Scope;
}

function checkGraphRules(graph: Graph, ctx: RuleContext, add: (rule: string, message: string) => void): void {
  const where = ctx.main ? '' : ` (subgraph '${graph.name}')`;
  const inScope = (v: string) => ctx.outer.some((s) => s.has(v));
  const defined = new Set<string>();
  const inputs = new Set<string>();
  for (const i of graph.inputs) {
    if (inputs.has(i.name)) add('ssa', `graph input '${i.name}' is declared twice${where}`);
    inputs.add(i.name);
    defined.add(i.name);
    if (ctx.main) checkValueInfo(i, 'graph input', add);
  }
  const initializers = new Set<string>();
  for (const t of graph.initializers) {
    if (initializers.has(t.name)) add('ssa', `initializer '${t.name}' is defined twice${where}`);
    initializers.add(t.name);
    if (ctx.irVersion > 0 && ctx.irVersion <= 3 && !inputs.has(t.name)) {
      add('ir3-initializer-input', `initializer '${t.name}' is not a graph input, which IR version ${ctx.irVersion} requires${where}`);
    }
    defined.add(t.name);
    checkTensorRules(t, `initializer '${t.name}'`, add);
  }
  const scope: Scope = [defined, ...ctx.outer];
  let rankMap: Map<string, number> | undefined;
  const ranks = () => (rankMap ??= declaredRanks(graph));
  for (const n of graph.nodes) {
    const label = n.name ? `${n.opType} node '${n.name}'` : `${n.opType} node with output '${n.outputs[0] ?? ''}'`;
    if (!n.opType) add('node', `a node${n.name ? ` '${n.name}'` : ''} has no op_type${where}`);
    if (!n.inputs.length && !n.outputs.length) add('node', `${label} has no inputs and no outputs${where}`);
    for (const v of n.inputs) {
      if (v && !defined.has(v) && !inScope(v)) {
        add('topological-order', `${label} reads '${v}', which no graph input, initializer or earlier node defines${where}`);
      }
    }
    const domain = n.domain === 'ai.onnx' ? '' : n.domain;
    const version = ctx.opsets.get(domain);
    if (version === undefined && !(ctx.irVersion < 3 && domain === '')) add('opset-import', `${label} uses domain '${domain || 'ai.onnx'}', which the model does not import`);
    const names = new Set<string>();
    for (const a of n.attributes) {
      if (!a.name) add('attribute', `${label} has an attribute without a name${where}`);
      else if (names.has(a.name)) add('attribute', `${label} has the attribute '${a.name}' twice${where}`);
      names.add(a.name);
      if (a.t) checkTensorRules(a.t, `attribute '${a.name}' of ${label}`, add);
      for (const t of a.tensors ?? []) checkTensorRules(t, `attribute '${a.name}' of ${label}`, add);
      for (const g of a.g ? [a.g] : a.graphs ?? []) checkGraphRules(g, { ...ctx, main: false, outer: scope }, add);
    }
    if (domain === '') checkSchema(n, label, ctx.irVersion < 3 ? 1 : version ?? 1, ranks, add);
    for (const o of n.outputs) {
      if (!o) continue;
      if (defined.has(o) || inScope(o)) add('ssa', `${label} defines '${o}', which is already defined${where}`);
      defined.add(o);
    }
  }
  for (const o of graph.outputs) {
    if (!defined.has(o.name) && !inScope(o.name)) add('graph-output', `graph output '${o.name}' is never computed${where}`);
    if (ctx.main) checkValueInfo(o, 'graph output', add);
  }
}

function checkValueInfo(vi: ValueInfo, what: string, add: (rule: string, message: string) => void): void {
  if (!vi.name) add('value-info', `a ${what} has no name`);
  const t = vi.type;
  if (!t || (!t.tensor && !t.opaque)) add('value-info', `${what} '${vi.name}' has no type`);
  else if (t.tensor && !t.tensor.elemType) add('value-info', `${what} '${vi.name}' has no element type`);
  else if (t.tensor && !t.tensor.shape) add('value-info', `${what} '${vi.name}' has no shape`);
}

function checkTensorRules(t: Tensor, what: string, add: (rule: string, message: string) => void): void {
  if (t.dtype === DataType.UNDEFINED) {
    add('tensor', `${what} has no element type`);
    return;
  }
  if (t.raw) return;
  const want = elementCount(t.dims) * (Array.isArray(t.data) ? 1 : slotsPerElement(t.dtype));
  if (t.data.length !== want) add('tensor', `${what} has ${t.data.length} values, but its dims [${t.dims.join(', ')}] need ${want}`);
}

/** Attributes of the ops bnc's passes write, by the opset version each set starts at (newest first). */
const ATTRIBUTES: Record<string, [number, string[]][]> = {
  Add: [[7, []], [6, ['axis', 'broadcast']], [1, ['axis', 'broadcast', 'consumed_inputs']]],
  BatchNormalization: [
    [14, ['epsilon', 'momentum', 'training_mode']],
    [9, ['epsilon', 'momentum']],
    [7, ['epsilon', 'momentum', 'spatial']],
    [6, ['epsilon', 'is_test', 'momentum', 'spatial']],
    [1, ['consumed_inputs', 'epsilon', 'is_test', 'momentum', 'spatial']],
  ],
  Conv: [[1, ['auto_pad', 'dilations', 'group', 'kernel_shape', 'pads', 'strides']]],
  ConvTranspose: [[1, ['auto_pad', 'dilations', 'group', 'kernel_shape', 'output_padding', 'output_shape', 'pads', 'strides']]],
  Gemm: [[7, ['alpha', 'beta', 'transA', 'transB']], [1, ['alpha', 'beta', 'broadcast', 'transA', 'transB']]],
  Identity: [[1, []]],
  MatMul: [[1, []]],
};
for (const op of ['Sub', 'Mul', 'Div']) ATTRIBUTES[op] = ATTRIBUTES.Add!;

/** Inputs [min, max] and outputs [min, max] by the opset version each range starts at (newest first). */
const ARITY: Record<string, [number, [number, number], [number, number]][]> = {
  Add: [[1, [2, 2], [1, 1]]],
  BatchNormalization: [[14, [5, 5], [1, 3]], [1, [5, 5], [1, 5]]],
  Conv: [[1, [2, 3], [1, 1]]],
  ConvTranspose: [[1, [2, 3], [1, 1]]],
  Gemm: [[11, [2, 3], [1, 1]], [1, [3, 3], [1, 1]]],
  Identity: [[1, [1, 1], [1, 1]]],
  MatMul: [[1, [2, 2], [1, 1]]],
};
for (const op of ['Sub', 'Mul', 'Div']) ARITY[op] = ARITY.Add!;

const LEGACY_BROADCAST = new Set(['Add', 'Sub', 'Mul', 'Div']);

function checkSchema(n: Node, label: string, opset: number, ranks: () => Map<string, number>, add: (rule: string, message: string) => void): void {
  const allowed = ATTRIBUTES[n.opType]?.find(([since]) => opset >= since)?.[1];
  if (allowed) {
    for (const a of n.attributes) {
      if (!allowed.includes(a.name)) add('attribute-not-in-opset', `${label} has the attribute '${a.name}', which ${n.opType} does not have at opset ${opset}`);
    }
  }
  const arity = ARITY[n.opType]?.find(([since]) => opset >= since);
  if (arity) {
    const [, [inMin, inMax], [outMin, outMax]] = arity;
    let inputs = n.inputs.length;
    while (inputs > 0 && n.inputs[inputs - 1] === '') inputs--;
    let outputs = n.outputs.length;
    while (outputs > 0 && n.outputs[outputs - 1] === '') outputs--;
    if (inputs < inMin || inputs > inMax) add('arity', `${label} has ${inputs} inputs; ${n.opType} at opset ${opset} takes ${inMin === inMax ? inMin : `${inMin} to ${inMax}`}`);
    if (outputs < outMin || outputs > outMax) add('arity', `${label} has ${outputs} outputs; ${n.opType} at opset ${opset} gives ${outMin === outMax ? outMin : `${outMin} to ${outMax}`}`);
  }
  if (opset < 7 && LEGACY_BROADCAST.has(n.opType)) checkLegacyBroadcast(n, label, opset, ranks(), add);
}

/** Before opset 7, B broadcasts onto A only with broadcast=1, as a contiguous block of A's axes from `axis`. */
function checkLegacyBroadcast(n: Node, label: string, opset: number, ranks: Map<string, number>, add: (rule: string, message: string) => void): void {
  const rankA = ranks.get(n.inputs[0] ?? '');
  const rankB = ranks.get(n.inputs[1] ?? '');
  if (rankA === undefined || rankB === undefined) return;
  const broadcast = n.attributes.find((a) => a.name === 'broadcast')?.i ?? 0;
  const axisAttr = n.attributes.find((a) => a.name === 'axis')?.i;
  if (!broadcast) {
    if (rankA !== rankB) add('legacy-broadcast', `${label} combines a ${rankA}-D and a ${rankB}-D operand without broadcast=1, which opset ${opset} requires`);
    return;
  }
  const axis = axisAttr === undefined ? rankA - rankB : axisAttr < 0 ? axisAttr + rankA : axisAttr;
  if (rankB > rankA || axis < 0 || axis + rankB > rankA) {
    add('legacy-broadcast', `${label}: a ${rankB}-D B does not fit into the ${rankA}-D A at axis ${axisAttr ?? axis} (opset ${opset} broadcasting)`);
  }
}

/** Ranks known without inference: initializers' and declared ones (value_info, inputs, outputs). Built once. */
function declaredRanks(graph: Graph): Map<string, number> {
  const ranks = new Map<string, number>();
  for (const v of [...graph.outputs, ...graph.inputs, ...graph.valueInfo]) {
    const shape = v.type?.tensor?.shape;
    if (shape) ranks.set(v.name, shape.length);
  }
  for (const t of graph.initializers) ranks.set(t.name, t.dims.length);
  return ranks;
}
