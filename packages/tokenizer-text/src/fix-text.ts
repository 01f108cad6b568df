import { BADNESS_SOURCE, CHARMAP_ENCODINGS, CHARMAPS, FTFY_UPPER_ENTITIES, UTF8_DETECTOR_SOURCE } from './generated/ftfy-tables.js';
import { HTML5_ENTITIES } from './generated/html5-entities.js';
import { htmlUnescape } from './html-unescape.js';

/**
 * `ftfy.fix_text(text)` with ftfy 6.3's default configuration, as CLIP's `basic_clean` calls it.
 *
 * Ported steps, in ftfy's order, repeated per line until nothing changes:
 * HTML entity unescaping (ftfy's conservative variant, off from the first line containing `<`),
 * mojibake repair (`fix_encoding`: UTF-8 that was decoded as Latin-1, Windows-125x, ISO-8859-2,
 * MacRoman or CP437, with its `restore_byte_a0` / lossy-sequence / inconsistent-UTF-8 /
 * C1-control fix-ups, driven by ftfy's own badness heuristic), Latin ligatures (`ﬁ` → `fi`),
 * full/half-width forms (`ＡＢＣ` → `ABC`), curly quotes → straight, line breaks → `\n`,
 * lone surrogates → U+FFFD, ANSI terminal escapes removed, control characters removed, NFC.
 *
 * Known differences from Python: lines longer than 1,000,000 UTF-16 code units are cut in
 * code units (Python counts code points), `\w` in the badness heuristic is `[\p{L}\p{N}_]`, and the
 * Unicode version is Node's rather than Python's.
 */
export function fixText(text: string): string {
  if (isPlainAscii(text)) return text;
  let out = '';
  let pos = 0;
  let unescape = true;
  while (pos < text.length) {
    let end = text.indexOf('\n', pos) + 1;
    if (end === 0) end = text.length;
    if (end - pos > MAX_SEGMENT) end = pos + MAX_SEGMENT;
    const segment = text.slice(pos, end);
    // ftfy switches HTML unescaping off for this and every later line once it sees a `<`.
    if (unescape && segment.includes('<')) unescape = false;
    out += fixSegment(segment, unescape);
    pos = end;
  }
  return out;
}

const MAX_SEGMENT = 1_000_000;

/** ASCII without `&`, `\r`, ESC or removable controls: no ftfy step can change it. */
function isPlainAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x20 ? c > 0x7e || c === 0x26 : c !== 0x09 && c !== 0x0a && c !== 0x0c) return false;
  }
  return true;
}

function fixSegment(text: string, unescape: boolean): string {
  for (;;) {
    const original = text;
    if (unescape) text = ftfyUnescapeHtml(text);
    text = fixEncoding(text);
    text = fixC1Controls(text);
    text = fixLatinLigatures(text);
    text = fixCharacterWidth(text);
    text = text.replace(/[\u02bc\u2018-\u201b]/g, "'").replace(/[\u201c-\u201f]/g, '"');
    text = text.replace(/\r\n?|[\u2028\u2029\x85]/g, '\n');
    text = fixSurrogates(text);
    text = text.replace(/\x1b\[(?:\p{Nd}|;)*[a-zA-Z]/gu, '');
    text = text.replace(/[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g, '');
    text = text.normalize('NFC');
    if (text === original) return text;
  }
}

/** ftfy's `unescape_html`: only `&name;` entities (plus some all-caps ones) and numeric references. */
function ftfyUnescapeHtml(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(/&#?[0-9A-Za-z]{1,24};/g, (entity) => {
    const name = entity.slice(1);
    if (Object.prototype.hasOwnProperty.call(HTML5_ENTITIES, name)) return HTML5_ENTITIES[name]!;
    if (Object.prototype.hasOwnProperty.call(FTFY_UPPER_ENTITIES, entity)) return FTFY_UPPER_ENTITIES[entity]!;
    if (entity.startsWith('&#')) {
      const unescaped = htmlUnescape(entity);
      return unescaped.includes(';') ? entity : unescaped;
    }
    return entity;
  });
}

// ---- mojibake repair -------------------------------------------------------------------------
// Byte strings are JS strings of code units 0..255 so that byte-level regexes can run on them.

const BADNESS = new RegExp(BADNESS_SOURCE, 'u');
const UTF8_DETECTOR = new RegExp(UTF8_DETECTOR_SOURCE, 'u');
const UTF8_DETECTOR_ALL = new RegExp(UTF8_DETECTOR_SOURCE, 'gu');

interface Charmap {
  readonly decode: readonly string[];
  readonly encode: ReadonlyMap<number, number>;
}

let charmaps: Map<string, Charmap> | undefined;

function charmap(encoding: string): Charmap {
  charmaps ??= new Map();
  let map = charmaps.get(encoding);
  if (!map) {
    const table = CHARMAPS[encoding]!;
    const decode: string[] = [];
    const encode = new Map<number, number>();
    for (let b = 0; b < 256; b++) {
      const ch = table[b]!;
      const defined = b === 0 || ch !== '\0';
      decode.push(defined ? ch : '');
      if (defined && !encode.has(ch.charCodeAt(0))) encode.set(ch.charCodeAt(0), b);
    }
    map = { decode, encode };
    charmaps.set(encoding, map);
  }
  return map;
}

/** `text.encode(encoding)` as a byte string, or undefined when a character has no byte. */
function encodeSingleByte(text: string, encoding: string): string | undefined {
  const { encode } = charmap(encoding);
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const b = encode.get(text.charCodeAt(i));
    if (b === undefined) return undefined;
    out += String.fromCharCode(b);
  }
  return out;
}

