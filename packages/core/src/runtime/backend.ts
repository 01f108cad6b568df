import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { InvalidArgumentError } from '../errors/index.js';
import { BackendUnavailableError } from './errors.js';
import { watchDeviceErrors } from './device-errors.js';
import { type Kernels, registerNativeBackend } from './kernels/native-backend.js';
import { MAX_ADAMW_GROUP, noteWebgpuAdapter, registerWebgpuKernels, setWebgpuMatmulPrecision, tuneWebgpuBackend, type MatmulPrecision, webgpuMatmulPrecision } from './kernels/webgpu/webgpu-kernels.js';
import { envVar } from './env.js';
import { installLeanBackprop } from './lean-backprop.js';

/**
 * Backend selection.
 *
 * | name         | what runs the kernels                                   | needs                               |
 * |--------------|---------------------------------------------------------|-------------------------------------|
 * | `tensorflow` | libtensorflow (CPU or CUDA) through `@tensorflow/tfjs-node(-gpu)` | the optional peer installed  |
 * | `webgpu`     | WebGPU (`navigator.gpu`, or Dawn via the npm `webgpu` package in Node) | an adapter           |
 * | `native`     | C++ kernels (`@omnitok/native-kernels`: OpenMP, OpenBLAS GEMM if present) + the cpu ones | the addon built |
 * | `wasm`       | `@tensorflow/tfjs-backend-wasm` (SIMD, one thread in Node) | nothing (embedded default)        |
 * | `cpu`        | plain JavaScript kernels                                | nothing (the reference)             |
 *
 * `auto` tries them in that order and keeps the first that initializes; `reason` says why the faster
 * ones were passed over. A software WebGPU adapter (lavapipe, llvmpipe, SwiftShader: the CPU) is passed
 * over for `native` when the addon loads, since it is many times slower. All names share one `tf` namespace (`@tensorflow/tfjs`): backends register
 * into its global engine, and `initBackend` switches the engine to the chosen one.
 */
export type BackendName = 'tensorflow' | 'webgpu' | 'native' | 'wasm' | 'cpu';
export type BackendChoice = BackendName | 'auto';
export const BACKEND_NAMES: readonly BackendName[] = ['tensorflow', 'webgpu', 'native', 'wasm', 'cpu'];

export type TF = typeof tf;

export interface BackendInfo {
  /** The backend now in use. */
  readonly name: BackendName;
  /** The `@tensorflow/tfjs` namespace, switched to this backend. */
  readonly tf: TF;
  /** One line for logs: the backend and what it runs on. */
  readonly description: string;
  /** For `auto`: why this one was picked (what was tried before it and why it failed). */
  readonly reason: string;
}

export interface InitBackendOptions {
  /**
   * Loads an optional package by name (default: dynamic `import`). Tests inject a failing loader to
   * check the messages; an application can map names to pre-bundled modules.
   */
  readonly importModule?: (specifier: string) => Promise<unknown>;
  /** Keep TensorFlow.js' console notices and debug checks (default false: `PROD` mode). */
  readonly verbose?: boolean;
  /**
   * webgpu: the precision of the layers' GEMMs (`MatmulPrecision`; default OMNITOK_WEBGPU_MATMUL, else
   * unchanged: f32 unless set before). An f16 the device cannot run leaves f32 and says why in the
   * description (see `webgpuMatmulPrecision()`). Train f16 GEMMs with a loss scale
   * (TrainerOptions.lossScale).
   */
  readonly matmulPrecision?: MatmulPrecision;
}

export const TENSORFLOW_HINT =
  'Install it with `npm install @tensorflow/tfjs-node-gpu` (NVIDIA GPU; needs CUDA 11.2 and cuDNN 8.1) or `npm install @tensorflow/tfjs-node` (CPU), or choose backend "wasm".';
export const WEBGPU_HINT =
  'In Node install the `webgpu` package (`npm install webgpu`) and a Vulkan/Metal/D3D12 driver (on Linux without a GPU: Mesa ≥ 25 lavapipe, e.g. Debian `apt-get install -t bookworm-backports mesa-vulkan-drivers`), or choose backend "wasm".';

