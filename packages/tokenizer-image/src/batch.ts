import { gridPositions, InvalidArgumentError, type ModalityInput, type NormalizedInput, normalizeInput, readInputBytes } from '@omnitok/core';
import { availableParallelism } from 'node:os';
import { checkDecodeOptions, decodeImageBytes, type ImageDecodeOptions } from './decode-image.js';
import { checkPatch } from './patchify.js';
import { type PreparedImagePreset, prepareImagePreset, preprocessImageIntoAsync } from './preprocess-image.js';
import { DEFAULT_IMAGE_PRESET, IMAGE_PRESETS, type ImagePreset } from './presets.js';

/** Options of the batch functions: decode options plus preset, augmentation and concurrency. */
export interface ImageBatchOptions extends ImageDecodeOptions {
  /** Preset name or inline preset; default `clip-vit-b-16`. */
  readonly preset?: string | ImagePreset;
  /** Named presets to resolve `preset` against (default: the built-in ones). */
  readonly presets?: Readonly<Record<string, ImagePreset>>;
  readonly augment?: boolean;
  /** Item `i` is augmented with seed {@link batchItemSeed}(seed, i). */
  readonly seed?: number;
  /**
   * Images decoded at the same time (sharp decodes on libuv's worker threads while the calling thread
   * resizes and normalizes finished ones). Default: 2 × CPU count, 4–16 — enough to keep every core
   * busy (4 was fastest of 2–6 on 2 cores). Files are read up to 2 × concurrency items ahead.
   */
  readonly concurrency?: number;
}

/** An input that could not be tokenized; the others are unaffected. */
export interface ImageBatchFailure {
  /** Position in the input list. */
  readonly index: number;
  /** The input's path or label. */
  readonly source: string;
  /** Typed: `DecodeError`, `UnsupportedFormatError`, … naming the file. */
  readonly error: Error;
}

interface BatchCommon {
  readonly modality: 'image';
  readonly preset: string;
  /** `indices[b]` is the input position of batch row `b` (failed inputs are skipped). */
  readonly indices: Int32Array;
  /** The source of each batch row. */
  readonly sources: readonly string[];
  readonly failures: readonly ImageBatchFailure[];
}

/** Features of the successful inputs, one contiguous `[B, C, H, W]` float32 array. */
export interface ImageFeatureBatch extends BatchCommon {
  readonly data: Float32Array;
  readonly shape: readonly [batch: number, channels: number, height: number, width: number];
  readonly axes: readonly ['batch', 'channel', 'height', 'width'];
  readonly patchSize: number;
}

/** Patch tokens of the successful inputs, one contiguous `[B, N, D]` float32 array (layout of `patchify`). */
export interface ImageTokenBatch extends BatchCommon {
  readonly kind: 'continuous';
  readonly data: Float32Array;
  readonly shape: readonly [batch: number, tokens: number, dim: number];
  /** The token grid `[H/P, W/P]`, shared by every row. */
  readonly grid: readonly [number, number];
  /** `[N, 2]` grid coordinates, shared by every row. */
  readonly positions: Int32Array;
}

