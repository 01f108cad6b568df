import { resolve } from 'node:path';
import { type ClipModel, createClipModel, loadHfClip, readHfClipWeights } from '@omnitok/clip';
import { InvalidArgumentError, type ModalityRegistry } from '@omnitok/core';
import { type BackendChoice, type BackendInfo, CheckpointError, loadCheckpoint } from '@omnitok/core/runtime';
import { pluginFor } from '../tokenize-input.js';
import { selectBackend } from './backend.js';
import { findPretrainedClip, PRETRAINED_MODALITIES, type PretrainedClip } from './pretrained.js';
import type { ModalitySetup } from './prepare.js';
import type { RunConfig } from './run-train.js';

/**
 * What eval and embed read of a model: a trained run's config, or a pretrained folder's, which has
 * no data of its own and no training settings.
 */
export type ModelRunConfig = Pick<RunConfig, 'model' | 'modalities' | 'pairs' | 'plugins' | 'presets'> & {
  readonly data?: string;
  readonly train?: Pick<RunConfig['train'], 'evalFraction'>;
  /** Zero-shot defaults: a run's classes and prompts; a pretrained model's prompts only. */
  readonly zeroShot?: { readonly classNames?: readonly string[]; readonly templates: readonly string[] };
};

/** CLIP's basic prompt (the paper's "A photo of a {label}."): a pretrained model's zero-shot default. */
export const PRETRAINED_TEMPLATES: readonly string[] = ['a photo of a {}.'];

export interface LoadedRun {
  readonly path: string;
  readonly step: number;
  readonly config: ModelRunConfig;
  readonly model: ClipModel;
  readonly setups: ReadonlyMap<string, ModalitySetup>;
  readonly backend: BackendInfo;
}

export interface LoadRunOptions {
  /** Progress lines (a Hub model's downloads). */
  readonly log?: (line: string) => void;
  /**
   * The modalities the command uses: a pretrained model builds and reads only their towers (an image
   * embedding never allocates the text tower). A trained run loads every tower.
   */
  readonly modalities?: readonly string[];
  /** SigLIP 2 NaFlex: another patch budget per image than the processor's (`--max-patches`). */
  readonly maxPatches?: number;
}

/**
 * A model from `--checkpoint`: a run directory (its newest checkpoint), a step-* directory, or a
 * pretrained model (Hugging Face CLIP / SigLIP, or an open_clip upload; step 0) as a local folder or a
 * Hub id (`findPretrainedClip`).
 */
export async function loadRun(checkpoint: string, cwd: string, registry: ModalityRegistry, backendChoice: BackendChoice, options: LoadRunOptions = {}): Promise<LoadedRun> {
  const pretrained = await findPretrainedClip(checkpoint, cwd, options.log, { maxPatches: options.maxPatches });
  if (pretrained) return loadPretrained(pretrained, registry, backendChoice, options.modalities);
  if (options.maxPatches !== undefined) throw new InvalidArgumentError('--max-patches', options.maxPatches, `a SigLIP 2 NaFlex model folder or Hub id (${checkpoint} is a trained run: its patch budget is its own)`);
  const ck = loadCheckpoint(resolve(cwd, checkpoint));
  const config = ck.config as RunConfig;
  if (config?.format !== 'omnitok-train/1') throw new CheckpointError(ck.path, 'config.json is not an omnitok train run config (format omnitok-train/1)');
  const backend = await selectBackend(backendChoice);
  const model = createClipModel(config.model, { init: 'skip' }); // every weight is loaded next (strict)
  model.loadStateDict(ck.weights, { source: ck.path });
  model.eval();
  return { path: ck.path, step: ck.step, config, model, setups: setupsOf(config, registry), backend };
}

/** A pretrained model as a step-0 run of an image and a text tower, tokenized as the model was trained. */
async function loadPretrained(p: PretrainedClip, registry: ModalityRegistry, backendChoice: BackendChoice, used?: readonly string[]): Promise<LoadedRun> {
  const weights = readHfClipWeights(p.dir, p.shapes.family);
  const backend = await selectBackend(backendChoice);
  const towers = used?.filter((m) => (PRETRAINED_MODALITIES as readonly string[]).includes(m));
  const { model } = loadHfClip(weights, p.config, { ...p.options, source: p.dir, towers: towers?.length ? towers : undefined });
  const modalities = [...PRETRAINED_MODALITIES];
  const config: ModelRunConfig = {
    model: model.config,
    modalities,
    pairs: [['image', 'text']],
    plugins: { image: 'image', text: 'text' },
    presets: { ...p.presets },
    zeroShot: { templates: PRETRAINED_TEMPLATES },
  };
  return { path: p.dir, step: 0, config, model, setups: setupsOf(config, registry), backend };
}

function setupsOf(config: ModelRunConfig, registry: ModalityRegistry): Map<string, ModalitySetup> {
  return new Map(config.modalities.map((m) => [m, { modality: m, plugin: pluginFor(registry, config.plugins[m] ?? m), preset: config.presets[m] ?? undefined } satisfies ModalitySetup] as const));
}
