/**
 * BPE ("gpt2", "gemma4" and "whitespace" GGUF tokenizer models), reproducing llama.cpp's
 * `llm_tokenizer_bpe` and the BPE paths of `llama_vocab::impl::tokenize`, `token_to_piece` and
 * `detokenize`.
 *
 * Encoding: split the text around special tokens; cut each text fragment into words with the
 * vocabulary's pre-tokenizer (`tokenizer.ggml.pre`); write each word's UTF-8 bytes as GPT-2's
 * byte characters; start from one symbol per character and repeatedly merge the adjacent pair
 * with the lowest merge rank (leftmost on ties); emit the symbols that are tokens, and for a
 * symbol that is not, the single-byte tokens of its bytes (bytes without one are dropped, as in
 * llama.cpp). Results are cached per word.
 *
 * Pre-tokenizers without byte encoding (Gemma 4, Sarvam, "whitespace") merge the raw text
 * instead, one symbol per code point, with `<0xXX>` tokens for the bytes of a symbol that is not
 * a token; Gemma 4 and Sarvam first write spaces as "\u2581" (and detokenize them back), as
 * SentencePiece does. The "whitespace" tokenizer model drops whitespace (and lowercases when
 * the vocabulary asks) and merges each run of non-space on its own.
 */
import { TokenizerError } from './errors.js';
import { BigramQueue, runMerges, SymbolList } from './heap.js';
import { PairTable } from './pairs.js';
import { PreTokenizer, preTokenizerSpec, type PreTokenizerSpec } from './pretokenize.js';
import { tokenPiece, unescapeSpaces, VocabTokenizer, type BaseVocab } from './base.js';
import { segmentFragments, type EncodeSegment } from './tokenizer.js';
import { BYTE_TO_CHAR, CHAR_TO_BYTE, isWhitespaceCp, toLowerCp } from './unicode.js';
import { utf8Encode } from './utf8.js';
import { byteTokenText, checkAddSpecial, ESCAPED_SPACE, NO_TOKEN, numericArray, optBool, optString, readSpecialIds, unwrap } from './vocab.js';

/** A byte-level BPE vocabulary as plain data, independent of GGUF. Token types default to NORMAL. */
export interface BpeVocab extends BaseVocab {
  /** Merge rules "left right", highest priority first. */
  merges: string[];
  /** `tokenizer.ggml.pre`; missing means "default" (with a warning); unknown is a TokenizerError. */
  pre?: string;
  /** `tokenizer.ggml.model`: "whitespace" drops whitespace before the merges. Default "gpt2". */
  model?: BpeModel;
  /** "whitespace" model: lowercase the text (`tokenizer.ggml.normalizer.lowercase`). */
  lowercase?: boolean;
  /** Detokenization drops one leading space (`tokenizer.ggml.add_space_prefix`). Default false. */
  addSpacePrefix?: boolean;
}

/** The GGUF tokenizer models built on BPE merges. */
export const BPE_MODELS = ['gpt2', 'gemma4', 'whitespace'] as const;
export type BpeModel = (typeof BPE_MODELS)[number];

export interface BpeOptions {
  /** Called with a message when the vocabulary names no pre-tokenizer. Default: console.warn. */
  warn?: (message: string) => void;
}

const K = 'tokenizer.ggml.';
/** Most words kept in the per-tokenizer word cache before it is cleared. */
const CACHE_LIMIT = 200_000;

const defaultWarn = (m: string): void => console.warn(`tsinfer: ${m}`);

/**
 * Reads a BPE vocabulary from GGUF metadata with llama.cpp's defaults: for "gpt2" and
 * "whitespace" vocabularies BOS = EOS = 11 when not given (disabled when out of range), for
 * "gemma4" none (and the pre-tokenizer is always "gemma4"); no unknown token, add_bos as the
 * pre-tokenizer implies (true for Llama 3, always for Gemma 4), add_eos false.
 * @throws TokenizerError for a missing or malformed vocabulary.
 */
