/**
 * WordPiece ("bert" GGUF tokenizer model), reproducing llama.cpp's `llm_tokenizer_wpm` and the
 * WPM paths of `llama_vocab::impl::tokenize`, `token_to_piece` and `detokenize`.
 *
 * llama.cpp's converter stores a word-initial piece with a leading "\u2581" and a continuation
 * piece ("##ing" in BERT's vocabulary) bare. Encoding: split the text around special tokens;
 * normalize each text fragment as BERT does (each code point replaced by the first code point of
 * its NFD form when accents are stripped, then marks dropped; control characters dropped;
 * lowercased) and cut it into words at whitespace, with every punctuation mark, ASCII symbol and
 * CJK ideograph a word of its own; cover "\u2581" + word greedily with the longest tokens from the
 * left, and a word that cannot be covered is the unknown token. With special tokens the result
 * is wrapped in BOS ([CLS]) and SEP ([SEP]).
 *
 * The NFD and lowercase mappings come from the JavaScript engine's Unicode tables, llama.cpp's
 * from its generated ones; they agree on code points both Unicode versions assign (see unicode.ts).
 */
import { tokenPiece, unescapeSpaces, VocabTokenizer, type BaseVocab } from './base.js';
import { TokenizerError } from './errors.js';
import { segmentFragments, type EncodeSegment } from './tokenizer.js';
import { CpFlag, cpFlags, inRanges, toLowerCp } from './unicode.js';
import { checkAddSpecial, ESCAPED_SPACE, NO_TOKEN, numericArray, optBool, readSpecialIds, unwrap } from './vocab.js';

const K = 'tokenizer.ggml.';

/** A WordPiece vocabulary as plain data, independent of GGUF. Token types default to NORMAL. */
export interface WpmVocab extends BaseVocab {
  /** [SEP], added after the text with special tokens. */
  sepId: number;
  maskId?: number;
  /** BertNormalizer: lowercase (default true). */
  lowercase?: boolean;
  /** BertNormalizer: strip accents (default: as `lowercase`). */
  stripAccents?: boolean;
  /** Detokenization drops one leading space (`tokenizer.ggml.add_space_prefix`). Default false. */
  addSpacePrefix?: boolean;
}

/**
 * Reads a WordPiece vocabulary from GGUF metadata with llama.cpp's defaults for "bert":
 * BOS ([CLS]) 101, no EOS, UNK 100, SEP 102, PAD 0, MASK 103 (each disabled when out of range),
 * add_bos true, add_eos false, lowercase and accent stripping on.
 * @throws TokenizerError for a missing or malformed vocabulary.
 */
export function wpmVocabFromMetadata(get: (key: string) => unknown): WpmVocab {
  const tokens = unwrap(get(K + 'tokens'));
  if (tokens === undefined || tokens === null) throw new TokenizerError('MISSING_KEY', `${K}tokens is missing`, K + 'tokens');
  if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === 'string')) {
    throw new TokenizerError('BAD_VALUE', `${K}tokens must be an array of strings`, K + 'tokens');
  }
  const n = tokens.length;
  if (n === 0) throw new TokenizerError('BAD_VALUE', `${K}tokens is empty`, K + 'tokens');
  const rawTypes = unwrap(get(K + 'token_type'));
  const ids = readSpecialIds(get, n, { bos: 101, eos: NO_TOKEN, unk: 100 });
  // An id missing or out of range keeps the default (which is itself disabled when out of range).
  const orDefault = (id: number, def: number): number => (id !== NO_TOKEN ? id : def < n ? def : NO_TOKEN);
  const lowercase = optBool(get, K + 'normalizer.lowercase') ?? true;
  const vocab: WpmVocab = {
    tokens: tokens as string[],
    ...ids,
    sepId: orDefault(ids.sepId, 102),
    padId: orDefault(ids.padId, 0),
    maskId: orDefault(ids.maskId, 103),
    addBos: optBool(get, K + 'add_bos_token') ?? true,
    addEos: optBool(get, K + 'add_eos_token') ?? false,
    lowercase,
    stripAccents: optBool(get, K + 'normalizer.strip_accents') ?? lowercase,
    addSpacePrefix: optBool(get, K + 'add_space_prefix') ?? false,
  };
  if (rawTypes !== undefined && rawTypes !== null) vocab.tokenTypes = numericArray(rawTypes, K + 'token_type', n, true) as Int32Array | number[];
  checkAddSpecial(vocab);
  return vocab;
}

/** The CJK ranges of BERT's `_is_chinese_char` (with its 0x2B920 start of Extension E, as llama.cpp copies it). */
const CHINESE_RANGES: ReadonlyArray<readonly [number, number]> = [
  [0x4e00, 0x9fff],
  [0x3400, 0x4dbf],
  [0x20000, 0x2a6df],
  [0x2a700, 0x2b73f],
  [0x2b740, 0x2b81f],
  [0x2b920, 0x2ceaf],
  [0xf900, 0xfaff],
  [0x2f800, 0x2fa1f],
];

