import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { discreteTokens } from '@omnitok/core';
import { describe, expect, it } from 'vitest';
import { expandBraces } from '../src/data/brace.js';
import { BatchLoader, type PreparedSample } from '../src/data/loader.js';
import { folderSource } from '../src/data/folder-source.js';
import { csvSource, jsonlSource, MAX_CSV_FIELD, parseRow } from '../src/data/manifest-sources.js';
import { openSource } from '../src/data/open-source.js';
import type { DataSource, RawRecord } from '../src/data/records.js';
import { readTar } from '../src/data/tar-reader.js';
import { webDatasetSource } from '../src/data/webdataset-source.js';
import { makeTar, tempDir } from './train-fixtures.js';

const text = new Set(['text']);
async function all(source: DataSource): Promise<RawRecord[]> {
  const out: RawRecord[] = [];
  for await (const r of source.records()) out.push(r);
  return out;
}

describe('brace patterns', () => {
  it('expands zero-padded ranges, lists and nesting', () => {
    expect(expandBraces('shards/{00000..00002}.tar')).toEqual(['shards/00000.tar', 'shards/00001.tar', 'shards/00002.tar']);
    expect(expandBraces('{a,b{1..2}}-{8..10}')).toEqual(['a-8', 'a-9', 'a-10', 'b1-8', 'b1-9', 'b1-10', 'b2-8', 'b2-9', 'b2-10']);
    expect(expandBraces('plain.tar')).toEqual(['plain.tar']);
    expect(() => expandBraces('x{1..2')).toThrow(/matching/);
  });
});

describe('streaming tar reader', () => {
  it('reads ustar members, pax long names and skips padding, chunk boundaries anywhere', async () => {
    const long = `${'d'.repeat(60)}/${'n'.repeat(70)}.txt`;
    const tar = makeTar([
      { name: 'a/0001.jpg', data: new Uint8Array([1, 2, 3]) },
      { name: 'a/0001.txt', data: 'x'.repeat(700) },
      { name: long, data: 'long' },
    ]);
    for (const chunk of [1, 7, 512, 100000]) {
      const chunks = async function* () {
        for (let i = 0; i < tar.length; i += chunk) yield tar.subarray(i, i + chunk);
      };
      const entries = [];
      for await (const e of readTar(chunks(), 't.tar')) entries.push(e);
      expect(entries.map((e) => e.name)).toEqual(['a/0001.jpg', 'a/0001.txt', long]);
      expect(Array.from(entries[0]!.data)).toEqual([1, 2, 3]);
      expect(Buffer.from(entries[1]!.data).toString()).toBe('x'.repeat(700));
    }
  });
  it('names a truncated archive and a bad checksum', async () => {
    const tar = makeTar([{ name: 'k.txt', data: 'hello world' }]);
    const once = (b: Uint8Array) => (async function* () { yield b; })();
    await expect(async () => { for await (const _ of readTar(once(tar.subarray(0, 520)), 'cut.tar')) void _; }).rejects.toThrow(/cut\.tar.*truncated/);
    const bad = Buffer.from(tar);
    bad[10] = 0x41;
    await expect(async () => { for await (const _ of readTar(once(bad), 'bad.tar')) void _; }).rejects.toThrow(/checksum/);
  });

  it('passes over members larger than maxMemberBytes unread (the next ones still read), and a size past the end is truncation, not a buffer of the rest', async () => {
    const once = (b: Uint8Array) => (async function* () { yield b; })();
    const read = async (tar: Uint8Array, options = {}) => {
      const out = [];
      for await (const e of readTar(once(tar), 'm.tar', options)) out.push(e);
      return out;
    };
    const tar = makeTar([
      { name: '0001.jpg', data: new Uint8Array(3000).fill(7) },
      { name: '0001.txt', data: 'a cat' },
      { name: '0002.txt', data: 'a dog' },
    ]);
    const entries = await read(tar, { maxMemberBytes: 1000 });
    expect(entries.map((e) => [e.name, e.data.length, e.error ?? ''])).toEqual([
      ['0001.jpg', 0, 'member of 3000 bytes, over the 1000-byte limit (passed over)'],
      ['0001.txt', 5, ''],
      ['0002.txt', 5, ''],
    ]);
    // a checksum-valid header claiming 8 GiB (GNU base-256) over a 3 000-byte body: an error, not 8 GiB of buffering
    const huge = Buffer.from(tar);
    huge.fill(0, 124, 136);
    huge[124] = 0x80;
    huge[131] = 0x02; // 2 << 32 = 8 GiB
    huge.write('        ', 148);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += huge[i]!;
    huge.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    await expect(read(huge)).rejects.toThrow(/m\.tar.*truncated member "0001\.jpg"/);
    // the WebDataset source: a passed-over member makes its sample an error record, the next sample reads
    const dir = tempDir('maxmember');
    writeFileSync(join(dir, 's.tar'), tar);
    const records = [];
    for await (const r of webDatasetSource('s.tar', { cwd: dir, textModalities: new Set(['text']), maxMemberBytes: 1000 }).records()) records.push(r);
    expect(records.map((r) => [r.key, r.error ?? ''])).toEqual([
      ['0001', '0001.jpg: member of 3000 bytes, over the 1000-byte limit (passed over)'],
      ['0002', ''],
    ]);
    expect(records[1]!.fields.text).toEqual({ kind: 'text', text: 'a dog' });
  });
});

