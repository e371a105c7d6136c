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
import { BigramQueue } from './heap.js';
import { partitionSpecial, resolveSpecialTokens, TokenAttr } from './special.js';
import { utf8Decode, utf8Encode, toWellFormed } from './utf8.js';
import { checkAddSpecial, NO_TOKEN, vocabFromMetadata, type SpmVocab } from './vocab.js';

export interface EncodeOptions {
  /** Add BOS/EOS as the vocabulary asks (`add_bos_token`, `add_eos_token`). Default true. */
  addSpecial?: boolean;
  /** Turn control/unknown token texts in the input (e.g. "<s>") into those tokens. Default false.
   *  User-defined tokens are always matched, as in llama.cpp. */
  parseSpecial?: boolean;
}

export interface PieceOptions {
  /** Render control and unknown tokens as their text (otherwise they give nothing). Default false. */
  special?: boolean;
  /** Skip up to this many leading spaces of the piece. Default 0. */
  lstrip?: number;
}

export interface DecodeOptions {
  /** Render control and unknown tokens as their text (llama.cpp's `unparse_special`). Default false. */
  special?: boolean;
  /** Same as `special: false`; `special` wins when both are given. */
  skipSpecial?: boolean;
  /** Drop a leading BOS / trailing EOS when the vocabulary adds them (llama.cpp's `remove_special`). Default false. */
  removeSpecial?: boolean;
  /**
   * Remove one leading space from the first piece. Default: the vocabulary's `addSpacePrefix`
   * (the space encode() added). As in llama.cpp, a leading BOS dropped by `removeSpecial`
   * turns this off.
   */
  stripLeadingSpace?: boolean;
}

const EMPTY = new Uint8Array(0);
const HEX = '0123456789ABCDEF';
const ESCAPED_SPACE = '\u2581';

export class SpmTokenizer {
  readonly kind = 'spm' as const;
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly unkId: number;
  readonly padId: number;
  readonly sepId: number;
  readonly maskId: number;
  /** End of turn (given, or found by text such as `<|end|>`); -1 when none. */
  readonly eotId: number;
  readonly eomId: number;
  /** `<0x0A>` (or "\n"), -1 when the vocabulary has neither. */
  readonly newlineId: number;
  readonly addBos: boolean;
  readonly addEos: boolean;
  readonly addSpacePrefix: boolean;

  private readonly tokens: string[];
  private readonly scores: Float32Array;
  private readonly attrs: Uint16Array;
  private readonly toId = new Map<string, number>();
  /** Longest token text in UTF-16 units: longer candidate merges cannot be tokens. */
  private readonly maxTokenLength: number;
  private readonly byteToId = new Int32Array(256);
  private readonly partitionOrder: number[];
  private readonly eog: Set<number>;
  /** Piece bytes with special = true (llama.cpp's cache_token_to_piece). */
  private readonly pieces: Uint8Array[];
  /** Every pair of adjacent code points inside some token, as cp1 * 0x110000 + cp2. */
  private readonly pairs = new Set<number>();
  // scratch space for encodeSegment (encode is not re-entrant)
  private scratchStart = new Int32Array(64);
  private scratchLen = new Int32Array(64);
  private scratchPrev = new Int32Array(64);
  private scratchNext = new Int32Array(64);
  private readonly queue = new BigramQueue(64);
  private readonly top = { left: 0, right: 0, score: 0, size: 0 };

