import { fixText } from './fix-text.js';
import { htmlUnescape } from './html-unescape.js';

// Python's `regex` \s (Unicode White_Space): JS \s lacks U+0085 and adds U+FEFF.
const WS = '\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const WS_RUN = new RegExp(`[${WS}]+`, 'g');
// Python's str.strip() also strips U+001C..U+001F (str.isspace).
const STRIP = new RegExp(`^[${WS}\\x1c-\\x1f]+|[${WS}\\x1c-\\x1f]+$`, 'g');

/** Python's `str.strip()` with no arguments. */
export function pyStrip(text: string): string {
  return text.replace(STRIP, '');
}

/** CLIP's `basic_clean`: ftfy, HTML unescape twice, strip. */
export function basicClean(text: string): string {
  return pyStrip(htmlUnescape(htmlUnescape(fixText(text))));
}

/** CLIP's `whitespace_clean`: runs of whitespace → one space, strip. */
export function whitespaceClean(text: string): string {
  return pyStrip(text.replace(WS_RUN, ' '));
}

/**
 * The whole CLIP text normalization before pre-tokenization:
 * `whitespace_clean(basic_clean(text)).lower()`.
 */
export function clipNormalize(text: string): string {
  return whitespaceClean(basicClean(text)).toLowerCase();
}

/**
 * CLIP's pre-tokenizer on lowercased text:
 * `<|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`,
 * `re.IGNORECASE`, with `\s` as Python's `regex` module defines it.
 *
 * JavaScript's `i` flag folds cases differently, so the case-insensitivity is spelled out instead.
 * On lowercased text Python's flag has exactly two effects (checked over every code point):
 * `'ſ` (long s) matches `'s`, and U+0345 COMBINING GREEK YPOGEGRAMMENI, which folds to a letter,
 * matches no branch and is dropped. Global: reset `lastIndex` or use `match` / `matchAll`.
 */
export const CLIP_PRETOKENIZE = new RegExp(
  `<\\|startoftext\\|>|<\\|endoftext\\|>|'[s\\u017f]|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^${WS}\\p{L}\\p{N}\\u0345]+`,
  'gu',
);

/** The pre-tokens ("words") of already normalized text. */
export function clipPretokenize(normalized: string): string[] {
  return normalized.match(CLIP_PRETOKENIZE) ?? [];
}
