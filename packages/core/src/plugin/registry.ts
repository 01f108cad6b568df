import { open } from 'node:fs/promises';
import { DuplicateModalityError } from '../errors/duplicate-modality-error.js';
import { InvalidArgumentError } from '../errors/invalid-argument-error.js';
import { NoSuchModalityError } from '../errors/no-such-modality-error.js';
import { SpecVersionError } from '../errors/spec-version-error.js';
import { UnsupportedFormatError } from '../errors/unsupported-format-error.js';
import { fileTypeByExtension, magicWindow, matchesMagic } from './file-type.js';
import { normalizeInput } from './input.js';
import { isJsonValue } from './json.js';
import { type AnyModalityPlugin, type FileTypeSignature, type ModalityInput, SUPPORTED_SPEC_VERSIONS } from './modality-plugin.js';

/** A plugin found for an input, with the format and how it was recognized. */
export interface Detection {
  readonly plugin: AnyModalityPlugin;
  readonly format: string;
  readonly via: 'magic' | 'extension' | 'text';
}

/**
 * A fixed set of plugins, looked up by name or routed by file type.
 *
 * Routing: magic bytes first, then the extension; among plugins that claim the same format, the one
 * registered first wins, so the order given to {@link createModalityRegistry} is the priority.
 */
export interface ModalityRegistry {
  /** Plugin names in registration order. */
  readonly names: readonly string[];
  list(): readonly AnyModalityPlugin[];
  has(name: string): boolean;
  /** The plugin named `name`; throws `NoSuchModalityError` listing the registered names. */
  get(name: string): AnyModalityPlugin;
  /** Every plugin of a modality, in registration order. */
  byModality(modality: string): readonly AnyModalityPlugin[];
  /** The first plugin (and format) that reads this extension (`png`, `.png`, or a file name). */
  byExtension(extensionOrFileName: string): Detection | undefined;
  /** The first plugin whose magic bytes match the start of `head`. */
  byMagic(head: Uint8Array): Detection | undefined;
  /** How many leading bytes `byMagic` needs. */
  readonly magicBytes: number;
  /** Detects the plugin for an input: magic bytes (read from disk for a path), then extension. */
  detect(input: ModalityInput): Promise<Detection | undefined>;
  /** Like `detect`, but throws `UnsupportedFormatError` (listing every readable extension) when none fits. */
  resolve(input: ModalityInput): Promise<Detection>;
  /** Every extension some plugin reads, sorted. */
  extensions(): readonly string[];
}

/**
 * Creates a registry from an explicit list of plugins. Nothing registers itself on import.
 * Throws `DuplicateModalityError` for a repeated name, `SpecVersionError` for an unknown spec version,
 * and `InvalidArgumentError` for a malformed plugin.
 */
