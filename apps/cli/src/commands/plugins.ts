import type { FileTypeSignature, ModalityRegistry } from '@omnitok/core';
import type { Command } from 'commander';
import type { CliIO } from '../io.js';

export function pluginsCommand(program: Command, io: CliIO, registry: () => Promise<ModalityRegistry>): void {
  const plugins = program.command('plugins').description('inspect modality plugins');
  plugins
    .command('list')
    .description('list every registered plugin: name, modality, presets, file types')
    .option('--json', 'print one JSON array')
    .action(async (options: { json?: boolean }) => {
      const rows = (await registry())
        .list()
        .map((p) => ({
          name: p.name as string,
          modality: p.modality as string,
          version: (p.version as string | undefined) ?? null,
          source: 'built-in',
          tokenKind: p.tokenKind as string,
          defaultPreset: p.defaultPreset as string,
          presets: Object.keys(p.presets),
          fileTypes: (p.fileTypes as readonly FileTypeSignature[]).flatMap((s) => s.extensions),
          acceptsText: Boolean(p.acceptsText),
          description: (p.description as string | undefined) ?? null,
        }));
      if (options.json) {
        io.stdout(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      if (rows.length === 0) {
        io.stdout('No modality plugins are registered.\n');
        return;
      }
      for (const row of rows) {
        io.stdout(`${row.name}  (${row.modality}, ${row.tokenKind} tokens, ${row.source}${row.version ? `, v${row.version}` : ''})\n`);
        if (row.description) io.stdout(`  ${row.description}\n`);
        io.stdout(`  presets:    ${row.presets.map((p) => (p === row.defaultPreset ? `${p} (default)` : p)).join(', ')}\n`);
        io.stdout(`  file types: ${row.fileTypes.length > 0 ? row.fileTypes.join(', ') : '(none)'}${row.acceptsText ? ' + inline text' : ''}\n`);
      }
    });
}
