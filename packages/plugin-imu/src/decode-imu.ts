import { DecodeError, type ModalityInput, readInputBytes } from '@omnitok/core';

/** A decoded IMU recording: named channels, channel-major samples, and the sample rate if known. */
export interface DecodedImu {
  readonly channels: readonly string[];
  /** `[channels, samples]`, channel-major. */
  readonly data: Float32Array;
  readonly samples: number;
  /** Hz, from a time column or the JSON `rate`; undefined when the input does not say. */
  readonly rate: number | undefined;
  readonly source: string;
}

const TIME_COLUMNS = new Set(['t', 'time', 'timestamp', 'seconds', 'time_s']);
const MAX_SAMPLES = 50_000_000;

/**
 * Reads CSV/TSV (a header row naming the columns; an optional time column in seconds gives the rate)
 * or JSON (`{ rate?, channels?, samples: [[…per channel…], …] }`, rows of samples, or a bare array of
 * rows).
 */
export async function decodeImu(input: ModalityInput): Promise<DecodedImu> {
  const { bytes, input: norm } = await readInputBytes(input, 'imu');
  const fail = (reason: string): never => {
    throw new DecodeError(norm.label, 'imu', reason);
  };
  if (bytes.length === 0) fail('the file is empty');
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes).replace(/^\uFEFF/, '');
  const first = text.trimStart()[0];
  const table = first === '{' || first === '[' ? parseJson(text, fail) : parseDelimited(text, fail);
  const timeIndex = table.columns.findIndex((c) => TIME_COLUMNS.has(c.toLowerCase()));
  const rows = table.rows;
  if (rows.length === 0) fail('no samples');
  if (rows.length * table.columns.length > MAX_SAMPLES) fail(`too many values (${rows.length} rows × ${table.columns.length} columns)`);
  let rate = table.rate;
  if (timeIndex >= 0 && rows.length > 1) {
    const dts: number[] = [];
    for (let i = 1; i < rows.length; i++) dts.push(rows[i]![timeIndex]! - rows[i - 1]![timeIndex]!);
    dts.sort((a, b) => a - b);
    const median = dts[dts.length >> 1]!;
    if (!(median > 0)) fail('the time column does not increase');
    rate = 1 / median;
  }
  const channels = table.columns.filter((_, i) => i !== timeIndex);
  const data = new Float32Array(channels.length * rows.length);
  rows.forEach((row, t) => {
    let c = 0;
    row.forEach((v, i) => {
      if (i === timeIndex) return;
      if (!Number.isFinite(v)) fail(`row ${t + 1}, column ${table.columns[i]}: not a finite number`);
      data[c++ * rows.length + t] = v;
    });
  });
  return { channels, data, samples: rows.length, rate, source: norm.label };
}

interface Table {
  columns: string[];
  rows: number[][];
  rate: number | undefined;
}

function parseDelimited(text: string, fail: (reason: string) => never): Table {
  const lines = text.split(/\r?\n/).filter((l) => l.trim().length > 0);
  const sep = lines[0]!.includes('\t') ? '\t' : lines[0]!.includes(';') && !lines[0]!.includes(',') ? ';' : ',';
  const header = lines[0]!.split(sep).map((h) => h.trim());
  if (header.some((h) => h.length === 0 || /^[-+.\d]/.test(h))) fail('the first line must be a header naming every column');
  const rows = lines.slice(1).map((line, i) => {
    const cells = line.split(sep);
    if (cells.length !== header.length) fail(`line ${i + 2} has ${cells.length} fields, the header has ${header.length}`);
    return cells.map((c) => (c.trim() === '' ? Number.NaN : Number(c)));
  });
  return { columns: header, rows, rate: undefined };
}

function parseJson(text: string, fail: (reason: string) => never): Table {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return fail(`not valid JSON (${(error as Error).message})`);
  }
  const obj = (Array.isArray(value) ? { samples: value } : value) as { rate?: unknown; channels?: unknown; samples?: unknown };
  if (!Array.isArray(obj.samples) || !obj.samples.every((r) => Array.isArray(r) && r.every((v) => typeof v === 'number'))) {
    return fail('expected "samples": an array of rows, each an array of numbers');
  }
  const rows = obj.samples as number[][];
  const width = rows[0]?.length ?? 0;
  if (rows.some((r) => r.length !== width)) fail('every row of "samples" must have the same length');
  const columns = Array.isArray(obj.channels) ? obj.channels.map(String) : Array.from({ length: width }, (_, i) => `c${i}`);
  if (columns.length !== width) fail(`"channels" names ${columns.length} columns, rows have ${width}`);
  if (obj.rate !== undefined && !(typeof obj.rate === 'number' && obj.rate > 0)) fail('"rate" must be a positive number');
  return { columns, rows, rate: obj.rate as number | undefined };
}
