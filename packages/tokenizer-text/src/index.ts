/**
 * @omnitok/tokenizer-text — text to transformer ids.
 *
 * - `clipTokenizer()`: openai/CLIP's BPE, id for id (bundled vocabulary, SOT 49406, EOT 49407, 77).
 * - `BpeTokenizer` over any CLIP-format merges file or a vocab.json + merges.txt pair.
 * - `trainBpe` / `trainBpeFromFiles`: learn a byte-level BPE; `saveMerges` / `loadClipVocabulary`.
 * - `byteTokenizer()`: UTF-8 bytes + specials.
 * - `textTokenizer()`: the `text` modality plugin for `@omnitok/core` registries.
 *
 * Importing this module registers nothing and reads no file until a tokenizer is asked for.
 */
export { BpeTokenizer, clipTokenizer, type BpeTokenizerOptions, type DecodeIdsOptions, type TextTokenizer } from './bpe-tokenizer.js';
export { BpeModel, type BpeVocabulary, type Merge } from './bpe-model.js';
export { ByteTokenizer, byteTokenizer, BYTE_EOT, BYTE_OFFSET, BYTE_PAD, BYTE_SOT, BYTE_VOCAB_SIZE, type ByteTokenizerOptions } from './byte-tokenizer.js';
export { BYTE_ORDER, BYTE_TO_UNICODE, toByteLevel } from './byte-unicode.js';
export { basicClean, CLIP_PRETOKENIZE, clipNormalize, clipPretokenize, whitespaceClean } from './clean-text.js';
export { fixEncoding, fixText } from './fix-text.js';
export { htmlUnescape } from './html-unescape.js';
export { type BatchEncoding, type Encoding, type PackOptions, packBatch, packIds } from './pack-ids.js';
export { trainBpe, trainBpeFromFiles, type TrainBpeOptions, type TrainedBpe } from './train-bpe.js';
export {
  CLIP_MERGE_COUNT,
  clipVocabPath,
  clipVocabulary,
  END_OF_TEXT,
  END_OF_WORD,
  loadClipVocabulary,
  loadVocabJson,
  parseMerges,
  saveMerges,
  serializeMerges,
  START_OF_TEXT,
} from './vocab-files.js';
export { bytesToText, decodeText } from './decode-text.js';
export { preprocessText, type TextFeatures, type TextTokenizerInfo } from './preprocess-text.js';
export { tokenizeText } from './tokenize-text.js';
export { DEFAULT_TEXT_PRESET, TEXT_PRESETS, type TextPreset, validateTextPreset } from './presets.js';
export { TEXT_FILE_TYPES } from './file-types.js';
export { tokenizerForPreset } from './tokenizer-for-preset.js';
export { SentencePieceTokenizer, siglipCanonicalize, type SentencePieceOptions } from './sentencepiece.js';
export { textTokenizer, type TextPreprocessOptions, type TextTokenizerPlugin, type TextTokenizerPluginOptions, VERSION } from './text-tokenizer.js';
