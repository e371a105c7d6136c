/**
 * SentencePiece ("llama" GGUF tokenizer model) tokenizer, reproducing llama.cpp's
 * `llm_tokenizer_spm` and the SPM paths of `llama_vocab::impl::tokenize`,
 * `token_to_piece` and `detokenize`.
 *
 * Encoding: split the text around special tokens; to each text fragment that starts the
 * input or follows a special token, prepend a space (when the vocabulary adds a space
 * prefix); replace every space with "▁"; start from one symbol per character and
 * repeatedly merge the adjacent pair whose concatenation is the highest-scoring token
 * (leftmost on ties); emit the resulting pieces, falling back to `<0xXX>` byte tokens for
 * characters that are not tokens.
 */
import { TokenizerError } from './errors.js';
import { BigramQueue, runMerges, SymbolList } from './heap.js';
import { PairTable } from './pairs.js';
import { tokenPiece, unescapeSpaces, VocabTokenizer } from './base.js';
import { segmentFragments, type DecodeOptions, type EncodeOptions, type EncodeSegment, type PieceOptions } from './tokenizer.js';
import { utf8Encode } from './utf8.js';
import { byteTokenText, ESCAPED_SPACE, NO_TOKEN, vocabFromMetadata, type SpmVocab } from './vocab.js';

export type { DecodeOptions, EncodeOptions, PieceOptions };

/** Most (left, right) pairs the merge cache holds before it is cleared (12 bytes a slot, 2 slots a pair). */
const MERGE_CACHE_LIMIT = 1 << 19;

export class SpmTokenizer extends VocabTokenizer {
  readonly kind = 'spm' as const;
  readonly sepId: number;
  readonly maskId: number;
  /** `<0x0A>` (or "\n"), -1 when the vocabulary has neither. */
  readonly newlineId: number;
  readonly addSpacePrefix: boolean;

  private readonly scores: Float32Array;
  /** Longest token text in UTF-16 units: longer candidate merges cannot be tokens. */
  private readonly maxTokenLength: number;
  private readonly byteToId = new Int32Array(256);
  /** Every pair of adjacent code points inside some token (value 1). */
  private readonly pairs = new PairTable(1024);
  // scratch space for encodeSegment (encode is not re-entrant)
  private readonly symbols = new SymbolList();
  private readonly queue = new BigramQueue(64);
  /**
   * Merged tokens by the ids of the two symbols: (left id, right id) → merged id + 1, or 0 when
   * the two texts together are not a token. Filled as text is encoded (a string lookup per new
   * pair), cleared when it reaches MERGE_CACHE_LIMIT pairs.
   */
  private readonly mergeCache = new PairTable(1024);
  /** Token id of each single UTF-16 unit (BMP character): -1 none, -2 not looked up yet. */
  private readonly unitId = new Int32Array(65536).fill(-2);

  constructor(vocab: SpmVocab) {
    super(vocab);
    const n = this.vocabSize;
    if (vocab.scores.length < n) throw new TokenizerError('BAD_VALUE', `${vocab.scores.length} scores for ${n} tokens`);
    if (vocab.tokenTypes.length < n) throw new TokenizerError('BAD_VALUE', `${vocab.tokenTypes.length} token types for ${n} tokens`);
    let maxLen = 0;
    for (const t of this.tokens) {
      let p = -1;
      for (let j = 0; j < t.length; ) {
        const cp = t.codePointAt(j)!;
        if (p >= 0) this.pairs.addIfAbsent(p, cp, 1);
        p = cp;
        j += cp > 0xffff ? 2 : 1;
      }
      if (t.length > maxLen) maxLen = t.length;
    }
    this.maxTokenLength = maxLen;
    this.scores = Float32Array.from({ length: n }, (_, i) => vocab.scores[i]!);
    const ok = (id: number | undefined): number => (id !== undefined && Number.isInteger(id) && id >= 0 && id < n ? id : NO_TOKEN);
    this.sepId = ok(vocab.sepId);
    this.maskId = ok(vocab.maskId);
    this.addSpacePrefix = vocab.addSpacePrefix;

    for (let b = 0; b < 256; b++) {
      this.byteToId[b] = this.toId.get(byteTokenText(b)) ?? (b < 0x80 ? this.toId.get(String.fromCharCode(b)) : undefined) ?? NO_TOKEN;
    }
    this.newlineId = this.byteToId[0x0a]!;
    this.cachePieces();
  }

  /** Builds a tokenizer from GGUF metadata (`get(key)` returns the value or `{ type, value }`). */
  static fromMetadata(get: (key: string) => unknown): SpmTokenizer {
    return new SpmTokenizer(vocabFromMetadata(get));
  }

  // ---- vocabulary queries ----

  tokenScore(id: number): number {
    this.check(id);
    return this.scores[id]!;
  }

  // ---- encoding ----

