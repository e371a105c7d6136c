/**
 * Byte-level BPE ("gpt2" GGUF tokenizer model), reproducing llama.cpp's `llm_tokenizer_bpe`
 * and the BPE paths of `llama_vocab::impl::tokenize`, `token_to_piece` and `detokenize`.
 *
 * Encoding: split the text around special tokens; cut each text fragment into words with the
 * vocabulary's pre-tokenizer (`tokenizer.ggml.pre`); write each word's UTF-8 bytes as GPT-2's
 * byte characters; start from one symbol per character and repeatedly merge the adjacent pair
 * with the lowest merge rank (leftmost on ties); emit the symbols that are tokens, and for a
 * symbol that is not, the single-byte tokens of its bytes (bytes without one are dropped, as in
 * llama.cpp). Results are cached per word.
 */
import { TokenizerError } from './errors.js';
import { BigramQueue, runMerges } from './heap.js';
import { PairTable } from './pairs.js';
import { PreTokenizer, preTokenizerSpec, type PreTokenizerSpec } from './pretokenize.js';
import { EMPTY_PIECE, VocabTokenizer, type BaseVocab } from './base.js';
import { TokenAttr } from './special.js';
import { joinPieces, segmentFragments, type DecodeOptions, type EncodeSegment } from './tokenizer.js';
import { BYTE_TO_CHAR, CHAR_TO_BYTE } from './unicode.js';
import { utf8Encode } from './utf8.js';
import { checkAddSpecial, NO_TOKEN, numericArray, optBool, optString, readSpecialIds, unwrap } from './vocab.js';

/** A byte-level BPE vocabulary as plain data, independent of GGUF. Token types default to NORMAL. */
export interface BpeVocab extends BaseVocab {
  /** Merge rules "left right", highest priority first. */
  merges: string[];
  /** `tokenizer.ggml.pre`; missing means "default" (with a warning); unknown is a TokenizerError. */
  pre?: string;
}

export interface BpeOptions {
  /** Called with a message when the vocabulary names no pre-tokenizer. Default: console.warn. */
  warn?: (message: string) => void;
}

const K = 'tokenizer.ggml.';
/** Most words kept in the per-tokenizer word cache before it is cleared. */
const CACHE_LIMIT = 200_000;

const defaultWarn = (m: string): void => console.warn(`tsinfer: ${m}`);

/**
 * Reads a byte-level BPE vocabulary from GGUF metadata with llama.cpp's defaults for "gpt2"
 * vocabularies: BOS = EOS = 11 when not given (disabled when out of range), no unknown token,
 * add_bos as the pre-tokenizer implies (true for Llama 3), add_eos false.
 * @throws TokenizerError for a missing or malformed vocabulary.
 */
export function bpeVocabFromMetadata(get: (key: string) => unknown): BpeVocab {
  const model = optString(get, K + 'model');
  if (model === undefined) throw new TokenizerError('MISSING_KEY', `${K}model is missing`, K + 'model');
  if (model !== 'gpt2') {
    throw new TokenizerError('UNSUPPORTED_MODEL', `tokenizer model '${model}' is not a byte-level BPE ("gpt2") vocabulary`, K + 'model');
  }
  const stringArray = (key: string): string[] => {
    const v = unwrap(get(K + key));
    if (v === undefined || v === null) throw new TokenizerError('MISSING_KEY', `${K}${key} is missing`, K + key);
    if (!Array.isArray(v) || !v.every((t) => typeof t === 'string')) {
      throw new TokenizerError('BAD_VALUE', `${K}${key} must be an array of strings`, K + key);
    }
    return v as string[];
  };
  const tokens = stringArray('tokens');
  const n = tokens.length;
  if (n === 0) throw new TokenizerError('BAD_VALUE', `${K}tokens is empty`, K + 'tokens');
  const merges = stringArray('merges');
  const rawTypes = unwrap(get(K + 'token_type'));
  const tokenTypes = rawTypes === undefined || rawTypes === null ? undefined : (numericArray(rawTypes, K + 'token_type', n, true) as Int32Array | number[]);
  const pre = optString(get, K + 'pre');
  const spec = preTokenizerSpec(pre, () => {});

  const vocab: BpeVocab = {
    tokens,
    merges,
    ...readSpecialIds(get, n, { bos: spec.defaultBos ? 11 : NO_TOKEN, eos: 11, unk: NO_TOKEN }),
    addBos: optBool(get, K + 'add_bos_token') ?? spec.addBos,
    addEos: optBool(get, K + 'add_eos_token') ?? false,
  };
  if (tokenTypes !== undefined) vocab.tokenTypes = tokenTypes;
  if (pre !== undefined) vocab.pre = pre;
  const name = optString(get, 'general.name');
  if (name !== undefined) vocab.name = name;
  checkAddSpecial(vocab);
  return vocab;
}

