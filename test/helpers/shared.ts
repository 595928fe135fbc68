import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** ../shared/models beside the repository: the external reference data. Tests skip when it is absent. */
export const SHARED_MODELS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/models');
export const HAVE_SHARED = fs.existsSync(path.join(SHARED_MODELS, 'README.md'));
export const SKIP_SHARED_MESSAGE = `../shared/models not found at ${SHARED_MODELS}: skipping tests against the shared reference models`;

if (!HAVE_SHARED) console.warn(SKIP_SHARED_MESSAGE);

export interface CaseJson {
  what: string;
  input: { name?: string; blob?: string; file: string; shape: number[] };
  refs: Record<string, { file: string; shape: number[]; std?: number; output?: boolean }>;
  net_outputs?: string[];
  batchnorm?: Record<string, unknown>;
  tolerance: { rtol: number; atol_rel: number };
  [k: string]: unknown;
}

export function sharedCases(kind: 'onnx' | 'caffe'): string[] {
  if (!HAVE_SHARED) return [];
  return fs
    .readdirSync(path.join(SHARED_MODELS, kind))
    .filter((d) => fs.existsSync(path.join(SHARED_MODELS, kind, d, 'case.json')))
    .sort();
}

export function caseDir(kind: 'onnx' | 'caffe', name: string): string {
  return path.join(SHARED_MODELS, kind, name);
}

export function readCase(kind: 'onnx' | 'caffe', name: string): CaseJson {
  return JSON.parse(fs.readFileSync(path.join(caseDir(kind, name), 'case.json'), 'utf8')) as CaseJson;
}

/** The shared README's rule: |got - ref| <= atol_rel * max|ref| + rtol * |ref|, elementwise. */
export function withinTolerance(
  got: ArrayLike<number>,
  ref: ArrayLike<number>,
  tol: { rtol: number; atol_rel: number },
): { ok: boolean; worst: number; index: number } {
  let maxRef = 0;
  for (let i = 0; i < ref.length; i++) maxRef = Math.max(maxRef, Math.abs(ref[i]!));
  const atol = tol.atol_rel * maxRef;
  let worst = 0;
  let index = -1;
  let ok = got.length === ref.length;
  for (let i = 0; i < ref.length; i++) {
    const err = Math.abs(got[i]! - ref[i]!);
    const allowed = atol + tol.rtol * Math.abs(ref[i]!);
    const ratio = err / (allowed || Number.MIN_VALUE);
    if (!(err <= allowed)) ok = false;
    if (!(ratio <= worst)) {
      worst = ratio;
      index = i;
    }
  }
  return { ok, worst, index };
}
