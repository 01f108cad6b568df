/**
 * Test clips, generated at test time with the npm-shipped ffmpeg (nothing large is committed).
 *
 * The frame-index pattern: every frame is one flat grey whose luma is `16 + 2·N` (N = frame number),
 * encoded losslessly (x264 `-qp 0`, FFV1) or near-losslessly (MJPEG `-q:v 1`), so the frame a pipeline
 * delivered can be read back from any pixel: {@link frameIndexOfValue}.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { locateFfmpeg } from '@omnitok/tokenizer-audio';

export function makeTempDir(): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'omnitok-video-test-'));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs the npm ffmpeg with `args` writing `out`; returns `out`. */
export function ffmpegSync(args: readonly string[], out: string): string {
  execFileSync(locateFfmpeg(), ['-v', 'error', '-nostdin', '-y', ...args, out], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
  return out;
}

export interface PatternClip {
  readonly size?: string;
  readonly rate?: number;
  readonly seconds?: number;
  readonly codec?: 'x264' | 'ffv1' | 'mjpeg';
  readonly audio?: boolean;
  readonly keyint?: number;
}

const CODECS: Record<NonNullable<PatternClip['codec']>, string[]> = {
  x264: ['-c:v', 'libx264', '-qp', '0', '-pix_fmt', 'yuv420p'],
  ffv1: ['-c:v', 'ffv1'],
  mjpeg: ['-c:v', 'mjpeg', '-q:v', '1'],
};

/** A clip of flat grey frames whose luma encodes the frame number (see the module comment); at most 109 frames. */
export function patternClip(out: string, o: PatternClip = {}): string {
  const { size = '64x48', rate = 25, seconds = 3, codec = 'x264' } = o;
  const args = ['-f', 'lavfi', '-i', `color=c=black:s=${size}:r=${rate}:d=${seconds},format=yuv420p,geq=lum='16+2*N':cb=128:cr=128`];
  if (o.audio) args.push('-f', 'lavfi', '-i', `sine=f=440:d=${seconds}`, '-c:a', codec === 'ffv1' ? 'flac' : 'aac', '-shortest');
  args.push(...CODECS[codec]);
  if (o.keyint) args.push('-g', String(o.keyint));
  return ffmpegSync(args, out);
}

/** The frame number behind an RGB value of the pattern (limited-range luma 16 + 2N → RGB). */
export function frameIndexOfValue(v: number): number {
  return Math.round((v * 219) / 255 / 2) + 0;
}

/** The RGB value (0–255) behind a normalized feature value: `(v/255 − mean) / std`. */
export function rgbOfFeature(x: number, mean: number, std: number): number {
  return Math.round((x * std + mean) * 255) + 0;
}
