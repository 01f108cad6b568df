/*
 * Test helper (not exported): the runtime reads its switches (OMNITOK_WEBGPU_*, OMNITOK_DAWN_FLAGS, …)
 * from process.env at each call, so a test flips one by setting it around the code under test.
 */

/** Environment variables to set: a string sets one, `undefined` unsets it. */
export type EnvVars = Readonly<Record<string, string | undefined>>;

/**
 * Runs `f` with `vars` applied to process.env, then puts back exactly what was there before (a value
 * set outside the test, say `OMNITOK_WEBGPU_MATMUL_TILE=128 npx vitest`, is restored, not deleted),
 * also when `f` throws. When `f` returns a promise or thenable (an async `f`, vitest's
 * `expect(…).rejects`), the environment is put back once it settles, and a promise of its outcome is
 * returned; otherwise at once, with `f`'s value.
 */
export function withEnv<T>(vars: EnvVars, f: () => T): T {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  setEnv(vars);
  let result: T;
  try {
    result = f();
  } catch (e) {
    setEnv(before);
    throw e;
  }
  if (typeof (result as { then?: unknown } | null)?.then === 'function') return Promise.resolve(result).finally(() => setEnv(before)) as T;
  setEnv(before);
  return result;
}

/** Sets (a string) or unsets (`undefined`) each of `vars` in process.env. */
function setEnv(vars: EnvVars): void {
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
}
