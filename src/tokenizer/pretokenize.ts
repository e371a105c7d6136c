/**
 * Pre-tokenizers for byte-level BPE: the text is cut into words before merges, with the
 * regular expressions llama.cpp applies for each `tokenizer.ggml.pre` value
 * (`llm_tokenizer_bpe` in llama-vocab.cpp, `unicode_regex_split` in unicode.cpp).
 *
 * Several expressions are applied in turn, each one cutting the pieces the previous one made.
 * Text an expression does not match is kept as its own piece. As in llama.cpp:
 * - the GPT-2 and Llama 3 expressions and `\p{N}` run as hand-written scanners over code
 *   point classes (llama.cpp's "custom" splitters, whose behaviour is the reference);
 * - other expressions that use `\p{...}` run on a "collapsed" text in which every non-ASCII
 *   code point stands for its class (letter, number, punctuation, mark, symbol, other) and
 *   non-ASCII whitespace is a vertical tab;
 * - expressions without `\p{...}` run on the code points themselves, non-ASCII whitespace
 *   again replaced by a vertical tab. `\s` means ASCII whitespace only (C++ std::regex).
 */
import { TokenizerError } from './errors.js';
import { CpFlag, cpFlags, inRanges, toLowerCp } from './unicode.js';

/** The GPT-2 expression (llama.cpp runs its own scanner for exactly this string). */
export const GPT2_REGEX = String.raw`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`;
/** Llama 3 (case-insensitive contractions spelled out, as llama.cpp adapts it). */
export const LLAMA3_REGEX = String.raw`(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
const QWEN2_REGEX = String.raw`(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`;
const DIGIT_REGEX = String.raw`\p{N}`;
const BLOOM_REGEX = ' ?[^(\\s|.,!?…。，、।۔،)]+';
/** Kimi K2: llama.cpp runs one scanner for all of its expressions when it sees this one. */
const HAN_REGEX = String.raw`\p{Han}+`;
/** Digit runs cut into groups of three from the right (llama.cpp's AFMoE scanner; Tiny Aya's expression maps to it too). */
const AFMOE_DIGITS_REGEX = String.raw`\p{AFMoE_digits}`;
const TINY_AYA_DIGITS_REGEX = String.raw`\d{1,3}(?=(?:\d{3})*\b)`;

/** What a `tokenizer.ggml.pre` value selects: expressions and the vocabulary flags llama.cpp sets with it. */
export interface PreTokenizerSpec {
  /** The `pre` value ("default" when the file gives none). */
  readonly name: string;
  readonly regexes: readonly string[];
  /** Words that are whole tokens skip the merges (llama.cpp's ignore_merges). */
  readonly ignoreMerges: boolean;
  /** Detokenization removes spaces before punctuation (clean_up_tokenization_spaces). */
  readonly cleanSpaces: boolean;
  /** Default for add_bos_token when the file does not say. */
  readonly addBos: boolean;
  /** The BOS id when the file gives none: 11 for byte-level BPE, none for GLM-4. */
  readonly defaultBos: boolean;
  /**
   * Words are written as GPT-2 byte characters before the merges (llama.cpp's byte_encode).
   * When false the merges run on the raw text, one symbol per code point, and a symbol that is
   * not a token falls back to `<0xXX>` byte tokens.
   */
  readonly byteEncode: boolean;
  /** Spaces become "\u2581" before pre-tokenization, and back in detokenization (escape_whitespaces). */
  readonly escapeWhitespaces: boolean;
  /**
   * Gemma 4's rules (llama.cpp's pre type GEMMA4): a word of newlines that is a token is taken
   * whole, and add_bos is always on.
   */
  readonly gemma4: boolean;
}

interface SpecInit {
  regexes: string[];
  ignoreMerges?: boolean;
  cleanSpaces?: boolean;
  addBos?: boolean;
  defaultBos?: boolean;
  byteEncode?: boolean;
  escapeWhitespaces?: boolean;
  gemma4?: boolean;
}

const DEFAULT: SpecInit = {
  regexes: [String.raw`[\p{P}\$\+<=>\^~\|]+`, GPT2_REGEX, String.raw`\p{N}+`, '[0-9][0-9][0-9]'],
};
const GPT2: SpecInit = { regexes: [GPT2_REGEX] };
const LLAMA3: SpecInit = { regexes: [LLAMA3_REGEX], ignoreMerges: true, addBos: true };
const STARCODER: SpecInit = { regexes: [DIGIT_REGEX, GPT2_REGEX] };
const CONTRACTIONS = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";
const GPT4O: SpecInit = {
  regexes: [
    String.raw`[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+` +
      CONTRACTIONS +
      String.raw`?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*` +
      CONTRACTIONS +
      String.raw`?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
  ],
  cleanSpaces: false,
};
const BAILINGMOE: SpecInit = {
  regexes: [String.raw`'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+`],
  cleanSpaces: false,
};

