/**
 * Open-addressing hash map from a pair of token ids (non-negative int32) to a non-negative
 * int32: BPE's merge ranks, SentencePiece's cache of merged tokens. Grows past half full.
 */
export class PairTable {
  private keys: Int32Array;
  private vals: Int32Array;
  private mask: number;
  private count = 0;

  constructor(n: number) {
    let cap = 16;
    while (cap < n * 2) cap *= 2;
    this.mask = cap - 1;
    this.keys = new Int32Array(cap * 2).fill(-1);
    this.vals = new Int32Array(cap);
  }

  /** Number of pairs held. */
  get size(): number {
    return this.count;
  }

  private slot(a: number, b: number): number {
    let h = (Math.imul(a, 0x9e3779b1) ^ Math.imul(b, 0x85ebca6b)) >>> 0;
    h ^= h >>> 15;
    let i = h & this.mask;
    const keys = this.keys;
    while (keys[2 * i] !== -1 && (keys[2 * i] !== a || keys[2 * i + 1] !== b)) i = (i + 1) & this.mask;
    return i;
  }

  addIfAbsent(a: number, b: number, v: number): void {
    const i = this.slot(a, b);
    if (this.keys[2 * i] !== -1) return;
    this.keys[2 * i] = a;
    this.keys[2 * i + 1] = b;
    this.vals[i] = v;
    if (++this.count * 2 > this.mask + 1) this.grow();
  }

  /** The value for (a, b), or -1. */
  get(a: number, b: number): number {
    const i = this.slot(a, b);
    return this.keys[2 * i] === -1 ? -1 : this.vals[i]!;
  }

  clear(): void {
    this.keys.fill(-1);
    this.count = 0;
  }

  private grow(): void {
    const keys = this.keys,
      vals = this.vals;
    const cap = (this.mask + 1) * 2;
    this.mask = cap - 1;
    this.keys = new Int32Array(cap * 2).fill(-1);
    this.vals = new Int32Array(cap);
    for (let i = 0; i < vals.length; i++) {
      if (keys[2 * i] === -1) continue;
      const j = this.slot(keys[2 * i]!, keys[2 * i + 1]!);
      this.keys[2 * j] = keys[2 * i]!;
      this.keys[2 * j + 1] = keys[2 * i + 1]!;
      this.vals[j] = vals[i]!;
    }
  }
}
