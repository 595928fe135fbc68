import { GraphIndex, Model } from '../ir/index.js';
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
  return new GraphFacts(new GraphIndex(model.graph, { listInitializersAsInputs: model.irVersion > 0 && model.irVersion < 4 }), options.stats);
}
