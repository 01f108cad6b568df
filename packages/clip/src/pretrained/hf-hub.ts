import { randomBytes } from 'node:crypto';
import { copyFileSync, createWriteStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CheckpointError } from '@omnitok/core/runtime';
import { hfClipShapes, hfModelFamily, type HfClipConfig } from './hf-clip.js';

/** A model on the Hugging Face Hub: `org/name`, optionally `@revision` (a branch, tag or commit). */
export interface HfModelId {
  readonly repo: string;
  readonly revision: string;
}

/**
 * Reads `hf:org/name`, `hf-hub:org/name` (open_clip's spelling) or a bare `org/name`, each with an
 * optional `@revision`; undefined for anything else (a path such as `./runs/a`, `/models/x`, `a/b/c`).
 * A bare `org/name` is also a relative path: callers try the local folder first.
 */
export function parseHfModelId(spec: string): HfModelId | undefined {
  const m = /^(?:hf:|hf-hub:)?([A-Za-z0-9][\w.-]*\/[\w.-]+?)(?:@([\w./-]+))?$/.exec(spec);
  if (!m || m[1]!.includes('..') || m[1]!.endsWith('.')) return undefined;
  return { repo: m[1]!, revision: m[2] ?? 'main' };
}

export interface HfHubOptions {
  /** Hub address (default `HF_ENDPOINT`, else https://huggingface.co). */
  readonly endpoint?: string;
  /** Access token for gated or private models (default `HF_TOKEN`, else `HUGGING_FACE_HUB_TOKEN`). */
  readonly token?: string;
  /** The cache (default as huggingface_hub: `HF_HUB_CACHE`, else `HF_HOME`/hub, else ~/.cache/huggingface/hub). */
  readonly cacheDir?: string;
  /** Use the cache only, never the network (default `HF_HUB_OFFLINE` set to 1 / true). */
  readonly offline?: boolean;
  /** Called before a file is downloaded, with its size when the Hub says it. */
  readonly onDownload?: (file: string, bytes: number | undefined) => void;
  /** Called as a file's bytes arrive (at most every `progressInterval` ms, and once at its end). */
  readonly onProgress?: (file: string, received: number, bytes: number | undefined) => void;
  /** Milliseconds between `onProgress` calls (default 1000). */
  readonly progressInterval?: number;
  readonly env?: NodeJS.ProcessEnv;
}

/** huggingface_hub's cache folder. */
export function hfHubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return env.HF_HUB_CACHE;
  if (env.HF_HOME) return join(env.HF_HOME, 'hub');
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'huggingface', 'hub');
}

const CLIP_VOCAB = 49408;
const COMMIT = /^[0-9a-f]{40}$/;

/**
 * The local folder of a CLIP / SigLIP / open_clip model on the Hugging Face Hub, downloading what it
 * lacks into huggingface_hub's cache layout (`models--org--name/snapshots/<commit>/…`, files linked to
 * `blobs/<etag>`): a model Python's transformers or open_clip already downloaded is used as is, and
 * one downloaded here is theirs too. A cached snapshot with every file the model needs is used without
 * any network access. The files: `config.json` (CLIPModel / SiglipModel) or `open_clip_config.json`,
 * the safetensors weights (one file or the shards of `model.safetensors.index.json`),
 * `preprocessor_config.json`, and the tokenizer files the model uses (SigLIP's `spiece.model`, SigLIP
 * 2's `tokenizer.model` and `tokenizer_config.json`, a CLIP vocabulary's `merges.txt` when it is not
 * CLIP's own). Repositories with only PyTorch pickles are refused: their weights are not safetensors.
 */
