import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', 'testing/index': 'src/testing/index.ts', 'runtime/index': 'src/runtime/index.ts' },
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  // TensorFlow.js is an optional peer used by the runtime entry only: never bundled, never in dist/index.js.
  external: ['vitest', /^@tensorflow\//, 'webgpu'],
});
