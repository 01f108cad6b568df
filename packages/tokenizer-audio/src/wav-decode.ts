import { open } from 'node:fs/promises';
import { DecodeError } from '@omnitok/core';
import wavefile from 'wavefile';
import type { DecodedAudio } from './decoded-audio.js';

/** WAV sample encodings decoded here (everything else goes through ffmpeg). */
export type WavEncoding = 'pcm' | 'float';

/** The parsed header of a WAV (RIFF / RIFX / RF64) file. */
export interface WavHeader {
  readonly container: string;
  /** fmt audioFormat, with WAVE_FORMAT_EXTENSIBLE resolved to its sub-format. */
  readonly formatCode: number;
  readonly encoding: WavEncoding | null;
  readonly channels: number;
  readonly sampleRate: number;
  readonly bitsPerSample: number;
  /** Bytes per sample in the data (the container size: 12-bit audio sits in 16-bit words). */
  readonly bytesPerSample: number;
  readonly dataOffset: number;
  /** What the data chunk header claims. */
  readonly declaredBytes: number;
  readonly bigEndian: boolean;
}

const WAVE_FORMAT_PCM = 1;
const WAVE_FORMAT_IEEE_FLOAT = 3;
const WAVE_FORMAT_EXTENSIBLE = 0xfffe;

/**
 * Parses a WAV header with wavefile (without loading samples). `head` may be only the start of the file,
 * as long as it reaches the data chunk's header. Throws `DecodeError` for anything that is not a
 * usable WAV header.
 */
export function parseWavHeader(head: Uint8Array, label: string): WavHeader {
  const wav = new wavefile.WaveFile();
  try {
    wav.fromBuffer(head, false);
  } catch (error) {
    throw new DecodeError(label, 'audio', `bad WAV header (${(error as Error).message})`, { cause: error });
  }
  const fmt = wav.fmt as { audioFormat: number; numChannels: number; sampleRate: number; bitsPerSample: number; chunkSize: number };
  const bigEndian = wav.container === 'RIFX';
  const chunks = walkChunks(head, bigEndian);
  const fmtChunk = chunks.find((c) => c.id === 'fmt ');
  const dataChunk = chunks.find((c) => c.id === 'data');
  if (!fmtChunk || !dataChunk) throw new DecodeError(label, 'audio', 'truncated WAV header (no fmt or data chunk)');
  let formatCode = fmt.audioFormat;
  if (formatCode === WAVE_FORMAT_EXTENSIBLE) {
    const at = fmtChunk.start + 24; // SubFormat GUID: its first two bytes are the format code
    if (fmtChunk.size < 40 || at + 2 > head.length) throw new DecodeError(label, 'audio', 'truncated WAVE_FORMAT_EXTENSIBLE header');
    formatCode = bigEndian ? (head[at]! << 8) | head[at + 1]! : head[at]! | (head[at + 1]! << 8);
  }
  let declaredBytes = dataChunk.size;
  const ds64 = (wav as unknown as { ds64?: { dataSizeHigh?: number; dataSizeLow?: number } }).ds64;
  if (wav.container === 'RF64' && declaredBytes === 0xffffffff && ds64?.dataSizeLow !== undefined) {
    declaredBytes = (ds64.dataSizeHigh ?? 0) * 2 ** 32 + ds64.dataSizeLow;
  }
  const { numChannels: channels, sampleRate, bitsPerSample } = fmt;
  if (!Number.isInteger(channels) || channels < 1) throw new DecodeError(label, 'audio', `bad WAV header: ${channels} channels`);
  if (!Number.isFinite(sampleRate) || sampleRate < 1) throw new DecodeError(label, 'audio', `bad WAV header: sample rate ${sampleRate}`);
  if (!Number.isInteger(bitsPerSample) || bitsPerSample < 1 || bitsPerSample > 64) {
    throw new DecodeError(label, 'audio', `bad WAV header: ${bitsPerSample} bits per sample`);
  }
  const bytesPerSample = Math.ceil(bitsPerSample / 8);
  let encoding: WavEncoding | null = null;
  if (formatCode === WAVE_FORMAT_PCM && [1, 2, 3, 4].includes(bytesPerSample)) encoding = 'pcm';
  if (formatCode === WAVE_FORMAT_IEEE_FLOAT && (bitsPerSample === 32 || bitsPerSample === 64)) encoding = 'float';
  return {
    container: wav.container,
    formatCode,
    encoding,
    channels,
    sampleRate,
    bitsPerSample,
    bytesPerSample,
    dataOffset: dataChunk.start,
    declaredBytes,
    bigEndian,
  };
}

