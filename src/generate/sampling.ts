// Token sampling with llama.cpp's default sampler chain.
//
// Order and semantics follow llama.cpp (common/sampling.cpp, src/llama-sampling.cpp),
// restricted to the samplers users set most:
//
//   penalties -> top-k -> top-p -> min-p -> temperature -> draw
//
// * penalties: over the last `repeatLastN` tokens of `history` (all of it for -1).
//   A token seen `c` times there gets: logit <= 0 ? logit * repeat : logit / repeat,
//   then logit -= c * frequency + presence.
// * top-k: keep the k largest logits (k <= 0 or k >= vocab: off).
// * top-p: softmax over what top-k kept (temperature 1: temperature comes last);
//   walking in descending order, keep the shortest prefix whose cumulative
//   probability reaches p (always at least one token). p >= 1: off.
// * min-p: keep tokens with p_i >= minP * p_max, i.e. logit_i >= max_logit + ln(minP).
// * temperature: divide the surviving logits by it, softmax, draw one with the RNG.
//   temperature <= 0 is greedy: the argmax of the penalized logits (llama.cpp
//   also applies penalties before its temperature-0 argmax). Truncation cannot
//   change the argmax, so greedy skips it and does not consume random numbers.
//
// Ties in logit are broken towards the lower token id everywhere (sorting, greedy).
// All three truncations keep a prefix of the logits sorted descending, so the
// survivors are the first min(k, len_p, len_minp) tokens of that order. The
// vocabulary is never sorted whole: top-k is a bounded-heap partial selection
// (a packed-key native sort when k is a large fraction of the candidates);
// min-p is a threshold filter; top-p on an unsorted set first tries the best
// 256 tokens and otherwise buckets the candidates by logit and sorts only the
// bucket where the cumulative mass crosses p. Scratch buffers are allocated
// once per Sampler; the caller's logits are never written.

import { Rng } from './rng.js';

export interface SamplingOptions {
  /** Default 0.8; <= 0 means greedy (argmax, ties -> lowest id). */
  temperature?: number;
  /** Default 40; <= 0 disables. */
  topK?: number;
  /** Default 0.95; >= 1 disables. Must be in [0, 1]. */
  topP?: number;
  /** Default 0.05; <= 0 disables. Must be in [0, 1]. */
  minP?: number;
  /** Default 1.0 (disabled), as current llama.cpp. Must be > 0. */
  repeatPenalty?: number;
  /** Default 64; 0 disables penalties, -1 = the whole history. */
  repeatLastN?: number;
  /** Default 0. Subtracted once per occurrence in the penalty window. */
  frequencyPenalty?: number;
  /** Default 0. Subtracted once if the token occurs in the penalty window. */
  presencePenalty?: number;
  /** Default (or -1, as llama.cpp's LLAMA_DEFAULT_SEED): random from crypto. Same seed -> same sequence. */
  seed?: number;
}

export const DEFAULT_SAMPLING_OPTIONS: Readonly<Required<Omit<SamplingOptions, 'seed'>>> = Object.freeze({
  temperature: 0.8,
  topK: 40,
  topP: 0.95,
  minP: 0.05,
  repeatPenalty: 1.0,
  repeatLastN: 64,
  frequencyPenalty: 0,
  presencePenalty: 0,
});

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' || v == null) return String(v);
  return Array.isArray(v) ? 'an Array' : typeof v;
}

function checkNumber(name: string, v: unknown, rule: string, ok: (x: number) => boolean): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || Number.isNaN(v) || !ok(v)) {
    throw new RangeError(`sampling option ${name} must be ${rule}, got ${describe(v)}`);
  }
}

/**
 * Throws a RangeError naming the option when `opts` has an invalid value
 * (wrong type, NaN, infinite, out of range). Undefined values mean "use the
 * default"; keys other than the SamplingOptions ones are ignored.
 */
