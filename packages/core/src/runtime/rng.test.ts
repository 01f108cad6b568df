import { describe, expect, it } from 'vitest';
import { Rng } from './rng.js';

describe('Rng', () => {
  it('is reproducible from its seed and resumable from its state', () => {
    const a = new Rng(7);
    a.normals(5, 1);
    const state = a.state();
    const next = a.normals(4, 0.5);
    expect(Rng.fromState(state).normals(4, 0.5)).toEqual(next);
    expect(new Rng(7).normals(3, 1)).not.toEqual(new Rng(8).normals(3, 1));
  });

  it('skipDraws: normals inside are zeros and draw nothing; after it, draws resume as from a fresh generator', () => {
    const rng = new Rng(3);
    const built = rng.skipDraws(() => [rng.normals(6, 0.02), rng.normals(2, 1, false)]);
    expect(built.map((x) => [...x])).toEqual([[0, 0, 0, 0, 0, 0], [0, 0]]);
    expect(rng.state()).toEqual(new Rng(3).state());
    expect(rng.normals(4, 1)).toEqual(new Rng(3).normals(4, 1));
    // nested, and restored after a throw
    expect(() => rng.skipDraws(() => rng.skipDraws(() => {
      throw new Error('boom');
    }))).toThrow('boom');
    expect(rng.normals(1, 1)[0]).not.toBe(0);
  });
});
