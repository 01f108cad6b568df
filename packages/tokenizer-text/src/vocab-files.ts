import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { DecodeError } from '@omnitok/core';
import type { BpeVocabulary, Merge } from './bpe-model.js';
import { BYTE_ORDER, BYTE_TO_UNICODE } from './byte-unicode.js';

export const START_OF_TEXT = '<|startoftext|>';
export const END_OF_TEXT = '<|endoftext|>';
export const END_OF_WORD = '</w>';
/** How many merges CLIP reads from its file: `49152 - 256 - 2`, giving a 49,408-token vocabulary. */
export const CLIP_MERGE_COUNT = 48_894;

/**
 * Path of the bundled `bpe_simple_vocab_16e6.txt.gz` (openai/CLIP, MIT). Resolved next to this
 * module, so it works from `src/` (tests) and from `dist/` (the published package).
 */
export function clipVocabPath(): string {
  return fileURLToPath(new URL('../assets/bpe_simple_vocab_16e6.txt.gz', import.meta.url));
}

/**
 * The CLIP vocabulary layout for a merge list: the 256 byte characters (in {@link BYTE_ORDER}),
 * the same with `</w>`,
 * one token per merge, then `<|startoftext|>` and `<|endoftext|>`. Size `514 + merges.length`.
 */
export function clipVocabulary(merges: readonly Merge[], source: string): BpeVocabulary {
  const base = BYTE_ORDER.map((b) => BYTE_TO_UNICODE[b]!);
  const tokens = [...base, ...base.map((c) => c + END_OF_WORD)];
  for (const [a, b] of merges) tokens.push(a + b);
  tokens.push(START_OF_TEXT, END_OF_TEXT);
  return { tokens, merges, endOfWord: END_OF_WORD, specials: [START_OF_TEXT, END_OF_TEXT], source };
}

/** Reads a file, gunzipping it when it starts with the gzip magic; errors name the path. */
export function readTextFile(path: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (error as Error).message;
    throw new DecodeError(path, 'text', `cannot read vocabulary file: ${reason}`, { cause: error });
  }
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (error) {
      throw new DecodeError(path, 'text', `corrupt gzip data in vocabulary file (${(error as Error).message})`, { cause: error });
    }
  }
  return bytes.toString('utf8');
}

const OMNITOK_HEADER = /^#version: 0\.2 omnitok-bpe merges=(\d+)\s*$/;

/**
 * Parses merges text: a header line (`#version: ...`), then one `first second` pair per line.
 *
 * How many merges are read: all of them for files written by {@link serializeMerges} (their header
 * says how many); otherwise at most `maxMerges`, which defaults to {@link CLIP_MERGE_COUNT} exactly as
 * CLIP's `SimpleTokenizer` reads its file. A malformed line throws `DecodeError` naming the file and
 * the line number.
 */
export function parseMerges(text: string, source: string, options: { maxMerges?: number } = {}): Merge[] {
  const lines = text.split('\n');
  let start = 0;
  let limit = options.maxMerges ?? CLIP_MERGE_COUNT;
  const first = (lines[0] ?? '').replace(/\r$/, '');
  if (first.startsWith('#') || first.includes('#version')) {
    start = 1;
    const ours = OMNITOK_HEADER.exec(first);
    if (ours && options.maxMerges === undefined) limit = Number(ours[1]);
  }
  let end = lines.length;
  while (end > start && lines[end - 1]!.trim() === '') end--;
  const merges: Merge[] = [];
  for (let i = start; i < end && merges.length < limit; i++) {
    const line = lines[i]!;
    // Python's str.split(): any run of whitespace.
    const parts = line.trim().split(/\s+/);
    if (parts.length !== 2 || parts[0] === '') {
      throw new DecodeError(source, 'text', `malformed merges line ${i + 1}: expected "first second", got ${JSON.stringify(line.slice(0, 60))}`);
    }
    merges.push([parts[0]!, parts[1]!]);
  }
  if (merges.length === 0) throw new DecodeError(source, 'text', 'the merges file has no merges');
  return merges;
}

/**
 * Loads a CLIP-format merges file (`.txt.gz` like `bpe_simple_vocab_16e6.txt.gz`, or plain text)
 * into the CLIP vocabulary layout. Without a path, loads the bundled CLIP vocabulary.
 */
export function loadClipVocabulary(path: string = clipVocabPath(), options: { maxMerges?: number } = {}): BpeVocabulary {
  return clipVocabulary(parseMerges(readTextFile(path), path, options), path);
}

/**
 * Loads a GPT-2-style pair of files: `vocab.json` (token → id, ids 0..N-1) and `merges.txt`.
 * Symbols follow CLIP's conventions unless told otherwise: `endOfWord` defaults to `</w>` (as in
 * Hugging Face's CLIP files); pass `''` for GPT-2-style vocabularies without a word-end marker.
 * Every merge must join two tokens of the vocabulary into a third; the specials found in the
 * vocabulary (`<|startoftext|>`, `<|endoftext|>`) are used.
 */
export function loadVocabJson(
  vocabPath: string,
  mergesPath: string,
  options: { endOfWord?: string; maxMerges?: number } = {},
): BpeVocabulary {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readTextFile(vocabPath));
  } catch (error) {
    if (error instanceof DecodeError) throw error;
    throw new DecodeError(vocabPath, 'text', `vocab.json is not valid JSON (${(error as Error).message})`, { cause: error });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new DecodeError(vocabPath, 'text', 'vocab.json must be an object mapping token strings to ids');
  }
  const entries = Object.entries(parsed as Record<string, unknown>);
  const tokens = new Array<string | undefined>(entries.length);
  for (const [token, id] of entries) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= entries.length || tokens[id] !== undefined) {
      throw new DecodeError(vocabPath, 'text', `vocab.json id of ${JSON.stringify(token)} must be a unique integer in [0, ${entries.length - 1}], got ${JSON.stringify(id)}`);
    }
    tokens[id] = token;
  }
  const merges = parseMerges(readTextFile(mergesPath), mergesPath, { maxMerges: options.maxMerges ?? Infinity });
  const known = new Set(tokens as string[]);
  merges.forEach(([a, b], i) => {
    for (const t of [a, b, a + b]) {
      if (!known.has(t)) throw new DecodeError(mergesPath, 'text', `merge ${i + 1} (${JSON.stringify(`${a} ${b}`)}) uses ${JSON.stringify(t)}, which is not in ${vocabPath}`);
    }
  });
  const specials = [START_OF_TEXT, END_OF_TEXT].filter((s) => known.has(s));
  return { tokens: tokens as string[], merges, endOfWord: options.endOfWord ?? END_OF_WORD, specials, source: vocabPath };
}

/** Merges in the CLIP text format, with a header that records their count. */
export function serializeMerges(merges: readonly Merge[]): string {
  return `#version: 0.2 omnitok-bpe merges=${merges.length}\n${merges.map(([a, b]) => `${a} ${b}`).join('\n')}\n`;
}

/** Writes {@link serializeMerges} to `path`, gzipped when the path ends in `.gz`. */
export function saveMerges(path: string, merges: readonly Merge[]): void {
  const text = serializeMerges(merges);
  writeFileSync(path, path.endsWith('.gz') ? gzipSync(text) : text);
}
