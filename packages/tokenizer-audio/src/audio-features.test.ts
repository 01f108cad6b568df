import { readFileSync } from 'node:fs';
import { BadPresetError } from '@omnitok/core';
import { describe, expect, it } from 'vitest';
import { computeAudioFeatures } from './audio-features.js';
import { decodeWavBytes } from './wav-decode.js';
import { AUDIO_PRESETS, validateAudioPreset, type AudioPreset } from './presets.js';
import { CLIPS, FIXTURES, loadNpy, maxDiffAgainstReference, PRESETS, references } from './__fixtures__/helpers.js';

const refs = references();
const decoded = Object.fromEntries(CLIPS.map((c) => [c, decodeWavBytes(new Uint8Array(readFileSync(`${FIXTURES}${c}.wav`)), `${c}.wav`)]));

describe('features match the NumPy references (make-fixtures.py) within 1e-4', () => {
  for (const clip of CLIPS) {
    for (const preset of PRESETS) {
      it(`${clip} × ${preset}`, () => {
        const ref = refs[clip]!.presets[preset]!;
        const expected = loadNpy(`${clip}.${preset}.npy`);
        expect(decoded[clip]!.samples.length).toBe(refs[clip]!.samples);
        const f = computeAudioFeatures(decoded[clip]!, AUDIO_PRESETS[preset]!, preset);
        expect(f.shape).toEqual(ref.shape);
        expect(f.axes).toEqual(ref.shape.length === 3 ? ['clip', 'mel', 'frame'] : ['mel', 'frame']);
        const diff = maxDiffAgainstReference(f.data, f.shape, expected.data, ref.stored, ref.tail);
        expect(diff).toBeLessThan(1e-4);
      });
    }
  }

  it('whisper features are bounded like Whisper\'s: max − 8 clamp gives a range of at most 2', () => {
    const f = computeAudioFeatures(decoded.speech!, AUDIO_PRESETS['whisper-80']!, 'whisper-80');
    let lo = Infinity, hi = -Infinity;
    for (const v of f.data) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    expect(hi - lo).toBeLessThanOrEqual(2 + 1e-6);
    expect(f.shape).toEqual([80, 3000]);
    expect(f.validFrames).toEqual([Math.ceil(refs.speech!.samples / 160)]); // real audio, before the 30 s padding
  });
});

describe('custom presets', () => {
  const base = AUDIO_PRESETS['whisper-80']!;
  const bad: [string, Partial<Record<keyof AudioPreset, unknown>> & Record<string, unknown>][] = [
    ['sampleRate', { sampleRate: -1 }],
    ['nFft', { nFft: 401 }],
    ['winLength', { winLength: 800 }],
    ['hop', { hop: 0 }],
    ['window', { window: 'triangle' }],
    ['mels', { mels: 0 }],
    ['melScale', { melScale: 'bark' }],
    ['fmin', { fmin: 9000 }],
    ['fmax', { fmax: 12000 }],
    ['log', { log: 'log2' }],
    ['logFloor', { logFloor: 0 }],
    ['std', { std: 0 }],
    ['frames', { frames: 2.5 }],
    ['pad', { pad: 'repeat' }],
    ['clips.seconds', { clips: { count: 3, seconds: -2 } }],
    ['patch.size', { patch: { size: [16], stride: [10, 10] } }],
    ['patch.stride', { patch: { size: [16, 16], stride: [0, 10] } }],
    ['frontend', { frontend: 'cqt' }],
    ['preemphasis', { preemphasis: 0.97 }],
  ];
  for (const [field, change] of bad) {
    it(`BadPresetError names ${field}`, () => {
      const preset = { ...base, ...change };
      let error: unknown;
      try {
        validateAudioPreset(preset, 'mine');
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(BadPresetError);
      expect((error as BadPresetError).field).toBe(field);
      expect((error as BadPresetError).message).toMatch(new RegExp(`"${field.replace('.', '\\.')}"`));
    });
  }

  it('a custom preset (htk mel, 64 bins, 25 ms Hamming in a 512 FFT, 10 s, mask padding) runs', () => {
    const preset: AudioPreset = {
      ...base,
      name: 'mine',
      nFft: 512,
      winLength: 400,
      window: 'hamming',
      mels: 64,
      melScale: 'htk',
      melNorm: 'none',
      fmin: 50,
      fmax: 7600,
      log: 'ln',
      logFloor: 1e-6,
      dynamicRange: null,
      mean: 0,
      std: 1,
      frames: 1000,
      pad: 'mask',
      patch: { size: [16, 16], stride: [16, 16] },
    };
    const f = computeAudioFeatures(decoded.speech!, validateAudioPreset(preset, 'mine'), 'mine');
    expect(f.shape).toEqual([64, 1000]);
    expect(f.validFrames).toEqual([Math.ceil(refs.speech!.samples / 160)]);
    // Mask padding: zeros after the valid frames, finite log values before.
    expect(f.data[10 * 1000 + 999]).toBe(0);
    expect(Number.isFinite(f.data[10 * 1000 + 5]!)).toBe(true);
    expect(f.data[10 * 1000 + 5]).not.toBe(0);
  });

  it('frames: null keeps the true length', () => {
    const preset = validateAudioPreset({ ...AUDIO_PRESETS.ast!, frames: null, pad: 'features' }, 'free');
    const f = computeAudioFeatures(decoded.music!, preset, 'free');
    expect(f.shape).toEqual([128, 1 + Math.floor((16000 - 400) / 160)]);
  });

  it('resamples input at another rate to the preset rate first', () => {
    const d = decoded.speech!;
    const f = computeAudioFeatures({ ...d, sampleRate: 8000 }, AUDIO_PRESETS.ast!, 'ast');
    // 8 kHz input is upsampled ×2, so twice as many frames hold audio.
    const frames = 1 + Math.floor((2 * d.samples.length - 400) / 160);
    expect(f.validFrames).toEqual([frames]);
  });
});
