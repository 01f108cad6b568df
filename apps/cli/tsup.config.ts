import { defineConfig } from 'tsup';
import { base } from '../../tsup.base.js';

export default defineConfig({
  ...base,
  entry: { main: 'src/main.ts', index: 'src/index.ts' },
  dts: { entry: { index: 'src/index.ts' } },
  // Workspace packages stay external: the CLI uses each tokenizer's own build.
  external: [/^@omnitok\//],
});
