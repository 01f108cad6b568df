import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type AnyModalityPlugin, createModalityRegistry, type ModalityRegistry } from '@omnitok/core';

/** Where a plugin came from, as `omnitok plugins list` shows it. */
export interface PluginOrigin {
  readonly kind: 'built-in' | 'node_modules' | 'config' | 'flag';
  /** The package name or file path it was loaded from (`built-in` for built-ins). */
  readonly from: string;
}

export interface BrokenPlugin {
  readonly origin: PluginOrigin;
  readonly error: string;
}

export interface DiscoveredPlugins {
  readonly registry: ModalityRegistry;
  readonly origins: ReadonlyMap<string, PluginOrigin>;
  /** Plugins that failed to load or register; they are skipped, never fatal. */
  readonly broken: readonly BrokenPlugin[];
}

export interface DiscoverOptions {
  readonly cwd: string;
  readonly builtins: () => Promise<AnyModalityPlugin[]>;
  /** Paths or package names given with `--plugin`. */
  readonly flagPlugins?: readonly string[];
  /** Skip the node_modules scan and the config file (tests). */
  readonly scan?: boolean;
}

export const CONFIG_FILE = 'omnitok.config.json';

/**
 * Collects plugins, in routing priority order: built-ins, then `--plugin` paths, then the `plugins` of
 * `omnitok.config.json` (in the working directory or the nearest parent), then packages named
 * `omnitok-plugin-*` or `@scope/omnitok-plugin-*` in every `node_modules` from the working directory up.
 *
 * A plugin module exports the plugin, a factory returning it, or an array of either, as its default
 * export, as `plugin`, or as `plugins`. A module that fails to load, exports nothing usable, or whose
 * plugin the registry refuses (duplicate name, bad spec version) is reported in `broken` and skipped.
 */
export async function discoverPlugins(options: DiscoverOptions): Promise<DiscoveredPlugins> {
  const candidates: { origin: PluginOrigin; load: () => Promise<unknown> }[] = [];
  const broken: BrokenPlugin[] = [];
  candidates.push({ origin: { kind: 'built-in', from: 'built-in' }, load: options.builtins });
  for (const spec of options.flagPlugins ?? []) {
    candidates.push({ origin: { kind: 'flag', from: spec }, load: () => importSpecifier(spec, options.cwd) });
  }
  if (options.scan !== false) {
    const config = findUp(options.cwd, CONFIG_FILE);
    if (config) {
      try {
        for (const spec of await readConfigPlugins(config)) {
          candidates.push({ origin: { kind: 'config', from: spec }, load: () => importSpecifier(spec, dirname(config)) });
        }
      } catch (error) {
        broken.push({ origin: { kind: 'config', from: config }, error: messageOf(error) });
      }
    }
    for (const pkg of await scanNodeModules(options.cwd)) {
      candidates.push({ origin: { kind: 'node_modules', from: pkg.name }, load: () => import(pathToFileURL(pkg.entry).href) });
    }
  }

  const accepted: AnyModalityPlugin[] = [];
  const origins = new Map<string, PluginOrigin>();
  for (const candidate of candidates) {
    let plugins: AnyModalityPlugin[];
    try {
      plugins = pluginsFromModule(await candidate.load());
    } catch (error) {
      broken.push({ origin: candidate.origin, error: messageOf(error) });
      continue;
    }
    for (const plugin of plugins) {
      try {
        createModalityRegistry([...accepted, plugin]); // validates and refuses duplicates
        accepted.push(plugin);
        origins.set(plugin.name, candidate.origin);
      } catch (error) {
        broken.push({ origin: candidate.origin, error: messageOf(error) });
      }
    }
  }
  return { registry: createModalityRegistry(accepted), origins, broken };
}