export function validateSamplingOptions(opts: unknown): asserts opts is SamplingOptions | undefined {
  if (opts === undefined || opts === null) return;
  if (typeof opts !== 'object' || Array.isArray(opts)) {
    throw new RangeError(`sampling options must be an object, got ${describe(opts)}`);
  }
  // Other keys are allowed: callers may pass a larger options object (generate options).
  const o = opts as Record<string, unknown>;
  checkNumber('temperature', o.temperature, 'a finite number (<= 0 for greedy)', Number.isFinite);
  checkNumber('topK', o.topK, 'an integer (<= 0 disables)', Number.isSafeInteger);
  checkNumber('topP', o.topP, 'a number in [0, 1] (1 disables)', (x) => x >= 0 && x <= 1);
  checkNumber('minP', o.minP, 'a number in [0, 1] (0 disables)', (x) => x >= 0 && x <= 1);
  checkNumber('repeatPenalty', o.repeatPenalty, 'a finite number > 0 (1 disables)', (x) => Number.isFinite(x) && x > 0);
  checkNumber('repeatLastN', o.repeatLastN, 'an integer >= -1 (0 disables, -1 = whole history)', (x) => Number.isSafeInteger(x) && x >= -1);
  checkNumber('frequencyPenalty', o.frequencyPenalty, 'a finite number', Number.isFinite);
  checkNumber('presencePenalty', o.presencePenalty, 'a finite number', Number.isFinite);
  checkNumber('seed', o.seed, 'a safe integer >= 0 (or -1 for random)', (x) => Number.isSafeInteger(x) && x >= -1);
}

/** Index of the largest logit; ties go to the lowest index; NaN entries are ignored. */
export function argmax(logits: ArrayLike<number>): number {
  let best = -1;
  let bestV = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i]!;
    if (v > bestV || (best < 0 && v === v)) {
      best = i;
      bestV = v;
    }
  }
  if (best < 0) {
    throw new RangeError(logits.length === 0 ? 'argmax of empty logits' : 'all logits are NaN');
  }
  return best;
}

export class Sampler {
  readonly vocabSize: number;
  readonly options: Readonly<Required<Omit<SamplingOptions, 'seed'>>> & { readonly seed: number | undefined };

  private readonly rng: Rng;
  private readonly fixedSeed: number | undefined;

  // Scratch, allocated once. Sizes are the vocabulary size.
  private readonly penalized: Float32Array; // logits after penalties
  private readonly counts: Int32Array; // occurrences in the penalty window; all zero between calls
  private readonly all: Int32Array; // 0..n-1, never modified
  private readonly cand: Int32Array; // candidate ids (unsorted)
  private readonly heap: Int32Array; // min-heap for partial selection
  private readonly sorted: Int32Array; // selection output, best first
  private readonly weights: Float64Array; // unnormalized probabilities of the survivors
  private readonly tmp: Int32Array; // top-p bucketing
  private readonly expL: Float64Array; // exp(logit - max) by token id, for top-p
  private readonly bucketMass = new Float64Array(TOP_P_BUCKETS);

  // Result of truncate(): candidates are outList[0..count), their logits in outSrc.
  private outList: Int32Array;
  private outSrc: Float32Array;
  private outMax = 0;

  constructor(opts: SamplingOptions, vocabSize: number) {
    validateSamplingOptions(opts);
    if (!Number.isSafeInteger(vocabSize) || vocabSize <= 0) {
      throw new RangeError(`Sampler: vocabSize must be a positive integer, got ${describe(vocabSize)}`);
    }
    const o = opts ?? {};
    this.vocabSize = vocabSize;
    this.fixedSeed = o.seed === undefined || o.seed === -1 ? undefined : o.seed;
    this.options = Object.freeze({
      temperature: o.temperature ?? DEFAULT_SAMPLING_OPTIONS.temperature,
      topK: o.topK ?? DEFAULT_SAMPLING_OPTIONS.topK,
      topP: o.topP ?? DEFAULT_SAMPLING_OPTIONS.topP,
      minP: o.minP ?? DEFAULT_SAMPLING_OPTIONS.minP,
      repeatPenalty: o.repeatPenalty ?? DEFAULT_SAMPLING_OPTIONS.repeatPenalty,
      repeatLastN: o.repeatLastN ?? DEFAULT_SAMPLING_OPTIONS.repeatLastN,
      frequencyPenalty: o.frequencyPenalty ?? DEFAULT_SAMPLING_OPTIONS.frequencyPenalty,
      presencePenalty: o.presencePenalty ?? DEFAULT_SAMPLING_OPTIONS.presencePenalty,
      seed: this.fixedSeed,
    });
    this.rng = new Rng(this.fixedSeed);

    const n = vocabSize;
    this.penalized = new Float32Array(n);
    this.counts = new Int32Array(n);
    this.all = new Int32Array(n);
    for (let i = 0; i < n; i++) this.all[i] = i;
    this.cand = new Int32Array(n);
    this.heap = new Int32Array(n);
    this.sorted = new Int32Array(n);
    this.weights = new Float64Array(n);
    this.tmp = new Int32Array(n);
    this.expL = new Float64Array(n);
    this.outList = this.all;
    this.outSrc = this.penalized;
  }

  /** The seed in use (the random one drawn when none was given). */
  get seed(): number {
    return this.rng.seed;
  }

