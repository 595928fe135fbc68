// Print bench/results.json as the Markdown the README carries: `node bench/table.mjs [results.json]`.
// First issue 16's targets (target, measured, met), then every row.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { evaluateTargets, metText } from './targets.mjs';

const file = process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), 'results.json');
const { machine, sections = {}, rows } = JSON.parse(fs.readFileSync(file, 'utf8'));
const cell = (text) => String(text).replaceAll('|', '\\|');
const load = (s) => `load average ${s.loadAverageAtStart.join(' ')} at start, ${s.loadAverageAtEnd.join(' ')} at end`;
const lines = [
  `Measured ${machine.date.slice(0, 10)} on ${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, commit ${machine.gitCommit}` +
    `${machine.srcUncommittedChanges ? ' + uncommitted src/ changes' : ''}; ${load(machine)}.`,
];
// Sections kept from an earlier BENCH_ONLY run say when and on which commit they were measured.
const other = Object.entries(sections).filter(([, s]) => s.date.slice(0, 16) < machine.date.slice(0, 16) || s.gitCommit !== machine.gitCommit);
for (const [name, s] of other) lines.push(`Section ${name}: measured ${s.date.slice(0, 16).replace('T', ' ')} UTC, commit ${s.gitCommit}; ${load(s)}.`);
lines.push('', '| target (issue 16) | measured | |', '|---|---|---|');
for (const t of evaluateTargets(rows)) lines.push(`| ${cell(t.target)} | ${cell(t.measured)} | ${metText(t.met)} |`);
lines.push('', '| | row | result | detail |', '|---|---|---|---|');
for (const r of rows) lines.push(`| ${r.section} | ${cell(r.name)} | ${cell(r.result)} | ${cell(r.detail)} |`);
process.stdout.write(lines.join('\n') + '\n');