function pluginsFromModule(mod: unknown): AnyModalityPlugin[] {
  if (Array.isArray(mod)) return mod.flatMap((m) => pluginsFromModule(m));
  const exported = mod as Record<string, unknown> | undefined;
  const candidate =
    exported && typeof exported === 'object' && !('specVersion' in exported)
      ? (exported.plugins ?? exported.plugin ?? exported.default)
      : exported;
  const values = Array.isArray(candidate) ? candidate : [candidate];
  const out: AnyModalityPlugin[] = [];
  for (let value of values) {
    if (typeof value === 'function') value = (value as () => unknown)();
    if (Array.isArray(value)) {
      out.push(...pluginsFromModule(value));
      continue;
    }
    if (!value || typeof value !== 'object' || !('specVersion' in value)) {
      throw new Error('the module exports no modality plugin (expected a plugin, a factory or an array as default, `plugin` or `plugins`)');
    }
    out.push(value as AnyModalityPlugin);
  }
  return out;
}

async function importSpecifier(spec: string, base: string): Promise<unknown> {
  const isPath = spec.startsWith('.') || isAbsolute(spec) || spec.endsWith('.js') || spec.endsWith('.mjs');
  if (isPath) {
    const file = resolve(base, spec);
    if (!existsSync(file)) throw new Error(`no such file: ${file}`);
    return import(pathToFileURL(file).href);
  }
  const entry = await packageEntry(spec, base);
  if (!entry) throw new Error(`package ${spec} is not installed in ${base} or its parents`);
  return import(pathToFileURL(entry).href);
}

async function readConfigPlugins(config: string): Promise<string[]> {
  let parsed: { plugins?: unknown };
  try {
    parsed = JSON.parse(await readFile(config, 'utf8')) as { plugins?: unknown };
  } catch (error) {
    throw new Error(`${config} is not valid JSON: ${messageOf(error)}`);
  }
  if (parsed.plugins === undefined) return [];
  if (!Array.isArray(parsed.plugins) || !parsed.plugins.every((p) => typeof p === 'string')) {
    throw new Error(`${config}: "plugins" must be an array of paths or package names`);
  }
  return parsed.plugins as string[];
}

function findUp(start: string, name: string): string | undefined {
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    const file = join(dir, name);
    if (existsSync(file)) return file;
    if (dirname(dir) === dir) return undefined;
  }
}

const PLUGIN_NAME = /^(@[^/]+\/)?omnitok-plugin-[\w.-]+$/;

async function scanNodeModules(cwd: string): Promise<{ name: string; entry: string }[]> {
  const found = new Map<string, string>();
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const nm = join(dir, 'node_modules');
    if (existsSync(nm)) {
      const names: string[] = [];
      for (const entry of await readdir(nm).catch(() => [] as string[])) {
        if (entry.startsWith('@')) {
          for (const sub of await readdir(join(nm, entry)).catch(() => [] as string[])) names.push(`${entry}/${sub}`);
        } else names.push(entry);
      }
      for (const name of names.filter((n) => PLUGIN_NAME.test(n)).sort()) {
        if (found.has(name)) continue; // the nearest node_modules wins, as in Node's resolution
        const entry = await packageEntry(name, dir);
        if (entry) found.set(name, entry);
      }
    }
    if (dirname(dir) === dir) break;
  }
  return [...found].map(([name, entry]) => ({ name, entry }));
}

/** The ESM entry of an installed package: exports["."] (import/default), then module, then main. */
async function packageEntry(name: string, from: string): Promise<string | undefined> {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    const root = join(dir, 'node_modules', name);
    const manifest = join(root, 'package.json');
    if (existsSync(manifest)) {
      const pkg = JSON.parse(await readFile(manifest, 'utf8')) as Record<string, unknown>;
      const exp = pkg.exports as Record<string, unknown> | string | undefined;
      const dot = typeof exp === 'string' ? exp : (exp?.['.'] as Record<string, unknown> | string | undefined);
      const target = typeof dot === 'string' ? dot : ((dot?.import ?? dot?.default) as string | undefined);
      return join(root, target ?? (pkg.module as string) ?? (pkg.main as string) ?? 'index.js');
    }
    if (dirname(dir) === dir) return undefined;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