const nfdFirst = new Map<number, number>();
/** The first code point of the NFD form (llama.cpp's `unicode_cpts_normalize_nfd` maps one code point to one). */
function nfdFirstCp(cp: number): number {
  if (cp < 0xc0) return cp;
  let v = nfdFirst.get(cp);
  if (v === undefined) nfdFirst.set(cp, (v = String.fromCodePoint(cp).normalize('NFD').codePointAt(0)!));
  return v;
}

export class WpmTokenizer extends VocabTokenizer {
  readonly kind = 'wpm' as const;
  readonly addSpacePrefix: boolean;
  override readonly cleanSpaces = true;
  readonly sepId: number;
  readonly maskId: number;
  private readonly lowercase: boolean;
  private readonly stripAccents: boolean;
  /** Longest token text in UTF-16 units. */
  private readonly maxTokenLength: number;

  constructor(vocab: WpmVocab) {
    super(vocab);
    const ok = (id: number | undefined): number => (id !== undefined && Number.isInteger(id) && id >= 0 && id < this.vocabSize ? id : NO_TOKEN);
    this.sepId = ok(vocab.sepId);
    this.maskId = ok(vocab.maskId);
    this.lowercase = vocab.lowercase ?? true;
    this.stripAccents = vocab.stripAccents ?? this.lowercase;
    this.addSpacePrefix = vocab.addSpacePrefix ?? false;
    let maxLen = 0;
    for (const t of this.tokens) if (t.length > maxLen) maxLen = t.length;
    this.maxTokenLength = maxLen;
    this.cachePieces();
  }

  /** Builds a tokenizer from GGUF metadata (`get(key)` returns the value or `{ type, value }`). */
  static fromMetadata(get: (key: string) => unknown): WpmTokenizer {
    return new WpmTokenizer(wpmVocabFromMetadata(get));
  }

  /** The words BERT's normalizer cuts `text` into (before the "\u2581" prefix). */
  words(text: string): string[] {
    const words: string[] = [];
    let word = '';
    for (const ch of text) {
      let cp = ch.codePointAt(0)!;
      if (this.stripAccents) cp = nfdFirstCp(cp);
      const f = cpFlags(cp);
      if (f & CpFlag.WHITESPACE) {
        if (word !== '') words.push(word);
        word = '';
        continue;
      }
      if (cp === 0 || cp === 0xfffd || f & CpFlag.CONTROL) continue;
      if (this.stripAccents && f & CpFlag.MARK) continue;
      const s = String.fromCodePoint(this.lowercase ? toLowerCp(cp) : cp);
      if (f & CpFlag.PUNCTUATION || (cp < 0x7f && f & CpFlag.SYMBOL) || inRanges(cp, CHINESE_RANGES)) {
        if (word !== '') words.push(word);
        words.push(s);
        word = '';
      } else word += s;
    }
    if (word !== '') words.push(word);
    return words;
  }

  encodeSegments(segments: readonly EncodeSegment[], opts: { addSpecial?: boolean } = {}): number[] {
    const addSpecial = opts.addSpecial ?? true;
    const out: number[] = [];
    // llama.cpp adds [CLS] and [SEP] with special tokens whatever add_bos says.
    if (addSpecial) out.push(this.required(this.bosId, 'bos_token_id'));
    for (const f of segmentFragments(segments, this.specials)) {
      if (typeof f === 'number') out.push(f);
      else for (const w of this.words(f)) this.encodeWord(ESCAPED_SPACE + w, out);
    }
    if (addSpecial) out.push(this.required(this.sepId, 'seperator_token_id'));
    return out;
  }

  private required(id: number, key: string): number {
    if (id === NO_TOKEN) throw new TokenizerError('MISSING_SPECIAL_TOKEN', `adding special tokens needs ${K}${key}, which is not set`, K + key);
    return id;
  }

  /** Longest tokens first from the left; a word they cannot cover is the unknown token. */
  private encodeWord(word: string, out: number[]): void {
    const at = out.length;
    const n = word.length;
    for (let i = 0; i < n; ) {
      let j = Math.min(n, i + this.maxTokenLength);
      let id: number | undefined;
      for (; j > i; j--) if ((id = this.toId.get(word.slice(i, j))) !== undefined) break;
      if (id === undefined) {
        out.length = at;
        if (this.unkId === NO_TOKEN) throw new TokenizerError('MISSING_SPECIAL_TOKEN', `no tokens cover the word "${word.slice(1)}" and ${K}unknown_token_id is not set`, K + 'unknown_token_id');
        out.push(this.unkId);
        return;
      }
      out.push(id);
      i = j;
    }
  }

  protected computePiece(id: number): Uint8Array {
    return tokenPiece(this.attrs[id]!, this.tokens[id]!, unescapeSpaces);
  }
}
