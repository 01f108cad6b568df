import { InvalidArgumentError, type Features } from '@omnitok/core';
import { clipSampleRanges } from './clip-sampler.js';
import type { DecodedAudio } from './decoded-audio.js';
import { logMel } from './log-mel.js';
import type { AudioPreset } from './presets.js';
import { resample, toMono } from './resample.js';

/**
 * Audio features: `[mels, frames]` (axes `mel`, `frame`), or `[clips, mels, frames]` (axes `clip`,
 * `mel`, `frame`) for clip presets such as ImageBind. Mel bin 0 is the lowest band; frame 0 the earliest.
 * The patch geometry and padding mode travel with the features so `tokenize(features)` needs no preset.
 */
export interface AudioFeatures extends Features {
  readonly data: Float32Array;
  readonly sampleRate: number;
  /** Frames holding real audio (per clip), before padding to the preset's frame count. */
  readonly validFrames: readonly number[];
  readonly pad: AudioPreset['pad'];
  readonly patch: AudioPreset['patch'];
}

/**
 * Runs a (validated) preset on decoded audio: to mono (the preset's `channels`), resample to the preset's rate with the
 * Kaiser-sinc resampler, then the log-mel of {@link logMel}. For clip presets each clip is cut from the
 * whole decoded waveform and gets its own mean subtracted in place — as ImageBind's `waveform -=
 * waveform.mean()` on a view does — so overlapping clips see the earlier clips' shift, exactly as upstream.
 */
export function computeAudioFeatures(decoded: DecodedAudio, preset: AudioPreset, presetName: string): AudioFeatures {
  if (!(decoded?.samples instanceof Float32Array) || !(decoded.channels >= 1) || !(decoded.sampleRate > 0)) {
    throw new InvalidArgumentError('decoded', decoded, 'decoded audio { samples: Float32Array, sampleRate, channels }');
  }
  let mono = toMono(decoded.samples, decoded.channels, preset.channels);
  if (decoded.sampleRate !== preset.sampleRate) mono = resample(mono, decoded.sampleRate, preset.sampleRate);
  const base = { modality: 'audio', preset: presetName, source: decoded.source, sampleRate: preset.sampleRate, pad: preset.pad, patch: preset.patch };

  if (preset.clips) {
    const wave = Float64Array.from(mono);
    const ranges = clipSampleRanges(wave.length, preset.sampleRate, preset.clips.count, preset.clips.seconds);
    const frames = preset.frames!;
    const data = new Float32Array(ranges.length * preset.mels * frames);
    const validFrames: number[] = [];
    ranges.forEach(([s, e], i) => {
      const clip = wave.subarray(Math.min(s, wave.length), Math.min(e, wave.length));
      if (preset.subtractMean) subtractMean(clip);
      const lm = logMel(clip, preset);
      data.set(lm.data, i * preset.mels * frames);
      validFrames.push(lm.validFrames);
    });
    return { ...base, data, shape: [ranges.length, preset.mels, frames], axes: ['clip', 'mel', 'frame'], validFrames };
  }

  let wave: Float32Array | Float64Array = mono;
  if (preset.subtractMean) {
    wave = Float64Array.from(mono);
    subtractMean(wave);
  }
  // Only the samples the kept frames read are needed (the mean above used the whole input, like AST).
  if (preset.frames !== null) {
    const need = preset.frontend === 'stft' ? preset.frames * preset.hop + preset.nFft : (preset.frames - 1) * preset.hop + preset.winLength;
    if (wave.length > need && preset.pad !== 'waveform') wave = wave.subarray(0, need);
  }
  const lm = logMel(wave, preset);
  return { ...base, data: lm.data, shape: [lm.mels, lm.frames], axes: ['mel', 'frame'], validFrames: [lm.validFrames] };
}

function subtractMean(x: Float64Array): void {
  if (x.length === 0) return;
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]!;
  const mean = s / x.length;
  for (let i = 0; i < x.length; i++) x[i]! -= mean;
}
