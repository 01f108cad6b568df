import { afterEach, expect, it } from 'vitest';
import { withEnv } from './with-env.js';

const A = 'OMNITOK_WITH_ENV_TEST_A';
const B = 'OMNITOK_WITH_ENV_TEST_B';
afterEach(() => {
  delete process.env[A];
  delete process.env[B];
});

it('sets and unsets for the call, then restores what was there (a value set before, or nothing)', () => {
  process.env[A] = 'outer';
  const seen = withEnv({ [A]: undefined, [B]: 'inner' }, () => [process.env[A], process.env[B]]);
  expect(seen).toEqual([undefined, 'inner']);
  expect(process.env[A]).toBe('outer');
  expect(B in process.env).toBe(false);
});

it('restores when the function throws, and when its promise rejects only once it has settled', async () => {
  expect(() => withEnv({ [A]: '1' }, () => { throw new Error('boom'); })).toThrow('boom');
  expect(A in process.env).toBe(false);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const run = withEnv({ [A]: '2' }, async () => {
    await gate;
    expect(process.env[A]).toBe('2'); // still set while the async body runs
    throw new Error('late');
  });
  expect(process.env[A]).toBe('2');
  release();
  await expect(run).rejects.toThrow('late');
  expect(A in process.env).toBe(false);
});