describe('manifest sources', () => {
  it('JSONL: paths relative to the manifest, inline text, labels, malformed lines, escaping paths', async () => {
    const dir = tempDir('jsonl');
    const file = join(dir, 'data.jsonl');
    writeFileSync(file, [
      JSON.stringify({ image: 'img/a.png', text: 'a cat', label: 'cat' }),
      '',
      '{not json',
      JSON.stringify({ image: '../outside.png', text: 'escape' }),
      JSON.stringify([1, 2]),
      JSON.stringify({ filepath: 'img/b.png', caption: 'alias' }),
    ].join('\n'));
    const rs = await all(jsonlSource(file, { textModalities: text, allowOutsideRoot: false }));
    expect(rs).toHaveLength(5);
    expect(rs[0]).toMatchObject({ key: 'data.jsonl:1', label: 'cat', fields: { image: { kind: 'path', path: join(dir, 'img/a.png') }, text: { kind: 'text', text: 'a cat' } } });
    expect(rs[1]!.error).toMatch(/malformed JSON/);
    expect(rs[2]!.error).toMatch(/escapes the manifest folder/);
    expect(rs[3]!.error).toMatch(/not a JSON object/);
    expect(Object.keys(rs[4]!.fields).sort()).toEqual(['image', 'text']);
    const allowed = await all(jsonlSource(file, { textModalities: text, allowOutsideRoot: true }));
    expect(allowed[2]!.error).toBeUndefined();
    expect(allowed[2]!.fields.image).toEqual({ kind: 'path', path: join(dir, '..', 'outside.png') });
  });
  it("CSV/TSV: open_clip's filepath/title columns, quoting across lines, wrong column counts", async () => {
    const dir = tempDir('csv');
    const file = join(dir, 'train.csv');
    writeFileSync(file, 'filepath,title\nimg/a.png,"a ""quoted"", caption"\nimg/b.png,"two\nlines"\nimg/c.png,x,extra\n');
    const rs = await all(csvSource(file, { textModalities: text, allowOutsideRoot: false }));
    expect(rs.map((r) => (r.fields.text as { text?: string } | undefined)?.text)).toEqual(['a "quoted", caption', 'two\nlines', undefined]);
    expect(rs[0]!.fields.image).toEqual({ kind: 'path', path: join(dir, 'img/a.png') });
    expect(rs[2]!.error).toMatch(/3 columns, the header has 2/);
    const tsv = join(dir, 'x.tsv');
    writeFileSync(tsv, 'image\ttext\tlabel\na.png\thello, world\tgreet\n');
    expect((await all(csvSource(tsv, { textModalities: text, allowOutsideRoot: false })))[0]).toMatchObject({ label: 'greet', fields: { text: { text: 'hello, world' } } });
    expect(parseRow('a;"b;c";d', ';').cells).toEqual(['a', 'b;c', 'd']);
  });
  it('CSV: an unclosed quote costs its own row only — every row after it is read (a short file, and past the 1 Mi field limit)', async () => {
    const dir = tempDir('csv-quote');
    for (const rows of [300, 30_000]) {
      const file = join(dir, `stray-${rows}.csv`);
      const lines = ['filepath,title', 'a.png,"a stray quote'];
      for (let i = 0; i < rows; i++) lines.push(`img/${i}.png,caption ${i} of a few words`);
      writeFileSync(file, `${lines.join('\n')}\n`);
      expect(lines.join('\n').length > MAX_CSV_FIELD, `${rows} rows`).toBe(rows > 1000);
      const rs = await all(csvSource(file, { textModalities: text, allowOutsideRoot: false }));
      expect(rs).toHaveLength(rows + 1);
      expect(rs[0]).toMatchObject({ key: `stray-${rows}.csv:2` });
      expect(rs[0]!.error).toMatch(rows > 1000 ? /runs past 1048576 characters \(an unclosed quote\?\)/ : /unterminated quoted field/);
      expect(rs.slice(1).every((r) => r.error === undefined)).toBe(true);
      expect(rs[1]).toMatchObject({ key: `stray-${rows}.csv:3`, fields: { text: { text: 'caption 0 of a few words' } } });
      expect(rs.at(-1)).toMatchObject({ key: `stray-${rows}.csv:${rows + 2}`, fields: { text: { text: `caption ${rows - 1} of a few words` } } });
    }
  });

  it('CSV: random cells (quotes, delimiters, line breaks, empty) written RFC 4180-style read back exactly (seeded)', async () => {
    const dir = tempDir('csv-random');
    let seed = 17;
    const random = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const alphabet = ['a', 'b', ' ', ',', ';', '"', '\n', '\t', 'é', '🐱', "'"];
    const cell = () => Array.from({ length: Math.floor(random() * 12) }, () => alphabet[Math.floor(random() * alphabet.length)]!).join('');
    const quote = (c: string) => (/[",\n]/.test(c) || c.trim() !== c || random() < 0.3 ? `"${c.replaceAll('"', '""')}"` : c);
    const rows = Array.from({ length: 200 }, () => [`img/${Math.floor(random() * 1e6)}.png`, cell(), cell()]);
    // (a row whose text is blank or starts with a quote char is written quoted by `quote`)
    const file = join(dir, 'random.csv');
    writeFileSync(file, `filepath,title,label\n${rows.map((r) => r.map(quote).join(',')).join('\r\n')}\n`);
    const rs = await all(csvSource(file, { textModalities: text, allowOutsideRoot: false }));
    const kept = rows.filter((r) => r.some((c) => c.trim() !== '')); // blank lines are skipped (none here: the path is never blank)
    expect(rs).toHaveLength(kept.length);
    rs.forEach((r, i) => {
      expect(r.error, `row ${i}`).toBeUndefined();
      expect((r.fields.text as { text: string }).text, `row ${i}`).toBe(rows[i]![1]);
    });
  });

  it('WebDataset: groups members by key across brace-expanded shards; a missing shard is a bad record', async () => {
    const dir = tempDir('wds');
    writeFileSync(join(dir, 's-0.tar'), makeTar([
      { name: '000.jpg', data: new Uint8Array([9]) },
      { name: '000.txt', data: 'zero' },
      { name: '000.cls', data: 'c0' },
      { name: '001.png', data: new Uint8Array([8]) },
      { name: '001.txt', data: 'one' },
    ]));
    writeFileSync(join(dir, 's-1.tar'), makeTar([{ name: 'sub/002.wav', data: new Uint8Array([7]) }, { name: 'sub/002.txt', data: 'two' }]));
    const rs = await all(webDatasetSource('s-{0..2}.tar', { cwd: dir, textModalities: text }));
    expect(rs.map((r) => r.key)).toEqual(['000', '001', 'sub/002', 's-2.tar:error']);
    expect(rs[0]).toMatchObject({ label: 'c0', fields: { text: { kind: 'text', text: 'zero' }, image: { kind: 'bytes', name: 's-0.tar:000.jpg' } } });
    expect(Object.keys(rs[2]!.fields).sort()).toEqual(['audio', 'text']);
    expect(rs[3]!.error).toMatch(/no such shard/);
  });
});

describe('class-folder source (torchvision ImageFolder)', () => {
  it("classes in sorted order, each class's folders by path and files by name; other files passed over; a linked loop walked once", async () => {
    const root = tempDir('folders');
    const files = ['n02/b.png', 'n02/a.JPG', 'n01/z.webp', 'n01/sub/a.png', 'n01/sub b/c.wav', 'n01/notes.txt', 'n01/sub/deeper/d.mp4', 'top.png', '.hidden/x.png'];
    for (const f of files) {
      mkdirSync(join(root, f, '..'), { recursive: true });
      writeFileSync(join(root, f), 'x');
    }
    mkdirSync(join(root, 'n03-empty'));
    symlinkSync(join(root, 'n01'), join(root, 'n01', 'sub', 'loop'));
    const source = await folderSource(root);
    expect(source.classes).toEqual(['n01', 'n02', 'n03-empty']);
    const rs = await all(source);
    // torchvision: sorted(os.walk(class)) orders folders by path — Python's sorted gives n01, n01/sub,
    // n01/sub b, n01/sub/deeper (" " sorts before "/") — and files by name
    expect(rs.map((r) => r.key)).toEqual(['n01/z.webp', 'n01/sub/a.png', 'n01/sub b/c.wav', 'n01/sub/deeper/d.mp4', 'n02/a.JPG', 'n02/b.png']);
    expect(rs.map((r) => r.label)).toEqual(['n01', 'n01', 'n01', 'n01', 'n02', 'n02']);
    expect(rs.map((r) => Object.keys(r.fields)[0])).toEqual(['image', 'image', 'audio', 'video', 'image', 'image']);
    expect(rs[0]!.fields.image).toEqual({ kind: 'path', path: join(root, 'n01/z.webp') });
    const opened = await openSource(root, { cwd: '/', textModalities: text, allowOutsideRoot: false });
    expect(opened.kind).toBe('folder');
    expect((await all(opened)).map((r) => r.key)).toEqual(rs.map((r) => r.key));
  });
});

describe('batch loader', () => {
  const stub = async (r: RawRecord): Promise<PreparedSample> => {
    if (r.fields.text?.kind === 'text' && r.fields.text.text === 'bad') throw new Error('bad sample');
    await new Promise((res) => setImmediate(res));
    const ids = Int32Array.from([1, 2]);
    return { key: r.key, tokens: { text: discreteTokens({ ids, length: 2, vocabSize: 4, modality: 'text', preset: 'stub' }) } };
  };
  const manifest = (n: number, badEvery = 0) => {
    const dir = tempDir('loader');
    const file = join(dir, 'big.jsonl');
    const lines: string[] = [];
    for (let i = 0; i < n; i++) lines.push(JSON.stringify({ text: badEvery && i % badEvery === 0 ? 'bad' : `caption number ${i} ${'padding '.repeat(20)}` }));
    writeFileSync(file, `${lines.join('\n')}\n`);
    return jsonlSource(file, { textModalities: text, allowOutsideRoot: false });
  };

  it('streams a large manifest holding a bounded number of records, whatever its size', async () => {
    const source = manifest(60_000);
    const loader = new BatchLoader({ source, accept: () => true, prepare: stub, batchSize: 32, seed: 1, shuffleBuffer: 256, concurrency: 4, prefetch: 2, epochs: 1 });
    const before = process.memoryUsage().heapUsed;
    let samples = 0;
    let peak = 0;
    for await (const b of loader.batches()) {
      samples += b.samples.length;
      peak = Math.max(peak, process.memoryUsage().heapUsed - before);
    }
    expect(samples).toBe(Math.floor(60_000 / 32) * 32);
    expect(loader.stats.maxShuffleBuffer).toBe(256);
    expect(loader.stats.maxInFlight).toBeLessThanOrEqual(4);
    expect(loader.stats.maxQueued).toBeLessThanOrEqual(2);
    // The manifest is ~13 MB of text; a loader that read it whole would hold far more than this.
    expect(peak).toBeLessThan(64 * 2 ** 20);
  });

  it('shuffles per epoch deterministically; a resumed loader sees exactly the remaining batches', async () => {
    const source = manifest(300, 7);
    const make = (start?: { epoch: number; position: number }) =>
      new BatchLoader({ source, accept: () => true, prepare: stub, batchSize: 16, seed: 5, shuffleBuffer: 64, concurrency: 3, prefetch: 2, epochs: 2, start });
    const full: { keys: string[]; skipped: number; epoch: number; position: number }[] = [];
    for await (const b of make().batches()) full.push({ keys: b.samples.map((s) => s.key), skipped: b.skipped.length, epoch: b.epoch, position: b.position });
    const order0 = full.filter((b) => b.epoch === 0).flatMap((b) => b.keys);
    const order1 = full.filter((b) => b.epoch === 1).flatMap((b) => b.keys);
    expect(order0).not.toEqual(order1);
    expect(order0.slice(0, 20)).not.toEqual([...order0].sort().slice(0, 20));
    expect(full.reduce((s, b) => s + b.skipped, 0)).toBe(2 * Math.ceil(300 / 7));
    const cut = full[9]!;
    const rest: typeof full = [];
    for await (const b of make({ epoch: cut.epoch, position: cut.position }).batches()) rest.push({ keys: b.samples.map((s) => s.key), skipped: b.skipped.length, epoch: b.epoch, position: b.position });
    expect(rest).toEqual(full.slice(10));
  });
});

