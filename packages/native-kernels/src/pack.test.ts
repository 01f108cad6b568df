import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The published shape: `npm pack` this package, install the tarball alone in an empty folder and load
 * the addon there; then delete the shipped addon and `npm rebuild` it: the install script compiles one
 * from the shipped C++ source (what a machine the shipped binary does not fit gets).
 */
const pkg = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'omnitok-native-pack-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const check = (cwd: string) =>
  JSON.parse(
    execFileSync('node', ['--input-type=module', '-e', "import { loadNativeKernels } from '@omnitok/native-kernels'; const r = loadNativeKernels(); console.log(JSON.stringify({ ok: r.ok, reason: r.ok ? undefined : r.reason }));"], {
      cwd,
      encoding: 'utf8',
    }),
  ) as { ok: boolean; reason?: string };

describe('packed package', () => {
  it('installs alone, loads its addon, and compiles a new one at install time when it is missing', () => {
    if (!existsSync(join(pkg, 'dist/omnitok_native.node'))) execFileSync('npm', ['run', 'build'], { cwd: pkg, stdio: 'ignore' });
    execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: pkg, stdio: 'ignore' });
    const tarballs = readdirSync(dir).filter((f) => f.endsWith('.tgz'));
    expect(tarballs).toEqual(['omnitok-native-kernels-0.1.0.tgz']);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'pack-check', private: true, type: 'module' }));
    execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', `./${tarballs[0]}`], { cwd: dir, stdio: 'ignore' });
    const installed = join(dir, 'node_modules/@omnitok/native-kernels');
    expect(readdirSync(join(installed, 'src'))).toContain('omnitok_native.cc');
    expect(existsSync(join(installed, 'src/index.ts'))).toBe(false); // not a workspace checkout
    expect(check(dir)).toEqual({ ok: true });

    rmSync(join(installed, 'dist/omnitok_native.node'));
    expect(check(dir).ok).toBe(false);
    const log = execFileSync('npm', ['rebuild', '@omnitok/native-kernels', '--foreground-scripts'], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(log).toMatch(/built .*omnitok_native\.node/);
    expect(check(dir)).toEqual({ ok: true });
  }, 180_000);
});
