import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { InvalidArgumentError, type ModalityRegistry } from '@omnitok/core';
import { demoSource } from './demo-source.js';
import { folderSource } from './folder-source.js';
import { csvSource, jsonlSource } from './manifest-sources.js';
import type { DataSource } from './records.js';
import { webDatasetSource } from './webdataset-source.js';

/** The modalities whose plugins take inline text (a manifest's value for them is the text, not a path). */
export function textModalities(registry: ModalityRegistry): Set<string> {
  return new Set(registry.list().filter((p) => p.acceptsText).map((p) => p.modality));
}

export interface OpenSourceOptions {
  readonly cwd: string;
  readonly textModalities: ReadonlySet<string>;
  readonly allowOutsideRoot: boolean;
}

/**
 * `--data SOURCE`: `demo` (default), a `.jsonl` manifest, a `.csv`/`.tsv` table, WebDataset shards
 * (`.tar`, brace patterns allowed), or a folder of class folders (torchvision's ImageFolder layout).
 */
export async function openSource(spec: string | undefined, options: OpenSourceOptions): Promise<DataSource> {
  if (spec === undefined || spec === 'demo') return demoSource();
  const lower = spec.toLowerCase();
  if (/\.tar(\}|$)/.test(lower) || lower.includes('.tar{') || /\.tar$/.test(lower.replace(/\{[^}]*\}/g, ''))) {
    return webDatasetSource(spec, { cwd: options.cwd, textModalities: options.textModalities });
  }
  const path = resolve(options.cwd, spec);
  const kind = await stat(path).then((s) => (s.isFile() ? 'file' : s.isDirectory() ? 'folder' : undefined), () => undefined);
  if (kind === 'folder') return folderSource(path);
  if (!kind) throw new InvalidArgumentError('--data', spec, 'demo, a readable .jsonl / .csv / .tsv manifest, .tar shards, or a folder of class folders');
  if (/\.(jsonl|ndjson)$/.test(lower)) return jsonlSource(path, options);
  if (/\.(csv|tsv|tab)$/.test(lower)) return csvSource(path, options);
  throw new InvalidArgumentError('--data', spec, 'demo, a .jsonl / .csv / .tsv manifest, or .tar shards (by extension)');
}
