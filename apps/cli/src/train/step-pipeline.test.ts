import { describe, expect, it } from 'vitest';
import { StepPipeline, type StepOutcome } from './step-pipeline.js';

/**
 * A scripted trainer: step(batch) resolves with the outcome `script(batch, attempt)` names, counting
 * steps like the optimizer (+1 when queued, −1 when the step comes back not applied). The log records
 * what the pipeline did, in order, and which batches were queued but not yet freed at each record.
 */
function harness(opts: { inFlight: boolean; boundaries?: number[]; script?: (batch: number, attempt: number) => 'applied' | 'skipped' | 'behind' | 'error'; interruptAfter?: number }) {
  const log: string[] = [];
  let count = 0;
  const unread = new Set<number>(); // batches queued and not yet freed
  let interrupted = false;
  const attempts = new Map<number, number>();
  const disposed = new Map<number, number>();
  const pipeline = new StepPipeline<number, StepOutcome>({
    step: (b) => {
      const attempt = (attempts.get(b) ?? 0) + 1;
      attempts.set(b, attempt);
      const what = opts.script?.(b, attempt) ?? 'applied';
      const step = count++;
      unread.add(b);
      log.push(`queue ${b}`);
      if (what === 'error') return Promise.reject(new Error(`step on batch ${b} failed`));
      if (what !== 'applied') count--;
      return Promise.resolve({ step, ...(what === 'applied' ? {} : { skipped: true }), ...(what === 'behind' ? { behind: true } : {}) });
    },
    stepCount: () => count,
    dispose: (b) => {
      unread.delete(b);
      disposed.set(b, (disposed.get(b) ?? 0) + 1);
      log.push(`dispose ${b}`);
    },
    inFlight: opts.inFlight,
    boundary: (n) => (opts.boundaries ?? []).includes(n),
    interrupted: () => interrupted,
    record: async (stats, b, alone) => {
      log.push(`record ${b}${stats.skipped ? ' skipped' : ` as step ${stats.step + 1}`}${alone ? ' alone' : ''}`);
      // an eval or checkpoint sees exactly the steps before it: none may be queued behind
      if (alone) expect([...unread], `steps queued behind batch ${b} when it was recorded alone`).toEqual([]);
      if (opts.interruptAfter === b) interrupted = true;
      return alone && (interrupted || (opts.boundaries ?? []).at(-1) === stats.step + 1) ? 'over' : 'on';
    },
    mapError: (error) => new Error(`mapped: ${(error as Error).message}`),
  });
  /** Pushes batches 1…n until one says 'over', then finishes. */
  const run = async (n: number) => {
    try {
      for (let b = 1; b <= n; b++) if ((await pipeline.push(b)) === 'over') break;
      await pipeline.finish();
    } finally {
      await pipeline.abandon();
    }
  };
  return { log, run, disposed, count: () => count };
}

describe('StepPipeline (the order omnitok train queues and reads its steps)', () => {
  it('one at a time: each step read (and its batch freed) before the next is queued', async () => {
    const h = harness({ inFlight: false, boundaries: [3] });
    await h.run(5);
    expect(h.log).toEqual(['queue 1', 'dispose 1', 'record 1 as step 1 alone', 'queue 2', 'dispose 2', 'record 2 as step 2 alone', 'queue 3', 'dispose 3', 'record 3 as step 3 alone']);
  });

  it('in flight: the next batch is queued before the step ahead is read; never behind a boundary', async () => {
    const h = harness({ inFlight: true, boundaries: [3, 5] });
    await h.run(6);
    expect(h.log).toEqual([
      'queue 1',
      'queue 2', // behind 1
      'dispose 1',
      'record 1 as step 1',
      'queue 3', // behind 2; 3 is a boundary, read at once
      'dispose 2',
      'record 2 as step 2',
      'dispose 3',
      'record 3 as step 3 alone',
      'queue 4', // nothing ahead after a boundary
      'queue 5',
      'dispose 4',
      'record 4 as step 4',
      'dispose 5',
      'record 5 as step 5 alone', // the last step: over, batch 6 never queued
    ]);
    expect([...h.disposed.values()].every((n) => n === 1)).toBe(true);
  });

  it('behind a skipped step the step queued after it comes back `behind`; its batch goes again before the next batch', async () => {
    // batch 2's step overflows; batch 3, queued behind it, is skipped by the chained guard and stepped again
    const h = harness({ inFlight: true, boundaries: [6], script: (b, attempt) => (b === 2 ? 'skipped' : b === 3 && attempt === 1 ? 'behind' : 'applied') });
    await h.run(8);
    expect(h.log.filter((l) => l.startsWith('queue'))).toEqual(['queue 1', 'queue 2', 'queue 3', 'queue 3', 'queue 4', 'queue 5', 'queue 6', 'queue 7']);
    expect(h.log.filter((l) => l.startsWith('record'))).toEqual([
      'record 1 as step 1',
      'record 2 skipped',
      'record 3 as step 2', // the step batch 2 did not take
      'record 4 as step 3',
      'record 5 as step 4',
      'record 6 as step 5',
      'record 7 as step 6 alone',
    ]);
    // batch 3 was freed once, after its second step was read (not between its two steps)
    expect(h.disposed.get(3)).toBe(1);
    expect(h.log.indexOf('dispose 3')).toBeGreaterThan(h.log.lastIndexOf('queue 3'));
    expect([...h.disposed.values()].every((n) => n === 1)).toBe(true);
    expect(h.count()).toBe(6);
  });

  it('an error: thrown (mapped) when its step is read; the step in flight behind it still finishes and every batch is freed', async () => {
    const h = harness({ inFlight: true, boundaries: [9], script: (b) => (b === 2 ? 'error' : 'applied') });
    await expect(h.run(5)).rejects.toThrow('mapped: step on batch 2 failed');
    expect(h.log.filter((l) => l.startsWith('queue'))).toEqual(['queue 1', 'queue 2', 'queue 3']);
    expect([...h.disposed.keys()].sort()).toEqual([1, 2, 3]);
    expect([...h.disposed.values()].every((n) => n === 1)).toBe(true);
  });

  it('interrupted: the step behind is read too, and the run stops after it, alone (where the checkpoint is saved)', async () => {
    const h = harness({ inFlight: true, boundaries: [9], interruptAfter: 2 });
    await h.run(8);
    expect(h.log.filter((l) => l.startsWith('record'))).toEqual(['record 1 as step 1', 'record 2 as step 2', 'record 3 as step 3 alone']);
    expect(h.log.filter((l) => l.startsWith('queue'))).toEqual(['queue 1', 'queue 2', 'queue 3']);
  });
});
