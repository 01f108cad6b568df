import { BadPresetError, DecodeError, type Features, mulberry32, type PreprocessOptions, resolvePreset } from '@omnitok/core';
import type { DecodedImu } from './decode-imu.js';
import { type ImuPreset, imuPresets } from './presets.js';

/** `[channels, length]` IMU features, with what tokenization needs to build the mask. */
export interface ImuFeatures extends Features {
  readonly data: Float32Array;
  readonly patch: number;
  /** Samples of real signal in the window; the rest is padding. */
  readonly validLength: number;
  readonly masked: boolean;
}

export function validateImuPreset(name: string, p: ImuPreset): void {
  const bad = (field: string, reason: string): never => {
    throw new BadPresetError('imu', name, { field, reason });
  };
  if (!Array.isArray(p.channels) || p.channels.length === 0 || !p.channels.every((c) => typeof c === 'string')) bad('channels', 'must be a non-empty array of channel names');
  if (!(typeof p.rate === 'number' && p.rate > 0)) bad('rate', `must be a positive number of Hz, got ${JSON.stringify(p.rate)}`);
  if (!Number.isInteger(p.length) || p.length <= 0) bad('length', `must be a positive integer, got ${JSON.stringify(p.length)}`);
  if (!Number.isInteger(p.patch) || p.patch <= 0 || p.length % p.patch !== 0) bad('patch', `must be a positive integer dividing length ${p.length}, got ${JSON.stringify(p.patch)}`);
  if (!['start', 'center', 'random'].includes(p.crop)) bad('crop', `must be "start", "center" or "random", got ${JSON.stringify(p.crop)}`);
  if (!['zero', 'mask'].includes(p.pad)) bad('pad', `must be "zero" or "mask", got ${JSON.stringify(p.pad)}`);
  const n = p.normalize;
  if (typeof n === 'object' && n !== null) {
    if (n.mean?.length !== p.channels.length || n.std?.length !== p.channels.length || n.std.some((s) => !(s > 0))) {
      bad('normalize', `mean and std must each have ${p.channels.length} values, std > 0`);
    }
  } else if (n !== 'none' && n !== 'standardize') bad('normalize', `must be "none", "standardize" or { mean, std }, got ${JSON.stringify(n)}`);
}

/**
 * Selects the preset's channels, resamples to its rate, crops or pads to its window and normalizes.
 * Resampling is linear interpolation, preceded when downsampling by a moving average over one output
 * period (a simple anti-alias filter adequate for IMU bandwidths).
 */
export function preprocessImu(decoded: DecodedImu, preset: string | ImuPreset | undefined, options: PreprocessOptions = {}): ImuFeatures {
  const { name, preset: p } = resolvePreset('imu', imuPresets as Record<string, ImuPreset>, preset, 'imagebind');
  validateImuPreset(name, p);
  const C = p.channels.length;
  const lower = decoded.channels.map((c) => c.toLowerCase());
  let order: number[];
  if (p.channels.every((c) => lower.includes(c.toLowerCase()))) order = p.channels.map((c) => lower.indexOf(c.toLowerCase()));
  else if (decoded.channels.length === C) order = p.channels.map((_, i) => i);
  else {
    throw new DecodeError(decoded.source, 'imu', `has channels [${decoded.channels.join(', ')}]; preset ${name} needs [${p.channels.join(', ')}] (by name, or exactly ${C} columns)`);
  }

  const rateIn = decoded.rate ?? p.rate;
  const channels = order.map((k) => resample(decoded.data.subarray(k * decoded.samples, (k + 1) * decoded.samples), rateIn, p.rate));
  const total = channels[0]!.length;

  let start = 0;
  if (total > p.length) {
    const slack = total - p.length;
    start = p.crop === 'start' ? 0 : p.crop === 'random' && options.augment ? Math.floor(mulberry32(options.seed ?? 0)() * (slack + 1)) : slack >> 1;
  }
  const valid = Math.min(p.length, total - start);
  const data = new Float32Array(C * p.length); // [C, length]
  channels.forEach((signal, c) => {
    const row = data.subarray(c * p.length, (c + 1) * p.length);
    row.set(signal.subarray(start, start + valid));
    let mean = 0;
    let std = 1;
    if (p.normalize === 'standardize') {
      for (let t = 0; t < valid; t++) mean += row[t]!;
      mean /= valid;
      let sq = 0;
      for (let t = 0; t < valid; t++) sq += (row[t]! - mean) ** 2;
      std = Math.max(Math.sqrt(sq / valid), 1e-6);
    } else if (typeof p.normalize === 'object') {
      mean = p.normalize.mean[c]!;
      std = p.normalize.std[c]!;
    }
    if (mean !== 0 || std !== 1) for (let t = 0; t < valid; t++) row[t] = (row[t]! - mean) / std;
  });
  return {
    data,
    shape: [C, p.length],
    axes: ['channel', 'time'],
    modality: 'imu',
    preset: name,
    source: decoded.source,
    patch: p.patch,
    validLength: valid,
    masked: p.pad === 'mask',
  };
}

function resample(signal: Float32Array, rateIn: number, rateOut: number): Float32Array {
  if (Math.abs(rateIn - rateOut) / rateOut < 0.005) return signal;
  let src = signal;
  const ratio = rateIn / rateOut;
  if (ratio > 1.5) {
    const w = Math.round(ratio);
    src = new Float32Array(signal.length);
    let acc = 0;
    for (let i = 0; i < signal.length; i++) {
      acc += signal[i]!;
      if (i >= w) acc -= signal[i - w]!;
      src[i] = acc / Math.min(i + 1, w);
    }
  }
  const n = Math.max(1, Math.floor((signal.length - 1) / ratio) + 1);
  const out = new Float32Array(n);
  for (let j = 0; j < n; j++) {
    const x = j * ratio;
    const i = Math.floor(x);
    const f = x - i;
    out[j] = i + 1 < src.length ? src[i]! * (1 - f) + src[i + 1]! * f : src[src.length - 1]!;
  }
  return out;
}