  encodeSegments(segments: readonly EncodeSegment[], opts: { addSpecial?: boolean } = {}): number[] {
    const addSpecial = opts.addSpecial ?? true;
    const out: number[] = [];
    const frags = segmentFragments(segments, this.specials);

    if (addSpecial && this.addBos) out.push(this.bosId);
    let prevSpecial = true; // the first fragment gets the space prefix
    for (const f of frags) {
      if (typeof f === 'number') {
        out.push(f);
        prevSpecial = true;
        continue;
      }
      let s = f;
      if (this.addSpacePrefix && prevSpecial) s = ' ' + s;
      this.encodeText(s.replaceAll(' ', ESCAPED_SPACE), out);
      prevSpecial = false;
    }
    if (addSpecial && this.addEos) out.push(this.eosId);
    return out;
  }

  /**
   * The SPM merge over one escaped text fragment (llama.cpp's `llm_tokenizer_spm_session::tokenize`).
   *
   * The fragment is first cut between adjacent characters that appear next to each other in
   * no token: no merged symbol can ever span such a cut, so no candidate merge crosses it and
   * the merges on either side never interact (ties are broken by position, which keeps its
   * order within a segment). Running the merge per segment therefore gives exactly the
   * result of one run over the whole fragment, with small heaps instead of one per text.
   */
  private encodeText(s: string, out: number[]): void {
    const pairs = this.pairs;
    let segStart = 0;
    let prevCp = -1;
    for (let i = 0; i < s.length; ) {
      const cp = s.codePointAt(i)!;
      if (prevCp >= 0 && pairs.get(prevCp, cp) < 0) {
        this.encodeSegment(s, segStart, i, out);
        segStart = i;
      }
      prevCp = cp;
      i += cp > 0xffff ? 2 : 1;
    }
    if (segStart < s.length) this.encodeSegment(s, segStart, s.length, out);
  }

  /** The bigram merge over s[from, to), one symbol per code point to begin with. */
  private encodeSegment(s: string, from: number, to: number, out: number[]): void {
    const toId = this.toId;
    const unitId = this.unitId;
    const count = this.symbols.split(s, from, to, (c, at, w) => {
      if (w === 2) return toId.get(s.substr(at, 2)) ?? -1;
      let id = unitId[c]!;
      if (id === -2) unitId[c] = id = toId.get(s[at]!) ?? -1;
      return id;
    });
    // The token id of each symbol's text, -1 when it is not a token (a lone character).
    const { start, len, prev, next, id: sym } = this.symbols;

    if (count > 1) {
      const scores = this.scores;
      const maxLen = this.maxTokenLength;
      const queue = this.queue;
      const cache = this.mergeCache;
      queue.clear();
      // The token s[at, at + size) (left symbol a, right symbol b), or -1.
      const merged = (a: number, b: number, at: number, size: number): number => {
        if (a < 0 || b < 0) return toId.get(s.substr(at, size)) ?? -1;
        const v = cache.get(a, b);
        if (v >= 0) return v - 1;
        const id = toId.get(s.substr(at, size)) ?? -1;
        if (cache.size >= MERGE_CACHE_LIMIT) cache.clear();
        cache.addIfAbsent(a, b, id + 1);
        return id;
      };
      const tryAdd = (l: number, r: number): void => {
        if (l < 0 || r < 0) return;
        const size = len[l]! + len[r]!;
        if (size > maxLen) return;
        const id = merged(sym[l]!, sym[r]!, start[l]!, size);
        if (id >= 0) queue.push(l, r, scores[id]!, size);
      };
      for (let i = 1; i < count; i++) tryAdd(i - 1, i);

      runMerges(queue, len, prev, next, tryAdd, (l, _score, r) => {
        sym[l] = merged(sym[l]!, sym[r]!, start[l]!, len[l]!);
      });
    }

    for (let i = 0; i !== -1; i = next[i]!) {
      const id = sym[i]!;
      if (id >= 0) {
        out.push(id);
        continue;
      }
      // Not a token (a single character, since merges only make tokens): its UTF-8 bytes.
      // (llama.cpp's rev_merge re-segmentation can never apply to a single character.)
      for (const b of utf8Encode(s.substr(start[i]!, len[i]!))) out.push(this.byteToken(b));
    }
  }

  private byteToken(b: number): number {
    const id = this.byteToId[b]!;
    if (id !== NO_TOKEN) return id;
    // llama.cpp throws here (std::out_of_range); we fall back to the unknown token.
    if (this.unkId !== NO_TOKEN) return this.unkId;
    throw new TokenizerError('NO_BYTE_TOKEN', `no token for byte ${byteTokenText(b)} and no unknown token`);
  }

  // ---- decoding ----

  protected computePiece(id: number): Uint8Array {
    return tokenPiece(this.attrs[id]!, this.tokens[id]!, unescapeSpaces);
  }
}
