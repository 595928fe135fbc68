import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseHTML } from 'linkedom';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serializeOnnx } from '../../src/formats/onnx/index.js';
import { parseToleranceOptions } from '../../src/verify/compare.js';
import { renderHtmlReport } from '../../src/verify/htmlReport.js';
import { verifyModels } from '../../src/verify/verify.js';
import { bnc } from '../helpers/cli.js';
import { clone, convNet, scaleConvChannel } from './nets.js';

// The HTML report (--report FILE.html), read back with a DOM parser: its parts are there and hold the
// report's own figures; nothing in it loads from elsewhere; names from the model are escaped.

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bnc-verify-html-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const options = { fileA: 'a.onnx', fileB: 'b.onnx', tolerance: parseToleranceOptions([], []) };

function dom(html: string) {
  return parseHTML(html).document;
}

describe('renderHtmlReport', () => {
  it('a failing comparison with --all-tensors: verdict, table, histogram bars, and the depth plot with the first diverging tensor marked', () => {
    const m = convNet(3);
    const report = verifyModels(m, scaleConvChannel(m, 'conv2', 6, 1.01), { ...options, allTensors: true });
    const doc = dom(renderHtmlReport(report));
    expect(doc.querySelector('title')!.textContent).toMatch(/^bnc verify: DIFFERENT: a\.onnx vs b\.onnx/);
    expect(doc.getElementById('verdict')!.textContent).toBe('DIFFERENT');
    expect(doc.getElementById('verdict')!.getAttribute('class')).toMatch(/different/);
    const rows = doc.querySelectorAll('#outputs tr[data-output]');
    expect(rows.length).toBe(1);
    expect(rows[0]!.getAttribute('data-output')).toBe('scores');
    expect(rows[0]!.textContent).toMatch(/✗ tolerance/);
    // One bar per histogram bin, with the report's counts, summing to the compared elements.
    const bins = report.outputs[0]!.metrics!.statistics!.histogram;
    const bars = [...doc.querySelectorAll('svg.histogram[data-output="scores"] rect.bar')];
    expect(bars.map((b) => Number(b.getAttribute('data-count')))).toEqual(bins.map((b) => b.count));
    expect(bins.reduce((s, b) => s + b.count, 0)).toBe(8);
    // One point per compared tensor; the marked one is the report's first diverging tensor.
    const points = doc.querySelectorAll('#depth-plot circle.point');
    expect(points.length).toBe(report.allTensors!.compared);
    const first = doc.querySelectorAll('#depth-plot circle.first-diverging');
    expect(first.length).toBe(1);
    expect(first[0]!.getAttribute('data-tensor')).toBe('c2');
    expect(first[0]!.getAttribute('data-tensor')).toBe(report.allTensors!.firstDiverging!.name);
    expect(doc.getElementById('first-diverging-name')!.textContent).toBe('c2');
    // c2 is computed after c1: deeper in the graph.
    const depthOf = (name: string) => Number(doc.querySelector(`#depth-plot circle[data-tensor="${name}"]`)!.getAttribute('data-depth'));
    expect(depthOf('c2')).toBeGreaterThan(depthOf('c1'));
    expect(doc.querySelectorAll('#depth-plot .tolerance-line').length).toBe(1);
  });

  it('an equivalent comparison has no depth plot without --all-tensors; the page loads nothing from elsewhere', () => {
    const m = convNet(3);
    const html = renderHtmlReport(verifyModels(m, clone(m), options));
    const doc = dom(html);
    expect(doc.getElementById('verdict')!.textContent).toBe('EQUIVALENT');
    expect(doc.getElementById('depth-plot')).toBeNull();
    expect(doc.querySelectorAll('script, link, img, iframe, object, embed').length).toBe(0);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/url\(/);
  });

  it('escapes names taken from the model', () => {
    const m = convNet(3);
    m.graph.outputs[0]!.name = '<img src=x onerror=alert(1)>';
    m.graph.nodes.find((n) => n.name === 'pool')!.outputs = ['<img src=x onerror=alert(1)>'];
    const doc = dom(renderHtmlReport(verifyModels(m, clone(m), options)));
    expect(doc.querySelectorAll('img').length).toBe(0);
    expect(doc.querySelector('#outputs tr[data-output] code')!.textContent).toBe('<img src=x onerror=alert(1)>');
  });
});

describe('bnc verify --report', () => {
  it('writes the page next to the normal output and says so; refuses to overwrite without --force', () => {
    const m = convNet(3);
    const a = path.join(dir, 'a.onnx');
    const b = path.join(dir, 'b.onnx');
    fs.writeFileSync(a, serializeOnnx(m));
    fs.writeFileSync(b, serializeOnnx(scaleConvChannel(m, 'conv2', 6, 1.01)));
    const page = path.join(dir, 'report.html');
    const r = bnc(['verify', a, b, '--all-tensors', '--report', page]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/report written to .*report\.html/);
    const doc = dom(fs.readFileSync(page, 'utf8'));
    expect(doc.getElementById('verdict')!.textContent).toBe('DIFFERENT');
    expect(doc.querySelector('#depth-plot circle.first-diverging')!.getAttribute('data-tensor')).toBe('c2');
    const again = bnc(['verify', a, b, '--report', page, '--json']);
    expect(again.code).toBe(2);
    expect(JSON.parse(again.stdout).error.message).toMatch(/report\.html/);
    const forced = bnc(['verify', a, b, '--report', page, '--json', '--force']);
    expect(JSON.parse(forced.stdout).htmlReport).toBe(page);
  });
});