export class BpeTokenizer extends VocabTokenizer {
  readonly kind = 'bpe' as const;
  /** Byte-level BPE never prepends a space. */
  readonly addSpacePrefix = false;
  /** The pre-tokenizer in use (name, expressions, flags). */
  readonly preTokenizer: PreTokenizerSpec;
  /** Detokenization removes spaces before punctuation by default (clean_up_tokenization_spaces). */
  readonly cleanSpaces: boolean;

  /** Merge rank by the token ids of its two sides. */
  private readonly pairRanks: PairTable;
  /** Rules with a side that is not a token, by their text "a b" (looked up by text, as llama.cpp does). */
  private readonly textRanks = new Map<string, number>();
  /** Token id of each rule's result (-1 when the concatenation is not a token). */
  private readonly mergeResult: Int32Array;
  /** Token id of each byte character (by char code), -1 when none. */
  private readonly charId = new Int32Array(512);
  private symId = new Int32Array(64);
  private readonly pre: PreTokenizer;
  private readonly ignoreMerges: boolean;
  private readonly cache = new Map<string, number[]>();
  private readonly queue = new BigramQueue(64);
  private symStart = new Int32Array(64);
  private symLen = new Int32Array(64);
  private symPrev = new Int32Array(64);
  private symNext = new Int32Array(64);

  constructor(vocab: BpeVocab, opts: BpeOptions = {}) {
    super(vocab);
    // "a b" → rank; the first occurrence of a pair wins (llama.cpp's emplace). llama.cpp splits
    // at the first space after the first character; rules without such a space never match.
    const merges = vocab.merges;
    this.pairRanks = new PairTable(merges.length);
    this.mergeResult = new Int32Array(merges.length).fill(NO_TOKEN);
    for (let r = 0; r < merges.length; r++) {
      const m = merges[r];
      if (typeof m !== 'string') throw new TokenizerError('BAD_VALUE', `merge ${r} is not a string`);
      const sp = m.indexOf(' ', 1);
      if (sp < 0) continue;
      const left = m.slice(0, sp),
        right = m.slice(sp + 1);
      const l = this.toId.get(left),
        rt = this.toId.get(right);
      if (l !== undefined && rt !== undefined) this.pairRanks.addIfAbsent(l, rt, r);
      else if (!this.textRanks.has(m)) this.textRanks.set(m, r);
      this.mergeResult[r] = this.toId.get(left + right) ?? NO_TOKEN;
    }
    for (let c = 0; c < 512; c++) this.charId[c] = this.toId.get(String.fromCharCode(c)) ?? NO_TOKEN;

    const spec = preTokenizerSpec(vocab.pre, opts.warn ?? defaultWarn);
    this.preTokenizer = spec;
    this.pre = new PreTokenizer(spec);
    this.ignoreMerges = spec.ignoreMerges;
    this.cleanSpaces = spec.cleanSpaces;

    this.cachePieces();
  }

  /** Builds a tokenizer from GGUF metadata (`get(key)` returns the value or `{ type, value }`). */
  static fromMetadata(get: (key: string) => unknown, opts: BpeOptions = {}): BpeTokenizer {
    return new BpeTokenizer(bpeVocabFromMetadata(get), opts);
  }

  // ---- vocabulary queries ----

  /** The merge rank of the pair (left, right) in byte-level characters, or -1. */
  mergeRank(left: string, right: string): number {
    const l = this.toId.get(left),
      r = this.toId.get(right);
    if (l !== undefined && r !== undefined) return this.pairRanks.get(l, r);
    return this.textRanks.get(left + ' ' + right) ?? -1;
  }
  /** The words the pre-tokenizer cuts `text` into (before byte encoding). */
  preTokenize(text: string): string[] {
    return this.pre.words(text);
  }

  // ---- encoding ----

