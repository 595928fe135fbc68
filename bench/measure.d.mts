// Types for measure.mjs.
export const HAVE_GNU_TIME: boolean;
export function median(values: number[]): number;
export function timeRuns(
  fn: () => unknown,
  options?: { warmup?: number; maxRuns?: number; budgetMs?: number },
): Promise<{ runs: number; medianMs: number; bestMs: number; timesMs: number[] }>;
export function timeRunsAlternating(
  fns: (() => unknown)[],
  options?: { warmup?: number; minRuns?: number; maxRuns?: number; budgetMs?: number },
): Promise<{ runs: number; medianMs: number; bestMs: number; timesMs: number[] }[]>;
export function measureCommand(
  command: string,
  args: string[],
  options?: { cwd?: string },
): { wallMs: number; peakRssMiB: number | null; stdout: string };
export function measureCommandRuns(
  command: string,
  args: string[],
  runs: number,
  options?: { cwd?: string },
): { runs: number; medianMs: number; bestMs: number; peakRssMiB: number | null; stdout: string };
export function maxRelError(a: ArrayLike<number>, b: ArrayLike<number>): number;
export function measureCommandsAlternating(
  commands: [string, string[]][],
  runs: number,
  options?: { cwd?: string },
): { runs: number; medianMs: number; bestMs: number; timesMs: number[]; peakRssMiB: number | null }[];
