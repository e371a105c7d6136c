import { TokenizerError } from './errors.js';
import type { SpecialIds } from './special.js';

/** `tokenizer.ggml.token_type` values (llama.cpp's `llama_token_type`). */
export const TokenType = {
  UNDEFINED: 0,
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

/** "No such token" (llama.cpp's LLAMA_TOKEN_NULL). */
export const NO_TOKEN = -1;

/** SentencePiece's stand-in for a space in token texts (U+2581). */
export const ESCAPED_SPACE = '\u2581';

/** The text of a byte token: "<0x0A>". */
export function byteTokenText(b: number): string {
  const hex = '0123456789ABCDEF';
  return `<0x${hex[(b >> 4) & 15]}${hex[b & 15]}>`;
}

/**
 * A SentencePiece vocabulary as plain data, independent of GGUF.
 * Token ids that a model does not have are `NO_TOKEN` (-1) or left out.
 */
export interface SpmVocab {
  tokens: string[];
  /** One score per token (merge priority: higher merges first). */
  scores: Float32Array | Int32Array | number[];
  /** One `TokenType` per token. */
  tokenTypes: Int32Array | number[];
  bosId: number;
  eosId: number;
  unkId: number;
  padId?: number;
  /** End of turn; when absent it is found by text (`<|eot_id|>`, `<|end|>`, ...) as llama.cpp does. */
  eotId?: number;
  /** End of message; when absent `<|eom_id|>` is looked up by text. */
  eomId?: number;
  sepId?: number;
  maskId?: number;
  /** Fill-in-the-middle ids; when absent they are looked up by text. pad/rep/sep end generation. */
  fimPreId?: number;
  fimSufId?: number;
  fimMidId?: number;
  fimPadId?: number;
  fimRepId?: number;
  fimSepId?: number;
  addBos: boolean;
  addEos: boolean;
  /** Prepend a space ("▁") to text at the start and after special tokens. */
  addSpacePrefix: boolean;
  /** `general.name`; llama.cpp changes special-token attributes for names containing "phi-3"/"phi3". */
  name?: string;
}

type Getter = (key: string) => unknown;

const K = 'tokenizer.ggml.';

/** Accept either a raw value or a GGUF reader's `{ type, value }` wrapper. */
export function unwrap(v: unknown): unknown {
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v) && 'value' in v && 'type' in v && typeof (v as { type: unknown }).type === 'number') {
    return (v as { value: unknown }).value;
  }
  return v;
}

export function optString(get: Getter, key: string): string | undefined {
  const v = unwrap(get(key));
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new TokenizerError('BAD_VALUE', `${key} must be a string`, key);
  return v;
}

export function optBool(get: Getter, key: string): boolean | undefined {
  const v = unwrap(get(key));
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new TokenizerError('BAD_VALUE', `${key} must be a bool`, key);
  return v;
}

/** An unsigned id, or undefined when missing. Non-integers are rejected. */
export function optId(get: Getter, key: string): number | undefined {
  const v = unwrap(get(key));
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'bigint') return v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : -1;
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    throw new TokenizerError('BAD_VALUE', `${key} must be an integer token id`, key);
  }
  return v;
}

export function numericArray(v: unknown, key: string, n: number, ints: boolean): Float32Array | Int32Array | number[] {
  let out: Float32Array | Int32Array | number[];
  if (v instanceof Float32Array || v instanceof Int32Array) {
    if (ints && v instanceof Float32Array) {
      throw new TokenizerError('BAD_VALUE', `${key} must be an array of integers`, key);
    }
    out = v;
  } else if (Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView) && !(v instanceof BigInt64Array) && !(v instanceof BigUint64Array))) {
    const a = Array.from(v as ArrayLike<unknown>);
    for (const x of a) {
      if (typeof x !== 'number' || (ints && !Number.isInteger(x))) {
        throw new TokenizerError('BAD_VALUE', `${key} must be an array of ${ints ? 'integers' : 'numbers'}`, key);
      }
    }
    out = a as number[];
  } else {
    throw new TokenizerError('BAD_VALUE', `${key} must be a numeric array`, key);
  }
  if (out.length < n) {
    throw new TokenizerError('BAD_VALUE', `${key} has ${out.length} entries but there are ${n} tokens`, key);
  }
  return out;
}

/**
 * Reads a SentencePiece ("llama") vocabulary from GGUF metadata, applying llama.cpp's
 * defaults: BOS 1, EOS 2, UNK 0 (each disabled when out of range), add_bos true,
 * add_eos false, add_space_prefix true, scores 0 and token types NORMAL when absent.
 * An id key whose value is out of range is ignored (the default stays), as in llama.cpp.
 *
 * `get(key)` may return the raw value or the reader's `{ type, value }`.
 * @throws TokenizerError for a missing or malformed vocabulary.
 */
