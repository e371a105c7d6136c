/**
 * The vocabulary as a byte trie, built once per tokenizer (cached), laid out in
 * preorder so that a walk can skip a whole subtree (every token sharing a
 * prefix the grammar rejects) by jumping to its end index.
 *
 * Token bytes are the token's piece as generation streams it (control tokens
 * render as nothing), so the text returned is exactly what the grammar matched.
 * llama.cpp matches control tokens by their text (`<|im_start|>` inside a JSON
 * string); here they are never allowed. Tokens with an empty piece can never be
 * produced under a grammar; end-of-generation tokens are kept apart (allowed
 * only where the grammar can end).
 */

/** What the trie needs from a tokenizer. */
export interface GrammarVocabulary {
  readonly vocabSize: number;
  tokenToPieceBytes(id: number, opts?: { special?: boolean }): Uint8Array;
  isEog(id: number): boolean;
}

export class VocabTrie {
  /** Logit rows may be longer than the tokenizer's vocabulary (padding); those ids are never allowed. */
  readonly vocabSize: number;
  /** Node count; node 0 is the root (no byte). */
  readonly size: number;
  /** Edge byte into each node. */
  readonly byte: Uint8Array;
  /** Depth of each node (root 0). */
  readonly depth: Uint16Array;
  /** One past the last node of each node's subtree. */
  readonly end: Int32Array;
  /** Tokens ending at node i are ids[tokStart[i] .. tokStart[i + 1]). */
  readonly tokStart: Int32Array;
  readonly ids: Int32Array;
  readonly eogIds: Int32Array;
  /** Each token's bytes (empty for tokens never allowed). */
  readonly pieces: Uint8Array[];
  readonly maxDepth: number;
  /**
   * The bytes below each node (not its own): 4 words of ASCII bits per node, and
   * belowNonAscii[i] = 1 when some byte below is >= 0x80. A walk skips a subtree whole
   * when the grammar state loops on every one of these bytes.
   */
  readonly belowAscii: Uint32Array;
  readonly belowNonAscii: Uint8Array;

  constructor(vocab: GrammarVocabulary) {
    const n = vocab.vocabSize;
    this.vocabSize = n;
    const pieces: Uint8Array[] = new Array(n);
    const order: number[] = [];
    const eog: number[] = [];
    const empty = new Uint8Array(0);
    for (let id = 0; id < n; id++) {
      if (vocab.isEog(id)) {
        eog.push(id);
        pieces[id] = empty;
        continue;
      }
      const p = vocab.tokenToPieceBytes(id);
      // As llama.cpp: an empty piece, or one starting with a NUL byte, is never allowed.
      pieces[id] = p.length === 0 || p[0] === 0 ? empty : p;
      if (pieces[id]!.length > 0) order.push(id);
    }
    this.pieces = pieces;
    this.eogIds = Int32Array.from(eog);
    order.sort((a, b) => compareBytes(pieces[a]!, pieces[b]!) || a - b);

    // Sweep the sorted pieces: each shares a prefix with the previous one.
    let cap = 1024;
    let byte = new Uint8Array(cap);
    let depth = new Uint16Array(cap);
    let end = new Int32Array(cap);
    let tokStart = new Int32Array(cap + 1);
    let size = 1;
    const path: number[] = [0]; // node ids along the current piece, path[d] at depth d
    let parent = new Int32Array(cap);
    let prev: Uint8Array = empty;
    let maxDepth = 0;
    const ids = new Int32Array(order.length);
    let nIds = 0;
    for (const id of order) {
      const p = pieces[id]!;
      let common = 0;
      while (common < p.length && common < prev.length && p[common] === prev[common]) common++;
      while (path.length - 1 > common) end[path.pop()!] = size;
      for (let d = common; d < p.length; d++) {
        if (size >= cap) {
          cap *= 2;
          byte = grow(byte, cap);
          depth = grow(depth, cap);
          end = grow(end, cap);
          tokStart = grow(tokStart, cap + 1);
          parent = grow(parent, cap);
        }
        parent[size] = path[path.length - 1]!;
        tokStart[size] = nIds;
        byte[size] = p[d]!;
        depth[size] = d + 1;
        path.push(size++);
      }
      maxDepth = Math.max(maxDepth, p.length);
      ids[nIds++] = id;
      prev = p;
    }
    while (path.length > 0) end[path.pop()!] = size;
    tokStart[size] = nIds;
    tokStart[0] = 0;
    this.size = size;
    this.byte = byte.subarray(0, size);
    this.depth = depth.subarray(0, size);
    this.end = end.subarray(0, size);
    this.tokStart = tokStart.subarray(0, size + 1);
    this.ids = ids;
    this.maxDepth = maxDepth;
    const below = new Uint32Array(size * 4);
    const nonAscii = new Uint8Array(size);
    for (let i = size - 1; i >= 1; i--) {
      const p = parent[i]!;
      const b = byte[i]!;
      for (let w = 0; w < 4; w++) below[p * 4 + w]! |= below[i * 4 + w]!;
      if (b < 0x80) below[p * 4 + (b >> 5)]! |= 1 << (b & 31);
      nonAscii[p]! |= nonAscii[i]! | (b >= 0x80 ? 1 : 0);
    }
    this.belowAscii = below;
    this.belowNonAscii = nonAscii;
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

function grow<T extends Uint8Array | Uint16Array | Int32Array>(a: T, cap: number): T {
  const b = new (a.constructor as new (n: number) => T)(cap);
  b.set(a);
  return b;
}

const tries = new WeakMap<object, VocabTrie>();

/** The trie of a tokenizer, built on first use. */
export function vocabTrie(vocab: GrammarVocabulary): VocabTrie {
  let t = tries.get(vocab);
  if (t === undefined) tries.set(vocab, (t = new VocabTrie(vocab)));
  return t;
}