// Expressions of newer pre-tokenizers, as llama.cpp's llama-vocab.cpp spells them (non-ASCII escaped).
const DEEPSEEK3_LLM_REGEXES = [
  '\\p{N}{1,3}',
  '[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+',
  '[!"#$%&\'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+',
];
const SPARK2_5_REGEXES = [
  '\\p{N}{1,3}',
  '[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+',
  '[!"#$%&\'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+|[\r\n]|\\s+(?!\\S)|\\s+',
  '\\p{N}',
];
const YOUTU_REGEXES = [
  '[\uac00-\ud7a3\u3131-\u318e]+|[\uff01\u2026\u201c\u201d\u2018\u2019\u2014\uff1a\uff1b\uff0c\u3001-\u303f\ufe30-\ufe4f]+|[\u3105-\u312f]+|[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+',
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
];
const AFMOE_REGEXES = [
  '\\p{AFMoE_digits}',
  '[\u4e00-\u9fff\u3400-\u4dbf\u8c48-\ufaff\u3040-\u309f\u30a0-\u30ff\uff65-\uff9f\u2f00-\u2fdf\u0e40-\u0e7f\u0e80-\u0eff\u1780-\u17ff\u1000-\u109f\uaa60-\uaa7f\ua9e0-\ua9ff\uac00-\ud7af\u1100-\u11ff]+',
  '[!"#$%&\'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+',
];
const TINY_AYA_REGEXES = [
  '\\d{1,3}(?=(?:\\d{3})*\\b)',
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
];
const GRANITE_EMB_MULTI_REGEXES = [
  "[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))*((?=[\\p{L}\\p{M}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}\\p{M}])([^a-z]))+((?=[\\p{L}\\p{M}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
];

/** Lines and runs of newlines (Laguna; Gemma 4 and Sarvam, whose merges never cross a newline). */
const NEWLINE_RUNS_REGEX = '[^\\n]+|[\\n]+';
const GEMMA4: SpecInit = { regexes: [NEWLINE_RUNS_REGEX], byteEncode: false, escapeWhitespaces: true, gemma4: true };

