import { resolve } from 'node:path';
import { type ClipModel, createClipModel } from '@omnitok/clip';
import type { ModalityRegistry } from '@omnitok/core';
import { type BackendChoice, type BackendInfo, CheckpointError, loadCheckpoint } from '@omnitok/core/runtime';
import { pluginFor } from '../tokenize-input.js';
import { selectBackend } from './backend.js';
import type { ModalitySetup } from './prepare.js';
import type { RunConfig } from './run-train.js';

export interface LoadedRun {
  readonly path: string;
  readonly step: number;
  readonly config: RunConfig;
  readonly model: ClipModel;
  readonly setups: ReadonlyMap<string, ModalitySetup>;
  readonly backend: BackendInfo;
}

/** A trained model from `--checkpoint` (a run directory → its newest checkpoint, or a step-* directory). */
export async function loadRun(checkpoint: string, cwd: string, registry: ModalityRegistry, backendChoice: BackendChoice): Promise<LoadedRun> {
  const ck = loadCheckpoint(resolve(cwd, checkpoint));
  const config = ck.config as RunConfig;
  if (config?.format !== 'omnitok-train/1') throw new CheckpointError(ck.path, 'config.json is not an omnitok train run config (format omnitok-train/1)');
  const backend = await selectBackend(backendChoice);
  const model = createClipModel(config.model);
  model.loadStateDict(ck.weights, { source: ck.path });
  model.eval();
  const setups = new Map(
    config.modalities.map((m) => [m, { modality: m, plugin: pluginFor(registry, config.plugins[m] ?? m), preset: config.presets[m] ?? undefined } satisfies ModalitySetup] as const),
  );
  return { path: ck.path, step: ck.step, config, model, setups, backend };
}
