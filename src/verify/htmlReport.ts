import { ComparisonJson, JsonNumber, OutputReport, VerifyReport } from './report.js';

// `bnc verify --report FILE.html`: one self-contained page (inline CSS and SVG; no script, no network) with
// the verdict, the output table, each output's error statistics and |a-b| histogram, and with --all-tensors
// the error of every tensor plotted against its depth in the graph, the first diverging tensor marked.
// A pure function of the report: it returns the page as a string.

/** Escape text for HTML element content and attribute values (names come from model files). */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function num(x: JsonNumber | null | undefined): string {
  if (x === null || x === undefined) return '–';
  if (typeof x === 'string') return x === 'Infinity' ? '∞' : x === '-Infinity' ? '−∞' : x;
  if (x === 0) return '0';
  const abs = Math.abs(x);
  return abs < 1e-3 || abs >= 1e5 ? x.toExponential(3).replace(/\.?0+e/, 'e') : String(Number(x.toPrecision(4)));
}

/** Cosine near 1 as "1−2.3e-12", which says more than "1". */
function cosine(x: JsonNumber): string {
  return typeof x === 'number' && x < 1 && x > 0.999 ? `1−${(1 - x).toExponential(1)}` : num(x);
}

function percent(x: number | null): string {
  return x === null ? '–' : `${Number((x * 100).toFixed(2))}%`;
}

function toNumber(x: JsonNumber): number {
  return typeof x === 'number' ? x : x === 'Infinity' ? Infinity : x === '-Infinity' ? -Infinity : NaN;
}

