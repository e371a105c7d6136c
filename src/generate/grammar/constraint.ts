/**
 * A grammar applied to sampling, one per generation: which tokens may come next
 * (a mask over the logits, applied before the sampler chain, as llama.cpp puts
 * its grammar sampler first), and the matcher's position after each token.
 *
 * The position is a grammar state plus a partial UTF-8 sequence (a token may end
 * inside a character; the next one completes it). The allowed set of a state is
 * found by walking the vocabulary trie: a subtree is skipped as soon as its
 * prefix is rejected, so a step looks at the tokens that can match and their
 * first rejected byte only. Masks of states without a partial character are
 * cached on the grammar (per vocabulary), so states that recur (inside a
 * string, between list items) cost one lookup.
 */
import { GrammarError } from './errors.js';
import { DEAD, type Grammar } from './matcher.js';
import { vocabTrie, type GrammarVocabulary, type VocabTrie } from './vocab-trie.js';

/** The part of the sampler the constraint drives. */
export interface ConstrainedSampler {
  readonly options: { readonly temperature: number };
  sample(logits: Float32Array, history: ArrayLike<number>): number;
}

/** Subtrees with more nodes than this are tested for a whole skip. */
const SKIP_MIN = 8;

/** Cached masks per grammar and vocabulary, bounded by total bytes. */
const MASK_CACHE_BYTES = 8 << 20;
const maskCaches = new WeakMap<Grammar, WeakMap<VocabTrie, Map<number, Uint32Array>>>();

function maskCache(grammar: Grammar, trie: VocabTrie): Map<number, Uint32Array> {
  let byTrie = maskCaches.get(grammar);
  if (byTrie === undefined) maskCaches.set(grammar, (byTrie = new WeakMap()));
  let m = byTrie.get(trie);
  if (m === undefined) byTrie.set(trie, (m = new Map()));
  return m;
}

// Partial UTF-8 sequences: the payload so far with a marker bit above it, so that the
// completed value has the marker at bit 11, 16 or 21 (2-, 3- or 4-byte sequence), which
// gives the minimum code point (overlong forms are rejected, as are surrogates).
let stepState = 0;
let stepValue = 0;
let stepRemaining = 0;

/** One byte from (state, value, remaining) into step*; false when rejected. */
function utf8Step(g: Grammar, state: number, value: number, remaining: number, b: number): boolean {
  if (remaining === 0) {
    if (b < 0x80) {
      stepState = g.step(state, b);
      stepValue = 0;
      stepRemaining = 0;
      return stepState !== DEAD;
    }
    if (b >= 0xc2 && b <= 0xdf) {
      value = (b & 0x1f) | 0x20;
      remaining = 1;
    } else if (b >= 0xe0 && b <= 0xef) {
      value = (b & 0x0f) | 0x10;
      remaining = 2;
    } else if (b >= 0xf0 && b <= 0xf4) {
      value = (b & 0x07) | 0x08;
      remaining = 3;
    } else return false;
  } else {
    if ((b & 0xc0) !== 0x80) return false;
    value = (value << 6) | (b & 0x3f);
    remaining--;
  }
  const shift = 6 * remaining;
  const full = value * (1 << shift);
  const marker = 31 - Math.clz32(full);
  let lo = full - (1 << marker);
  let hi = lo + (1 << shift) - 1;
  lo = Math.max(lo, marker === 11 ? 0x80 : marker === 16 ? 0x800 : 0x10000);
  hi = Math.min(hi, 0x10ffff);
  if (lo > hi || (lo >= 0xd800 && hi <= 0xdfff)) return false;
  if (remaining === 0) {
    stepState = g.step(state, lo);
    stepValue = 0;
    stepRemaining = 0;
    return stepState !== DEAD;
  }
  if (!g.canMatchRange(state, lo, hi)) return false;
  stepState = state;
  stepValue = value;
  stepRemaining = remaining;
  return true;
}

