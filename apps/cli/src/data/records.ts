import { isAbsolute, relative, resolve } from 'node:path';
import { type ModalityInput, OmniError } from '@omnitok/core';

/** One field of a raw record: a file, inline text, or bytes read from a shard. */
export type FieldValue =
  | { readonly kind: 'path'; readonly path: string }
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array; readonly name: string };

/**
 * A sample as a data source yields it, before any decoding: modality name → value. Cheap to make and
 * to skip, so a resumed run replays the record stream up to its saved position without decoding.
 */
export interface RawRecord {
  /** Stable id (manifest line, shard key, emoji id): the held-out split hashes it, reports name it. */
  readonly key: string;
  /** Where it came from, for messages (`data.jsonl:12`, `shard-00001.tar:000042`). */
  readonly where: string;
  readonly fields: Readonly<Record<string, FieldValue>>;
  /** Class label (zero-shot evaluation), when the source has one. */
  readonly label?: string;
  /** Set when the record itself is malformed: it is skipped and counted, never decoded. */
  readonly error?: string;
  /** Optional split tag from the source (the demo decides by hashing the base emoji id). */
  readonly heldOut?: boolean;
}

/** A streamed data set. `records()` starts a fresh pass (one epoch) in the source's own order. */
export interface DataSource {
  readonly kind: 'jsonl' | 'csv' | 'webdataset' | 'demo' | 'folder';
  readonly description: string;
  /** The modalities its records may hold. */
  readonly modalities: readonly string[];
  records(): AsyncIterable<RawRecord>;
  /** A class-folder source's classes (its folder names) in the order torchvision indexes them. */
  readonly classes?: readonly string[];
  /** Zero-shot setup the source suggests (the demo's categories and prompt templates). */
  readonly zeroShot?: { readonly classNames: readonly string[]; readonly templates: readonly string[] };
}

/** The data is unusable (too many bad samples, nothing to train on, an unreadable manifest). */
export class TrainDataError extends OmniError {
  constructor(message: string, details: Record<string, unknown> = {}, options?: ErrorOptions) {
    super('E_TRAIN_DATA', message, details, options);
    this.name = 'TrainDataError';
  }
}

/** A record's field as a plugin input. */
export function fieldInput(value: FieldValue): ModalityInput {
  if (value.kind === 'path') return value.path;
  if (value.kind === 'text') return { text: value.text };
  return { bytes: value.bytes, name: value.name };
}

/**
 * Resolves a manifest path against the manifest's folder. Returns an error string when the path leaves
 * that folder (absolute, `..`) and escaping is not allowed.
 */
export function resolveUnderRoot(root: string, value: string, allowOutside: boolean): { path: string } | { error: string } {
  const path = resolve(root, value);
  if (!allowOutside) {
    const rel = relative(root, path);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return { error: `path ${JSON.stringify(value)} escapes the manifest folder ${root} (pass --allow-outside-root to allow it)` };
  }
  return { path };
}

/** Column / key / extension names that mean a modality (open_clip CSVs, img2dataset shards). */
export const MODALITY_ALIASES: Readonly<Record<string, string>> = {
  filepath: 'image',
  image_path: 'image',
  img: 'image',
  jpg: 'image',
  jpeg: 'image',
  png: 'image',
  webp: 'image',
  title: 'text',
  caption: 'text',
  txt: 'text',
  wav: 'audio',
  flac: 'audio',
  mp3: 'audio',
  ogg: 'audio',
  audio_path: 'audio',
};

/** Keys that are never a modality. */
export const LABEL_KEYS = new Set(['label', 'cls', 'class', 'category']);
export const IGNORED_KEYS = new Set(['key', 'id', '__key__', 'json', 'url']);

/** FNV-1a 32-bit hash of a string (split decisions, per-sample seeds). */
export function hash32(text: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d) >>> 0;
  h ^= h >>> 12;
  return h >>> 0;
}

/** Deterministic held-out split: the record is held out when hash(key) falls in the first `fraction`. */
export function isHeldOut(record: RawRecord, fraction: number): boolean {
  if (record.heldOut !== undefined) return record.heldOut;
  return hash32(record.key) / 4294967296 < fraction;
}
