import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeNpy, decodeSafetensors } from '@omnitok/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { charsPlugin, pgmPlugin } from './__fixtures__/test-plugins.js';
import { runCli } from './cli.js';
import { ExitCode } from './io.js';

const builtins = async () => [pgmPlugin(), charsPlugin()];
let dir: string;

async function run(...argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { builtins, scan: false, io: { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), cwd: dir } });
  return { code, stdout, stderr };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'omnitok-cli-'));
  // 4×4 image, pixel value = 16·y + x
  const pixels = Array.from({ length: 16 }, (_, i) => 16 * Math.floor(i / 4) + (i % 4));
  writeFileSync(join(dir, 'img.pgm'), `P2\n4 4\n255\n${pixels.join(' ')}\n`);
  writeFileSync(join(dir, 'bad.pgm'), 'P2\n4 4\n255\n1 2 3\n');
  writeFileSync(join(dir, 'no-extension'), 'P2 2 2 255 1 2 3 4');
  writeFileSync(join(dir, 'doc.docx'), 'PK\u0003\u0004 not a plugin format');
  writeFileSync(join(dir, 'tiny.json'), JSON.stringify({ patch: 1, scale: 1 }));
  writeFileSync(join(dir, 'broken.json'), '{ patch: ');
  writeFileSync(join(dir, 'zero.json'), JSON.stringify({ patch: 0, scale: 1 }));
});

