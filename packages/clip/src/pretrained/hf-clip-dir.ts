import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { InvalidArgumentError, openSafetensors, type SafetensorsFile } from '@omnitok/core';
import { CheckpointError } from '@omnitok/core/runtime';
import type { HfFamily } from '@omnitok/core/runtime';
import { type HfClipConfig, hfModelFamily, isHfClipConfig, type LoadedHfClip, type LoadHfClipOptions, loadHfClip } from './hf-clip.js';

/**
 * A downloaded model folder (`huggingface-cli download …`, or `git clone`): a Hugging Face CLIP or
 * SigLIP model (`config.json`, `model.safetensors` or shards named by `model.safetensors.index.json`,
 * `preprocessor_config.json` when present, and SigLIP's `spiece.model`, which the text preset names),
 * or an open_clip upload (`open_clip_config.json` and `open_clip_model.safetensors`). A folder with
 * both (LAION's uploads) is read as the Hugging Face model.
 */
export interface HfClipDir {
  readonly dir: string;
  readonly family: HfFamily;
  /** config.json, or open_clip_config.json for family `open_clip`. */
  readonly config: HfClipConfig;
  /** The preprocessing: `preprocessor_config.json` (undefined when absent), or open_clip's `preprocess_cfg`. */
  readonly processor: Record<string, unknown> | undefined;
}

function readJson(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CheckpointError(path, `cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CheckpointError(path, `not valid JSON (${(error as Error).message})`, { cause: error });
  }
}

/** True when `dir` is a folder with a Hugging Face CLIPModel / SiglipModel / Siglip2Model config.json or an open_clip_config.json. */
export function isHfClipDir(dir: string): boolean {
  const check = (name: string) => {
    try {
      return isHfClipConfig(JSON.parse(readFileSync(join(dir, name), 'utf8')));
    } catch {
      return false;
    }
  };
  try {
    return statSync(dir).isDirectory() && (check('config.json') || check(OPEN_CLIP_CONFIG));
  } catch {
    return false;
  }
}

const OPEN_CLIP_CONFIG = 'open_clip_config.json';
const OPEN_CLIP_WEIGHTS = 'open_clip_model.safetensors';

/** Reads a model folder's config and preprocessing config (not the weights). */
export function readHfClipDir(dir: string): HfClipDir {
  const root = resolve(dir);
  const hfConfig = join(root, 'config.json');
  // a Hugging Face CLIP / SigLIP config.json wins; otherwise an open_clip upload's own config
  const hf = existsSync(hfConfig) && isHfClipConfig(readJson(hfConfig));
  if (!hf && existsSync(join(root, OPEN_CLIP_CONFIG))) {
    const config = readJson(join(root, OPEN_CLIP_CONFIG)) as HfClipConfig;
    if (hfModelFamily(config) !== 'open_clip') throw new CheckpointError(join(root, OPEN_CLIP_CONFIG), 'has no model_cfg object');
    const pre = config.preprocess_cfg;
    if (pre !== undefined && (typeof pre !== 'object' || pre === null || Array.isArray(pre))) throw new CheckpointError(join(root, OPEN_CLIP_CONFIG), 'preprocess_cfg is not an object');
    return { dir: root, family: 'open_clip', config, processor: pre };
  }
  const config = readJson(hfConfig);
  const family = hfModelFamily(config);
  if (!family || family === 'open_clip') {
    const c = config as { model_type?: unknown } | null;
    throw new CheckpointError(join(root, 'config.json'), `model_type ${JSON.stringify(c?.model_type)} is not "clip", "siglip" or "siglip2" (a Hugging Face CLIPModel, SiglipModel or Siglip2Model)`);
  }
  const processorPath = join(root, 'preprocessor_config.json');
  const processor = existsSync(processorPath) ? readJson(processorPath) : undefined;
  if (processor !== undefined && (typeof processor !== 'object' || processor === null || Array.isArray(processor))) throw new CheckpointError(processorPath, 'not a JSON object');
  return { dir: root, family, config: config as HfClipConfig, processor: processor as Record<string, unknown> | undefined };
}

/**
 * The folder's safetensors weights: `model.safetensors` or every shard its index names, or for an
 * open_clip upload `open_clip_model.safetensors` (`family`: as `readHfClipDir` found it; read when absent).
 * Headers are read and checked now; each tensor's data is read from its file when asked for
 * (`openSafetensors`), so the files must stay in place until the weights are imported.
 */
export function readHfClipWeights(dir: string, family: HfFamily = readHfClipDir(dir).family): SafetensorsFile[] {
  const root = resolve(dir);
  // tensor by tensor from the file: an import holds the model and one tensor, never the whole file
  const decode = (path: string): SafetensorsFile => {
    try {
      return openSafetensors(path);
    } catch (error) {
      const reason = error instanceof InvalidArgumentError ? `not a safetensors file: ${error.message}` : `cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
      throw new CheckpointError(path, reason, { cause: error });
    }
  };
  if (family === 'open_clip' && existsSync(join(root, OPEN_CLIP_WEIGHTS))) return [decode(join(root, OPEN_CLIP_WEIGHTS))];
  const single = join(root, 'model.safetensors');
  if (family !== 'open_clip' && existsSync(single)) return [decode(single)];
  const indexPath = join(root, 'model.safetensors.index.json');
  if (family !== 'open_clip' && existsSync(indexPath)) {
    const index = readJson(indexPath) as { weight_map?: unknown } | null;
    const map = index?.weight_map;
    if (typeof map !== 'object' || map === null || !Object.values(map).every((v) => typeof v === 'string' && !v.includes('/') && !v.includes('\\'))) {
      throw new CheckpointError(indexPath, 'weight_map must map tensor names to shard file names in the same folder');
    }
    return [...new Set(Object.values(map) as string[])].map((shard) => decode(join(root, shard)));
  }
  const [pickle, want] = family === 'open_clip' ? ['open_clip_pytorch_model.bin', OPEN_CLIP_WEIGHTS] : ['pytorch_model.bin', 'model.safetensors'];
  throw new CheckpointError(
    root,
    existsSync(join(root, pickle))
      ? `has ${pickle} (a PyTorch pickle) but no ${want}: convert it once with Python, e.g. safetensors.torch.save_file(torch.load('${pickle}', map_location='cpu'), '${want}')`
      : `has no ${want}${family === 'open_clip' ? '' : ' (nor model.safetensors.index.json)'}`,
  );
}

/**
 * Loads a Hugging Face CLIP or SigLIP model folder or an open_clip upload: config, weights (F32, F16 or
 * BF16; sharded or not) and the preprocessing config (for @omnitok/tokenizer-image's
 * `imagePresetFromHfProcessor` / `imagePresetFromOpenClip`).
 */
export function loadHfClipDir(dir: string, options: Omit<LoadHfClipOptions, 'source'> = {}): LoadedHfClip & HfClipDir {
  const read = readHfClipDir(dir);
  // NaFlex: as many patch rows as the folder's processor makes
  const maxPatches = read.family === 'siglip2' && typeof read.processor?.max_num_patches === 'number' ? read.processor.max_num_patches : undefined;
  const loaded = loadHfClip(readHfClipWeights(read.dir, read.family), read.config, { maxPatches, ...options, source: read.dir });
  return { ...read, ...loaded };
}
