import chalk, { Chalk } from 'chalk';

/**
 * Where a command's words go. Human text goes to stderr/stdout with color only on a TTY without NO_COLOR;
 * with --json the command prints exactly one JSON object on stdout and nothing else.
 */
export interface OutputOptions {
  json?: boolean;
  quiet?: boolean;
}

export class Output {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly color: InstanceType<typeof Chalk>;
  readonly interactive: boolean;

  constructor(options: OutputOptions = {}, stream: NodeJS.WriteStream = process.stdout) {
    this.json = !!options.json;
    this.quiet = !!options.quiet;
    this.interactive = !!stream.isTTY && !process.env.CI && !this.json && !this.quiet;
    const useColor = !!stream.isTTY && !('NO_COLOR' in process.env) && !this.json;
    this.color = new Chalk({ level: useColor ? chalk.level || 1 : 0 });
  }

  /** Human-readable line on stdout (suppressed by --json and --quiet). */
  line(text = ''): void {
    if (!this.json && !this.quiet) process.stdout.write(text + '\n');
  }

  /** Warning on stderr (suppressed by --quiet and --json; JSON reports carry warnings themselves). */
  warn(text: string): void {
    if (!this.json && !this.quiet) process.stderr.write(this.color.yellow('warning: ') + text + '\n');
  }

  /** The single JSON result object. */
  result(obj: unknown): void {
    process.stdout.write(JSON.stringify(obj, null, 2) + '\n');
  }
}

/** Align columns of a text table; the first row is the header. */
export function table(rows: string[][], indent = '  '): string {
  const strip = (s: string) => s.replace(/\u001b\[[0-9;]*m/g, '');
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, strip(c).length)));
  return rows
    .map((r) => indent + r.map((c, i) => (i === r.length - 1 ? c : c + ' '.repeat(widths[i]! - strip(c).length))).join('  '))
    .join('\n');
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