export async function resolveHfClip(id: HfModelId, options: HfHubOptions = {}): Promise<string> {
  const env = options.env ?? process.env;
  const offline = options.offline ?? /^(1|true|yes|on)$/i.test(env.HF_HUB_OFFLINE ?? '');
  const repoDir = join(options.cacheDir ?? hfHubCacheDir(env), `models--${id.repo.replace('/', '--')}`);
  const label = `${id.repo}@${id.revision}`;
  const cachedCommit = COMMIT.test(id.revision) ? id.revision : readRef(repoDir, id.revision);
  if (cachedCommit) {
    const dir = join(repoDir, 'snapshots', cachedCommit);
    if (missingFiles(dir).length === 0) return dir;
  }
  if (offline) {
    throw new CheckpointError(label, cachedCommit ? `is cached incompletely (missing ${missingFiles(join(repoDir, 'snapshots', cachedCommit)).join(', ')}) and HF_HUB_OFFLINE is set` : `is not in the Hugging Face cache ${dirname(repoDir)} and HF_HUB_OFFLINE is set`);
  }
  const hub = new HubClient(id, repoDir, options, env);
  // config first: it says which family, and so which weights and tokenizer files
  const config = await hub.json('config.json', false);
  const family = config && hfModelFamily(config) !== 'open_clip' ? hfModelFamily(config) : undefined;
  if (!family) {
    const oc = await hub.json('open_clip_config.json', false);
    if (!oc || hfModelFamily(oc) !== 'open_clip') throw new CheckpointError(label, 'has neither a CLIPModel / SiglipModel config.json nor an open_clip_config.json on the Hub');
    if (!(await hub.file('open_clip_model.safetensors', false))) throw new CheckpointError(label, 'has no open_clip_model.safetensors (only PyTorch pickles, which are not read: convert them to safetensors)');
    const vocab = hfClipShapes(oc as HfClipConfig).vocabSize;
    if (vocab !== CLIP_VOCAB) await hub.file('merges.txt', false);
    return hub.dir();
  }
  if (!(await hub.file('model.safetensors', false))) {
    const index = await hub.json('model.safetensors.index.json', false);
    const map = (index as { weight_map?: Record<string, unknown> } | undefined)?.weight_map;
    if (!map) throw new CheckpointError(label, 'has neither model.safetensors nor model.safetensors.index.json (only PyTorch pickles, which are not read: convert them to safetensors)');
    for (const shard of new Set(Object.values(map))) {
      if (typeof shard !== 'string' || shard.includes('/') || shard.includes('\\') || shard.startsWith('.')) throw new CheckpointError(label, `model.safetensors.index.json names the shard ${JSON.stringify(shard)}`);
      await hub.file(shard, true);
    }
  }
  await hub.file('preprocessor_config.json', false);
  if (family === 'siglip' || family === 'siglip2') {
    if (!(await hub.file('spiece.model', false))) {
      await hub.file('tokenizer.model', false);
      await hub.file('tokenizer_config.json', false);
    }
  } else if (hfClipShapes(config as HfClipConfig).vocabSize !== CLIP_VOCAB) await hub.file('merges.txt', false);
  return hub.dir();
}

function readRef(repoDir: string, revision: string): string | undefined {
  try {
    const commit = readFileSync(join(repoDir, 'refs', revision), 'utf8').trim();
    return COMMIT.test(commit) ? commit : undefined;
  } catch {
    return undefined;
  }
}

/** What a cached snapshot lacks of a usable model (config, weights; the tokenizer is checked when loading). */
function missingFiles(dir: string): string[] {
  const has = (f: string) => existsSync(join(dir, f));
  const json = (f: string): unknown => {
    try {
      return JSON.parse(readFileSync(join(dir, f), 'utf8'));
    } catch {
      return undefined;
    }
  };
  const config = json('config.json');
  const family = config && hfModelFamily(config) !== 'open_clip' ? hfModelFamily(config) : undefined;
  if (!family) {
    const oc = json('open_clip_config.json');
    if (!oc) return ['config.json or open_clip_config.json'];
    return has('open_clip_model.safetensors') ? [] : ['open_clip_model.safetensors'];
  }
  const missing: string[] = [];
  if (!has('model.safetensors')) {
    const map = (json('model.safetensors.index.json') as { weight_map?: Record<string, string> } | undefined)?.weight_map;
    if (!map) missing.push('model.safetensors');
    else missing.push(...new Set(Object.values(map).filter((s) => !has(s))));
  }
  if ((family === 'siglip' || family === 'siglip2') && !has('spiece.model') && !has('tokenizer.model')) missing.push('spiece.model or tokenizer.model');
  return missing;
}

/** Downloads of one repository revision into the cache (blobs by etag, linked from the snapshot). */
class HubClient {
  private commit: string | undefined;
  private readonly endpoint: string;
  private readonly token: string | undefined;

