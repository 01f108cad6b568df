/**
 * The order in which `omnitok train` queues and reads its steps. With `inFlight` (webgpu: the trainer
 * queues a step on the device at once), a batch's step is queued before the step ahead of it is read —
 * one step in flight, so the GPU does not idle while the host reads a step and records the next — but
 * never behind a step that ends at a boundary (an eval, a checkpoint, the last step: those must see
 * exactly the steps before them) or once the run is interrupted. A step queued behind one that was
 * skipped (an overflow under a dynamic loss scale) comes back `behind`, and its batch takes the step
 * again before any other batch — so the run trains the same steps, in the same order, either way.
 * Without `inFlight` every step is read before the next is queued.
 */

/** What the pipeline needs of a step's outcome (`@omnitok/clip`'s StepStats). */
export interface StepOutcome {
  /** The step (0-based) it ran as. */
  readonly step: number;
  readonly skipped?: boolean;
  /** Skipped only because it was queued behind a step that came out non-finite. */
  readonly behind?: boolean;
}

export interface StepPipelineOptions<B, S extends StepOutcome> {
  /** Queues a step on `batch` (the trainer's step: runs at once on webgpu, in turn elsewhere). */
  readonly step: (batch: B) => Promise<S>;
  /** Steps counted so far, queued ones included (the optimizer's count). */
  readonly stepCount: () => number;
  /** Frees a batch once its step is read (or given up). */
  readonly dispose: (batch: B) => void;
  /** Queue the next step before reading the one ahead (see above). */
  readonly inFlight: boolean;
  /** Whether the step count `n` is a boundary: nothing may be queued behind the step that reaches it. */
  readonly boundary: (n: number) => boolean;
  readonly interrupted: () => boolean;
  /**
   * Records a step that was read: `alone` when no step is queued behind it (then it may evaluate,
   * save and stop: 'over'; a step that is not alone never ends at a boundary, and what it returns is
   * not used); `skipped` ones too (nothing was updated). Returns 'over' to stop.
   */
  readonly record: (stats: S, batch: B, alone: boolean) => Promise<'over' | 'on'>;
  /** Maps a step's error before it is thrown (out-of-memory hints). */
  readonly mapError?: (error: unknown) => unknown;
}

interface Queued<B, S> {
  readonly result: Promise<S>;
  readonly batch: B;
  /** The step count once it is applied. */
  readonly after: number;
}

export class StepPipeline<B, S extends StepOutcome> {
  private ahead: Queued<B, S> | undefined;

  constructor(private readonly o: StepPipelineOptions<B, S>) {}

  /** Queues `batch`'s step and reads what is due; 'over' when the run should stop. */
  async push(batch: B): Promise<'over' | 'on'> {
    const next = this.queue(batch);
    const ahead = this.ahead;
    this.ahead = next;
    if (ahead) {
      const stats = await this.read(ahead);
      // behind a skipped step, `next` was skipped too: its batch goes again before any other
      if (stats.skipped) this.ahead = await this.again(next);
      await this.o.record(stats, ahead.batch, false); // not alone: no eval, checkpoint or stop (see `record`)
    }
    const q = this.ahead;
    if (!this.o.inFlight || this.o.boundary(q.after) || this.o.interrupted()) return this.finish();
    return 'on';
  }

  /** Reads the step in flight, if any (the data ran out). */
  async finish(): Promise<'over' | 'on'> {
    const q = this.ahead;
    if (!q) return 'on';
    this.ahead = undefined;
    return this.o.record(await this.read(q), q.batch, true);
  }

  /** After an error: lets the step in flight finish (behind a failed one it is skipped) and frees its batch. */
  async abandon(): Promise<void> {
    const q = this.ahead;
    this.ahead = undefined;
    if (q) await this.read(q).catch(() => undefined);
  }

  private queue(batch: B): Queued<B, S> {
    const after = this.o.stepCount() + 1;
    const result = this.o.step(batch);
    result.catch(() => undefined); // read by `read`; one left in flight by an error must not go unhandled
    return { result, batch, after };
  }

  /** The step's outcome, its batch freed. */
  private async read(q: Queued<B, S>): Promise<S> {
    try {
      return await q.result;
    } catch (error) {
      throw this.o.mapError ? this.o.mapError(error) : error;
    } finally {
      this.o.dispose(q.batch);
    }
  }

  /** A step that came back `behind`: its batch queued again (not freed in between); else the step itself. */
  private async again(q: Queued<B, S>): Promise<Queued<B, S>> {
    const stats = await q.result.catch(() => undefined);
    return stats?.behind ? this.queue(q.batch) : q;
  }
}
