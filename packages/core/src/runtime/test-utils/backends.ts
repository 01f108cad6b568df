/*
 * Test helper (not exported): runs a describe block once per backend, like tfjs' describeWithFlags.
 * cpu and wasm always run. webgpu runs when an adapter exists; when `CI` is set or
 * OMNITOK_REQUIRE_WEBGPU=1 a missing adapter FAILS the suite instead of skipping it.
 * native runs when its addon is built (`npm run build`); OMNITOK_REQUIRE_NATIVE=1 makes a missing
 * addon fail the suite instead (its build falls back silently where no compiler exists).
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe } from 'vitest';
import { type DenseArray, decodeSafetensors } from '../../io/index.js';
import { type BackendInfo, type BackendName, initBackend, probeBackend } from '../backend.js';

export const requireWebgpu = Boolean(process.env.CI) || process.env.OMNITOK_REQUIRE_WEBGPU === '1';
const webgpu = await probeBackend('webgpu');
export const requireNative = process.env.OMNITOK_REQUIRE_NATIVE === '1';
export const native = await probeBackend('native');
export const TEST_BACKENDS: readonly BackendName[] = ['cpu', 'wasm', 'webgpu', 'native'];

export function describeBackends(title: string, body: (backend: () => BackendInfo) => void, backends: readonly BackendName[] = TEST_BACKENDS): void {
  for (const name of backends) {
    const skip = (name === 'webgpu' && !webgpu.available && !requireWebgpu) || (name === 'native' && !native.available && !requireNative);
    describe.skipIf(skip)(`${title} [${name}]`, () => {
      let info: BackendInfo | undefined;
      beforeAll(async () => {
        if (name === 'webgpu' && !webgpu.available) throw new Error(`webgpu is required here (CI / OMNITOK_REQUIRE_WEBGPU) but unavailable: ${webgpu.reason}`);
        if (name === 'native' && !native.available) throw new Error(`native is required here (OMNITOK_REQUIRE_NATIVE) but unavailable: ${native.reason}`);
        info = await initBackend(name);
      });
      body(() => info!);
    });
  }
}

/** Tolerance per backend: WebGPU (lavapipe, fast-math shaders) is a little looser. */
export function tolerance(backend: BackendName): number {
  return backend === 'webgpu' ? 2e-4 : 2e-5;
}

export function loadFixture(name: string): Record<string, DenseArray> {
  return decodeSafetensors(readFileSync(new URL(`../__fixtures__/${name}`, import.meta.url))).tensors;
}

export function fixtureMetadata(name: string): Record<string, string> {
  return decodeSafetensors(readFileSync(new URL(`../__fixtures__/${name}`, import.meta.url))).metadata;
}

/** Max |a − b| / (atol + rtol·|b|) style check; returns the worst absolute difference for messages. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} ≠ ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!)));
  return Number.isNaN(worst) ? Infinity : worst;
}

/** Entries of a fixture under `prefix.` with the prefix removed. */
export function withPrefix(all: Record<string, DenseArray>, prefix: string): Record<string, DenseArray> {
  const out: Record<string, DenseArray> = {};
  for (const [k, v] of Object.entries(all)) if (k.startsWith(prefix)) out[k.slice(prefix.length)] = v;
  return out;
}
