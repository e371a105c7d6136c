// Seeded pseudo-random numbers for sampling.
//
// xoshiro128** (Blackman & Vigna): 128 bits of state, period 2^128 - 1, passes
// BigCrush; all arithmetic is 32-bit, which JavaScript does exactly with
// `Math.imul` and `>>> 0`. The state is filled from the seed with splitmix32, so
// nearby seeds (0, 1, 2, ...) give unrelated streams and no seed gives the
// all-zero state.
//
// The seed is any safe non-negative integer (both 32-bit halves are mixed in).
// `undefined` draws a random 32-bit seed from the platform's crypto source.

const TWO_POW_32 = 4294967296;

/** A random 32-bit seed from `crypto.getRandomValues` (Math.random if absent). */
export function randomSeed(): number {
  const c = (globalThis as { crypto?: { getRandomValues?: (a: Uint32Array) => Uint32Array } }).crypto;
  if (c && typeof c.getRandomValues === 'function') {
    const a = new Uint32Array(1);
    c.getRandomValues(a);
    return a[0]!;
  }
  return Math.floor(Math.random() * TWO_POW_32) >>> 0;
}

function splitmix32(state: number): [next: number, out: number] {
  const s = (state + 0x9e3779b9) >>> 0;
  let z = s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z = (z ^ (z >>> 16)) >>> 0;
  return [s, z];
}

export class Rng {
  /** The seed this generator was (last) seeded with. */
  seed = 0;
  private a = 0;
  private b = 0;
  private c = 0;
  private d = 0;

  constructor(seed?: number) {
    this.reseed(seed);
  }

  /** Restart the stream from `seed` (a fresh random seed when undefined). */
  reseed(seed?: number): void {
    const s = seed === undefined ? randomSeed() : seed;
    if (!Number.isSafeInteger(s) || s < 0) {
      throw new RangeError(`Rng: seed must be a safe non-negative integer, got ${String(seed)}`);
    }
    this.seed = s;
    const lo = s >>> 0;
    const hi = Math.floor(s / TWO_POW_32) >>> 0;
    let st = lo ^ Math.imul(hi, 0x27d4eb2d);
    let out: number;
    [st, out] = splitmix32(st);
    this.a = out;
    [st, out] = splitmix32(st ^ hi);
    this.b = out;
    [st, out] = splitmix32(st);
    this.c = out;
    [st, out] = splitmix32(st);
    this.d = out;
    if ((this.a | this.b | this.c | this.d) === 0) this.d = 1; // unreachable in practice
  }

  /** Next 32 random bits as an unsigned integer in [0, 2^32). */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.b, 5), 7), 9) >>> 0;
    const t = this.b << 9;
    this.c ^= this.a;
    this.d ^= this.b;
    this.b ^= this.c;
    this.a ^= this.d;
    this.c ^= t;
    this.d = rotl(this.d, 11);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  next(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
