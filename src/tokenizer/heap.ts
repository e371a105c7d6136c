/**
 * A binary max-heap of candidate merges (left symbol, right symbol, score, size), stored as
 * parallel typed arrays. Order: higher score first; on equal scores the smaller left index
 * first (llama.cpp's `llm_bigram_spm::comparator`).
 */
export class BigramQueue {
  private score: Float64Array;
  private left: Int32Array;
  private right: Int32Array;
  private size: Int32Array;
  private n = 0;

  constructor(capacity = 64) {
    const c = Math.max(4, capacity);
    this.score = new Float64Array(c);
    this.left = new Int32Array(c);
    this.right = new Int32Array(c);
    this.size = new Int32Array(c);
  }

  get length(): number {
    return this.n;
  }

  /** True when entry i should come out before entry j. */
  private before(i: number, j: number): boolean {
    const si = this.score[i]!,
      sj = this.score[j]!;
    return si > sj || (si === sj && this.left[i]! < this.left[j]!);
  }

  private swap(i: number, j: number): void {
    const s = this.score[i]!;
    this.score[i] = this.score[j]!;
    this.score[j] = s;
    const l = this.left[i]!;
    this.left[i] = this.left[j]!;
    this.left[j] = l;
    const r = this.right[i]!;
    this.right[i] = this.right[j]!;
    this.right[j] = r;
    const z = this.size[i]!;
    this.size[i] = this.size[j]!;
    this.size[j] = z;
  }

  private grow(): void {
    const c = this.score.length * 2;
    const s = new Float64Array(c);
    s.set(this.score);
    this.score = s;
    const l = new Int32Array(c);
    l.set(this.left);
    this.left = l;
    const r = new Int32Array(c);
    r.set(this.right);
    this.right = r;
    const z = new Int32Array(c);
    z.set(this.size);
    this.size = z;
  }

  push(left: number, right: number, score: number, size: number): void {
    if (this.n === this.score.length) this.grow();
    let i = this.n++;
    this.score[i] = score;
    this.left[i] = left;
    this.right[i] = right;
    this.size[i] = size;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  /** Removes the top entry; its fields are left in `top`. Returns false when empty. */
  pop(top: { left: number; right: number; score: number; size: number }): boolean {
    if (this.n === 0) return false;
    top.left = this.left[0]!;
    top.right = this.right[0]!;
    top.score = this.score[0]!;
    top.size = this.size[0]!;
    const last = --this.n;
    if (last > 0) {
      this.score[0] = this.score[last]!;
      this.left[0] = this.left[last]!;
      this.right[0] = this.right[last]!;
      this.size[0] = this.size[last]!;
      let i = 0;
      for (;;) {
        const a = 2 * i + 1,
          b = a + 1;
        let m = i;
        if (a < last && this.before(a, m)) m = a;
        if (b < last && this.before(b, m)) m = b;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return true;
  }

  clear(): void {
    this.n = 0;
  }
}

/**
 * The merge loop shared by SentencePiece and BPE: pops candidates best first, skips those made
 * stale by an earlier merge of either symbol (a side emptied, or grown so the pair no longer has
 * the size it was queued with), merges the right symbol into the left one in the linked list
 * `prev`/`next` (telling `onMerge` the merged pair's score and right symbol) and queues the merged symbol's new
 * pairs through `tryAdd`.
 */
export function runMerges(
  queue: BigramQueue,
  len: Int32Array,
  prev: Int32Array,
  next: Int32Array,
  tryAdd: (left: number, right: number) => void,
  onMerge?: (left: number, score: number, right: number) => void,
): void {
  const top = { left: 0, right: 0, score: 0, size: 0 };
  while (queue.pop(top)) {
    const l = top.left,
      r = top.right;
    if (len[l] === 0 || len[r] === 0 || len[l]! + len[r]! !== top.size) continue;
    len[l] = len[l]! + len[r]!;
    len[r] = 0;
    next[l] = next[r]!;
    if (next[r]! >= 0) prev[next[r]!] = l;
    onMerge?.(l, top.score, r);
    tryAdd(prev[l]!, l);
    tryAdd(l, next[l]!);
  }
}

/**
 * The symbols SentencePiece and BPE merge, as a linked list over a string: each symbol's start
 * and length in UTF-16 units, its neighbours (-1 at the ends) and its token id (-1 when its text
 * is not a token). The arrays are reused between calls (encoding is not re-entrant).
 */
export class SymbolList {
  start = new Int32Array(64);
  len = new Int32Array(64);
  prev = new Int32Array(64);
  next = new Int32Array(64);
  id = new Int32Array(64);

  /**
   * One symbol per code point of s[from, to) (to > from); `idOf(c, at, w)` gives the token id of
   * the code point at `at`, `w` units long, whose first unit is `c`. Returns the symbol count.
   */
  split(s: string, from: number, to: number, idOf: (c: number, at: number, w: number) => number): number {
    if (this.start.length < to - from) {
      const c = Math.max(to - from, this.start.length * 2);
      this.start = new Int32Array(c);
      this.len = new Int32Array(c);
      this.prev = new Int32Array(c);
      this.next = new Int32Array(c);
      this.id = new Int32Array(c);
    }
    const { start, len, prev, next, id } = this;
    let count = 0;
    for (let i = from; i < to; count++) {
      const c = s.charCodeAt(i);
      const w = c >= 0xd800 && c <= 0xdbff && i + 1 < to ? 2 : 1;
      start[count] = i;
      len[count] = w;
      prev[count] = count - 1;
      next[count] = count + 1;
      id[count] = idOf(c, i, w);
      i += w;
    }
    next[count - 1] = -1;
    return count;
  }
}
