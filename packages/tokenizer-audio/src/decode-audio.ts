import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DecodeError, normalizeInput, readFileHead, UnsupportedFormatError, type ModalityInput } from '@omnitok/core';
import type { AudioDecodeOptions, DecodedAudio } from './decoded-audio.js';
import { FfmpegFailure, ffmpegDecodeError, probeMedia, readPcm } from './ffmpeg.js';
import { SUPPORTED_AUDIO_FORMATS, sniffAudioFormat } from './file-types.js';
import { resample, toMono } from './resample.js';
import { decodeWavBytes, decodeWavFile, NonNativeWav } from './wav-decode.js';

/**
 * Decodes any audio input to float32 PCM.
 *
 * - WAV (PCM 8/16/24/32-bit, float 32/64, any channels and rate, WAVE_FORMAT_EXTENSIBLE, RIFX, RF64) is
 *   read with wavefile, converting only the requested window; files are read by range, never whole.
 * - Everything else (MP3, FLAC, OGG/Opus/Vorbis, M4A/AAC, the audio track of MP4/WebM/MKV/AVI, µ-law or
 *   ADPCM WAV) goes through ffmpeg, streamed as float32 over a pipe with `-ss`/`-t` for the window;
 *   ffmpeg is killed as soon as enough samples arrived.
 *
 * Errors: `DecodeError` (missing file, truncated/corrupt data, no audio stream, zero samples, NaN floats,
 * ffmpeg timeout), `UnsupportedFormatError` (text input, or bytes no decoder recognizes).
 */
export async function decodeAudio(input: ModalityInput, options: AudioDecodeOptions = {}): Promise<DecodedAudio> {
  const norm = normalizeInput(input);
  if (norm.kind === 'text') throw new UnsupportedFormatError(norm.label, 'text', SUPPORTED_AUDIO_FORMATS);
  const label = norm.label;
  checkWindow(options, label);
  if (options.signal?.aborted) throw new DecodeError(label, 'audio', 'aborted');
  const head = norm.kind === 'bytes' ? norm.bytes!.subarray(0, 64) : await readFileHead(norm.path!, 64, 'audio', label);
  const format = sniffAudioFormat(head, norm.extension);
  let decoded: DecodedAudio | undefined;
  let codec: string | undefined;
  if (format === 'wav') {
    try {
      decoded = norm.kind === 'bytes' ? decodeWavBytes(norm.bytes!, label, options) : await decodeWavFile(norm.path!, label, options);
    } catch (error) {
      if (!(error instanceof NonNativeWav)) throw error;
      // µ-law, A-law, ADPCM, … : ffmpeg decodes them; a codec it does not know is unsupported.
      codec = `wav codec 0x${error.header.formatCode.toString(16).padStart(4, '0')} (${error.header.bitsPerSample}-bit)`;
    }
  }
  decoded ??= await decodeWithFfmpeg(norm.kind === 'bytes' ? { bytes: norm.bytes! } : { path: norm.path! }, label, format, options, codec);
  return conform(decoded, options);
}

function checkWindow(o: AudioDecodeOptions, label: string): void {
  const bad = (what: string, v: unknown): never => {
    throw new DecodeError(label, 'audio', `option ${what} must be ${what === 'sampleRate' ? 'a positive integer' : 'a non-negative number'}, got ${String(v)}`);
  };
  if (o.start !== undefined && !(o.start >= 0 && Number.isFinite(o.start))) bad('start', o.start);
  if (o.duration !== undefined && !(o.duration >= 0)) bad('duration', o.duration);
  if (o.sampleRate !== undefined && !(Number.isInteger(o.sampleRate) && o.sampleRate > 0)) bad('sampleRate', o.sampleRate);
}


