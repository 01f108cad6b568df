import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EvalResult } from './evaluate.js';
import { COLORS, type Panel, renderPlot } from './plot.js';

export interface StepMetric {
  readonly type: 'step';
  readonly step: number;
  readonly epoch: number;
  readonly loss: number;
  readonly lr: number;
  readonly samplesPerSec: number;
  readonly elapsed: number;
}

export interface EvalMetric extends EvalResult {
  readonly type: 'eval';
  readonly step: number;
  readonly elapsed: number;
}

export type Metric = StepMetric | EvalMetric;

function ema(points: [number, number][], alpha = 0.1): [number, number][] {
  let m: number | undefined;
  return points.map(([x, y]) => [x, (m = m === undefined ? y : m + alpha * (y - m))]);
}

/** The two panels of a run: training loss, and held-out metrics with their chance levels. */
export function panels(metrics: readonly Metric[]): Panel[] {
  const steps = metrics.filter((m): m is StepMetric => m.type === 'step');
  const evals = metrics.filter((m): m is EvalMetric => m.type === 'eval');
  const loss = steps.map((m) => [m.step, m.loss] as [number, number]);
  const out: Panel[] = [
    {
      title: 'training loss',
      xLabel: 'step',
      series: [
        { name: 'loss', color: [170, 200, 230], points: loss },
        { name: 'loss (moving average)', color: COLORS.blue!, points: ema(loss) },
      ],
    },
  ];
  if (evals.length > 0) {
    const last = evals.at(-1)!;
    const series: Panel['series'][number][] = [];
    if (last.zeroShot) {
      series.push({ name: `zero-shot top-1 (${last.zeroShot.classes} classes)`, color: COLORS.red!, points: evals.filter((e) => e.zeroShot).map((e) => [e.step, e.zeroShot!.top1]) });
      series.push({ name: 'chance top-1', color: COLORS.red!, points: [], level: last.zeroShot.chanceTop1 });
    }
    const r = last.retrieval[0];
    if (r) {
      const [a, b] = r.pair.split('__');
      series.push({ name: `R@1 ${a}->${b}`, color: COLORS.green!, points: evals.map((e) => [e.step, e.retrieval[0]!.aToB.r1]) });
      series.push({ name: `R@1 ${b}->${a}`, color: COLORS.purple!, points: evals.map((e) => [e.step, e.retrieval[0]!.bToA.r1]) });
      series.push({ name: `R@5 ${a}->${b}`, color: COLORS.orange!, points: evals.map((e) => [e.step, e.retrieval[0]!.aToB.r5]) });
      const paired = r.unique.a === r.n && r.unique.b === r.n;
      series.push({ name: paired ? `chance R@1 (1/${r.n})` : `chance R@1 ${a}->${b}`, color: COLORS.grey!, points: [], level: r.chanceR1 });
    }
    out.push({ title: 'held-out evaluation', xLabel: 'step', series, yRange: [0, 1] });
  }
  return out;
}

function svgPanel(p: Panel, w = 460, h = 320): string {
  const left = 50;
  const top = 28;
  const right = w - 12;
  const bottom = h - 60;
  const pts = p.series.flatMap((s) => s.points);
  const xMax = Math.max(1, ...pts.map((q) => q[0]));
  const ys = [...pts.map((q) => q[1]), ...p.series.filter((s) => s.level !== undefined).map((s) => s.level!)];
  let [yMin, yMax] = p.yRange ?? [Math.min(...ys), Math.max(...ys)];
  if (!(yMax > yMin)) [yMin, yMax] = [yMin - 0.5, yMax + 0.5];
  const X = (v: number) => (left + (v / xMax) * (right - left)).toFixed(1);
  const Y = (v: number) => (bottom - ((v - yMin) / (yMax - yMin)) * (bottom - top)).toFixed(1);
  const rgb = (c: readonly number[]) => `rgb(${c.join(',')})`;
  const lines = p.series
    .map((s) =>
      s.level !== undefined
        ? `<line x1="${left}" x2="${right}" y1="${Y(s.level)}" y2="${Y(s.level)}" stroke="${rgb(s.color)}" stroke-dasharray="4 4"/>`
        : `<polyline fill="none" stroke-width="2" stroke="${rgb(s.color)}" points="${s.points.map(([x, y]) => `${X(x)},${Y(y)}`).join(' ')}"/>`,
    )
    .join('\n');
  const legend = p.series.map((s, i) => `<text x="${left + (i % 2) * 200}" y="${bottom + 30 + Math.floor(i / 2) * 13}" fill="${rgb(s.color)}">${s.level !== undefined ? '- - ' : '— '}${esc(s.name)}</text>`).join('\n');
  const yt = [yMin, (yMin + yMax) / 2, yMax].map((v) => `<text x="${left - 4}" y="${Y(v)}" text-anchor="end">${Number(v.toPrecision(3))}</text>`).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" font-family="sans-serif" font-size="11">
<text x="${w / 2}" y="16" text-anchor="middle" font-size="14">${esc(p.title)}</text>
<line x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#333"/><line x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" stroke="#333"/>
${yt}<text x="${left}" y="${bottom + 14}">0</text><text x="${right}" y="${bottom + 14}" text-anchor="end">${xMax} steps</text>
${lines}
${legend}
</svg>`;
}

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

/** Writes `plot.png` (own raster, 5×7 font) and `report.html` (inline SVG + summary) into `dir`. */
export async function writeReports(dir: string, metrics: readonly Metric[], summary: Record<string, unknown>, title: string): Promise<{ png: string; html: string }> {
  const ps = panels(metrics);
  const png = join(dir, 'plot.png');
  const html = join(dir, 'report.html');
  await writeFile(png, renderPlot(title, ps));
  const rows = Object.entries(summary)
    .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(typeof v === 'string' ? v : JSON.stringify(v))}</td></tr>`)
    .join('\n');
  await writeFile(
    html,
    `<!doctype html>
<html><head><meta charset="utf-8"><title>omnitok train report</title>
<style>body{font-family:sans-serif;margin:2em;color:#222}th{text-align:left;padding-right:1em;vertical-align:top}td{font-family:monospace}</style></head>
<body><h1>omnitok train</h1><p>${esc(title)}</p>
${ps.map((p) => svgPanel(p)).join('\n')}
<h2>Summary</h2><table>${rows}</table>
<p>Per-step metrics: metrics.jsonl; skipped samples: skipped.jsonl; plot: plot.png.</p>
</body></html>
`,
  );
  return { png, html };
}
