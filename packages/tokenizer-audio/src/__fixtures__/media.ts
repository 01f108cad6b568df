import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import wavefile from 'wavefile';
import { locateFfmpeg } from '../ffmpeg.js';

/** A temp folder for generated media. */
export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'omnitok-audio-test-'));
}

/** Runs the same (npm) ffmpeg the decoder uses, quietly. */
export function ffmpeg(...args: string[]): void {
  execFileSync(locateFfmpeg(), ['-nostdin', '-hide_banner', '-loglevel', 'error', '-y', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Writes a WAV with wavefile. `channels` are float signals in [−1, 1], converted to the bit depth. */
export function wavBytes(bitDepth: '8' | '16' | '24' | '32' | '32f' | '64', rate: number, channels: Float32Array[], options: { container?: string } = {}): Uint8Array {
  const scale: Record<string, (v: number) => number> = {
    '8': (v) => Math.max(0, Math.min(255, Math.round(v * 128 + 128))),
    '16': (v) => Math.max(-32768, Math.min(32767, Math.round(v * 32768))),
    '24': (v) => Math.max(-8388608, Math.min(8388607, Math.round(v * 8388608))),
    '32': (v) => Math.max(-2147483648, Math.min(2147483647, Math.round(v * 2147483648))),
    '32f': (v) => v,
    '64': (v) => v,
  };
  const data = channels.map((c) => Array.from(c, scale[bitDepth]!));
  const wav = new wavefile.WaveFile();
  wav.fromScratch(channels.length, rate, bitDepth, channels.length === 1 ? data[0]! : data, options);
  return wav.toBuffer();
}

export function writeTemp(dir: string, name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}
