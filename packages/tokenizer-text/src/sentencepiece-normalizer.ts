import { InvalidArgumentError } from '@omnitok/core';
import type { NormalizerSpec } from './sentencepiece-model.js';

const utf8 = new TextDecoder('utf-8');

/**
 * Longest-match lookup of a model's user-defined symbols (sentencepiece's PrefixMatcher): they are
 * kept whole and unnormalized, and segmentation never splits them. Tries over UTF-8 bytes (for the
 * normalizer) and over UTF-16 code units (for segmentation of the normalized string).
 */
export class PrefixMatcher {
  private readonly bytes = new TrieNode();
  private readonly units = new TrieNode();
  readonly empty: boolean;

  constructor(symbols: readonly string[]) {
    const encoder = new TextEncoder();
    for (const symbol of symbols) {
      if (symbol.length === 0) continue;
      this.bytes.insert(encoder.encode(symbol));
      const units = new Uint16Array(symbol.length);
      for (let i = 0; i < symbol.length; i++) units[i] = symbol.charCodeAt(i);
      this.units.insert(units);
    }
    this.empty = symbols.every((s) => s.length === 0);
  }

  /** Length in bytes of the longest symbol at `pos` of UTF-8 `input`, or 0. */
  matchBytes(input: Uint8Array, pos: number): number {
    return this.bytes.longest((i) => input[i], pos, input.length);
  }

  /** Length in code units of the longest symbol at `pos` of `text`, or 0. */
  matchString(text: string, pos: number): number {
    return this.units.longest((i) => text.charCodeAt(i), pos, text.length);
  }
}

class TrieNode {
  private readonly next = new Map<number, TrieNode>();
  private end = false;

  insert(units: ArrayLike<number>): void {
    let node: TrieNode = this;
    for (let i = 0; i < units.length; i++) {
      let child = node.next.get(units[i]!);
      if (!child) node.next.set(units[i]!, (child = new TrieNode()));
      node = child;
    }
    node.end = true;
  }

  longest(at: (i: number) => number | undefined, pos: number, end: number): number {
    let node: TrieNode | undefined = this;
    let best = 0;
    for (let i = pos; i < end && node; i++) {
      node = node.next.get(at(i)!);
      if (node?.end) best = i - pos + 1;
    }
    return best;
  }
}


/**
 * sentencepiece's Normalizer with a precompiled character map: `<trie size: u32><Darts double array>
 * <NUL-terminated replacement strings>`; the trie maps a UTF-8 prefix to the offset of its replacement.
 */
export class Normalizer {
  readonly addDummyPrefix: boolean;
  readonly removeExtra: boolean;
  private readonly escape: boolean;
  private readonly trie?: Uint32Array;
  private readonly strings?: Uint8Array;
  private readonly encoder = new TextEncoder();

  /** `matcher`: the model's user-defined symbols, which pass through unnormalized. */
  constructor(spec: NormalizerSpec, private readonly matcher?: PrefixMatcher) {
    this.addDummyPrefix = spec.addDummyPrefix;
    this.removeExtra = spec.removeExtraWhitespaces;
    this.escape = spec.escapeWhitespaces;
    const blob = spec.charsmap;
    if (blob && blob.length >= 4) {
      const view = new DataView(blob.buffer, blob.byteOffset, blob.length);
      const size = view.getUint32(0, true);
      if (size % 4 !== 0 || 4 + size > blob.length) throw new InvalidArgumentError('model', 'a corrupt precompiled_charsmap', 'a sentencepiece .model file');
      this.trie = new Uint32Array(size / 4);
      for (let i = 0; i < size / 4; i++) this.trie[i] = view.getUint32(4 + 4 * i, true);
      this.strings = blob.subarray(4 + size);
    }
  }