/** Applies `mono` / `sampleRate` to natively decoded audio (ffmpeg output already conforms). */
function conform(d: DecodedAudio, o: AudioDecodeOptions): DecodedAudio {
  let { samples, channels } = d;
  if (o.mono && channels > 1) {
    samples = toMono(samples, channels, o.mono === 'first' ? 'first' : 'mix');
    channels = 1;
  }
  if (o.sampleRate && o.sampleRate !== d.sampleRate) {
    if (channels > 1) {
      const frames = samples.length / channels;
      const parts: Float32Array[] = [];
      for (let c = 0; c < channels; c++) {
        const ch = new Float32Array(frames);
        for (let i = 0; i < frames; i++) ch[i] = samples[i * channels + c]!;
        parts.push(resample(ch, d.sampleRate, o.sampleRate));
      }
      const outFrames = parts[0]!.length;
      samples = new Float32Array(outFrames * channels);
      for (let c = 0; c < channels; c++) for (let i = 0; i < outFrames; i++) samples[i * channels + c] = parts[c]![i]!;
    } else samples = resample(samples, d.sampleRate, o.sampleRate);
    return { ...d, samples, channels, sampleRate: o.sampleRate, duration: samples.length / channels / o.sampleRate };
  }
  return samples === d.samples ? d : { ...d, samples, channels };
}

async function decodeWithFfmpeg(
  src: { path: string } | { bytes: Uint8Array },
  label: string,
  format: string | undefined,
  o: AudioDecodeOptions,
  codec?: string,
): Promise<DecodedAudio> {
  let dir: string | undefined;
  try {
    let path: string;
    if ('bytes' in src) {
      // ffmpeg needs a seekable input for MP4/M4A (moov at the end), so bytes go through a temp file.
      dir = await mkdtemp(join(tmpdir(), 'omnitok-audio-'));
      path = join(dir, `input.${format ?? 'bin'}`);
      await writeFile(path, src.bytes);
    } else path = src.path;
    const run = { signal: o.signal, timeoutMs: o.timeoutMs, label };
    let probe;
    try {
      probe = await probeMedia(path, run);
    } catch (error) {
      if (error instanceof FfmpegFailure && error.kind !== 'timeout' && error.kind !== 'aborted' && error.kind !== 'spawn' && (!format || codec)) {
        throw new UnsupportedFormatError(label, codec, SUPPORTED_AUDIO_FORMATS, { cause: error });
      }
      throw ffmpegDecodeError(label, error);
    }
    if (codec && (!probe.audio || probe.audio.codec === 'none' || !probe.audio.sampleRate)) {
      throw new UnsupportedFormatError(label, codec, SUPPORTED_AUDIO_FORMATS);
    }
    if (!probe.audio) throw new DecodeError(label, 'audio', `it has no audio stream (${probe.container}${probe.hasVideo ? ', video only' : ''})`);
    // 'first': ffmpeg decodes every channel and conform() keeps channel 0 (its -ac 1 would mix them)
    const channels = o.mono && o.mono !== 'first' ? 1 : probe.audio.channels || 1;
    const sampleRate = o.sampleRate ?? probe.audio.sampleRate;
    if (!sampleRate) throw new DecodeError(label, 'audio', `ffprobe reports no sample rate for its ${probe.audio.codec} stream`);
    let samples: Float32Array;
    try {
      samples = await readPcm(path, {
        ...run,
        start: o.start,
        duration: o.duration,
        sampleRate,
        channels,
        frameChannels: channels,
      });
    } catch (error) {
      if (codec && error instanceof FfmpegFailure && error.kind !== 'timeout' && error.kind !== 'aborted') {
        throw new UnsupportedFormatError(label, codec, SUPPORTED_AUDIO_FORMATS, { cause: error });
      }
      throw ffmpegDecodeError(label, error);
    }
    if (samples.length === 0) {
      throw new DecodeError(label, 'audio', o.start ? `no audio samples after ${o.start} s` : 'it decodes to zero audio samples');
    }
    return {
      samples,
      sampleRate,
      channels,
      duration: samples.length / channels / sampleRate,
      start: o.start ?? 0,
      totalDuration: probe.audio.duration ?? probe.duration,
      source: label,
      format: format ?? probe.container,
      codec: probe.audio.codec,
      warnings: [],
    };
  } finally {
    if (dir) await rm(dir, { recursive: true, force: true });
  }
}
