import { createRealPowerFft, type RealPowerFft } from './fft.js';
import { melFilterbank, type MelFilterbank } from './mel-filters.js';
import { resolveFmax, type AudioPreset } from './presets.js';
import { makeWindow } from './window.js';

/**
 * Precomputed state for one preset: window (placed in an nFft frame), FFT plan, sparse mel filters and
 * scratch buffers. Built once per distinct preset and reused, so computing features allocates only the
 * output.
 */
export interface SpectrogramPlan {
  readonly window: Float64Array;
  readonly fft: RealPowerFft;
  readonly mel: MelFilterbank;
  readonly frame: Float64Array;
  readonly power: Float64Array;
  logScratch: Float64Array;
}

const planCache = new Map<string, SpectrogramPlan>();

export function spectrogramPlan(preset: AudioPreset): SpectrogramPlan {
  const key = JSON.stringify([
    preset.sampleRate, preset.frontend, preset.nFft, preset.winLength, preset.window,
    preset.mels, preset.melScale, preset.melNorm, preset.fmin, preset.fmax,
  ]);
  const cached = planCache.get(key);
  if (cached) return cached;
  const n = preset.nFft;
  const window = new Float64Array(n);
  const w = makeWindow(preset.window, preset.winLength);
  // torch.stft centers a short window inside n_fft; Kaldi zero-pads the frame on the right.
  const offset = preset.frontend === 'stft' ? Math.floor((n - preset.winLength) / 2) : 0;
  window.set(w, offset);
  const plan: SpectrogramPlan = {
    window,
    fft: createRealPowerFft(n),
    mel: melFilterbank({
      sampleRate: preset.sampleRate,
      nFft: n,
      mels: preset.mels,
      fmin: preset.fmin,
      fmax: resolveFmax(preset.fmax, preset.sampleRate),
      scale: preset.melScale,
      norm: preset.melNorm,
    }),
    frame: new Float64Array(n),
    power: new Float64Array(n / 2 + 1),
    logScratch: new Float64Array(0),
  };
  planCache.set(key, plan);
  return plan;
}

/** The log-mel spectrogram of one example, `[mels, frames]` row-major, plus how many frames hold real audio. */
export interface LogMel {
  readonly data: Float32Array;
  readonly mels: number;
  readonly frames: number;
  readonly validFrames: number;
}

/**
 * Computes a preset's normalized log-mel features for mono `wave` (already at `preset.sampleRate`, mean
 * already subtracted when the preset asks for it). Padding / cutting to `preset.frames` follows
 * `preset.pad`.
 */
export function logMel(wave: Float32Array | Float64Array, preset: AudioPreset): LogMel {
  const plan = spectrogramPlan(preset);
  const { mels, hop } = { mels: preset.mels, hop: preset.hop };
  const target = preset.frames;
  let x = wave;
  let natural: number; // frames the (possibly padded) waveform yields
  if (preset.frontend === 'stft') {
    if (preset.pad === 'waveform' && target !== null) {
      const samples = target * hop;
      if (x.length !== samples) {
        const padded = new Float32Array(samples);
        padded.set(x.length > samples ? x.subarray(0, samples) : x);
        x = padded;
      }
    }
    natural = Math.floor(x.length / hop) + 1 - (preset.dropLastFrame ? 1 : 0);
    if (x.length === 0) natural = 0;
  } else {
    natural = x.length < preset.winLength ? 0 : Math.floor((x.length - preset.winLength) / hop) + 1;
  }
  const outFrames = target ?? natural;
  const computed = Math.min(natural, outFrames);
  const valid =
    preset.frontend === 'stft' ? Math.min(computed, Math.ceil(Math.min(wave.length, x.length) / hop)) : computed;

  const cells = mels * outFrames;
  if (plan.logScratch.length < cells) plan.logScratch = new Float64Array(cells);
  const logs = plan.logScratch;
  const ln10 = preset.log === 'log10';
  const floor = preset.logFloor;
  let max = -Infinity;
  const { frame, power, window, fft, mel } = plan;
  const n = preset.nFft;
  for (let t = 0; t < computed; t++) {
    if (preset.frontend === 'stft') fillStftFrame(x, t * hop - n / 2, window, frame);
    else fillKaldiFrame(x, t * hop, preset, window, frame);
    fft.power(frame, power);
    for (let m = 0; m < mels; m++) {
      const w = mel.weights[m]!;
      const s = mel.start[m]!;
      let e = 0;
      for (let k = 0; k < w.length; k++) e += w[k]! * power[s + k]!;
      const v = ln10 ? Math.log10(e > floor ? e : floor) : Math.log(e > floor ? e : floor);
      logs[m * outFrames + t] = v;
      if (v > max) max = v;
    }
  }
  const data = new Float32Array(cells);
  const lo = preset.dynamicRange !== null && preset.dynamicRange !== undefined ? max - preset.dynamicRange : -Infinity;
  const mean = preset.mean;
  const inv = 1 / preset.std;
  // Padding value: `features` pads the log domain with 0 before normalization; `mask` pads with 0 after.
  const padValue = preset.pad === 'features' ? (0 - mean) * inv : 0;
  for (let m = 0; m < mels; m++) {
    const row = m * outFrames;
    for (let t = 0; t < computed; t++) {
      const v = logs[row + t]!;
      data[row + t] = ((v > lo ? v : lo) - mean) * inv;
    }
    if (computed < outFrames) data.fill(padValue, row + computed, row + outFrames);
  }
  return { data, mels, frames: outFrames, validFrames: valid };
}

/** Reflect-padded (torch 'reflect': …2 1 | 0 1 2 … n−1 | n−2 …) windowed frame starting at `start`. */
function fillStftFrame(x: Float32Array | Float64Array, start: number, window: Float64Array, frame: Float64Array): void {
  const n = frame.length;
  const len = x.length;
  if (start >= 0 && start + n <= len) {
    for (let j = 0; j < n; j++) frame[j] = x[start + j]! * window[j]!;
    return;
  }
  const period = 2 * (len - 1);
  for (let j = 0; j < n; j++) {
    let i = start + j;
    if (len === 1) i = 0;
    else {
      i %= period;
      if (i < 0) i += period;
      if (i >= len) i = period - i;
    }
    frame[j] = x[i]! * window[j]!;
  }
}

function fillKaldiFrame(x: Float32Array | Float64Array, start: number, p: AudioPreset, window: Float64Array, frame: Float64Array): void {
  const w = p.winLength;
  for (let j = 0; j < w; j++) frame[j] = x[start + j]!;
  if (p.removeDc) {
    let s = 0;
    for (let j = 0; j < w; j++) s += frame[j]!;
    const mean = s / w;
    for (let j = 0; j < w; j++) frame[j]! -= mean;
  }
  const c = p.preemphasis ?? 0;
  if (c !== 0) {
    for (let j = w - 1; j > 0; j--) frame[j]! -= c * frame[j - 1]!;
    frame[0]! -= c * frame[0]!;
  }
  for (let j = 0; j < w; j++) frame[j]! *= window[j]!;
  frame.fill(0, w);
}
