import { InvalidArgumentError } from '../errors/invalid-argument-error.js';

/**
 * A small, seedable, serializable random generator (xoshiro128**, seeded through splitmix32).
 *
 * Every random draw of the runtime (initialization, dropout masks) comes from an `Rng`, so a run is
 * reproducible from its seed and resumable from `state()`: the state is four uint32 words plus a
 * cached Gaussian, plain JSON.
 */
export interface RngState {
  readonly s: readonly [number, number, number, number];
  readonly spare: number | null;
}

export class Rng {
  private s = new Uint32Array(4);
  private spare: number | null = null;
  private skipping = false;

  constructor(seed = 0) {
    let x = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      // splitmix32
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.s[i] = (z ^ (z >>> 16)) >>> 0;
    }
  }

  static fromState(state: RngState): Rng {
    const r = new Rng(0);
    r.setState(state);
    return r;
  }

  /** A uint32. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 random bits. */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Standard normal (Box–Muller, the second value cached). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /**
   * Runs `build` with `normals` returning zeros without drawing: for modules whose every weight is loaded
   * right after (a checkpoint, a pretrained model), where drawing the initial weights is wasted time —
   * seconds for a ViT-B — and leaves the generator where a fresh one starts.
   */
  skipDraws<T>(build: () => T): T {
    const was = this.skipping;
    this.skipping = true;
    try {
      return build();
    } finally {
      this.skipping = was;
    }
  }

  /** `n` normals with standard deviation `std`, truncated (redrawn) outside ±2 std when `truncate`. */
  normals(n: number, std: number, truncate = true): Float32Array {
    const out = new Float32Array(n);
    if (this.skipping) return out;
    for (let i = 0; i < n; i++) {
      let z = this.normal();
      while (truncate && Math.abs(z) > 2) z = this.normal();
      out[i] = z * std;
    }
    return out;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** A copy of the state (JSON-able). */
  state(): RngState {
    return { s: [this.s[0]!, this.s[1]!, this.s[2]!, this.s[3]!], spare: this.spare };
  }

  /** Restores a `state()`; throws `InvalidArgumentError` for anything else (a damaged checkpoint). */
  setState(state: RngState): void {
    const words = (state as { s?: unknown } | null)?.s;
    const spare = (state as { spare?: unknown } | null)?.spare;
    if (!Array.isArray(words) || words.length !== 4 || !words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffffffff) || words.every((w) => w === 0) || !(spare === null || Number.isFinite(spare))) {
      throw new InvalidArgumentError('rng state', state, 'four uint32 words, not all 0, and a spare number or null');
    }
    this.s.set(words);
    this.spare = spare as number | null;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
