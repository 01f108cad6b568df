import { describe, expect, it } from 'vitest';
import { decodeAudio } from './decode-audio.js';
import { decodeWavBytes, parseWavHeader } from './wav-decode.js';
import { sine } from './__fixtures__/helpers.js';
import { tempDir, wavBytes, writeTemp } from './__fixtures__/media.js';

const left = sine(440, 22050, 0.2, 0.6);
const right = sine(1000, 22050, 0.2, -0.3);

function maxErr(samples: Float32Array, channels: Float32Array[]): number {
  let max = 0;
  for (let i = 0; i < channels[0]!.length; i++) {
    for (let c = 0; c < channels.length; c++) max = Math.max(max, Math.abs(samples[i * channels.length + c]! - channels[c]![i]!));
  }
  return max;
}

describe('WAV decoding (wavefile) — every sample format, channel-interleaved float32', () => {
  const cases = [
    ['8', 1 / 64],
    ['16', 1 / 16384],
    ['24', 1e-6],
    ['32', 1e-7],
    ['32f', 1e-7],
    ['64', 1e-7],
  ] as const;
  for (const [depth, tolerance] of cases) {
    for (const chans of [[left], [left, right]]) {
      it(`${depth}-bit, ${chans.length} channel(s), 22.05 kHz`, () => {
        const d = decodeWavBytes(wavBytes(depth, 22050, chans), 'x.wav');
        expect(d.channels).toBe(chans.length);
        expect(d.sampleRate).toBe(22050);
        expect(d.samples.length).toBe(left.length * chans.length);
        expect(d.duration).toBeCloseTo(0.2, 6);
        expect(d.warnings).toEqual([]);
        expect(maxErr(d.samples, chans)).toBeLessThan(tolerance);
      });
    }
  }

  it('RIFX (big-endian) 16-bit', () => {
    const d = decodeWavBytes(wavBytes('16', 22050, [left], { container: 'RIFX' }), 'x.wav');
    expect(maxErr(d.samples, [left])).toBeLessThan(1 / 16384);
  });

  it('WAVE_FORMAT_EXTENSIBLE: 4-channel 24-bit PCM and 4-channel float (sub-format GUID)', () => {
    const chans = [left, right, left, right];
    const pcm = wavBytes('24', 22050, chans);
    new DataView(pcm.buffer, pcm.byteOffset).setUint16(20, 0xfffe, true);
    const h = parseWavHeader(pcm, 'x.wav');
    expect(h.formatCode).toBe(1);
    expect(maxErr(decodeWavBytes(pcm, 'x.wav').samples, chans)).toBeLessThan(1e-6);

    const float = wavBytes('32f', 22050, chans);
    const view = new DataView(float.buffer, float.byteOffset);
    expect(view.getUint32(16, true)).toBe(40); // wavefile writes the 40-byte extensible fmt for > 2 channels
    view.setUint16(20, 0xfffe, true);
    view.setUint16(44, 3, true); // SubFormat = KSDATAFORMAT_SUBTYPE_IEEE_FLOAT
    const d = decodeWavBytes(float, 'x.wav');
    expect(d.codec).toBe('f32');
    expect(maxErr(d.samples, chans)).toBeLessThan(1e-7);
  });

  it('any rate: 8 kHz mono and 96 kHz stereo', () => {
    expect(decodeWavBytes(wavBytes('16', 8000, [sine(100, 8000, 0.1)]), 'x.wav').sampleRate).toBe(8000);
    const d = decodeWavBytes(wavBytes('16', 96000, [sine(100, 96000, 0.1), sine(200, 96000, 0.1)]), 'x.wav');
    expect([d.sampleRate, d.channels, d.samples.length]).toEqual([96000, 2, 19200]);
  });

  it('decodes only the requested window, from bytes and from a file read by range', async () => {
    const bytes = wavBytes('16', 22050, [left, right]);
    const w = decodeWavBytes(bytes, 'x.wav', { start: 0.05, duration: 0.1 });
    expect(w.samples.length).toBe(Math.ceil(0.1 * 22050) * 2);
    expect(w.start).toBeCloseTo(0.05, 4);
    const first = Math.round(0.05 * 22050);
    expect(w.samples[0]).toBeCloseTo(left[first]!, 4);
    expect(w.samples[1]).toBeCloseTo(right[first]!, 4);
    const path = writeTemp(tempDir(), 'x.wav', bytes);
    const f = await decodeAudio(path, { start: 0.05, duration: 0.1 });
    expect(Array.from(f.samples)).toEqual(Array.from(w.samples));
    expect(f.totalDuration).toBeCloseTo(0.2, 4);
  });

  it('mono + sampleRate options down-mix and resample (built-in resampler)', async () => {
    const d = await decodeAudio(wavBytes('16', 22050, [left, left]), { mono: true, sampleRate: 16000 });
    expect([d.channels, d.sampleRate]).toEqual([1, 16000]);
    expect(d.samples.length).toBe(Math.ceil((left.length * 16000) / 22050));
    // Still a 440 Hz tone of amplitude ≈ 0.6.
    let peak = 0;
    for (let i = 400; i < d.samples.length - 400; i++) peak = Math.max(peak, Math.abs(d.samples[i]!));
    expect(peak).toBeCloseTo(0.6, 2);
  });
});
