import { createReadStream } from 'node:fs';
import { basename, dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { type DataSource, type FieldValue, IGNORED_KEYS, LABEL_KEYS, MODALITY_ALIASES, type RawRecord, resolveUnderRoot } from './records.js';

export interface ManifestOptions {
  /** Modalities whose values are inline text rather than paths (plugins with `acceptsText`). */
  readonly textModalities: ReadonlySet<string>;
  readonly allowOutsideRoot: boolean;
}

/** Lines of a text file, streamed (one line in memory at a time). */
async function* lines(path: string): AsyncGenerator<string> {
  const rl = createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity });
  try {
    for await (const line of rl) yield line;
  } finally {
    rl.close();
  }
}

function modalityOf(key: string): string {
  const k = key.trim();
  return MODALITY_ALIASES[k.toLowerCase()] ?? k;
}

function field(modality: string, value: string, root: string, options: ManifestOptions): FieldValue | { error: string } {
  if (options.textModalities.has(modality)) return { kind: 'text', text: value };
  if (value === '') return { error: `empty ${modality} path` };
  const r = resolveUnderRoot(root, value, options.allowOutsideRoot);
  return 'error' in r ? r : { kind: 'path', path: r.path };
}

/** Builds a record from key → string pairs (shared by JSONL and CSV). */
function recordFrom(entries: [string, unknown][], key: string, where: string, root: string, options: ManifestOptions): RawRecord {
  const fields: Record<string, FieldValue> = {};
  let label: string | undefined;
  let id: string | undefined;
  for (const [k, v] of entries) {
    const lower = k.trim().toLowerCase();
    if (LABEL_KEYS.has(lower)) {
      if (v !== null && v !== undefined && v !== '') label = String(v);
      continue;
    }
    if (lower === 'key' || lower === 'id' || lower === '__key__') {
      if (v !== null && v !== undefined && v !== '') id = String(v);
      continue;
    }
    if (IGNORED_KEYS.has(lower)) continue;
    if (typeof v !== 'string') return { key, where, fields: {}, error: `field ${JSON.stringify(k)} is ${JSON.stringify(v)}, expected a string` };
    const modality = modalityOf(k);
    const f = field(modality, v, root, options);
    if ('error' in f) return { key: id ?? key, where, fields: {}, error: f.error };
    fields[modality] = f;
  }
  return { key: id ?? key, where, fields, label };
}

/**
 * JSONL manifest: one JSON object per line, keys = modality names (or aliases: `filepath`, `caption`…),
 * values = paths relative to the manifest's folder, or inline text for text modalities; optional
 * `label` and `id`. Blank lines are ignored; a line that is not a JSON object becomes a malformed record.
 */
export function jsonlSource(path: string, options: ManifestOptions): DataSource {
  const root = dirname(path);
  const name = basename(path);
  return {
    kind: 'jsonl',
    description: `JSONL manifest ${path}`,
    modalities: [],
    async *records() {
      let n = 0;
      for await (const line of lines(path)) {
        n++;
        if (line.trim() === '') continue;
        const where = `${name}:${n}`;
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch (error) {
          yield { key: where, where, fields: {}, error: `malformed JSON (${(error as Error).message})` };
          continue;
        }
        if (typeof value !== 'object' || value === null || Array.isArray(value)) {
          yield { key: where, where, fields: {}, error: 'not a JSON object' };
          continue;
        }
        yield recordFrom(Object.entries(value), where, where, root, options);
      }
    },
  };
}

/**
 * CSV / TSV with a header row naming the columns (RFC 4180 quoting; fields may span lines inside
 * quotes). The delimiter is a tab for `.tsv`/`.tab` files, else the first of tab, comma, semicolon
 * found in the header. open_clip's `filepath`/`title` layout maps to image/text.
 */
export function csvSource(path: string, options: ManifestOptions): DataSource {
  const root = dirname(path);
  const name = basename(path);
  return {
    kind: 'csv',
    description: `CSV manifest ${path}`,
    modalities: [],
    async *records() {
      let header: string[] | undefined;
      let delimiter = ',';
      let pending = '';
      let startLine = 0;
      let n = 0;
      for await (const line of lines(path)) {
        n++;
        if (header === undefined) {
          const h = line.replace(/^\uFEFF/, '');
          if (h.trim() === '') continue;
          delimiter = /\.(tsv|tab)$/i.test(path) || h.includes('\t') ? '\t' : h.includes(',') ? ',' : h.includes(';') ? ';' : ',';
          header = parseRow(h, delimiter).cells;
          continue;
        }
        if (pending === '') {
          if (line.trim() === '') continue;
          startLine = n;
        }
        const text = pending === '' ? line : `${pending}\n${line}`;
        const row = parseRow(text, delimiter);
        if (row.open) {
          pending = text;
          continue;
        }
        pending = '';
        const where = `${name}:${startLine}`;
        if (row.cells.length !== header.length) {
          yield { key: where, where, fields: {}, error: `${row.cells.length} columns, the header has ${header.length}` };
          continue;
        }
        yield recordFrom(header.map((h, i) => [h, row.cells[i]!]), where, where, root, options);
      }
      if (pending !== '') yield { key: `${name}:${startLine}`, where: `${name}:${startLine}`, fields: {}, error: 'unterminated quoted field' };
    },
  };
}

/** One CSV row; `open` when a quoted field is still open at the end of the text. */
export function parseRow(text: string, delimiter: string): { cells: string[]; open: boolean } {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i++;
        } else quoted = false;
      } else cell += c;
    } else if (c === '"' && cell === '') quoted = true;
    else if (c === delimiter) {
      cells.push(cell);
      cell = '';
    } else cell += c;
  }
  cells.push(cell);
  return { cells, open: quoted };
}
