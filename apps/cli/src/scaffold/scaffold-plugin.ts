import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { InvalidArgumentError } from '@omnitok/core';
import { pluginTemplates } from './plugin-templates.js';

export interface ScaffoldRequest {
  readonly name: string;
  /** Target folder; default `packages/<name>` inside the omnitok monorepo, else `omnitok-plugin-<name>`. */
  readonly dir?: string;
  readonly packageName?: string;
  readonly cwd: string;
}

export interface ScaffoldResult {
  readonly dir: string;
  readonly packageName: string;
  readonly inMonorepo: boolean;
  readonly files: readonly string[];
}

/** Writes a new plugin package. Refuses a bad name or a non-empty target folder. */
export async function scaffoldPlugin(request: ScaffoldRequest): Promise<ScaffoldResult> {
  if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(request.name)) {
    throw new InvalidArgumentError('<name>', request.name, 'a kebab-case name such as "imu" or "point-cloud"');
  }
  const monorepo = findOmnitokMonorepo(request.cwd);
  const dir = resolve(request.cwd, request.dir ?? (monorepo ? join(monorepo, 'packages', `plugin-${request.name}`) : `omnitok-plugin-${request.name}`));
  const inMonorepo = monorepo !== undefined && relative(monorepo, dir).split(/[\\/]/).length === 2 && !relative(monorepo, dir).startsWith('..');
  const packageName = request.packageName ?? (inMonorepo ? `@omnitok/plugin-${request.name}` : `omnitok-plugin-${request.name}`);
  if (existsSync(dir) && (await readdir(dir)).length > 0) throw new InvalidArgumentError('--dir', dir, 'a folder that does not exist or is empty');
  const files = pluginTemplates({ name: request.name, packageName, coreRange: inMonorepo ? '*' : '^0.1.0', inMonorepo });
  for (const [path, text] of Object.entries(files)) {
    const target = join(dir, path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, text);
  }
  return { dir, packageName, inMonorepo, files: Object.keys(files) };
}

/** The root of the omnitok monorepo containing `cwd` (a package.json with workspaces and packages/core), if any. */
function findOmnitokMonorepo(cwd: string): string | undefined {
  for (let dir = resolve(cwd); ; dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && existsSync(join(dir, 'packages', 'core', 'package.json'))) {
      try {
        if (JSON.parse(readFileSync(manifest, 'utf8')).workspaces) return dir;
      } catch {
        /* not ours */
      }
    }
    if (dirname(dir) === dir) return undefined;
  }
}
