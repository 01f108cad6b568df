import { createReadStream } from 'node:fs';
import { basename, resolve } from 'node:path';
import { expandBraces } from './brace.js';
import { type DataSource, type FieldValue, IGNORED_KEYS, LABEL_KEYS, MODALITY_ALIASES, type RawRecord } from './records.js';
import { readTar, type TarEntry } from './tar-reader.js';

export interface WebDatasetOptions {
  readonly textModalities: ReadonlySet<string>;
  readonly cwd: string;
  /** Members larger than this make their sample an error record, unread (default: readTar's 1 GiB). */
  readonly maxMemberBytes?: number;
}

/** `dir/000042.jpg` → key `dir/000042`, extension `jpg` (the extension starts at the basename's first dot). */
export function splitKey(name: string): { key: string; ext: string } {
  const slash = name.lastIndexOf('/');
  const dot = name.indexOf('.', slash + 1);
  if (dot < 0) return { key: name, ext: '' };
  return { key: name.slice(0, dot), ext: name.slice(dot + 1).toLowerCase() };
}

function modalityOfExt(ext: string): string {
  return MODALITY_ALIASES[ext] ?? MODALITY_ALIASES[ext.split('.').at(-1)!] ?? ext.split('.')[0]!;
}

/**
 * WebDataset tar shards as img2dataset writes them: consecutive members sharing a key form a sample
 * (`000042.jpg`, `000042.txt`, `000042.wav`, `000042.cls`…). `pattern` may hold brace ranges
 * (`shards/{00000..00009}.tar`). Shards are streamed one after the other, one sample in memory.
 */
export function webDatasetSource(pattern: string, options: WebDatasetOptions): DataSource {
  const shards = expandBraces(pattern).map((p) => resolve(options.cwd, p));
  return {
    kind: 'webdataset',
    description: `WebDataset ${pattern} (${shards.length} shard${shards.length === 1 ? '' : 's'})`,
    modalities: [],
    async *records() {
      for (const shard of shards) {
        const name = basename(shard);
        let group: TarEntry[] = [];
        let key: string | undefined;
        const flush = (): RawRecord | undefined => (key === undefined ? undefined : toRecord(key, group, name, options));
        try {
          for await (const entry of readTar(createReadStream(shard) as AsyncIterable<Uint8Array>, shard, { maxMemberBytes: options.maxMemberBytes })) {
            const k = splitKey(entry.name).key;
            if (k !== key) {
              const r = flush();
              if (r) yield r;
              key = k;
              group = [];
            }
            group.push(entry);
          }
          const r = flush();
          if (r) yield r;
        } catch (error) {
          const r = flush();
          if (r) yield r;
          const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such shard' : (error as Error).message;
          yield { key: `${name}:error`, where: name, fields: {}, error: `shard ${shard}: ${reason}` };
        }
      }
    },
  };
}

function toRecord(key: string, entries: TarEntry[], shard: string, options: WebDatasetOptions): RawRecord {
  const unread = entries.find((e) => e.error);
  if (unread) return { key, where: `${shard}:${key}`, fields: {}, error: `${unread.name}: ${unread.error}` };
  const fields: Record<string, FieldValue> = {};
  let label: string | undefined;
  for (const e of entries) {
    const { ext } = splitKey(e.name);
    if (LABEL_KEYS.has(ext)) {
      label = Buffer.from(e.data).toString('utf8').trim();
      continue;
    }
    if (IGNORED_KEYS.has(ext) || ext === '') continue;
    const modality = modalityOfExt(ext);
    fields[modality] = options.textModalities.has(modality)
      ? { kind: 'text', text: Buffer.from(e.data).toString('utf8') }
      : { kind: 'bytes', bytes: e.data, name: `${shard}:${e.name}` };
  }
  return { key, where: `${shard}:${key}`, fields, label };
}
