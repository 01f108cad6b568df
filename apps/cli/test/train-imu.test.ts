import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeSafetensors } from '@omnitok/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { omnitok, tempDir, writeMicroConfig, writePng } from './train-fixtures.js';

// Issue 10: IMU ↔ text alignment from the CLI, on synthetic activity windows the test generates.

const ACTIVITIES = [
  { name: 'walking', hz: 2, amp: 2, captions: ['a person walking', 'someone walks down the street', 'walking at a steady pace'] },
  { name: 'running', hz: 3.5, amp: 6, captions: ['a person running', 'someone jogs fast', 'running quickly'] },
  { name: 'sitting', hz: 0, amp: 0, captions: ['a person sitting still', 'someone sits on a chair', 'resting, not moving'] },
];

/** 256 samples at 50 Hz of accelerometer + gyroscope for one activity (seeded noise and phase). */
function imuCsv(activity: number, seed: number): string {
  const a = ACTIVITIES[activity]!;
  let s = seed * 7919 + 17;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) - 0.5;
  const phase = rnd() * 6;
  const rows = ['time,ax,ay,az,gx,gy,gz'];
  for (let i = 0; i < 256; i++) {
    const t = i / 50;
    const w = Math.sin(2 * Math.PI * a.hz * t + phase);
    const v = [0.3 * a.amp * w + 0.2 * rnd(), 0.1 * a.amp * Math.cos(2 * Math.PI * a.hz * t) + 0.2 * rnd(), 9.81 + a.amp * w + 0.2 * rnd(), 0.5 * a.amp * w + 0.05 * rnd(), 0.05 * rnd(), 0.2 * a.amp * Math.cos(4 * Math.PI * a.hz * t) + 0.05 * rnd()];
    rows.push([t.toFixed(3), ...v.map((x) => x.toFixed(4))].join(','));
  }
  return `${rows.join('\n')}\n`;
}

let dir: string;
let cfg: ReturnType<typeof writeMicroConfig>;
beforeAll(async () => {
  dir = tempDir('imu');
  cfg = writeMicroConfig(dir);
  const lines: string[] = [];
  for (let i = 0; i < 36; i++) {
    const c = i % 3;
    writeFileSync(join(dir, `w${i}.csv`), imuCsv(c, i));
    if (i < 12) await writePng(join(dir, `p${i}.png`), c, i);
    lines.push(JSON.stringify({ imu: `w${i}.csv`, text: ACTIVITIES[c]!.captions[Math.floor(i / 3) % 3], label: ACTIVITIES[c]!.name, ...(i < 12 ? { image: `p${i}.png` } : {}) }));
  }
  writeFileSync(join(dir, 'imu.jsonl'), `${lines.join('\n')}\n`);
});

const STEPS = 60;

describe('omnitok train --pair imu:text', () => {
  it('aligns IMU windows with captions: the loss falls and zero-shot accuracy is far above chance', async () => {
    const out = join(dir, 'run-imu');
    const r = await omnitok(dir, 'train', '--data', 'imu.jsonl', '--pair', 'imu:text', '--model', cfg.model, '--preset', `text=${cfg.text}`, '--backend', 'cpu', '--batch-size', '12', '--steps', String(STEPS), '--lr', '0.003', '--warmup', '2', '--eval-fraction', '0', '--json', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    const losses = readFileSync(join(out, 'metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { type: string; loss: number }).filter((m) => m.type === 'step').map((m) => m.loss);
    expect(losses).toHaveLength(STEPS);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(losses.slice(-4))).toBeLessThan(mean(losses.slice(0, 4)) - 0.2);
    const config = JSON.parse(readFileSync(join(out, `step-${String(STEPS).padStart(8, '0')}`, 'config.json'), 'utf8')) as { presets: Record<string, unknown>; model: { towers: Record<string, { tokens: { kind: string; count: number } }> } };
    expect(config.presets.imu).toBe('imu-small');
    expect(config.model.towers.imu!.tokens).toMatchObject({ kind: 'continuous', count: 16 });
    writeFileSync(join(dir, 'templates.txt'), 'a person {}\nsomeone {}\n');
    const zs = await omnitok(dir, 'eval', '--checkpoint', out, '--data', 'imu.jsonl', '--split', 'all', '--task', 'zero-shot', '--templates', 'templates.txt', '--backend', 'cpu', '--json');
    expect(zs.code, zs.stderr).toBe(0);
    const z = (JSON.parse(zs.stdout) as { zeroShot: { modality: string; classes: number; n: number; top1: number; chanceTop1: number } }).zeroShot;
    expect([z.modality, z.classes, z.n]).toEqual(['imu', 3, 36]);
    // measured 0.75 after 60 seeded steps on the cpu backend; chance is 1/3
    expect(z.chanceTop1).toBeCloseTo(1 / 3, 6);
    expect(z.top1).toBeGreaterThanOrEqual(0.6);
  }, 120_000); // 60 training steps, then an eval: 24 s on a 2-core VM, past vitest's 30 s on a slower one (as the other train tests)

  it('N-way binding: --pair text:imu --pair text:image trains one model with a logit scale per pair', async () => {
    writeFileSync(join(dir, 'three.jsonl'), readFileSync(join(dir, 'imu.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"image"')).join('\n'));
    const out = join(dir, 'run-bind');
    const r = await omnitok(dir, 'train', '--data', 'three.jsonl', '--pair', 'text:imu', '--pair', 'text:image', '--model', cfg.model, '--preset', `text=${cfg.text}`, '--preset', `image=${cfg.image}`, '--backend', 'cpu', '--batch-size', '6', '--steps', '2', '--eval-fraction', '0', '--json', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    const weights = decodeSafetensors(readFileSync(join(out, 'step-00000002', 'model.safetensors')));
    const names = Object.keys(weights.tensors);
    expect(names).toContain('pairs.text__imu.logit_scale');
    expect(names).toContain('pairs.text__image.logit_scale');
    expect(names.some((n) => n.startsWith('towers.imu.'))).toBe(true);
    expect(names.some((n) => n.startsWith('towers.image.'))).toBe(true);
  });
});