const CSS = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #222; max-width: 1100px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; } h3 { font-size: 15px; margin: 18px 0 6px; }
.verdict { display: inline-block; padding: 2px 10px; border-radius: 4px; color: #fff; font-weight: 600; }
.equivalent { background: #1a7f37; } .different { background: #cf222e; }
table { border-collapse: collapse; margin: 8px 0; } th, td { padding: 3px 10px; text-align: left; border-bottom: 1px solid #ddd; }
td.num { text-align: right; font-variant-numeric: tabular-nums; font-family: ui-monospace, monospace; }
.pass { color: #1a7f37; font-weight: 600; } .fail { color: #cf222e; font-weight: 600; }
.meta { color: #555; } .warn { color: #9a6700; } code { font-family: ui-monospace, monospace; }
svg text { font: 11px system-ui, sans-serif; fill: #333; }
`;

/** The whole page. */
export function renderHtmlReport(r: VerifyReport): string {
  const parts: string[] = [];
  const verdict = r.verdict === 'equivalent' ? 'EQUIVALENT' : 'DIFFERENT';
  parts.push(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>bnc verify: ${verdict}: ${escapeHtml(r.modelA)} vs ${escapeHtml(r.modelB)}</title>
<style>${CSS}</style>
</head>
<body>
<h1>bnc verify <span id="verdict" class="verdict ${r.verdict}">${verdict}</span></h1>`);
  parts.push(`<p class="meta">A <code id="model-a">${escapeHtml(r.modelA)}</code><br>B <code id="model-b">${escapeHtml(r.modelB)}</code>${r.reference === 'files' ? ' (expected outputs)' : ''}</p>`);
  parts.push(inputsSection(r));
  parts.push(`<p class="meta">Rule: |a−b| ≤ ${num(r.tolerance.atolRel)}·max|b| + ${num(r.tolerance.rtol)}·|b| per element; gate: ${escapeHtml(
    r.gate.errorStat === 'max' ? 'every element' : `${r.gate.errorStat} of |a−b|/allowance ≤ 1`,
  )}${r.gate.topK !== null ? `; top-${r.gate.topK} classes equal` : ''}; ${r.gate.allowNonFinite ? 'NaN/inf allowed where both have them' : 'no NaN/inf'}. ${r.inputs.samples} sample${r.inputs.samples === 1 ? '' : 's'}.</p>`);
  parts.push(outputsTable(r));
  if (r.warnings.length) parts.push(`<h2>Warnings</h2><ul id="warnings">${r.warnings.map((w) => `<li class="warn">${escapeHtml(w)}</li>`).join('')}</ul>`);
  if (r.nonFinite) {
    const rows = (['a', 'b'] as const)
      .map((side) => {
        const at = r.nonFinite![side];
        return at
          ? `<li>first in ${side.toUpperCase()}: <code>${escapeHtml(at.tensor)}</code> [${at.index.join(', ')}] = ${num(at.value)}, computed by ${escapeHtml(at.producer)}</li>`
          : '';
      })
      .join('');
    parts.push(`<h2>NaN and infinities</h2><ul id="nonfinite">${rows}</ul>`);
  }
  parts.push('<h2>Outputs</h2>');
  for (const o of r.outputs) parts.push(outputSection(o));
  if (r.allTensors) parts.push(allTensorsSection(r));
  parts.push(`<p class="meta">Written by bnc verify (report schema ${escapeHtml(r.schema)}).</p>\n</body>\n</html>\n`);
  return parts.join('\n');
}

function inputsSection(r: VerifyReport): string {
  const rows = r.inputs.tensors.map((t) => {
    const b = r.inputs.pairs.find(([a]) => a === t.name)?.[1];
    const from =
      t.source === 'generated'
        ? `N(0,1), seeds ${r.inputs.seeds.join(', ')}`
        : t.source === 'range'
          ? `uniform [${t.range![0]}, ${t.range![1]}), seeds ${r.inputs.seeds.join(', ')}`
          : t.source === 'image'
            ? `image ${t.file}: ${t.preprocessing}`
            : `${t.source === 'file' ? 'file' : 'loaded from'} ${t.file}`;
    return `<tr><td><code>${escapeHtml(t.name)}</code>${b && b !== t.name ? ` ↔ <code>${escapeHtml(b)}</code>` : ''}</td><td>${escapeHtml(t.dtype)}</td><td>[${t.shape.join(', ')}]</td><td>${escapeHtml(from)}</td></tr>`;
  });
  return `<table id="inputs"><tr><th>input</th><th>type</th><th>shape</th><th>values</th></tr>${rows.join('')}</table>`;
}

function resultCell(o: OutputReport): string {
  if (o.mismatch || !o.metrics) return `<td class="fail">✗ ${escapeHtml(o.mismatch ?? 'not compared')}</td>`;
  return o.pass ? '<td class="pass">✓ pass</td>' : `<td class="fail">✗ ${escapeHtml(o.metrics.failures.join(', '))}</td>`;
}

function outputsTable(r: VerifyReport): string {
  const rows = r.outputs.map((o) => {
    const m = o.metrics;
    const name = `<code>${escapeHtml(o.name)}</code>${o.nameB !== o.name ? ` ↔ <code>${escapeHtml(o.nameB)}</code>` : ''}`;
    const cells = m
      ? [num(m.maxAbsError), num(m.maxRelError), num(m.meanAbsError), cosine(m.cosineSimilarity), percent(m.top1Agreement), num(m.statistics?.smallestPassingAtol)]
      : ['–', '–', '–', '–', '–', '–'];
    return `<tr data-output="${escapeHtml(o.name)}" class="${o.pass ? 'row-pass' : 'row-fail'}"><td>${name}</td><td>[${o.shape.join(', ')}]</td>${cells.map((c) => `<td class="num">${c}</td>`).join('')}${resultCell(o)}</tr>`;
  });
  return `<table id="outputs"><tr><th>output</th><th>shape</th><th>max abs</th><th>max rel</th><th>mean abs</th><th>cosine</th><th>top-1</th><th>smallest passing atol</th><th>result</th></tr>${rows.join('')}</table>`;
}

function statsTable(m: ComparisonJson): string {
  const s = m.statistics!;
  const row = (label: string, x: typeof s.abs) =>
    `<tr><td>${label}</td>${[x.max, x.mean, x.median, x.p90, x.p99].map((v) => `<td class="num">${num(v)}</td>`).join('')}</tr>`;
  return `<table class="stats"><tr><th></th><th>max</th><th>mean</th><th>median</th><th>p90</th><th>p99</th></tr>${row('|a−b|', s.abs)}${row('|a−b|/|b|', s.rel)}</table>`;
}

/** Bar chart of |a−b| by decade (one bar per bin, height by count). */
function histogramSvg(o: OutputReport): string {
  const bins = o.metrics?.statistics?.histogram ?? [];
  if (!bins.length) return '';
  const barW = 46;
  const h = 140;
  const top = 18;
  const width = Math.max(240, bins.length * barW + 20);
  const most = Math.max(1, ...bins.map((b) => b.count));
  const label = (d: number | null | 'inf') => (d === null ? '0' : d === 'inf' ? 'NaN/inf' : `1e${d}`);
  const bars = bins.map((b, i) => {
    const bh = Math.round((b.count / most) * (h - top - 30));
    const x = 10 + i * barW;
    const y = h - 30 - bh;
    return (
      `<rect class="bar" data-decade="${b.decade === null ? 'zero' : b.decade}" data-count="${b.count}" x="${x}" y="${y}" width="${barW - 8}" height="${bh}" fill="${b.decade === 'inf' ? '#cf222e' : '#0969da'}"><title>${label(b.decade)}: ${b.count}</title></rect>` +
      `<text x="${x + (barW - 8) / 2}" y="${y - 3}" text-anchor="middle">${b.count}</text>` +
      `<text x="${x + (barW - 8) / 2}" y="${h - 14}" text-anchor="middle">${label(b.decade)}</text>`
    );
  });
  return `<svg class="histogram" data-output="${escapeHtml(o.name)}" width="${width}" height="${h}" viewBox="0 0 ${width} ${h}" role="img" aria-label="|a-b| by decade"><line x1="6" y1="${h - 30}" x2="${width - 6}" y2="${h - 30}" stroke="#999"/>${bars.join('')}<text x="10" y="${h - 2}">|a−b| by decade (lower bound)</text></svg>`;
}

function outputSection(o: OutputReport): string {
  const m = o.metrics;
  const head = `<h3 class="output" data-output="${escapeHtml(o.name)}"><code>${escapeHtml(o.name)}</code> <span class="${o.pass ? 'pass' : 'fail'}">${o.pass ? '✓ pass' : '✗ fail'}</span></h3>`;
  if (!m) return `${head}<p class="fail">${escapeHtml(o.mismatch ?? 'not compared')}</p>`;
  const lines: string[] = [];
  if (m.worst) lines.push(`worst element [${m.worst.index.join(', ')}]${m.samples > 1 ? ` (sample ${m.worst.sample})` : ''}: a ${num(m.worst.a)} vs b ${num(m.worst.b)}, ${num(m.worst.ratio)}× the allowance`);
  if (m.statistics && m.statistics.gate.stat !== 'max') lines.push(`${escapeHtml(m.statistics.gate.stat)} of |a−b|/allowance: ${num(m.statistics.gate.value)}`);
  const nf = m.nonFinite;
  if (nf.a.nan + nf.a.posInf + nf.a.negInf + nf.b.nan + nf.b.posInf + nf.b.negInf) {
    lines.push(`NaN/inf: A ${nf.a.nan} NaN, ${nf.a.posInf + nf.a.negInf} inf; B ${nf.b.nan} NaN, ${nf.b.posInf + nf.b.negInf} inf`);
  }
  if (o.saturated) lines.push(`<span class="warn">saturated (${o.saturated}): agreement here proves little</span>`);
  return `${head}${m.statistics ? statsTable(m) : ''}${lines.length ? `<p>${lines.join('<br>')}</p>` : ''}${histogramSvg(o)}`;
}

/** Every compared tensor: x = depth in the graph, y = log10 of its worst error over the allowance. */
function allTensorsSection(r: VerifyReport): string {
  const at = r.allTensors!;
  const head = `<h2>All tensors</h2><p>${at.compared} compared, ${at.equal} equal, <span class="${at.diverged ? 'fail' : ''}">${at.diverged} diverged</span> (only in A: ${at.onlyInA}, only in B: ${at.onlyInB}).${
    at.firstDiverging
      ? ` First diverging: <code id="first-diverging-name">${escapeHtml(at.firstDiverging.name)}</code>, computed by ${escapeHtml(at.firstDiverging.producer)}.`
      : ''
  }</p>`;
  if (!at.tensors.length) return head;
  const W = 1000;
  const H = 320;
  const left = 56;
  const right = 16;
  const top = 16;
  const bottom = 40;
  const maxDepth = Math.max(1, ...at.tensors.map((t) => t.depth));
  // log10(ratio): 0 is the tolerance; clamp to a readable band, exact zeros at the bottom.
  const logs = at.tensors.map((t) => {
    const v = toNumber(t.ratio);
    return v === 0 ? -Infinity : Math.log10(v);
  });
  const finiteLogs = logs.filter((l) => Number.isFinite(l));
  const lo = Math.min(-4, Math.floor(Math.min(0, ...finiteLogs)));
  const hi = Math.max(1, Math.ceil(Math.max(0, ...finiteLogs)) + 0.5);
  const xOf = (d: number) => left + ((W - left - right) * d) / maxDepth;
  const yOf = (l: number) => {
    const c = !Number.isFinite(l) ? (l > 0 ? hi : lo) : Math.min(hi, Math.max(lo, l));
    return top + ((H - top - bottom) * (hi - c)) / (hi - lo);
  };
  const grid: string[] = [];
  for (let e = Math.ceil(lo); e <= Math.floor(hi); e++) {
    const y = yOf(e);
    grid.push(`<line x1="${left}" y1="${y}" x2="${W - right}" y2="${y}" stroke="${e === 0 ? '#cf222e' : '#eee'}"${e === 0 ? ' class="tolerance-line" stroke-dasharray="6 4"' : ''}/>`);
    grid.push(`<text x="${left - 6}" y="${y + 4}" text-anchor="end">${e === lo ? '≤' : ''}1e${e}</text>`);
  }
  const points = at.tensors.map((t, i) => {
    const first = at.firstDiverging?.name === t.name;
    const x = xOf(t.depth).toFixed(1);
    const y = yOf(logs[i]!).toFixed(1);
    const title = `<title>${escapeHtml(t.name)}: depth ${t.depth}, ${num(t.ratio)}× the allowance, max abs ${num(t.maxAbsError)}</title>`;
    const attrs = `data-tensor="${escapeHtml(t.name)}" data-depth="${t.depth}" data-ratio="${escapeHtml(String(t.ratio))}"`;
    if (first) {
      return (
        `<circle class="point first-diverging" ${attrs} cx="${x}" cy="${y}" r="7" fill="none" stroke="#cf222e" stroke-width="3">${title}</circle>` +
        // Below the point, with a white halo, so the points after it stay readable.
        `<text x="${Number(x) + 10}" y="${Number(y) + 22}" fill="#cf222e" stroke="#fff" stroke-width="4" paint-order="stroke">first diverging: ${escapeHtml(t.name)}</text>`
      );
    }
    return `<circle class="point ${t.pass ? 'ok' : 'diverged'}" ${attrs} cx="${x}" cy="${y}" r="3.5" fill="${t.pass ? '#1a7f37' : '#cf222e'}">${title}</circle>`;
  });
  const axes =
    `<line x1="${left}" y1="${H - bottom}" x2="${W - right}" y2="${H - bottom}" stroke="#999"/>` +
    `<text x="${(left + W) / 2}" y="${H - 8}" text-anchor="middle">depth in model A (nodes from the inputs; max ${maxDepth})</text>` +
    `<text x="14" y="${(top + H - bottom) / 2}" transform="rotate(-90 14 ${(top + H - bottom) / 2})" text-anchor="middle">worst |a−b| / allowance</text>`;
  return `${head}<svg id="depth-plot" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="error of every tensor by depth">${grid.join('')}${axes}${points.join('')}</svg><p class="meta">Dashed red line: the tolerance (ratio 1). Points above it diverge; exact matches sit at the bottom.</p>`;
}
