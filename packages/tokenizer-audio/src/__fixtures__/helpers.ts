import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decodeNpy } from '@omnitok/core';

export const FIXTURES = fileURLToPath(new URL('.', import.meta.url));
export const CLIPS = ['speech', 'music', 'noise'] as const;
export const PRESETS = ['whisper-80', 'whisper-128', 'ast', 'imagebind'] as const;

export interface Reference {
  readonly samples: number;
  readonly presets: Record<string, { shape: number[]; stored: number; tail: number | null }>;
}

export function references(): Record<string, Reference> {
  return JSON.parse(readFileSync(`${FIXTURES}references.json`, 'utf8'));
}

export function loadNpy(name: string): { data: Float32Array; shape: readonly number[] } {
  const arr = decodeNpy(new Uint8Array(readFileSync(`${FIXTURES}${name}`)));
  return { data: arr.data as Float32Array, shape: arr.shape };
}

/** Largest |ours − ref| over the stored frames plus the constant tail, for `[..., frames]` arrays. */
export function maxDiffAgainstReference(ours: Float32Array, shape: readonly number[], ref: Float32Array, stored: number, tail: number | null): number {
  const frames = shape[shape.length - 1]!;
  const rows = ours.length / frames;
  let max = 0;
  for (let r = 0; r < rows; r++) {
    for (let t = 0; t < frames; t++) {
      const expected = t < stored ? ref[r * stored + t]! : tail!;
      const d = Math.abs(ours[r * frames + t]! - expected);
      if (!(d <= max)) max = Number.isNaN(d) ? Infinity : d;
    }
  }
  return max;
}

/** A sine at `freq` Hz, `seconds` long. */
export function sine(freq: number, rate: number, seconds: number, amplitude = 0.5): Float32Array {
  const n = Math.round(rate * seconds);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = amplitude * Math.sin((2 * Math.PI * freq * i) / rate);
  return out;
}

/** Amplitude of the `freq` component of `x` (least-squares projection onto sin/cos over whole periods). */
export function toneAmplitude(x: Float32Array, freq: number, rate: number, from = 0, to = x.length): number {
  let s = 0, c = 0;
  const n = to - from;
  for (let i = from; i < to; i++) {
    const a = (2 * Math.PI * freq * i) / rate;
    s += x[i]! * Math.sin(a);
    c += x[i]! * Math.cos(a);
  }
  return (2 / n) * Math.hypot(s, c);
}
