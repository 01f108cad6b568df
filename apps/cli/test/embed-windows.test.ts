import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeSafetensors } from '@omnitok/core';
import { locateFfmpeg } from '@omnitok/tokenizer-audio';
import { beforeAll, describe, expect, it } from 'vitest';
import { COLOR_NAMES, omnitok, tempDir, writeMicroConfig } from './train-fixtures.js';

// `omnitok embed --window`: a micro video–text run trained here, then a long clip embedded window by window.

const clip = (path: string, color: string, seconds: number) =>
  execFileSync(locateFfmpeg(), ['-v', 'error', '-nostdin', '-y', '-f', 'lavfi', '-i', `testsrc=s=32x32:r=10:d=${seconds},drawbox=c=${color}:t=fill:x=0:y=0:w=16:h=16`, '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', path]);

let dir: string;

beforeAll(async () => {
  dir = tempDir('embed-windows');
  const cfg = writeMicroConfig(dir);
  // 2 frames per clip, 16×16 frames in 8×8 patches, tubelets 2×8×8: 4 tokens of 384 values
  writeFileSync(join(dir, 'video.json'), JSON.stringify({ name: 'micro-video', sampling: { mode: 'uniform', frames: 2 }, image: JSON.parse(readFileSync(cfg.image, 'utf8')), tubelet: [2, 8, 8] }));
  const lines: string[] = [];
  for (let i = 0; i < 8; i++) {
    const c = COLOR_NAMES[i % 4]!;
    clip(join(dir, `v${i}.mp4`), c, 1);
    lines.push(JSON.stringify({ video: `v${i}.mp4`, text: `a ${c} corner`, label: c }));
  }
  writeFileSync(join(dir, 'data.jsonl'), `${lines.join('\n')}\n`);
  clip(join(dir, 'long.mp4'), 'red', 2);
  const r = await omnitok(
    dir, 'train', '--data', 'data.jsonl', '--pair', 'video:text', '--model', cfg.model, '--preset', 'video=video.json', '--preset', `text=${cfg.text}`,
    '--backend', 'cpu', '--batch-size', '4', '--steps', '2', '--warmup', '0', '--eval-fraction', '0', '--out', 'run-v', '--json',
  );
  expect(r.code, r.stderr).toBe(0);
}, 120_000);

describe('omnitok embed --window', () => {
  it('writes one unit row per window, in time order, with the windows in the metadata; overlapping windows agree', async () => {
    const r = await omnitok(dir, 'embed', '--checkpoint', 'run-v', '--modality', 'video', 'long.mp4', 'v1.mp4', '--window', '0.5', '--out', 'w.safetensors', '--backend', 'cpu', '--json');
    expect(r.code, r.stderr).toBe(0);
    const file = decodeSafetensors(readFileSync(join(dir, 'w.safetensors')));
    const e = file.tensors.video!;
    // long.mp4: 2 s → 4 windows; v1.mp4: 1 s → 2 windows
    expect(e.shape).toEqual([6, 32]);
    const spans = JSON.parse(file.metadata!.windows!) as [number, number, number][];
    expect(spans).toEqual([[0, 0, 0.5], [0, 0.5, 1], [0, 1, 1.5], [0, 1.5, 2], [1, 0, 0.5], [1, 0.5, 1]]);
    const rows = Array.from({ length: 6 }, (_, k) => Array.from(e.data.slice(k * 32, (k + 1) * 32) as Float32Array));
    for (const row of rows) expect(Math.hypot(...row)).toBeCloseTo(1, 5);
    // every 0.25 s: the windows starting on the half seconds are the same windows, so the same rows
    const h = await omnitok(dir, 'embed', '--checkpoint', 'run-v', '--modality', 'video', 'long.mp4', '--window', '0.5', '--hop', '0.25', '--out', 'h.safetensors', '--backend', 'cpu');
    expect(h.code, h.stderr).toBe(0);
    const hf = decodeSafetensors(readFileSync(join(dir, 'h.safetensors')));
    const hs = JSON.parse(hf.metadata!.windows!) as [number, number, number][];
    expect(hs.map((s) => s[1])).toEqual([0, 0.25, 0.5, 0.75, 1, 1.25, 1.5, 1.75]);
    for (let k = 0; k < 4; k++) expect(Array.from(hf.tensors.video!.data.slice(2 * k * 32, (2 * k + 1) * 32) as Float32Array)).toEqual(rows[k]);
  });

  it('refuses --window for a modality that is not video', async () => {
    const r = await omnitok(dir, 'embed', '--checkpoint', 'run-v', '--modality', 'text', 'a red corner', '--window', '1', '--out', 't.npy', '--backend', 'cpu');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--window.*video modality/);
  });
});
