import { KernelConfig, KernelContext, RtTensor, floatTensor, kernelError, requireFloat, requireInput } from './kernel.js';
import { integerValues } from './broadcast.js';

// Recurrent layers: RNN, GRU, LSTM (ONNX opset 1/3, 7 and 14; semantics per the operator specs). All three
// share the input layout: X [seq, batch, input] (layout=1 since opset 14: [batch, seq, input]), W [dirs,
// gates·hidden, input], R [dirs, gates·hidden, hidden], B [dirs, 2·gates·hidden] (W's bias then R's),
// sequence_lens [batch], initial_h [dirs, batch, hidden] ([batch, dirs, hidden] with layout=1).
// Outputs: Y [seq, dirs, batch, hidden] (layout=1: [batch, seq, dirs, hidden]), Y_h (and LSTM's Y_c) shaped
// like initial_h. Steps past an entry's sequence length are zero in Y; Y_h holds the state after its last
// step. Computed per element in float64, states stored as float32 between steps (as onnxruntime keeps them).

type Activation = (x: number) => number;

/** The spec's activation functions; alpha/beta defaults as onnxruntime uses them when not given. */
const ACTIVATIONS: Record<string, { alpha?: number; beta?: number; make: (alpha: number, beta: number) => Activation }> = {
  relu: { make: () => (x) => (x > 0 ? x : 0) },
  tanh: { make: () => Math.tanh },
  sigmoid: { make: () => (x) => 1 / (1 + Math.exp(-x)) },
  affine: { alpha: 1, beta: 0, make: (a, b) => (x) => a * x + b },
  leakyrelu: { alpha: 0.01, make: (a) => (x) => (x >= 0 ? x : a * x) },
  thresholdedrelu: { alpha: 1, make: (a) => (x) => (x > a ? x : 0) },
  scaledtanh: { alpha: 1, beta: 1, make: (a, b) => (x) => a * Math.tanh(b * x) },
  hardsigmoid: { alpha: 0.2, beta: 0.5, make: (a, b) => (x) => Math.max(0, Math.min(1, a * x + b)) },
  elu: { alpha: 1, make: (a) => (x) => (x >= 0 ? x : a * Math.expm1(x)) },
  softsign: { make: () => (x) => x / (1 + Math.abs(x)) },
  softplus: { make: () => (x) => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x))) },
};

/**
 * The activation functions per direction: `activations` lists `perDirection` names for each direction
 * (forward first); activation_alpha / activation_beta are consumed in that order by the functions that take
 * them. Without the attribute, each direction uses `defaults`.
 */
function activations(ctx: KernelContext, dirs: number, defaults: string[]): Activation[][] {
  const names = ctx.attrs.has('activations')
    ? (ctx.node.attributes.find((a) => a.name === 'activations')!.strings ?? []).map((s) => new TextDecoder().decode(s))
    : Array.from({ length: dirs }, () => defaults).flat();
  if (names.length !== dirs * defaults.length) {
    throw kernelError(ctx.node, `activations lists ${names.length} functions, expected ${dirs * defaults.length} (${defaults.length} per direction)`);
  }
  const alphas = ctx.attrs.floats('activation_alpha', []);
  const betas = ctx.attrs.floats('activation_beta', []);
  let ai = 0;
  let bi = 0;
  const fns = names.map((name) => {
    const spec = ACTIVATIONS[name.toLowerCase()];
    if (!spec) throw kernelError(ctx.node, `activation '${name}' is not one the ONNX spec defines (${Object.keys(ACTIVATIONS).join(', ')})`);
    const alpha = spec.alpha === undefined ? 0 : alphas[ai++] ?? spec.alpha;
    const beta = spec.beta === undefined ? 0 : betas[bi++] ?? spec.beta;
    return spec.make(alpha, beta);
  });
  return Array.from({ length: dirs }, (_, d) => fns.slice(d * defaults.length, (d + 1) * defaults.length));
}

interface Setup {
  T: number;
  B: number;
  I: number;
  H: number;
  D: number;
  layout: number;
  x: Float32Array;
  w: Float32Array;
  r: Float32Array;
  /** [D, 2·G·H]; zeros when B is omitted. */
  bias: Float32Array;
  lens: number[];
  reverse: boolean[];
  clip: number;
  /** Initial state (initial_h, initial_c) element (d, b, j), 0 when omitted. */
  initial(t: RtTensor | undefined, d: number, b: number, j: number): number;
}

