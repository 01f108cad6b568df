import type { FileTypeSignature, MagicPattern } from './modality-plugin.js';

/** How many leading bytes are enough to test every magic pattern of these signatures. */
export function magicWindow(signatures: readonly FileTypeSignature[]): number {
  let max = 0;
  for (const sig of signatures) for (const m of sig.magic ?? []) max = Math.max(max, (m.offset ?? 0) + m.bytes.length);
  return max;
}

/** The signature among `signatures` that lists `extension` (lower case, no dot), if any. */
export function fileTypeByExtension(signatures: readonly FileTypeSignature[], extension: string | undefined): FileTypeSignature | undefined {
  return extension === undefined ? undefined : signatures.find((s) => s.extensions.includes(extension));
}

export function matchesMagic(head: Uint8Array, pattern: MagicPattern): boolean {
  const offset = pattern.offset ?? 0;
  if (head.length < offset + pattern.bytes.length) return false;
  for (let i = 0; i < pattern.bytes.length; i++) {
    const expected = pattern.bytes[i];
    if (expected !== null && expected !== undefined && head[offset + i] !== expected) return false;
  }
  return true;
}

/** The bytes of an ASCII string, for writing magic patterns: `ascii('RIFF')`. */
export function ascii(text: string): number[] {
  return Array.from(text, (c) => c.charCodeAt(0) & 0xff);
}
