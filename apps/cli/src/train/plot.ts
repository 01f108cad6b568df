import { glyph, GLYPH_H, GLYPH_W } from './bitmap-font.js';
import { encodePng } from './png.js';

type RGB = readonly [number, number, number];

/** A tiny RGBA raster with lines, rectangles and 5×7 bitmap text. */
export class Canvas {
  readonly data: Uint8Array;
  constructor(
    readonly width: number,
    readonly height: number,
    background: RGB = [255, 255, 255],
  ) {
    this.data = new Uint8Array(width * height * 4);
    for (let i = 0; i < width * height; i++) this.data.set([...background, 255], i * 4);
  }

  pixel(x: number, y: number, c: RGB): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    this.data.set(c, (y * this.width + x) * 4);
  }

  rect(x: number, y: number, w: number, h: number, c: RGB): void {
    for (let j = 0; j < h; j++) for (let i = 0; i < w; i++) this.pixel(x + i, y + j, c);
  }

  line(x0: number, y0: number, x1: number, y1: number, c: RGB, thickness = 1): void {
    const steps = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
    const r = (thickness - 1) / 2;
    for (let s = 0; s <= steps; s++) {
      const x = x0 + ((x1 - x0) * s) / steps;
      const y = y0 + ((y1 - y0) * s) / steps;
      if (thickness <= 1) this.pixel(x, y, c);
      else for (let dy = -r; dy <= r; dy++) for (let dx = -r; dx <= r; dx++) this.pixel(x + dx, y + dy, c);
    }
  }

  /** Text with its top-left corner at (x, y); `scale` multiplies the 5×7 glyphs. Returns the width drawn. */
  text(x: number, y: number, s: string, c: RGB, scale = 1): number {
    let cx = x;
    for (const ch of s) {
      const rows = glyph(ch);
      for (let j = 0; j < GLYPH_H; j++) for (let i = 0; i < GLYPH_W; i++) if ((rows[j]! >> (GLYPH_W - 1 - i)) & 1) this.rect(cx + i * scale, y + j * scale, scale, scale, c);
      cx += (GLYPH_W + 1) * scale;
    }
    return cx - x;
  }

  textWidth(s: string, scale = 1): number {
    return [...s].length * (GLYPH_W + 1) * scale;
  }

  png(): Buffer {
    return encodePng(this.data, this.width, this.height);
  }
}

export interface Series {
  readonly name: string;
  readonly color: RGB;
  readonly points: readonly (readonly [number, number])[];
  /** A dashed horizontal reference (chance level) instead of a line through points. */
  readonly level?: number;
}

export interface Panel {
  readonly title: string;
  readonly xLabel: string;
  readonly series: readonly Series[];
  readonly yRange?: readonly [number, number];
}

export const COLORS: Record<string, RGB> = {
  blue: [31, 119, 180],
  orange: [255, 127, 14],
  green: [44, 160, 44],
  red: [214, 39, 40],
  purple: [148, 103, 189],
  grey: [140, 140, 140],
};

/** "Nice" tick values covering [lo, hi]. */
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1000) return `${Math.round(v / 100) / 10}K`.replace('.0K', 'K');
  if (a >= 10) return String(Math.round(v));
  return String(Number(v.toPrecision(2)));
}

function drawPanel(cv: Canvas, p: Panel, x0: number, y0: number, w: number, h: number): void {
  const ink: RGB = [30, 30, 30];
  const grid: RGB = [225, 225, 225];
  cv.text(x0 + (w - cv.textWidth(p.title, 2)) / 2, y0, p.title, ink, 2);
  const left = x0 + 56;
  const top = y0 + 26;
  const right = x0 + w - 12;
  const bottom = y0 + h - 74;
  const pts = p.series.flatMap((s) => s.points);
  const xs = pts.map((q) => q[0]);
  const xMin = Math.min(0, ...xs);
  const xMax = Math.max(1, ...xs);
  const ysAll = [...pts.map((q) => q[1]), ...p.series.filter((s) => s.level !== undefined).map((s) => s.level!)].filter(Number.isFinite);
  let [yMin, yMax] = p.yRange ?? [Math.min(...ysAll), Math.max(...ysAll)];
  if (!Number.isFinite(yMin) || !Number.isFinite(yMax)) [yMin, yMax] = [0, 1];
  if (yMax - yMin < 1e-9) [yMin, yMax] = [yMin - 0.5, yMax + 0.5];
  if (!p.yRange) {
    const pad = (yMax - yMin) * 0.05;
    yMin -= pad;
    yMax += pad;
  }
  const X = (v: number) => left + ((v - xMin) / (xMax - xMin)) * (right - left);
  const Y = (v: number) => bottom - ((v - yMin) / (yMax - yMin)) * (bottom - top);
  for (const t of ticks(yMin, yMax)) {
    cv.line(left, Y(t), right, Y(t), grid);
    const label = fmt(t);
    cv.text(left - 6 - cv.textWidth(label), Y(t) - 3, label, ink);
  }
  for (const t of ticks(xMin, xMax)) {
    cv.line(X(t), top, X(t), bottom, grid);
    const label = fmt(t);
    cv.text(X(t) - cv.textWidth(label) / 2, bottom + 6, label, ink);
  }
  cv.line(left, bottom, right, bottom, ink);
  cv.line(left, top, left, bottom, ink);
  cv.text(left + (right - left - cv.textWidth(p.xLabel)) / 2, bottom + 18, p.xLabel, ink);
  for (const s of p.series) {
    if (s.level !== undefined) {
      for (let x = left; x < right; x += 8) cv.line(x, Y(s.level), Math.min(x + 4, right), Y(s.level), s.color);
      continue;
    }
    for (let i = 1; i < s.points.length; i++) cv.line(X(s.points[i - 1]![0]), Y(s.points[i - 1]![1]), X(s.points[i]![0]), Y(s.points[i]![1]), s.color, 2);
    if (s.points.length === 1) cv.rect(X(s.points[0]![0]) - 2, Y(s.points[0]![1]) - 2, 5, 5, s.color);
  }
  // Legend, below the axis label, wrapping.
  let lx = left;
  let ly = bottom + 32;
  for (const s of p.series) {
    const wText = cv.textWidth(s.name) + 26;
    if (lx + wText > right && lx > left) {
      lx = left;
      ly += 11;
    }
    if (s.level !== undefined) for (let x = 0; x < 14; x += 6) cv.line(lx + x, ly + 3, lx + x + 3, ly + 3, s.color);
    else cv.line(lx, ly + 3, lx + 14, ly + 3, s.color, 2);
    cv.text(lx + 18, ly, s.name, ink);
    lx += wText;
  }
}

/** Panels side by side, a title line on top; returns the PNG bytes. */
export function renderPlot(title: string, panels: readonly Panel[], panelWidth = 460, height = 400): Buffer {
  const cv = new Canvas(panelWidth * panels.length, height + 24);
  cv.text(8, 6, title, [60, 60, 60]);
  panels.forEach((p, i) => drawPanel(cv, p, i * panelWidth, 24, panelWidth, height));
  return cv.png();
}
