// Fallback peak-RSS probe for machines without /usr/bin/time:
//   node bench/rss-wrapper.mjs <stats file> <script.js> [args...]
// runs the script in this process (as `node script.js args` would) and, on exit, writes
// "<wall seconds> <max RSS KiB>" to the stats file, the same fields as GNU time -f '%e %M'.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

const [statsFile, script, ...args] = process.argv.slice(2);
const started = performance.now();
process.on('exit', () => {
  const seconds = (performance.now() - started) / 1000;
  fs.writeFileSync(statsFile, `${seconds.toFixed(2)} ${process.resourceUsage().maxRSS}\n`);
});
process.argv = [process.argv[0], path.resolve(script), ...args];
await import(pathToFileURL(path.resolve(script)).href);
