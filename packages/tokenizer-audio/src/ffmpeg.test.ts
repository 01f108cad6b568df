import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeAudio } from './decode-audio.js';
import { locateFfmpeg, locateFfprobe, pcmArgs, probeMedia, readPcm, streamPcm } from './ffmpeg.js';
import { decodeWavBytes } from './wav-decode.js';
import { FIXTURES } from './__fixtures__/helpers.js';
import { ffmpeg, tempDir } from './__fixtures__/media.js';

const dir = tempDir();
const wavPath = `${FIXTURES}speech.wav`;
const speech = decodeWavBytes(new Uint8Array(readFileSync(wavPath)), 'speech.wav').samples;

/** Best normalized cross-correlation of `b` against `a` over lags in ±maxLag (codec delay). */
function correlation(a: Float32Array, b: Float32Array, maxLag = 3000): number {
  let best = -1;
  for (let lag = -maxLag; lag <= maxLag; lag += 1) {
    let ab = 0, aa = 0, bb = 0;
    for (let i = 4000; i < a.length - 4000; i += 3) {
      const j = i + lag;
      if (j < 0 || j >= b.length) continue;
      ab += a[i]! * b[j]!;
      aa += a[i]! * a[i]!;
      bb += b[j]! * b[j]!;
    }
    const r = ab / Math.sqrt(aa * bb || 1);
    if (r > best) best = r;
  }
  return best;
}

describe('ffmpeg binaries', () => {
  it('default to the npm static binaries; OMNITOK_FFMPEG / OMNITOK_FFPROBE override', () => {
    expect(locateFfmpeg()).toMatch(/@ffmpeg-installer[/\\]linux-x64[/\\]ffmpeg$/);
    expect(locateFfprobe()).toMatch(/@ffprobe-installer[/\\]linux-x64[/\\]ffprobe$/);
    process.env.OMNITOK_FFMPEG = '/opt/x/ffmpeg';
    process.env.OMNITOK_FFPROBE = '/opt/x/ffprobe';
    try {
      expect(locateFfmpeg()).toBe('/opt/x/ffmpeg');
      expect(locateFfprobe()).toBe('/opt/x/ffprobe');
    } finally {
      delete process.env.OMNITOK_FFMPEG;
      delete process.env.OMNITOK_FFPROBE;
    }
  });

  it('builds a float32 pipe command with -ss / -t / -ac / -ar', () => {
    const args = pcmArgs('in.mp3', { start: 12.5, duration: 30, channels: 1, sampleRate: 16000 });
    expect(args.join(' ')).toMatch(/-ss 12\.5 -i in\.mp3 -t 30 -map 0:a:0 .*-f f32le -acodec pcm_f32le -ac 1 -ar 16000 pipe:1$/);
  });
});