export function createModalityRegistry(plugins: readonly AnyModalityPlugin[]): ModalityRegistry {
  if (!Array.isArray(plugins)) throw new InvalidArgumentError('plugins', plugins, 'an array of modality plugins');
  const byName = new Map<string, AnyModalityPlugin>();
  plugins.forEach((plugin, index) => {
    validatePlugin(plugin, index);
    if (byName.has(plugin.name)) throw new DuplicateModalityError(plugin.name);
    byName.set(plugin.name, plugin);
  });
  const ordered = [...byName.values()];
  const names = Object.freeze(ordered.map((p) => p.name));
  const magicBytes = magicWindow(ordered.flatMap((p) => p.fileTypes));

  const byExtension = (extensionOrFileName: string): Detection | undefined => {
    const raw = extensionOrFileName.toLowerCase();
    const ext = raw.includes('.') ? raw.slice(raw.lastIndexOf('.') + 1) : raw;
    for (const plugin of ordered) {
      const sig = fileTypeByExtension(plugin.fileTypes, ext);
      if (sig) return { plugin, format: sig.format, via: 'extension' };
    }
    return undefined;
  };

  const byMagic = (head: Uint8Array): Detection | undefined => {
    for (const plugin of ordered) {
      for (const sig of plugin.fileTypes as readonly FileTypeSignature[]) {
        if ((sig.magic ?? []).some((m) => matchesMagic(head, m))) return { plugin, format: sig.format, via: 'magic' };
      }
    }
    return undefined;
  };

  const extensions = () => [...new Set(ordered.flatMap((p) => p.fileTypes.flatMap((s: FileTypeSignature) => s.extensions)))].sort();

  const detect = async (input: ModalityInput): Promise<Detection | undefined> => {
    const norm = normalizeInput(input);
    if (norm.kind === 'text') {
      const plugin = ordered.find((p) => p.acceptsText);
      return plugin ? { plugin, format: 'text', via: 'text' } : undefined;
    }
    const head = norm.kind === 'bytes' ? norm.bytes!.subarray(0, magicBytes) : await readHead(norm.path!, magicBytes);
    return (head && byMagic(head)) ?? (norm.extension ? byExtension(norm.extension) : undefined);
  };

  return {
    names,
    magicBytes,
    list: () => ordered,
    has: (name) => byName.has(name),
    get(name) {
      const plugin = byName.get(name);
      if (!plugin) throw new NoSuchModalityError(name, names);
      return plugin;
    },
    byModality: (modality) => ordered.filter((p) => p.modality === modality),
    byExtension,
    byMagic,
    detect,
    async resolve(input) {
      const found = await detect(input);
      if (found) return found;
      const norm = normalizeInput(input);
      throw new UnsupportedFormatError(norm.label, norm.extension, extensions());
    },
    extensions,
  };
}

/** Reads up to `n` leading bytes; undefined when the file cannot be opened (extension routing still works). */
async function readHead(path: string, n: number): Promise<Uint8Array | undefined> {
  if (n === 0) return new Uint8Array(0);
  let handle;
  try {
    handle = await open(path, 'r');
    const buffer = new Uint8Array(n);
    const { bytesRead } = await handle.read(buffer, 0, n, 0);
    return buffer.subarray(0, bytesRead);
  } catch {
    return undefined;
  } finally {
    await handle?.close();
  }
}

function validatePlugin(plugin: AnyModalityPlugin, index: number): void {
  const where = `plugins[${index}]`;
  if (typeof plugin !== 'object' || plugin === null) throw new InvalidArgumentError(where, plugin, 'a modality plugin object');
  const name = typeof plugin.name === 'string' ? plugin.name : '';
  if (!/^[a-z0-9][a-z0-9._-]*$/i.test(name)) {
    throw new InvalidArgumentError(`${where}.name`, plugin.name, 'a non-empty name of letters, digits, ".", "_" or "-"');
  }
  if (!SUPPORTED_SPEC_VERSIONS.includes(plugin.specVersion)) throw new SpecVersionError(name, plugin.specVersion, SUPPORTED_SPEC_VERSIONS);
  if (typeof plugin.modality !== 'string' || plugin.modality.length === 0) {
    throw new InvalidArgumentError(`${where}.modality`, plugin.modality, 'a non-empty string');
  }
  for (const method of ['decode', 'preprocess', 'tokenize'] as const) {
    if (typeof plugin[method] !== 'function') throw new InvalidArgumentError(`${where}.${method}`, plugin[method], 'a function');
  }
  if (typeof plugin.presets !== 'object' || plugin.presets === null || !isJsonValue(plugin.presets)) {
    throw new InvalidArgumentError(`${where}.presets`, plugin.presets, 'a record of JSON-serializable presets');
  }
  if (!Object.prototype.hasOwnProperty.call(plugin.presets, plugin.defaultPreset)) {
    throw new InvalidArgumentError(`${where}.defaultPreset`, plugin.defaultPreset, `one of ${Object.keys(plugin.presets).join(', ') || '(no presets)'}`);
  }
  if (plugin.tokenKind !== 'continuous' && plugin.tokenKind !== 'discrete') {
    throw new InvalidArgumentError(`${where}.tokenKind`, plugin.tokenKind, '"continuous" or "discrete"');
  }
  if (!Array.isArray(plugin.fileTypes)) throw new InvalidArgumentError(`${where}.fileTypes`, plugin.fileTypes, 'an array of file type signatures');
}
