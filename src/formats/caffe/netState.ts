// Caffe's include/exclude rules (NetStateRule): which layers exist in the net built for a given state.
// bnc always builds the TEST net, at the level and with the stages the prototxt's own `state` gives.

export const PHASE_TRAIN = 0;
export const PHASE_TEST = 1;

export interface NetState {
  phase: number;
  level: number;
  stages: string[];
}

/**
 * Caffe's rule: with include rules, the layer is in the net when the state meets at least one of them;
 * otherwise it is in unless the state meets one of its exclude rules. (A layer with both kinds is an
 * error in Caffe; the caller reports it.)
 */
export function layerIncluded(state: NetState, include: RuleLike[], exclude: RuleLike[]): boolean {
  if (include.length) return include.some((r) => meets(state, r));
  return !exclude.some((r) => meets(state, r));
}

/** A NetStateRule as plain values. */
export interface RuleLike {
  phase?: number;
  min_level?: number;
  max_level?: number;
  stage?: string[];
  not_stage?: string[];
}

/** Whether the state meets one rule: every condition the rule sets must hold. */
export function meets(state: NetState, rule: RuleLike): boolean {
  if (rule.phase !== undefined && rule.phase !== state.phase) return false;
  if (rule.min_level !== undefined && state.level < rule.min_level) return false;
  if (rule.max_level !== undefined && state.level > rule.max_level) return false;
  for (const s of rule.stage ?? []) if (!state.stages.includes(s)) return false;
  for (const s of rule.not_stage ?? []) if (state.stages.includes(s)) return false;
  return true;
}
