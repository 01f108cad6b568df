import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeSafetensors, encodeNpy, encodeSafetensors } from '@omnitok/core';
import { afterAll, describe, expect, it } from 'vitest';
import { openEmbeddingsWriter } from './embeddings-writer.js';

const dir = mkdtempSync(join(tmpdir(), 'omnitok-writer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const rows = Float32Array.from({ length: 7 * 3 }, (_, i) => Math.sin(i));

describe('openEmbeddingsWriter', () => {
  it('.npy: batches appended give the bytes of encodeNpy (numpy.save) of the whole matrix', async () => {
    const w = await openEmbeddingsWriter(join(dir, 'sub', 'e.npy'), 'image', 3);
    await w.append(rows.subarray(0, 6));
    await w.append(rows.subarray(6, 6)); // an empty batch
    await w.append(rows.subarray(6));
    expect(await w.finish({ ignored: 'npy has no metadata' })).toEqual([7, 3]);
    expect(Buffer.compare(readFileSync(join(dir, 'sub', 'e.npy')), Buffer.from(encodeNpy({ data: rows, shape: [7, 3] })))).toBe(0);
    expect(readdirSync(join(dir, 'sub'))).toEqual(['e.npy']);
  });

  it('.safetensors: the bytes of encodeSafetensors, with the metadata given at the end', async () => {
    const w = await openEmbeddingsWriter(join(dir, 'e.safetensors'), 'text', 3);
    await w.append(rows.subarray(0, 9));
    await w.append(rows.subarray(9));
    const metadata = { inputs: JSON.stringify(['a', 'b']), step: '3' };
    expect(await w.finish(metadata)).toEqual([7, 3]);
    const bytes = readFileSync(join(dir, 'e.safetensors'));
    expect(Buffer.compare(bytes, Buffer.from(encodeSafetensors({ text: { data: rows, shape: [7, 3] } }, metadata)))).toBe(0);
    expect(decodeSafetensors(bytes).metadata).toEqual(metadata);
    expect(readdirSync(dir).filter((f) => f.includes('.partial-'))).toEqual([]);
  });

  it('zero rows make a valid [0, d] file; partial rows and other extensions are refused; abort leaves nothing', async () => {
    const empty = await openEmbeddingsWriter(join(dir, 'empty.npy'), 'x', 4);
    expect(await empty.finish({})).toEqual([0, 4]);
    expect(Buffer.compare(readFileSync(join(dir, 'empty.npy')), Buffer.from(encodeNpy({ data: new Float32Array(0), shape: [0, 4] })))).toBe(0);
    await expect(openEmbeddingsWriter(join(dir, 'e.csv'), 'x', 3)).rejects.toThrow(/--out/);
    const w = await openEmbeddingsWriter(join(dir, 'gone.safetensors'), 'x', 3);
    await expect(w.append(rows.subarray(0, 4))).rejects.toThrow(/whole rows of 3/);
    await w.append(rows.subarray(0, 3));
    await w.abort();
    expect(readdirSync(dir).filter((f) => f.startsWith('gone'))).toEqual([]);
  });
});
