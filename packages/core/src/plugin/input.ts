import { open, readFile } from 'node:fs/promises';
import { DecodeError } from '../errors/decode-error.js';
import { InvalidArgumentError } from '../errors/invalid-argument-error.js';
import { UnsupportedFormatError } from '../errors/unsupported-format-error.js';
import type { ModalityInput } from './modality-plugin.js';

/** The input in a uniform shape: where it came from (for messages) and how to get its bytes. */
export interface NormalizedInput {
  readonly kind: 'path' | 'bytes' | 'text';
  /** A label for messages and metadata: the path, `<N bytes>` (or the given name), or `<text>`. */
  readonly label: string;
  readonly path?: string;
  readonly bytes?: Uint8Array;
  readonly text?: string;
  /** The lower-case extension without the dot, from the path or name, if any. */
  readonly extension?: string;
}

export function extensionOf(name: string): string | undefined {
  const base = name.slice(Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\')) + 1);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot + 1).toLowerCase() : undefined;
}

/** Normalizes any {@link ModalityInput}; throws `InvalidArgumentError` for anything else. */
export function normalizeInput(input: ModalityInput): NormalizedInput {
  if (typeof input === 'string') {
    if (input.length === 0) throw new InvalidArgumentError('input', input, 'a file path, bytes, or { text }');
    return { kind: 'path', label: input, path: input, extension: extensionOf(input) };
  }
  if (input instanceof Uint8Array) return { kind: 'bytes', label: `<${input.byteLength} bytes>`, bytes: input };
  if (input && typeof input === 'object') {
    if ('path' in input && typeof input.path === 'string') return normalizeInput(input.path);
    if ('bytes' in input && input.bytes instanceof Uint8Array) {
      const name = typeof input.name === 'string' ? input.name : undefined;
      return {
        kind: 'bytes',
        label: name ?? `<${input.bytes.byteLength} bytes>`,
        bytes: input.bytes,
        extension: name ? extensionOf(name) : undefined,
      };
    }
    if ('text' in input && typeof input.text === 'string') return { kind: 'text', label: '<text>', text: input.text };
  }
  throw new InvalidArgumentError('input', input, 'a file path, a Uint8Array/Buffer, { path }, { bytes, name? } or { text }');
}

/**
 * Reads the input's bytes (from disk for a path). A missing or unreadable file becomes a
 * `DecodeError` naming the path; text input is refused with `UnsupportedFormatError`.
 */
export async function readInputBytes(input: ModalityInput | NormalizedInput, modality: string): Promise<{ bytes: Uint8Array; input: NormalizedInput }> {
  const norm = isNormalized(input) ? input : normalizeInput(input);
  if (norm.kind === 'bytes') return { bytes: norm.bytes!, input: norm };
  if (norm.kind === 'text') throw new UnsupportedFormatError(norm.label, 'text', [`${modality} files or bytes`]);
  try {
    return { bytes: await readFile(norm.path!), input: norm };
  } catch (error) {
    throw fileDecodeError(error, norm.label, modality);
  }
}

/**
 * Reads up to `n` leading bytes of a file (format sniffing without reading the whole file). A missing
 * or unreadable file becomes a `DecodeError` naming `label`.
 */
export async function readFileHead(path: string, n: number, modality: string, label = path): Promise<Uint8Array> {
  try {
    const handle = await open(path, 'r');
    try {
      const head = new Uint8Array(n);
      const { bytesRead } = await handle.read(head, 0, n, 0);
      return head.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (error) {
    throw fileDecodeError(error, label, modality);
  }
}

function fileDecodeError(error: unknown, label: string, modality: string): DecodeError {
  const code = (error as NodeJS.ErrnoException).code;
  const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : (error as Error).message;
  return new DecodeError(label, modality, reason, { cause: error });
}

function isNormalized(input: unknown): input is NormalizedInput {
  return typeof input === 'object' && input !== null && 'kind' in input && 'label' in input;
}