/** Strict `bytes.decode(encoding)` of a byte string; undefined for an undefined byte. */
function decodeSingleByte(bytes: string, encoding: string): string | undefined {
  const { decode } = charmap(encoding);
  let out = '';
  for (let i = 0; i < bytes.length; i++) {
    const ch = decode[bytes.charCodeAt(i)]!;
    if (ch === '' ) return undefined;
    out += ch;
  }
  return out;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeUtf8(bytes: string): string | undefined {
  const buf = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) buf[i] = bytes.charCodeAt(i);
  try {
    return strictUtf8.decode(buf);
  } catch {
    return undefined;
  }
}

/** ftfy's `utf-8-variants`: UTF-8 plus CESU-8 surrogate pairs and Java's `C0 80` NUL. */
function decodeUtf8Variants(bytes: string): string | undefined {
  let out = '';
  let last = 0;
  for (const m of bytes.matchAll(/\xc0\x80|\xed[\xa0-\xaf][\x80-\xbf]\xed[\xb0-\xbf][\x80-\xbf]/g)) {
    const part = decodeUtf8(bytes.slice(last, m.index));
    if (part === undefined) return undefined;
    const s = m[0];
    if (s.length === 2) out += part + '\0';
    else {
      const hi = ((s.charCodeAt(1) & 0x0f) << 6) | (s.charCodeAt(2) & 0x3f);
      const lo = ((s.charCodeAt(4) & 0x0f) << 6) | (s.charCodeAt(5) & 0x3f);
      out += part + String.fromCodePoint(0x10000 + (hi << 10) + lo);
    }
    last = m.index + s.length;
  }
  const rest = decodeUtf8(bytes.slice(last));
  return rest === undefined ? undefined : out + rest;
}

const A_GRAVE_WORD = /\xc3 (?! |quele|quela|quilo|s )/g;
const ALTERED_UTF8 =
  /[\xc2\xc3\xc5\xce\xd0\xd9] |[\xe2\xe3] [\x80-\x84\x86-\x9f\xa1-\xbf]|[\xe0-\xe3][\x80-\x84\x86-\x9f\xa1-\xbf] |\xf0 [\x80-\xbf][\x80-\xbf]|\xf0[\x80-\xbf] [\x80-\xbf]|\xf0[\x80-\xbf][\x80-\xbf] /g;
const LOSSY_UTF8 = new RegExp(
  [
    '[\\xc2-\\xdf][\\x1a]',
    '[\\xc2-\\xc3][?]',
    '\\xed[\\xa0-\\xaf][\\x1a?]\\xed[\\xb0-\\xbf][\\x1a?\\x80-\\xbf]',
    '\\xed[\\xa0-\\xaf][\\x1a?\\x80-\\xbf]\\xed[\\xb0-\\xbf][\\x1a?]',
    '[\\xe0-\\xef][\\x1a?][\\x1a\\x80-\\xbf]',
    '[\\xe0-\\xef][\\x1a\\x80-\\xbf][\\x1a?]',
    '[\\xf0-\\xf4][\\x1a?][\\x1a\\x80-\\xbf][\\x1a\\x80-\\xbf]',
    '[\\xf0-\\xf4][\\x1a\\x80-\\xbf][\\x1a?][\\x1a\\x80-\\xbf]',
    '[\\xf0-\\xf4][\\x1a\\x80-\\xbf][\\x1a\\x80-\\xbf][\\x1a?]',
    '\\x1a',
  ].join('|'),
  'g',
);