function setup(ctx: KernelContext, gates: number): Setup {
  const X = requireInput(ctx, 0, 'X');
  const W = requireInput(ctx, 1, 'W');
  const R = requireInput(ctx, 2, 'R');
  const layout = ctx.opset >= 14 ? ctx.attrs.int('layout', 0) : 0;
  if (X.dims.length !== 3) throw kernelError(ctx.node, `X must be 3-D, it has shape [${X.dims.join(', ')}]`);
  const [T, B, I] = layout ? [X.dims[1]!, X.dims[0]!, X.dims[2]!] : [X.dims[0]!, X.dims[1]!, X.dims[2]!];
  const direction = ctx.attrs.string('direction', 'forward');
  const reverse = direction === 'forward' ? [false] : direction === 'reverse' ? [true] : direction === 'bidirectional' ? [false, true] : undefined;
  if (!reverse) throw kernelError(ctx.node, `direction '${direction}' must be forward, reverse or bidirectional`);
  const D = reverse.length;
  const H = ctx.attrs.int('hidden_size') ?? R.dims[2];
  if (H === undefined || H <= 0) throw kernelError(ctx.node, 'hidden_size is missing and R does not give it');
  const want = (t: RtTensor, what: string, dims: number[]) => {
    if (t.dims.length !== dims.length || t.dims.some((v, i) => v !== dims[i])) {
      throw kernelError(ctx.node, `${what} has shape [${t.dims.join(', ')}], expected [${dims.join(', ')}] (${D} direction(s), hidden_size ${H}, input size ${I})`);
    }
  };
  want(W, 'W', [D, gates * H, I]);
  want(R, 'R', [D, gates * H, H]);
  const Bt = ctx.inputs[3];
  if (Bt) want(Bt, 'B', [D, 2 * gates * H]);
  const lensT = ctx.inputs[4];
  const lens = lensT ? integerValues(ctx.node, lensT, 'sequence_lens') : new Array<number>(B).fill(T);
  if (lens.length !== B || lens.some((l) => l < 0 || l > T)) {
    throw kernelError(ctx.node, `sequence_lens [${lens.join(', ')}] must hold ${B} lengths between 0 and ${T}`);
  }
  const stateDims = layout ? [B, D, H] : [D, B, H];
  const initials = [ctx.inputs[5], ctx.inputs[6]];
  initials.forEach((t, i) => t && want(t, i ? 'initial_c' : 'initial_h', stateDims));
  const clipAttr = ctx.attrs.float('clip');
  return {
    T,
    B,
    I,
    H,
    D,
    layout,
    x: requireFloat(ctx, X, 'X'),
    w: requireFloat(ctx, W, 'W'),
    r: requireFloat(ctx, R, 'R'),
    bias: Bt ? requireFloat(ctx, Bt, 'B') : new Float32Array(D * 2 * gates * H),
    lens,
    reverse,
    clip: clipAttr === undefined ? Infinity : clipAttr,
    initial(t, d, b, j) {
      if (!t) return 0;
      return (t.data as Float32Array)[(layout ? b * D + d : d * B + b) * H + j]!;
    },
  };
}

/** Output buffers and where element (t, d, b, j) goes. */
function outputs(s: Setup) {
  const { T, B, D, H, layout } = s;
  const y = floatTensor(layout ? [B, T, D, H] : [T, D, B, H]);
  const state = () => floatTensor(layout ? [B, D, H] : [D, B, H]);
  const yAt = (t: number, d: number, b: number) => (layout ? (b * T + t) * D + d : (t * D + d) * B + b) * H;
  const stateAt = (d: number, b: number) => (layout ? b * D + d : d * B + b) * H;
  return { y, state, yAt, stateAt };
}

/** dot(row `row` of the [rows, n] matrix at `m` + offset, v) */
function dot(m: Float32Array, offset: number, v: ArrayLike<number>, vOffset: number, n: number): number {
  let acc = 0;
  for (let k = 0; k < n; k++) acc += m[offset + k]! * v[vOffset + k]!;
  return acc;
}

/**
 * Each direction d and batch entry b runs its own sequence: `step` turns the input row at x[xOffset..] and
 * the state into the next state. Returns nothing; the caller's step writes Y and keeps the state.
 */
function forEachStep(s: Setup, visit: (d: number, b: number, t: number, xOffset: number, first: boolean) => void): void {
  for (let d = 0; d < s.D; d++) {
    for (let b = 0; b < s.B; b++) {
      const len = s.lens[b]!;
      for (let k = 0; k < len; k++) {
        const t = s.reverse[d] ? len - 1 - k : k;
        visit(d, b, t, (s.layout ? b * s.T + t : t * s.B + b) * s.I, k === 0);
      }
    }
  }
}

