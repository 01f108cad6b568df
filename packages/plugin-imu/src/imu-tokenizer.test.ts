import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BadPresetError, DecodeError } from '@omnitok/core';
import { describeModalityPlugin } from '@omnitok/core/testing';
import { describe, expect, it } from 'vitest';
import { decodeImu } from './decode-imu.js';
import { imuTokenizer } from './imu-tokenizer.js';
import { preprocessImu } from './preprocess-imu.js';

const walk = fileURLToPath(new URL('./__fixtures__/walk-100hz.csv', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'omnitok-imu-'));
const write = (name: string, text: string) => {
  const path = join(tmp, name);
  writeFileSync(path, text);
  return path;
};

describeModalityPlugin(imuTokenizer(), { inputs: [walk], augment: true, seed: 7 });

describe('decodeImu', () => {
  it('reads CSV with a header and derives the rate from the time column', async () => {
    const d = await decodeImu(walk);
    expect(d.channels).toEqual(['ax', 'ay', 'az', 'gx', 'gy', 'gz']);
    expect(d.samples).toBe(300);
    expect(d.rate).toBeCloseTo(100, 6);
    expect(d.data[2 * 300]).toBeGreaterThan(9); // az row starts near gravity
  });

  it('reads JSON rows with a rate and channel names, and TSV', async () => {
    const json = await decodeImu(write('a.json', JSON.stringify({ rate: 50, channels: ['gx', 'ax'], samples: [[1, 2], [3, 4], [5, 6]] })));
    expect(json).toMatchObject({ channels: ['gx', 'ax'], samples: 3, rate: 50 });
    expect(Array.from(json.data)).toEqual([1, 3, 5, 2, 4, 6]); // channel-major
    const tsv = await decodeImu(write('a.tsv', 'a\tb\n1\t2\n3\t4\n'));
    expect(tsv).toMatchObject({ channels: ['a', 'b'], samples: 2, rate: undefined });
  });

  const bad: [string, string, RegExp][] = [
    ['empty.csv', '', /empty/],
    ['noheader.csv', '1,2,3\n4,5,6\n', /header/],
    ['ragged.csv', 'a,b\n1,2\n3\n', /line 3 has 1 fields/],
    ['nan.csv', 'a,b\n1,x\n', /row 1, column b: not a finite number/],
    ['rows.json', '{"samples": [[1, 2], [3]]}', /same length/],
    ['broken.json', '{"samples": [', /not valid JSON/],
    ['time.csv', 't,a\n0,1\n0,2\n0,3\n', /time column does not increase/],
  ];
  for (const [name, text, reason] of bad) {
    it(`refuses ${name} with a DecodeError naming the file`, async () => {
      const path = write(name, text);
      const error = await decodeImu(path).catch((e) => e);
      expect(error).toBeInstanceOf(DecodeError);
      expect(error.message).toContain(path);
      expect(error.message).toMatch(reason);
    });
  }
});

describe('preprocessImu + tokenize', () => {
  const plugin = imuTokenizer();

  it('makes ImageBind IMU tokens: 6 × 2000 at 200 Hz → 250 tokens of 48', async () => {
    const tokens = plugin.tokenize(await plugin.preprocess(await plugin.decode(walk), 'imagebind'));
    expect(tokens.shape).toEqual([250, 48]);
    expect(tokens.grid).toEqual([250]);
    expect(plugin.describeTokens!('imagebind')).toMatchObject({ dim: 48, tokens: 250 });
  });

  it('resamples 100 Hz to 200 Hz: 300 samples become 599 (3 s), the rest is zero padding', async () => {
    const f = preprocessImu(await decodeImu(walk), 'imagebind');
    expect(f.validLength).toBe(599);
    expect(f.data[2 * 2000 + 598]).toBeGreaterThan(8);
    expect(f.data[2 * 2000 + 599]).toBe(0);
    // interpolated midpoints lie between their neighbours
    const d = await decodeImu(walk);
    const mid = f.data[2 * 2000 + 1]!;
    expect(mid).toBeCloseTo((d.data[600]! + d.data[601]!) / 2, 5);
  });

  it('lays tokens out as (channel, patch) blocks of consecutive samples', () => {
    const data = Float32Array.from({ length: 2 * 8 }, (_, i) => i); // channel 0: 0..7, channel 1: 8..15
    const tokens = plugin.tokenize({ data, shape: [2, 8], axes: ['channel', 'time'], modality: 'imu', preset: 'x', patch: 4, validLength: 8, masked: false } as never);
    expect(tokens.shape).toEqual([2, 8]);
    expect(Array.from(tokens.data.subarray(8, 16))).toEqual([4, 5, 6, 7, 12, 13, 14, 15]);
  });

  it('downsamples with standardization and masks padded tokens (imu-small)', async () => {
    const f = await plugin.preprocess(await plugin.decode(walk), 'imu-small');
    expect(f.shape).toEqual([6, 256]);
    expect(f.validLength).toBe(150); // 3 s at 50 Hz
    const az = f.data.subarray(2 * 256, 2 * 256 + 150);
    const mean = az.reduce((a, b) => a + b, 0) / 150;
    expect(Math.abs(mean)).toBeLessThan(1e-5);
    const tokens = plugin.tokenize(f);
    expect(tokens.shape).toEqual([16, 96]);
    expect(Array.from(tokens.mask!)).toEqual([...Array(10).fill(1), ...Array(6).fill(0)]);
  });

  it('crops long inputs: center by default, seeded random with augment', async () => {
    const rows = Array.from({ length: 3000 }, (_, i) => [i, i, i, i, i, i].join(','));
    const path = write('long.csv', ['ax,ay,az,gx,gy,gz', ...rows].join('\n'));
    const d = await decodeImu(path);
    const center = preprocessImu(d, 'imagebind');
    expect(center.data[0]).toBe(500);
    const a = preprocessImu(d, 'imagebind', { augment: true, seed: 1 });
    const b = preprocessImu(d, 'imagebind', { augment: true, seed: 1 });
    const c = preprocessImu(d, 'imagebind', { augment: true, seed: 2 });
    expect(a.data[0]).toBe(b.data[0]);
    expect(a.data[0]).not.toBe(c.data[0]);
    expect(a.data[1999]! - a.data[0]!).toBe(1999);
  });

  it('selects channels by name, in preset order', async () => {
    const path = write('named.csv', 'gz,gy,gx,az,ay,ax,temp\n6,5,4,3,2,1,99\n');
    const f = preprocessImu(await decodeImu(path), { ...plugin.presets.imagebind!, length: 8, patch: 8 });
    expect([0, 1, 2, 3, 4, 5].map((c) => f.data[c * 8])).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('refuses missing channels and bad preset fields', async () => {
    const path = write('three.csv', 'x,y,z\n1,2,3\n');
    const three = await decodeImu(path);
    expect(() => plugin.preprocess(three, 'imagebind')).toThrow(/channels \[x, y, z\].*needs \[ax, ay, az, gx, gy, gz\]/);
    const d = await decodeImu(walk);
    expect(() => preprocessImu(d, { ...plugin.presets.imagebind!, patch: 7 })).toThrow(BadPresetError);
    expect(() => preprocessImu(d, { ...plugin.presets.imagebind!, patch: 7 })).toThrow(/field "patch" must be a positive integer dividing length 2000, got 7/);
    expect(() => preprocessImu(d, { ...plugin.presets.imagebind!, normalize: { mean: [0], std: [1] } })).toThrow(/normalize/);
  });
});
