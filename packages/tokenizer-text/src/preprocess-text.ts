import { type Features, InvalidArgumentError } from '@omnitok/core';
import type { TextTokenizer } from './bpe-tokenizer.js';

/** What `tokenize` needs to know about the tokenizer; plain JSON, carried on the features. */
export interface TextTokenizerInfo {
  readonly kind: TextTokenizer['kind'];
  readonly vocabSize: number;
  readonly contextLength: number;
  readonly sot: number | null;
  readonly eot: number | null;
  /** Padding id (0 except SentencePiece models that pad with another); absent in older features = 0. */
  readonly pad?: number;
  readonly truncate: boolean;
}

/**
 * Text features: the ids of the text without specials and without a length limit, shape `[n]`,
 * axes `['token']`, plus the tokenizer facts `tokenize` needs to build the row.
 */
export interface TextFeatures extends Features {
  readonly data: Int32Array;
  readonly shape: readonly [tokens: number];
  readonly axes: readonly ['token'];
  readonly tokenizer: TextTokenizerInfo;
}

/** Runs the tokenizer on `text` (CLIP normalization included for BPE kinds). */
export function preprocessText(
  text: string,
  tokenizer: TextTokenizer,
  meta: { preset: string; source?: string; truncate?: boolean },
): TextFeatures {
  if (typeof text !== 'string') throw new InvalidArgumentError('decoded', text, 'the string that decode returned');
  const data = tokenizer.encodeIds(text);
  return {
    data,
    shape: [data.length],
    axes: ['token'],
    modality: 'text',
    preset: meta.preset,
    ...(meta.source !== undefined ? { source: meta.source } : {}),
    tokenizer: {
      kind: tokenizer.kind,
      vocabSize: tokenizer.vocabSize,
      contextLength: tokenizer.contextLength,
      sot: tokenizer.sot ?? null,
      eot: tokenizer.eot ?? null,
      pad: tokenizer.pad,
      truncate: meta.truncate ?? true,
    },
  };
}