function restoreByteA0(bytes: string): string {
  return bytes.replace(A_GRAVE_WORD, '\xc3\xa0 ').replace(ALTERED_UTF8, (m) => m.replace(/ /g, '\xa0'));
}

/** `ftfy.fix_encoding`: undo mojibake one layer at a time until the text stops changing. */
export function fixEncoding(text: string): string {
  for (;;) {
    const fixed = fixEncodingStep(text);
    if (fixed === text) return text;
    text = fixed;
  }
}

function fixEncodingStep(text: string): string {
  if (text.length === 0 || /^[\x00-\x7f]*$/.test(text) || !BADNESS.test(text)) return text;
  const possible: string[] = [];
  for (const encoding of CHARMAP_ENCODINGS) {
    let bytes = encodeSingleByte(text, encoding);
    if (bytes === undefined) continue;
    possible.push(encoding);
    ALTERED_UTF8.lastIndex = 0;
    if (encoding !== 'macroman' && ALTERED_UTF8.test(bytes)) bytes = restoreByteA0(bytes);
    ALTERED_UTF8.lastIndex = 0;
    if (encoding.startsWith('sloppy')) bytes = bytes.replace(LOSSY_UTF8, '\xef\xbf\xbd');
    const fixed = bytes.includes('\xed') || bytes.includes('\xc0') ? decodeUtf8Variants(bytes) : decodeUtf8(bytes);
    if (fixed !== undefined) return fixed;
  }
  if (UTF8_DETECTOR.test(text)) {
    const fixed = text.replace(UTF8_DETECTOR_ALL, (sub) => (sub.length < text.length && BADNESS.test(sub) ? fixEncoding(sub) : sub));
    if (fixed !== text) return fixed;
  }
  // ftfy checks for "windows-1252" among the encodings it tried, which only has the sloppy name,
  // so Latin-1 text with C1 controls is always re-read as strict Windows-1252 when that works.
  if (possible.includes('latin-1')) {
    const fixed = decodeSingleByte(encodeSingleByte(text, 'latin-1')!, 'windows-1252');
    if (fixed !== undefined && fixed !== text) return fixed;
  }
  if (/[\x80-\x9f]/.test(text)) return fixC1Controls(text);
  return text;
}

function fixC1Controls(text: string): string {
  return text.replace(/[\x80-\x9f]/g, (c) => charmap('sloppy-windows-1252').decode[c.charCodeAt(0)]!);
}

const LIGATURES: Record<string, string> = {
  'Ĳ': 'IJ', 'ĳ': 'ij', 'ŉ': 'ʼn', 'Ǳ': 'DZ', 'ǲ': 'Dz', 'ǳ': 'dz', 'Ǆ': 'DŽ', 'ǅ': 'Dž', 'ǆ': 'dž',
  'Ǉ': 'LJ', 'ǈ': 'Lj', 'ǉ': 'lj', 'Ǌ': 'NJ', 'ǋ': 'Nj', 'ǌ': 'nj',
  'ﬀ': 'ff', 'ﬁ': 'fi', 'ﬂ': 'fl', 'ﬃ': 'ffi', 'ﬄ': 'ffl', 'ﬅ': 'ſt', 'ﬆ': 'st',
};

function fixLatinLigatures(text: string): string {
  return text.replace(/[ĲĳŉǱǲǳǄǅǆǇǈǉǊǋǌﬀﬁﬂﬃﬄﬅﬆ]/g, (c) => LIGATURES[c]!);
}

function fixCharacterWidth(text: string): string {
  // U+3000 and U+FF01..U+FFEF: ftfy replaces each by its NFKC form when that differs.
  return text.replace(/[\u3000\uff01-\uffef]/g, (c) => (c === '\u3000' ? ' ' : c.normalize('NFKC')));
}

function fixSurrogates(text: string): string {
  return text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}