export const NATIVE_HINT =
  'Build it with `npm install @omnitok/native-kernels` (or `npm run build` in the omnitok repository) on a machine with g++ and Node\'s headers, or choose backend "wasm".';

const defaultImport = (specifier: string): Promise<unknown> => import(/* @vite-ignore */ specifier);

/** Switches TensorFlow.js to `name` (or the fastest working backend for `auto`) and says which. */
export async function initBackend(name: BackendChoice = 'auto', options: InitBackendOptions = {}): Promise<BackendInfo> {
  if (name !== 'auto' && !BACKEND_NAMES.includes(name)) {
    throw new InvalidArgumentError('backend', name, `one of auto, ${BACKEND_NAMES.join(', ')}`);
  }
  if (!options.verbose) tf.env().set('PROD', true);
  installLeanBackprop();
  if (name !== 'auto') return { ...(await initOne(name, options)), reason: `requested ${JSON.stringify(name)}` };
  const skipped: string[] = [];
  for (const candidate of BACKEND_NAMES) {
    // Without a GPU device node, a Linux WebGPU adapter can only be a software rasterizer: skip it
    // without asking Dawn (which prints warnings) when the native CPU backend can run instead.
    if (candidate === 'webgpu' && !hasGpuDeviceNode() && (await probeBackend('native', options)).available) {
      skipped.push('webgpu (no GPU device on this machine; native is faster than software WebGPU)');
      continue;
    }
    try {
      const info = await initOne(candidate, options);
      if (candidate === 'webgpu' && SOFTWARE_ADAPTER.test(info.description) && (await probeBackend('native', options)).available) {
        skipped.push(`webgpu (a software adapter, slower than native: ${info.description})`);
        continue;
      }
      const reason = skipped.length === 0 ? `auto: ${candidate} is the fastest available` : `auto: ${candidate}; skipped ${skipped.join('; ')}`;
      return { ...info, reason };
    } catch (error) {
      skipped.push(`${candidate} (${error instanceof BackendUnavailableError ? error.reason : String(error)})`);
    }
  }
  throw new BackendUnavailableError('auto', `no backend initialized: ${skipped.join('; ')}`, 'Reinstall @tensorflow/tfjs.');
}

/** Which backends can initialize here, without leaving any selected (the current one is restored). */
export async function probeBackend(name: BackendName, options: InitBackendOptions = {}): Promise<{ available: boolean; reason: string }> {
  const previous = tf.getBackend();
  try {
    const info = await initOne(name, options);
    return { available: true, reason: info.description };
  } catch (error) {
    return { available: false, reason: error instanceof BackendUnavailableError ? error.reason : String(error) };
  } finally {
    if (previous && tf.getBackend() !== previous) await tf.setBackend(previous);
  }
}

async function initOne(name: BackendName, options: InitBackendOptions): Promise<Omit<BackendInfo, 'reason'>> {
  const load = options.importModule ?? defaultImport;
  switch (name) {
    case 'tensorflow':
      return initTensorflow(load);
    case 'webgpu':
      return initWebgpu(load, options.matmulPrecision ?? requestedMatmulPrecision());
    case 'wasm':
      return initWasm(load);
    case 'native':
      return initNative(load);
    case 'cpu':
      await switchTo('cpu', 'plain JavaScript kernels');
      return { name, tf, description: 'cpu: plain JavaScript kernels (reference)' };
  }
}

async function switchTo(name: string, what: string): Promise<void> {
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
    await tf.ready();
  } catch (error) {
    throw new BackendUnavailableError(name, `${what} failed to initialize: ${(error as Error).message ?? error}`, '', { cause: error });
  }
  if (!ok || tf.getBackend() !== name) throw new BackendUnavailableError(name, `${what} failed to initialize`, '');
}

