import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { ModalityRegistry } from '@omnitok/core';
import type { Command } from 'commander';
import { meanStd, round, stageArray } from '../format.js';
import type { CliIO } from '../io.js';
import { tokenizeInput } from '../tokenize-input.js';

/** One bundled sample: a file under assets/samples, or inline text. */
interface Sample {
  readonly modality: string;
  readonly file?: string;
  readonly text?: string;
  readonly preset?: string;
  readonly note?: string;
}

const samplesDir = fileURLToPath(new URL('../assets/samples/', import.meta.url));

export async function loadSamples(): Promise<Sample[]> {
  return JSON.parse(await readFile(`${samplesDir}samples.json`, 'utf8')) as Sample[];
}

/**
 * `omnitok demo`: the main job on the embedded default data. Until training lands it tokenizes the
 * bundled sample of every modality whose plugin is registered and prints what came out.
 */
export function demoCommand(program: Command, io: CliIO, registry: () => Promise<ModalityRegistry>): void {
  program
    .command('demo')
    .description('tokenize the bundled sample of every registered modality (no arguments needed)')
    .option('--json', 'print one JSON object per sample')
    .action(async (options: { json?: boolean }) => {
      const reg = await registry();
      const samples = (await loadSamples()).filter((s) => reg.has(s.modality) || reg.byModality(s.modality).length > 0);
      if (samples.length === 0) {
        io.stdout('No bundled sample has a registered plugin yet.\n');
        return;
      }
      if (!options.json) io.stdout(`omnitok demo: tokenizing ${samples.length} bundled sample(s) with plugins ${reg.names.join(', ')}\n\n`);
      for (const sample of samples) {
        const input = sample.file ? `${samplesDir}${sample.file}` : sample.text!;
        const { result } = await tokenizeInput(reg, { input, modality: sample.modality, preset: sample.preset, stage: 'tokens', cwd: samplesDir });
        const array = stageArray(result);
        const { mean, std } = meanStd(array.data);
        const row = {
          modality: result.modality,
          preset: result.preset,
          input: sample.file ?? JSON.stringify(sample.text),
          shape: [...array.shape],
          grid: 'grid' in result ? [...result.grid] : null,
          dtype: array.dtype,
          mean: round(mean, 4),
          std: round(std, 4),
          ...('kind' in result && result.kind === 'discrete' ? { ids: Array.from(result.ids.subarray(0, result.length)) } : {}),
        };
        if (options.json) {
          io.stdout(`${JSON.stringify(row)}\n`);
          continue;
        }
        io.stdout(`${row.modality.padEnd(6)} ${row.input}\n`);
        io.stdout(`       preset ${row.preset} → tokens [${row.shape.join(', ')}] ${row.dtype}${row.grid ? `, grid [${row.grid.join(', ')}]` : ''}, mean ${row.mean}, std ${row.std}\n`);
        if (row.ids) io.stdout(`       ids ${row.ids.join(' ')}\n`);
        if (sample.note) io.stdout(`       ${sample.note}\n`);
      }
    });
}
