import { copyFileSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAKE_COMMIT, type FakeHub, startFakeHub } from './__fixtures__/fake-hub.js';
import { readHfClipDir } from './hf-clip-dir.js';
import { hfHubCacheDir, parseHfModelId, resolveHfClip } from './hf-hub.js';

const FIXTURES = fileURLToPath(new URL('./__fixtures__/', import.meta.url));
const SP_BPE = fileURLToPath(new URL('../../../tokenizer-text/src/__fixtures__/sp-bpe.model', import.meta.url));
const COMMIT = FAKE_COMMIT;
const work = mkdtempSync(join(tmpdir(), 'omnitok-hub-'));
let fake: FakeHub;
let endpoint: string;
let log: FakeHub['log'];
const repos: Record<string, string> = {};

beforeAll(async () => {
  fake = await startFakeHub(work);
  ({ endpoint, log } = fake);
  const serve = (name: string, from: string, extra?: Record<string, string>) => {
    fake.repo(name, from, extra);
    repos[name] = join(work, 'repos', name);
  };
  serve('tiny/clip', join(FIXTURES, 'hf-clip-tiny'));
  serve('tiny/siglip2', join(FIXTURES, 'hf-siglip2-tiny'), { 'tokenizer.model': SP_BPE });
  serve('tiny/open-clip', join(FIXTURES, 'open-clip-tiny'));
  serve('tiny/gated', join(FIXTURES, 'hf-clip-tiny'));
  serve('tiny/clip-rc', join(FIXTURES, 'hf-clip-tiny'));
  const pickle = join(work, 'pickle-src');
  mkdirSync(pickle);
  copyFileSync(join(FIXTURES, 'hf-clip-tiny', 'config.json'), join(pickle, 'config.json'));
  serve('tiny/pickle', pickle);
});

afterAll(() => {
  fake.close();
  rmSync(work, { recursive: true, force: true });
});

const options = (cache: string, extra = {}) => ({ endpoint, cacheDir: cache, env: {}, ...extra });

describe('parseHfModelId', () => {
  it('reads org/name, hf: and hf-hub: prefixes and @revision; refuses paths', () => {
    expect(parseHfModelId('openai/clip-vit-base-patch32')).toEqual({ repo: 'openai/clip-vit-base-patch32', revision: 'main' });
    expect(parseHfModelId('hf-hub:timm/ViT-B-16-SigLIP@v1.0')).toEqual({ repo: 'timm/ViT-B-16-SigLIP', revision: 'v1.0' });
    expect(parseHfModelId(`hf:google/siglip2-base-patch16-224@${COMMIT}`)).toEqual({ repo: 'google/siglip2-base-patch16-224', revision: COMMIT });
    for (const path of ['./runs/a', '/models/clip', 'runs/a/step-10', '../x/y', 'clip', 'a/..', '.x/y']) expect(parseHfModelId(path), path).toBeUndefined();
  });

  it("finds huggingface_hub's cache as it does", () => {
    expect(hfHubCacheDir({ HF_HUB_CACHE: '/c' })).toBe('/c');
    expect(hfHubCacheDir({ HF_HOME: '/h' })).toBe('/h/hub');
    expect(hfHubCacheDir({ XDG_CACHE_HOME: '/x' })).toBe('/x/huggingface/hub');
  });
});