export function bpeVocabFromMetadata(get: (key: string) => unknown): BpeVocab {
  const model = optString(get, K + 'model');
  if (model === undefined) throw new TokenizerError('MISSING_KEY', `${K}model is missing`, K + 'model');
  if (!(BPE_MODELS as readonly string[]).includes(model)) {
    throw new TokenizerError('UNSUPPORTED_MODEL', `tokenizer model '${model}' is not a BPE (${BPE_MODELS.join(', ')}) vocabulary`, K + 'model');
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
  const gemma4 = model === 'gemma4';
  const pre = gemma4 ? 'gemma4' : optString(get, K + 'pre');
  const spec = preTokenizerSpec(pre, () => {});
  const byDefault = !gemma4;

  const vocab: BpeVocab = {
    tokens,
    merges,
    ...readSpecialIds(get, n, { bos: byDefault && spec.defaultBos ? 11 : NO_TOKEN, eos: byDefault ? 11 : NO_TOKEN, unk: NO_TOKEN }),
    // llama.cpp turns add_bos on for Gemma 4's pre-tokenizer whatever the file says.
    addBos: spec.gemma4 || (optBool(get, K + 'add_bos_token') ?? spec.addBos),
    addEos: optBool(get, K + 'add_eos_token') ?? false,
    model: model as BpeModel,
    lowercase: optBool(get, K + 'normalizer.lowercase') ?? pre !== 'whitespace',
    addSpacePrefix: optBool(get, K + 'add_space_prefix') ?? false,
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
  /** BPE never prepends a space; when set, detokenization drops one leading space. */
  readonly addSpacePrefix: boolean;
  /** The pre-tokenizer in use (name, expressions, flags). */
  readonly preTokenizer: PreTokenizerSpec;
  override readonly cleanSpaces: boolean;

  /** Merge rank by the token ids of its two sides. */
  private readonly pairRanks: PairTable;
  /** Rules with a side that is not a token, by their text "a b" (looked up by text, as llama.cpp does). */
  private readonly textRanks = new Map<string, number>();
  /** Token id of each rule's result (-1 when the concatenation is not a token, -2 until first used). */
  private readonly mergeResult: Int32Array;
  private readonly merges: readonly string[];
  /** Token id of each one-unit character below U+0200 (all the byte characters), -1 when none. */
  private readonly charId = new Int32Array(512);
  /** Raw text: the `<0xXX>` token of each byte, -1 when none. */
  private readonly byteId = new Int32Array(256);
  private readonly byteEncode: boolean;
  private readonly escapeWhitespaces: boolean;
  private readonly gemma4: boolean;
  /** "whitespace" model: drop whitespace and merge each run of non-space alone. */
  private readonly dropWhitespace: boolean;
  private readonly lowercase: boolean;
  private readonly pre: PreTokenizer;
  private readonly ignoreMerges: boolean;
  private readonly cache = new Map<string, number[]>();
  private readonly queue = new BigramQueue(64);
  private readonly symbols = new SymbolList();

  constructor(vocab: BpeVocab, opts: BpeOptions = {}) {
    super(vocab);
    // "a b" → rank; the first occurrence of a pair wins (llama.cpp's emplace). llama.cpp splits
    // at the first space after the first character; rules without such a space never match.
    const merges = vocab.merges;
    this.pairRanks = new PairTable(merges.length);
    this.merges = merges.slice(); // result texts are looked up on first use
    this.mergeResult = new Int32Array(merges.length).fill(-2);
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
    }
    for (let c = 0; c < 512; c++) this.charId[c] = this.toId.get(String.fromCharCode(c)) ?? NO_TOKEN;
    for (let b = 0; b < 256; b++) this.byteId[b] = this.toId.get(byteTokenText(b)) ?? NO_TOKEN;

    const model = vocab.model ?? 'gpt2';
    const spec = preTokenizerSpec(model === 'gemma4' ? 'gemma4' : vocab.pre, opts.warn ?? defaultWarn);
    this.preTokenizer = spec;
    this.pre = new PreTokenizer(spec);
    this.ignoreMerges = spec.ignoreMerges;
    this.cleanSpaces = spec.cleanSpaces;
    this.byteEncode = spec.byteEncode;
    this.escapeWhitespaces = spec.escapeWhitespaces;
    this.gemma4 = spec.gemma4;
    this.dropWhitespace = model === 'whitespace';
    this.lowercase = vocab.lowercase ?? spec.name !== 'whitespace';
    this.addSpacePrefix = vocab.addSpacePrefix ?? false;

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
      else if (this.dropWhitespace) this.encodeNonSpace(this.escapeWhitespaces ? f.replaceAll(' ', ESCAPED_SPACE) : f, out);
      else this.encodeText(this.escapeWhitespaces ? f.replaceAll(' ', ESCAPED_SPACE) : f, out);
    }
    if (addSpecial && this.addEos) out.push(this.eosId);
    return out;
  }

  /** llama.cpp's `llm_tokenizer_whitespace_session`: each run of non-whitespace (lowercased when asked) on its own. */
  private encodeNonSpace(text: string, out: number[]): void {
    let seg = '';
    for (const ch of text) {
      const cp = ch.codePointAt(0)!;
      if (isWhitespaceCp(cp)) {
        if (seg !== '') this.encodeText(seg, out);
        seg = '';
      } else seg += this.lowercase ? String.fromCodePoint(toLowerCp(cp)) : ch;
    }
    if (seg !== '') this.encodeText(seg, out);
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
        ids = this.encodeWord(this.byteEncode ? byteEncode(cps, p, p + w) : key);
        if (cache.size >= CACHE_LIMIT) cache.clear();
        cache.set(key, ids);
      }
      for (let k = 0; k < ids.length; k++) out.push(ids[k]!);
      p += w;
    }
  }

  /**
   * The merges over one word, byte-encoded or raw (llama.cpp's `llm_tokenizer_bpe_session::tokenize`
   * inner loop). Symbols start as code points; byte characters are all one UTF-16 unit.
   */
  private encodeWord(word: string): number[] {
    const out: number[] = [];
    if (this.ignoreMerges) {
      const id = this.toId.get(word);
      if (id !== undefined) return [id];
    } else if (this.gemma4 && /^\n+$/.test(word)) {
      // Gemma 4: a run of newlines that is a token is that token.
      const id = this.toId.get(word);
      if (id !== undefined) return [id];
    }
    if (word.length === 0) return out;
    const charId = this.charId;
    const count = this.symbols.split(word, 0, word.length, (c, i, w) => (w === 1 && c < 512 ? charId[c]! : (this.toId.get(word.substr(i, w)) ?? NO_TOKEN)));
    const { start, len, prev, next, id: sym } = this.symbols;

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
        const r = -score;
        if (mergeResult[r] === -2) {
          const m = this.merges[r]!;
          const sp = m.indexOf(' ', 1);
          mergeResult[r] = this.toId.get(m.slice(0, sp) + m.slice(sp + 1)) ?? NO_TOKEN;
        }
        sym[l] = mergeResult[r]!;
      });
    }

    for (let i = 0; i !== -1; i = next[i]!) {
      if (sym[i]! >= 0) {
        out.push(sym[i]!);
        continue;
      }
      if (!this.byteEncode) {
        // Raw text: the `<0xXX>` tokens of its UTF-8 bytes (bytes without one are dropped).
        for (const b of utf8Encode(word.substr(start[i]!, len[i]!))) if (this.byteId[b]! !== NO_TOKEN) out.push(this.byteId[b]!);
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
    // Without escaped spaces llama.cpp decodes byte characters even for raw-text merges ("whitespace").
    return tokenPiece(this.attrs[id]!, this.tokens[id]!, this.escapeWhitespaces ? unescapeSpaces : byteDecode);
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