  /** Restart the random stream: from the same seed if one was given, else from a new random seed (as llama.cpp). */
  reset(): void {
    this.rng.reseed(this.fixedSeed);
  }

  /**
   * Pick the next token. `logits` (length vocabSize) is not modified. `history`
   * holds the tokens so far (prompt and/or generated, oldest first); only its
   * last `repeatLastN` entries matter, and only when a penalty is set. Ids
   * outside the vocabulary in `history` are ignored.
   */
  sample(logits: Float32Array, history: ArrayLike<number> = []): number {
    const count = this.truncate(logits, history);
    const list = this.outList;
    if (count === 1) return list[0]!;
    const sum = this.fillWeights(count);
    const w = this.weights;
    const r = this.rng.next() * sum;
    let acc = 0;
    let lastPositive = 0;
    for (let i = 0; i < count; i++) {
      const e = w[i]!;
      if (e > 0) {
        acc += e;
        lastPositive = i;
        if (acc > r) return list[i]!;
      }
    }
    return list[lastPositive]!; // r rounded up to sum
  }

  /**
   * The distribution `sample` would draw from for these inputs: the surviving
   * token ids and their probabilities (after temperature, summing to 1), best
   * first when any truncation sorted them. Greedy gives one id with
   * probability 1. Does not consume random numbers. Allocates its result; meant
   * for inspection (n-probs style output) and tests, not the hot loop.
   */
  candidates(logits: Float32Array, history: ArrayLike<number> = []): { ids: number[]; probs: number[] } {
    const count = this.truncate(logits, history);
    const ids = Array.from(this.outList.subarray(0, count));
    if (count === 1) return { ids, probs: [1] };
    const sum = this.fillWeights(count);
    const probs = Array.from(this.weights.subarray(0, count), (e) => e / sum);
    return { ids, probs };
  }

  /** Unnormalized tempered probabilities of outList[0..count) into weights; returns their sum. */
  private fillWeights(count: number): number {
    const invT = 1 / this.options.temperature;
    const src = this.outSrc;
    const list = this.outList;
    const maxL = this.outMax;
    const w = this.weights;
    let sum = 0;
    for (let i = 0; i < count; i++) {
      const v = src[list[i]!]!;
      const e = v === v ? Math.exp((v - maxL) * invT) : 0;
      w[i] = e;
      sum += e;
    }
    return sum;
  }

  /** Runs penalties, top-k, top-p and min-p; returns the number of survivors (>= 1). */
  private truncate(logits: Float32Array, history: ArrayLike<number>): number {
    const n = this.vocabSize;
    if (!(logits instanceof Float32Array) || logits.length !== n) {
      throw new RangeError(`Sampler: expected a Float32Array of ${n} logits, got ${logits instanceof Float32Array ? `length ${logits.length}` : describe(logits)}`);
    }
    if (history == null || typeof history.length !== 'number') {
      throw new RangeError('Sampler: history must be an array-like of token ids');
    }
    const o = this.options;
    const src = this.applyPenalties(logits, history);
    this.outSrc = src;

    // Max logit (the token every truncation keeps; the whole answer when greedy).
    const top = argmax(src);
    const maxL = src[top]!;
    this.outMax = maxL;
    if (o.temperature <= 0 || maxL === Infinity || maxL === -Infinity) {
      this.cand[0] = top;
      this.outList = this.cand;
      return 1;
    }

    // list[0..count) are the candidates; isSorted: list is in descending order.
    let list = this.all;
    let count = n;
    let isSorted = false;

    // top-k
    const k = o.topK;
    if (k > 0 && k < n) {
      list = this.sorted;
      count = this.selectTop(src, this.all, n, k); // < k only if some logits are NaN
      isSorted = true;
    }

    // Normalizer of top-p's softmax: over what top-k kept (llama.cpp runs top-p
    // on the candidates left by top-k, at temperature 1).
    const topP = o.topP;
    let z = 0;
    if (topP < 1) {
      const ex = this.expL;
      for (let i = 0; i < count; i++) {
        const id = list[i]!;
        const v = src[id]!;
        const e = v === v ? Math.exp(v - maxL) : 0;
        ex[id] = e; // cached for the top-p walk below
        z += e;
      }
    }

    // min-p (applied before top-p here; both keep a prefix of the sorted order,
    // so the survivors are the same as llama.cpp's top-p-then-min-p).
    const minP = o.minP;
    if (minP > 0) {
      const minLogit = maxL + Math.log(minP);
      if (isSorted) {
        let m = 1; // the first token always stays
        while (m < count && src[list[m]!]! >= minLogit) m++;
        count = m;
      } else {
        const cand = this.cand;
        let m = 0;
        for (let i = 0; i < count; i++) {
          const id = list[i]!;
          if (src[id]! >= minLogit) cand[m++] = id;
        }
        list = cand;
        count = m; // >= 1: the max passes
      }
    } else if (!isSorted) {
      // Drop NaN logits from the unsorted candidate set so they cannot be drawn.
      const cand = this.cand;
      let m = 0;
      for (let i = 0; i < count; i++) {
        const id = list[i]!;
        if (src[id] === src[id]) cand[m++] = id;
      }
      list = cand;
      count = m;
    }

    // top-p
    if (topP < 1 && count > 1) {
      const target = topP * z;
      if (isSorted) {
        count = this.prefixReaching(list, count, target);
      } else {
        // Usually the mass is reached within the best few hundred tokens.
        const m = this.selectTop(src, list, count, Math.min(count, 256)); // list has no NaN: returns m
        const len = this.prefixReaching(this.sorted, m, target);
        if (len < m || m === count) {
          list = this.sorted;
          count = len;
        } else {
          count = this.topPByBuckets(src, list, count, maxL, target);
          list = this.sorted;
        }
      }
    }

    this.outList = list;
    return count;
  }

