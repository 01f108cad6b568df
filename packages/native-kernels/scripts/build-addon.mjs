#!/usr/bin/env node
/**
 * Compiles src/omnitok_native.cc into dist/omnitok_native.node (after tsup, which cleans dist/) with the system C++ compiler and
 * Node's own headers (<node prefix>/include/node) — no node-gyp, no network. Portable code: a
 * baseline x86-64 build whose hot loops are cloned for AVX-512 / AVX2+FMA and picked at run time.
 *
 * Never fails the build: when the compiler or the headers are missing, it prints why and exits 0;
 * the runtime then reports the `native` backend as unavailable and `auto` falls back to wasm.
 * OMNITOK_NATIVE_SKIP_BUILD=1 skips it; CXX picks the compiler.
 *
 * `--install` (the package's npm install script): in a workspace checkout (src/index.ts present) it
 * does nothing (`npm run build` compiles); in an installed copy it keeps a shipped addon that loads on
 * this machine and otherwise compiles one — so `npm install @omnitok/cli` gets the native backend
 * wherever g++ and Node's headers are, and still installs (wasm fallback) where they are not.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'omnitok_native.node'); // dist/: turbo caches and restores it with the JS
const src = join(root, 'src', 'omnitok_native.cc');

function skip(why) {
  console.warn(`@omnitok/native-kernels: native addon not built (${why}); the runtime falls back to wasm/cpu.`);
  process.exit(0);
}

if (process.env.OMNITOK_NATIVE_SKIP_BUILD === '1') skip('OMNITOK_NATIVE_SKIP_BUILD=1');
if (process.argv.includes('--install')) {
  if (existsSync(join(root, 'src', 'index.ts'))) process.exit(0); // workspace checkout: the build compiles
  if (existsSync(out)) {
    try {
      process.dlopen({ exports: {} }, out);
      console.log(`@omnitok/native-kernels: the shipped addon loads on this machine (${out})`);
      process.exit(0);
    } catch (error) {
      console.warn(`@omnitok/native-kernels: the shipped addon does not load here (${String(error?.message ?? error).split('\n')[0]}); compiling one`);
    }
  }
}
if (process.platform !== 'linux' && process.platform !== 'darwin') skip(`platform ${process.platform} is not supported by this build script`);
const include = [
  join(dirname(dirname(process.execPath)), 'include', 'node'), // official tarballs, nodesource, nvm, pyenv-style prefixes
  process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, 'include', 'node'),
  '/usr/include/node',
  '/usr/include/nodejs/src', // Debian's nodejs-dev layout
]
  .filter(Boolean)
  .find((d) => existsSync(join(d, 'node_api.h')));
if (!include) skip(`node_api.h not found under ${join(dirname(dirname(process.execPath)), 'include', 'node')}`);
const cxx = process.env.CXX || 'g++';
const x86 = process.arch === 'x64';
const flags = [
  '-O3', '-std=c++17', '-fopenmp-simd', '-pthread', '-shared', '-fPIC', '-fno-math-errno', '-DNODE_GYP_MODULE_NAME=omnitok_native', '-DNAPI_VERSION=8',
  ...(x86 ? [] : ['-DOMNITOK_NO_CLONES']),
  `-I${include}`, src, '-o', `${out}.tmp`, '-ldl',
  ...(process.platform === 'darwin' ? ['-undefined', 'dynamic_lookup'] : []),
];
mkdirSync(dirname(out), { recursive: true });
const t0 = Date.now();
// With libjpeg's headers (Debian: libjpeg62-turbo-dev) the addon also gets a JPEG decoder, which loads
// libjpeg.so.62 at run time (no link-time dependency); without them it is built without one.
const jpegHeader = ['/usr/include', '/usr/local/include', '/opt/homebrew/include'].some((d) => existsSync(join(d, 'jpeglib.h')));
let r = jpegHeader ? spawnSync(cxx, ['-DOMNITOK_JPEG', ...flags], { stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' }) : undefined;
const jpeg = r?.status === 0;
if (!jpeg) r = spawnSync(cxx, flags, { stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
if (r.error) skip(`${cxx}: ${r.error.message}`);
if (r.status !== 0) {
  rmSync(`${out}.tmp`, { force: true });
  console.warn(r.stderr);
  skip(`${cxx} exited with ${r.status}`);
}
renameSync(`${out}.tmp`, out);
console.log(`@omnitok/native-kernels: built ${out} in ${((Date.now() - t0) / 1000).toFixed(1)} s (${jpeg ? 'with' : 'without'} the JPEG decoder${jpegHeader ? '' : ': no jpeglib.h'})`);
