import { BadPresetError } from '@omnitok/core';

/**
 * A text preset: which tokenizer and how long a row is. Plain JSON, so it can be stored and diffed.
 *
 * - `kind`: `clip-bpe` (CLIP's BPE; the bundled vocabulary unless `merges` names another
 *   CLIP-format merges file), `bpe` (a `vocab` = vocab.json + `merges` = merges.txt pair, or a
 *   CLIP-format `merges` file alone, e.g. one written by `saveMerges`), `bytes` (UTF-8 bytes), or
 *   `sentencepiece` (a unigram or BPE `model` file such as SigLIP's `spiece.model` or SigLIP 2's /
 *   Gemma's `tokenizer.model`; the end-of-sentence piece appended unless `addEos: false`, the
 *   beginning one first with `addBos: true`, padded with `padId`, default `</s>` as HF's SiglipTokenizer).
 * - `contextLength`: ids per row, specials included (77 for CLIP).
 * - `truncate`: cut long texts open_clip style (default true); false makes them an error.
 */
export interface TextPreset {
  readonly name?: string;
  readonly kind: 'clip-bpe' | 'bpe' | 'bytes' | 'sentencepiece';
  readonly contextLength: number;
  /** SentencePiece only: path of the `.model` file. */
  readonly model?: string;
  /** SentencePiece only: append the model's end-of-sentence piece (default true). */
  readonly addEos?: boolean;
  /** SentencePiece only: start rows with the model's beginning-of-sentence piece (default false). */
  readonly addBos?: boolean;
  /** SentencePiece only: the padding id (default: `</s>` when the model has one, else 0). */
  readonly padId?: number;
  /** SentencePiece only: `siglip` lowercases and strips punctuation first (HF SiglipTokenizer), `lowercase` only lowercases (HF Siglip2Tokenizer); default `none`. */
  readonly canonicalize?: 'none' | 'siglip' | 'lowercase';
  readonly truncate?: boolean;
  /** Path of a merges file (`.txt` or `.txt.gz`). */
  readonly merges?: string;
  /** Path of a GPT-2-style `vocab.json` (needs `merges`). */
  readonly vocab?: string;
  /** Word-end suffix for `vocab.json` vocabularies; default `</w>`. */
  readonly endOfWord?: string;
  /** Most merges read from a merges file (default: CLIP's 48,894, or all for files from `saveMerges`). */
  readonly maxMerges?: number;
  /** Byte tokenizer only: `none` (default) or `nfc`. */
  readonly normalization?: 'none' | 'nfc';
}

export const TEXT_PRESETS = {
  /** openai/CLIP and open_clip text towers: bundled BPE, 49,408 ids, 77 per row. */
  clip: { kind: 'clip-bpe', contextLength: 77 },
  /** Long-CLIP: the same BPE with 248 per row. */
  'long-clip': { kind: 'clip-bpe', contextLength: 248 },
  /** UTF-8 bytes (ids 3..258) with SOT 1 / EOT 2 / padding 0, 256 per row: tiny models, tests. */
  bytes: { kind: 'bytes', contextLength: 256 },
} as const satisfies Record<string, TextPreset>;

export const DEFAULT_TEXT_PRESET = 'clip';

/** Checks every field of a preset; a bad one throws `BadPresetError` naming it. */
export function validateTextPreset(name: string, preset: TextPreset): TextPreset {
  const bad = (field: string, reason: string): never => {
    throw new BadPresetError('text', name, { field, reason });
  };
  const p = preset as unknown as Record<string, unknown>;
  if (p.kind !== 'clip-bpe' && p.kind !== 'bpe' && p.kind !== 'bytes' && p.kind !== 'sentencepiece') {
    bad('kind', `must be "clip-bpe", "bpe", "bytes" or "sentencepiece", got ${JSON.stringify(p.kind)}`);
  }
  if (p.kind === 'sentencepiece') {
    if (typeof p.model !== 'string') bad('model', 'is required for kind "sentencepiece" (a .model file path)');
    for (const field of ['merges', 'vocab', 'endOfWord', 'maxMerges', 'normalization'] as const) if (p[field] !== undefined) bad(field, 'is not used with kind "sentencepiece"');
    for (const field of ['addEos', 'addBos'] as const) if (p[field] !== undefined && typeof p[field] !== 'boolean') bad(field, `must be a boolean, got ${JSON.stringify(p[field])}`);
    if (p.padId !== undefined && (typeof p.padId !== 'number' || !Number.isInteger(p.padId) || p.padId < 0)) bad('padId', `must be a non-negative integer, got ${JSON.stringify(p.padId)}`);
    if (p.canonicalize !== undefined && p.canonicalize !== 'none' && p.canonicalize !== 'siglip' && p.canonicalize !== 'lowercase') {
      bad('canonicalize', `must be "none", "siglip" or "lowercase", got ${JSON.stringify(p.canonicalize)}`);
    }
  } else {
    for (const field of ['model', 'addEos', 'addBos', 'padId', 'canonicalize'] as const) if (p[field] !== undefined) bad(field, 'is only used with kind "sentencepiece"');
  }
  const c = p.contextLength;
  if (typeof c !== 'number' || !Number.isInteger(c) || c < 2 || c > 1 << 24) bad('contextLength', `must be an integer in [2, ${1 << 24}], got ${JSON.stringify(c)}`);
  if (p.truncate !== undefined && typeof p.truncate !== 'boolean') bad('truncate', `must be a boolean, got ${JSON.stringify(p.truncate)}`);
  for (const field of ['merges', 'vocab', 'endOfWord'] as const) {
    if (p[field] !== undefined && typeof p[field] !== 'string') bad(field, `must be a string, got ${JSON.stringify(p[field])}`);
  }
  if (p.maxMerges !== undefined && (typeof p.maxMerges !== 'number' || !Number.isInteger(p.maxMerges) || p.maxMerges < 1)) {
    bad('maxMerges', `must be a positive integer, got ${JSON.stringify(p.maxMerges)}`);
  }
  if (p.kind === 'bpe' && typeof p.merges !== 'string') bad('merges', 'is required for kind "bpe" (a merges file path)');
  if (p.vocab !== undefined && p.kind !== 'bpe') bad('vocab', 'is only used with kind "bpe"');
  if (p.kind === 'bytes') {
    for (const field of ['merges', 'vocab', 'endOfWord', 'maxMerges'] as const) if (p[field] !== undefined) bad(field, 'is not used with kind "bytes"');
    if (p.normalization !== undefined && p.normalization !== 'none' && p.normalization !== 'nfc') {
      bad('normalization', `must be "none" or "nfc", got ${JSON.stringify(p.normalization)}`);
    }
  } else if (p.normalization !== undefined) bad('normalization', 'is only used with kind "bytes"');
  return preset;
}
