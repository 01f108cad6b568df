import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { computeAudioFeatures, type AudioFeatures } from './audio-features.js';
import { patchifySpectrogram } from './patchify.js';
import { AUDIO_PRESETS, validateAudioPreset } from './presets.js';
import { decodeWavBytes } from './wav-decode.js';
import { FIXTURES } from './__fixtures__/helpers.js';

const speech = decodeWavBytes(new Uint8Array(readFileSync(`${FIXTURES}speech.wav`)), 'speech.wav');

function features(mels: number, frames: number, extra: Partial<AudioFeatures> = {}): AudioFeatures {
  const data = new Float32Array(mels * frames).map((_, i) => i);
  return {
    data, shape: [mels, frames], axes: ['mel', 'frame'], modality: 'audio', preset: 'test', sampleRate: 16000,
    validFrames: [frames], pad: 'features', patch: { size: [16, 16], stride: [10, 10] }, ...extra,
  };
}

describe('patchifySpectrogram', () => {
  it('AST: 128 × 1024, 16×16 stride 10 → 12 × 101 = 1212 tokens of 256', () => {
    const f = computeAudioFeatures(speech, AUDIO_PRESETS.ast!, 'ast');
    const t = patchifySpectrogram(f);
    expect(t.shape).toEqual([1212, 256]);
    expect(t.grid).toEqual([12, 101]);
    expect(t.mask).toBeUndefined();
    expect(t.modality).toBe('audio');
    expect(t.preset).toBe('ast');
  });

  it('lays each patch out row-major [freq][time] and enumerates freq-major, like Conv2d output flattened over [F′, T′]', () => {
    const f = features(40, 50);
    const t = patchifySpectrogram(f);
    const gf = Math.floor((40 - 16) / 10) + 1; // 3
    const gt = Math.floor((50 - 16) / 10) + 1; // 4
    expect(t.grid).toEqual([gf, gt]);
    // A random "conv" weight applied to the token vector equals the conv sum at that output position.
    const w = new Float32Array(256).map((_, i) => Math.sin(i * 1.7));
    for (let i = 0; i < gf; i++) {
      for (let j = 0; j < gt; j++) {
        let conv = 0;
        for (let a = 0; a < 16; a++) for (let b = 0; b < 16; b++) conv += w[a * 16 + b]! * f.data[(i * 10 + a) * 50 + j * 10 + b]!;
        const token = i * gt + j;
        let dot = 0;
        for (let k = 0; k < 256; k++) dot += w[k]! * t.data[token * 256 + k]!;
        expect(dot).toBeCloseTo(conv, 2);
        expect(Array.from(t.positions.subarray(token * 2, token * 2 + 2))).toEqual([i, j]);
      }
    }
  });

  it('ImageBind: [3, 128, 204] → grid [3, 12, 19] (684 tokens)', () => {
    const f = computeAudioFeatures(speech, AUDIO_PRESETS.imagebind!, 'imagebind');
    const t = patchifySpectrogram(f);
    expect(t.grid).toEqual([3, 12, 19]);
    expect(t.shape).toEqual([684, 256]);
    // The first token of clip 1 is the top-left block of clip 1's spectrogram.
    expect(t.data[228 * 256]).toBe(f.data[128 * 204]);
  });

  it('Whisper: 80 × 3000 → 1500 tokens of 20 ms (160 values)', () => {
    const t = patchifySpectrogram(computeAudioFeatures(speech, AUDIO_PRESETS['whisper-80']!, 'whisper-80'));
    expect(t.grid).toEqual([1, 1500]);
    expect(t.shape).toEqual([1500, 160]);
  });

  it("pad: 'mask' keeps the true length: tokens starting beyond the valid frames get mask 0", () => {
    const preset = validateAudioPreset({ ...AUDIO_PRESETS.ast!, pad: 'mask' }, 'ast-mask');
    const f = computeAudioFeatures(speech, preset, 'ast-mask');
    const valid = f.validFrames[0]!;
    expect(valid).toBe(1 + Math.floor((speech.samples.length - 400) / 160));
    const t = patchifySpectrogram(f);
    expect(t.mask).toBeDefined();
    for (let i = 0; i < 12; i++) {
      for (let j = 0; j < 101; j++) expect(t.mask![i * 101 + j]).toBe(j * 10 < valid ? 1 : 0);
    }
    const kept = t.mask!.reduce((a, b) => a + b, 0);
    expect(kept).toBe(12 * Math.ceil(valid / 10));
  });

  it('rejects features whose data does not match the shape', () => {
    expect(() => patchifySpectrogram(features(20, 20, { shape: [20, 21] }))).toThrow(/features\.shape/);
    expect(() => patchifySpectrogram(features(10, 20))).toThrow(/patch\.size/);
  });
});
