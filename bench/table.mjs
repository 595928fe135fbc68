// Print bench/results.json as the Markdown table the README carries: `node bench/table.mjs`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const file = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results.json');
const { machine, rows } = JSON.parse(fs.readFileSync(file, 'utf8'));
const cell = (text) => String(text).replaceAll('|', '\\|');
const lines = [
  `Measured ${machine.date.slice(0, 10)} on ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, commit ${machine.gitCommit}; ` +
    `load average ${machine.loadAverageAtStart.join(' ')} at start, ${machine.loadAverageAtEnd.join(' ')} at end.`,
  '',
  '| | row | result | detail |',
  '|---|---|---|---|',
  ...rows.map((r) => `| ${r.section} | ${cell(r.name)} | ${cell(r.result)} | ${cell(r.detail)} |`),
];
process.stdout.write(lines.join('\n') + '\n');
