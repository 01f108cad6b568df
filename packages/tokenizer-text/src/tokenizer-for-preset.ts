import { BpeTokenizer, clipTokenizer, type TextTokenizer } from './bpe-tokenizer.js';
import { ByteTokenizer } from './byte-tokenizer.js';
import { SentencePieceTokenizer } from './sentencepiece.js';
import type { TextPreset } from './presets.js';
import { loadClipVocabulary, loadVocabJson } from './vocab-files.js';

/**
 * The tokenizer a (validated) preset describes. Vocabulary files are read once per `cache`;
 * a missing or malformed file throws `DecodeError` naming it.
 */
export function tokenizerForPreset(preset: TextPreset, cache: Map<string, TextTokenizer> = new Map()): TextTokenizer {
  const key = JSON.stringify([preset.kind, preset.contextLength, preset.merges, preset.vocab, preset.endOfWord, preset.maxMerges, preset.normalization, preset.model, preset.addEos, preset.addBos, preset.padId, preset.canonicalize]);
  let tokenizer = cache.get(key);
  if (!tokenizer) {
    const { contextLength } = preset;
    if (preset.kind === 'bytes') tokenizer = new ByteTokenizer({ contextLength, normalization: preset.normalization });
    else if (preset.kind === 'sentencepiece') tokenizer = SentencePieceTokenizer.fromFile(preset.model!, { contextLength, addEos: preset.addEos, addBos: preset.addBos, padId: preset.padId, canonicalize: preset.canonicalize });
    else if (preset.kind === 'clip-bpe') {
      tokenizer = clipTokenizer({ contextLength, ...(preset.merges !== undefined ? { mergesPath: preset.merges } : {}), ...(preset.maxMerges !== undefined ? { maxMerges: preset.maxMerges } : {}) });
    } else if (preset.vocab !== undefined) {
      tokenizer = new BpeTokenizer(loadVocabJson(preset.vocab, preset.merges!, { endOfWord: preset.endOfWord, maxMerges: preset.maxMerges }), { contextLength });
    } else {
      tokenizer = new BpeTokenizer(loadClipVocabulary(preset.merges!, { maxMerges: preset.maxMerges }), { contextLength });
    }
    cache.set(key, tokenizer);
  }
  return tokenizer;
}
