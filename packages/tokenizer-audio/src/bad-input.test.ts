import { closeSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { DecodeError, UnsupportedFormatError } from '@omnitok/core';
import wavefile from 'wavefile';
import { describe, expect, it } from 'vitest';
import { audioTokenizer } from './audio-tokenizer.js';
import { decodeAudio } from './decode-audio.js';
import { sine } from './__fixtures__/helpers.js';
import { ffmpeg, tempDir, wavBytes, writeTemp } from './__fixtures__/media.js';

const tone = sine(440, 16000, 0.5);
const good = wavBytes('16', 16000, [tone]);
const dir = tempDir();

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('bad input gives typed errors or bounded work, never a hang', () => {
  it('a truncated WAV header is a DecodeError naming the input', async () => {
    for (const cut of [12, 20, 30, 40]) {
      const e = await failure(decodeAudio({ bytes: good.subarray(0, cut), name: 'cut.wav' }));
      expect(e).toBeInstanceOf(DecodeError);
      expect(e.message).toMatch(/cut\.wav/);
    }
  });

  it('a data chunk longer than the file: decodes what is there and says so', async () => {
    const lying = good.slice(0, 44 + 2000);
    new DataView(lying.buffer).setUint32(40, 10 * good.length, true);
    const d = await decodeAudio({ bytes: lying, name: 'liar.wav' });
    expect(d.samples.length).toBe(1000);
    expect(d.warnings.join(' ')).toMatch(/claims \d+ bytes but the file holds 2000/);
    expect(d.samples[500]).toBeCloseTo(tone[500]!, 4);
  });

  it('a partial last frame is dropped with a warning', async () => {
    const odd = good.slice(0, 44 + 2001);
    new DataView(odd.buffer).setUint32(40, 2001, true);
    const d = await decodeAudio(odd);
    expect(d.samples.length).toBe(1000);
    expect(d.warnings.join(' ')).toMatch(/partial frame/);
  });

  it('zero samples is a DecodeError', async () => {
    const empty = wavBytes('16', 16000, [new Float32Array(0)]);
    const e = await failure(decodeAudio({ bytes: empty, name: 'empty.wav' }));
    expect(e).toBeInstanceOf(DecodeError);
    expect(e.message).toMatch(/no audio samples/);
    const past = await failure(decodeAudio(good, { start: 5 }));
    expect(past).toBeInstanceOf(DecodeError);
    expect(past.message).toMatch(/nothing to decode at start 5 s/);
  });

  it('NaN or infinite float samples are rejected with DecodeError naming the sample', async () => {
    const x = sine(440, 16000, 0.1);
    x[37] = NaN;
    const e = await failure(decodeAudio({ bytes: wavBytes('32f', 16000, [x]), name: 'nan.wav' }));
    expect(e).toBeInstanceOf(DecodeError);
    expect(e.message).toMatch(/nan\.wav.*sample 37.*NaN/);
    x[37] = 0;
    x[5] = Infinity;
    await expect(decodeAudio(wavBytes('64', 16000, [x]))).rejects.toThrow(/sample 5.*Infinity/);
  });

  it('bytes no decoder recognizes are an UnsupportedFormatError', async () => {
    const junk = new Uint8Array(4096).map((_, i) => (i * 7919) % 251);
    const e = await failure(decodeAudio({ bytes: junk, name: 'mystery.xyz' }));
    expect(e).toBeInstanceOf(UnsupportedFormatError);
    expect(e.message).toMatch(/mystery\.xyz/);
  });

  it('a WAV with an unknown codec is an UnsupportedFormatError naming the codec', async () => {
    const weird = good.slice();
    new DataView(weird.buffer).setUint16(20, 0x1234, true);
    const e = await failure(decodeAudio({ bytes: weird, name: 'weird.wav' }));
    expect(e).toBeInstanceOf(UnsupportedFormatError);
    expect(e.message).toMatch(/wav codec 0x1234/);
  });

  it('a µ-law WAV (not native) is decoded through ffmpeg', async () => {
    const wav = new wavefile.WaveFile();
    wav.fromScratch(1, 16000, '16', Array.from(tone, (v) => Math.round(v * 32767)));
    wav.toMuLaw();
    const d = await decodeAudio({ bytes: wav.toBuffer(), name: 'mulaw.wav' });
    expect(d.codec).toBe('pcm_mulaw');
    expect(d.samples.length).toBe(tone.length);
    let err = 0;
    for (let i = 0; i < tone.length; i++) err = Math.max(err, Math.abs(d.samples[i]! - tone[i]!));
    expect(err).toBeLessThan(0.02);
  });

  it('a missing file, a directory, and text input are typed errors', async () => {
    await expect(decodeAudio(join(dir, 'nope.wav'))).rejects.toThrow(DecodeError);
    await expect(decodeAudio(join(dir, 'nope.wav'))).rejects.toThrow(/no such file/);
    await expect(decodeAudio(dir)).rejects.toThrow(/is a directory/);
    await expect(decodeAudio({ text: 'hello' })).rejects.toThrow(UnsupportedFormatError);
  });

  it('a file with only a video stream has no audio stream: DecodeError', async () => {
    const path = join(dir, 'silent.mp4');
    ffmpeg('-f', 'lavfi', '-i', 'color=c=black:s=32x32:d=0.2', '-c:v', 'mpeg4', path);
    await expect(decodeAudio(path)).rejects.toThrow(/no audio stream/);
  });

  it('a corrupt .mp3 (random bytes) fails with a typed error', async () => {
    const path = writeTemp(dir, 'corrupt.mp3', new Uint8Array(2048).map((_, i) => (i * 31 + 7) % 256));
    const e = await failure(decodeAudio(path));
    expect(e instanceof DecodeError || e instanceof UnsupportedFormatError).toBe(true);
  });

  it('a WAV header claiming 10 hours (sparse 1.15 GB file) asked for 30 s reads 30 s', async () => {
    const path = join(dir, 'ten-hours.wav');
    const hours = 10 * 3600 * 16000 * 2;
    const header = good.slice(0, 44);
    const view = new DataView(header.buffer);
    view.setUint32(4, 36 + hours, true);
    view.setUint32(40, hours, true);
    const fd = openSync(path, 'w');
    writeSync(fd, header);
    ftruncateSync(fd, 44 + hours); // sparse: costs no disk
    closeSync(fd);
    const t0 = performance.now();
    const d = await audioTokenizer().decode(path); // whisper-80 needs 30 s
    expect(d.samples.length).toBe(480000);
    expect(d.totalDuration).toBe(36000);
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it('a 10-hour MP3 asked for 30 s decodes 30 s and stops ffmpeg (bounded time)', async () => {
    const one = join(dir, 'minute.mp3');
    ffmpeg('-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=8000:duration=60', '-c:a', 'libmp3lame', '-b:a', '8k', '-write_xing', '0', '-id3v2_version', '0', one);
    const minute = readFileSync(one);
    const long = join(dir, 'ten-hours.mp3');
    const fd = openSync(long, 'w');
    for (let i = 0; i < 600; i++) writeSync(fd, minute);
    closeSync(fd);
    const t0 = performance.now();
    const d = await audioTokenizer().decode(long);
    expect(d.samples.length).toBe(480000);
    expect(d.sampleRate).toBe(16000);
    expect(d.totalDuration).toBeGreaterThan(35000);
    expect(performance.now() - t0).toBeLessThan(15000);
  });

  it('ffmpeg that runs past timeoutMs is killed: DecodeError "timed out"', async () => {
    // The whole 10-hour MP3 (no duration) cannot decode in 400 ms.
    const e = await failure(decodeAudio(join(dir, 'ten-hours.mp3'), { timeoutMs: 400 }));
    expect(e).toBeInstanceOf(DecodeError);
    expect(e.message).toMatch(/timed out after 400 ms/);
  });

  it('an abort signal stops a running decode with a DecodeError', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const e = await failure(decodeAudio(join(dir, 'ten-hours.mp3'), { signal: controller.signal }));
    expect(e).toBeInstanceOf(DecodeError);
    expect(e.message).toMatch(/aborted/);
    const already = new AbortController();
    already.abort();
    await expect(decodeAudio(good, { signal: already.signal })).rejects.toThrow(/aborted/);
  });

  it('bad window options are rejected', async () => {
    await expect(decodeAudio(good, { start: -1 })).rejects.toThrow(/start/);
    await expect(decodeAudio(good, { sampleRate: 0 })).rejects.toThrow(/sampleRate/);
  });
});
