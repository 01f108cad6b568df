import { resolve } from 'node:path';
import { InvalidArgumentError, type ModalityRegistry } from '@omnitok/core';
import { type Command, Option } from 'commander';
import { meanStd, round, type Stage, stageArray } from '../format.js';
import type { CliIO } from '../io.js';
import { tokenizeInput } from '../tokenize-input.js';
import { writeArray } from '../write-array.js';

interface TokenizeOptions {
  modality?: string;
  preset?: string;
  stage: Stage;
  out?: string;
  json?: boolean;
  seed?: string;
  augment?: boolean;
}

export function tokenizeCommand(program: Command, io: CliIO, registry: () => Promise<ModalityRegistry>): void {
  program
    .command('tokenize')
    .description('turn one input (a file, or inline text with --modality text) into features or tokens')
    .argument('<input>', 'a file path (image, audio, video, text…) or, with --modality text, the text itself')
    .option('-m, --modality <name>', 'plugin or modality name (default: detected from the file bytes/extension)')
    .option('-p, --preset <name|file.json>', "preset name, or a JSON file with a custom preset (default: the plugin's)")
    .addOption(new Option('-s, --stage <stage>', 'features: preprocessed array before patching; tokens: [N, dim] or ids').choices(['features', 'tokens']).default('tokens'))
    .option('-o, --out <file>', 'write the array as FILE.npy or FILE.safetensors')
    .option('--seed <n>', 'seed for augmentation / random sampling')
    .option('--augment', "apply the preset's training augmentation")
    .option('--json', 'print one JSON object: modality, preset, stage, shape, grid, dtype, mean, std')
    .addHelpText(
      'after',
      `
Examples:
  omnitok tokenize cat.jpg --preset clip-vit-b-16 --json
  omnitok tokenize speech.wav --stage features --out mel.npy
  omnitok tokenize --modality text "a photo of a cat" --json`,
    )
    .action(async (input: string, options: TokenizeOptions) => {
      const seed = options.seed === undefined ? undefined : Number(options.seed);
      if (seed !== undefined && !Number.isSafeInteger(seed)) throw new InvalidArgumentError('--seed', options.seed, 'an integer');
      const { plugin, result } = await tokenizeInput(await registry(), {
        input,
        modality: options.modality,
        preset: options.preset,
        stage: options.stage,
        seed,
        augment: options.augment,
        cwd: io.cwd,
      });
      const array = stageArray(result);
      const { mean, std } = meanStd(array.data);
      const grid = 'grid' in result ? [...result.grid] : null;
      const summary: Record<string, unknown> = {
        modality: result.modality,
        plugin: plugin.name,
        preset: result.preset,
        stage: options.stage,
        shape: [...array.shape],
        grid,
        dtype: array.dtype,
        mean: round(mean),
        std: round(std),
        source: result.source ?? input,
      };
      if ('kind' in result && result.kind === 'discrete') {
        summary.length = result.length;
        summary.ids = Array.from(result.ids.subarray(0, result.length));
      } else if (array.dtype === 'int32') {
        summary.ids = Array.from(array.data);
      }
      if (options.out) {
        const out = resolve(io.cwd, options.out);
        const metadata: Record<string, string> = { modality: result.modality, preset: result.preset, stage: options.stage, plugin: plugin.name };
        if (grid) metadata.grid = JSON.stringify(grid);
        if ('axes' in result) metadata.axes = JSON.stringify(result.axes);
        await writeArray(out, array, options.stage, metadata);
        summary.out = out;
      }
      if (options.json) {
        io.stdout(`${JSON.stringify(summary)}\n`);
        return;
      }
      io.stdout(
        `${summary.modality} · ${summary.preset} · ${options.stage} [${array.shape.join(', ')}] ${array.dtype}` +
          `${grid ? ` · grid [${grid.join(', ')}]` : ''} · mean ${summary.mean} · std ${summary.std}\n`,
      );
      if (summary.ids) io.stdout(`ids: ${(summary.ids as number[]).join(' ')}\n`);
      if (summary.out) io.stdout(`wrote ${summary.out}\n`);
    });
}