/** The top-level chunks of a RIFF/RIFX/RF64 file that start inside `bytes` (sizes as declared). */
function walkChunks(bytes: Uint8Array, bigEndian: boolean): { id: string; start: number; size: number }[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: { id: string; start: number; size: number }[] = [];
  let at = 12;
  while (at + 8 <= bytes.length) {
    const id = String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!);
    const size = view.getUint32(at + 4, !bigEndian);
    out.push({ id, start: at + 8, size });
    if (id === 'data') break;
    at += 8 + size + (size % 2);
  }
  return out;
}

export interface WavWindow {
  /** Seconds to skip. */
  readonly start?: number;
  /** Seconds to decode at most. */
  readonly duration?: number;
}

interface Span {
  readonly firstFrame: number;
  readonly frames: number;
  readonly totalFrames: number;
  readonly requestedStart: number;
  readonly warnings: string[];
}

function span(h: WavHeader, fileBytes: number, w: WavWindow): Span {
  const warnings: string[] = [];
  const available = Math.max(0, fileBytes - h.dataOffset);
  let bytes = h.declaredBytes;
  if (h.declaredBytes === 0xffffffff) bytes = available; // streaming / RF64 placeholder: "to the end"
  else if (h.declaredBytes > available) {
    warnings.push(`data chunk claims ${h.declaredBytes} bytes but the file holds ${available}; decoded the ${available} present`);
    bytes = available;
  }
  const frameBytes = h.bytesPerSample * h.channels;
  const totalFrames = Math.floor(bytes / frameBytes);
  if (bytes % frameBytes !== 0) warnings.push(`data ends with a partial frame of ${bytes % frameBytes} bytes; dropped it`);
  const firstFrame = Math.min(totalFrames, Math.max(0, Math.round((w.start ?? 0) * h.sampleRate)));
  const wanted = w.duration === undefined ? Infinity : Math.ceil(w.duration * h.sampleRate);
  return { firstFrame, frames: Math.min(totalFrames - firstFrame, wanted), totalFrames, requestedStart: w.start ?? 0, warnings };
}

/**
 * Converts raw WAV sample bytes (whole frames) to float32 in [−1, 1): integers are divided by
 * 2^(bits−1) of their container (8-bit data is unsigned, centred on 128); floats are kept, and a NaN or
 * infinite sample is rejected with `DecodeError` (it would poison every feature downstream).
 */