  normalize(text: string): string {
    // Work on UTF-8 bytes, as the trie does; lone surrogates become U+FFFD like invalid UTF-8.
    const input = this.encoder.encode(text);
    let pos = 0;
    const out: number[] = [];
    const SPACE = [0xe2, 0x96, 0x81]; // "▁"
    if (this.removeExtra) {
      while (pos < input.length) {
        const [rep, len] = this.prefix(input, pos);
        if (!(rep.length === 1 && rep[0] === 0x20)) break;
        pos += len;
      }
    }
    if (pos >= input.length) return '';
    if (this.addDummyPrefix) out.push(...(this.escape ? SPACE : [0x20]));
    let prevSpace = this.removeExtra;
    while (pos < input.length) {
      const [rep, len] = this.prefix(input, pos);
      let start = 0;
      if (prevSpace) while (start < rep.length && rep[start] === 0x20) start++;
      if (start < rep.length) {
        for (let i = start; i < rep.length; i++) {
          if (this.escape && rep[i] === 0x20) out.push(...SPACE);
          else out.push(rep[i]!);
        }
        prevSpace = rep[rep.length - 1] === 0x20;
      }
      pos += len;
      if (!this.removeExtra) prevSpace = false;
    }
    let end = out.length;
    if (this.removeExtra) {
      const space = this.escape ? SPACE : [0x20];
      while (end >= space.length && space.every((b, i) => out[end - space.length + i] === b)) end -= space.length;
    }
    return utf8.decode(Uint8Array.from(out.slice(0, end)));
  }

  /** The replacement bytes of the longest charsmap match at `pos` (or one UTF-8 character) and its length. */
  private prefix(input: Uint8Array, pos: number): [ArrayLike<number>, number] {
    const symbol = this.matcher?.matchBytes(input, pos) ?? 0;
    if (symbol > 0) return [input.subarray(pos, pos + symbol), symbol];
    if (this.trie) {
      let longest = 0;
      let value = 0;
      const a = this.trie;
      let node = 0;
      let unit = a[0]!;
      node ^= offset(unit);
      for (let i = pos; i < input.length; i++) {
        const c = input[i]!;
        node ^= c;
        unit = a[node]!;
        if (label(unit) !== c) break;
        node ^= offset(unit);
        if (hasLeaf(unit)) {
          longest = i - pos + 1;
          value = a[node]! & 0x7fffffff;
        }
      }
      if (longest > 0) {
        const s = this.strings!;
        let e = value;
        while (e < s.length && s[e] !== 0) e++;
        return [s.subarray(value, e), longest];
      }
    }
    const len = utf8Length(input, pos);
    if (len === 0) return [[0xef, 0xbf, 0xbd], 1]; // invalid UTF-8 → U+FFFD
    return [input.subarray(pos, pos + len), len];
  }
}

const hasLeaf = (unit: number) => ((unit >>> 8) & 1) === 1;
const label = (unit: number) => unit & 0x800000ff;
const offset = (unit: number) => (unit >>> 10) << ((unit & 0x200) >>> 6);

/** Length of the valid UTF-8 character at pos, or 0. */
function utf8Length(b: Uint8Array, pos: number): number {
  const c = b[pos]!;
  const need = c < 0x80 ? 1 : c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c < 0xf5 ? 4 : 0;
  if (need === 0 || pos + need > b.length) return 0;
  for (let i = 1; i < need; i++) if ((b[pos + i]! & 0xc0) !== 0x80) return 0;
  return need;
}

/**
 * Length of the UTF-8 character at `pos` as sentencepiece's DecodeUTF8 accepts it (no overlong
 * forms, surrogates or code points past U+10FFFF), or 0 when the byte there starts none.
 */
export function validUtf8Length(b: ArrayLike<number>, pos: number): number {
  const c = b[pos]!;
  if (c < 0x80) return 1;
  const trail = (i: number) => pos + i < b.length && (b[pos + i]! & 0xc0) === 0x80;
  const valid = (cp: number) => cp < 0xd800 || (cp >= 0xe000 && cp <= 0x10ffff);
  if ((c & 0xe0) === 0xc0 && trail(1)) {
    const cp = ((c & 0x1f) << 6) | (b[pos + 1]! & 0x3f);
    return cp >= 0x80 ? 2 : 0;
  }
  if ((c & 0xf0) === 0xe0 && trail(1) && trail(2)) {
    const cp = ((c & 0x0f) << 12) | ((b[pos + 1]! & 0x3f) << 6) | (b[pos + 2]! & 0x3f);
    return cp >= 0x800 && valid(cp) ? 3 : 0;
  }
  if ((c & 0xf8) === 0xf0 && trail(1) && trail(2) && trail(3)) {
    const cp = ((c & 0x07) << 18) | ((b[pos + 1]! & 0x3f) << 12) | ((b[pos + 2]! & 0x3f) << 6) | (b[pos + 3]! & 0x3f);
    return cp >= 0x10000 && valid(cp) ? 4 : 0;
  }
  return 0;
}
