import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The published shape: `npm pack` this package and @omnitok/core, install both tarballs alone in an
 * empty folder (dependencies from the npm registry / cache), and tokenize an image there — no
 * TensorFlow.js, no workspace. Builds the dists first when they are missing.
 */
const pkg = fileURLToPath(new URL('..', import.meta.url));
const core = join(pkg, '../core');
const dir = mkdtempSync(join(tmpdir(), 'omnitok-image-pack-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('packed package', () => {
  it('installs alone with @omnitok/core and tokenizes an image', () => {
    for (const p of [core, pkg]) if (!existsSync(join(p, 'dist/index.js'))) execFileSync('npx', ['tsup'], { cwd: p, stdio: 'ignore' });
    for (const p of [core, pkg]) execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: p, stdio: 'ignore' });
    const tarballs = readdirSync(dir).filter((f) => f.endsWith('.tgz'));
    expect(tarballs.sort()).toEqual(['omnitok-core-0.1.0.tgz', 'omnitok-tokenizer-image-0.1.0.tgz']);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'pack-check', private: true, type: 'module' }));
    execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', ...tarballs.map((t) => `./${t}`)], { cwd: dir, stdio: 'ignore' });
    writeFileSync(
      join(dir, 'check.mjs'),
      `import { imageTokenizer } from '@omnitok/tokenizer-image';
const plugin = imageTokenizer();
const tokens = plugin.tokenize(await plugin.preprocess(await plugin.decode(process.argv[2])));
console.log(JSON.stringify({ shape: tokens.shape, grid: tokens.grid, finite: tokens.data.every(Number.isFinite) }));`,
    );
    const out = execFileSync('node', ['check.mjs', fileURLToPath(new URL('./__fixtures__/chelsea.jpg', import.meta.url))], { cwd: dir, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ shape: [196, 768], grid: [14, 14], finite: true });
    const installed = readdirSync(join(dir, 'node_modules'));
    expect(installed).not.toContain('@tensorflow');
    expect(installed).toContain('sharp');
    // Only the built files and the README ship.
    expect(readdirSync(join(dir, 'node_modules/@omnitok/tokenizer-image')).sort()).toEqual(['README.md', 'dist', 'package.json']);
  }, 120_000);
});