export class GrammarConstraint {
  readonly grammar: Grammar;
  readonly trie: VocabTrie;
  /** Length of a logits row (may exceed the tokenizer's vocabulary). */
  readonly rowSize: number;
  private state: number;
  private partialValue = 0;
  private partialRemaining = 0;
  private readonly cache: Map<number, Uint32Array>;
  private readonly masked: Float32Array;
  // Walk scratch, by trie depth.
  private readonly wState: Int32Array;
  private readonly wValue: Int32Array;
  private readonly wRemain: Int32Array;
  /** Masks computed by a trie walk / served from the cache / skipped by the greedy check (for benchmarks). */
  readonly counters = { walks: 0, cacheHits: 0, greedyAccepted: 0 };

  constructor(grammar: Grammar, vocab: GrammarVocabulary, rowSize = vocab.vocabSize) {
    this.grammar = grammar;
    this.trie = vocabTrie(vocab);
    this.rowSize = rowSize;
    this.state = grammar.initialState;
    this.cache = maskCache(grammar, this.trie);
    this.masked = new Float32Array(rowSize);
    const d = this.trie.maxDepth + 1;
    this.wState = new Int32Array(d);
    this.wValue = new Int32Array(d);
    this.wRemain = new Int32Array(d);
  }

  /** The text so far can end here (EOS allowed). */
  get isAccepting(): boolean {
    return this.partialRemaining === 0 && this.grammar.isAccepting(this.state);
  }

  /** The grammar is complete: nothing but the end may follow. */
  get isComplete(): boolean {
    return this.partialRemaining === 0 && this.grammar.isComplete(this.state);
  }

  /**
   * Advances over `bytes` from (state, value, remaining); returns false when rejected.
   * Writes the result to the walk scratch at index `out`.
   */
  private advance(state: number, value: number, remaining: number, bytes: Uint8Array, out: number): boolean {
    const g = this.grammar;
    for (let i = 0; i < bytes.length; i++) {
      if (!utf8Step(g, state, value, remaining, bytes[i]!)) return false;
      state = stepState;
      value = stepValue;
      remaining = stepRemaining;
    }
    this.wState[out] = state;
    this.wValue[out] = value;
    this.wRemain[out] = remaining;
    return true;
  }

  /** Whether token `id` may come next. */
  allows(id: number): boolean {
    if (!(id >= 0 && id < this.trie.vocabSize)) return false;
    if (this.trie.pieces[id]!.length === 0) return this.isEog(id) && this.isAccepting;
    return this.advance(this.state, this.partialValue, this.partialRemaining, this.trie.pieces[id]!, 0);
  }

  private isEog(id: number): boolean {
    const e = this.trie.eogIds;
    for (let i = 0; i < e.length; i++) if (e[i] === id) return true;
    return false;
  }

  /** Moves past token `id` (GrammarError if the grammar does not allow it). */
  accept(id: number): void {
    if (!this.allows(id)) throw new GrammarError(`token ${id} is not allowed by the grammar here`);
    if (this.trie.pieces[id]!.length === 0) return; // end of generation
    this.state = this.wState[0]!;
    this.partialValue = this.wValue[0]!;
    this.partialRemaining = this.wRemain[0]!;
  }

  /** Bitset over the row of the tokens allowed next (shared; do not modify). */
  allowedMask(): Uint32Array {
    if (this.partialRemaining === 0) {
      const hit = this.cache.get(this.state);
      if (hit !== undefined) {
        this.counters.cacheHits++;
        return hit;
      }
    }
    this.counters.walks++;
    const mask = this.walk();
    if (this.partialRemaining === 0) {
      let bytes = 0;
      for (const m of this.cache.values()) bytes += m.byteLength;
      if (bytes + mask.byteLength > MASK_CACHE_BYTES) this.cache.clear();
      this.cache.set(this.state, mask);
    }
    return mask;
  }

