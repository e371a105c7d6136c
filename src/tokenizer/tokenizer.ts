/**
 * What every tokenizer (SentencePiece, byte-level BPE) offers, and the split of
 * mixed input (template markup that may hold special tokens, user text that must not) into
 * token ids and raw text.
 */
import { TokenizerError } from './errors.js';
import type { SpecialIds, SpecialMatcher } from './special.js';
import type { PieceSource } from './stream.js';
import { toWellFormed } from './utf8.js';

export interface EncodeOptions {
  /** Add BOS/EOS as the vocabulary asks (`add_bos_token`, `add_eos_token`). Default true. */
  addSpecial?: boolean;
  /** Turn control/unknown token texts in the input (e.g. "<|im_start|>") into those tokens. Default false.
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
  /**
   * BPE and WordPiece: remove spaces before `?!.,` and in contractions as llama.cpp's detokenizer
   * does for vocabularies with clean_up_tokenization_spaces. Default: the vocabulary's setting.
   * Pass false to get exactly the text that was encoded back.
   */
  cleanSpaces?: boolean;
}

/** A piece of input to encode: `parseSpecial` says whether special-token texts in it become tokens. */
export interface EncodeSegment {
  text: string;
  parseSpecial: boolean;
}

export interface Tokenizer extends PieceSource {
  readonly kind: 'spm' | 'bpe' | 'wpm';
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  /** End of turn (given, or found by text such as `<|im_end|>`); -1 when none. */
  readonly eotId: number;
  /** Special-token ids (BOS, EOS, EOT, FIM prefix/suffix/middle/...), as llama.cpp resolves them; -1 when none. */
  readonly specialIds: Readonly<SpecialIds>;
  readonly addBos: boolean;
  readonly addEos: boolean;
  /** SentencePiece: a space is prepended to the text (not part of the user's text). */
  readonly addSpacePrefix: boolean;
  encode(text: string, opts?: EncodeOptions): number[];
  /** Encodes consecutive segments as one text, matching special tokens only where a segment allows it. */
  encodeSegments(segments: readonly EncodeSegment[], opts?: { addSpecial?: boolean }): number[];
  decode(ids: readonly number[], opts?: DecodeOptions): string;
  decodeBytes(ids: readonly number[], opts?: DecodeOptions): Uint8Array;
  tokenToPiece(id: number, opts?: PieceOptions): string;
  tokenToPieceBytes(id: number, opts?: PieceOptions): Uint8Array;
  /** The token's text as stored in the vocabulary. */
  tokenText(id: number): string;
  textToToken(text: string): number | undefined;
  tokenAttr(id: number): number;
  isEog(id: number): boolean;
  isControl(id: number): boolean;
  readonly eogIds: number[];
  /** Texts of the tokens matched only with parseSpecial (control and unknown), longest first. */
  controlTokenTexts(): string[];
}

/** A token id, or raw text to run through the tokenizer's model. */
export type Fragment = number | string;

/**
 * Splits segments around special tokens (each with its own `parseSpecial`) and joins raw text
 * that touches across segment boundaries, so segmenting never changes how plain text is cut.
 */
export function segmentFragments(segments: readonly EncodeSegment[], specials: SpecialMatcher): Fragment[] {
  const out: Fragment[] = [];
  for (const seg of segments) {
    const text = toWellFormed(seg.text);
    for (const f of specials.partition(text, seg.parseSpecial)) {
      if (f.token !== -1) {
        out.push(f.token);
        continue;
      }
      const s = text.slice(f.start, f.end);
      const last = out.length - 1;
      if (last >= 0 && typeof out[last] === 'string') out[last] = (out[last] as string) + s;
      else out.push(s);
    }
  }
  return out;
}

/** Skips up to `lstrip` leading spaces of a piece. */
export function lstripPiece(p: Uint8Array, lstrip: number): Uint8Array {
  let k = 0;
  while (k < lstrip && k < p.length && p[k] === 0x20) k++;
  return k > 0 ? p.subarray(k) : p;
}

type PieceTokenizer = Pick<Tokenizer, 'addBos' | 'addEos' | 'bosId' | 'eosId' | 'addSpacePrefix' | 'tokenToPieceBytes'>;

/** The concatenated pieces of a token sequence (llama.cpp's `llama_detokenize` before space cleaning). */
export function joinPieces(tok: PieceTokenizer, ids: readonly number[], opts: DecodeOptions): Uint8Array {
  const special = opts.special ?? (opts.skipSpecial === undefined ? false : !opts.skipSpecial);
  let stripSpace = opts.stripLeadingSpace ?? tok.addSpacePrefix;
  let begin = 0;
  let end = ids.length;
  if (opts.removeSpecial && tok.addBos && end > 0 && ids[0] === tok.bosId) {
    stripSpace = false;
    begin++;
  }
  if (opts.removeSpecial && tok.addEos && end > begin && ids[end - 1] === tok.eosId) end--;

  const parts: Uint8Array[] = [];
  let total = 0;
  for (let i = begin; i < end; i++) {
    const p = tok.tokenToPieceBytes(ids[i]!, { special, lstrip: stripSpace ? 1 : 0 });
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

/**
 * Registers token `i`'s text in `toId` and returns it: an empty text becomes "[EMPTY_i]" and a
 * duplicate is refused, as in llama.cpp's vocabulary loader.
 */
export function addTokenText(t: unknown, i: number, toId: Map<string, number>): string {
  if (typeof t !== 'string') throw new TokenizerError('BAD_VALUE', `token ${i} is not a string`);
  const text = t.length === 0 ? `[EMPTY_${i}]` : t;
  const prev = toId.get(text);
  if (prev !== undefined) {
    throw new TokenizerError('DUPLICATE_TOKEN', `duplicate token in vocabulary: '${text}' has ids ${prev} and ${i}`);
  }
  toId.set(text, i);
  return text;
}

const SP = 0x20,
  QUOTE = 0x27;

/** llama.cpp's clean_spaces passes over detokenized bytes (in place). */
export function cleanSpaces(t: Uint8Array): Uint8Array {
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
