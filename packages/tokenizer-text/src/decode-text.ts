import { DecodeError, type DecodeOptions, type ModalityInput, normalizeInput, readInputBytes } from '@omnitok/core';

/**
 * Decodes a text input to a string.
 *
 * - `{ text }` comes back as is.
 * - A path or bytes is read as UTF-8 (a UTF-8 BOM is dropped; UTF-16 with a BOM is read as UTF-16);
 *   invalid sequences become U+FFFD. Data that is not valid UTF-8 and has NUL bytes is taken for a
 *   binary file: `DecodeError` naming the input. A missing file is a `DecodeError` naming the path.
 */
export async function decodeText(input: ModalityInput, options: DecodeOptions = {}): Promise<string> {
  const norm = normalizeInput(input);
  if (norm.kind === 'text') return norm.text!;
  options.signal?.throwIfAborted();
  const { bytes } = await readInputBytes(norm, 'text');
  return bytesToText(bytes, norm.label);
}

/** The text of UTF-8 (or BOM-marked UTF-16) bytes; see {@link decodeText}. */
export function bytesToText(bytes: Uint8Array, label = `<${bytes.byteLength} bytes>`): string {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder('utf-16le').decode(bytes);
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder('utf-16be').decode(bytes);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    if (bytes.subarray(0, 8192).includes(0)) throw new DecodeError(label, 'text', 'not UTF-8 text (binary data with NUL bytes)');
    return new TextDecoder('utf-8').decode(bytes);
  }
}
