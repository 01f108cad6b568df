import { HTML5_ENTITIES } from './generated/html5-entities.js';

/**
 * Python's `html.unescape` (3.11), which CLIP applies twice: HTML5 named references (also without
 * the semicolon, by longest known prefix), decimal and hex references with the HTML5 fix-ups
 * (Windows-1252 for 0x80–0x9F, U+FFFD for surrogates / out of range / NUL, dropped noncharacters).
 */
export function htmlUnescape(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(CHARREF, (_m, ref: string) => replaceCharref(ref));
}

const CHARREF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

// HTML5 §13.2.5.80 numeric character reference end state, as Python's table has it.
const INVALID_CHARREFS: Record<number, string> = {
  0x00: '\ufffd', 0x0d: '\r', 0x80: '\u20ac', 0x81: '\x81', 0x82: '\u201a', 0x83: '\u0192', 0x84: '\u201e',
  0x85: '\u2026', 0x86: '\u2020', 0x87: '\u2021', 0x88: '\u02c6', 0x89: '\u2030', 0x8a: '\u0160', 0x8b: '\u2039',
  0x8c: '\u0152', 0x8d: '\x8d', 0x8e: '\u017d', 0x8f: '\x8f', 0x90: '\x90', 0x91: '\u2018', 0x92: '\u2019',
  0x93: '\u201c', 0x94: '\u201d', 0x95: '\u2022', 0x96: '\u2013', 0x97: '\u2014', 0x98: '\u02dc', 0x99: '\u2122',
  0x9a: '\u0161', 0x9b: '\u203a', 0x9c: '\u0153', 0x9d: '\x9d', 0x9e: '\u017e', 0x9f: '\u0178',
};

function isInvalidCodepoint(n: number): boolean {
  return (
    (n >= 0x1 && n <= 0x8) ||
    n === 0xb ||
    (n >= 0xe && n <= 0x1f) ||
    (n >= 0x7f && n <= 0x9f) ||
    (n >= 0xfdd0 && n <= 0xfdef) ||
    (n & 0xfffe) === 0xfffe
  );
}

function replaceCharref(ref: string): string {
  if (ref[0] === '#') {
    const hex = ref[1] === 'x' || ref[1] === 'X';
    const digits = ref.slice(hex ? 2 : 1).replace(/;$/, '');
    // Arbitrarily long digit strings are valid; anything past 0x10FFFF is out of range anyway.
    const trimmed = digits.replace(/^0+/, '') || '0';
    const num = trimmed.length > 8 ? Infinity : parseInt(trimmed, hex ? 16 : 10);
    const fix = INVALID_CHARREFS[num];
    if (fix !== undefined) return fix;
    if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return '\ufffd';
    if (isInvalidCodepoint(num)) return '';
    return String.fromCodePoint(num);
  }
  const named = HTML5_ENTITIES[ref];
  if (named !== undefined && Object.prototype.hasOwnProperty.call(HTML5_ENTITIES, ref)) return named;
  const chars = Array.from(ref);
  for (let x = chars.length - 1; x > 1; x--) {
    const prefix = chars.slice(0, x).join('');
    if (Object.prototype.hasOwnProperty.call(HTML5_ENTITIES, prefix)) return HTML5_ENTITIES[prefix]! + chars.slice(x).join('');
  }
  return '&' + ref;
}
