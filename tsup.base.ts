import type { Options } from 'tsup';

/**
 * The build every workspace package shares: ESM for Node 20 with declarations and source maps, dist/
 * cleaned first. A package's tsup.config.ts spreads this and adds its entries (and externals).
 * (Plugins scaffolded by `omnitok plugins new` carry their own copy: they must build outside this repo.)
 */
export const base = {
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
} satisfies Options;