export function convertWavSamples(bytes: Uint8Array, h: WavHeader, label: string): Float32Array {
  // wavefile converts through its public API only: a canonical PCM/float header in front of the window.
  const bits = h.bytesPerSample * 8;
  const header = new Uint8Array(44);
  const view = new DataView(header.buffer);
  const le = !h.bigEndian;
  header.set([...(h.bigEndian ? 'RIFX' : 'RIFF')].map((c) => c.charCodeAt(0)), 0);
  view.setUint32(4, 36 + bytes.length, le);
  header.set([...'WAVEfmt '].map((c) => c.charCodeAt(0)), 8);
  view.setUint32(16, 16, le);
  view.setUint16(20, h.encoding === 'float' ? WAVE_FORMAT_IEEE_FLOAT : WAVE_FORMAT_PCM, le);
  view.setUint16(22, h.channels, le);
  view.setUint32(24, h.sampleRate, le);
  view.setUint32(28, h.sampleRate * h.channels * h.bytesPerSample, le);
  view.setUint16(32, h.channels * h.bytesPerSample, le);
  view.setUint16(34, bits, le);
  header.set([...'data'].map((c) => c.charCodeAt(0)), 36);
  view.setUint32(40, bytes.length, le);
  const file = new Uint8Array(44 + bytes.length);
  file.set(header);
  file.set(bytes, 44);
  const wav = new wavefile.WaveFile();
  wav.fromBuffer(file);
  const raw = wav.getSamples(true, Float64Array) as unknown as Float64Array;
  const out = new Float32Array(raw.length);
  if (h.encoding === 'float') {
    for (let i = 0; i < raw.length; i++) {
      const v = raw[i]!;
      if (!Number.isFinite(v)) {
        throw new DecodeError(label, 'audio', `sample ${i} (frame ${Math.floor(i / h.channels)}, channel ${i % h.channels}) is ${v}; float WAV data must be finite`);
      }
      out[i] = v;
    }
  } else if (bits === 8) {
    for (let i = 0; i < raw.length; i++) out[i] = (raw[i]! - 128) / 128;
  } else {
    const scale = 1 / 2 ** (bits - 1);
    for (let i = 0; i < raw.length; i++) out[i] = raw[i]! * scale;
  }
  return out;
}

/** Decodes a WAV held in memory (only the requested window is converted). */
export function decodeWavBytes(bytes: Uint8Array, label: string, w: WavWindow = {}): DecodedAudio {
  const h = parseWavHeader(bytes, label);
  requireNative(h, label);
  const s = span(h, bytes.length, w);
  const frameBytes = h.bytesPerSample * h.channels;
  const from = h.dataOffset + s.firstFrame * frameBytes;
  return finish(h, s, convertWavSamples(bytes.subarray(from, from + s.frames * frameBytes), h, label), label);
}

/**
 * Decodes a WAV file from disk reading only its header and the requested window, so a huge file (or
 * one whose header claims hours) costs what the window costs.
 */
export async function decodeWavFile(path: string, label: string, w: WavWindow = {}): Promise<DecodedAudio> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const headBytes = Math.min(size, 1 << 20);
    const head = new Uint8Array(headBytes);
    await handle.read(head, 0, headBytes, 0);
    const h = parseWavHeader(head, label);
    requireNative(h, label);
    const s = span(h, size, w);
    const frameBytes = h.bytesPerSample * h.channels;
    const body = new Uint8Array(s.frames * frameBytes);
    const { bytesRead } = await handle.read(body, 0, body.length, h.dataOffset + s.firstFrame * frameBytes);
    if (bytesRead !== body.length) throw new DecodeError(label, 'audio', `short read: ${bytesRead} of ${body.length} bytes`);
    return finish(h, s, convertWavSamples(body, h, label), label);
  } finally {
    await handle.close();
  }
}

/** A WAV whose codec is not PCM / IEEE float (µ-law, ADPCM, …); the caller hands it to ffmpeg. */
export class NonNativeWav extends Error {
  constructor(readonly header: WavHeader) {
    super(`WAV format 0x${header.formatCode.toString(16)} with ${header.bitsPerSample}-bit samples is not decoded natively`);
  }
}

function requireNative(h: WavHeader, label: string): void {
  void label;
  if (!h.encoding) throw new NonNativeWav(h);
}

function finish(h: WavHeader, s: Span, samples: Float32Array, label: string): DecodedAudio {
  if (samples.length === 0) {
    throw new DecodeError(label, 'audio', s.totalFrames === 0 ? 'the WAV holds no audio samples' : `nothing to decode at start ${s.requestedStart} s (the audio lasts ${s.totalFrames / h.sampleRate} s)`);
  }
  return {
    samples,
    sampleRate: h.sampleRate,
    channels: h.channels,
    duration: samples.length / h.channels / h.sampleRate,
    start: s.firstFrame / h.sampleRate,
    totalDuration: s.totalFrames / h.sampleRate,
    source: label,
    format: 'wav',
    codec: h.encoding === 'float' ? `f${h.bitsPerSample}` : `pcm${h.bitsPerSample}`,
    warnings: s.warnings,
  };
}
