import { Graph, GraphIndex, Model, Node, Scope, allScopes, scopeLabel } from '../ir/index.js';
import { nodeLabel } from './constants.js';
import { AnalysisStats, GraphFacts } from './shapeFacts.js';

/** What a pass did, for the command's summary and --json report. */
export interface PassReport {
  pass: string;
  /** Number of rewrites made (0: the model is unchanged by this pass). */
  changed: number;
  /** One line per rewrite, naming the nodes involved. */
  changes: string[];
  /** Candidates left alone, each with the reason. */
  skipped: { node: string; reason: string }[];
  warnings: string[];
  /** Pass-specific tallies, e.g. fold-bn's folds by producer op type ({ Conv: 52, Gemm: 1 }). */
  counts?: Record<string, number>;
}

export interface PassOptions {
  /** fold-bn: give a node a private copy of a weight it shares with another node, so its BN can fold. */
  allowWeightCopy?: boolean;
  /** bn-to-affine: keep BatchNormalization nodes that cannot be folded instead of rewriting them. */
  keepBn?: boolean;
  /** Counters of the analyses (tests check with them that every pass stays linear). */
  stats?: AnalysisStats;
  /** fold-constants: largest tensor (in elements) a fold may produce; default DEFAULT_FOLD_MAX_ELEMENTS (1,048,576). */
  foldMaxElements?: number;
  /**
   * fold-bn: write a folded weight into the array of the initializer it replaces when only that node
   * reads it, instead of a new array. For a caller that keeps no other use of the model's arrays (they
   * may be views of the model file, shared with a clone): the weights then never exist twice.
   */
  inPlace?: boolean;
}

/** A pass rewrites the model in place and reports what it changed. */
export type Pass = (model: Model, options: PassOptions) => PassReport;

export function emptyReport(pass: string): PassReport {
  return { pass, changed: 0, changes: [], skipped: [], warnings: [] };
}

/**
 * The index and shape facts a pass works with: one of each per pass run, so every lookup is O(1) and every
 * value's rank is worked out once. New initializers are listed as graph inputs too when the model's IR
 * version (3 or older) requires it. The pass calls `index.commit()` when it is done.
 */
export function passFacts(model: Model, options: PassOptions): GraphFacts {
  return new GraphFacts(new GraphIndex(model.graph, { listInitializersAsInputs: listsInitializersAsInputs(model) }), options.stats);
}

// IR version 3 and older: every initializer must also be a graph input (of the main graph; ONNX IR).
const listsInitializersAsInputs = (model: Model) => model.irVersion > 0 && model.irVersion < 4;

/** One graph of the model's tree (main graph or If/Loop/Scan body) as a pass sees it. */
export interface PassScope {
  scope: Scope;
  /** Index and shape facts of this graph; names it does not define resolve in the enclosing scopes. */
  facts: GraphFacts;
  index: GraphIndex;
  /** Where the graph sits ("then_branch of If 'check'"), '' for the main graph. */
  where: string;
  /** A node's label for reports, with " (in <where>)" inside subgraphs. */
  label(node: Node): string;
}

/**
 * The index and shape facts of every graph of the model (main graph first, then subgraphs depth-first,
 * from allScopes): ONE GraphIndex per graph per pass run, each falling back to its enclosing graph's index
 * for outer-scope names, so a constant or weight of an enclosing graph is a constant inside the body and no
 * question needs a whole-graph walk. All are built before the pass asks anything (new names must avoid
 * every graph's names). The pass calls `commitScopes` when it is done.
 */
export function passScopes(model: Model, options: PassOptions): PassScope[] {
  return graphScopes(model.graph, options.stats, listsInitializersAsInputs(model));
}

/** passScopes for a bare graph tree (inspect's analysis); `listInitializersAsInputs` applies to the root only. */
export function graphScopes(root: Graph, stats?: AnalysisStats, listInitializersAsInputs = false): PassScope[] {
  const out: PassScope[] = [];
  const byScope = new Map<Scope, PassScope>();
  for (const scope of allScopes(root)) {
    const around = scope.outer ? byScope.get(scope.outer) : undefined;
    const index = new GraphIndex(scope.graph, around ? { outer: around.index } : { listInitializersAsInputs });
    const facts = new GraphFacts(index, stats, around?.facts);
    const where = scopeLabel(scope);
    const ps: PassScope = { scope, facts, index, where, label: (n) => (where ? `${nodeLabel(n)} (in ${where})` : nodeLabel(n)) };
    byScope.set(scope, ps);
    out.push(ps);
  }
  return out;
}

/** `commit()` every index of passScopes. */
export function commitScopes(scopes: PassScope[]): void {
  for (const s of scopes) s.index.commit();
}
