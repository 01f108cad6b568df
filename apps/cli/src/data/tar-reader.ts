import { DecodeError } from '@omnitok/core';

/** One regular file of a tar archive, its bytes read in full (WebDataset members are small). */
export interface TarEntry {
  /** Path inside the archive (ustar prefix, GNU long name or pax `path` applied). */
  readonly name: string;
  /** Empty when `error` is set. */
  readonly data: Uint8Array;
  /** Set when the member was passed over unread (larger than `maxMemberBytes`). */
  readonly error?: string;
}

export interface TarOptions {
  /** Regular members larger than this are skipped unread and yielded with `error` (default 1 GiB). */
  readonly maxMemberBytes?: number;
}

const BLOCK = 512;
const DEFAULT_MAX_MEMBER = 1 << 30;
// GNU long names and pax records are a few hundred bytes; a header claiming more is damage
const MAX_META_BYTES = 1 << 20;

/**
 * Streams the regular files of a POSIX tar (ustar, pax `x`/`g` headers, GNU `L` long names) from byte
 * chunks, holding at most one member (≤ `maxMemberBytes`) plus one chunk in memory. Directories, links
 * and other entries are passed over without buffering; so is a regular member over `maxMemberBytes`
 * (yielded with `error`: a header's size is only as trustworthy as its checksum). A truncated archive,
 * a bad header checksum or an oversized long-name / pax header throws `DecodeError` naming `label`.
 */
export async function* readTar(chunks: AsyncIterable<Uint8Array>, label: string, options: TarOptions = {}): AsyncGenerator<TarEntry> {
  const maxMember = options.maxMemberBytes ?? DEFAULT_MAX_MEMBER;
  const reader = new ChunkReader(chunks);
  let longName: string | undefined;
  let paxPath: string | undefined;
  let globalPath: string | undefined;
  for (;;) {
    const header = await reader.read(BLOCK);
    if (header === undefined) return; // clean end without the two zero blocks (tolerated, like GNU tar)
    if (header.length < BLOCK) throw new DecodeError(label, 'tar', 'truncated header');
    if (header.every((b) => b === 0)) return;
    if (!checksumOk(header)) throw new DecodeError(label, 'tar', `bad header checksum at member ${JSON.stringify(str(header, 0, 100))}`);
    const size = octal(header, 124, 12);
    const type = String.fromCharCode(header[156]! || 0x30);
    const magic = str(header, 257, 6);
    const prefix = magic.startsWith('ustar') ? str(header, 345, 155) : '';
    const name = longName ?? paxPath ?? globalPath ?? (prefix ? `${prefix}/${str(header, 0, 100)}` : str(header, 0, 100));
    const padding = (BLOCK - (size % BLOCK)) % BLOCK;
    const truncated = () => new DecodeError(label, 'tar', `truncated member ${JSON.stringify(str(header, 0, 100))}`);
    const meta = type === 'L' || type === 'x' || type === 'g';
    if (meta && size > MAX_META_BYTES) throw new DecodeError(label, 'tar', `a ${size}-byte ${type === 'L' ? 'long-name' : 'pax'} header at member ${JSON.stringify(str(header, 0, 100))} (at most ${MAX_META_BYTES})`);
    const regular = type === '0' || type === '7';
    if (!meta && (!regular || size > maxMember)) {
      if ((await reader.skip(size + padding)) < size) throw truncated();
      if (regular) {
        yield { name, data: new Uint8Array(0), error: `member of ${size} bytes, over the ${maxMember}-byte limit (passed over)` };
      }
      longName = undefined;
      paxPath = undefined;
      continue;
    }
    const body = await reader.read(size);
    if (body === undefined || body.length < size) throw truncated();
    await reader.skip(padding);
    if (type === 'L') {
      longName = utf8(body).replace(/\0+$/, '');
      continue;
    }
    if (type === 'x' || type === 'g') {
      const path = paxRecords(body).get('path');
      if (type === 'x') paxPath = path;
      else globalPath = path ?? globalPath;
      continue;
    }
    longName = undefined;
    paxPath = undefined;
    yield { name, data: body };
  }
}

/** pax extended header records: `"<len> <key>=<value>\n"` repeated. */
function paxRecords(body: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  let at = 0;
  while (at < body.length) {
    let sp = at;
    while (sp < body.length && body[sp] !== 0x20) sp++;
    const len = Number(utf8(body.subarray(at, sp)));
    if (!Number.isInteger(len) || len <= 0) break;
    const record = utf8(body.subarray(sp + 1, at + len - 1));
    const eq = record.indexOf('=');
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    at += len;
  }
  return out;
}

function checksumOk(h: Uint8Array): boolean {
  const stored = octal(h, 148, 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
  return sum === stored;
}

function octal(h: Uint8Array, at: number, len: number): number {
  if (h[at]! & 0x80) {
    // GNU base-256 for sizes ≥ 8 GiB.
    let v = h[at]! & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + h[at + i]!;
    return v;
  }
  const s = str(h, at, len).trim();
  return s ? parseInt(s, 8) : 0;
}

function str(h: Uint8Array, at: number, len: number): string {
  let end = at;
  while (end < at + len && h[end] !== 0) end++;
  return utf8(h.subarray(at, end));
}

function utf8(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
}

/** Exact-size reads over a stream of chunks. */
class ChunkReader {
  private readonly it: AsyncIterator<Uint8Array>;
  private buf: Uint8Array = new Uint8Array(0);
  private done = false;

  constructor(chunks: AsyncIterable<Uint8Array>) {
    this.it = chunks[Symbol.asyncIterator]();
  }

  /** `n` bytes (fewer at the end of the stream; undefined when nothing is left). */
  async read(n: number): Promise<Uint8Array | undefined> {
    if (n === 0) return new Uint8Array(0);
    const parts: Uint8Array[] = [];
    const have = await this.consume(n, (part) => parts.push(part));
    if (have === 0) return undefined;
    if (parts.length === 1) return parts[0]!.slice();
    const out = new Uint8Array(have);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  /** Discards `n` bytes without holding them; returns how many there were (fewer at the end of the stream). */
  skip(n: number): Promise<number> {
    return this.consume(n, () => {});
  }

  /** Hands the next `n` bytes (or what is left) to `take` chunk by chunk; returns how many there were. */
  private async consume(n: number, take: (part: Uint8Array) => void): Promise<number> {
    let have = 0;
    while (have < n) {
      if (this.buf.length === 0) {
        if (this.done) break;
        const r = await this.it.next();
        if (r.done) {
          this.done = true;
          break;
        }
        this.buf = r.value;
        continue;
      }
      const k = Math.min(n - have, this.buf.length);
      take(this.buf.subarray(0, k));
      this.buf = this.buf.subarray(k);
      have += k;
    }
    return have;
  }
}
