import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeNpy, decodeSafetensors } from '@omnitok/core';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

// Drives the built `omnitok` binary as a user would; `npm test` builds first.
const bin = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string; bin: Record<string, string> };

function omnitok(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', env: { ...process.env, OMNITOK_DEBUG: '' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run \`npm run build\` (npm test does) before these tests`);
});

describe('the omnitok binary', () => {
  it('is declared as the package bin and starts with a node shebang', () => {
    expect(pkg.bin.omnitok).toBe('./dist/main.js');
    expect(readFileSync(bin, 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
  });

  it('--help lists the commands and exits 0', () => {
    const r = omnitok('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: omnitok/);
    for (const cmd of ['tokenize', 'plugins', 'demo']) expect(r.stdout).toContain(cmd);
  });

  it('--version prints the package version', () => {
    const r = omnitok('--version');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it('tokenize --help documents the command shape', () => {
    const r = omnitok('tokenize', '--help');
    expect(r.code).toBe(0);
    for (const flag of ['--modality', '--preset', '--stage', '--out', '--json']) expect(r.stdout).toContain(flag);
    expect(r.stdout).toMatch(/FILE\.npy or FILE\.safetensors/);
  });

  it('plugins list exits 0', () => {
    expect(omnitok('plugins', 'list').code).toBe(0);
    expect(Array.isArray(JSON.parse(omnitok('plugins', 'list', '--json').stdout).plugins)).toBe(true);
  });

  it('exits 2 on bad arguments, with the reason on stderr and nothing on stdout', () => {
    for (const args of [[], ['frobnicate'], ['tokenize'], ['tokenize', 'x', '--stage', 'pixels'], ['--nope']]) {
      const r = omnitok(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.length, args.join(' ')).toBeGreaterThan(0);
    }
  });

  it('exits 1 on a missing input, without a stack trace unless --debug', () => {
    const r = omnitok('tokenize', 'does-not-exist.png');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^omnitok: error \[E_DECODE\]: .*does-not-exist\.png/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(omnitok('tokenize', 'does-not-exist.png', '--debug').stderr).toMatch(/\n\s+at /);
  });

  it('demo tokenizes every bundled sample whose plugin is built in', () => {
    const samples = JSON.parse(readFileSync(new URL('../assets/samples/samples.json', import.meta.url), 'utf8')) as { modality: string }[];
    const builtins = (JSON.parse(omnitok('plugins', 'list', '--json').stdout).plugins as { modality: string }[]).map((p) => p.modality);
    const expected = samples.filter((s) => builtins.includes(s.modality));
    expect(expected.length).toBeGreaterThan(0);
    const r = omnitok('demo', '--json');
    expect(r.code, r.stderr).toBe(0);
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(rows.map((row) => row.modality)).toEqual(expected.map((s) => s.modality));
    for (const row of rows) {
      expect(row.shape.length).toBeGreaterThan(0);
      expect(row.shape.every((d: number) => d > 0)).toBe(true);
      expect(Number.isFinite(row.mean) && Number.isFinite(row.std)).toBe(true);
    }
  });

  it('tokenize --modality text prints the CLIP BPE ids of inline text', () => {
    const r = omnitok('tokenize', '--modality', 'text', 'a photo of a cat', '--json');
    expect(r.code, r.stderr).toBe(0);
    // reference: openai/CLIP simple_tokenizer (shared/design/reference-numerics.md)
    expect(JSON.parse(r.stdout)).toMatchObject({ modality: 'text', preset: 'clip', shape: [77], dtype: 'int32', ids: [49406, 320, 1125, 539, 320, 2368, 49407] });
  });

  it('tokenize writes Whisper log-mel features of a WAV that match the NumPy reference', () => {
    const wav = fileURLToPath(new URL('../assets/samples/audio/speech.wav', import.meta.url));
    const out = join(mkdtempSync(join(tmpdir(), 'omnitok-bin-')), 'mel.npy');
    const r = omnitok('tokenize', wav, '--stage', 'features', '--out', out, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ modality: 'audio', preset: 'whisper-80', stage: 'features', shape: [80, 3000], dtype: 'float32' });
    const ours = decodeNpy(readFileSync(out));
    expect(ours.shape).toEqual([80, 3000]);
    // the tokenizer's committed reference (NumPy, openai/whisper audio.py formulas) stores the first frames
    const refs = JSON.parse(readFileSync(new URL('../../../packages/tokenizer-audio/src/__fixtures__/references.json', import.meta.url), 'utf8'));
    const { stored, tail } = refs.speech.presets['whisper-80'];
    const ref = decodeNpy(readFileSync(new URL('../../../packages/tokenizer-audio/src/__fixtures__/speech.whisper-80.npy', import.meta.url)));
    let maxDiff = 0;
    for (let m = 0; m < 80; m++) {
      for (let t = 0; t < 3000; t++) {
        const expected = t < stored ? ref.data[m * stored + t]! : tail;
        maxDiff = Math.max(maxDiff, Math.abs(ours.data[m * 3000 + t]! - Number(expected)));
      }
    }
    expect(maxDiff).toBeLessThan(1e-4);
  });

  it('tokenize routes a JPEG to the image plugin and writes CLIP ViT-B/16 tokens as safetensors', () => {
    const jpg = fileURLToPath(new URL('../assets/samples/image/chelsea.jpg', import.meta.url));
    const dir = mkdtempSync(join(tmpdir(), 'omnitok-bin-'));
    const r = omnitok('tokenize', jpg, '--out', join(dir, 't.safetensors'), '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ modality: 'image', preset: 'clip-vit-b-16', stage: 'tokens', shape: [196, 768], grid: [14, 14] });
    const file = decodeSafetensors(readFileSync(join(dir, 't.safetensors')));
    expect(file.tensors.tokens!.shape).toEqual([196, 768]);
    expect(file.metadata).toMatchObject({ modality: 'image', preset: 'clip-vit-b-16', stage: 'tokens' });
    const features = JSON.parse(omnitok('tokenize', jpg, '--stage', 'features', '--preset', 'siglip-224', '--json').stdout);
    expect(features).toMatchObject({ shape: [3, 224, 224], grid: null });
  });

  it('tokenize exits 1 naming a truncated image', () => {
    const jpg = readFileSync(new URL('../assets/samples/image/chelsea.jpg', import.meta.url));
    const bad = join(mkdtempSync(join(tmpdir(), 'omnitok-bin-')), 'cut.jpg');
    writeFileSync(bad, jpg.subarray(0, 400));
    const r = omnitok('tokenize', bad);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/omnitok: error \[E_DECODE\]: .*cut\.jpg/);
  });

  it('tokenize routes an MP4 to the video plugin: 16 frames into VideoMAE tubelets', () => {
    const mp4 = fileURLToPath(new URL('../assets/samples/video/sample.mp4', import.meta.url));
    const r = omnitok('tokenize', mp4, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ modality: 'video', preset: 'videomae-16x224', shape: [1568, 1536], grid: [8, 14, 14] });
    const f = JSON.parse(omnitok('tokenize', mp4, '--stage', 'features', '--json').stdout);
    expect(f.shape).toEqual([16, 3, 224, 224]);
  });
});