  /**
   * Top-p over an unsorted candidate list when the kept set is large (flat
   * distributions), without sorting it all: bucket the candidates by logit
   * (TOP_P_BUCKETS buckets over [maxL - TOP_P_RANGE, maxL], lower logits in the
   * lowest), walk the buckets from the top until the mass reaches `target`,
   * and sort only the bucket where that happens. Writes the survivors to
   * this.sorted (the boundary bucket's kept tokens best first, then the
   * tokens of the higher buckets in id order) and returns their number.
   */
  private topPByBuckets(src: Float32Array, list: Int32Array, count: number, maxL: number, target: number): number {
    const mass = this.bucketMass;
    const ex = this.expL;
    const lo = maxL - TOP_P_RANGE;
    const scale = TOP_P_BUCKETS / TOP_P_RANGE;
    const top = TOP_P_BUCKETS - 1;
    mass.fill(0);
    for (let i = 0; i < count; i++) {
      const id = list[i]!;
      let b = Math.floor((src[id]! - lo) * scale);
      b = b < 0 ? 0 : Math.min(b, top);
      mass[b] += ex[id]!;
    }
    // Boundary bucket: the one where the running mass reaches the target.
    let boundary = 0;
    let above = 0; // mass of the buckets above the boundary
    for (let b = top; b >= 0; b--) {
      if (above + mass[b]! >= target) {
        boundary = b;
        break;
      }
      above += mass[b]!;
    }
    // One pass: boundary members to the front of tmp, higher buckets to its back.
    const tmp = this.tmp;
    let inBoundary = 0;
    let back = tmp.length;
    for (let i = 0; i < count; i++) {
      const id = list[i]!;
      let b = Math.floor((src[id]! - lo) * scale);
      b = b < 0 ? 0 : Math.min(b, top);
      if (b === boundary) tmp[inBoundary++] = id;
      else if (b > boundary) tmp[--back] = id;
    }
    // Sort the boundary bucket, keep its prefix that reaches the target, append the rest.
    const sortedCount = this.selectTop(src, tmp, inBoundary, inBoundary);
    let kept = this.prefixReaching(this.sorted, sortedCount, target - above);
    const out = this.sorted;
    for (let j = tmp.length - 1; j >= back; j--) out[kept++] = tmp[j]!;
    return kept;
  }

  /**
   * Length of the shortest prefix of ids[0..count) (sorted descending) whose
   * mass (expL, filled by truncate) reaches `target`; count if it never does; >= 1.
   */
  private prefixReaching(ids: Int32Array, count: number, target: number): number {
    const ex = this.expL;
    let acc = 0;
    for (let i = 0; i < count; i++) {
      acc += ex[ids[i]!]!;
      if (acc >= target) return i + 1;
    }
    return count;
  }

