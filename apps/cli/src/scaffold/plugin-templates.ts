/** The files of a new modality-plugin package, keyed by relative path. */
export interface ScaffoldOptions {
  /** Modality / plugin name, kebab-case: `imu`, `point-cloud`. */
  readonly name: string;
  /** npm package name. */
  readonly packageName: string;
  /** Version range of @omnitok/core to depend on (`*` inside the omnitok monorepo). */
  readonly coreRange: string;
  /** Inside the omnitok monorepo: extend its tsconfig and use its toolchain. */
  readonly inMonorepo: boolean;
}

const camel = (name: string) => name.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

export function pluginTemplates(o: ScaffoldOptions): Record<string, string> {
  const factory = `${camel(o.name)}Tokenizer`;
  const file = `${o.name}-tokenizer`;
  const pkg = {
    name: o.packageName,
    version: '0.1.0',
    description: `omnitok modality plugin: ${o.name} → tokens`,
    license: 'Apache-2.0',
    type: 'module',
    sideEffects: false,
    engines: { node: '>=20' },
    keywords: ['omnitok', 'omnitok-plugin', o.name],
    exports: { '.': { types: './dist/index.d.ts', import: './dist/index.js' }, './package.json': './package.json' },
    main: './dist/index.js',
    types: './dist/index.d.ts',
    files: ['dist', 'README.md'],
    scripts: o.inMonorepo
      ? { build: 'tsup', typecheck: 'tsc --noEmit -p .', test: `vitest run --root ../.. --project ${o.packageName.split('/').pop()}` }
      : { build: 'tsup', typecheck: 'tsc --noEmit -p .', test: 'vitest run' },
    dependencies: { '@omnitok/core': o.coreRange },
    ...(o.inMonorepo ? {} : { devDependencies: { '@types/node': '^20.0.0', tsup: '^8.5.0', typescript: '~5.9.3', vitest: '^4.1.0' } }),
  };
  const tsconfig = o.inMonorepo
    ? { extends: '../../tsconfig.base.json', compilerOptions: { outDir: 'dist' }, include: ['src'] }
    : {
        compilerOptions: {
          target: 'ES2022',
          lib: ['ES2023'],
          module: 'ESNext',
          moduleResolution: 'Bundler',
          types: ['node'],
          strict: true,
          noUncheckedIndexedAccess: true,
          isolatedModules: true,
          verbatimModuleSyntax: true,
          skipLibCheck: true,
          declaration: true,
          outDir: 'dist',
        },
        include: ['src'],
      };
  const files: Record<string, string> = {
    'package.json': `${JSON.stringify(pkg, null, 2)}\n`,
    'tsconfig.json': `${JSON.stringify(tsconfig, null, 2)}\n`,
    'tsup.config.ts': `import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts' },
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
});
`,
    'src/index.ts': `import { ${factory} } from './${file}.js';

export { ${factory}, ${camel(o.name)}Presets, type ${pascal(o.name)}Preset } from './${file}.js';

/** The CLI's plugin discovery calls the default export (a factory) to get the plugin. */
export default ${factory};
`,
    [`src/${file}.ts`]: `import {
  BadPresetError,
  continuousTokens,
  DecodeError,
  defineModalityPlugin,
  type Features,
  readInputBytes,
  resolvePreset,
} from '@omnitok/core';

/**
 * A preset: plain JSON, so it can be printed, stored in checkpoints and diffed.
 * Replace these fields with what your modality needs.
 */
export interface ${pascal(o.name)}Preset {
  /** Samples kept per channel (crop, or zero-pad). */
  readonly length: number;
  /** Samples per patch along time; must divide \`length\`. */
  readonly patch: number;
  /** Multiplier applied to every sample. */
  readonly scale: number;
}

export const ${camel(o.name)}Presets = {
  default: { length: 16, patch: 4, scale: 1 },
} satisfies Record<string, ${pascal(o.name)}Preset>;

/** What \`decode\` returns: channels × samples. */
export interface Decoded${pascal(o.name)} {
  readonly channels: number;
  readonly samples: Float32Array[];
  readonly source: string;
}

/**
 * The ${o.name} modality plugin. Starting point: it reads a JSON file holding an array of channels, each
 * an array of numbers, crops or pads to \`length\`, and cuts time into \`patch\`-sample tokens of
 * \`channels × patch\` values. Replace decode / preprocess / tokenize with your modality's logic and keep
 * the conformance test passing.
 */
export function ${factory}() {
  return defineModalityPlugin({
    specVersion: 1,
    name: '${o.name}',
    modality: '${o.name}',
    description: '${o.name} → patch tokens',
    version: '0.1.0',
    presets: ${camel(o.name)}Presets,
    defaultPreset: 'default',
    tokenKind: 'continuous',
    fileTypes: [{ format: '${o.name}-json', extensions: ['${o.name.replace(/[^a-z0-9]/g, '')}'] }],

    async decode(input): Promise<Decoded${pascal(o.name)}> {
      const { bytes, input: norm } = await readInputBytes(input, '${o.name}');
      let parsed: unknown;
      try {
        parsed = JSON.parse(new TextDecoder().decode(bytes));
      } catch {
        throw new DecodeError(norm.label, '${o.name}', 'not valid JSON');
      }
      if (!Array.isArray(parsed) || parsed.length === 0 || !parsed.every((c) => Array.isArray(c) && c.every((v) => typeof v === 'number'))) {
        throw new DecodeError(norm.label, '${o.name}', 'expected a non-empty array of channels, each an array of numbers');
      }
      return { channels: parsed.length, samples: parsed.map((c: number[]) => Float32Array.from(c)), source: norm.label };
    },

    preprocess(decoded: Decoded${pascal(o.name)}, preset?: string | ${pascal(o.name)}Preset): Features {
      const { name, preset: p } = resolvePreset('${o.name}', ${camel(o.name)}Presets, preset, 'default');
      if (!Number.isInteger(p.patch) || p.patch <= 0 || p.length % p.patch !== 0) {
        throw new BadPresetError('${o.name}', name, { field: 'patch', reason: \`must be a positive integer dividing length \${p.length}, got \${p.patch}\` });
      }
      const data = new Float32Array(decoded.channels * p.length); // [C, T]
      decoded.samples.forEach((channel, c) => {
        for (let t = 0; t < Math.min(p.length, channel.length); t++) data[c * p.length + t] = channel[t]! * p.scale;
      });
      return { data, shape: [decoded.channels, p.length], axes: ['channel', 'time'], modality: '${o.name}', preset: name, source: decoded.source };
    },

    tokenize(features: Features) {
      const [channels, length] = features.shape as [number, number];
      const preset = ${camel(o.name)}Presets[features.preset as keyof typeof ${camel(o.name)}Presets] ?? ${camel(o.name)}Presets.default;
      const patch = preset.patch;
      const n = length / patch;
      const out = new Float32Array(n * channels * patch); // [N, C·P], each patch flattened (C, P)
      for (let i = 0; i < n; i++)
        for (let c = 0; c < channels; c++)
          for (let k = 0; k < patch; k++) out[(i * channels + c) * patch + k] = features.data[c * length + i * patch + k]!;
      return continuousTokens({ data: out, shape: [n, channels * patch], grid: [n], modality: '${o.name}', preset: features.preset, source: features.source });
    },
  });
}
`,
    [`src/${file}.test.ts`]: `import { fileURLToPath } from 'node:url';
import { describeModalityPlugin } from '@omnitok/core/testing';
import { describe, expect, it } from 'vitest';
import { ${factory} } from './${file}.js';

const sample = fileURLToPath(new URL('./__fixtures__/sample.json', import.meta.url));

// The contract every omnitok plugin passes: shapes, JSON presets, determinism, typed errors (also on
// corrupted copies of the sample), no leaks.
describeModalityPlugin(${factory}(), { inputs: [sample] });

describe('${factory}', () => {
  it('cuts time into patches of channels × patch values', async () => {
    const plugin = ${factory}();
    const tokens = plugin.tokenize(await plugin.preprocess(await plugin.decode(sample)));
    expect(tokens.shape).toEqual([4, 8]);
    // token 1 = samples 4..7 of channel 0, then of channel 1
    expect(Array.from(tokens.data.subarray(8, 16))).toEqual([4, 5, 6, 7, 104, 105, 106, 107]);
  });
});
`,
    'src/__fixtures__/sample.json': `${JSON.stringify([Array.from({ length: 16 }, (_, i) => i), Array.from({ length: 16 }, (_, i) => 100 + i)])}\n`,
    'README.md': `# ${o.packageName}

An [omnitok](https://github.com/) modality plugin: \`${o.name}\` → transformer tokens.

\`\`\`ts
import { createModalityRegistry } from '@omnitok/core';
import { ${factory} } from '${o.packageName}';

const registry = createModalityRegistry([${factory}()]);
const plugin = registry.get('${o.name}');
const tokens = plugin.tokenize(await plugin.preprocess(await plugin.decode('recording.${o.name.replace(/[^a-z0-9]/g, '')}')));
\`\`\`

The \`omnitok\` CLI finds this plugin when the package is installed (its name matches \`omnitok-plugin-*\`), or
when its path is listed in \`omnitok.config.json\` (\`{ "plugins": ["./path/to/dist/index.js"] }\`) or given
with \`--plugin\`.

Development: \`npm run build\`, \`npm test\` (runs the omnitok conformance suite), \`npm run typecheck\`.
`,
  };
  if (!o.inMonorepo) {
    files['vitest.config.ts'] = `import { defineConfig } from 'vitest/config';

export default defineConfig({ test: { include: ['src/**/*.test.ts'] } });
`;
    files['.gitignore'] = 'node_modules/\ndist/\n';
  }
  return files;
}

function pascal(name: string): string {
  const c = camel(name);
  return c.charAt(0).toUpperCase() + c.slice(1);
}