/** The augmentation seed of batch item `index`: a hash of the batch seed and the index. */
export function batchItemSeed(seed: number, index: number): number {
  let h = (Math.trunc(seed) ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  return (h ^ (h >>> 13)) >>> 0;
}

/**
 * Decodes and preprocesses many images concurrently into one `[B, C, H, W]` array. Inputs that fail
 * (corrupt, unsupported, too large, missing) are listed in `failures` with a typed error naming the file;
 * the batch holds the others, in input order (`indices` maps rows to inputs).
 */
export async function preprocessImageBatch(inputs: readonly ModalityInput[], options: ImageBatchOptions = {}): Promise<ImageFeatureBatch> {
  const p = prepareImagePreset(options.preset, options.presets ?? IMAGE_PRESETS, DEFAULT_IMAGE_PRESET);
  const size = p.channels * p.height * p.width;
  const run = await runBatch(inputs, options, p, size);
  return {
    modality: 'image',
    preset: p.name,
    data: run.data,
    shape: [run.indices.length, p.channels, p.height, p.width],
    axes: ['batch', 'channel', 'height', 'width'],
    patchSize: p.preset.patchSize,
    indices: run.indices,
    sources: run.sources,
    failures: run.failures,
  };
}

/** Like {@link preprocessImageBatch}, then patchified: one `[B, N, C·P·P]` array. */
export async function tokenizeImageBatch(inputs: readonly ModalityInput[], options: ImageBatchOptions = {}): Promise<ImageTokenBatch> {
  const p = prepareImagePreset(options.preset, options.presets ?? IMAGE_PRESETS, DEFAULT_IMAGE_PRESET);
  const { channels: C, height: H, width: W } = p;
  const P = checkPatch(p.preset.patchSize, H, W);
  const size = C * H * W;
  const run = await runBatch(inputs, options, p, size, 'patches');
  const grid = [H / P, W / P] as const;
  return {
    kind: 'continuous',
    modality: 'image',
    preset: p.name,
    data: run.data,
    shape: [run.indices.length, grid[0] * grid[1], C * P * P],
    grid,
    positions: gridPositions(grid),
    indices: run.indices,
    sources: run.sources,
    failures: run.failures,
  };
}

async function runBatch(
  inputs: readonly ModalityInput[],
  options: ImageBatchOptions,
  p: PreparedImagePreset,
  size: number,
  layout: 'chw' | 'patches' = 'chw',
): Promise<{ data: Float32Array; indices: Int32Array; sources: string[]; failures: ImageBatchFailure[] }> {
  if (!Array.isArray(inputs)) throw new InvalidArgumentError('inputs', inputs, 'an array of image inputs');
  const concurrency = options.concurrency ?? Math.min(16, Math.max(4, 2 * availableParallelism()));
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new InvalidArgumentError('options.concurrency', concurrency, 'a positive integer');
  checkDecodeOptions(options);
  const n = inputs.length;
  const data = new Float32Array(n * size);
  const ok = new Uint8Array(n);
  const sources: string[] = new Array<string>(n).fill('');
  const failures: ImageBatchFailure[] = [];
  // Files are read ahead of decoding, so a decoder never waits for the disk (fs reads and sharp share
  // libuv's thread pool). A read's failure is kept and reported when its item's turn comes.
  type Read = { bytes: Uint8Array; norm: NormalizedInput } | { error: unknown };
  const reads: (Promise<Read> | undefined)[] = new Array(n);
  let readNext = 0;
  const readAhead = (upTo: number) => {
    for (; readNext < Math.min(n, upTo); readNext++) {
      const input = inputs[readNext]!;
      reads[readNext] = (async (): Promise<Read> => {
        const norm = normalizeInput(input);
        return { bytes: (await readInputBytes(norm, 'image')).bytes, norm };
      })().catch((error: unknown) => ({ error }));
    }
  };
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const index = next++;
      readAhead(index + 1 + 2 * concurrency);
      try {
        options.signal?.throwIfAborted();
        const read = await reads[index]!;
        reads[index] = undefined;
        if ('error' in read) throw read.error;
        const decoded = await decodeImageBytes(read.bytes, read.norm, options);
        options.signal?.throwIfAborted();
        const seed = options.seed === undefined ? undefined : batchItemSeed(options.seed, index);
        await preprocessImageIntoAsync(decoded, p, { augment: options.augment, seed }, data, index * size, layout);
        sources[index] = decoded.source;
        ok[index] = 1;
      } catch (error) {
        if (options.signal?.aborted) throw error;
        failures.push({ index, source: labelOf(inputs[index]), error: error instanceof Error ? error : new Error(String(error)) });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  failures.sort((a, b) => a.index - b.index);
  const count = n - failures.length;
  const indices = new Int32Array(count);
  let row = 0;
  for (let i = 0; i < n; i++) {
    if (!ok[i]) continue;
    if (row !== i) data.copyWithin(row * size, i * size, (i + 1) * size);
    indices[row++] = i;
  }
  return {
    data: count === n ? data : data.slice(0, count * size),
    indices,
    sources: Array.from(indices, (i) => sources[i]!),
    failures,
  };
}

function labelOf(input: ModalityInput | undefined): string {
  if (typeof input === 'string') return input;
  if (input instanceof Uint8Array) return `<${input.byteLength} bytes>`;
  if (input && typeof input === 'object') {
    if ('path' in input && typeof input.path === 'string') return input.path;
    if ('name' in input && typeof input.name === 'string') return input.name;
    if ('bytes' in input && input.bytes instanceof Uint8Array) return `<${input.bytes.byteLength} bytes>`;
  }
  return String(input);
}
