import type { FileTypeSignature } from '@omnitok/core';
import type { Command } from 'commander';
import type { PluginLoader } from '../cli.js';
import type { CliIO } from '../io.js';
import { scaffoldPlugin } from '../scaffold/scaffold-plugin.js';

export function pluginsCommand(program: Command, io: CliIO, plugins: PluginLoader): void {
  const group = program.command('plugins').description('inspect and create modality plugins');
  group
    .command('list')
    .description('list every plugin: name, modality, presets, file types, and where it came from')
    .option('--json', 'print one JSON object { plugins, broken }')
    .action(async (options: { json?: boolean }) => {
      const { registry, origins, broken } = await plugins();
      const rows = registry.list().map((p) => {
        const origin = origins.get(p.name);
        return {
          name: p.name as string,
          modality: p.modality as string,
          version: (p.version as string | undefined) ?? null,
          source: origin ? (origin.kind === 'built-in' ? 'built-in' : `${origin.kind}: ${origin.from}`) : 'built-in',
          tokenKind: p.tokenKind as string,
          defaultPreset: p.defaultPreset as string,
          presets: Object.keys(p.presets),
          fileTypes: (p.fileTypes as readonly FileTypeSignature[]).flatMap((s) => s.extensions),
          acceptsText: Boolean(p.acceptsText),
          description: (p.description as string | undefined) ?? null,
        };
      });
      if (options.json) {
        io.stdout(`${JSON.stringify({ plugins: rows, broken: broken.map((b) => ({ source: `${b.origin.kind}: ${b.origin.from}`, error: b.error })) }, null, 2)}\n`);
        return;
      }
      if (rows.length === 0) io.stdout('No modality plugins are registered.\n');
      for (const row of rows) {
        io.stdout(`${row.name}  (${row.modality}, ${row.tokenKind} tokens, ${row.source}${row.version ? `, v${row.version}` : ''})\n`);
        if (row.description) io.stdout(`  ${row.description}\n`);
        io.stdout(`  presets:    ${row.presets.map((p) => (p === row.defaultPreset ? `${p} (default)` : p)).join(', ')}\n`);
        io.stdout(`  file types: ${row.fileTypes.length > 0 ? row.fileTypes.join(', ') : '(none)'}${row.acceptsText ? ' + inline text' : ''}\n`);
      }
      for (const b of broken) io.stdout(`(skipped) ${b.origin.kind}: ${b.origin.from}\n  ${b.error}\n`);
    });

  group
    .command('new')
    .description('scaffold a modality-plugin package: package.json, tsup, vitest, a plugin skeleton, a conformance test, README')
    .argument('<name>', 'kebab-case modality name, e.g. imu or point-cloud')
    .option('--dir <dir>', 'target folder (default: packages/plugin-<name> inside the omnitok monorepo, else ./omnitok-plugin-<name>)')
    .option('--package-name <name>', 'npm package name (default: @omnitok/plugin-<name> in the monorepo, else omnitok-plugin-<name>)')
    .action(async (name: string, options: { dir?: string; packageName?: string }) => {
      const result = await scaffoldPlugin({ name, dir: options.dir, packageName: options.packageName, cwd: io.cwd });
      io.stdout(`created ${result.packageName} in ${result.dir}${result.inMonorepo ? ' (workspace of the omnitok monorepo)' : ''}\n`);
      for (const f of result.files) io.stdout(`  ${f}\n`);
      io.stdout(
        result.inMonorepo
          ? `next: npm install (links the workspace), npm run build, npx vitest run --project ${result.dir.split(/[\\/]/).pop()}\n`
          : `next: cd ${result.dir} && npm install && npm test\n`,
      );
    });
}