describe('omnitok tokenize (in-process, test plugins)', () => {
  it('prints one JSON object with modality, preset, stage, shape, grid, dtype, mean, std', async () => {
    const { code, stdout, stderr } = await run('tokenize', 'img.pgm', '--json');
    expect(stderr).toBe('');
    expect(code).toBe(ExitCode.Ok);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const out = JSON.parse(lines[0]!);
    expect(out).toMatchObject({ modality: 'gray', plugin: 'pgm', preset: 'patch-2', stage: 'tokens', shape: [4, 4], grid: [2, 2], dtype: 'float32' });
    const values = Array.from({ length: 16 }, (_, i) => (16 * Math.floor(i / 4) + (i % 4)) / 255);
    const mean = values.reduce((a, b) => a + b) / 16;
    expect(out.mean).toBeCloseTo(mean, 5);
    expect(out.std).toBeCloseTo(Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / 16), 5);
  });

  it('detects the plugin by magic bytes when the file has no extension', async () => {
    const { code, stdout } = await run('tokenize', 'no-extension', '--json', '--stage', 'features');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ plugin: 'pgm', stage: 'features', shape: [1, 2, 2], grid: null });
  });

  it('writes features as .npy that reads back with the [C, H, W] shape', async () => {
    const { code, stdout } = await run('tokenize', 'img.pgm', '--stage', 'features', '--out', 'out/features.npy', '--preset', 'patch-1');
    expect(code).toBe(0);
    expect(stdout).toMatch(/wrote .*features\.npy/);
    const arr = decodeNpy(readFileSync(join(dir, 'out/features.npy')));
    expect(arr.shape).toEqual([1, 4, 4]);
    expect(arr.data[5]).toBe(17); // y=1, x=1 with scale 1
  });

  it('writes tokens as safetensors with one tensor named "tokens" and metadata', async () => {
    const { code } = await run('tokenize', 'img.pgm', '--out', 't.safetensors');
    expect(code).toBe(0);
    const file = decodeSafetensors(readFileSync(join(dir, 't.safetensors')));
    expect(Object.keys(file.tensors)).toEqual(['tokens']);
    expect(file.tensors.tokens!.shape).toEqual([4, 4]);
    // patch (0,1) = pixels (0,2),(0,3),(1,2),(1,3)
    expect(Array.from(file.tensors.tokens!.data as Float32Array).slice(4, 8).map((v) => Math.round(v * 255))).toEqual([2, 3, 18, 19]);
    expect(file.metadata).toMatchObject({ modality: 'gray', preset: 'patch-2', stage: 'tokens', grid: '[2,2]' });
  });

  it('reads a custom preset from a JSON file', async () => {
    const { code, stdout } = await run('tokenize', 'img.pgm', '--preset', 'tiny.json', '--json');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ preset: 'custom', shape: [16, 1], grid: [4, 4] });
  });

  it('tokenizes inline text and prints the ids', async () => {
    const json = await run('tokenize', '--modality', 'text', 'hi!', '--json');
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ modality: 'text', dtype: 'int32', shape: [8], length: 3, ids: [104, 105, 33] });
    const plain = await run('tokenize', '-m', 'chars', 'hi');
    expect(plain.stdout).toContain('ids: 104 105');
  });

  it('writes int32 ids to .npy', async () => {
    expect((await run('tokenize', '-m', 'text', 'abc', '-o', 'ids.npy')).code).toBe(0);
    const arr = decodeNpy(readFileSync(join(dir, 'ids.npy')));
    expect(arr.data).toBeInstanceOf(Int32Array);
    expect(Array.from(arr.data as Int32Array)).toEqual([97, 98, 99, 0, 0, 0, 0, 0]);
  });

  const failures: [string, string[], number, RegExp][] = [
    ['a missing file', ['tokenize', 'nope.pgm'], ExitCode.Failed, /E_DECODE.*nope\.pgm: no such file \(for inline text, pass --modality text\)/],
    ['a corrupt file', ['tokenize', 'bad.pgm'], ExitCode.Failed, /E_DECODE.*bad\.pgm.*expected 16 pixels, found 3/],
    ['an unsupported format', ['tokenize', 'doc.docx'], ExitCode.Failed, /E_UNSUPPORTED_FORMAT.*doc\.docx.*Supported: pgm, txt/],
    ['an unknown preset', ['tokenize', 'img.pgm', '--preset', 'huge'], ExitCode.Failed, /E_BAD_PRESET.*"huge".*patch-2, patch-1/],
    ['a bad custom preset field', ['tokenize', 'img.pgm', '--preset', 'zero.json'], ExitCode.Failed, /E_BAD_PRESET.*field "patch" must be a positive integer, got 0/],
    ['an unparsable preset file', ['tokenize', 'img.pgm', '--preset', 'broken.json'], ExitCode.Usage, /--preset.*broken\.json/],
    ['an unknown modality', ['tokenize', 'img.pgm', '--modality', 'imu'], ExitCode.Failed, /E_NO_SUCH_MODALITY.*"imu".*pgm, chars/],
    ['an unknown output format', ['tokenize', 'img.pgm', '--out', 'x.csv'], ExitCode.Usage, /--out.*x\.csv.*\.npy or \.safetensors/],
    ['a bad seed', ['tokenize', 'img.pgm', '--seed', 'abc'], ExitCode.Usage, /--seed.*"abc"/],
    ['a bad stage', ['tokenize', 'img.pgm', '--stage', 'pixels'], ExitCode.Usage, /'pixels' is invalid.*features, tokens/],
    ['a missing input argument', ['tokenize'], ExitCode.Usage, /missing required argument 'input'/],
    ['an unknown option', ['tokenize', 'img.pgm', '--frobnicate'], ExitCode.Usage, /unknown option '--frobnicate'/],
    ['an unknown command', ['frobnicate'], ExitCode.Usage, /unknown command 'frobnicate'/],
    ['a negative learning rate', ['train', '--lr', '-1'], ExitCode.Usage, /--lr: got "-1", expected a finite number ≥ 0/],
    ['an infinite learning rate', ['train', '--lr', 'Infinity'], ExitCode.Usage, /--lr: got "Infinity", expected a finite number ≥ 0/],
    ['a held-out share above its range', ['train', '--eval-fraction', '0.95'], ExitCode.Usage, /--eval-fraction: got "0\.95", expected a number in \[0, 0\.9\]/],
  ];
  for (const [what, argv, code, message] of failures) {
    it(`exits ${code} with a one-line reason for ${what}`, async () => {
      const result = await run(...argv);
      expect(result.code).toBe(code);
      expect(result.stdout).toBe('');
      expect(result.stderr).toMatch(message);
      expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace without --debug
    });
  }

  it('prints the stack trace with --debug', async () => {
    const result = await run('tokenize', 'bad.pgm', '--debug');
    expect(result.code).toBe(ExitCode.Failed);
    expect(result.stderr).toMatch(/\n\s+at /);
  });
});

describe('omnitok plugins list (in-process)', () => {
  it('shows name, modality, presets and file types of every plugin', async () => {
    const { code, stdout } = await run('plugins', 'list');
    expect(code).toBe(0);
    expect(stdout).toMatch(/^pgm {2}\(gray, continuous tokens, built-in\)/m);
    expect(stdout).toContain('presets:    patch-2 (default), patch-1');
    expect(stdout).toContain('file types: pgm');
    expect(stdout).toContain('file types: txt + inline text');
  });

  it('prints JSON with --json', async () => {
    const { plugins: rows, broken } = JSON.parse((await run('plugins', 'list', '--json')).stdout);
    expect(broken).toEqual([]);
    expect(rows.map((r: { name: string }) => r.name)).toEqual(['pgm', 'chars']);
    expect(rows[1]).toMatchObject({ modality: 'text', tokenKind: 'discrete', acceptsText: true, presets: ['ctx-8'] });
  });
});