describe('resolveHfClip (a fake Hub on localhost)', () => {
  it('downloads a sharded CLIPModel into the cache layout: blobs by etag, snapshot links, refs/main; the token only to the Hub', async () => {
    const cache = join(work, 'cache-a');
    log.length = 0;
    const downloads: string[] = [];
    const progress = new Map<string, [number, number | undefined]>();
    const onProgress = (f: string, received: number, bytes: number | undefined) => progress.set(f, [received, bytes]);
    const dir = await resolveHfClip({ repo: 'tiny/clip', revision: 'main' }, options(cache, { token: 'secret', onDownload: (f: string) => downloads.push(f), onProgress }));
    expect(dir).toBe(join(cache, 'models--tiny--clip', 'snapshots', COMMIT));
    expect(readFileSync(join(cache, 'models--tiny--clip', 'refs', 'main'), 'utf8')).toBe(COMMIT);
    expect(downloads.sort()).toEqual(['config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json', 'preprocessor_config.json']);
    for (const f of readdirSync(repos['tiny/clip']!)) expect(Buffer.compare(readFileSync(join(dir, f)), readFileSync(join(repos['tiny/clip']!, f))), f).toBe(0);
    // every file's last progress report is its whole size (the Hub's x-linked-size / content-length)
    for (const f of downloads) expect(progress.get(f), f).toEqual([readFileSync(join(dir, f)).length, readFileSync(join(dir, f)).length]);
    expect(lstatSync(join(dir, 'model-00001-of-00002.safetensors')).isSymbolicLink()).toBe(true);
    expect(readdirSync(join(cache, 'models--tiny--clip', 'blobs'))).toHaveLength(5);
    expect(readHfClipDir(dir).family).toBe('clip');
    expect(log.filter((r) => r.url.startsWith('storage')).every((r) => !r.auth)).toBe(true);
    expect(log.filter((r) => !r.url.startsWith('storage')).every((r) => r.auth)).toBe(true);
    // cached: no request at all, online or offline
    log.length = 0;
    expect(await resolveHfClip({ repo: 'tiny/clip', revision: 'main' }, options(cache))).toBe(dir);
    expect(await resolveHfClip({ repo: 'tiny/clip', revision: COMMIT }, options(cache, { offline: true }))).toBe(dir);
    expect(log).toEqual([]);
  });

  it("follows a relative redirect to the Hub's resolve cache with the token, taking the commit and etag from its answer", async () => {
    const cache = join(work, 'cache-rc');
    log.length = 0;
    const dir = await resolveHfClip({ repo: 'tiny/clip-rc', revision: 'main' }, options(cache, { token: 'secret' }));
    expect(readFileSync(join(cache, 'models--tiny--clip-rc', 'refs', 'main'), 'utf8')).toBe(COMMIT);
    expect(Buffer.compare(readFileSync(join(dir, 'config.json')), readFileSync(join(repos['tiny/clip-rc']!, 'config.json')))).toBe(0);
    expect(lstatSync(join(dir, 'config.json')).isSymbolicLink()).toBe(true);
    expect(log.filter((r) => r.url.startsWith('/api/resolve-cache/')).every((r) => r.auth)).toBe(true);
    expect(log.some((r) => r.url.startsWith('/api/resolve-cache/'))).toBe(true);
  });

  it('two downloads of one model at once into one cache both succeed, with whole files', async () => {
    const cache = join(work, 'cache-twice');
    const [a, b] = await Promise.all([0, 1].map(() => resolveHfClip({ repo: 'tiny/clip', revision: 'main' }, options(cache))));
    expect(a).toBe(b);
    for (const f of readdirSync(repos['tiny/clip']!)) expect(Buffer.compare(readFileSync(join(a!, f)), readFileSync(join(repos['tiny/clip']!, f))), f).toBe(0);
    expect(readdirSync(join(cache, 'models--tiny--clip', 'blobs')).filter((f) => f.endsWith('.incomplete'))).toEqual([]);
  });

  it('SigLIP 2: the Gemma tokenizer.model and tokenizer_config.json (no spiece.model); open_clip: its own config and weights', async () => {
    const cache = join(work, 'cache-b');
    const s2 = await resolveHfClip({ repo: 'tiny/siglip2', revision: 'main' }, options(cache));
    expect(readdirSync(s2).sort()).toEqual(['config.json', 'model.safetensors', 'preprocessor_config.json', 'tokenizer.model', 'tokenizer_config.json']);
    const oc = await resolveHfClip({ repo: 'tiny/open-clip', revision: 'main' }, options(cache));
    expect(readdirSync(oc).sort()).toEqual(['open_clip_config.json', 'open_clip_model.safetensors']);
    expect(readHfClipDir(oc).family).toBe('open_clip');
  });

  it('uses a snapshot Python left in the cache; refuses offline misses, pickle-only repositories, gated ones without a token', async () => {
    const cache = join(work, 'cache-c');
    // huggingface_hub's layout, written by hand: refs/main → snapshot of links into blobs
    const root = join(cache, 'models--tiny--siglip2');
    mkdirSync(join(root, 'blobs'), { recursive: true });
    mkdirSync(join(root, 'snapshots', COMMIT), { recursive: true });
    mkdirSync(join(root, 'refs'));
    writeFileSync(join(root, 'refs', 'main'), `${COMMIT}\n`);
    for (const f of readdirSync(repos['tiny/siglip2']!)) {
      copyFileSync(join(repos['tiny/siglip2']!, f), join(root, 'blobs', `blob-${f.length}`));
      symlinkSync(`../../blobs/blob-${f.length}`, join(root, 'snapshots', COMMIT, f));
    }
    log.length = 0;
    expect(await resolveHfClip({ repo: 'tiny/siglip2', revision: 'main' }, options(cache))).toBe(join(root, 'snapshots', COMMIT));
    expect(log).toEqual([]);
    await expect(resolveHfClip({ repo: 'tiny/clip', revision: 'main' }, options(cache, { offline: true }))).rejects.toThrow(/not in the Hugging Face cache .* HF_HUB_OFFLINE/);
    await expect(resolveHfClip({ repo: 'tiny/clip', revision: 'main' }, options(cache, { env: { HF_HUB_OFFLINE: '1' } }))).rejects.toThrow(/HF_HUB_OFFLINE/);
    await expect(resolveHfClip({ repo: 'tiny/pickle', revision: 'main' }, options(cache))).rejects.toThrow(/neither model\.safetensors nor model\.safetensors\.index\.json \(only PyTorch pickles/);
    await expect(resolveHfClip({ repo: 'tiny/gated', revision: 'main' }, options(cache))).rejects.toThrow(/refused config\.json \(401\): no such repository, or a gated or private one that needs an access token in HF_TOKEN/);
    expect(readHfClipDir(await resolveHfClip({ repo: 'tiny/gated', revision: 'main' }, options(cache, { env: { HF_TOKEN: 'secret' } }))).family).toBe('clip');
    await expect(resolveHfClip({ repo: 'tiny/none', revision: 'main' }, options(cache))).rejects.toThrow(/neither a CLIPModel \/ SiglipModel config\.json nor an open_clip_config\.json/);
    await expect(resolveHfClip({ repo: 'tiny/clip', revision: 'main' }, options(join(work, 'cache-d'), { endpoint: 'http://127.0.0.1:1' }))).rejects.toThrow(/cannot reach the Hugging Face Hub/);
  });
});
