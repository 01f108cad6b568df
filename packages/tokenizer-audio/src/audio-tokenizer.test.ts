import { readFileSync } from 'node:fs';
import { BadPresetError, createModalityRegistry, matchesMagic, type AnyModalityPlugin } from '@omnitok/core';
import { describe, expect, it } from 'vitest';
import { audioTokenizer } from './audio-tokenizer.js';
import { AUDIO_PRESETS } from './presets.js';
import * as api from './index.js';
import { FIXTURES, loadNpy, maxDiffAgainstReference, references } from './__fixtures__/helpers.js';
import { wavBytes } from './__fixtures__/media.js';
import { sine } from './__fixtures__/helpers.js';

describe('audioTokenizer plugin', () => {
  const plugin = audioTokenizer();

  it('is a spec-v1 continuous audio plugin with whisper-80 as default', () => {
    const any: AnyModalityPlugin = plugin; // satisfies the core contract
    expect(any.specVersion).toBe(1);
    expect(plugin.specVersion).toBe(1);
    expect([plugin.name, plugin.modality, plugin.tokenKind, plugin.defaultPreset]).toEqual(['audio', 'audio', 'continuous', 'whisper-80']);
    expect(Object.keys(plugin.presets)).toEqual(expect.arrayContaining(['whisper-80', 'whisper-128', 'ast', 'imagebind']));
    expect(JSON.parse(JSON.stringify(plugin.presets))).toEqual(plugin.presets); // plain JSON
  });

  it('declares wav / mp3 / flac / ogg / m4a by extension and magic bytes', () => {
    const byFormat = Object.fromEntries(plugin.fileTypes.map((t) => [t.format, t]));
    const head = (s: string, at = 0) => {
      const b = new Uint8Array(16);
      b.set(Array.from(s, (c) => c.charCodeAt(0)), at);
      return b;
    };
    const cases: [string, Uint8Array][] = [
      ['wav', head('RIFF\x24\x00\x00\x00WAVE')],
      ['mp3', head('ID3')],
      ['mp3', new Uint8Array([0xff, 0xfb, 0x90, 0x64])],
      ['flac', head('fLaC')],
      ['ogg', head('OggS')],
      ['m4a', head('ftypM4A ', 4)],
    ];
    for (const [format, bytes] of cases) expect(byFormat[format]!.magic!.some((m) => matchesMagic(bytes, m))).toBe(true);
    expect(byFormat.ogg!.extensions).toContain('opus');
    const registry = createModalityRegistry([plugin]);
    expect(registry.byExtension('song.flac')?.plugin.name).toBe('audio');
    expect(registry.byMagic(head('RIFF\x24\x00\x00\x00WAVE'))?.plugin.name).toBe('audio');
  });

  it('decode → preprocess → tokenize on the speech fixture reproduces the reference whisper-80 features', async () => {
    const ref = references().speech!.presets['whisper-80']!;
    const decoded = await plugin.decode(`${FIXTURES}speech.wav`);
    expect([decoded.sampleRate, decoded.channels]).toEqual([16000, 1]);
    const features = plugin.preprocess(decoded);
    expect(features.axes).toEqual(['mel', 'frame']);
    expect(maxDiffAgainstReference(features.data, features.shape, loadNpy('speech.whisper-80.npy').data, ref.stored, ref.tail)).toBeLessThan(1e-4);
    const tokens = plugin.tokenize(features);
    expect(tokens.kind).toBe('continuous');
    expect(tokens.shape).toEqual([1500, 160]);
    expect(tokens.source).toMatch(/speech\.wav$/);
    expect(tokens.preset).toBe('whisper-80');
  });

  it('decode({ preset }) reads only what the preset needs, at its rate, in mono', async () => {
    const stereo44 = wavBytes('16', 44100, [sine(300, 44100, 12), sine(500, 44100, 12)]);
    const ast = await plugin.decode(stereo44, { preset: 'ast' });
    expect([ast.channels, ast.sampleRate]).toEqual([1, 16000]);
    expect(ast.duration).toBeCloseTo(10.24 + 0.015, 2); // 1023 hops + one 25 ms window
    const full = await plugin.decode(stereo44, { preset: 'ast', duration: 12 });
    expect(full.duration).toBeCloseTo(12, 3);
    const features = plugin.preprocess(ast, 'ast');
    expect(features.shape).toEqual([128, 1024]);
    expect(plugin.tokenize(features).shape).toEqual([1212, 256]);
  });

  it('stereo: AST and ImageBind keep channel 0 (kaldi.fbank of the [C, T] waveform), Whisper averages the channels', async () => {
    const left = sine(300, 16000, 3);
    const right = sine(700, 16000, 3).map((v) => 0.5 * v);
    const stereo = wavBytes('32f', 16000, [left, right]);
    const leftOnly = wavBytes('32f', 16000, [left]);
    const mixed = wavBytes('32f', 16000, [Float32Array.from(left, (v, i) => (v + right[i]!) / 2)]);
    for (const preset of ['ast', 'imagebind', 'whisper-80']) {
      const got = plugin.preprocess(await plugin.decode(stereo, { preset }), preset);
      const want = plugin.preprocess(await plugin.decode(preset === 'whisper-80' ? mixed : leftOnly, { preset }), preset);
      expect(Array.from(got.data), preset).toEqual(Array.from(want.data));
      // and a decode that kept both channels reaches the same features through preprocess
      const both = await plugin.decode(stereo, { preset, mono: false });
      expect(both.channels).toBe(2);
      expect(Array.from(plugin.preprocess(both, preset).data), `${preset}, two channels`).toEqual(Array.from(want.data));
    }
    expect(AUDIO_PRESETS.ast!.channels).toBe('first');
    expect(AUDIO_PRESETS['whisper-80']!.channels).toBeUndefined();
    const mono = await plugin.decode(leftOnly);
    expect(() => plugin.preprocess(mono, { ...AUDIO_PRESETS.ast!, channels: 'left' as never })).toThrow(BadPresetError);
  });

  it('a factory preset, extra named presets, and unknown names', () => {
    const custom = audioTokenizer({ preset: 'ast', presets: { tiny: { ...plugin.presets.ast!, name: 'tiny', mels: 32, frames: 64, patch: { size: [8, 8], stride: [8, 8] } } } });
    expect(custom.defaultPreset).toBe('ast');
    expect(custom.presets.tiny!.mels).toBe(32);
    expect(() => custom.preprocess({ samples: new Float32Array(16000), sampleRate: 16000, channels: 1, duration: 1, start: 0, source: 'x', format: 'wav', codec: 'pcm16', warnings: [] }, 'nope')).toThrow(BadPresetError);
    expect(() => audioTokenizer({ presets: { broken: { ...plugin.presets.ast!, hop: -3 } } })).toThrow(/field "hop"/);
    const f = custom.preprocess({ samples: sine(440, 16000, 1), sampleRate: 16000, channels: 1, duration: 1, start: 0, source: 'x', format: 'wav', codec: 'pcm16', warnings: [] }, 'tiny');
    expect(f.shape).toEqual([32, 64]);
    expect(f.preset).toBe('tiny');
  });

  it('exports the pure stages and the ffmpeg helpers, and registers nothing on import', () => {
    for (const name of ['audioTokenizer', 'decodeAudio', 'computeAudioFeatures', 'patchifySpectrogram', 'resample', 'locateFfmpeg', 'locateFfprobe', 'streamPcm', 'readPcm', 'probeMedia']) {
      expect(typeof (api as Record<string, unknown>)[name]).toBe('function');
    }
    expect(readFileSync(new URL('./index.ts', import.meta.url), 'utf8')).not.toMatch(/register\(/);
  });
});
