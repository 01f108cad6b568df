import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));

// Tests import workspace packages from source, so `vitest run` needs no build of the package under
// test. Tests that drive the built `omnitok` binary need `npm run build` first (`npm test` does it).
const alias = [
  { find: /^@omnitok\/([\w-]+)$/, replacement: `${root}packages/$1/src/index.ts` },
  { find: /^@omnitok\/([\w-]+)\/([\w-]+)$/, replacement: `${root}packages/$1/src/$2/index.ts` },
];

const workspaces = ['packages', 'apps'].flatMap((group) =>
  existsSync(`${root}${group}`)
    ? readdirSync(`${root}${group}`, { withFileTypes: true })
        .filter((d) => d.isDirectory() && existsSync(`${root}${group}/${d.name}/package.json`))
        .map((d) => `${group}/${d.name}`)
    : [],
);

export default defineConfig({
  test: {
    projects: workspaces.map((dir) => ({
      resolve: { alias },
      test: {
        name: dir.split('/')[1],
        root: `${root}${dir}`,
        include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
        testTimeout: 30_000,
        hookTimeout: 60_000,
      },
    })),
  },
});
