import { defineConfig } from 'tsup';
import { base } from '../../tsup.base.js';

export default defineConfig({
  ...base,
  entry: { index: 'src/index.ts', 'testing/index': 'src/testing/index.ts', 'runtime/index': 'src/runtime/index.ts' },
  // TensorFlow.js is an optional peer used by the runtime entry only: never bundled, never in dist/index.js.
  external: ['vitest', /^@tensorflow\//, 'webgpu'],
});