const SPECS: Record<string, SpecInit> = {
  default: DEFAULT,
  // Llama 3 family
  llama3: LLAMA3,
  'llama-v3': LLAMA3,
  'llama-bpe': LLAMA3,
  falcon3: LLAMA3,
  'falcon-h1': LLAMA3,
  pixtral: LLAMA3,
  'midm-2.0': LLAMA3,
  lfm2: LLAMA3,
  'jina-v5-nano': LLAMA3,
  dbrx: { regexes: [LLAMA3_REGEX] },
  'smaug-bpe': { regexes: [LLAMA3_REGEX] },
  // GPT-2 family
  'gpt-2': GPT2,
  'phi-2': GPT2,
  'jina-es': GPT2,
  'jina-de': GPT2,
  gigachat: GPT2,
  'jina-v2-es': GPT2,
  'jina-v2-de': GPT2,
  'a.x-4.0': GPT2,
  mellum: GPT2,
  'modern-bert': GPT2,
  exaone4: GPT2,
  mpt: GPT2,
  olmo: GPT2,
  jais: GPT2,
  // GPT-2 rules; llama.cpp also sets add_sep for these (used by embedding callers, not by tokenize)
  'jina-v1-en': GPT2,
  'jina-v2-code': GPT2,
  'roberta-bpe': GPT2,
  // Not a llama.cpp name; GPT-NeoX tokenizers use the GPT-2 expression.
  'gpt-neox': GPT2,
  trillion: { regexes: [GPT2_REGEX], cleanSpaces: false },
  'granite-docling': { regexes: [GPT2_REGEX], cleanSpaces: false },
  // digits one by one, then GPT-2
  starcoder: STARCODER,
  refact: STARCODER,
  codeshell: STARCODER,
  exaone: STARCODER,
  'minerva-7b': STARCODER,
  mellum2: STARCODER,
  smollm: { regexes: [DIGIT_REGEX, GPT2_REGEX], cleanSpaces: false },
  'command-r': { regexes: [DIGIT_REGEX, GPT2_REGEX], cleanSpaces: false },
  falcon: {
    regexes: [String.raw`[\p{P}\$\+<=>\^~\|` + '`' + ']+', GPT2_REGEX, '[0-9][0-9][0-9]'],
  },
  qwen2: { regexes: [QWEN2_REGEX], cleanSpaces: false },
  f2llmv2: { regexes: [QWEN2_REGEX], cleanSpaces: false },
  // Qwen 3.5: letters and combining marks together
  qwen35: {
    regexes: [CONTRACTIONS + String.raw`|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`],
    cleanSpaces: false,
  },
  'deepseek-r1-qwen': { regexes: [QWEN2_REGEX], cleanSpaces: false },
  stablelm2: { regexes: [QWEN2_REGEX] },
  megrez: { regexes: [QWEN2_REGEX] },
  // Written with escapes: canonically equivalent characters (U+1F7D, U+1FBE, U+2126, U+212A, ...)
  // would otherwise be at risk of normalization by editors.
  'deepseek-llm': {
    regexes: [
      '[\r\n]',
      '\\s?[A-Za-z\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u01BA\u01BC-\u01BF\u01C4-\u0293\u0295-\u02AF\u0370-\u0373\u0376\u0377\u037B-\u037D\u037F\u0386\u0388-\u038A\u038C\u038E-\u03A1\u03A3-\u03F5\u03F7-\u0481\u048A-\u052F\u0531-\u0556\u10A0-\u10C5\u13A0-\u13F5\u13F8-\u13FD\u1C90-\u1CBA\u1CBD-\u1CBF\u1D00-\u1D2B\u1D6B-\u1D77\u1D79-\u1D9A\u1E00-\u1F15\u1F18-\u1F1D\u1F20-\u1F45\u1F48-\u1F4D\u1F50-\u1F57\u1F59\u1F5B\u1F5D\u1F5F-\u1F7D\u1F80-\u1FB4\u1FB6-\u1FBC\u1FBE\u1FC2-\u1FC4\u1FC6-\u1FCC\u1FD0-\u1FD3\u1FD6-\u1FDB\u1FE0-\u1FEC\u1FF2-\u1FF4\u1FF6-\u1FFC\u2102\u2107\u210A-\u2113\u2115\u2119-\u211D\u2124\u2126\u2128\u212A-\u212D\u212F-\u2134\u2139\u213C-\u213F\u2145-\u2149\u214E\u2183\u2184\u2C00-\u2C7B\u2C7E-\u2CE4\u2CEB-\u2CEE\u2CF2\u2CF3\uA640-\uA66D\uA680-\uA69B\uA722-\uA76F\uA771-\uA787\uA78B-\uA78E\uAB70-\uABBF\uFB00-\uFB06\uFB13-\uFB17\uFF21-\uFF3A\uFF41-\uFF5A\u{10400}-\u{1044F}\u{104B0}-\u{104D3}\u{104D8}-\u{104FB}\u{10C80}-\u{10CB2}\u{10CC0}-\u{10CF2}\u{118A0}-\u{118DF}\u{1E900}-\u{1E943}]+',
      '\\s?[!-/:-~！-／：-～‘-‟　-。]+',
      '\\s+$',
      '[一-龥ࠀ-一가-퟿]+',
      String.raw`\p{N}+`,
    ],
    cleanSpaces: false,
  },
  'deepseek-coder': {
    regexes: ['[\r\n]', String.raw`\s?\p{L}+`, String.raw`\s?\p{P}+`, '[一-龥ࠀ-一가-퟿]+', String.raw`\p{N}`],
    cleanSpaces: false,
  },
  'poro-chat': { regexes: [BLOOM_REGEX], cleanSpaces: false },
  bloom: { regexes: [BLOOM_REGEX] },
  'gpt3-finnish': { regexes: [BLOOM_REGEX] },
  viking: { regexes: [BLOOM_REGEX, DIGIT_REGEX], cleanSpaces: false },
  'seed-coder': {
    regexes: [String.raw`(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+`],
    cleanSpaces: false,
  },
  'grok-2': { regexes: [QWEN2_REGEX], cleanSpaces: false },
  hunyuan: { regexes: [QWEN2_REGEX], cleanSpaces: false },
  'solar-open': { regexes: [QWEN2_REGEX], cleanSpaces: false },
  kormo: { regexes: [QWEN2_REGEX], cleanSpaces: false },
  tekken: {
    regexes: [
      String.raw`[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
    ],
    cleanSpaces: false,
    ignoreMerges: true,
    addBos: true,
  },
  'gpt-4o': GPT4O,
  kanana2: GPT4O,
  talkie: GPT4O,
  'deepseek-v3': { regexes: DEEPSEEK3_LLM_REGEXES, cleanSpaces: false },
  'hunyuan-dense': { regexes: DEEPSEEK3_LLM_REGEXES, cleanSpaces: false },
  'joyai-llm': { regexes: DEEPSEEK3_LLM_REGEXES, cleanSpaces: false },
  hy_v4: { regexes: DEEPSEEK3_LLM_REGEXES, cleanSpaces: false },
  spark2_5: { regexes: SPARK2_5_REGEXES, cleanSpaces: false },
  youtu: { regexes: YOUTU_REGEXES, cleanSpaces: false, ignoreMerges: true },
  afmoe: { regexes: AFMOE_REGEXES, cleanSpaces: false },
  tiny_aya: { regexes: TINY_AYA_REGEXES, cleanSpaces: false },
  cohere2moe: { regexes: TINY_AYA_REGEXES, cleanSpaces: false },
  'granite-embed-multi-97m': { regexes: GRANITE_EMB_MULTI_REGEXES, cleanSpaces: false, ignoreMerges: true },
  'kimi-k2': { regexes: [HAN_REGEX], cleanSpaces: false },
  llama4: GPT4O,
  'minimax-m2': GPT4O,
  bailingmoe: BAILINGMOE,
  bailingmoe2: BAILINGMOE,
  'llada-moe': BAILINGMOE,
  ufakzeka: { regexes: [String.raw`[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`], cleanSpaces: false },
  superbpe: { regexes: [String.raw`\p{N}+`, String.raw`(?=(\d{3})+(?!\d))`], cleanSpaces: false },
  glm4: { regexes: [LLAMA3_REGEX], defaultBos: false },
  'chatglm-bpe': { regexes: [LLAMA3_REGEX], defaultBos: false },
  laguna: { regexes: [NEWLINE_RUNS_REGEX, QWEN2_REGEX], cleanSpaces: false },
  'jais-2': {
    regexes: [
      CONTRACTIONS +
        String.raw`|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s{512}(?!\S)|\s{256}(?!\S)|\s{128}(?!\S)|\s{64}(?!\S)|\s{32}(?!\S)|\s{16}(?!\S)|\s{8}(?!\S)|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1}`,
    ],
  },
  minicpm5: {
    regexes: [String.raw`\p{N}{1,3}`, CONTRACTIONS + String.raw`|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`],
    ignoreMerges: true,
  },
  'exaone-moe': {
    regexes: [CONTRACTIONS + String.raw`|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+`],
  },
  // Raw UTF-8 BPE. Gemma 4 and Sarvam: SentencePiece-style "\u2581" for spaces, cut only at newlines.
  gemma4: GEMMA4,
  'granite-embed-multi-311m': GEMMA4,
  'sarvam-moe': { regexes: [NEWLINE_RUNS_REGEX], byteEncode: false, escapeWhitespaces: true, cleanSpaces: false },
  // jina-embeddings-v2-base-zh: runs of non-space (the "whitespace" tokenizer model also drops the
  // spaces). With the "gpt2" model llama.cpp aborts on a run of whitespace holding a space (no merge
  // side may hold one); here such a run is merged like any word (no merge applies) instead.
  whitespace: { regexes: [String.raw`\S+`], byteEncode: false },
  chameleon: {
    regexes: ['<sentinel:[0-9]+>', '(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z', '([\t\n]|    |  )', DIGIT_REGEX, String.raw`[\p{P}!-/:-@\[-` + '`' + '{-~]', GPT2_REGEX],
    cleanSpaces: false,
    addBos: true,
  },
};

/** Names `preTokenizerSpec` knows, sorted. */
export const PRE_TOKENIZER_NAMES: readonly string[] = Object.keys(SPECS).sort();

/**
 * The pre-tokenizer for a `tokenizer.ggml.pre` value. A missing value means "default", as in
 * llama.cpp, which also warns then (so does `warn` here). An unknown value is a TokenizerError
 * naming it, as llama.cpp refuses unknown names.
 */
export function preTokenizerSpec(pre: string | undefined, warn: (message: string) => void = () => {}): PreTokenizerSpec {
  if (pre === undefined || pre === '') warn('the vocabulary names no pre-tokenizer (tokenizer.ggml.pre); using "default"');
  const name = pre === undefined || pre === '' ? 'default' : pre;
  const init = Object.hasOwn(SPECS, name) ? SPECS[name] : undefined;
  if (init === undefined) {
    throw new TokenizerError('UNSUPPORTED_PRE_TOKENIZER', `unknown pre-tokenizer "${name}" (tokenizer.ggml.pre)`, 'tokenizer.ggml.pre');
  }
  return {
    name,
    regexes: init.regexes,
    ignoreMerges: init.ignoreMerges ?? false,
    cleanSpaces: init.cleanSpaces ?? true,
    addBos: init.addBos ?? init.gemma4 ?? false,
    defaultBos: init.defaultBos ?? true,
    byteEncode: init.byteEncode ?? true,
    escapeWhitespaces: init.escapeWhitespaces ?? false,
    gemma4: init.gemma4 ?? false,
  };
}

// ---------------------------------------------------------------------------------------------
// Splitting. Words are given as lengths in code points over the fragment's code point array.

/** The text being split: code points, their flags, and (built on first use) the strings the general expressions run on. */
class SplitText {
  private collapsed: string | undefined;
  private wide: string | undefined;
  /** UTF-16 offset in `wide` of each code point (and one past the end). */
  private wideAt: Int32Array | undefined;

  constructor(
    readonly cps: Uint32Array,
    readonly fl: Uint16Array,
  ) {}

  /** One unit per code point: ASCII as is, non-ASCII whitespace as \v, others as their class's stand-in. */
  collapsedText(): string {
    if (this.collapsed === undefined) {
      const { cps, fl } = this;
      const units = new Uint16Array(cps.length);
      for (let p = 0; p < cps.length; p++) {
        const cp = cps[p]!;
        if (cp < 0x80) units[p] = cp;
        else if (fl[p]! & WHITESPACE) units[p] = 0x0b;
        else {
          const f = fl[p]! & CpFlag.CATEGORIES;
          units[p] = f === NUMBER ? 0xd1 : f === LETTER ? 0xd2 : f === CpFlag.PUNCTUATION ? 0xd3 : f === CpFlag.MARK ? 0xd4 : f === CpFlag.SYMBOL ? 0xd5 : 0xd0;
        }
      }
      this.collapsed = new TextDecoder('utf-16le', { ignoreBOM: true }).decode(units);
    }
    return this.collapsed;
  }

  /** The code points with non-ASCII whitespace as \v. */
  wideText(): { text: string; at: Int32Array } {
    if (this.wide === undefined || this.wideAt === undefined) {
      const { cps, fl } = this;
      const at = new Int32Array(cps.length + 1);
      const units: number[] = [];
      for (let p = 0; p < cps.length; p++) {
        at[p] = units.length;
        const cp = cps[p]!;
        if (cp >= 0x80 && fl[p]! & WHITESPACE) units.push(0x0b);
        else if (cp > 0xffff) units.push(0xd800 + ((cp - 0x10000) >> 10), 0xdc00 + ((cp - 0x10000) & 0x3ff));
        else units.push(cp);
      }
      at[cps.length] = units.length;
      this.wide = new TextDecoder('utf-16le', { ignoreBOM: true }).decode(Uint16Array.from(units));
      this.wideAt = at;
    }
    return { text: this.wide, at: this.wideAt };
  }
}

/** One stage: cuts each piece (given by its length in code points) into smaller ones. */
type Stage = (t: SplitText, pieces: number[]) => number[];

const { WHITESPACE, LETTER, NUMBER } = CpFlag;
const CR = 0x0d,
  LF = 0x0a,
  SPACE = 0x20,
  APOS = 0x27;

/** Reads code points and flags of one piece; outside it both are "nothing" (-1 and 0), as in llama.cpp. */
class Cursor {
  ini = 0;
  end = 0;
  constructor(
    private readonly cps: Uint32Array,
    private readonly fl: Uint16Array,
  ) {}
  /** Flags at p (0 outside the piece). */
  F(p: number): number {
    return p >= this.ini && p < this.end ? this.fl[p]! : 0;
  }
  /** Code point at p (-1 outside the piece). */
  C(p: number): number {
    return p >= this.ini && p < this.end ? this.cps[p]! : -1;
  }
}

/**
 * Runs a hand-written scanner over each piece: `word(pos, at)` returns where the word that
 * starts at `pos` ends (always after `pos`).
 */
function scanPieces(t: SplitText, pieces: number[], word: (pos: number, at: Cursor) => number): number[] {
  const out: number[] = [];
  const at = new Cursor(t.cps, t.fl);
  let start = 0;
  for (const len of pieces) {
    at.ini = start;
    at.end = start + len;
    start += len;
    for (let pos = at.ini; pos < at.end; ) {
      const e = word(pos, at);
      out.push(e - pos);
      pos = e;
    }
  }
  return out;
}

/** `'s|'t|'re|'ve|'m|'ll|'d` at pos (optionally case-insensitive): the end, or -1. */
function contraction(pos: number, at: Cursor, lower: (cp: number) => number): number {
  if (at.C(pos) !== APOS || at.C(pos + 1) === -1) return -1;
  const n1 = lower(at.C(pos + 1));
  if (n1 === 0x73 || n1 === 0x74 || n1 === 0x6d || n1 === 0x64) return pos + 2; // s t m d
  const c2 = at.C(pos + 2);
  if (c2 === -1) return -1;
  const n2 = lower(c2);
  if ((n1 === 0x72 && n2 === 0x65) || (n1 === 0x76 && n2 === 0x65) || (n1 === 0x6c && n2 === 0x6c)) return pos + 3; // re ve ll
  return -1;
}

/** `\s+(?!\S)|\s+`, else one code point on its own. */
function spaces(pos: number, at: Cursor): number {
  let nws = 0;
  while (at.F(pos + nws) & WHITESPACE) nws++;
  if (nws > 1 && at.C(pos + nws) !== -1) return pos + nws - 1;
  return pos + Math.max(nws, 1);
}

const noLower = (cp: number): number => cp;

/** llama.cpp's `unicode_regex_split_custom_gpt2`. */
function splitGpt2(t: SplitText, pieces: number[]): number[] {
  return scanPieces(t, pieces, (pos, at) => {
    const c = contraction(pos, at, noLower);
    if (c >= 0) return c;
    const cpt = at.C(pos);
    // <space>?\p{L}+ | <space>?\p{N}+ | <space>?[^\s\p{L}\p{N}]+
    let f2 = cpt === SPACE ? at.F(pos + 1) : at.F(pos);
    const cls = f2 & LETTER ? LETTER : f2 & NUMBER ? NUMBER : !(f2 & (WHITESPACE | LETTER | NUMBER)) && f2 !== 0 ? -1 : 0;
    if (cls !== 0) {
      const inClass = (f: number): boolean => (cls === -1 ? !(f & (WHITESPACE | LETTER | NUMBER)) && f !== 0 : (f & cls) !== 0);
      if (cpt === SPACE) pos++;
      while (inClass(f2)) f2 = at.F(++pos);
      return pos;
    }
    return spaces(pos, at);
  });
}

/** llama.cpp's `unicode_regex_split_custom_llama3`. */
function splitLlama3(t: SplitText, pieces: number[]): number[] {
  return scanPieces(t, pieces, (pos, at) => {
    const c = contraction(pos, at, toLowerCp);
    if (c >= 0) return c;
    const cpt = at.C(pos);
    const flags = at.F(pos);
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (!(cpt === CR || cpt === LF || flags & NUMBER) && (flags & LETTER || at.F(pos + 1) & LETTER)) {
      pos++;
      while (at.F(pos) & LETTER) pos++;
      return pos;
    }
    // \p{N}{1,3}
    if (flags & NUMBER) {
      const i0 = pos;
      while (at.F(pos) & NUMBER && pos - i0 < 3) pos++;
      return pos;
    }
    return llama3Tail(pos, at);
  });
}

/** The end of Llama 3's expression: `<space>?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`. */
function llama3Tail(pos: number, at: Cursor): number {
  const cpt = at.C(pos);
  const flags = at.F(pos);
  // <space>?[^\s\p{L}\p{N}]+[\r\n]*  (llama.cpp tests the first code point's flags here)
  let f2 = cpt === SPACE ? at.F(pos + 1) : flags;
  if (!(f2 & (WHITESPACE | LETTER | NUMBER)) && flags !== 0) {
    if (cpt === SPACE) pos++;
    while (!(f2 & (WHITESPACE | LETTER | NUMBER)) && f2 !== 0) f2 = at.F(++pos);
    while (at.C(pos) === CR || at.C(pos) === LF) pos++;
    return pos;
  }
  // \s*[\r\n]+
  let nws = 0;
  let lastRN = 0;
  while (at.F(pos + nws) & WHITESPACE) {
    const c2 = at.C(pos + nws);
    if (c2 === CR || c2 === LF) lastRN = pos + nws + 1;
    nws++;
  }
  if (lastRN > 0) return lastRN;
  return spaces(pos, at);
}

/** `\p{N}`: every number code point is a piece of its own; the text between stays whole. */
function splitDigits(t: SplitText, pieces: number[]): number[] {
  const fl = t.fl;
  const out: number[] = [];
  let start = 0;
  for (const len of pieces) {
    const end = start + len;
    let run = start;
    for (let p = start; p < end; p++) {
      // Non-ASCII whitespace collapses to a vertical tab before the class test (never a number anyway).
      if (fl[p]! & NUMBER && !(fl[p]! & WHITESPACE)) {
        if (p > run) out.push(p - run);
        out.push(1);
        run = p + 1;
      }
    }
    if (end > run) out.push(end - run);
    start = end;
  }
  return out;
}

/**
 * llama.cpp's `unicode_regex_split_custom_afmoe`: each run of number code points is cut into a
 * leading group of (length mod 3) and then groups of three; the text before a run is not cut
 * off but joins the run's first group (as llama.cpp does; later expressions split it again).
 */
function splitDigitGroups(t: SplitText, pieces: number[]): number[] {
  const fl = t.fl;
  const out: number[] = [];
  let start = 0;
  for (const len of pieces) {
    const end = start + len;
    let prev = start;
    const add = (e: number): void => {
      if (e > prev) out.push(e - prev);
      prev = e;
    };
    for (let pos = start; pos < end; ) {
      if (!(fl[pos]! & NUMBER)) {
        pos++;
        continue;
      }
      const first = pos;
      while (pos < end && fl[pos]! & NUMBER) pos++;
      const rem = (pos - first) % 3;
      let cur = first;
      if (rem > 0) add((cur += rem));
      while (cur < pos) add((cur += 3));
    }
    add(end);
    start = end;
  }
  return out;
}

/** The Han ranges of llama.cpp's `unicode_cpt_is_han`. */
const HAN_RANGES: ReadonlyArray<readonly [number, number]> = [
  [0x4e00, 0x9fff],
  [0x3400, 0x4dbf],
  [0x20000, 0x2a6df],
  [0x2a700, 0x2b73f],
  [0x2b740, 0x2b81f],
  [0x2b820, 0x2ceaf],
  [0x2ceb0, 0x2ebef],
  [0xf900, 0xfaff],
  [0x2f800, 0x2fa1f],
];
const isHan = (cp: number): boolean => inRanges(cp, HAN_RANGES);

/**
 * llama.cpp's `unicode_regex_split_custom_kimi_k2` (Kimi K2's expressions: Han runs, letter
 * words without Han and an optional contraction, numbers by three, then as Llama 3).
 */
function splitKimiK2(t: SplitText, pieces: number[]): number[] {
  return scanPieces(t, pieces, (pos, at) => {
    const cpt = at.C(pos);
    const flags = at.F(pos);
    if (cpt !== -1 && isHan(cpt)) {
      while (at.C(pos) !== -1 && isHan(at.C(pos))) pos++;
      return pos;
    }
    const letterAt = (p: number): boolean => (at.F(p) & LETTER) !== 0 && !isHan(at.C(p));
    const leading = !(cpt === CR || cpt === LF || flags & (LETTER | NUMBER));
    if (letterAt(pos) || (leading && letterAt(pos + 1))) {
      const p0 = pos;
      if (leading) pos++;
      while (letterAt(pos)) pos++;
      if (pos > p0 + (leading ? 1 : 0)) {
        // (?:'s|'t|'re|'ve|'m|'ll|'d)? — llama.cpp also needs a code point after the apostrophe
        const c = at.C(pos + 1) === -1 ? -1 : contraction(pos, at, toLowerCp);
        return c >= 0 ? c : pos;
      }
      pos = p0;
    }
    if (flags & NUMBER) {
      const i0 = pos;
      while (at.F(pos) & NUMBER && pos - i0 < 3) pos++;
      return pos;
    }
    return llama3Tail(pos, at);
  });
}

// ---- general expressions ----

/** Class → its stand-in code unit in the collapsed text and the ASCII members (llama.cpp's k_ucat_cpt / k_ucat_map). */
const COLLAPSED: Record<string, { code: number; ascii: string }> = {
  N: { code: 0xd1, ascii: '0-9' },
  L: { code: 0xd2, ascii: 'A-Za-z' },
  P: { code: 0xd3, ascii: String.raw`!-#%-*,-/:-;?-@\[-\]_\{\}` },
  M: { code: 0xd4, ascii: '' },
  S: { code: 0xd5, ascii: String.raw`\$\+<->\^` + '`' + String.raw`\|~` },
  Lu: { code: 0xd2, ascii: 'A-Za-z' },
  Ll: { code: 0xd2, ascii: 'A-Za-z' },
  Lt: { code: 0xd2, ascii: 'A-Za-z' },
  Lm: { code: 0xd2, ascii: 'A-Za-z' },
  Lo: { code: 0xd2, ascii: 'A-Za-z' },
};

const ASCII_SPACE = String.raw`\t\n\v\f\r `;

/** Translates one llama.cpp expression to JavaScript (see the module comment). */
function translate(expr: string, collapsed: boolean): RegExp {
  let out = '';
  let inside = false;
  for (let i = 0; i < expr.length; i++) {
    const c = expr[i]!;
    if (c === '\\' && i + 1 < expr.length) {
      const d = expr[i + 1]!;
      if (d === 'p' && expr[i + 2] === '{') {
        const close = expr.indexOf('}', i + 3);
        const cat = COLLAPSED[expr.slice(i + 3, close)];
        if (!collapsed || cat === undefined) throw new Error(`unsupported class in pre-tokenizer expression: ${expr.slice(i, close + 1)}`);
        const body = `\\x${cat.code.toString(16).toUpperCase()}${cat.ascii}`;
        out += inside ? body : `[${body}]`;
        i = close;
        continue;
      }
      if (d === 's') {
        out += inside ? ASCII_SPACE : `[${ASCII_SPACE}]`;
        i++;
        continue;
      }
      if (d === 'S') {
        if (inside) throw new Error(`unsupported \\S inside a class in pre-tokenizer expression ${expr}`);
        out += `[^${ASCII_SPACE}]`;
        i++;
        continue;
      }
      out += c + d;
      i++;
      continue;
    }
    if (c === '[' && !inside) inside = true;
    else if (c === ']' && inside) inside = false;
    out += c;
  }
  return new RegExp(out, collapsed ? 'g' : 'gu');
}

function fromCodePoints(units: number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < units.length; i += 8192) parts.push(String.fromCodePoint(...units.slice(i, i + 8192)));
  return parts.join('');
}

function regexStage(expr: string): Stage {
  const collapsed = /\\p\{/.test(expr);
  const re = translate(expr, collapsed);
  return (t, pieces) => {
    const out: number[] = [];
    // The expression runs on each piece alone (C++ regex_iterator over the piece's range).
    const whole = collapsed ? { text: t.collapsedText(), at: undefined } : t.wideText();
    let start = 0;
    for (const len of pieces) {
      const u0 = whole.at ? whole.at[start]! : start;
      const u1 = whole.at ? whole.at[start + len]! : start + len;
      const s = whole.text.slice(u0, u1);
      // UTF-16 index in s → code point index in the piece (they differ only outside the BMP).
      let cpAt = start,
        uAt = u0;
      const toCp = (idx: number): number => {
        if (!whole.at) return idx;
        while (uAt < u0 + idx) uAt = whole.at[++cpAt]!;
        return cpAt - start;
      };
      re.lastIndex = 0;
      let last = 0;
      for (let m = re.exec(s); m !== null; m = re.exec(s)) {
        if (m[0].length === 0) {
          // An empty match (a lookahead) still cuts the text there, as regex_iterator does.
          const a = toCp(m.index);
          if (a > last) out.push(a - last);
          last = a;
          re.lastIndex++;
          continue;
        }
        const a = toCp(m.index);
        const b = toCp(m.index + m[0].length);
        if (a > last) out.push(a - last);
        out.push(b - a);
        last = b;
      }
      if (len > last) out.push(len - last);
      start += len;
    }
    return out;
  };
}

function stageFor(expr: string): Stage {
  if (expr === GPT2_REGEX) return splitGpt2;
  if (expr === LLAMA3_REGEX) return splitLlama3;
  if (expr === DIGIT_REGEX) return splitDigits;
  if (expr === AFMOE_DIGITS_REGEX || expr === TINY_AYA_DIGITS_REGEX) return splitDigitGroups;
  if (expr === HAN_REGEX) return splitKimiK2;
  return regexStage(expr);
}

/** A compiled pre-tokenizer: text → words (as code point counts). */
export class PreTokenizer {
  private readonly stages: Stage[];
  private cps = new Uint32Array(256);
  private fl = new Uint16Array(256);

  constructor(readonly spec: PreTokenizerSpec) {
    this.stages = spec.regexes.map(stageFor);
  }

  /**
   * Splits `text` (well-formed UTF-16) into words. Returns the code points, their flags and
   * the word lengths in code points (valid until the next call).
   */
  split(text: string): { cps: Uint32Array; count: number; words: number[] } {
    if (this.cps.length < text.length) {
      this.cps = new Uint32Array(text.length);
      this.fl = new Uint16Array(text.length);
    }
    const cps = this.cps,
      fl = this.fl;
    let n = 0;
    for (let i = 0; i < text.length; i++) {
      let cp = text.charCodeAt(i);
      if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < text.length) {
        const d = text.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          cp = 0x10000 + ((cp - 0xd800) << 10) + (d - 0xdc00);
          i++;
        }
      }
      cps[n] = cp;
      fl[n] = cpFlags(cp);
      n++;
    }
    let words: number[] = n > 0 ? [n] : [];
    const t = new SplitText(cps.subarray(0, n), fl.subarray(0, n));
    for (const st of this.stages) words = st(t, words);
    return { cps: t.cps, count: n, words };
  }

  /** The words as strings (for tests and debugging). */
  words(text: string): string[] {
    const { cps, words } = this.split(text);
    const out: string[] = [];
    let p = 0;
    for (const w of words) {
      out.push(fromCodePoints(Array.from(cps.subarray(p, p + w))));
      p += w;
    }
    return out;
  }
}