async function initTensorflow(load: (s: string) => Promise<unknown>): Promise<Omit<BackendInfo, 'reason'>> {
  const failures: string[] = [];
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      // Importing the package registers the "tensorflow" backend in the shared engine.
      await load(pkg);
    } catch (error) {
      const message = (error as Error)?.message ?? String(error);
      failures.push(/Cannot find (module|package)|ERR_MODULE_NOT_FOUND/.test(message) ? `${pkg} is not installed` : `${pkg} failed to load (${message.split('\n')[0]})`);
      continue;
    }
    try {
      await switchTo('tensorflow', pkg);
    } catch (error) {
      failures.push((error as BackendUnavailableError).reason);
      continue;
    }
    return { name: 'tensorflow', tf, description: `tensorflow: libtensorflow via ${pkg}` };
  }
  throw new BackendUnavailableError('tensorflow', failures.join('; '), TENSORFLOW_HINT);
}

interface AdapterLike {
  info?: { vendor?: string; architecture?: string; device?: string; description?: string };
  features?: { has(f: string): boolean; [Symbol.iterator]?(): Iterator<unknown> };
  limits?: { maxStorageBuffersPerShaderStage?: number };
  requestDevice?(descriptor?: { requiredFeatures?: unknown[]; requiredLimits?: Record<string, number> }): Promise<unknown>;
}
interface GpuLike {
  requestAdapter(options?: unknown): Promise<AdapterLike | null>;
}

/** Storage buffers per shader stage worth asking for: the grouped AdamW's most (4 a parameter + the guard). */
const STORAGE_BUFFERS_WANTED = 4 * MAX_ADAMW_GROUP + 1;

/** Device features the f16 GEMMs use (kernels/webgpu/README.md), asked for wherever the adapter has them. */
const OPTIONAL_FEATURES = ['shader-f16', 'subgroups', 'chromium-experimental-subgroup-matrix'];

/**
 * TensorFlow.js requests its device itself (timestamp queries and nothing else we need): the adapters
 * `gpu` hands out get a requestDevice that adds OPTIONAL_FEATURES where available and the adapter's
 * storage buffers per shader stage (WebGPU's default is 8; more let one AdamW dispatch update several
 * parameters), and the adapter's facts are noted for the f16 GEMM (`noteWebgpuAdapter`). Idempotent.
 */
export function withOptionalFeatures(gpu: GpuLike & { omnitokFeatures?: boolean }): void {
  if (gpu.omnitokFeatures) return;
  const request = gpu.requestAdapter.bind(gpu);
  gpu.requestAdapter = async (options?: unknown) => {
    const adapter = await request(options);
    if (!adapter || typeof adapter.requestDevice !== 'function') return adapter;
    const requestDevice = adapter.requestDevice.bind(adapter);
    adapter.requestDevice = (descriptor = {}) => {
      const extra = OPTIONAL_FEATURES.filter((f) => adapter.features?.has(f));
      noteWebgpuAdapter(adapter.info, adapter.features?.[Symbol.iterator] ? (adapter.features as Iterable<unknown>) : undefined);
      const features = { ...descriptor, requiredFeatures: [...(descriptor.requiredFeatures ?? []), ...extra] };
      // no more than the grouped AdamW can use; a device refused with it is asked for again without
      const storage = Math.min(adapter.limits?.maxStorageBuffersPerShaderStage ?? 8, STORAGE_BUFFERS_WANTED);
      if (storage <= 8) return requestDevice(features);
      return requestDevice({ ...features, requiredLimits: { ...descriptor.requiredLimits, maxStorageBuffersPerShaderStage: storage } }).catch(() => requestDevice(features));
    };
    return adapter;
  };
  gpu.omnitokFeatures = true;
}

/** OMNITOK_WEBGPU_MATMUL: the layers' GEMM precision on webgpu (`MatmulPrecision`), f32 unless set. */
function requestedMatmulPrecision(): MatmulPrecision | undefined {
  const raw = envVar('OMNITOK_WEBGPU_MATMUL');
  if (raw === undefined || raw === '') return undefined;
  if (raw === 'f32' || raw === 'f16' || raw === 'f16-emulated') return raw;
  throw new InvalidArgumentError('OMNITOK_WEBGPU_MATMUL', raw, 'f32, f16 or f16-emulated');
}

