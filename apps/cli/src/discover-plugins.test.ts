import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { charsPlugin, pgmPlugin } from './__fixtures__/test-plugins.js';
import { runCli } from './cli.js';
import { discoverPlugins } from './discover-plugins.js';

// Plugin modules written to disk as plain ESM (node_modules packages load through Node itself).
const pluginModule = (name: string) => `
const tokens = { kind: 'continuous', data: new Float32Array(2), shape: [2, 1], grid: [2], positions: new Int32Array([0, 1]), modality: 'sensor', preset: 'raw' };
export default function factory() {
  return {
    specVersion: 1, name: ${JSON.stringify(name)}, modality: 'sensor', presets: { raw: {} }, defaultPreset: 'raw',
    tokenKind: 'continuous', fileTypes: [{ format: ${JSON.stringify(name)}, extensions: [${JSON.stringify(name)}] }],
    async decode() { return null; },
    preprocess() { return { data: new Float32Array(2), shape: [2], axes: ['t'], modality: 'sensor', preset: 'raw' }; },
    tokenize() { return tokens; },
  };
}
`;

function project() {
  const dir = mkdtempSync(join(tmpdir(), 'omnitok-discover-'));
  const pkg = (name: string, source: string) => {
    const root = join(dir, 'node_modules', name);
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'package.json'), JSON.stringify({ name, type: 'module', exports: { '.': { import: './index.js' } } }));
    writeFileSync(join(root, 'index.js'), source);
  };
  pkg('omnitok-plugin-seismo', pluginModule('seismo'));
  pkg('@acme/omnitok-plugin-lidar', pluginModule('lidar'));
  pkg('omnitok-plugin-broken', 'throw new Error("boom at import");');
  pkg('unrelated-package', pluginModule('unrelated'));
  mkdirSync(join(dir, 'plugins'));
  writeFileSync(join(dir, 'plugins', 'ecg.js'), pluginModule('ecg'));
  writeFileSync(join(dir, 'plugins', 'dup.js'), pluginModule('pgm'));
  writeFileSync(join(dir, 'plugins', 'empty.js'), 'export const nothing = 1;');
  writeFileSync(join(dir, 'omnitok.config.json'), JSON.stringify({ plugins: ['./plugins/ecg.js', './plugins/dup.js', './plugins/missing.js'] }));
  return dir;
}

describe('plugin discovery', () => {
  it('loads built-ins, --plugin paths, config paths and omnitok-plugin-* packages, in that order', async () => {
    const dir = project();
    const found = await discoverPlugins({ cwd: dir, builtins: async () => [pgmPlugin(), charsPlugin()], flagPlugins: ['./plugins/empty.js'] });
    expect(found.registry.names).toEqual(['pgm', 'chars', 'ecg', 'lidar', 'seismo']);
    expect(found.origins.get('pgm')).toEqual({ kind: 'built-in', from: 'built-in' });
    expect(found.origins.get('ecg')).toEqual({ kind: 'config', from: './plugins/ecg.js' });
    expect(found.origins.get('lidar')).toEqual({ kind: 'node_modules', from: '@acme/omnitok-plugin-lidar' });
    expect(found.registry.has('unrelated')).toBe(false);
  });

  it('reports broken plugins and skips them without failing', async () => {
    const dir = project();
    const found = await discoverPlugins({ cwd: dir, builtins: async () => [pgmPlugin()], flagPlugins: ['./plugins/empty.js'] });
    const reasons = Object.fromEntries(found.broken.map((b) => [b.origin.from, b.error]));
    expect(reasons['./plugins/empty.js']).toMatch(/exports no modality plugin/);
    expect(reasons['./plugins/dup.js']).toMatch(/"pgm" is already registered/);
    expect(reasons['./plugins/missing.js']).toMatch(/no such file/);
    expect(reasons['omnitok-plugin-broken']).toMatch(/boom at import/);
    expect(found.broken).toHaveLength(4);
  });

  it('survives a malformed omnitok.config.json', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'omnitok-discover-'));
    writeFileSync(join(dir, 'omnitok.config.json'), '{ "plugins": [');
    const found = await discoverPlugins({ cwd: dir, builtins: async () => [pgmPlugin()] });
    expect(found.registry.names).toEqual(['pgm']);
    expect(found.broken[0]!.error).toMatch(/not valid JSON/);
  });

  it('omnitok plugins list shows where each plugin came from and what was skipped', async () => {
    const dir = project();
    let stdout = '';
    let stderr = '';
    const code = await runCli(['plugins', 'list', '--plugin', './plugins/empty.js'], {
      builtins: async () => [pgmPlugin()],
      io: { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), cwd: dir },
    });
    expect(code).toBe(0);
    expect(stdout).toMatch(/^pgm {2}\(gray, continuous tokens, built-in\)/m);
    expect(stdout).toMatch(/^ecg {2}\(sensor, continuous tokens, config: \.\/plugins\/ecg\.js\)/m);
    expect(stdout).toMatch(/^seismo {2}\(sensor, continuous tokens, node_modules: omnitok-plugin-seismo\)/m);
    expect(stdout).toMatch(/\(skipped\) node_modules: omnitok-plugin-broken\n {2}boom at import/);
    expect(stderr).toMatch(/warning: plugin from node_modules omnitok-plugin-broken skipped: boom at import/);
  });

  it('a broken plugin does not stop other commands', async () => {
    const dir = project();
    writeFileSync(join(dir, 'a.seismo'), 'x');
    let stdout = '';
    const code = await runCli(['tokenize', 'a.seismo', '--json'], {
      builtins: async () => [],
      io: { stdout: (s) => void (stdout += s), stderr: () => undefined, cwd: dir },
    });
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ plugin: 'seismo', shape: [2, 1] });
  });
});
