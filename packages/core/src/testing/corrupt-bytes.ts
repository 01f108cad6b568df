import { mulberry32 } from '../numeric/mulberry32.js';

/**
 * Seeded corruptions of a valid file, for checking that a decoder fails cleanly (a typed error) or
 * copes — never crashes, hangs or throws something untyped. Each copy applies one to three of:
 * truncation, byte overwrites (mostly in the first kilobyte, where headers and length fields are),
 * a chunk of the file copied over another place, random bytes inserted, a run zeroed. The first four
 * bytes (the magic most formats are sniffed by) survive nine times in ten, so most copies reach the
 * format's own decoder instead of stopping at "unsupported format"; in the tenth one of them changes.
 */
export function corruptedCopies(bytes: Uint8Array, count: number, seed = 1): Uint8Array[] {
  const next = mulberry32(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1));
  const copies: Uint8Array[] = [];
  for (let c = 0; c < count; c++) {
    let b = Uint8Array.from(bytes);
    const keep = next() < 0.9 ? Math.min(4, b.length) : 0;
    if (keep === 0 && b.length > 0) {
      const p = int(0, Math.min(3, b.length - 1));
      b[p] = b[p]! ^ int(1, 255); // the magic itself
    }
    const at = () => (next() < 0.7 ? int(keep, Math.max(keep, Math.min(b.length, 1024) - 1)) : int(keep, Math.max(keep, b.length - 1)));
    for (let m = int(1, 3); m > 0 && b.length > keep; m--) {
      const kind = int(0, 4);
      if (kind === 0) {
        b = b.slice(0, int(Math.max(keep, 1), Math.max(keep, b.length - 1)));
      } else if (kind === 1) {
        for (let n = int(1, 8); n > 0; n--) b[at()] = int(0, 255);
      } else if (kind === 2) {
        const from = int(0, b.length - 1);
        const len = int(1, Math.min(256, b.length - from));
        const to = at();
        b.set(b.slice(from, from + len).subarray(0, b.length - to), to);
      } else if (kind === 3) {
        const p = at();
        const junk = Uint8Array.from({ length: int(1, 64) }, () => int(0, 255));
        const grown = new Uint8Array(b.length + junk.length);
        grown.set(b.subarray(0, p));
        grown.set(junk, p);
        grown.set(b.subarray(p), p + junk.length);
        b = grown;
      } else {
        const p = at();
        b.fill(0, p, Math.min(b.length, p + int(1, 64)));
      }
    }
    copies.push(b);
  }
  return copies;
}
