import { resolve } from 'node:path';
import { extensionOf, InvalidArgumentError, type ModalityRegistry, type TokenSequence } from '@omnitok/core';
import type { BackendChoice } from '@omnitok/core/runtime';
import type { Command } from 'commander';
import type { VideoPreset } from '@omnitok/tokenizer-video';
import { textModalities } from '../data/open-source.js';
import type { CliIO } from '../io.js';
import { type EmbeddingsWriter, openEmbeddingsWriter } from '../embeddings-writer.js';
import { commandRecords, embedRecords } from '../train/embed-stream.js';
import { embedSamples } from '../train/evaluate.js';
import { type LoadedRun, loadRun } from '../train/load-run.js';
import type { ModalitySetup } from '../train/prepare.js';
import { addStreamOptions, CHECKPOINT_OPTION, MAX_PATCHES_OPTION } from './model-options.js';
import { BACKEND_OPTION, numArg } from './train.js';

/** `omnitok embed`: unit embeddings [n, embedDim] of inputs of one modality, as .npy or .safetensors. */
export function embedCommand(program: Command, io: CliIO, registry: () => Promise<ModalityRegistry>): void {
  const command = program
    .command('embed')
    .description('embed inputs of one modality with a trained run or a pretrained model into FILE.npy or FILE.safetensors')
    .argument('[inputs...]', 'files (or inline texts for a text modality)')
    .addOption(CHECKPOINT_OPTION())
    .requiredOption('--modality <m>', "one of the run's modalities")
    .requiredOption('--out <file>', 'FILE.npy (one [n, d] float32 matrix) or FILE.safetensors (with metadata)')
    .option('--data <source>', "instead of inputs: the modality's field of every record of FILE.jsonl, FILE.csv or shards (streamed)")
    .option('--skip-bad', 'skip inputs that fail to decode or tokenize (listed in the summary) instead of stopping at the first');
  addStreamOptions(command, 'inputs')
    .option('--window <seconds>', 'video: one row per window of this many seconds of each input, in time order (metadata: the windows)', numArg('--window', 1e-3))
    .option('--hop <seconds>', 'with --window: seconds between window starts (default: the window length)', numArg('--hop', 1e-3))
    .addOption(MAX_PATCHES_OPTION())
    .addOption(BACKEND_OPTION())
    .option('--json', 'print a JSON summary')
    .action(async (inputs: string[], o: Record<string, unknown>) => {
      const out = resolve(io.cwd, o.out as string);
      const ext = extensionOf(out);
      if (ext !== 'npy' && ext !== 'safetensors') throw new InvalidArgumentError('--out', o.out, 'a file name ending in .npy or .safetensors');
      const data = o.data as string | undefined;
      if (o.window !== undefined && (data !== undefined || inputs.length === 0)) throw new InvalidArgumentError('--window', o.window, 'input video files as arguments (not --data)');
      const reg = await registry();
      const modality = o.modality as string;
      const run = await loadRun(o.checkpoint as string, io.cwd, reg, o.backend as BackendChoice, { log: io.stderr, modalities: [modality], maxPatches: o.maxPatches as number | undefined });
      const setup = run.setups.get(modality);
      if (!setup) throw new InvalidArgumentError('--modality', modality, `one of the run's modalities (${run.config.modalities.join(', ')})`);
      const writer = await openEmbeddingsWriter(out, modality, run.model.config.embedDim);
      let embedded: string[];
      let skipped: { input: string; reason: string }[] = [];
      const metadata: Record<string, string> = { checkpoint: run.path, step: String(run.step), modality };
      let shape: [number, number];
      try {
        if (o.window !== undefined) {
          if (setup.plugin.modality !== 'video') throw new InvalidArgumentError('--window', o.window, `a video modality (${modality} is ${setup.plugin.modality})`);
          const spans = await embedWindows(run, setup, inputs.map((i) => resolve(io.cwd, i)), o.window as number, (o.hop as number | undefined) ?? (o.window as number), writer);
          embedded = inputs;
          metadata.windows = JSON.stringify(spans); // [input index, start s, end s] per row
        } else {
          const records = await commandRecords(inputs, data, { cwd: io.cwd, modality, acceptsText: Boolean(setup.plugin.acceptsText), textModalities: textModalities(reg), allowOutsideRoot: Boolean(o.allowOutsideRoot) });
          const result = await embedRecords(run.backend.tf, run.model, [setup], records, {
            skipBad: Boolean(o.skipBad),
            batchSize: o.batchSize as number,
            concurrency: o.concurrency as number,
            onBatch: (_keys, rows) => writer.append(rows.get(modality)!),
          });
          embedded = [...result.keys];
          skipped = [...result.skipped];
          if (skipped.length > 0) {
            for (const s of skipped.slice(0, 5)) io.stderr(`omnitok: skipped ${s.input}: ${s.reason}\n`);
            if (skipped.length > 5) io.stderr(`omnitok: … ${skipped.length - 5} more skipped (listed with --json)\n`);
          }
        }
        metadata.inputs = JSON.stringify(embedded); // row i embeds embedded[i] (--data: record keys)
        shape = await writer.finish(metadata);
      } catch (error) {
        await writer.abort();
        throw error;
      }
      const summary = { out, modality, shape, checkpoint: run.path, step: run.step, backend: run.backend.name, skipped };
      io.stdout(o.json ? `${JSON.stringify(summary)}\n` : `omnitok embed: ${embedded.length} ${modality} input(s) → ${out} [${shape.join(', ')}] float32 (unit rows; ${run.path})${skipped.length ? `; ${skipped.length} skipped` : ''}\n`);
      run.model.dispose();
    });
}

/** Rows embedded per model call while windows stream in (a long video never holds more). */
const WINDOW_BATCH = 32;

/**
 * `--window`: every input's windows through `streamVideoWindows` with the run's preset (one read per
 * file, only open windows in memory), embedded WINDOW_BATCH at a time into `writer`. The rows' order:
 * input by input, windows in time order; the spans say which input and seconds each row covers.
 */
async function embedWindows(run: LoadedRun, setup: ModalitySetup, paths: readonly string[], seconds: number, hop: number, writer: EmbeddingsWriter): Promise<[number, number, number][]> {
  const { streamVideoWindows } = await import('@omnitok/tokenizer-video');
  const spans: [number, number, number][] = [];
  let batch: TokenSequence[] = [];
  const flush = async () => {
    if (batch.length > 0) await writer.append((await embedSamples(run.backend.tf, run.model, setup.modality, batch)).data);
    batch = [];
  };
  for (const [i, path] of paths.entries()) {
    const decoded = await setup.plugin.decode(path);
    for await (const w of streamVideoWindows(decoded as never, setup.preset as string | VideoPreset | undefined, { seconds, hop }, setup.plugin.presets as never, setup.plugin.defaultPreset)) {
      batch.push(w);
      spans.push([i, w.start, w.end]);
      if (batch.length === WINDOW_BATCH) await flush();
    }
  }
  await flush();
  return spans;
}
