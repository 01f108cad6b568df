import { type DiscreteTokens, discreteTokens, InvalidArgumentError } from '@omnitok/core';
import { packIds } from './pack-ids.js';
import type { TextFeatures } from './preprocess-text.js';

/**
 * Text features → one row of discrete tokens: `[SOT, ...ids, EOT]`, cut open_clip style (the last
 * id stays EOT) unless the preset said `truncate: false` (then `InvalidArgumentError`), padded (id 0,
 * or the SentencePiece preset's `padId`) to `contextLength`, with the mask and the EOT index for pooling.
 */
export function tokenizeText(features: TextFeatures): DiscreteTokens {
  const info = features?.tokenizer;
  if (!(features?.data instanceof Int32Array) || !info || typeof info.contextLength !== 'number') {
    throw new InvalidArgumentError('features', features, 'text features from preprocess (Int32Array data and tokenizer info)');
  }
  const specials = { ...(info.sot !== null ? { sot: info.sot } : {}), ...(info.eot !== null ? { eot: info.eot } : {}), pad: info.pad ?? 0 };
  const row = packIds(features.data, specials, info.contextLength, info.truncate, () => features.source ?? '<text>');
  return discreteTokens({
    ids: row.ids,
    length: row.length,
    mask: row.mask,
    vocabSize: info.vocabSize,
    eotIndex: row.eotIndex,
    modality: 'text',
    preset: features.preset,
    ...(features.source !== undefined ? { source: features.source } : {}),
  });
}
