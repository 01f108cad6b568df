import { type FileHandle, mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { encodeNpyHeader, encodeSafetensorsHeader, InvalidArgumentError } from '@omnitok/core';

/** Rows of a float32 [n, dim] matrix written to disk as they come: memory holds one batch, not n rows. */
export interface EmbeddingsWriter {
  /** Appends whole rows (a multiple of `dim` values). */
  append(rows: Float32Array): Promise<void>;
  /**
   * Completes the file for the rows appended — `.npy` as `numpy.save` writes it, `.safetensors` with one
   * tensor named `name` and `metadata` — and moves it to its path. Returns its shape.
   */
  finish(metadata: Record<string, string>): Promise<[number, number]>;
  /** Removes the partial file (after a failure); the path is left as it was. */
  abort(): Promise<void>;
}

const COPY_CHUNK = 8 << 20;

/**
 * Opens a streamed `.npy` / `.safetensors` embedding matrix at `path` (the format from its extension).
 * Rows go to `<path>.partial-<pid>` next to it, so a failed run leaves no half-written file under the
 * final name. `.npy`: the header is written for 0 rows and rewritten in place at the end (its length
 * does not depend on the row count). `.safetensors`: the header needs the metadata, known only at the
 * end, so the rows are copied once after it.
 */
export async function openEmbeddingsWriter(path: string, name: string, dim: number): Promise<EmbeddingsWriter> {
  const format = path.endsWith('.npy') ? 'npy' : path.endsWith('.safetensors') ? 'safetensors' : undefined;
  if (!format) throw new InvalidArgumentError('--out', path, 'a file name ending in .npy or .safetensors');
  if (!Number.isInteger(dim) || dim < 1) throw new InvalidArgumentError('dim', dim, 'a positive integer');
  await mkdir(dirname(path), { recursive: true });
  const partial = `${path}.partial-${process.pid}`;
  const file = await open(partial, 'w');
  let rows = 0;
  let position = 0;
  if (format === 'npy') position = (await file.write(encodeNpyHeader('F32', [0, dim]))).bytesWritten;
  let closed = false;
  const close = async (handle: FileHandle) => {
    if (!closed) await handle.close();
    closed = true;
  };
  return {
    async append(data) {
      if (data.length % dim !== 0) throw new InvalidArgumentError('rows', `${data.length} values`, `whole rows of ${dim}`);
      const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      await writeAll(file, bytes, position);
      position += bytes.length;
      rows += data.length / dim;
    },
    async finish(metadata) {
      if (format === 'npy') {
        await writeAll(file, encodeNpyHeader('F32', [rows, dim]), 0);
        await close(file);
        await rename(partial, path);
      } else {
        await close(file);
        await writeAfterHeader(encodeSafetensorsHeader({ [name]: { dtype: 'F32', shape: [rows, dim] } }, metadata), partial, `${partial}.st`);
        await rm(partial, { force: true });
        await rename(`${partial}.st`, path);
      }
      return [rows, dim];
    },
    async abort() {
      await close(file).catch(() => undefined);
      await rm(partial, { force: true });
      await rm(`${partial}.st`, { force: true });
    },
  };
}

/** `header` then the bytes of `from`, as the file `to`. */
async function writeAfterHeader(header: Uint8Array, from: string, to: string): Promise<void> {
  const source = await open(from, 'r');
  const target = await open(to, 'w');
  try {
    await writeAll(target, header, 0);
    const chunk = new Uint8Array(COPY_CHUNK);
    for (let at = header.length; ; ) {
      const { bytesRead } = await source.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      await writeAll(target, chunk.subarray(0, bytesRead), at);
      at += bytesRead;
    }
  } finally {
    await source.close();
    await target.close();
  }
}

/** All of `bytes` at `position` (a write may take fewer than asked). */
async function writeAll(handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  for (let done = 0; done < bytes.length; ) done += (await handle.write(bytes, done, bytes.length - done, position + done)).bytesWritten;
}
