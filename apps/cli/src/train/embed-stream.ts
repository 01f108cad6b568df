import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { ClipModel, Embeddings } from '@omnitok/clip';
import { InvalidArgumentError, type TokenSequence } from '@omnitok/core';
import type { TF } from '@omnitok/core/runtime';
import { openSource } from '../data/open-source.js';
import { type RawRecord, TrainDataError } from '../data/records.js';
import { type EmbeddedSet, embedSamples, groupDigests, tokenDigest } from './evaluate.js';
import { type ModalitySetup, tokenizeRecord, towerTokenShape } from './prepare.js';

export interface EmbedRecordsOptions {
  /** Leave out (and list) records that fail instead of throwing the first failure. */
  readonly skipBad: boolean;
  /** Records tokenized, then embedded, at a time. */
  readonly batchSize: number;
  /** Records decoded at the same time. */
  readonly concurrency: number;
  /** Records passed over without decoding (a held-out split). */
  readonly accept?: (r: RawRecord) => boolean;
  /** Stop after this many embedded records. */
  readonly limit?: number;
  /** Called for each record left out (with `skipBad`). */
  readonly onSkip?: (input: string, reason: string) => void;
  /**
   * Receives each batch's unit rows per modality, with the batch's record keys, in stream order, instead
   * of the rows being kept: the result's `embeddings` and `groups` are then empty (memory holds one
   * batch of rows, and no input is hashed for grouping).
   */
  readonly onBatch?: (keys: readonly string[], rows: ReadonlyMap<string, Float32Array>) => Promise<void> | void;
}

export interface EmbeddedRecords extends EmbeddedSet {
  /** The key of each embedded record (row k of every modality). */
  readonly keys: readonly string[];
  readonly skipped: readonly { readonly input: string; readonly reason: string }[];
  /** True when `limit` stopped the stream before its end (records were left unread). */
  readonly limited: boolean;
}

type Tokenized = { r: RawRecord; tokens?: Record<string, TokenSequence>; error?: unknown };

/**
 * Tokenizes records `concurrency` at a time in stream order and embeds every setup's modality
 * `batchSize` records at a time: memory holds one batch of tokens, never the data set. A record fails
 * on a malformed line or as `tokenizeRecord` does (tokens must have their tower's layout); the failure
 * is thrown as is (an `OmniError` keeps its code) unless `skipBad` leaves the record out.
 * Rows keep the remaining records' order; identical inputs are grouped by content digest.
 */
export async function embedRecords(tf: TF, model: ClipModel, setups: readonly ModalitySetup[], records: AsyncIterable<RawRecord>, options: EmbedRecordsOptions): Promise<EmbeddedRecords> {
  const shapes = new Map(setups.map((s) => [s.modality, towerTokenShape(model.tower(s.modality).config.tokens)]));
  const tokenize = async (r: RawRecord): Promise<Tokenized> => {
    try {
      if (r.error) throw new TrainDataError(`${r.where}: ${r.error}`);
      return { r, tokens: await tokenizeRecord(setups, r, shapes) };
    } catch (error) {
      return { r, error };
    }
  };
  const parts = new Map<string, Float32Array[]>(setups.map((s) => [s.modality, []]));
  const digests = new Map<string, string[]>(setups.map((s) => [s.modality, []]));
  const keys: string[] = [];
  const labels: (string | undefined)[] = [];
  const skipped: { input: string; reason: string }[] = [];
  let limited = false;
  let batch: Record<string, TokenSequence>[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    const rows = new Map<string, Float32Array>();
    for (const { modality: m } of setups) rows.set(m, (await embedSamples(tf, model, m, batch.map((t) => t[m]!))).data);
    if (options.onBatch) await options.onBatch(keys.slice(keys.length - batch.length), rows);
    else for (const [m, r] of rows) parts.get(m)!.push(r);
    batch = [];
  };
  const take = async (done: Tokenized) => {
    if (done.error !== undefined) {
      if (!options.skipBad) throw done.error;
      const reason = done.error instanceof Error ? done.error.message : String(done.error);
      skipped.push({ input: done.r.key, reason });
      options.onSkip?.(done.r.key, reason);
      return;
    }
    if (options.limit !== undefined && keys.length >= options.limit) {
      limited = true;
      return;
    }
    // identical inputs are grouped for retrieval over the kept rows; a batch sink keeps none to group
    if (!options.onBatch) for (const { modality: m } of setups) digests.get(m)!.push(tokenDigest(done.tokens![m]!));
    batch.push(done.tokens!);
    keys.push(done.r.key);
    labels.push(done.r.label);
    if (batch.length >= options.batchSize) await flush();
  };
  const inFlight: Promise<Tokenized>[] = [];
  for await (const r of records) {
    if (options.accept && !options.accept(r)) continue;
    if (options.limit !== undefined && keys.length >= options.limit) {
      limited = true;
      break;
    }
    inFlight.push(tokenize(r));
    if (inFlight.length >= options.concurrency) await take(await inFlight.shift()!);
  }
  while (inFlight.length > 0) await take(await inFlight.shift()!);
  await flush();
  const D = model.config.embedDim;
  const embeddings = new Map<string, Embeddings>(options.onBatch ? [] : [...parts].map(([m, ps]) => [m, stackRows(ps, keys.length, D)] as const));
  const groups = new Map(options.onBatch ? [] : [...digests].map(([m, d]) => [m, groupDigests(d)] as const));
  return { n: keys.length, keys, labels, embeddings, groups, skipped, limited };
}

/**
 * What a command embeds: its input arguments (files; for a text modality, an argument that is no file
 * is the text itself), or every record of `--data` (a manifest, CSV or shards) — one or the other.
 */
export async function commandRecords(
  inputs: readonly string[],
  data: string | undefined,
  options: { readonly cwd: string; readonly modality: string; readonly acceptsText: boolean; readonly textModalities: ReadonlySet<string>; readonly allowOutsideRoot: boolean },
): Promise<AsyncIterable<RawRecord>> {
  if (data === undefined && inputs.length === 0) throw new InvalidArgumentError('--data', undefined, 'a data source (FILE.jsonl, FILE.csv or shards), or at least one input file (or text) as arguments');
  if (data !== undefined && inputs.length > 0) throw new InvalidArgumentError('--data', data, `either --data or input arguments, not both (got ${inputs.length} inputs)`);
  if (data !== undefined) return (await openSource(data, { cwd: options.cwd, textModalities: options.textModalities, allowOutsideRoot: options.allowOutsideRoot })).records();
  return (async function* () {
    for (const input of inputs) {
      const path = resolve(options.cwd, input);
      const isFile = await stat(path).then((s) => s.isFile(), () => false);
      yield { key: input, where: input, fields: { [options.modality]: isFile || !options.acceptsText ? { kind: 'path', path } : { kind: 'text', text: input } } } satisfies RawRecord;
    }
  })();
}

/** Batches of embedding rows → one [n, d] matrix. */
function stackRows(parts: readonly Float32Array[], n: number, d: number): Embeddings {
  const data = new Float32Array(n * d);
  let at = 0;
  for (const p of parts) {
    data.set(p, at);
    at += p.length;
  }
  return { data, shape: [n, d] };
}
