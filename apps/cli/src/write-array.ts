import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { encodeNpy, encodeSafetensors, extensionOf, InvalidArgumentError } from '@omnitok/core';
import type { StageArray } from './format.js';

/**
 * Writes a stage's array as `.npy` (loadable by `numpy.load`) or `.safetensors` (one tensor named after
 * the stage, metadata as strings). The format comes from the file extension.
 */
export async function writeArray(path: string, array: StageArray, tensorName: string, metadata: Record<string, string>): Promise<void> {
  const ext = extensionOf(path);
  let bytes: Uint8Array;
  if (ext === 'npy') bytes = encodeNpy(array);
  else if (ext === 'safetensors') bytes = encodeSafetensors({ [tensorName]: array }, metadata);
  else throw new InvalidArgumentError('--out', path, 'a file name ending in .npy or .safetensors');
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
}
