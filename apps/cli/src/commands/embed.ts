import { mkdir, stat, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { type Embeddings, encodeEmbeddings } from '@omnitok/clip';
import { extensionOf, InvalidArgumentError, type ModalityRegistry, type TokenSequence } from '@omnitok/core';
import type { BackendChoice } from '@omnitok/core/runtime';
import type { Command } from 'commander';
import type { VideoPreset } from '@omnitok/tokenizer-video';
import type { CliIO } from '../io.js';
import { embedSamples } from '../train/evaluate.js';
import type { ModalitySetup } from '../train/prepare.js';
import { type LoadedRun, loadRun } from '../train/load-run.js';
import { tokenizeValue } from '../train/prepare.js';
import { BACKEND_OPTION, numArg } from './train.js';

/** `omnitok embed`: unit embeddings [n, embedDim] of inputs of one modality, as .npy or .safetensors. */
export function embedCommand(program: Command, io: CliIO, registry: () => Promise<ModalityRegistry>): void {
  program
    .command('embed')
    .description('embed inputs of one modality with a trained run into FILE.npy or FILE.safetensors')
    .argument('<inputs...>', 'files (or inline texts for a text modality)')
    .requiredOption('--checkpoint <dir>', 'a run directory (its newest checkpoint), a step-* directory, or a Hugging Face CLIP or SigLIP model folder')
    .requiredOption('--modality <m>', "one of the run's modalities")
    .requiredOption('--out <file>', 'FILE.npy (one [n, d] float32 matrix) or FILE.safetensors (with metadata)')
    .option('--window <seconds>', 'video: one row per window of this many seconds of each input, in time order (metadata: the windows)', numArg('--window', 1e-3))
    .option('--hop <seconds>', 'with --window: seconds between window starts (default: the window length)', numArg('--hop', 1e-3))
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
      let e: Embeddings;
      const metadata: Record<string, string> = { checkpoint: run.path, step: String(run.step), modality, inputs: JSON.stringify(inputs) };
      if (o.window !== undefined) {
        if (setup.plugin.modality !== 'video') throw new InvalidArgumentError('--window', o.window, `a video modality (${modality} is ${setup.plugin.modality})`);
        const windows = await embedWindows(run, setup, inputs.map((i) => resolve(io.cwd, i)), o.window as number, (o.hop as number | undefined) ?? (o.window as number));
        e = windows.embeddings;
        metadata.windows = JSON.stringify(windows.spans); // [input index, start s, end s] per row
      } else {
        const rows: TokenSequence[] = [];
        for (const input of inputs) {
          const path = resolve(io.cwd, input);
          const isFile = await stat(path).then((s) => s.isFile(), () => false);
          rows.push(await tokenizeValue(setup, isFile || !setup.plugin.acceptsText ? path : { text: input }));
        }
        e = await embedSamples(run.backend.tf, run.model, modality, rows);
      }
      const bytes = encodeEmbeddings(ext, { [modality]: e }, metadata);
      await mkdir(dirname(out), { recursive: true });
      await writeFile(out, bytes);
      const summary = { out, modality, shape: e.shape, checkpoint: run.path, step: run.step, backend: run.backend.name };
      io.stdout(o.json ? `${JSON.stringify(summary)}\n` : `omnitok embed: ${inputs.length} ${modality} input(s) → ${out} [${e.shape.join(', ')}] float32 (unit rows; ${run.path})\n`);
      run.model.dispose();
    });
}

/** Rows embedded per model call while windows stream in (a long video never holds more). */
const WINDOW_BATCH = 32;

/**
 * `--window`: every input's windows through `streamVideoWindows` with the run's preset (one read per
 * file, only open windows in memory), embedded WINDOW_BATCH at a time. The rows' order: input by
 * input, windows in time order; `spans` says which input and seconds each row covers.
 */
async function embedWindows(run: LoadedRun, setup: ModalitySetup, paths: readonly string[], seconds: number, hop: number): Promise<{ embeddings: Embeddings; spans: [number, number, number][] }> {
  const { streamVideoWindows } = await import('@omnitok/tokenizer-video');
  const D = run.model.config.embedDim;
  const parts: Float32Array[] = [];
  const spans: [number, number, number][] = [];
  let batch: TokenSequence[] = [];
  const flush = async () => {
    if (batch.length > 0) parts.push((await embedSamples(run.backend.tf, run.model, setup.modality, batch)).data);
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
  const data = new Float32Array(spans.length * D);
  let at = 0;
  for (const p of parts) {
    data.set(p, at);
    at += p.length;
  }
  return { embeddings: { data, shape: [spans.length, D] }, spans };
}
