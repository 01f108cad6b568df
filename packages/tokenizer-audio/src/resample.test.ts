import { describe, expect, it } from 'vitest';
import { downmix, resample } from './resample.js';
import { sine, toneAmplitude } from './__fixtures__/helpers.js';

const dB = (ratio: number): number => 20 * Math.log10(ratio);

/** Amplitude of a tone in the middle of the output, away from the filter's edge transients. */
function measure(out: Float32Array, freq: number, rate: number): number {
  const from = Math.round(0.1 * rate);
  const periods = Math.floor(((out.length - 2 * from) * freq) / rate);
  const to = from + Math.round((periods * rate) / freq);
  return toneAmplitude(out, freq, rate, from, to);
}

describe('resample (Kaiser-windowed sinc, polyphase)', () => {
  it('44.1 kHz → 16 kHz: a 1 kHz sine keeps its amplitude within 0.1 dB', () => {
    const out = resample(sine(1000, 44100, 1), 44100, 16000);
    expect(out.length).toBe(16000);
    const err = Math.abs(dB(measure(out, 1000, 16000) / 0.5));
    expect(err).toBeLessThan(0.1);
    expect(err).toBeLessThan(0.001); // measured: ~1e-5 dB
  });

  it('44.1 kHz → 16 kHz: a 10 kHz sine (above the new Nyquist) is attenuated by ≥ 60 dB', () => {
    const out = resample(sine(10000, 44100, 1), 44100, 16000);
    // It would alias to 16 − 10 = 6 kHz; check the alias and the total energy.
    expect(dB(measure(out, 6000, 16000) / 0.5)).toBeLessThan(-60);
    let energy = 0;
    for (let i = 1600; i < out.length - 1600; i++) energy += out[i]! ** 2;
    const rms = Math.sqrt(energy / (out.length - 3200));
    expect(dB(rms / (0.5 / Math.SQRT2))).toBeLessThan(-60);
  });

  it('attenuates everything just above the new Nyquist (8.4 kHz) by ≥ 60 dB, and keeps 6 kHz within 0.1 dB', () => {
    const hi = resample(sine(8400, 44100, 1), 44100, 16000);
    expect(dB(measure(hi, 16000 - 8400, 16000) / 0.5)).toBeLessThan(-60);
    const lo = resample(sine(6000, 44100, 1), 44100, 16000);
    expect(Math.abs(dB(measure(lo, 6000, 16000) / 0.5))).toBeLessThan(0.1);
  });

  it('48 kHz → 16 kHz and 8 kHz → 16 kHz keep a 1 kHz sine', () => {
    for (const from of [48000, 8000, 22050]) {
      const out = resample(sine(1000, from, 1), from, 16000);
      expect(out.length).toBe(16000);
      expect(Math.abs(dB(measure(out, 1000, 16000) / 0.5))).toBeLessThan(0.1);
    }
  });

  it('an awkward ratio (44100 → 16001, interpolated phases) still keeps a 1 kHz sine within 0.1 dB', () => {
    const out = resample(sine(1000, 44100, 1), 44100, 16001);
    expect(out.length).toBe(16001);
    expect(Math.abs(dB(measure(out, 1000, 16001) / 0.5))).toBeLessThan(0.1);
  });

  it('is the identity (a copy) at equal rates', () => {
    const x = sine(440, 16000, 0.1);
    const y = resample(x, 16000, 16000);
    expect(y).toEqual(x);
    expect(y).not.toBe(x);
  });

  it('keeps DC at unit gain (each phase filter sums to 1)', () => {
    const out = resample(new Float32Array(44100).fill(0.25), 44100, 16000);
    for (let i = 500; i < 15500; i += 997) expect(out[i]).toBeCloseTo(0.25, 6);
  });
});

describe('downmix', () => {
  it('averages interleaved channels', () => {
    expect(Array.from(downmix(new Float32Array([1, 0, 0.5, 0.5, -1, 1]), 2))).toEqual([0.5, 0.5, 0]);
    const mono = new Float32Array([1, 2]);
    expect(downmix(mono, 1)).toBe(mono);
  });
});
