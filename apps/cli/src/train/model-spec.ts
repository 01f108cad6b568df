import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { type ClipModelConfig, hfClipModelConfig, type Objective, type TowerSpec } from '@omnitok/clip';
import { InvalidArgumentError } from '@omnitok/core';
import type { TokenShape } from './prepare.js';
import { findPretrainedClip, type PretrainedClip, type PretrainedOverrides } from './pretrained.js';

/**
 * `--model tiny|small|base|FILE.json|DIR`. A JSON file holds encoder overrides applied to every tower
 * (`size`, `width`, `depth`, `heads`, `mlpRatio`, `dropout`, …), the shared `embedDim`, and optional
 * per-tower overrides: `{ "size": "custom", "width": 64, "depth": 2, "heads": 2, "embedDim": 64,
 * "towers": { "text": { "depth": 1 } } }`. A folder is a Hugging Face CLIP model to fine-tune: its
 * architecture, weights and preprocessing.
 */
export interface ModelSpec {
  readonly name: string;
  readonly size: string;
  readonly common: Record<string, unknown>;
  readonly embedDim: number;
  readonly towers: Record<string, Record<string, unknown>>;
  readonly pretrained?: PretrainedClip;
}

const EMBED_DIMS: Record<string, number> = { tiny: 128, small: 256, base: 512 };

export async function loadModelSpec(model: string, cwd: string, log?: (line: string) => void, overrides: PretrainedOverrides = {}): Promise<ModelSpec> {
  if (overrides.maxPatches !== undefined && (model in EMBED_DIMS || model.toLowerCase().endsWith('.json'))) {
    throw new InvalidArgumentError('--max-patches', overrides.maxPatches, `a SigLIP 2 NaFlex --model (${model} is none)`);
  }
  if (model in EMBED_DIMS) return { name: model, size: model, common: { size: model }, embedDim: EMBED_DIMS[model]!, towers: {} };
  const pretrained = model.toLowerCase().endsWith('.json') ? undefined : await findPretrainedClip(model, cwd, log, overrides);
  if (!pretrained && overrides.maxPatches !== undefined) throw new InvalidArgumentError('--max-patches', overrides.maxPatches, `a SigLIP 2 NaFlex --model (${model} is none)`);
  if (pretrained) return { name: model, size: 'pretrained', common: {}, embedDim: pretrained.shapes.embedDim, towers: {}, pretrained };
  if (!model.toLowerCase().endsWith('.json')) throw new InvalidArgumentError('--model', model, 'tiny, small, base, a FILE.json model config, or a CLIP / SigLIP / open_clip model folder or Hugging Face model id');
  let json: unknown;
  try {
    json = JSON.parse(await readFile(resolve(cwd, model), 'utf8'));
  } catch (error) {
    throw new InvalidArgumentError('--model', model, 'a readable JSON model config', { cause: error });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new InvalidArgumentError('--model', model, 'a JSON object');
  const { embedDim, towers, ...common } = json as Record<string, unknown>;
  const size = typeof common.size === 'string' ? common.size : 'custom';
  const width = typeof common.width === 'number' ? common.width : undefined;
  const dim = embedDim ?? EMBED_DIMS[size] ?? width;
  if (typeof dim !== 'number' || !Number.isInteger(dim) || dim < 1) throw new InvalidArgumentError('--model', model, 'a config with a positive integer embedDim (or a named size / width)');
  if (towers !== undefined && (typeof towers !== 'object' || towers === null)) throw new InvalidArgumentError('--model', model, '"towers" as an object of per-modality overrides');
  return { name: model, size, common: { size, ...common }, embedDim: dim, towers: (towers ?? {}) as Record<string, Record<string, unknown>> };
}

/**
 * The model of a run: one tower per modality (continuous: CLS pooling; discrete: causal, EOT pooling),
 * or a pretrained model's two towers (`logits`: the checkpoint's temperature and SigLIP bias).
 */
export function buildModelConfig(spec: ModelSpec, shapes: ReadonlyMap<string, TokenShape>, modalities: readonly string[], pairs: readonly (readonly [string, string])[], objective: Objective, seed: number, logits: { logitScale?: number; logitBias?: number } = {}): ClipModelConfig {
  if (spec.pretrained) return { ...hfClipModelConfig(spec.pretrained.config, { seed, ...spec.pretrained.options, ...logits }), pairs: pairs.map(([a, b]) => [a, b] as [string, string]), objective };
  const towers: Record<string, TowerSpec> = {};
  for (const m of modalities) {
    const s = shapes.get(m)!;
    const tokens = s.kind === 'continuous' ? { kind: 'continuous' as const, dim: s.dim, count: s.count, ...(s.grid ? { grid: s.grid } : {}) } : { kind: 'discrete' as const, vocabSize: s.vocabSize, count: s.count };
    const kindDefaults = s.kind === 'continuous' ? { pooling: 'cls' } : { pooling: 'eot', causal: true };
    towers[m] = { ...kindDefaults, ...spec.common, ...(spec.towers[m] ?? {}), tokens } as TowerSpec;
  }
  return { towers, embedDim: spec.embedDim, pairs: pairs.map(([a, b]) => [a, b] as [string, string]), objective, seed };
}
