/**
 * What the GPU benches (train-gpu.mjs, gemm-gpu.mjs) share: `--name value` options, a log that also
 * appends each line to `--out` (so a timeout on the device keeps what was measured), and starting the
 * `webgpu` backend from the esbuild bundle, exiting 2 when TensorFlow.js fell back to another backend.
 */
import { appendFileSync } from 'node:fs';
import * as runtime from '../packages/core/dist/runtime/index.js';

const argv = process.argv.slice(2);
export const flag = (name) => argv.includes(`--${name}`);
export const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : dflt;
};

const OUT = opt('out', '');
export function log(line = '') {
  console.log(line);
  if (OUT) appendFileSync(OUT, `${line}\n`);
}

// Everything the runtime loads by name comes from the bundle (the GPU machine has no node_modules
// except `webgpu`, which stays external). Imported lazily: the webgpu backend registers itself only
// if navigator.gpu exists when it loads, which initBackend sets up first.
export const importModule = async (name) => {
  if (name === '@tensorflow/tfjs-backend-webgpu') return import('@tensorflow/tfjs-backend-webgpu');
  if (name === 'webgpu') return import('webgpu');
  throw new Error(`Cannot find module ${name} (not bundled)`);
};

/** initBackend('webgpu'); `kernels` false keeps TensorFlow.js' own kernels (OMNITOK_WEBGPU_KERNELS=0). */
export async function startWebgpu(kernels = true) {
  process.env.OMNITOK_WEBGPU_KERNELS = kernels ? '1' : '0';
  // a device error other than out-of-memory is printed and the run goes on: one device call is all
  // a GPU session gets, and a run that reports its errors beats one that stops at the first
  process.env.OMNITOK_DEVICE_ERRORS ??= 'warn';
  const info = await runtime.initBackend('webgpu', { importModule });
  if (info.tf.getBackend() !== 'webgpu') {
    log(`webgpu did not start: backend is ${info.tf.getBackend()}`);
    process.exit(2);
  }
  return info;
}
