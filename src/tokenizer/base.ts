/**
 * What SentencePiece and byte-level BPE tokenizers share: the token texts, special-token
 * bookkeeping (attributes, end-of-generation set, the order special texts are matched in),
 * the per-token piece cache and detokenization.
 */
import { TokenizerError } from './errors.js';
import { resolveSpecialTokens, SpecialMatcher, TokenAttr, type SpecialIds } from './special.js';
import { addTokenText, cleanSpaces, joinPieces, lstripPiece, type DecodeOptions, type EncodeOptions, type EncodeSegment, type PieceOptions, type Tokenizer } from './tokenizer.js';
import { utf8Decode, utf8Encode } from './utf8.js';
import { checkAddSpecial, ESCAPED_SPACE, NO_TOKEN } from './vocab.js';

/** The vocabulary fields every tokenizer reads. */
export interface BaseVocab extends Partial<SpecialIds> {
  tokens: string[];
  tokenTypes?: ArrayLike<number>;
  bosId: number;
  eosId: number;
  padId?: number;
  addBos: boolean;
  addEos: boolean;
  name?: string;
}

export const EMPTY_PIECE = new Uint8Array(0);

/** A SentencePiece token text's bytes: "\u2581" back to spaces. */
export const unescapeSpaces = (text: string): Uint8Array => utf8Encode(text.replaceAll(ESCAPED_SPACE, ' '));

/**
 * The bytes of a token with special = true (llama.cpp's `token_to_piece` before its cache):
 * control, unknown and user-defined tokens as their text, normal ones through `normal`
 * (SentencePiece and WordPiece: `unescapeSpaces`), byte tokens `<0xXX>` as their byte; others
 * (unused, undefined) as nothing.
 */
export function tokenPiece(attr: number, text: string, normal: (text: string) => Uint8Array): Uint8Array {
  if (attr & (TokenAttr.UNKNOWN | TokenAttr.CONTROL | TokenAttr.USER_DEFINED)) return utf8Encode(text);
  if (attr & TokenAttr.NORMAL) return normal(text);
  if (attr & TokenAttr.BYTE) {
    // strtol(text.substr(3, 2), 16): a hex prefix, 0 when none.
    const v = parseInt(text.substr(3, 2), 16);
    return Uint8Array.of(Number.isNaN(v) ? 0 : v & 0xff);
  }
  return EMPTY_PIECE;
}

export abstract class VocabTokenizer implements Tokenizer {
  abstract readonly kind: 'spm' | 'bpe' | 'wpm';
  abstract readonly addSpacePrefix: boolean;
  /** Detokenization removes spaces before punctuation by default (llama.cpp's clean_spaces). */
  readonly cleanSpaces: boolean = false;
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly unkId: number;
  readonly padId: number;
  /** End of turn (given, or found by text such as `<|end|>`); -1 when none. */
  readonly eotId: number;
  readonly eomId: number;
  /** Special-token ids from the metadata or found by their text (FIM tokens among them); -1 when none. */
  readonly specialIds: Readonly<SpecialIds>;
  readonly addBos: boolean;
  readonly addEos: boolean;

  protected readonly tokens: string[];
  protected readonly toId = new Map<string, number>();
  protected readonly attrs: Uint16Array;
  protected readonly partitionOrder: number[];
  /** Finds special-token texts in input (llama.cpp's tokenizer_st_partition). */
  protected readonly specials: SpecialMatcher;
  private readonly eog: Set<number>;
  /**
   * Piece bytes with special = true (llama.cpp's cache_token_to_piece), computed on first use:
   * a 262k vocabulary loads without encoding every token's text.
   */
  private pieces: Array<Uint8Array | undefined> = [];