/**
 * Dawn options from OMNITOK_DAWN_FLAGS, separated by `;`, handed to the `webgpu` package's
 * `create()`: e.g. `enable-dawn-features=disable_robustness,disable_workgroup_init,skip_validation`
 * (bounds clamping in the shaders, zeroing of workgroup memory and command validation off: for
 * measuring, and for code that is known to stay in bounds), `adapter=NVIDIA H100` (which GPU, by
 * name), `backend=vulkan`; with f16 GEMMs requested, the toggles Dawn's subgroup matrices need.
 */
export function dawnFlags(matmulPrecision: MatmulPrecision | undefined = requestedMatmulPrecision()): string[] {
  const raw = envVar('OMNITOK_DAWN_FLAGS');
  const flags = raw ? raw.split(';').map((f) => f.trim()).filter(Boolean) : [];
  // Dawn lists its experimental subgroup matrices only with allow_unsafe_apis, and its own tests run
  // them on Vulkan with the Vulkan memory model on. On NVIDIA's Vulkan driver Dawn withholds shader-f16
  // (so every f16 WGSL program, and the f16 subgroup-matrix configurations with it) unless the adapter
  // toggle vulkan_enable_f16_on_nvidia is on (crbug.com/42251215: f16 conformance failures under
  // investigation) — why runs 4 and 5 on an H200 found no shader-f16. The f16 GEMMs' self-check decides
  // whether the products are right on the device; other adapters ignore the toggle.
  if (matmulPrecision !== 'f16') return flags;
  const toggles = ['allow_unsafe_apis', 'use_vulkan_memory_model', 'vulkan_enable_f16_on_nvidia'];
  const at = flags.findIndex((f) => f.startsWith('enable-dawn-features='));
  if (at < 0) return [...flags, `enable-dawn-features=${toggles.join(',')}`];
  const have = flags[at]!.slice('enable-dawn-features='.length).split(',');
  flags[at] = `enable-dawn-features=${[...have, ...toggles.filter((t) => !have.includes(t))].join(',')}`;
  return flags;
}

/** `matmulPrecision` undefined: the GEMM precision stays what it is (f32 unless set before). */
async function initWebgpu(load: (s: string) => Promise<unknown>, matmulPrecision: MatmulPrecision | undefined): Promise<Omit<BackendInfo, 'reason'>> {
  const g = globalThis as { navigator?: { gpu?: GpuLike } };
  if (!g.navigator?.gpu) {
    let dawn: { create: (flags: string[]) => GpuLike; globals: Record<string, unknown> };
    try {
      dawn = (await load('webgpu')) as typeof dawn;
    } catch (error) {
      throw new BackendUnavailableError('webgpu', 'no navigator.gpu and the `webgpu` package (Dawn for Node) is not installed', WEBGPU_HINT, { cause: error });
    }
    // Dawn's Vulkan loader wants a runtime dir; without one it prints warnings (and some drivers fail).
    process.env.XDG_RUNTIME_DIR ??= tmpdir();
    Object.assign(globalThis, dawn.globals);
    const navigator = { ...(g.navigator ?? {}), gpu: dawn.create(dawnFlags(matmulPrecision)) };
    Object.defineProperty(globalThis, 'navigator', { value: navigator, configurable: true, writable: true });
  }
  withOptionalFeatures(g.navigator!.gpu!);
  const adapter = await g.navigator!.gpu!.requestAdapter().catch(() => null);
  if (!adapter) {
    const flags = dawnFlags();
    const why = `navigator.gpu.requestAdapter() returned no adapter${flags.length ? ` (Dawn options from OMNITOK_DAWN_FLAGS: ${flags.join('; ')})` : ''}`;
    throw new BackendUnavailableError('webgpu', why, WEBGPU_HINT);
  }
  try {
    await load('@tensorflow/tfjs-backend-webgpu');
  } catch (error) {
    throw new BackendUnavailableError('webgpu', '@tensorflow/tfjs-backend-webgpu is not installed', 'Install it with `npm install @tensorflow/tfjs-backend-webgpu`.', { cause: error });
  }
  const info = adapter.info ?? {};
  const what = [info.vendor, info.architecture, info.device, info.description].filter((s) => s && s.length > 0).join(' ') || 'unknown adapter';
  // omnitok's GEMM and fused ops (kernels/webgpu); OMNITOK_WEBGPU_KERNELS=0 keeps tfjs' own
  registerWebgpuKernels({ softwareAdapter: SOFTWARE_ADAPTER.test(what) });
  await switchTo('webgpu', 'the WebGPU backend');
  tuneWebgpuBackend(tf.backend());
  watchDeviceErrors((tf.backend() as { device?: unknown }).device);
  const state = matmulPrecision ? await setWebgpuMatmulPrecision(matmulPrecision) : webgpuMatmulPrecision();
  let gemms = '';
  if (state.reason) gemms = ` (${state.reason}; GEMMs in f32)`;
  else if (state.precision !== 'f32') gemms = ` (GEMMs: f16 operands, f32 accumulation, ${state.unit === 'emulated' ? 'emulated' : 'matrix unit'})`;
  return { name: 'webgpu', tf, description: `webgpu: ${what}${gemms}` };
}