const clipTo = (v: number, c: number) => (v > c ? c : v < -c ? -c : v);

/** RNN (opset 1, 7, 14): Ht = f(Xt·Wᵀ + Ht-1·Rᵀ + Wb + Rb); f defaults to Tanh. */
const rnn: KernelConfig = {
  opType: 'RNN',
  run(ctx) {
    const s = setup(ctx, 1);
    const acts = activations(ctx, s.D, ['Tanh']);
    const { H, I } = s;
    const { y, state, yAt, stateAt } = outputs(s);
    const yh = state();
    const h = new Float32Array(H);
    const next = new Float32Array(H);
    forEachStep(s, (d, b, t, xo, first) => {
      if (first) for (let j = 0; j < H; j++) h[j] = s.initial(ctx.inputs[5], d, b, j);
      const wb = d * 2 * H;
      for (let j = 0; j < H; j++) {
        const row = d * H + j;
        const pre = dot(s.w, row * I, s.x, xo, I) + dot(s.r, row * H, h, 0, H) + s.bias[wb + j]! + s.bias[wb + H + j]!;
        next[j] = acts[d]![0]!(clipTo(pre, s.clip));
      }
      h.set(next);
      (y.data as Float32Array).set(h, yAt(t, d, b));
      (yh.data as Float32Array).set(h, stateAt(d, b));
    });
    initialStatesForEmpty(s, ctx, [[yh, 5]], stateAt);
    return [y, yh];
  },
};

/**
 * GRU (opset 1, 3, 7, 14), gates z, r, h in W/R/B order:
 *   zt = f(Xt·Wzᵀ + Ht-1·Rzᵀ + Wbz + Rbz),  rt = f(Xt·Wrᵀ + Ht-1·Rrᵀ + Wbr + Rbr)
 *   ht = g(Xt·Whᵀ + (rt ⊙ Ht-1)·Rhᵀ + Rbh + Wbh)            (linear_before_reset = 0)
 *   ht = g(Xt·Whᵀ + rt ⊙ (Ht-1·Rhᵀ + Rbh) + Wbh)            (linear_before_reset ≠ 0)
 *   Ht = (1 − zt) ⊙ ht + zt ⊙ Ht-1;   f = Sigmoid, g = Tanh by default.
 */
const gru: KernelConfig = {
  opType: 'GRU',
  run(ctx) {
    const s = setup(ctx, 3);
    const acts = activations(ctx, s.D, ['Sigmoid', 'Tanh']);
    const linearBeforeReset = ctx.attrs.int('linear_before_reset', 0) !== 0;
    const { H, I } = s;
    const { y, state, yAt, stateAt } = outputs(s);
    const yh = state();
    const h = new Float32Array(H);
    const z = new Float64Array(H);
    const r = new Float64Array(H);
    const rh = new Float64Array(H);
    const next = new Float32Array(H);
    forEachStep(s, (d, b, t, xo, first) => {
      if (first) for (let j = 0; j < H; j++) h[j] = s.initial(ctx.inputs[5], d, b, j);
      const [f, g] = acts[d]!;
      const wb = d * 6 * H;
      const rb = wb + 3 * H;
      const row = (gate: number, j: number) => d * 3 * H + gate * H + j;
      for (let j = 0; j < H; j++) {
        const zr = row(0, j);
        const rr = row(1, j);
        z[j] = f!(clipTo(dot(s.w, zr * I, s.x, xo, I) + dot(s.r, zr * H, h, 0, H) + s.bias[wb + j]! + s.bias[rb + j]!, s.clip));
        r[j] = f!(clipTo(dot(s.w, rr * I, s.x, xo, I) + dot(s.r, rr * H, h, 0, H) + s.bias[wb + H + j]! + s.bias[rb + H + j]!, s.clip));
      }
      for (let j = 0; j < H; j++) rh[j] = r[j]! * h[j]!;
      for (let j = 0; j < H; j++) {
        const hr = row(2, j);
        const xPart = dot(s.w, hr * I, s.x, xo, I) + s.bias[wb + 2 * H + j]!;
        const hPart = linearBeforeReset
          ? r[j]! * (dot(s.r, hr * H, h, 0, H) + s.bias[rb + 2 * H + j]!)
          : dot(s.r, hr * H, rh, 0, H) + s.bias[rb + 2 * H + j]!;
        const cand = g!(clipTo(xPart + hPart, s.clip));
        next[j] = (1 - z[j]!) * cand + z[j]! * h[j]!;
      }
      h.set(next);
      (y.data as Float32Array).set(h, yAt(t, d, b));
      (yh.data as Float32Array).set(h, stateAt(d, b));
    });
    initialStatesForEmpty(s, ctx, [[yh, 5]], stateAt);
    return [y, yh];
  },
};

