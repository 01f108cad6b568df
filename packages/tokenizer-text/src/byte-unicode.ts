/**
 * GPT-2 / CLIP byte ↔ unicode map: every byte 0..255 gets a printable character so BPE works on
 * strings without whitespace or control characters. Printable Latin-1 bytes (`!`..`~`, `¡`..`¬`,
 * `®`..`ÿ`) map to themselves; the other 68 bytes map to U+0100.. in byte order.
 */
function buildByteOrder(): number[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) bs.push(b);
  return bs;
}

/**
 * Bytes in the order CLIP's vocabulary lists them (`bytes_to_unicode().values()`): the 188
 * printable ones, then the other 68. Token id `i` of the base vocabulary is byte `BYTE_ORDER[i]`.
 */
export const BYTE_ORDER: readonly number[] = buildByteOrder();

function buildByteToUnicode(): string[] {
  const table = new Array<string>(256);
  BYTE_ORDER.forEach((b, i) => (table[b] = String.fromCharCode(i < 188 ? b : 256 + i - 188)));
  return table;
}

/** `BYTE_TO_UNICODE[b]` is the one-character string that byte `b` becomes. */
export const BYTE_TO_UNICODE: readonly string[] = buildByteToUnicode();

/** The reverse map: UTF-16 code unit of a byte character → the byte (or -1 for other characters). */
export const UNICODE_TO_BYTE: Int16Array = (() => {
  const out = new Int16Array(512).fill(-1);
  BYTE_TO_UNICODE.forEach((ch, b) => (out[ch.charCodeAt(0)] = b));
  return out;
})();

const utf8 = new TextEncoder();

/** The byte-level string of `text`: its UTF-8 bytes, each as its {@link BYTE_TO_UNICODE} character. */
export function toByteLevel(text: string): string {
  let out = '';
  // ASCII needs no UTF-8 encoder call.
  let ascii = true;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  }
  if (ascii) {
    for (let i = 0; i < text.length; i++) out += BYTE_TO_UNICODE[text.charCodeAt(i)]!;
    return out;
  }
  for (const b of utf8.encode(text)) out += BYTE_TO_UNICODE[b]!;
  return out;
}
