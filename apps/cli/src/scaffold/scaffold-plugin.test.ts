import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runCli } from '../cli.js';
import { scaffoldPlugin } from './scaffold-plugin.js';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));

describe('omnitok plugins new', () => {
  it('scaffolds a standalone package that type-checks, builds and passes its own conformance tests', () => {
    if (!existsSync(join(repoRoot, 'packages/core/dist/testing/index.js'))) throw new Error('packages/core/dist is missing: run `npm run build` first');
    const dir = mkdtempSync(join(tmpdir(), 'omnitok-scaffold-'));
    let stdout = '';
    return runCli(['plugins', 'new', 'seismo'], { builtins: async () => [], scan: false, io: { stdout: (s) => void (stdout += s), stderr: (s) => void (stdout += s), cwd: dir } }).then((code) => {
      expect(code).toBe(0);
      const pkgDir = join(dir, 'omnitok-plugin-seismo');
      expect(stdout).toContain(`created omnitok-plugin-seismo in ${pkgDir}`);
      const pkg = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8'));
      expect(pkg).toMatchObject({ name: 'omnitok-plugin-seismo', type: 'module', dependencies: { '@omnitok/core': '^0.1.0' } });
      // Use the monorepo's installed toolchain and @omnitok/core instead of a network install.
      symlinkSync(join(repoRoot, 'node_modules'), join(pkgDir, 'node_modules'), 'dir');
      const bin = (name: string) => join(repoRoot, 'node_modules', '.bin', name);
      const env = { ...process.env, CI: 'true', NO_COLOR: '1' };
      execFileSync(bin('tsc'), ['--noEmit', '-p', '.'], { cwd: pkgDir, env, stdio: 'pipe' });
      execFileSync(bin('tsup'), [], { cwd: pkgDir, env, stdio: 'pipe' });
      expect(existsSync(join(pkgDir, 'dist/index.js'))).toBe(true);
      expect(existsSync(join(pkgDir, 'dist/index.d.ts'))).toBe(true);
      const out = execFileSync(bin('vitest'), ['run', '--reporter=verbose'], { cwd: pkgDir, env, encoding: 'utf8' });
      expect(out).toMatch(/modality plugin conformance: seismo/);
      expect(out).toMatch(/corrupted copies of each file input/);
      expect(out).toMatch(/Tests\s+11 passed/);
      expect(out).not.toMatch(/failed/);

      // The built package is a plugin the CLI can load by path.
      writeFileSync(join(dir, 'rec.seismo'), JSON.stringify([[1, 2, 3, 4], [5, 6, 7, 8]]));
      let json = '';
      return runCli(['tokenize', 'rec.seismo', '--plugin', join(pkgDir, 'dist/index.js'), '--json'], {
        builtins: async () => [],
        scan: false,
        io: { stdout: (s) => void (json += s), stderr: (s) => void (json += s), cwd: dir },
      }).then((code2) => {
        expect(code2, json).toBe(0);
        expect(JSON.parse(json)).toMatchObject({ plugin: 'seismo', shape: [4, 8], grid: [4] });
      });
    });
  }, 120_000);

  it('refuses bad names and non-empty folders', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'omnitok-scaffold-'));
    await expect(scaffoldPlugin({ name: 'Bad Name', cwd: dir })).rejects.toThrow(/<name>.*"Bad Name".*kebab-case/);
    mkdirSync(join(dir, 'taken'));
    writeFileSync(join(dir, 'taken', 'x'), '');
    await expect(scaffoldPlugin({ name: 'imu', dir: 'taken', cwd: dir })).rejects.toThrow(/--dir.*empty/);
  });
});