  constructor(vocab: SpmVocab) {
    const n = vocab.tokens.length;
    if (n === 0) throw new TokenizerError('BAD_VALUE', 'vocabulary has no tokens');
    if (vocab.scores.length < n) throw new TokenizerError('BAD_VALUE', `${vocab.scores.length} scores for ${n} tokens`);
    if (vocab.tokenTypes.length < n) throw new TokenizerError('BAD_VALUE', `${vocab.tokenTypes.length} token types for ${n} tokens`);
    this.vocabSize = n;

    // Empty texts get a placeholder and duplicates are refused, as in llama.cpp.
    this.tokens = new Array<string>(n);
    let maxLen = 0;
    for (let i = 0; i < n; i++) {
      let t = vocab.tokens[i];
      if (typeof t !== 'string') throw new TokenizerError('BAD_VALUE', `token ${i} is not a string`);
      if (t.length === 0) t = `[EMPTY_${i}]`;
      const prev = this.toId.get(t);
      if (prev !== undefined) {
        throw new TokenizerError('DUPLICATE_TOKEN', `duplicate token in vocabulary: '${t}' has ids ${prev} and ${i}`);
      }
      this.toId.set(t, i);
      this.tokens[i] = t;
      let p = -1;
      for (let j = 0; j < t.length; ) {
        const cp = t.codePointAt(j)!;
        if (p >= 0) this.pairs.add(p * 0x110000 + cp);
        p = cp;
        j += cp > 0xffff ? 2 : 1;
      }
      if (t.length > maxLen) maxLen = t.length;
    }
    this.maxTokenLength = maxLen;
    this.scores = Float32Array.from({ length: n }, (_, i) => vocab.scores[i]!);

    const ok = (id: number | undefined): number => (id !== undefined && Number.isInteger(id) && id >= 0 && id < n ? id : NO_TOKEN);
    this.bosId = ok(vocab.bosId);
    this.eosId = ok(vocab.eosId);
    this.unkId = ok(vocab.unkId);
    this.padId = ok(vocab.padId);
    this.sepId = ok(vocab.sepId);
    this.maskId = ok(vocab.maskId);
    this.addBos = vocab.addBos;
    this.addEos = vocab.addEos;
    this.addSpacePrefix = vocab.addSpacePrefix;
    checkAddSpecial(this);

    const special = resolveSpecialTokens(
      this.tokens,
      vocab.tokenTypes,
      {
        bosId: this.bosId,
        eosId: this.eosId,
        unkId: this.unkId,
        eotId: ok(vocab.eotId),
        eomId: ok(vocab.eomId),
        fimPreId: ok(vocab.fimPreId),
        fimSufId: ok(vocab.fimSufId),
        fimMidId: ok(vocab.fimMidId),
        fimPadId: ok(vocab.fimPadId),
        fimRepId: ok(vocab.fimRepId),
        fimSepId: ok(vocab.fimSepId),
      },
      vocab.name,
    );
    this.attrs = special.attrs;
    this.eotId = special.ids.eotId;
    this.eomId = special.ids.eomId;
    this.eog = special.eog;
    this.partitionOrder = special.partitionOrder;

    for (let b = 0; b < 256; b++) {
      const hex = `<0x${HEX[b >> 4]}${HEX[b & 15]}>`;
      this.byteToId[b] = this.toId.get(hex) ?? (b < 0x80 ? this.toId.get(String.fromCharCode(b)) : undefined) ?? NO_TOKEN;
    }
    this.newlineId = this.byteToId[0x0a]!;

    this.pieces = new Array<Uint8Array>(n);
    for (let i = 0; i < n; i++) this.pieces[i] = this.computePiece(i);
  }

  /** Builds a tokenizer from GGUF metadata (`get(key)` returns the value or `{ type, value }`). */
  static fromMetadata(get: (key: string) => unknown): SpmTokenizer {
    return new SpmTokenizer(vocabFromMetadata(get));
  }

  // ---- vocabulary queries ----

  /** The token's text as stored in the vocabulary (with "▁" for spaces). */
  tokenText(id: number): string {
    this.check(id);
    return this.tokens[id]!;
  }
  tokenScore(id: number): number {
    this.check(id);
    return this.scores[id]!;
  }
  /** The `TokenAttr` bits of a token. */
  tokenAttr(id: number): number {
    this.check(id);
    return this.attrs[id]!;
  }
  /** The id of a token with exactly this text, or undefined. */
  textToToken(text: string): number | undefined {
    return this.toId.get(text);
  }
  /** True for tokens that end generation (EOS, EOT, `<|end|>`, ...). */
  isEog(id: number): boolean {
    return this.eog.has(id);
  }
  /** The end-of-generation ids, ascending. */
  get eogIds(): number[] {
    return [...this.eog].sort((a, b) => a - b);
  }
  isControl(id: number): boolean {
    return this.tokenAttr(id) & TokenAttr.CONTROL ? true : false;
  }

  // ---- encoding ----