/**
 * LSTM (opset 1, 7, 14), gates i, o, f, c in W/R/B order, peepholes P [dirs, 3·hidden] as (i, o, f):
 *   it = f(Xt·Wiᵀ + Ht-1·Riᵀ + Pi ⊙ Ct-1 + Wbi + Rbi),   ft = f(... f-gate ... + Pf ⊙ Ct-1)
 *   ct = g(Xt·Wcᵀ + Ht-1·Rcᵀ + Wbc + Rbc),               Ct = ft ⊙ Ct-1 + it ⊙ ct
 *   ot = f(Xt·Woᵀ + Ht-1·Roᵀ + Po ⊙ Ct + Wbo + Rbo),     Ht = ot ⊙ h(Ct)
 * f = Sigmoid, g = h = Tanh by default; input_forget=1 couples the gates (ft = 1 − it); `clip` bounds every
 * gate's input before its activation.
 */
const lstm: KernelConfig = {
  opType: 'LSTM',
  run(ctx) {
    const s = setup(ctx, 4);
    const acts = activations(ctx, s.D, ['Sigmoid', 'Tanh', 'Tanh']);
    const inputForget = ctx.attrs.int('input_forget', 0) !== 0;
    const { H, I, D } = s;
    const P = ctx.inputs[7];
    if (P && (P.dims.length !== 2 || P.dims[0] !== D || P.dims[1] !== 3 * H)) {
      throw kernelError(ctx.node, `P has shape [${P.dims.join(', ')}], expected [${D}, ${3 * H}]`);
    }
    const p = P ? requireFloat(ctx, P, 'P') : new Float32Array(D * 3 * H);
    const { y, state, yAt, stateAt } = outputs(s);
    const yh = state();
    const yc = state();
    const h = new Float32Array(H);
    const c = new Float32Array(H);
    const nextH = new Float32Array(H);
    forEachStep(s, (d, b, t, xo, first) => {
      if (first) {
        for (let j = 0; j < H; j++) {
          h[j] = s.initial(ctx.inputs[5], d, b, j);
          c[j] = s.initial(ctx.inputs[6], d, b, j);
        }
      }
      const [f, g, hAct] = acts[d]!;
      const wb = d * 8 * H;
      const rb = wb + 4 * H;
      const pre = (gate: number, j: number) => {
        const row = d * 4 * H + gate * H + j;
        return dot(s.w, row * I, s.x, xo, I) + dot(s.r, row * H, h, 0, H) + s.bias[wb + gate * H + j]! + s.bias[rb + gate * H + j]!;
      };
      const pb = d * 3 * H;
      for (let j = 0; j < H; j++) {
        const cPrev = c[j]!;
        const i = f!(clipTo(pre(0, j) + p[pb + j]! * cPrev, s.clip));
        const fg = inputForget ? 1 - i : f!(clipTo(pre(2, j) + p[pb + 2 * H + j]! * cPrev, s.clip));
        const cand = g!(clipTo(pre(3, j), s.clip));
        const cNew = Math.fround(fg * cPrev + i * cand);
        const o = f!(clipTo(pre(1, j) + p[pb + H + j]! * cNew, s.clip));
        nextH[j] = o * hAct!(cNew);
        // c[j] is read by this j only: safe to update in place; h is read by every j, so it waits.
        c[j] = cNew;
      }
      h.set(nextH);
      (y.data as Float32Array).set(h, yAt(t, d, b));
      (yh.data as Float32Array).set(h, stateAt(d, b));
      (yc.data as Float32Array).set(c, stateAt(d, b));
    });
    initialStatesForEmpty(s, ctx, [[yh, 5], [yc, 6]], stateAt);
    return [y, yh, yc];
  },
};

/** A batch entry of sequence length 0 runs no step: its final state is its initial state. */
function initialStatesForEmpty(s: Setup, ctx: KernelContext, states: [RtTensor, number][], stateAt: (d: number, b: number) => number): void {
  for (let b = 0; b < s.B; b++) {
    if (s.lens[b] !== 0) continue;
    for (const [out, input] of states) {
      for (let d = 0; d < s.D; d++) for (let j = 0; j < s.H; j++) (out.data as Float32Array)[stateAt(d, b) + j] = s.initial(ctx.inputs[input], d, b, j);
    }
  }
}

export const RECURRENT_KERNELS: KernelConfig[] = [rnn, gru, lstm];
