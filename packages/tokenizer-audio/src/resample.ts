/**
 * Band-limited resampling: a Kaiser-windowed sinc low-pass evaluated as a polyphase filter.
 *
 * For a rational ratio to/from = L/M (reduced), output sample n sits at input time t = n·M/L; it is
 * Σ x[i] · h(t − i) over the 2K input samples around t, with
 * h(d) = fc · sinc(fc · d) · kaiser(d / K). fc = `cutoff` × min(1, L/M) in input-Nyquist units, so the
 * filter always cuts below the lower of the two Nyquist frequencies; K = ⌈zeroCrossings / min(1, L/M)⌉.
 * The L phase filters are tabulated once per (from, to, options) and each is normalized to unit DC
 * gain. Very large L (> 2048 phases, e.g. 44100 → 16001) falls back to 2048 tabulated phases with
 * linear interpolation between neighbouring phase filters.
 *
 * Defaults (cutoff 0.91, 32 zero crossings, β 8.6 ≈ 86 dB stopband) keep the passband flat to ~0.83 of
 * the new Nyquist and put the stopband at the new Nyquist; see resample.test.ts for measured figures.
 */
export interface ResampleOptions {
  /** −6 dB point as a fraction of the lower Nyquist frequency (0 < cutoff ≤ 1). Default 0.91. */
  readonly cutoff?: number;
  /** Sinc zero crossings on each side, counted at the lower rate. Default 32. */
  readonly zeroCrossings?: number;
  /** Kaiser window β. Default 8.6. */
  readonly beta?: number;
}

interface Plan {
  readonly L: number;
  readonly M: number;
  readonly phases: number;
  readonly taps: number;
  readonly half: number;
  readonly table: Float64Array;
}

const plans = new Map<string, Plan>();

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 200; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-17) break;
  }
  return sum;
}

function plan(from: number, to: number, o: ResampleOptions): Plan {
  const cutoff = o.cutoff ?? 0.91;
  const zeros = o.zeroCrossings ?? 32;
  const beta = o.beta ?? 8.6;
  const key = `${from}:${to}:${cutoff}:${zeros}:${beta}`;
  const cached = plans.get(key);
  if (cached) return cached;
  const g = gcd(from, to);
  const L = to / g;
  const M = from / g;
  const ratio = Math.min(1, L / M);
  const fc = cutoff * ratio;
  const half = Math.ceil(zeros / ratio);
  const taps = 2 * half;
  const phases = Math.min(L, 2048);
  const table = new Float64Array((phases + 1) * taps);
  const i0b = besselI0(beta);
  for (let p = 0; p <= phases; p++) {
    const frac = p / phases;
    let sum = 0;
    for (let j = 0; j < taps; j++) {
      const d = frac + half - 1 - j;
      const x = d / half;
      let h = 0;
      if (Math.abs(x) <= 1) {
        const a = Math.PI * fc * d;
        const sinc = a === 0 ? 1 : Math.sin(a) / a;
        h = fc * sinc * (besselI0(beta * Math.sqrt(1 - x * x)) / i0b);
      }
      table[p * taps + j] = h;
      sum += h;
    }
    for (let j = 0; j < taps; j++) table[p * taps + j]! /= sum;
  }
  const result = { L, M, phases, taps, half, table };
  plans.set(key, result);
  return result;
}

/** Resamples mono `input` from `from` Hz to `to` Hz. Output length ⌈N · to / from⌉. */
export function resample(input: Float32Array, from: number, to: number, options: ResampleOptions = {}): Float32Array {
  if (!Number.isInteger(from) || !Number.isInteger(to) || from <= 0 || to <= 0) {
    throw new RangeError(`sample rates must be positive integers, got ${from} → ${to}`);
  }
  if (from === to) return input.slice();
  const { L, M, phases, taps, half, table } = plan(from, to, options);
  const n = input.length;
  const outLength = Math.ceil((n * L) / M);
  const out = new Float32Array(outLength);
  const exact = phases === L;
  for (let k = 0; k < outLength; k++) {
    const num = k * M;
    const base = Math.floor(num / L);
    const rem = num - base * L;
    const first = base - half + 1;
    const jStart = first < 0 ? -first : 0;
    const jEnd = Math.min(taps, n - first);
    let acc = 0;
    if (exact) {
      const row = rem * taps;
      for (let j = jStart; j < jEnd; j++) acc += input[first + j]! * table[row + j]!;
    } else {
      const pos = (rem / L) * phases;
      const p = Math.floor(pos);
      const w = pos - p;
      const r0 = p * taps;
      const r1 = r0 + taps;
      for (let j = jStart; j < jEnd; j++) acc += input[first + j]! * ((1 - w) * table[r0 + j]! + w * table[r1 + j]!);
    }
    out[k] = acc;
  }
  return out;
}

/** Interleaved `channels`-channel samples → mono: channel 0 (`first`) or the mean of the channels (`mix`, default). */
export function toMono(samples: Float32Array, channels: number, mode: 'first' | 'mix' = 'mix'): Float32Array {
  return mode === 'first' ? firstChannel(samples, channels) : downmix(samples, channels);
}

/** Channel 0 of interleaved samples. */
export function firstChannel(samples: Float32Array, channels: number): Float32Array {
  if (channels === 1) return samples;
  const frames = Math.floor(samples.length / channels);
  const out = new Float32Array(frames);
  for (let i = 0; i < frames; i++) out[i] = samples[i * channels]!;
  return out;
}

/** Averages interleaved channels into mono. */
export function downmix(samples: Float32Array, channels: number): Float32Array {
  if (channels === 1) return samples;
  const frames = Math.floor(samples.length / channels);
  const out = new Float32Array(frames);
  const inv = 1 / channels;
  for (let i = 0; i < frames; i++) {
    let s = 0;
    for (let c = 0; c < channels; c++) s += samples[i * channels + c]!;
    out[i] = s * inv;
  }
  return out;
}
