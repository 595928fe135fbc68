import { DataType, dtypeName } from '../ir/index.js';
import { KernelConfig, KernelContext, RtTensor, kernelError, requireInput } from './kernel.js';
import { NumberArray, allocate, formatDims } from './broadcast.js';

// Optimizer steps of the ai.onnx.preview.training domain (version 1): Adagrad, Momentum, Adam. Inputs are
// the learning rate R and step count T (scalars), then n tensors X, n gradients G and the optimizer
// state(s); outputs the updated X's, then the updated states, in the order of the inputs. Math in float64.

const DOMAIN = 'ai.onnx.preview.training';

function scalar(ctx: KernelContext, index: number, what: string): number {
  const t = requireInput(ctx, index, what);
  if (t.data.length !== 1) throw kernelError(ctx.node, `${what} must be a scalar, got ${formatDims(t.dims)}`);
  return Number(t.data[0]!);
}

/** Splits inputs 2.. into `groups` lists of n tensors (X, G, states...), checking every group's shapes match X's. */
function groupsOf(ctx: KernelContext, groups: number): RtTensor[][] {
  const rest = ctx.inputs.slice(2);
  if (rest.length % groups !== 0 || rest.length === 0) throw kernelError(ctx.node, `expects R, T and ${groups} groups of equal length, got ${rest.length + 2} inputs`);
  const n = rest.length / groups;
  const out: RtTensor[][] = [];
  for (let g = 0; g < groups; g++) {
    out.push(
      rest.slice(g * n, (g + 1) * n).map((t, i) => {
        if (!t) throw kernelError(ctx.node, `input ${2 + g * n + i} is missing`);
        if (t.dtype !== DataType.FLOAT && t.dtype !== DataType.DOUBLE) throw kernelError(ctx.node, `tensors must be float, not ${dtypeName(t.dtype)}`);
        return t;
      }),
    );
  }
  for (let g = 1; g < groups; g++) {
    out[g]!.forEach((t, i) => {
      if (t.data.length !== out[0]![i]!.data.length) throw kernelError(ctx.node, `input shapes ${formatDims(out[0]![i]!.dims)} and ${formatDims(t.dims)} differ`);
    });
  }
  return out;
}

function like(ctx: KernelContext, t: RtTensor): { t: RtTensor; d: NumberArray } {
  const d = allocate(ctx.node, t.dtype, t.data.length) as NumberArray;
  return { t: { dtype: t.dtype, dims: [...t.dims], data: d }, d };
}

/**
 * Adagrad-1: r = R / (1 + T·decay_factor); g = norm_coefficient·X + G; H' = H + g²;
 * X' = X - r·g / (√H' + epsilon). Outputs X'..., H'....
 */
const adagrad: KernelConfig = {
  opType: 'Adagrad',
  domain: DOMAIN,
  run(ctx) {
    const r0 = scalar(ctx, 0, 'R');
    const t = scalar(ctx, 1, 'T');
    const [xs, gs, hs] = groupsOf(ctx, 3) as [RtTensor[], RtTensor[], RtTensor[]];
    const decay = ctx.attrs.float('decay_factor', 0);
    const eps = ctx.attrs.float('epsilon', 1e-6);
    const norm = ctx.attrs.float('norm_coefficient', 0);
    const r = r0 / (1 + t * decay);
    const newX: RtTensor[] = [];
    const newH: RtTensor[] = [];
    xs.forEach((x, i) => {
      const [xd, gd, hd] = [x.data, gs[i]!.data, hs[i]!.data] as NumberArray[];
      const ox = like(ctx, x);
      const oh = like(ctx, hs[i]!);
      for (let k = 0; k < xd!.length; k++) {
        const g = norm * xd![k]! + gd![k]!;
        const h = hd![k]! + g * g;
        oh.d[k] = h;
        ox.d[k] = xd![k]! - (r * g) / (Math.sqrt(h) + eps);
      }
      newX.push(ox.t);
      newH.push(oh.t);
    });
    return [...newX, ...newH];
  },
};

