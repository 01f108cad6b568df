import { InvalidArgumentError } from '@omnitok/core';

/**
 * A tiny paired dataset for learning tests and demos: RGB "images" of one colored shape, already cut
 * into patch tokens, and their captions as word ids.
 *
 * Each sample draws size (small/large) × color (4) × shape (circle, square, triangle, cross) × quadrant
 * (4) = 128 captions; the picture has the shape in that quadrant with a random sub-pixel offset on a
 * noisy gray background. Captions are `a <size> <color> <shape> <quadrant>` (5 ids).
 * Deterministic from `seed`.
 */
export const SHAPES_VOCAB = ['a', 'small', 'large', 'red', 'green', 'blue', 'yellow', 'circle', 'square', 'triangle', 'cross', 'top-left', 'top-right', 'bottom-left', 'bottom-right'] as const;

const COLORS: readonly [number, number, number][] = [
  [0.9, 0.15, 0.1],
  [0.15, 0.8, 0.2],
  [0.15, 0.3, 0.95],
  [0.95, 0.85, 0.1],
];

export interface ShapesOptions {
  readonly n: number;
  readonly seed?: number;
  /** Image side in pixels (default 16; a multiple of `patch` and of 2). */
  readonly size?: number;
  /** Patch side (default 4): tokens are (size/patch)² vectors of 3·patch² values. */
  readonly patch?: number;
  /** Caption ids 0..127 to use (default: uniform over all). With `distinct`, each once, in order. */
  readonly captions?: readonly number[];
}

export interface ShapesDataset {
  /** [n, tokens, 3·patch²] patch tokens (row-major patches, channels-last pixels inside a patch), values in [−1, 1] (CLIP-style centered). */
  readonly images: Float32Array;
  readonly imageShape: readonly [number, number, number];
  /** [n, 5] word ids into SHAPES_VOCAB. */
  readonly texts: Int32Array;
  readonly textShape: readonly [number, number];
  /** The caption index (0..127) of each sample. */
  readonly labels: Int32Array;
  readonly captions: string[];
}

/** Caption index → its five words. */
export function shapesCaption(label: number): string[] {
  const size = label & 1;
  const color = (label >> 1) & 3;
  const shape = (label >> 3) & 3;
  const quad = (label >> 5) & 3;
  return ['a', SHAPES_VOCAB[1 + size]!, SHAPES_VOCAB[3 + color]!, SHAPES_VOCAB[7 + shape]!, SHAPES_VOCAB[11 + quad]!];
}

export function syntheticShapes(options: ShapesOptions): ShapesDataset {
  const { n } = options;
  const S = options.size ?? 16;
  const P = options.patch ?? 4;
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('n', n, 'a positive integer');
  if (S % P !== 0 || S % 2 !== 0) throw new InvalidArgumentError('size', S, `a multiple of patch (${P}) and of 2`);
  let state = (options.seed ?? 0) * 2654435761 + 1;
  const rnd = () => {
    // mulberry32
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const G = S / P;
  const T = G * G;
  const D = 3 * P * P;
  const images = new Float32Array(n * T * D);
  const texts = new Int32Array(n * 5);
  const labels = new Int32Array(n);
  const captions: string[] = [];
  const pixel = new Float32Array(S * S * 3);
  for (let s = 0; s < n; s++) {
    const label = options.captions ? options.captions[s % options.captions.length]! : Math.floor(rnd() * 128);
    labels[s] = label;
    const words = shapesCaption(label);
    captions.push(words.join(' '));
    words.forEach((w, i) => (texts[s * 5 + i] = SHAPES_VOCAB.indexOf(w as (typeof SHAPES_VOCAB)[number])));
    const large = (label & 1) === 1;
    const color = COLORS[(label >> 1) & 3]!;
    const shape = (label >> 3) & 3;
    const quad = (label >> 5) & 3;
    const half = S / 2;
    const r = (large ? 0.36 : 0.22) * half;
    const cx = (quad & 1) * half + half / 2 + (rnd() - 0.5) * half * 0.3;
    const cy = (quad >> 1) * half + half / 2 + (rnd() - 0.5) * half * 0.3;
    const bg = 0.35 + rnd() * 0.2;
    for (let y = 0; y < S; y++) {
      for (let x = 0; x < S; x++) {
        const dx = x + 0.5 - cx;
        const dy = y + 0.5 - cy;
        let inside: boolean;
        if (shape === 0) inside = dx * dx + dy * dy <= r * r;
        else if (shape === 1) inside = Math.abs(dx) <= r * 0.85 && Math.abs(dy) <= r * 0.85;
        else if (shape === 2) inside = dy <= r * 0.8 && dy >= -r && Math.abs(dx) <= (dy + r) * 0.6;
        else inside = (Math.abs(dx) <= r * 0.3 && Math.abs(dy) <= r) || (Math.abs(dy) <= r * 0.3 && Math.abs(dx) <= r);
        for (let c = 0; c < 3; c++) pixel[(y * S + x) * 3 + c] = 2 * Math.min(1, Math.max(0, (inside ? color[c]! : bg) + (rnd() - 0.5) * 0.1)) - 1;
      }
    }
    for (let gy = 0; gy < G; gy++) {
      for (let gx = 0; gx < G; gx++) {
        const base = (s * T + gy * G + gx) * D;
        let k = 0;
        for (let py = 0; py < P; py++) for (let px = 0; px < P; px++) for (let c = 0; c < 3; c++) images[base + k++] = pixel[((gy * P + py) * S + gx * P + px) * 3 + c]!;
      }
    }
  }
  return { images, imageShape: [n, T, D], texts, textShape: [n, 5], labels, captions };
}