  constructor(vocab: BaseVocab) {
    const n = vocab.tokens.length;
    if (n === 0) throw new TokenizerError('BAD_VALUE', 'vocabulary has no tokens');
    if (vocab.tokenTypes !== undefined && vocab.tokenTypes.length < n) {
      throw new TokenizerError('BAD_VALUE', `${vocab.tokenTypes.length} token types for ${n} tokens`);
    }
    this.vocabSize = n;
    this.tokens = new Array<string>(n);
    for (let i = 0; i < n; i++) this.tokens[i] = addTokenText(vocab.tokens[i], i, this.toId);

    const ok = (id: number | undefined): number => (id !== undefined && Number.isInteger(id) && id >= 0 && id < n ? id : NO_TOKEN);
    this.bosId = ok(vocab.bosId);
    this.eosId = ok(vocab.eosId);
    this.unkId = ok(vocab.unkId);
    this.padId = ok(vocab.padId);
    this.addBos = vocab.addBos;
    this.addEos = vocab.addEos;
    checkAddSpecial(this);

    // resolveSpecialTokens ignores ids out of range, as `ok` above.
    const special = resolveSpecialTokens(this.tokens, vocab.tokenTypes, vocab, vocab.name, this.toId);
    this.attrs = special.attrs;
    this.eotId = special.ids.eotId;
    this.eomId = special.ids.eomId;
    this.specialIds = Object.freeze({ ...special.ids });
    this.eog = special.eog;
    this.partitionOrder = special.partitionOrder;
    this.specials = new SpecialMatcher(this.tokens, this.attrs, this.partitionOrder);
  }

  /** The bytes of token `id` with special = true; called at most once per token. */
  protected abstract computePiece(id: number): Uint8Array;

  /** Sets up the piece cache (subclasses call this at the end of their constructor). */
  protected cachePieces(): void {
    this.pieces = new Array<Uint8Array | undefined>(this.vocabSize);
  }

  // ---- vocabulary queries ----

  /** The token's text as stored in the vocabulary. */
  tokenText(id: number): string {
    this.check(id);
    return this.tokens[id]!;
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
  /** True for tokens that end generation (EOS, EOT, `<|im_end|>`, ...). */
  isEog(id: number): boolean {
    return this.eog.has(id);
  }
  /** The end-of-generation ids, ascending. */
  get eogIds(): number[] {
    return [...this.eog].sort((a, b) => a - b);
  }
  isControl(id: number): boolean {
    return (this.tokenAttr(id) & TokenAttr.CONTROL) !== 0;
  }

  controlTokenTexts(): string[] {
    const out: string[] = [];
    for (const id of this.partitionOrder) {
      if (this.attrs[id]! & (TokenAttr.CONTROL | TokenAttr.UNKNOWN)) out.push(this.tokens[id]!);
    }
    return out;
  }

  protected check(id: number): void {
    if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
      throw new TokenizerError('BAD_TOKEN_ID', `token id ${id} is out of range [0, ${this.vocabSize})`);
    }
  }

  // ---- encoding ----

  encode(text: string, opts: EncodeOptions = {}): number[] {
    return this.encodeSegments([{ text, parseSpecial: opts.parseSpecial ?? false }], opts);
  }

  abstract encodeSegments(segments: readonly EncodeSegment[], opts?: { addSpecial?: boolean }): number[];

  // ---- decoding ----

  /**
   * The bytes of one token (llama.cpp's `llama_token_to_piece`): control and unknown tokens
   * only when `special`; see each tokenizer's `computePiece` for the rest.
   * The returned array is shared; do not modify it.
   */
  tokenToPieceBytes(id: number, opts: PieceOptions = {}): Uint8Array {
    this.check(id);
    if (!opts.special && this.attrs[id]! & (TokenAttr.UNKNOWN | TokenAttr.CONTROL)) return EMPTY_PIECE;
    let p = this.pieces[id];
    if (p === undefined) this.pieces[id] = p = this.computePiece(id);
    return lstripPiece(p, opts.lstrip ?? 0);
  }

  /** tokenToPieceBytes as a string (a lone byte of a multi-byte character becomes U+FFFD). */
  tokenToPiece(id: number, opts: PieceOptions = {}): string {
    return utf8Decode(this.tokenToPieceBytes(id, opts));
  }

  /** The UTF-8 bytes of a token sequence (llama.cpp's `llama_detokenize`, with its space cleaning). */
  decodeBytes(ids: readonly number[], opts: DecodeOptions = {}): Uint8Array {
    const out = joinPieces(this, ids, opts);
    return (opts.cleanSpaces ?? this.cleanSpaces) ? cleanSpaces(out) : out;
  }

  /** Detokenizes to a string; bytes that are not valid UTF-8 become U+FFFD. */
  decode(ids: readonly number[], opts: DecodeOptions = {}): string {
    return utf8Decode(this.decodeBytes(ids, opts));
  }
}