async function initWasm(load: (s: string) => Promise<unknown>): Promise<Omit<BackendInfo, 'reason'>> {
  let wasm: { setWasmPaths: (prefix: string) => void };
  try {
    wasm = (await load('@tensorflow/tfjs-backend-wasm')) as typeof wasm;
  } catch (error) {
    throw new BackendUnavailableError('wasm', '@tensorflow/tfjs-backend-wasm is not installed', 'Install it with `npm install @tensorflow/tfjs-backend-wasm`.', { cause: error });
  }
  if (typeof process !== 'undefined' && process.versions?.node && tf.getBackend() !== 'wasm' && !wasmPathsSet) {
    // In Node the backend cannot find its .wasm binaries by itself: point it at the package's dist/.
    const require = createRequire(import.meta.url);
    const dist = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), '/');
    wasm.setWasmPaths(dist.endsWith('dist/') ? dist : join(dist, 'dist/'));
    wasmPathsSet = true;
  }
  await switchTo('wasm', 'the WebAssembly backend');
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
  return { name: 'wasm', tf, description: `wasm: WebAssembly${simd ? ' SIMD' : ''}, ${threads ? 'multi-threaded' : 'one thread'}` };
}

let wasmPathsSet = false;

const SOFTWARE_ADAPTER = /lavapipe|llvmpipe|swiftshader|software/i;

/** Linux only: whether a GPU device node exists (NVIDIA, or a DRM render node). Elsewhere assume yes. */
function hasGpuDeviceNode(): boolean {
  if (process.platform !== 'linux') return true;
  if (existsSync('/dev/nvidia0') || existsSync('/dev/nvidiactl')) return true;
  try {
    return readdirSync('/dev/dri').some((d) => d.startsWith('renderD'));
  } catch {
    return false;
  }
}

async function initNative(load: (s: string) => Promise<unknown>): Promise<Omit<BackendInfo, 'reason'>> {
  let mod: { loadNativeKernels: () => { ok: true; kernels: Kernels } | { ok: false; reason: string } };
  try {
    mod = (await load('@omnitok/native-kernels')) as typeof mod;
  } catch (error) {
    throw new BackendUnavailableError('native', '@omnitok/native-kernels is not installed', NATIVE_HINT, { cause: error });
  }
  const loaded = mod.loadNativeKernels();
  if (!loaded.ok) throw new BackendUnavailableError('native', loaded.reason, NATIVE_HINT);
  // An addon compiled from older sources (kept in an install or a build cache) lacks newer kernels.
  if (typeof loaded.kernels.flashAttention !== 'function') {
    throw new BackendUnavailableError('native', 'the built addon is older than this runtime (it has no flashAttention): rebuild @omnitok/native-kernels', NATIVE_HINT);
  }
  registerNativeBackend(loaded.kernels);
  await switchTo('native', 'the native backend');
  const { blas, threads, isa } = loaded.kernels.info();
  return { name: 'native', tf, description: `native: C++ kernels (${isa}, ${threads} thread${threads === 1 ? '' : 's'}, GEMM: ${blas}) + cpu` };
}