  encodeSegments(segments: readonly EncodeSegment[], opts: { addSpecial?: boolean } = {}): number[] {
    const addSpecial = opts.addSpecial ?? true;
    const out: number[] = [];
    if (addSpecial && this.addBos) out.push(this.bosId);
    for (const f of segmentFragments(segments, this.specials)) {
      if (typeof f === 'number') out.push(f);
      else this.encodeText(f, out);
    }
    if (addSpecial && this.addEos) out.push(this.eosId);
    return out;
  }

  /** Pre-tokenizes one raw text fragment and appends each word's tokens. */
  private encodeText(text: string, out: number[]): void {
    const { cps, words } = this.pre.split(text);
    const cache = this.cache;
    let p = 0; // code point index
    let u = 0; // UTF-16 index
    for (const w of words) {
      const u0 = u;
      for (let k = p; k < p + w; k++) u += cps[k]! > 0xffff ? 2 : 1;
      const key = text.slice(u0, u);
      let ids = cache.get(key);
      if (ids === undefined) {
        ids = this.encodeWord(byteEncode(cps, p, p + w));
        if (cache.size >= CACHE_LIMIT) cache.clear();
        cache.set(key, ids);
      }
      for (let k = 0; k < ids.length; k++) out.push(ids[k]!);
      p += w;
    }
  }

  /** The merges over one byte-encoded word (llama.cpp's `llm_tokenizer_bpe_session::tokenize` inner loop). */
  private encodeWord(word: string): number[] {
    const out: number[] = [];
    if (this.ignoreMerges) {
      const id = this.toId.get(word);
      if (id !== undefined) return [id];
    }
    const count = word.length; // byte characters are all in the BMP: one symbol per unit
    if (count === 0) return out;
    if (this.symStart.length < count) {
      const c = Math.max(count, this.symStart.length * 2);
      this.symStart = new Int32Array(c);
      this.symLen = new Int32Array(c);
      this.symPrev = new Int32Array(c);
      this.symNext = new Int32Array(c);
      this.symId = new Int32Array(c);
    }
    const start = this.symStart,
      len = this.symLen,
      prev = this.symPrev,
      next = this.symNext,
      sym = this.symId;
    const charId = this.charId;
    for (let i = 0; i < count; i++) {
      start[i] = i;
      len[i] = 1;
      prev[i] = i - 1;
      next[i] = i + 1;
      sym[i] = charId[word.charCodeAt(i)]!;
    }
    next[count - 1] = -1;

    if (count > 1) {
      const pairRanks = this.pairRanks,
        textRanks = this.textRanks;
      const queue = this.queue;
      queue.clear();
      const tryAdd = (l: number, r: number): void => {
        if (l < 0 || r < 0) return;
        const li = sym[l]!,
          ri = sym[r]!;
        let rank = li >= 0 && ri >= 0 ? pairRanks.get(li, ri) : -1;
        if (rank < 0 && (li < 0 || ri < 0) && textRanks.size > 0) {
          rank = textRanks.get(word.substr(start[l]!, len[l]!) + ' ' + word.substr(start[r]!, len[r]!)) ?? -1;
        }
        if (rank >= 0) queue.push(l, r, -rank, len[l]! + len[r]!);
      };
      for (let i = 1; i < count; i++) tryAdd(i - 1, i);
      // llama.cpp drops a stale pair by comparing texts; adjacent symbols only grow, so the
      // size test in runMerges is the same test.
      const mergeResult = this.mergeResult;
      runMerges(queue, len, prev, next, tryAdd, (l, score) => {
        sym[l] = mergeResult[-score]!;
      });
    }

    for (let i = 0; i !== -1; i = next[i]!) {
      if (sym[i]! >= 0) {
        out.push(sym[i]!);
        continue;
      }
      // Not a token: the single-byte tokens of its UTF-8 text; only ASCII bytes can be ones.
      for (let k = start[i]!; k < start[i]! + len[i]!; k++) {
        const c = word.charCodeAt(k);
        if (c < 0x80 && charId[c]! !== NO_TOKEN) out.push(charId[c]!);
      }
    }
    return out;
  }

  // ---- decoding ----

