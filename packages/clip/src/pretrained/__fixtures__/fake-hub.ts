import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

/** The commit every repository of the fake Hub is at. */
export const FAKE_COMMIT = 'c0ffee00c0ffee00c0ffee00c0ffee00c0ffee00';

export interface FakeHub {
  readonly endpoint: string;
  /** Every request: its path (storage requests prefixed `storage`) and whether it carried the token. */
  readonly log: { url: string; auth: boolean }[];
  /** Serves a copy of folder `from` (plus `extra` files: name → source path) as repository `name`. */
  repo(name: string, from: string, extra?: Record<string, string>): void;
  close(): void;
}

/**
 * A Hub on localhost as huggingface.co answers `/{repo}/resolve/{revision}/{file}` (tests only): small
 * files directly (etag: a git-like blob id), LFS files (safetensors, .model) by a redirect to storage on
 * another origin with `x-linked-etag` (their sha256) and `x-linked-size`; `x-repo-commit` on every
 * answer; 404 EntryNotFound for a missing file, RepoNotFound for an unknown repository or revision;
 * repositories named `…/gated` answer 401 without the token `secret`; those named `…-rc` send small files
 * by a relative redirect to the Hub's resolve cache, the commit and etag only on the final answer.
 * Repositories live under `work`.
 */
export async function startFakeHub(work: string): Promise<FakeHub> {
  const repos: Record<string, string> = {};
  const blobs = new Map<string, Buffer>();
  const log: { url: string; auth: boolean }[] = [];
  const listen = (s: Server) => new Promise<string>((done) => s.listen(0, '127.0.0.1', () => done(`http://127.0.0.1:${(s.address() as AddressInfo).port}`)));
  const storage = createServer((req, res) => {
    log.push({ url: `storage${req.url}`, auth: Boolean(req.headers.authorization) });
    const body = blobs.get(req.url!.split('?')[0]!.slice(1));
    res.writeHead(body ? 200 : 404, { 'content-length': body?.length ?? 0 }).end(body);
  });
  const storageUrl = await listen(storage);
  const hub = createServer((req, res) => {
    log.push({ url: req.url!, auth: req.headers.authorization === 'Bearer secret' });
    // the Hub's own cache of small files: …-rc repositories redirect there, metadata only on the final answer
    const cached = /^\/api\/resolve-cache\/models\/([^/]+\/[^/]+)\/[0-9a-f]{40}\/(.+)$/.exec(req.url!);
    if (cached) {
      const bytes = readFileSync(join(repos[cached[1]!]!, decodeURIComponent(cached[2]!)));
      return res.writeHead(200, { 'x-repo-commit': FAKE_COMMIT, etag: `"${createHash('sha1').update(bytes).digest('hex')}"`, 'content-length': bytes.length }).end(bytes);
    }
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(req.url!);
    const dir = m && repos[m[1]!];
    if (!m || !dir || (m[2] !== 'main' && m[2] !== FAKE_COMMIT)) return res.writeHead(404, { 'x-error-code': 'RepoNotFound' }).end();
    if (m[1]!.endsWith('/gated') && req.headers.authorization !== 'Bearer secret') return res.writeHead(401).end();
    const path = join(dir, decodeURIComponent(m[3]!));
    if (!existsSync(path)) return res.writeHead(404, { 'x-error-code': 'EntryNotFound', 'x-repo-commit': FAKE_COMMIT }).end();
    const bytes = readFileSync(path);
    if (/\.(safetensors|model)$/.test(path)) {
      const sha = createHash('sha256').update(bytes).digest('hex');
      blobs.set(sha, bytes);
      return res.writeHead(302, { location: `${storageUrl}/${sha}?signature=x`, 'x-repo-commit': FAKE_COMMIT, 'x-linked-etag': `"${sha}"`, 'x-linked-size': bytes.length }).end();
    }
    if (m[1]!.endsWith('-rc')) return res.writeHead(307, { location: `/api/resolve-cache/models/${m[1]}/${FAKE_COMMIT}/${m[3]}` }).end();
    res.writeHead(200, { 'x-repo-commit': FAKE_COMMIT, etag: `"${createHash('sha1').update(bytes).digest('hex')}"`, 'content-length': bytes.length }).end(bytes);
  });
  const endpoint = await listen(hub);
  return {
    endpoint,
    log,
    repo(name, from, extra = {}) {
      const dir = join(work, 'repos', name);
      mkdirSync(dir, { recursive: true });
      for (const f of readdirSync(from)) copyFileSync(join(from, f), join(dir, f));
      for (const [f, src] of Object.entries(extra)) copyFileSync(src, join(dir, f));
      repos[name] = dir;
    },
    close() {
      hub.close();
      storage.close();
    },
  };
}
