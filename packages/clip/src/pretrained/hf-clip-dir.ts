import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { decodeSafetensors, type SafetensorsFile } from '@omnitok/core';
import { CheckpointError } from '@omnitok/core/runtime';
import { type HfClipConfig, type HfClipOptions, isHfClipConfig, type LoadedHfClip, loadHfClip } from './hf-clip.js';

/**
 * A downloaded Hugging Face CLIP or SigLIP model folder (`huggingface-cli download
 * openai/clip-vit-base-patch32`, `google/siglip-base-patch16-224`, or `git clone`): `config.json`,
 * `model.safetensors` (or shards named by `model.safetensors.index.json`) and, when present,
 * `preprocessor_config.json` (and SigLIP's `spiece.model`, which the text preset names).
 */
export interface HfClipDir {
  readonly dir: string;
  readonly config: HfClipConfig;
  /** The parsed `preprocessor_config.json`, or undefined when the folder has none. */
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

/** True when `dir` is a folder whose config.json describes a Hugging Face CLIPModel or SiglipModel. */
export function isHfClipDir(dir: string): boolean {
  const path = join(dir, 'config.json');
  try {
    return statSync(dir).isDirectory() && existsSync(path) && isHfClipConfig(JSON.parse(readFileSync(path, 'utf8')));
  } catch {
    return false;
  }
}

/** Reads a model folder's config.json and preprocessor_config.json (not the weights). */
export function readHfClipDir(dir: string): HfClipDir {
  const root = resolve(dir);
  const config = readJson(join(root, 'config.json'));
  if (!isHfClipConfig(config)) {
    const c = config as { model_type?: unknown } | null;
    throw new CheckpointError(join(root, 'config.json'), `model_type ${JSON.stringify(c?.model_type)} is neither "clip" nor "siglip" (a Hugging Face CLIPModel or SiglipModel)`);
  }
  const processorPath = join(root, 'preprocessor_config.json');
  const processor = existsSync(processorPath) ? readJson(processorPath) : undefined;
  if (processor !== undefined && (typeof processor !== 'object' || processor === null || Array.isArray(processor))) throw new CheckpointError(processorPath, 'not a JSON object');
  return { dir: root, config, processor: processor as Record<string, unknown> | undefined };
}

/** The folder's safetensors weights: `model.safetensors`, or every shard its index names. */
export function readHfClipWeights(dir: string): SafetensorsFile[] {
  const root = resolve(dir);
  const decode = (path: string): SafetensorsFile => {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(path);
    } catch (error) {
      throw new CheckpointError(path, `cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, { cause: error });
    }
    try {
      return decodeSafetensors(bytes);
    } catch (error) {
      throw new CheckpointError(path, `not a safetensors file: ${(error as Error).message}`, { cause: error });
    }
  };
  const single = join(root, 'model.safetensors');
  if (existsSync(single)) return [decode(single)];
  const indexPath = join(root, 'model.safetensors.index.json');
  if (existsSync(indexPath)) {
    const index = readJson(indexPath) as { weight_map?: unknown } | null;
    const map = index?.weight_map;
    if (typeof map !== 'object' || map === null || !Object.values(map).every((v) => typeof v === 'string' && !v.includes('/') && !v.includes('\\'))) {
      throw new CheckpointError(indexPath, 'weight_map must map tensor names to shard file names in the same folder');
    }
    return [...new Set(Object.values(map) as string[])].map((shard) => decode(join(root, shard)));
  }
  const pickle = ['pytorch_model.bin', 'open_clip_pytorch_model.bin'].find((f) => existsSync(join(root, f)));
  throw new CheckpointError(
    root,
    pickle
      ? `has ${pickle} (a PyTorch pickle) but no model.safetensors: convert it once with Python, e.g. transformers' CLIPModel.from_pretrained(dir).save_pretrained(dir, safe_serialization=True)`
      : 'has no model.safetensors (nor model.safetensors.index.json)',
  );
}

/**
 * Loads a Hugging Face CLIP or SigLIP model folder: config, weights (F32, F16 or BF16; sharded or not)
 * and the image processor's config (for `imagePresetFromHfProcessor` of @omnitok/tokenizer-image).
 */
export function loadHfClipDir(dir: string, options: HfClipOptions = {}): LoadedHfClip & HfClipDir {
  const read = readHfClipDir(dir);
  const loaded = loadHfClip(readHfClipWeights(read.dir), read.config, { ...options, source: read.dir });
  return { ...read, ...loaded };
}
