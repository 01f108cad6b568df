import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { InvalidArgumentError } from '@omnitok/core';

/** A preset as stored in a run's config: a plugin preset name or an inline preset object. */
export type PresetRef = string | Record<string, unknown>;

/**
 * Training defaults where the plugin's own default would be too big for a CPU run with the `tiny`
 * model: 32×32 images in 8×8 patches (16 tokens), UTF-8 byte text of 48 ids, `imu-small` IMU windows.
 * `small` and `base` keep the plugins' CLIP defaults.
 */
export function defaultTrainPreset(modality: string, size: string): PresetRef | undefined {
  const tiny = size === 'tiny' || size === 'custom';
  if (modality === 'image' && tiny) {
    return {
      name: 'train-tiny-32',
      description: 'omnitok train tiny: shortest side 32 bicubic, center crop 32, CLIP mean/std, patch 8 (16 tokens)',
      size: 32,
      patchSize: 8,
      resize: 'shortest',
      crop: 'center',
      interpolation: 'bicubic',
      mean: [0.48145466, 0.4578275, 0.40821073],
      std: [0.26862954, 0.26130258, 0.27577711],
      channels: 3,
      augment: { scale: [0.8, 1], ratio: [0.75, 1.3333333333333333], hflip: 0 },
    };
  }
  if (modality === 'text' && tiny) return { name: 'train-bytes-48', kind: 'bytes', contextLength: 48 };
  if (modality === 'imu') return 'imu-small';
  return undefined;
}

/** `--preset M=NAME` or `M=FILE.json` (a custom preset object), repeatable. */
export async function parsePresetFlags(flags: readonly string[], cwd: string): Promise<Map<string, PresetRef>> {
  const out = new Map<string, PresetRef>();
  for (const flag of flags) {
    const eq = flag.indexOf('=');
    if (eq <= 0 || eq === flag.length - 1) throw new InvalidArgumentError('--preset', flag, 'MODALITY=NAME or MODALITY=FILE.json');
    const modality = flag.slice(0, eq);
    const value = flag.slice(eq + 1);
    if (!value.toLowerCase().endsWith('.json')) {
      out.set(modality, value);
      continue;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(await readFile(resolve(cwd, value), 'utf8'));
    } catch (error) {
      throw new InvalidArgumentError('--preset', flag, 'a readable JSON file holding one preset object', { cause: error });
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new InvalidArgumentError('--preset', flag, 'a JSON file holding one preset object');
    out.set(modality, parsed as Record<string, unknown>);
  }
  return out;
}
