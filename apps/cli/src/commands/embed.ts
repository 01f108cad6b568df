import { mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { encodeEmbeddings } from '@omnitok/clip';
import { extensionOf, InvalidArgumentError, type ModalityRegistry, type TokenSequence } from '@omnitok/core';
import type { BackendChoice } from '@omnitok/core/runtime';
import type { Command } from 'commander';
import type { CliIO } from '../io.js';
import { embedSamples } from '../train/evaluate.js';
import { loadRun } from '../train/load-run.js';
import { tokenizeValue } from '../train/prepare.js';
import { BACKEND_OPTION } from './train.js';

/** `omnitok embed`: unit embeddings [n, embedDim] of inputs of one modality, as .npy or .safetensors. */
export function embedCommand(program: Command, io: CliIO, registry: () => Promise<ModalityRegistry>): void {
  program
    .command('embed')
    .description('embed inputs of one modality with a trained run into FILE.npy or FILE.safetensors')
    .argument('<inputs...>', 'files (or inline texts for a text modality)')
    .requiredOption('--checkpoint <dir>', 'a run directory (its newest checkpoint) or a step-* directory')
    .requiredOption('--modality <m>', "one of the run's modalities")
    .requiredOption('--out <file>', 'FILE.npy (one [n, d] float32 matrix) or FILE.safetensors (with metadata)')
    .addOption(BACKEND_OPTION())
    .option('--json', 'print a JSON summary')
    .action(async (inputs: string[], o: Record<string, unknown>) => {
      const out = resolve(io.cwd, o.out as string);
      const ext = extensionOf(out);
      if (ext !== 'npy' && ext !== 'safetensors') throw new InvalidArgumentError('--out', o.out, 'a file name ending in .npy or .safetensors');
      const run = await loadRun(o.checkpoint as string, io.cwd, await registry(), o.backend as BackendChoice);
      const modality = o.modality as string;
      const setup = run.setups.get(modality);
      if (!setup) throw new InvalidArgumentError('--modality', modality, `one of the run's modalities (${run.config.modalities.join(', ')})`);
      const rows: TokenSequence[] = [];
      for (const input of inputs) {
        const path = resolve(io.cwd, input);
        const isFile = await stat(path).then((s) => s.isFile(), () => false);
        rows.push(await tokenizeValue(setup, isFile || !setup.plugin.acceptsText ? path : { text: input }));
      }
      const e = await embedSamples(run.backend.tf, run.model, modality, rows);
      const bytes = encodeEmbeddings(ext, { [modality]: e }, { checkpoint: run.path, step: String(run.step), modality, inputs: JSON.stringify(inputs) });
      await mkdir(dirname(out), { recursive: true });
      await writeFile(out, bytes);
      const summary = { out, modality, shape: e.shape, checkpoint: run.path, step: run.step, backend: run.backend.name };
      io.stdout(o.json ? `${JSON.stringify(summary)}\n` : `omnitok embed: ${inputs.length} ${modality} input(s) → ${out} [${e.shape.join(', ')}] float32 (unit rows; ${run.path})\n`);
      run.model.dispose();
    });
}