  /** The trie walk: every token whose bytes the grammar accepts from the current position. */
  private walk(): Uint32Array {
    const t = this.trie;
    const g = this.grammar;
    const mask = new Uint32Array((this.rowSize + 31) >>> 5);
    const { byte, depth, end, tokStart, ids, belowAscii, belowNonAscii } = t;
    const ws = this.wState;
    const wv = this.wValue;
    const wr = this.wRemain;
    ws[0] = this.state;
    wv[0] = this.partialValue;
    wr[0] = this.partialRemaining;
    const n = t.size;
    let i = 1;
    while (i < n) {
      const d = depth[i]!;
      const s = ws[d - 1]!;
      const r = wr[d - 1]!;
      const b = byte[i]!;
      let ns = s;
      let nv = 0;
      let nr = 0;
      if (r === 0 && b < 0x80) {
        // The common case: an ASCII byte, a table lookup once computed.
        ns = g.asciiTable(s)[b]!;
        if (ns === -2) ns = g.step(s, b);
      } else if (utf8Step(g, s, wv[d - 1]!, r, b)) {
        ns = stepState;
        nv = stepValue;
        nr = stepRemaining;
      } else ns = DEAD;
      if (ns === DEAD) {
        i = end[i]!;
        continue;
      }
      ws[d] = ns;
      wv[d] = nv;
      wr[d] = nr;
      const e = end[i]!;
      if (ns === s && e - i > SKIP_MIN && nr === 0 && belowNonAscii[i] === 0) {
        // A state that looped on this byte and loops on every byte below (the inside of a string): all these tokens pass.
        const loops = g.selfLoops(ns);
        const j = i * 4;
        if ((belowAscii[j]! & ~loops[0]!) === 0 && (belowAscii[j + 1]! & ~loops[1]!) === 0 && (belowAscii[j + 2]! & ~loops[2]!) === 0 && (belowAscii[j + 3]! & ~loops[3]!) === 0) {
          for (let k = tokStart[i]!, ke = tokStart[e]!; k < ke; k++) {
            const id = ids[k]!;
            mask[id >>> 5]! |= 1 << (id & 31);
          }
          i = e;
          continue;
        }
      }
      for (let k = tokStart[i]!, ke = tokStart[i + 1]!; k < ke; k++) {
        const id = ids[k]!;
        mask[id >>> 5]! |= 1 << (id & 31);
      }
      i++;
    }
    if (this.isAccepting) for (const id of t.eogIds) mask[id >>> 5]! |= 1 << (id & 31);
    return mask;
  }

  /**
   * Samples the next token under the grammar. Greedy sampling first checks the
   * unconstrained choice (the argmax of the masked row is the same token when
   * the grammar allows it); otherwise the row is masked (disallowed logits set
   * to -Infinity) and the sampler chain runs on it.
   */
  sample(sampler: ConstrainedSampler, logits: Float32Array, history: ArrayLike<number>): number {
    if (sampler.options.temperature <= 0) {
      const id = sampler.sample(logits, history);
      if (this.allows(id)) {
        this.counters.greedyAccepted++;
        return id;
      }
    }
    return sampler.sample(this.mask(logits), history);
  }

  /** `logits` with every token the grammar does not allow set to -Infinity (a shared scratch row). */
  mask(logits: Float32Array): Float32Array {
    const mask = this.allowedMask();
    const out = this.masked;
    out.fill(-Infinity);
    let any = false;
    for (let w = 0; w < mask.length; w++) {
      let bits = mask[w]!;
      if (bits === 0) continue;
      any = true;
      const base = w << 5;
      while (bits !== 0) {
        const low = bits & -bits;
        const id = base + 31 - Math.clz32(low);
        out[id] = logits[id]!;
        bits ^= low;
      }
    }
    if (!any) throw new GrammarError('no token of the vocabulary can continue the grammar here');
    return out;
  }
}
