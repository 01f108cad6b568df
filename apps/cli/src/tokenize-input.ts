import { stat, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  type AnyModalityPlugin,
  type Features,
  InvalidArgumentError,
  type ModalityInput,
  type ModalityRegistry,
  NoSuchModalityError,
  DecodeError,
  preprocessToTokens,
  type TokenSequence,
} from '@omnitok/core';
import type { Stage } from './format.js';

export interface TokenizeRequest {
  /** A file path, or inline text for a plugin that accepts text. */
  readonly input: string;
  /** A plugin name or a modality name; detected from the file when absent. */
  readonly modality?: string;
  /** A preset name, or a path to a JSON file holding a custom preset. */
  readonly preset?: string;
  readonly stage: Stage;
  readonly seed?: number;
  readonly augment?: boolean;
  readonly cwd: string;
}

export interface TokenizeResult {
  readonly plugin: AnyModalityPlugin;
  readonly stage: Stage;
  readonly result: Features | TokenSequence;
}

/** Finds the plugin by plugin name first, then by modality (first registered wins). */
export function pluginFor(registry: ModalityRegistry, modality: string): AnyModalityPlugin {
  if (registry.has(modality)) return registry.get(modality);
  const byModality = registry.byModality(modality);
  if (byModality[0]) return byModality[0];
  throw new NoSuchModalityError(modality, registry.names);
}

/** Runs decode → preprocess (→ tokenize) for one input, the way `omnitok tokenize` does. */
export async function tokenizeInput(registry: ModalityRegistry, request: TokenizeRequest): Promise<TokenizeResult> {
  const path = resolve(request.cwd, request.input);
  const isFile = await stat(path).then(
    (s) => s.isFile(),
    () => false,
  );
  let plugin: AnyModalityPlugin;
  let input: ModalityInput;
  if (request.modality) {
    plugin = pluginFor(registry, request.modality);
    input = isFile ? path : plugin.acceptsText ? { text: request.input } : path;
  } else {
    if (!isFile) {
      const hint = registry.list().some((p) => p.acceptsText) ? ' (for inline text, pass --modality text)' : '';
      throw new DecodeError(request.input, 'any', `no such file${hint}`);
    }
    plugin = (await registry.resolve(path)).plugin;
    input = path;
  }
  const preset = await loadPreset(request.preset, request.cwd);
  const decoded = await plugin.decode(input);
  const options = { seed: request.seed, augment: request.augment };
  // Tokens: the plugin's fused path when it has one (the same tokens, no features in between).
  const result = request.stage === 'tokens' ? await preprocessToTokens(plugin, decoded, preset, options) : ((await plugin.preprocess(decoded, preset, options)) as Features);
  return { plugin, stage: request.stage, result };
}

/** A preset name passes through; `*.json` is read as a custom preset object. */
async function loadPreset(preset: string | undefined, cwd: string): Promise<string | object | undefined> {
  if (preset === undefined || !preset.toLowerCase().endsWith('.json')) return preset;
  let text: string;
  try {
    text = await readFile(resolve(cwd, preset), 'utf8');
  } catch (error) {
    throw new InvalidArgumentError('--preset', preset, 'a preset name or a readable JSON file', { cause: error });
  }
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
    return value;
  } catch (error) {
    throw new InvalidArgumentError('--preset', preset, 'a JSON file holding one preset object', { cause: error });
  }
}