  constructor(
    private readonly id: HfModelId,
    private readonly repoDir: string,
    private readonly options: HfHubOptions,
    env: NodeJS.ProcessEnv,
  ) {
    this.endpoint = (options.endpoint ?? env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
    this.token = options.token ?? env.HF_TOKEN ?? env.HUGGING_FACE_HUB_TOKEN;
    this.commit = COMMIT.test(id.revision) ? id.revision : undefined;
  }

  /** The snapshot folder (known once a first response named the commit). */
  dir(): string {
    if (!this.commit) throw new CheckpointError(this.id.repo, 'the Hub sent no commit (x-repo-commit) for this revision');
    return join(this.repoDir, 'snapshots', this.commit);
  }

  /** A JSON file's content (downloaded or cached), undefined when the repository has no such file and it is optional. */
  async json(file: string, required: boolean): Promise<unknown> {
    if (!(await this.file(file, required))) return undefined;
    const path = join(this.dir(), file);
    try {
      return JSON.parse(readFileSync(path, 'utf8'));
    } catch (error) {
      throw new CheckpointError(path, `not valid JSON (${(error as Error).message})`, { cause: error });
    }
  }

  /** Makes `file` present in the snapshot; false when the repository has none (404) and it is optional. */
  async file(file: string, required: boolean): Promise<boolean> {
    if (this.commit && existsSync(join(this.dir(), file))) return true;
    const url = `${this.endpoint}/${this.id.repo}/resolve/${encodeURIComponent(this.id.revision)}/${file}`;
    let response = await this.get(url, true);
    let commit = response.headers.get('x-repo-commit') ?? undefined;
    // an answer whose body is not the file is drained, so its connection is free again
    if (response.status === 404 || response.status === 401 || response.status === 403 || (response.status >= 300 && response.status < 400)) await response.body?.cancel();
    if (response.status === 404) {
      if (commit) this.setCommit(commit);
      if (required) throw new CheckpointError(`${this.id.repo}@${this.id.revision}`, `has no ${file} on the Hub (404 from ${url})`);
      return false;
    }
    if (response.status === 401 || response.status === 403) {
      throw new CheckpointError(`${this.id.repo}@${this.id.revision}`, `the Hub refused ${file} (${response.status}): ${this.token ? 'no such repository, or the token in HF_TOKEN has no access to it' : 'no such repository, or a gated or private one that needs an access token in HF_TOKEN'}`);
    }
    let etag = response.headers.get('x-linked-etag') ?? response.headers.get('etag') ?? undefined;
    let size = Number(response.headers.get('x-linked-size') ?? response.headers.get('content-length') ?? Number.NaN);
    if (response.status >= 300 && response.status < 400) {
      const location = response.headers.get('location');
      if (!location) throw new CheckpointError(url, `a ${response.status} redirect without a location`);
      const target = new URL(location, url);
      // the token goes to the Hub only, not to the storage it redirects to
      const sameOrigin = target.origin === new URL(url).origin;
      response = await this.get(target.href, sameOrigin ? 'follow-with-token' : false);
      // a redirect within the Hub (its resolve cache) may carry the metadata on the final answer
      if (sameOrigin) {
        commit ??= response.headers.get('x-repo-commit') ?? undefined;
        etag ??= response.headers.get('x-linked-etag') ?? response.headers.get('etag') ?? undefined;
        if (!Number.isFinite(size)) size = Number(response.headers.get('content-length') ?? Number.NaN);
      }
    }
    etag = etag?.replace(/^W\//, '').replace(/"/g, '');
    if (!response.ok || !response.body) throw new CheckpointError(url, `the download failed (HTTP ${response.status})`);
    if (!commit) throw new CheckpointError(url, 'the Hub sent no x-repo-commit header');
    this.setCommit(commit);
    const total = Number.isFinite(size) ? size : undefined;
    this.options.onDownload?.(file, total);
    const target = join(this.dir(), file);
    const blob = etag && /^[\w-]+$/.test(etag) ? join(this.repoDir, 'blobs', etag) : undefined;
    const dest = blob ?? target;
    mkdirSync(dirname(dest), { recursive: true });
    // a name of this download's own: two downloads of one model (processes, or calls) never share a file
    const unique = `${process.pid}.${randomBytes(6).toString('hex')}`;
    const partial = `${dest}.${unique}.incomplete`;
    try {
      let received = 0;
      let last = Date.now();
      const every = this.options.progressInterval ?? 1000;
      const count = new Transform({
        transform: (chunk: Buffer, _encoding, done) => {
          received += chunk.length;
          if (this.options.onProgress && Date.now() - last >= every) {
            last = Date.now();
            this.options.onProgress(file, received, total);
          }
          done(null, chunk);
        },
      });
      await pipeline(Readable.fromWeb(response.body as never), count, createWriteStream(partial));
      this.options.onProgress?.(file, received, total);
      renameSync(partial, dest);
    } catch (error) {
      rmSync(partial, { force: true });
      throw new CheckpointError(url, `the download failed (${(error as Error).message})`, { cause: error });
    }
    if (blob) {
      mkdirSync(dirname(target), { recursive: true });
      const link = `${target}.${unique}.link`;
      rmSync(link, { force: true });
      try {
        symlinkSync(relative(dirname(target), blob), link);
        renameSync(link, target); // replaces atomically whatever another process linked meanwhile
      } catch {
        rmSync(link, { force: true });
        copyFileSync(blob, target); // no symlinks here: the file itself
      }
    }
    return true;
  }

  private setCommit(commit: string): void {
    if (!COMMIT.test(commit)) throw new CheckpointError(this.id.repo, `the Hub sent the commit ${JSON.stringify(commit)}`);
    if (this.commit && this.commit !== commit) throw new CheckpointError(`${this.id.repo}@${this.id.revision}`, `changed on the Hub while downloading (commit ${this.commit} → ${commit}): try again`);
    this.commit = commit;
    if (!COMMIT.test(this.id.revision)) {
      mkdirSync(join(this.repoDir, 'refs', dirname(this.id.revision)), { recursive: true });
      writeFileSync(join(this.repoDir, 'refs', this.id.revision), commit);
    }
  }

  private async get(url: string, token: boolean | 'follow-with-token'): Promise<Response> {
    const headers: Record<string, string> = { 'user-agent': 'omnitok' };
    if (token && this.token) headers.authorization = `Bearer ${this.token}`;
    try {
      return await fetch(url, { headers, redirect: token === true ? 'manual' : 'follow' });
    } catch (error) {
      throw new CheckpointError(url, `cannot reach the Hugging Face Hub (${(error as Error).cause ? String((error as { cause: unknown }).cause) : (error as Error).message}); set HF_HUB_OFFLINE=1 to use the cache only`, { cause: error });
    }
  }
}