  encode(text: string, opts: EncodeOptions = {}): number[] {
    const addSpecial = opts.addSpecial ?? true;
    const parseSpecial = opts.parseSpecial ?? false;
    const input = toWellFormed(text);
    const out: number[] = [];
    const frags = partitionSpecial(input, this.tokens, this.attrs, this.partitionOrder, parseSpecial);

    if (addSpecial && this.addBos) out.push(this.bosId);
    let prevSpecial = true; // the first fragment gets the space prefix
    for (const f of frags) {
      if (f.token !== -1) {
        out.push(f.token);
        prevSpecial = true;
        continue;
      }
      let s = input.slice(f.start, f.end);
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
      if (prevCp >= 0 && !pairs.has(prevCp * 0x110000 + cp)) {
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
    const cap = to - from;
    if (this.scratchStart.length < cap) {
      const c = Math.max(cap, this.scratchStart.length * 2);
      this.scratchStart = new Int32Array(c);
      this.scratchLen = new Int32Array(c);
      this.scratchPrev = new Int32Array(c);
      this.scratchNext = new Int32Array(c);
    }
    const start = this.scratchStart;
    const len = this.scratchLen;
    const prev = this.scratchPrev;
    const next = this.scratchNext;
    let count = 0;
    for (let i = from; i < to; ) {
      const c = s.charCodeAt(i);
      const w = c >= 0xd800 && c <= 0xdbff && i + 1 < to ? 2 : 1;
      start[count] = i;
      len[count] = w;
      prev[count] = count - 1;
      next[count] = count + 1;
      count++;
      i += w;
    }
    next[count - 1] = -1;

    const toId = this.toId;
    if (count > 1) {
      const scores = this.scores;
      const maxLen = this.maxTokenLength;
      const queue = this.queue;
      queue.clear();
      const tryAdd = (l: number, r: number): void => {
        if (l < 0 || r < 0) return;
        const size = len[l]! + len[r]!;
        if (size > maxLen) return;
        const id = toId.get(s.substr(start[l]!, size));
        if (id === undefined) return;
        queue.push(l, r, scores[id]!, size);
      };
      for (let i = 1; i < count; i++) tryAdd(i - 1, i);

      const top = this.top;
      while (queue.pop(top)) {
        const l = top.left, r = top.right;
        // Skip merges made stale by an earlier merge of either symbol.
        if (len[l] === 0 || len[r] === 0 || len[l]! + len[r]! !== top.size) continue;
        len[l] = len[l]! + len[r]!;
        len[r] = 0;
        next[l] = next[r]!;
        if (next[r]! >= 0) prev[next[r]!] = l;
        tryAdd(prev[l]!, l);
        tryAdd(l, next[l]!);
      }
    }

    for (let i = 0; i !== -1; i = next[i]!) {
      const piece = s.substr(start[i]!, len[i]!);
      const id = toId.get(piece);
      if (id !== undefined) {
        out.push(id);
        continue;
      }
      // Not a token (a single character, since merges only make tokens): its UTF-8 bytes.
      // (llama.cpp's rev_merge re-segmentation can never apply to a single character.)
      for (const b of utf8Encode(piece)) out.push(this.byteToken(b));
    }
  }

  private byteToken(b: number): number {
    const id = this.byteToId[b]!;
    if (id !== NO_TOKEN) return id;
    // llama.cpp throws here (std::out_of_range); we fall back to the unknown token.
    if (this.unkId !== NO_TOKEN) return this.unkId;
    throw new TokenizerError('NO_BYTE_TOKEN', `no token for byte 0x${HEX[b >> 4]}${HEX[b & 15]} and no unknown token`);
  }

  // ---- decoding ----

  private check(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new TokenizerError('BAD_TOKEN_ID', `token id ${id} is out of range [0, ${this.vocabSize})`);
    }
  }

  private computePiece(id: number): Uint8Array {
    const a = this.attrs[id]!;
    const text = this.tokens[id]!;
    if (a & (TokenAttr.UNKNOWN | TokenAttr.CONTROL | TokenAttr.USER_DEFINED)) return utf8Encode(text);
    if (a & TokenAttr.NORMAL) return utf8Encode(text.replaceAll(ESCAPED_SPACE, ' '));
    if (a & TokenAttr.BYTE) {
      // strtol(text.substr(3, 2), 16): a hex prefix, 0 when none.
      const v = parseInt(text.substr(3, 2), 16);
      return Uint8Array.of(Number.isNaN(v) ? 0 : v & 0xff);
    }
    return EMPTY; // unused / undefined tokens render as nothing
  }

  /**
   * The bytes of one token (llama.cpp's `llama_token_to_piece`): normal tokens with "▁" as
   * space, byte tokens as their byte, user-defined tokens verbatim, control and unknown
   * tokens verbatim only when `special`, unused tokens as nothing.
   * The returned array is shared; do not modify it.
   */
  tokenToPieceBytes(id: number, opts: PieceOptions = {}): Uint8Array {
    this.check(id);
    if (!opts.special && this.attrs[id]! & (TokenAttr.UNKNOWN | TokenAttr.CONTROL)) return EMPTY;
    let p = this.pieces[id]!;
    const lstrip = opts.lstrip ?? 0;
    let k = 0;
    while (k < lstrip && k < p.length && p[k] === 0x20) k++;
    if (k > 0) p = p.subarray(k);
    return p;
  }

  /** tokenToPieceBytes as a string (a lone byte of a multi-byte character becomes U+FFFD). */
  tokenToPiece(id: number, opts: PieceOptions = {}): string {
    return utf8Decode(this.tokenToPieceBytes(id, opts));
  }

  /** The UTF-8 bytes of a token sequence (llama.cpp's `llama_detokenize`). */
  decodeBytes(ids: readonly number[], opts: DecodeOptions = {}): Uint8Array {
    const special = opts.special ?? (opts.skipSpecial === undefined ? false : !opts.skipSpecial);
    let stripSpace = opts.stripLeadingSpace ?? this.addSpacePrefix;
    let begin = 0;
    let end = ids.length;
    if (opts.removeSpecial && this.addBos && end > 0 && ids[0] === this.bosId) {
      stripSpace = false;
      begin++;
    }
    if (opts.removeSpecial && this.addEos && end > begin && ids[end - 1] === this.eosId) end--;

    const parts: Uint8Array[] = [];
    let total = 0;
    for (let i = begin; i < end; i++) {
      const p = this.tokenToPieceBytes(ids[i]!, { special, lstrip: stripSpace ? 1 : 0 });
      stripSpace = false;
      parts.push(p);
      total += p.length;
    }
    const out = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }

  /** Detokenizes to a string; bytes that are not valid UTF-8 become U+FFFD. */
  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    return utf8Decode(this.decodeBytes(ids, opts));
  }
}