  protected computePiece(id: number): Uint8Array {
    const a = this.attrs[id]!;
    const text = this.tokens[id]!;
    if (a & (TokenAttr.UNKNOWN | TokenAttr.CONTROL | TokenAttr.USER_DEFINED)) return utf8Encode(text);
    if (a & TokenAttr.NORMAL) return byteDecode(text);
    if (a & TokenAttr.BYTE) {
      const v = parseInt(text.substr(3, 2), 16);
      return Uint8Array.of(Number.isNaN(v) ? 0 : v & 0xff);
    }
    return EMPTY_PIECE;
  }

  /** The UTF-8 bytes of a token sequence (llama.cpp's `llama_detokenize`, with its space cleaning). */
  override decodeBytes(ids: readonly number[], opts: DecodeOptions = {}): Uint8Array {
    const out = joinPieces(this, ids, opts);
    return (opts.cleanSpaces ?? this.cleanSpaces) ? cleanSpaces(out) : out;
  }
}

/** The GPT-2 byte characters of the UTF-8 encoding of cps[from, to). */
function byteEncode(cps: Uint32Array, from: number, to: number): string {
  let s = '';
  for (let i = from; i < to; i++) {
    const c = cps[i]!;
    if (c < 0x80) s += BYTE_TO_CHAR[c]!;
    else if (c < 0x800) s += BYTE_TO_CHAR[0xc0 | (c >> 6)]! + BYTE_TO_CHAR[0x80 | (c & 0x3f)]!;
    else if (c < 0x10000) s += BYTE_TO_CHAR[0xe0 | (c >> 12)]! + BYTE_TO_CHAR[0x80 | ((c >> 6) & 0x3f)]! + BYTE_TO_CHAR[0x80 | (c & 0x3f)]!;
    else {
      s += BYTE_TO_CHAR[0xf0 | (c >> 18)]! + BYTE_TO_CHAR[0x80 | ((c >> 12) & 0x3f)]! + BYTE_TO_CHAR[0x80 | ((c >> 6) & 0x3f)]! + BYTE_TO_CHAR[0x80 | (c & 0x3f)]!;
    }
  }
  return s;
}

/**
 * A normal token's text back to bytes (llama.cpp's `llama_decode_text`): each character is one
 * byte of GPT-2's mapping; a character outside it becomes "[UNK_BYTE_0x<hex>" + text + "]".
 */
function byteDecode(text: string): Uint8Array {
  const out: number[] = [];
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    const b = c < 512 ? CHAR_TO_BYTE[c]! : -1;
    if (b >= 0) {
      out.push(b);
      continue;
    }
    let s = '[UNK_BYTE_0x';
    for (const x of utf8Encode(ch)) s += x.toString(16).padStart(2, '0');
    s += text + ']';
    for (const x of utf8Encode(s)) out.push(x);
  }
  return Uint8Array.from(out);
}

const SP = 0x20,
  QUOTE = 0x27;

/** llama.cpp's clean_spaces passes over detokenized bytes. */
function cleanSpaces(t: Uint8Array): Uint8Array {
  let text = t;
  // " ?", " !", " .", " ," lose the space
  let total1 = text.length;
  let total = total1 ? 1 : 0;
  for (let i = 1; i < total1; i++) {
    const x = text[i]!;
    if (text[i - 1] === SP && (x === 0x3f || x === 0x21 || x === 0x2e || x === 0x2c)) total--;
    text[total++] = x;
  }
  // " ' " loses both spaces
  const total2 = total;
  total = total ? 1 : 0;
  for (let i = 1; i < total2; i++) {
    const x = text[i]!;
    if (x === QUOTE && i + 1 < total2 && text[i - 1] === SP && text[i + 1] === SP) {
      total--;
      text[++i] = 0;
    }
    text[total++] = x;
  }
  // " 's", " 'm", " 're", " 've" lose the space
  const total3 = total;
  total = total ? 1 : 0;
  for (let i = 1; i < total3; i++) {
    const x = text[i]!;
    if (text[i - 1] === SP && x === QUOTE && i + 1 < total3) {
      const x1 = text[i + 1]!;
      if (x1 === 0x73 || x1 === 0x6d) total--;
      else if (i + 2 < total3) {
        const x2 = text[i + 2]!;
        if ((x1 === 0x72 && x2 === 0x65) || (x1 === 0x76 && x2 === 0x65)) total--;
      }
    }
    text[total++] = x;
  }
  total1 = total;
  text = text.subarray(0, total1);
  return text;
}
