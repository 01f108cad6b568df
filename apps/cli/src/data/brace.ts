import { InvalidArgumentError } from '@omnitok/core';

/**
 * Expands WebDataset / bash brace patterns: numeric ranges `{00000..00009}` (zero padding kept from the
 * wider bound) and lists `{a,b,c}`, nested or several per pattern, left to right.
 * `shards/{000..002}.tar` → `shards/000.tar`, `shards/001.tar`, `shards/002.tar`.
 */
export function expandBraces(pattern: string, limit = 1_000_000): string[] {
  const open = pattern.indexOf('{');
  if (open < 0) return [pattern];
  let depth = 0;
  let close = -1;
  for (let i = open; i < pattern.length; i++) {
    if (pattern[i] === '{') depth++;
    else if (pattern[i] === '}' && --depth === 0) {
      close = i;
      break;
    }
  }
  if (close < 0) throw new InvalidArgumentError('--data', pattern, 'a brace pattern with matching { }');
  const head = pattern.slice(0, open);
  const inner = pattern.slice(open + 1, close);
  const tail = expandBraces(pattern.slice(close + 1), limit);
  const range = /^(-?\d+)\.\.(-?\d+)$/.exec(inner);
  let options: string[];
  if (range) {
    const [a, b] = [Number(range[1]), Number(range[2])];
    const width = Math.max(range[1]!.length, range[2]!.length);
    const pad = range[1]!.startsWith('0') || range[2]!.startsWith('0');
    const step = a <= b ? 1 : -1;
    if (Math.abs(b - a) + 1 > limit) throw new InvalidArgumentError('--data', pattern, `at most ${limit} expansions`);
    options = [];
    for (let v = a; step > 0 ? v <= b : v >= b; v += step) options.push(pad ? String(v).padStart(width, '0') : String(v));
  } else {
    options = splitTopLevel(inner).flatMap((o) => expandBraces(o, limit));
  }
  const out: string[] = [];
  for (const o of options) for (const t of tail) {
    out.push(head + o + t);
    if (out.length > limit) throw new InvalidArgumentError('--data', pattern, `at most ${limit} expansions`);
  }
  return out;
}

function splitTopLevel(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '{') depth++;
    else if (s[i] === '}') depth--;
    else if (s[i] === ',' && depth === 0) {
      parts.push(s.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(s.slice(start));
  return parts;
}
