import type { TokenSequence } from '@omnitok/core';
import { Rng } from '@omnitok/core/runtime';
import { type DataSource, hash32, type RawRecord } from './records.js';

/** A decoded, tokenized sample: one token sequence per modality the model uses. */
export interface PreparedSample {
  readonly key: string;
  readonly label?: string;
  readonly tokens: Readonly<Record<string, TokenSequence>>;
}

/** A sample that was left out, and why (written to `DIR/skipped.jsonl`). */
export interface SkippedSample {
  readonly key: string;
  readonly where: string;
  readonly reason: string;
  readonly epoch: number;
}

/**
 * `samples.length === batchSize`, except the last item of an epoch, which may carry only the skipped
 * samples of the tail (the incomplete last batch is dropped, as open_clip does).
 */
export interface Batch {
  readonly epoch: number;
  /** Records of this epoch's shuffled stream consumed once this batch is trained on (the resume point). */
  readonly position: number;
  readonly samples: readonly PreparedSample[];
  readonly skipped: readonly SkippedSample[];
  /** Records this item accounts for (samples + skipped). */
  readonly records: number;
  /** True on the last item of an epoch. */
  readonly endOfEpoch: boolean;
}

export type Prepare = (record: RawRecord, sampleSeed: number) => Promise<PreparedSample>;

export interface LoaderOptions {
  readonly source: DataSource;
  /** Records to keep (the training split); malformed records always go through to be counted. */
  readonly accept: (record: RawRecord) => boolean;
  readonly prepare: Prepare;
  readonly batchSize: number;
  readonly seed: number;
  /** Shuffle-buffer size (records held for shuffling; 0 or 1 = source order). */
  readonly shuffleBuffer: number;
  /** Samples decoded at the same time. */
  readonly concurrency: number;
  /** Batches assembled ahead of the one being trained on. */
  readonly prefetch: number;
  /** Where to start: epoch and records already consumed in it (a resumed run). */
  readonly start?: { readonly epoch: number; readonly position: number };
  /** Stop after this many epochs (default: never; the consumer stops). */
  readonly epochs?: number;
}

/** What the loader held at most at once: the bounded-memory guarantee, observable. */
export interface LoaderStats {
  maxShuffleBuffer: number;
  maxInFlight: number;
  maxQueued: number;
}

/** The seed of one sample's augmentation: depends on the run seed, the epoch and the sample only. */
export function sampleSeed(seed: number, epoch: number, key: string): number {
  return hash32(`${seed}:${epoch}:${key}`);
}

/**
 * Streams batches: source records → training split → seeded shuffle buffer (per epoch) → bounded
 * concurrent decoding in stream order → batches, assembled `prefetch` ahead of the consumer.
 * Memory: at most `shuffleBuffer` raw records, `concurrency` samples in decoding and
 * `prefetch + 1` batches, whatever the data set's size. A resumed run replays the epoch's record stream
 * up to `start.position` without decoding anything, so it sees exactly the batches it would have seen.
 */
export class BatchLoader {
  readonly stats: LoaderStats = { maxShuffleBuffer: 0, maxInFlight: 0, maxQueued: 0 };

  constructor(private readonly options: LoaderOptions) {}

  /** The training-split record stream of an epoch, in its shuffled order (no decoding). */
  async *epochRecords(epoch: number): AsyncGenerator<RawRecord> {
    const { source, accept, shuffleBuffer } = this.options;
    const rng = new Rng(hash32(`shuffle:${this.options.seed}:${epoch}`));
    const buf: RawRecord[] = [];
    for await (const r of source.records()) {
      if (!r.error && !accept(r)) continue;
      if (shuffleBuffer <= 1) {
        yield r;
        continue;
      }
      if (buf.length < shuffleBuffer) {
        buf.push(r);
        if (buf.length > this.stats.maxShuffleBuffer) this.stats.maxShuffleBuffer = buf.length;
        continue;
      }
      const j = rng.int(shuffleBuffer);
      const out = buf[j]!;
      buf[j] = r;
      yield out;
    }
    while (buf.length > 0) {
      const j = rng.int(buf.length);
      const out = buf[j]!;
      buf[j] = buf[buf.length - 1]!;
      buf.pop();
      yield out;
    }
  }

  private async *epochBatches(epoch: number, skip: number): AsyncGenerator<Batch> {
    const { batchSize, concurrency, prepare, seed } = this.options;
    const it = this.epochRecords(epoch)[Symbol.asyncIterator]();
    let position = 0;
    while (position < skip) {
      if ((await it.next()).done) break;
      position++;
    }
    interface Pending {
      readonly position: number;
      readonly record: RawRecord;
      readonly result: Promise<PreparedSample>;
    }
    const window: Pending[] = [];
    let exhausted = false;
    const fill = async () => {
      while (!exhausted && window.length < concurrency) {
        const next = await it.next();
        if (next.done) {
          exhausted = true;
          break;
        }
        position++;
        const record = next.value;
        const result = record.error ? Promise.reject(new Error(record.error)) : prepare(record, sampleSeed(seed, epoch, record.key));
        result.catch(() => undefined);
        window.push({ position, record, result });
        if (window.length > this.stats.maxInFlight) this.stats.maxInFlight = window.length;
      }
    };
    let samples: PreparedSample[] = [];
    let skipped: SkippedSample[] = [];
    let lastPosition = skip;
    for (;;) {
      await fill();
      const head = window.shift();
      if (!head) break;
      lastPosition = head.position;
      try {
        samples.push(await head.result);
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        skipped.push({ key: head.record.key, where: head.record.where, reason, epoch });
      }
      if (samples.length === batchSize) {
        yield { epoch, position: head.position, samples, skipped, records: samples.length + skipped.length, endOfEpoch: false };
        samples = [];
        skipped = [];
      }
    }
    yield { epoch, position: lastPosition, samples: [], skipped, records: samples.length + skipped.length, endOfEpoch: true };
  }

  private async *sequential(): AsyncGenerator<Batch> {
    const start = this.options.start ?? { epoch: 0, position: 0 };
    const last = this.options.epochs === undefined ? Infinity : this.options.epochs;
    for (let epoch = start.epoch; epoch < last; epoch++) {
      yield* this.epochBatches(epoch, epoch === start.epoch ? start.position : 0);
    }
  }

  /** Batches, assembled up to `prefetch` ahead in the background. Stop by breaking out of the loop. */
  async *batches(): AsyncGenerator<Batch> {
    const source = this.sequential();
    const queue: (IteratorResult<Batch> | { error: unknown })[] = [];
    let wake: (() => void) | undefined;
    let space: (() => void) | undefined;
    let stopped = false;
    const limit = Math.max(1, this.options.prefetch);
    const pump = (async () => {
      try {
        for (;;) {
          while (queue.length >= limit && !stopped) await new Promise<void>((r) => (space = r));
          if (stopped) break;
          const r = await source.next();
          queue.push(r);
          if (queue.length > this.stats.maxQueued) this.stats.maxQueued = queue.length;
          wake?.();
          if (r.done) break;
        }
      } catch (error) {
        queue.push({ error });
        wake?.();
      }
    })();
    try {
      for (;;) {
        while (queue.length === 0) await new Promise<void>((r) => (wake = r));
        const item = queue.shift()!;
        space?.();
        if ('error' in item) throw item.error;
        if (item.done) return;
        yield item.value;
      }
    } finally {
      stopped = true;
      space?.();
      await pump.catch(() => undefined);
      await source.return(undefined);
    }
  }
}