/**
 * Momentum-1: g = norm_coefficient·X + G; V' = alpha·V + beta'·g with beta' = beta, or 1 at T = 0;
 * standard: X' = X - R·V'; nesterov: X' = X - R·(g + alpha·V'). Outputs X'..., V'....
 */
const momentum: KernelConfig = {
  opType: 'Momentum',
  domain: DOMAIN,
  run(ctx) {
    const r = scalar(ctx, 0, 'R');
    const t = scalar(ctx, 1, 'T');
    const [xs, gs, vs] = groupsOf(ctx, 3) as [RtTensor[], RtTensor[], RtTensor[]];
    const alpha = ctx.attrs.float('alpha', 0);
    const beta = t > 0 ? ctx.attrs.float('beta', 0) : 1;
    const norm = ctx.attrs.float('norm_coefficient', 0);
    const mode = ctx.attrs.string('mode', 'standard');
    if (mode !== 'standard' && mode !== 'nesterov') throw kernelError(ctx.node, `mode '${mode}' is not standard or nesterov`);
    const newX: RtTensor[] = [];
    const newV: RtTensor[] = [];
    xs.forEach((x, i) => {
      const [xd, gd, vd] = [x.data, gs[i]!.data, vs[i]!.data] as NumberArray[];
      const ox = like(ctx, x);
      const ov = like(ctx, vs[i]!);
      for (let k = 0; k < xd!.length; k++) {
        const g = norm * xd![k]! + gd![k]!;
        const v = alpha * vd![k]! + beta * g;
        ov.d[k] = v;
        ox.d[k] = xd![k]! - r * (mode === 'standard' ? v : g + alpha * v);
      }
      newX.push(ox.t);
      newV.push(ov.t);
    });
    return [...newX, ...newV];
  },
};

/**
 * Adam-1: g = norm_coefficient·X + G; V' = alpha·V + (1 - alpha)·g; H' = beta·H + (1 - beta)·g²;
 * R' = R·√(1 - beta^T) / (1 - alpha^T) when T > 0, else R; X' = (1 - norm_coefficient_post)·
 * (X - R'·V' / (√H' + epsilon)). Outputs X'..., V'..., H'....
 */
const adam: KernelConfig = {
  opType: 'Adam',
  domain: DOMAIN,
  run(ctx) {
    const r = scalar(ctx, 0, 'R');
    const t = scalar(ctx, 1, 'T');
    const [xs, gs, vs, hs] = groupsOf(ctx, 4) as [RtTensor[], RtTensor[], RtTensor[], RtTensor[]];
    const alpha = ctx.attrs.float('alpha', 0.9);
    const beta = ctx.attrs.float('beta', 0.999);
    const eps = ctx.attrs.float('epsilon', 1e-6);
    const norm = ctx.attrs.float('norm_coefficient', 0);
    const post = ctx.attrs.float('norm_coefficient_post', 0);
    const rAdjusted = t > 0 ? (r * Math.sqrt(1 - beta ** t)) / (1 - alpha ** t) : r;
    const newX: RtTensor[] = [];
    const newV: RtTensor[] = [];
    const newH: RtTensor[] = [];
    xs.forEach((x, i) => {
      const [xd, gd, vd, hd] = [x.data, gs[i]!.data, vs[i]!.data, hs[i]!.data] as NumberArray[];
      const ox = like(ctx, x);
      const ov = like(ctx, vs[i]!);
      const oh = like(ctx, hs[i]!);
      for (let k = 0; k < xd!.length; k++) {
        const g = norm * xd![k]! + gd![k]!;
        const v = alpha * vd![k]! + (1 - alpha) * g;
        const h = beta * hd![k]! + (1 - beta) * g * g;
        ov.d[k] = v;
        oh.d[k] = h;
        ox.d[k] = (1 - post) * (xd![k]! - (rAdjusted * v) / (Math.sqrt(h) + eps));
      }
      newX.push(ox.t);
      newV.push(ov.t);
      newH.push(oh.t);
    });
    return [...newX, ...newV, ...newH];
  },
};

export const TRAINING_KERNELS: KernelConfig[] = [adagrad, momentum, adam];