  /** Returns `logits` untouched when no penalty applies, else a penalized copy in scratch. */
  private applyPenalties(logits: Float32Array, history: ArrayLike<number>): Float32Array {
    const o = this.options;
    const lastN = o.repeatLastN;
    if (lastN === 0 || history.length === 0 || (o.repeatPenalty === 1 && o.frequencyPenalty === 0 && o.presencePenalty === 0)) {
      return logits;
    }
    const n = this.vocabSize;
    const out = this.penalized;
    out.set(logits);
    const counts = this.counts;
    const end = history.length;
    const start = lastN < 0 ? 0 : Math.max(0, end - lastN);
    for (let i = start; i < end; i++) {
      const t = history[i]!;
      if (Number.isInteger(t) && t >= 0 && t < n) counts[t]!++;
    }
    const rep = o.repeatPenalty;
    const freq = o.frequencyPenalty;
    const pres = o.presencePenalty;
    for (let i = start; i < end; i++) {
      const t = history[i]!;
      if (!(Number.isInteger(t) && t >= 0 && t < n)) continue;
      const c = counts[t]!;
      if (c === 0) continue; // already done
      counts[t] = 0; // leaves `counts` all zero for the next call
      let v = out[t]!;
      v = v <= 0 ? v * rep : v / rep;
      out[t] = v - (c * freq + pres);
    }
    return out;
  }

  /**
   * Writes the best `m` of ids[0..count) (by logit descending, then id
   * ascending; NaN logits excluded) to this.sorted[0..m), best first.
   * O(count log m) with a bounded min-heap whose root is the worst kept.
   * Returns how many were written: m, or fewer if fewer non-NaN candidates exist.
   */
  private selectTop(src: Float32Array, ids: Int32Array, count: number, m: number): number {
    if (m * 8 > count && count > 4096 && this.vocabSize <= KEY_ID_RANGE) {
      return this.sortByKey(src, ids, count, m);
    }
    const heap = this.heap;
    let size = 0;
    // "a is worse than b"
    const worse = (a: number, b: number): boolean => {
      const va = src[a]!;
      const vb = src[b]!;
      return va < vb || (va === vb && a > b);
    };
    const siftDown = (start: number): void => {
      let i = start;
      const x = heap[i]!;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= size) break;
        const r = l + 1;
        const c = r < size && worse(heap[r]!, heap[l]!) ? r : l;
        if (!worse(heap[c]!, x)) break;
        heap[i] = heap[c]!;
        i = c;
      }
      heap[i] = x;
    };
    for (let j = 0; j < count; j++) {
      const id = ids[j]!;
      const v = src[id]!;
      if (v !== v) continue;
      if (size < m) {
        // sift up
        let i = size++;
        while (i > 0) {
          const p = (i - 1) >> 1;
          if (!worse(id, heap[p]!)) break;
          heap[i] = heap[p]!;
          i = p;
        }
        heap[i] = id;
      } else {
        const root = heap[0]!;
        const vr = src[root]!;
        // quick reject without a call: most candidates are below the root
        if (v < vr || (v === vr && id > root)) continue;
        heap[0] = id;
        siftDown(0);
      }
    }
    // Pop worst-first into the tail of `sorted`.
    const out = this.sorted;
    const selected = size;
    for (let pos = size - 1; pos >= 0; pos--) {
      out[pos] = heap[0]!;
      size--;
      if (size > 0) {
        heap[0] = heap[size]!;
        siftDown(0);
      }
    }
    return selected;
  }

  /**
   * selectTop for large m: one native numeric sort of packed keys. A float32's
   * bits mapped to an order-preserving uint32 fill the top 32 bits of a 53-bit
   * integer and (KEY_ID_RANGE - 1 - id) the low 21, so ascending keys are
   * ascending (logit, -id); read from the end for best first, ties to the lower id.
   * Uses `weights` as scratch (it is only filled after truncation).
   */
  private sortByKey(src: Float32Array, ids: Int32Array, count: number, m: number): number {
    const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
    const keys = this.weights;
    let c = 0;
    for (let j = 0; j < count; j++) {
      const id = ids[j]!;
      const v = src[id]!;
      if (v !== v) continue;
      const u = v === 0 ? 0 : bits[id]!; // -0 sorts as +0
      const ordered = u >= 0x80000000 ? ~u >>> 0 : u + 0x80000000;
      keys[c++] = ordered * KEY_ID_RANGE + (KEY_ID_RANGE - 1 - id);
    }
    const sortedKeys = keys.subarray(0, c).sort();
    const out = this.sorted;
    const take = Math.min(m, c);
    for (let i = 0; i < take; i++) {
      out[i] = KEY_ID_RANGE - 1 - (sortedKeys[c - 1 - i]! % KEY_ID_RANGE);
    }
    return take;
  }
}

/** Top-p bucketing: logits within TOP_P_RANGE of the max, in TOP_P_BUCKETS equal buckets. */
const TOP_P_RANGE = 32;
const TOP_P_BUCKETS = 1024;

/** Token ids packed into the low 21 bits of a sort key (vocabularies up to 2M). */
const KEY_ID_RANGE = 2 ** 21;
