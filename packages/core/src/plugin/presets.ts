import { BadPresetError } from '../errors/bad-preset-error.js';
import { isJsonValue } from './json.js';

/** A preset resolved from a name or an inline object, with the name to record in metadata. */
export interface ResolvedPreset<P> {
  readonly name: string;
  readonly preset: P;
}

/**
 * Resolves `preset` (a name, an inline object, or undefined for the default) against a plugin's
 * named presets. An unknown name throws `BadPresetError` listing the known ones; an inline object must
 * be plain JSON and gets the name in its `name` field, or `custom`.
 */
export function resolvePreset<P extends object>(
  modality: string,
  presets: Readonly<Record<string, P>>,
  preset: string | P | undefined,
  defaultPreset: string,
): ResolvedPreset<P> {
  const name = preset ?? defaultPreset;
  if (typeof name === 'string') {
    const found = Object.prototype.hasOwnProperty.call(presets, name) ? presets[name] : undefined;
    if (!found) throw new BadPresetError(modality, name, { known: Object.keys(presets) });
    return { name, preset: found };
  }
  if (typeof name !== 'object' || name === null || !isJsonValue(name)) {
    throw new BadPresetError(modality, String(name), { field: '(preset)', reason: 'must be a preset name or a plain JSON object' });
  }
  const custom = (name as { name?: unknown }).name;
  return { name: typeof custom === 'string' && custom.length > 0 ? custom : 'custom', preset: name };
}
