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
      // the row being read: its parse state, first line number and lines (kept to read them again)
      let open: CsvRowState | undefined;
      let startLine = 0;
      let openLines: { text: string; no: number }[] = [];
      let openChars = 0;
      // lines to read again, after a quoted field ran past MAX_CSV_FIELD (a stray quote)
      const again: { text: string; no: number }[] = [];
      const file = lines(path)[Symbol.asyncIterator]();
      let n = 0;
      for (;;) {
        let line: string;
        let no: number;
        if (again.length > 0) ({ text: line, no } = again.shift()!);
        else {
          const next = await file.next();
          if (next.done) {
            if (open === undefined) break;
            // the file ended inside a quoted field: the row that opened it is broken, the lines after it are rows
            const where = `${name}:${startLine}`;
            yield { key: where, where, fields: {}, error: 'unterminated quoted field (an unclosed quote?); the row is skipped' };
            again.push(...openLines.slice(1));
            open = undefined;
            continue;
          }
          line = next.value;
          no = ++n;
        }
        if (header === undefined) {
          const h = line.replace(/^\uFEFF/, '');
          if (h.trim() === '') continue;
          delimiter = /\.(tsv|tab)$/i.test(path) || h.includes('\t') ? '\t' : h.includes(',') ? ',' : h.includes(';') ? ';' : ',';
          header = parseRow(h, delimiter).cells;
          continue;
        }
        if (open === undefined) {
          if (line.trim() === '') continue;
          startLine = no;
          openLines = [];
          openChars = 0;
        }
        // carried over, not re-parsed: a field spanning many lines stays linear
        const row = continueRow(open, line, delimiter);
        if (row.quoted) {
          open = row;
          openLines.push({ text: line, no });
          openChars += line.length + 1;
          if (openChars > MAX_CSV_FIELD) {
            // an unclosed quote would otherwise swallow the rest of the file: skip its row, read on after it
            const where = `${name}:${startLine}`;
            yield { key: where, where, fields: {}, error: `a quoted field runs past ${MAX_CSV_FIELD} characters (an unclosed quote?); the row is skipped` };
            again.unshift(...openLines.slice(1));
            open = undefined;
          }
          continue;
        }
        open = undefined;
        const where = `${name}:${startLine}`;
        if (row.cells.length !== header.length) {
          yield { key: where, where, fields: {}, error: `${row.cells.length} columns, the header has ${header.length}` };
          continue;
        }
        yield recordFrom(header.map((h, i) => [h, row.cells[i]!]), where, where, root, options);
      }
    },
  };
}

/** Characters a quoted CSV field may span (over lines) before its row counts as broken: 1 Mi (Python's csv allows 128 Ki). */
export const MAX_CSV_FIELD = 1 << 20;

/** A CSV row being parsed: the cells so far, the current cell, and whether a quote is open. */
interface CsvRowState {
  readonly cells: string[];
  readonly cell: string;
  readonly quoted: boolean;
}

/** Parses `line` on from `state` (a row whose quoted field spans lines; the line break is part of it). */
function continueRow(state: CsvRowState | undefined, line: string, delimiter: string): CsvRowState {
  const cells = state ? [...state.cells] : [];
  let cell = state ? `${state.cell}\n` : '';
  let quoted = state?.quoted ?? false;
  // a cell that held a quoted part may go on unquoted after it ("ab"c → abc), as before
  let started = state !== undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"') {
        if (line[i + 1] === '"') {
          cell += '"';
          i++;
        } else quoted = false;
      } else cell += c;
    } else if (c === '"' && !started) {
      quoted = true;
      started = true;
    } else if (c === delimiter) {
      cells.push(cell);
      cell = '';
      started = false;
    } else {
      cell += c;
      started = true;
    }
  }
  if (!quoted) cells.push(cell);
  return { cells, cell, quoted };
}

/** One CSV row; `open` when a quoted field is still open at the end of the text. */
export function parseRow(text: string, delimiter: string): { cells: string[]; open: boolean } {
  const row = continueRow(undefined, text, delimiter);
  return row.quoted ? { cells: [...row.cells, row.cell], open: true } : { cells: row.cells, open: false };
}
