import { type DiscreteTokens, type ModalityPlugin, type PreprocessOptions, resolvePreset } from '@omnitok/core';
import type { TextTokenizer } from './bpe-tokenizer.js';
import { decodeText } from './decode-text.js';
import { TEXT_FILE_TYPES } from './file-types.js';
import { type TextFeatures, preprocessText } from './preprocess-text.js';
import { DEFAULT_TEXT_PRESET, TEXT_PRESETS, type TextPreset, validateTextPreset } from './presets.js';
import { tokenizerForPreset } from './tokenizer-for-preset.js';
import { tokenizeText } from './tokenize-text.js';

export const VERSION = '0.1.0';

export interface TextTokenizerPluginOptions {
  /** Extra or replacement presets (plain JSON). */
  readonly presets?: Readonly<Record<string, TextPreset>>;
  /** Default preset name; `clip` unless given. */
  readonly defaultPreset?: string;
}

/** `preprocess` options: the common ones plus the source label to record on the features. */
export interface TextPreprocessOptions extends PreprocessOptions {
  readonly source?: string;
}

/** The text plugin, plus access to the tokenizer behind a preset (for batch work). */
export interface TextTokenizerPlugin extends ModalityPlugin<string, TextPreset, TextFeatures, DiscreteTokens> {
  preprocess(decoded: string, preset?: string | TextPreset, options?: TextPreprocessOptions): TextFeatures;
  /** The tokenizer of a preset (name or inline object), e.g. for `encodeBatch`. */
  tokenizer(preset?: string | TextPreset): TextTokenizer;
}

/**
 * The text modality plugin: `decode` → string, `preprocess` → BPE (or byte) ids `[n]` without
 * specials, `tokenize` → a `[contextLength]` row with SOT/EOT, padding, mask and EOT index.
 * Presets: `clip` (default; CLIP BPE, 77), `long-clip` (248), `bytes` (UTF-8 bytes, 256), or inline
 * objects such as `{ kind: 'clip-bpe', contextLength: 32 }`. Augmentation options are ignored: text
 * has none. Registers nothing; pass it to `createModalityRegistry`.
 */
export function textTokenizer(options: TextTokenizerPluginOptions = {}): TextTokenizerPlugin {
  const presets: Record<string, TextPreset> = { ...TEXT_PRESETS, ...(options.presets ?? {}) };
  for (const [name, preset] of Object.entries(presets)) validateTextPreset(name, preset);
  const defaultPreset = options.defaultPreset ?? DEFAULT_TEXT_PRESET;
  const cache = new Map<string, TextTokenizer>();
  const resolve = (preset: string | TextPreset | undefined) => {
    const resolved = resolvePreset('text', presets, preset, defaultPreset);
    return { name: resolved.name, preset: validateTextPreset(resolved.name, resolved.preset) };
  };
  return {
    specVersion: 1,
    name: 'text',
    modality: 'text',
    description: 'Text → CLIP BPE ids (exact openai/CLIP tokenizer), other BPE vocabularies, or UTF-8 bytes',
    version: VERSION,
    presets,
    defaultPreset,
    tokenKind: 'discrete',
    fileTypes: TEXT_FILE_TYPES,
    acceptsText: true,
    decode: decodeText,
    preprocess(decoded, preset, preprocessOptions = {}) {
      const { name, preset: p } = resolve(preset);
      return preprocessText(decoded, tokenizerForPreset(p, cache), { preset: name, source: preprocessOptions.source, truncate: p.truncate });
    },
    tokenize: tokenizeText,
    tokenizer(preset) {
      return tokenizerForPreset(resolve(preset).preset, cache);
    },
  };
}
