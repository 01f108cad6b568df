import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors/index.js';
import { dawnFlags, initBackend, withOptionalFeatures } from './backend.js';
import { BackendUnavailableError } from './errors.js';
import { withEnv } from './test-utils/with-env.js';

const notFound = async (spec: string): Promise<never> => {
  const e = new Error(`Cannot find package '${spec}' imported from /x.js`) as Error & { code: string };
  e.code = 'ERR_MODULE_NOT_FOUND';
  throw e;
};

describe('initBackend', () => {
  it('selects cpu and wasm by name and reports them', async () => {
    const cpu = await initBackend('cpu');
    expect(cpu).toMatchObject({ name: 'cpu', reason: 'requested "cpu"' });
    expect(cpu.tf).toBe(tf);
    expect(tf.getBackend()).toBe('cpu');
    const wasm = await initBackend('wasm');
    expect(wasm.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(wasm.description).toMatch(/^wasm: WebAssembly SIMD/);
    expect(Array.from(await tf.add(tf.tensor([1, 2]), 1).data())).toEqual([2, 3]);
  });

  it('names the install command when TensorFlow (tfjs-node) is missing', async () => {
    const error = await initBackend('tensorflow', { importModule: notFound }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendUnavailableError);
    const e = error as BackendUnavailableError;
    expect(e.code).toBe('E_BACKEND_UNAVAILABLE');
    expect(e.message).toMatch(/@tensorflow\/tfjs-node-gpu is not installed; @tensorflow\/tfjs-node is not installed/);
    expect(e.message).toContain('npm install @tensorflow/tfjs-node-gpu');
    expect(e.message).toContain('CUDA 11.2 and cuDNN 8.1');
    expect(e.message).toContain('npm install @tensorflow/tfjs-node');
  });

  it('says when an installed tfjs-node is broken', async () => {
    const broken = async (spec: string) => {
      throw new Error(`libtensorflow.so.2: cannot open shared object file (${spec})`);
    };
    const error = (await initBackend('tensorflow', { importModule: broken }).catch((e: unknown) => e)) as BackendUnavailableError;
    expect(error.reason).toMatch(/tfjs-node-gpu failed to load \(libtensorflow\.so\.2/);
  });

  it('auto picks the fastest working backend and says why the others were skipped', async () => {
    const load = (spec: string) => (spec.startsWith('@tensorflow/tfjs-node') || spec === 'webgpu' || spec === '@omnitok/native-kernels' ? notFound(spec) : import(spec));
    const info = await initBackend('auto', { importModule: load });
    // this file never loads Dawn, so navigator.gpu is absent: auto falls through tensorflow and webgpu to wasm
    expect((globalThis as { navigator?: { gpu?: unknown } }).navigator?.gpu).toBeUndefined();
    expect(info.name).toBe('wasm');
    expect(info.reason).toMatch(/^auto: wasm; skipped tensorflow \(.*not installed.*\); webgpu \(.*webgpu.*\); native \(@omnitok\/native-kernels is not installed\)/);
    expect(tf.getBackend()).toBe(info.name);
  });

  it('rejects unknown names', async () => {
    await expect(initBackend('metal' as never)).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});

describe('dawnFlags', () => {
  it('splits OMNITOK_DAWN_FLAGS on semicolons into the options of the webgpu package\'s create()', () => {
    expect(withEnv({ OMNITOK_DAWN_FLAGS: undefined }, dawnFlags)).toEqual([]);
    const flags = withEnv({ OMNITOK_DAWN_FLAGS: ' enable-dawn-features=disable_robustness,skip_validation ; adapter=NVIDIA H100 ;' }, dawnFlags);
    expect(flags).toEqual(['enable-dawn-features=disable_robustness,skip_validation', 'adapter=NVIDIA H100']);
  });

  it('adds the toggles subgroup matrices need with OMNITOK_WEBGPU_MATMUL=f16, merged into a given enable-dawn-features', () => {
    expect(withEnv({ OMNITOK_DAWN_FLAGS: undefined, OMNITOK_WEBGPU_MATMUL: 'f16-emulated' }, dawnFlags)).toEqual([]);
    expect(withEnv({ OMNITOK_DAWN_FLAGS: undefined, OMNITOK_WEBGPU_MATMUL: 'f16' }, dawnFlags)).toEqual(['enable-dawn-features=allow_unsafe_apis,use_vulkan_memory_model,vulkan_enable_f16_on_nvidia']);
    const merged = withEnv({ OMNITOK_DAWN_FLAGS: 'adapter=NVIDIA;enable-dawn-features=skip_validation,allow_unsafe_apis', OMNITOK_WEBGPU_MATMUL: 'f16' }, dawnFlags);
    expect(merged).toEqual(['adapter=NVIDIA', 'enable-dawn-features=skip_validation,allow_unsafe_apis,use_vulkan_memory_model,vulkan_enable_f16_on_nvidia']);
  });
});

describe('the webgpu device request', () => {
  /** A navigator.gpu whose adapter records each requestDevice descriptor; `refuse` rejects those with requiredLimits. */
  function fakeGpu(storage: number, features: string[], refuse = false) {
    const asked: { requiredFeatures?: unknown[]; requiredLimits?: Record<string, number> }[] = [];
    const adapter = {
      info: { vendor: 'test' },
      features: new Set(features),
      limits: { maxStorageBuffersPerShaderStage: storage },
      requestDevice: async (d: (typeof asked)[0] = {}) => {
        asked.push(d);
        if (refuse && d.requiredLimits?.maxStorageBuffersPerShaderStage) throw new Error('OperationError: limit refused');
        return { descriptor: d };
      },
    };
    return { gpu: { requestAdapter: async () => adapter }, asked };
  }
  const tfjsDescriptor = { requiredFeatures: ['timestamp-query'], requiredLimits: { maxBufferSize: 1024 } };

  it("adds the optional features the adapter has and its storage buffers per stage (for the grouped AdamW), keeping tfjs' own", async () => {
    const { gpu, asked } = fakeGpu(16, ['shader-f16', 'subgroups']);
    withOptionalFeatures(gpu);
    await (await gpu.requestAdapter())!.requestDevice!(tfjsDescriptor);
    expect(asked).toEqual([{ requiredFeatures: ['timestamp-query', 'shader-f16', 'subgroups'], requiredLimits: { maxBufferSize: 1024, maxStorageBuffersPerShaderStage: 16 } }]);
  });

  it('asks for no more storage buffers than AdamW uses, none beyond the default 8, and again without the limit where it is refused', async () => {
    const big = fakeGpu(1_000_000, []);
    withOptionalFeatures(big.gpu);
    await (await big.gpu.requestAdapter())!.requestDevice!(tfjsDescriptor);
    expect(big.asked[0]!.requiredLimits!.maxStorageBuffersPerShaderStage).toBe(33);
    const plain = fakeGpu(8, []);
    withOptionalFeatures(plain.gpu);
    await (await plain.gpu.requestAdapter())!.requestDevice!(tfjsDescriptor);
    expect(plain.asked).toEqual([tfjsDescriptor]);
    const refusing = fakeGpu(16, [], true);
    withOptionalFeatures(refusing.gpu);
    const device = await (await refusing.gpu.requestAdapter())!.requestDevice!(tfjsDescriptor);
    expect(refusing.asked.length).toBe(2);
    expect(device).toEqual({ descriptor: tfjsDescriptor });
  });
});