describe('decoding compressed formats through the npm ffmpeg', () => {
  const formats: [string, string[], number][] = [
    ['flac', ['-c:a', 'flac'], 0.9999],
    ['mp3', ['-c:a', 'libmp3lame', '-b:a', '64k'], 0.95],
    ['ogg', ['-c:a', 'libopus', '-b:a', '48k'], 0.95],
    ['m4a', ['-c:a', 'aac', '-b:a', '64k'], 0.95],
  ];
  for (const [ext, codec, minCorrelation] of formats) {
    it(`${ext}: mono 16 kHz PCM that matches the source WAV`, async () => {
      const path = join(dir, `speech.${ext}`);
      ffmpeg('-i', wavPath, ...codec, path);
      const d = await decodeAudio(path, { mono: true, sampleRate: 16000 });
      expect(d.format).toBe(ext);
      expect([d.channels, d.sampleRate]).toEqual([1, 16000]);
      expect(Math.abs(d.samples.length - speech.length)).toBeLessThan(2000);
      expect(correlation(speech, d.samples)).toBeGreaterThan(minCorrelation);
      // Bytes input goes through a temp file (M4A needs a seekable input).
      const fromBytes = await decodeAudio({ bytes: new Uint8Array(readFileSync(path)), name: `x.${ext}` }, { mono: true, sampleRate: 16000 });
      expect(fromBytes.samples.length).toBe(d.samples.length);
    });
  }

  it('FLAC is lossless: exact samples, and -ss/-t windows are sample-accurate', async () => {
    const path = join(dir, 'exact.flac');
    ffmpeg('-i', wavPath, '-c:a', 'flac', path);
    const all = await decodeAudio(path);
    expect(all.samples.length).toBe(speech.length);
    for (let i = 0; i < speech.length; i += 101) expect(all.samples[i]).toBe(speech[i]);
    const w = await decodeAudio(path, { start: 0.5, duration: 0.25 });
    expect(w.samples.length).toBe(4000);
    for (let i = 0; i < 4000; i += 37) expect(w.samples[i]).toBe(speech[8000 + i]);
    expect(w.totalDuration).toBeCloseTo(speech.length / 16000, 2);
  });

  it('keeps channels when not asked to down-mix (stereo 44.1 kHz MP3)', async () => {
    const path = join(dir, 'stereo.mp3');
    ffmpeg('-f', 'lavfi', '-i', 'sine=f=440:r=44100:d=0.5', '-f', 'lavfi', '-i', 'sine=f=880:r=44100:d=0.5', '-filter_complex', '[0:a][1:a]join=inputs=2:channel_layout=stereo', '-c:a', 'libmp3lame', path);
    const d = await decodeAudio(path);
    expect([d.channels, d.sampleRate]).toEqual([2, 44100]);
    expect(d.samples.length % 2).toBe(0);
  });

  it("mono: 'first' keeps channel 0 of a compressed stereo file; true mixes them (ffmpeg -ac 1)", async () => {
    const path = join(dir, 'stereo.mp3');
    const both = await decodeAudio(path);
    const first = await decodeAudio(path, { mono: 'first' });
    const mix = await decodeAudio(path, { mono: true });
    expect([first.channels, mix.channels]).toEqual([1, 1]);
    expect(first.samples.length).toBe(both.samples.length / 2);
    for (let i = 0; i < first.samples.length; i += 97) expect(first.samples[i]).toBe(both.samples[2 * i]);
    // 440 Hz left, 880 Hz right: the mix differs from the left channel
    let diff = 0;
    for (let i = 0; i < Math.min(first.samples.length, mix.samples.length); i++) diff = Math.max(diff, Math.abs(first.samples[i]! - mix.samples[i]!));
    expect(diff).toBeGreaterThan(0.1);
  });

  it('reads the audio track of a video file (MP4: mpeg4 video + AAC audio)', async () => {
    const path = join(dir, 'clip.mp4');
    ffmpeg('-f', 'lavfi', '-i', 'testsrc=s=32x32:d=1:r=10', '-i', wavPath, '-t', '1', '-c:v', 'mpeg4', '-c:a', 'aac', '-shortest', path);
    const probe = await probeMedia(path);
    expect(probe.hasVideo).toBe(true);
    const d = await decodeAudio(path, { mono: true, sampleRate: 16000 });
    expect(d.format).toBe('mp4');
    expect(d.duration).toBeGreaterThan(0.9);
  });

  it('streamPcm yields whole frames and stops ffmpeg once maxFrames arrived', async () => {
    const path = join(dir, 'exact.flac');
    let frames = 0;
    let chunks = 0;
    for await (const part of streamPcm(path, { sampleRate: 16000, channels: 1, frameChannels: 1, maxFrames: 10000 })) {
      frames += part.length;
      chunks++;
    }
    expect(frames).toBe(10000);
    expect(chunks).toBeGreaterThan(0);
    const stereo = await readPcm(path, { sampleRate: 8000, channels: 2, frameChannels: 2, duration: 0.5 });
    expect(stereo.length).toBe(8000);
  });
});
