import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const pkgDir = fileURLToPath(new URL('..', import.meta.url));

describe('npm pack of @omnitok/core', () => {
  it('installs alone and its main entry imports without TensorFlow.js', () => {
    const work = mkdtempSync(join(tmpdir(), 'omnitok-core-pack-'));
    // Packs the dist that `npm test` built (prepack would rebuild it under tests running in parallel).
    if (!existsSync(join(pkgDir, 'dist', 'index.js'))) throw new Error('packages/core/dist is missing: run `npm run build` first');
    execFileSync('npm', ['pack', '--silent', '--ignore-scripts', '--pack-destination', work], { cwd: pkgDir, stdio: 'pipe' });
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
    expect(tarball).toBeDefined();

    const app = join(work, 'app');
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--silent', join(work, tarball!)], { cwd: app, stdio: 'pipe' });

    const installed = join(app, 'node_modules', '@omnitok', 'core');
    const files = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')).files as string[];
    expect(files).toContain('dist');
    expect(existsSync(join(app, 'node_modules', '@tensorflow'))).toBe(false);
    expect(readFileSync(join(installed, 'dist', 'index.js'), 'utf8')).not.toMatch(/@tensorflow/);

    const script = `
      const core = await import('@omnitok/core');
      const r = core.createModalityRegistry([]);
      const npy = core.encodeNpy({ data: new Float32Array([1, 2]), shape: [2] });
      console.log(JSON.stringify({ spec: core.MODALITY_SPEC_VERSION, names: r.names, npy: npy.length, err: new core.DecodeError('a', 'image', 'b').code }));
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: app, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ spec: 1, names: [], npy: 136, err: 'E_DECODE' });
  }, 120_000);
});
