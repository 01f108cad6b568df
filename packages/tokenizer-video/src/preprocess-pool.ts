import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { PreprocessOptions } from '@omnitok/core';
import type { PreparedImagePreset } from '@omnitok/tokenizer-image';

/**
 * A few worker threads running the image package's `preprocessImageInto` on video frames, so frames
 * are resized and normalized on every core while the main thread keeps reading ffmpeg's pipe.
 * Numerics are the image package's, bit for bit (the same function on the same bytes).
 *
 * The workers load the image package's built entry (found through its `package.json`), so the
 * package's own source needs no build step. Buffers travel by transfer and come back for reuse.
 */
export interface PreprocessPool {
  readonly size: number;
  /** Whether a started worker can take another frame now (at most two queued per worker). */
  ready(): boolean;
  /**
   * Preprocesses one RGB24 frame (`rgb` is transferred to a worker; do not touch it afterwards) and
   * writes `[C, H, W]` floats into `out` at `offset` once done.
   */
  submit(rgb: ArrayBuffer, width: number, height: number, out: Float32Array, offset: number): Promise<void>;
  /** An RGB buffer of `bytes` bytes to fill for {@link submit} (recycled from finished jobs). */
  rgbBuffer(bytes: number): ArrayBuffer;
  close(): Promise<void>;
}

interface Job {
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  readonly out: Float32Array;
  readonly offset: number;
}

/** Worker body (CommonJS, evaluated): imports the image package by URL and serves frames. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.imageUrl).then((image) => {
  const { preset, options, source, format, frameSize } = workerData;
  parentPort.on('message', ({ id, rgb, width, height, out }) => {
    try {
      const floats = new Float32Array(out ?? new ArrayBuffer(frameSize * 4));
      image.preprocessImageInto({ data: new Uint8Array(rgb), width, height, channels: 3, source, format }, preset, options, floats, 0);
      parentPort.postMessage({ id, rgb, out: floats.buffer }, [rgb, floats.buffer]);
    } catch (error) {
      parentPort.postMessage({ id, rgb, error: error instanceof Error ? error.message : String(error) }, [rgb]);
    }
  });
  parentPort.postMessage({ ready: true });
}, (error) => parentPort.postMessage({ failed: String(error && error.message || error) }));
`;

let imageEntry: string | null | undefined;

/** The file URL of the image package's built entry, or null when it cannot be found (no dist). */
export function imagePackageEntry(): string | null {
  if (imageEntry !== undefined) return imageEntry;
  imageEntry = null;
  try {
    const pkgPath = createRequire(import.meta.url).resolve('@omnitok/tokenizer-image/package.json');
    const pkg = JSON.parse(readFileSync(pkgPath, 'utf8')) as { main?: string; exports?: { '.'?: { import?: string } } };
    const entry = pkg.exports?.['.']?.import ?? pkg.main;
    if (entry) {
      const file = join(dirname(pkgPath), entry);
      readFileSync(file, { flag: 'r' }).subarray(0, 0); // exists and readable
      imageEntry = pathToFileURL(file).href;
    }
  } catch {
    imageEntry = null;
  }
  return imageEntry;
}

/** Default worker count: the cores left after ffmpeg and the calling thread, 0–4. */
export function defaultPreprocessWorkers(): number {
  return Math.max(0, Math.min(4, availableParallelism() - 2));
}

/**
 * Starts `size` workers for frames of one preset and options and returns at once: each worker takes
 * frames as soon as it has loaded the image package (about 0.1 s: its bundle loads sharp), so the
 * caller keeps preprocessing in its own thread until {@link PreprocessPool.ready} says a worker is
 * free. Returns `undefined` when the image package's built entry cannot be found.
 */
export function startPreprocessPool(
  size: number,
  preset: PreparedImagePreset,
  options: PreprocessOptions,
  meta: { readonly source: string; readonly format: string },
): PreprocessPool | undefined {
  const imageUrl = imagePackageEntry();
  if (!imageUrl || size < 1) return undefined;
  const frameSize = preset.channels * preset.height * preset.width;
  const workerData = { imageUrl, preset, options: { augment: options.augment, seed: options.seed }, source: meta.source, format: meta.format, frameSize };
  const workers: Worker[] = [];
  /** Jobs queued per started worker (a worker is listed once it has loaded the image package). */
  const load = new Map<Worker, number>();
  const jobs = new Map<number, Job>();
  const spareRgb: ArrayBuffer[] = [];
  const spareOut: ArrayBuffer[] = [];
  let nextId = 0;
  let broken: Error | undefined;
  let closed = false;
  const fail = (error: Error) => {
    broken ??= error;
    for (const job of jobs.values()) job.reject(error);
    jobs.clear();
  };
  for (let i = 0; i < size; i++) {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData });
    workers.push(worker);
    worker.on('message', (m: { ready?: boolean; failed?: string; id: number; rgb: ArrayBuffer; out?: ArrayBuffer; error?: string }) => {
      if (m.ready) return void load.set(worker, 0);
      if (m.failed !== undefined) return void worker.terminate();
      const job = jobs.get(m.id);
      jobs.delete(m.id);
      spareRgb.push(m.rgb);
      load.set(worker, load.get(worker)! - 1);
      if (!job) return;
      if (m.error !== undefined || !m.out) return job.reject(new Error(m.error ?? 'no output'));
      job.out.set(new Float32Array(m.out), job.offset);
      spareOut.push(m.out);
      job.resolve();
    });
    worker.on('error', (error) => {
      load.delete(worker);
      fail(error);
    });
  }
  const pick = (): Worker | undefined => {
    let best: Worker | undefined;
    for (const [w, n] of load) if (n < 2 && (!best || n < load.get(best)!)) best = w;
    return best;
  };
  return {
    size,
    ready: () => {
      if (broken) throw broken;
      return !closed && pick() !== undefined;
    },
    rgbBuffer: (bytes) => {
      const b = spareRgb.pop();
      return b && b.byteLength === bytes ? b : new ArrayBuffer(bytes);
    },
    submit(rgb, width, height, out, offset) {
      const worker = pick();
      if (broken || !worker) return Promise.reject(broken ?? new Error('no worker is free'));
      load.set(worker, load.get(worker)! + 1);
      const id = nextId++;
      const buffer = spareOut.pop();
      return new Promise<void>((resolve, reject) => {
        jobs.set(id, { resolve, reject, out, offset });
        worker.postMessage({ id, rgb, width, height, out: buffer }, buffer ? [rgb, buffer] : [rgb]);
      });
    },
    async close() {
      closed = true;
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
