// A one-line progress bar on stderr for long steps (running a model node by node, verify samples).
// Library code reports progress through callbacks (RunOptions.onProgress, VerifyOptions.onProgress) and
// never prints; the commands decide here whether a bar is shown and draw it.

/** The part of a stream the bar needs (process.stderr, or a fake TTY in tests). */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressContext {
  json?: boolean;
  quiet?: boolean;
  env?: NodeJS.ProcessEnv;
}

/**
 * Whether to draw a bar: only for a person watching a terminal. Not when stderr is not a TTY (pipes, log
 * files), not in CI (env CI set to anything but 'false'/'0'), not with --json or --quiet, not on a dumb
 * terminal.
 */
export function shouldShowProgress(stream: ProgressStream, context: ProgressContext = {}): boolean {
  const env = context.env ?? process.env;
  const ci = env.CI !== undefined && env.CI !== '' && env.CI !== 'false' && env.CI !== '0';
  return !!stream.isTTY && !ci && !context.json && !context.quiet && env.TERM !== 'dumb';
}

/** Whether to color: never with NO_COLOR set (any value, per no-color.org), never off a TTY. */
export function progressColor(stream: ProgressStream, env: NodeJS.ProcessEnv = process.env): boolean {
  return !!stream.isTTY && !('NO_COLOR' in env);
}

export interface ProgressBarOptions {
  color?: boolean;
  /** Clock in ms (tests pass a fake one); redraws are at most every `intervalMs`. */
  now?: () => number;
  intervalMs?: number;
}

const CLEAR_LINE = '\r\u001b[K';

export class ProgressBar {
  private lastDraw = -Infinity;
  private drawn = false;
  private readonly now: () => number;
  private readonly intervalMs: number;
  private readonly color: boolean;

  constructor(
    private readonly stream: ProgressStream,
    private readonly label: string,
    options: ProgressBarOptions = {},
  ) {
    this.now = options.now ?? (() => performance.now());
    this.intervalMs = options.intervalMs ?? 80;
    this.color = !!options.color;
  }

  /** Record progress; redraws when enough time has passed or the step is complete. */
  update(done: number, total: number): void {
    const t = this.now();
    if (done < total && t - this.lastDraw < this.intervalMs) return;
    this.lastDraw = t;
    this.stream.write(CLEAR_LINE + this.render(done, total));
    this.drawn = true;
  }

  /** The bar line for `done` of `total`, fitted to the terminal width. */
  render(done: number, total: number): string {
    const fraction = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
    const counts = ` ${done}/${total} ${Math.floor(fraction * 100)}%`;
    const columns = this.stream.columns && this.stream.columns > 20 ? this.stream.columns : 80;
    const width = Math.max(10, Math.min(40, columns - this.label.length - counts.length - 4));
    const filled = Math.round(fraction * width);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    return `${this.label} ${this.color ? `\u001b[36m${bar}\u001b[39m` : bar}${counts}`;
  }

  /** Erase the bar so the command's own output starts on a clean line. */
  finish(): void {
    if (this.drawn) this.stream.write(CLEAR_LINE);
    this.drawn = false;
  }
}

/**
 * A progress callback for a long step, or undefined when no bar should be shown. `finish` erases the bar
 * (call it in a finally block so an error message is not printed after a half bar).
 */
export function progressReporter(
  label: string,
  context: ProgressContext,
  stream: ProgressStream = process.stderr,
): { onProgress?: (done: number, total: number) => void; finish: () => void } {
  if (!shouldShowProgress(stream, context)) return { finish: () => undefined };
  const bar = new ProgressBar(stream, label, { color: progressColor(stream, context.env) });
  return { onProgress: (done, total) => bar.update(done, total), finish: () => bar.finish() };
}