export function vocabFromMetadata(get: Getter): SpmVocab {
  const model = optString(get, K + 'model');
  if (model === undefined) throw new TokenizerError('MISSING_KEY', `${K}model is missing`, K + 'model');
  if (model !== 'llama') {
    throw new TokenizerError('UNSUPPORTED_MODEL', `tokenizer model '${model}' is not a SentencePiece ("llama") vocabulary`, K + 'model');
  }

  const rawTokens = unwrap(get(K + 'tokens'));
  if (rawTokens === undefined || rawTokens === null) {
    throw new TokenizerError('MISSING_KEY', `${K}tokens is missing`, K + 'tokens');
  }
  if (!Array.isArray(rawTokens) || !rawTokens.every((t) => typeof t === 'string')) {
    throw new TokenizerError('BAD_VALUE', `${K}tokens must be an array of strings`, K + 'tokens');
  }
  const tokens = rawTokens as string[];
  const n = tokens.length;
  if (n === 0) throw new TokenizerError('BAD_VALUE', `${K}tokens is empty`, K + 'tokens');

  const rawScores = unwrap(get(K + 'scores'));
  const scores = rawScores === undefined || rawScores === null ? new Float32Array(n) : numericArray(rawScores, K + 'scores', n, false);
  const rawTypes = unwrap(get(K + 'token_type'));
  const tokenTypes = rawTypes === undefined || rawTypes === null ? new Int32Array(n).fill(TokenType.NORMAL) : (numericArray(rawTypes, K + 'token_type', n, true) as Int32Array | number[]);

  const vocab: SpmVocab = {
    tokens,
    scores,
    tokenTypes,
    ...readSpecialIds(get, n, { bos: 1, eos: 2, unk: 0 }),
    addBos: optBool(get, K + 'add_bos_token') ?? true,
    addEos: optBool(get, K + 'add_eos_token') ?? false,
    addSpacePrefix: optBool(get, K + 'add_space_prefix') ?? true,
  };
  const name = optString(get, 'general.name');
  if (name !== undefined) vocab.name = name;
  checkAddSpecial(vocab);
  return vocab;
}

/** The special-token ids a GGUF file may give. */
export type SpecialIdKeys = SpecialIds & { padId: number; sepId: number; maskId: number };

/**
 * Reads every `tokenizer.ggml.*_token_id` key; `defaults` are the tokenizer type's BOS/EOS/UNK.
 * Ids out of range are ignored (the default stays), as in llama.cpp.
 */
export function readSpecialIds(get: Getter, n: number, defaults: { bos: number; eos: number; unk: number }): SpecialIdKeys {
  const id = (key: string, def: number): number => {
    const d = def >= 0 && def < n ? def : NO_TOKEN;
    const v = optId(get, K + key);
    if (v === undefined || v < 0 || v >= n) return d;
    return v;
  };
  return {
    bosId: id('bos_token_id', defaults.bos),
    eosId: id('eos_token_id', defaults.eos),
    unkId: id('unknown_token_id', defaults.unk),
    padId: id('padding_token_id', NO_TOKEN),
    eotId: id('eot_token_id', NO_TOKEN),
    eomId: id('eom_token_id', NO_TOKEN),
    sepId: id('seperator_token_id', NO_TOKEN),
    maskId: id('mask_token_id', NO_TOKEN),
    // The deprecated prefix/suffix/middle keys win over fim_*, as in llama.cpp (read later).
    fimPreId: id('prefix_token_id', id('fim_pre_token_id', NO_TOKEN)),
    fimSufId: id('suffix_token_id', id('fim_suf_token_id', NO_TOKEN)),
    fimMidId: id('middle_token_id', id('fim_mid_token_id', NO_TOKEN)),
    fimPadId: id('fim_pad_token_id', NO_TOKEN),
    fimRepId: id('fim_rep_token_id', NO_TOKEN),
    fimSepId: id('fim_sep_token_id', NO_TOKEN),
  };
}

/** llama.cpp refuses a vocabulary that asks for BOS/EOS without having one. */
export function checkAddSpecial(v: Pick<SpmVocab, 'addBos' | 'addEos' | 'bosId' | 'eosId'>): void {
  if (v.addBos && v.bosId < 0) {
    throw new TokenizerError('MISSING_SPECIAL_TOKEN', `${K}add_bos_token is true, but ${K}bos_token_id is not set`, K + 'bos_token_id');
  }
  if (v.addEos && v.eosId < 0) {
    throw new TokenizerError('MISSING_SPECIAL_TOKEN', `${K}add_eos_token is true, but ${K}eos_token_id is not set`, K + 'eos_token_id');
  }
}
