import { type BackendChoice, type BackendInfo, initBackend, type MatmulPrecision } from '@omnitok/core/runtime';

/**
 * `--backend`: the runtime's choice, except that `auto` passes over WebGPU on a software rasterizer
 * (Mesa lavapipe/llvmpipe, SwiftShader): that emulates a GPU on the CPU and trains slower than wasm.
 */
export async function selectBackend(choice: BackendChoice, matmulPrecision?: MatmulPrecision): Promise<BackendInfo> {
  const info = await initBackend(choice, { matmulPrecision });
  if (choice === 'auto' && info.name === 'webgpu' && /llvmpipe|lavapipe|swiftshader|software/i.test(info.description)) {
    const wasm = await initBackend('wasm');
    return { ...wasm, reason: `auto: wasm; webgpu is a software rasterizer here (${info.description}); ${info.reason.replace(/^auto: webgpu;?\s*/, '')}` };
  }
  return info;
}
