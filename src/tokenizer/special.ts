/**
 * Special tokens: per-token attributes derived the way llama.cpp's vocabulary loader
 * derives them, the end-of-generation set, and the split of input text around
 * special-token texts (llama.cpp's `tokenizer_st_partition`).
 */
import { NO_TOKEN, TokenType } from './vocab.js';
import { utf8Length } from './utf8.js';

/** Token attribute bits (llama.cpp's `llama_token_attr`). */
export const TokenAttr = {
  UNDEFINED: 0,
  UNKNOWN: 1 << 0,
  UNUSED: 1 << 1,
  NORMAL: 1 << 2,
  CONTROL: 1 << 3,
  USER_DEFINED: 1 << 4,
  BYTE: 1 << 5,
  NORMALIZED: 1 << 6,
  LSTRIP: 1 << 7,
  RSTRIP: 1 << 8,
  SINGLE_WORD: 1 << 9,
} as const;

const EOT_TEXTS = new Set(['<|eot_id|>', '<|im_end|>', '<|end|>', '<end_of_turn>', '<|endoftext|>', '<|end_of_text|>', '<EOT>', '_<EOT>', '[EOT]', '<｜end▁of▁sentence｜>', '<end_of_utterance>']);
const EOM_TEXTS = new Set(['<|eom_id|>']);
const FIM_PRE_TEXTS = new Set(['<|fim_prefix|>', '<fim-prefix>', '<fim_prefix>', '<｜fim▁begin｜>', '<PRE>', '▁<PRE>', '<|code_prefix|>', '<|prefix|>']);
const FIM_SUF_TEXTS = new Set(['<|fim_suffix|>', '<fim-suffix>', '<fim_suffix>', '<｜fim▁hole｜>', '<SUF>', '▁<SUF>', '<|code_suffix|>', '<|suffix|>']);
const FIM_MID_TEXTS = new Set(['<|fim_middle|>', '<fim-middle>', '<fim_middle>', '<｜fim▁end｜>', '<MID>', '▁<MID>', '<|code_middle|>', '<|middle|>']);
const FIM_PAD_TEXTS = new Set(['<|fim_pad|>', '<fim-pad>', '<fim_pad>', '<PAD>', '[PAD]']);
const FIM_REP_TEXTS = new Set(['<|fim_repo|>', '<|repo_name|>', '<fim-repo>', '<REPO>', '<reponame>']);
const FIM_SEP_TEXTS = new Set(['<|file_sep|>']);
const EOG_TEXTS = new Set([
  '<|eot_id|>',
  '<|im_end|>',
  '<|end|>',
  '<|return|>',
  '<|call|>',
  '<|flush|>',
  '<|calls|>',
  '<end_of_turn>',
  '<|endoftext|>',
  '</s>',
  '<|eom_id|>',
  '<EOT>',
  '_<EOT>',
  '[EOT]',
  '[EOS]',
  '<|end_of_text|>',
  '<end_of_utterance>',
  '<eos>',
  '<turn|>',
  '<|tool_response>',
  '<｜end▁of▁sentence｜>',
  '[e~[',
]);
const ALWAYS_RENDERED = new Set(['<|channel|>', '<|message|>', '<|start|>', '<|constrain|>']);

export interface SpecialIds {
  bosId: number;
  eosId: number;
  unkId: number;
  eotId: number;
  eomId: number;
  fimPreId: number;
  fimSufId: number;
  fimMidId: number;
  fimPadId: number;
  fimRepId: number;
  fimSepId: number;
}

export interface SpecialTokens {
  /** One attribute bit set per token. */
  attrs: Uint16Array;
  /** Ids after detection by text. */
  ids: SpecialIds;
  /** Tokens that end generation. */
  eog: Set<number>;
  /** Control, user-defined and unknown tokens, longest text (in UTF-8 bytes) first. */
  partitionOrder: number[];
}

function attrFromType(t: number): number {
  switch (t) {
    case TokenType.UNKNOWN:
      return TokenAttr.UNKNOWN;
    case TokenType.UNUSED:
      return TokenAttr.UNUSED;
    case TokenType.NORMAL:
      return TokenAttr.NORMAL;
    case TokenType.CONTROL:
      return TokenAttr.CONTROL;
    case TokenType.USER_DEFINED:
      return TokenAttr.USER_DEFINED;
    case TokenType.BYTE:
      return TokenAttr.BYTE;
    default:
      return TokenAttr.UNDEFINED;
  }
}

/**
 * Builds attributes and special-token bookkeeping as llama.cpp's `llama_vocab::impl::load` does:
 * the token type gives the attribute; EOT/EOM/FIM tokens missing from the metadata are found by
 * their text (and made CONTROL); control tokens whose text contains "unused" become UNUSED;
 * tokens with a known end-of-generation text join the EOG set (and become CONTROL);
 * for models named Phi-3 every special token strips whitespace to its right.
 *
 * llama.cpp scans its hash map in unspecified order when looking tokens up by text; here the
 * texts are tried in llama.cpp's list order (only matters when a vocabulary has two candidate
 * texts for one role).
 */
export function resolveSpecialTokens(
  tokens: readonly string[],
  tokenTypes: ArrayLike<number> | undefined,
  given: Partial<SpecialIds>,
  modelName?: string,
  /** Text → id of the first token with that text (built here when not given). */
  byText?: ReadonlyMap<string, number>,
): SpecialTokens {
  const n = tokens.length;
  const attrs = new Uint16Array(n);
  for (let i = 0; i < n; i++) attrs[i] = tokenTypes ? attrFromType(tokenTypes[i]!) : TokenAttr.NORMAL;
  const ok = (id: number | undefined): number => (id !== undefined && id >= 0 && id < n ? id : NO_TOKEN);
  const ids: SpecialIds = {
    bosId: ok(given.bosId),
    eosId: ok(given.eosId),
    unkId: ok(given.unkId),
    eotId: ok(given.eotId),
    eomId: ok(given.eomId),
    fimPreId: ok(given.fimPreId),
    fimSufId: ok(given.fimSufId),
    fimMidId: ok(given.fimMidId),
    fimPadId: ok(given.fimPadId),
    fimRepId: ok(given.fimRepId),
    fimSepId: ok(given.fimSepId),
  };
  const makeControl = (id: number): void => {
    attrs[id] = attrs[id]! | TokenAttr.CONTROL;
  };

  const detect: Array<[keyof SpecialIds, Set<string>]> = [
    ['eotId', EOT_TEXTS],
    ['eomId', EOM_TEXTS],
    ['fimPreId', FIM_PRE_TEXTS],
    ['fimSufId', FIM_SUF_TEXTS],
    ['fimMidId', FIM_MID_TEXTS],
    ['fimPadId', FIM_PAD_TEXTS],
    ['fimRepId', FIM_REP_TEXTS],
    ['fimSepId', FIM_SEP_TEXTS],
  ];
  // llama.cpp takes the first match in its hash map's order (unspecified); here the first
  // text of each list that the vocabulary has wins (Phi-3: EOT = <|end|>, not <|endoftext|>).
  if (byText === undefined) {
    const m = new Map<string, number>();
    for (let id = 0; id < n; id++) if (!m.has(tokens[id]!)) m.set(tokens[id]!, id);
    byText = m;
  }
  const idsOf = (texts: Set<string>): number[] => {
    const out: number[] = [];
    for (const t of texts) {
      const id = byText.get(t);
      if (id !== undefined && tokens[id] === t) out.push(id);
    }
    return out.sort((a, b) => a - b);
  };
  for (const [key, texts] of detect) {
    if (ids[key] !== NO_TOKEN) continue;
    for (const t of texts) {
      const id = byText.get(t);
      if (id !== undefined) {
        ids[key] = id;
        makeControl(id);
        break;
      }
    }
  }

  for (let id = 0; id < n; id++) {
    const a = attrs[id]!;
    if (a & TokenAttr.CONTROL && !(a & TokenAttr.UNUSED) && tokens[id]!.includes('unused')) {
      attrs[id] = a | TokenAttr.UNUSED;
    }
  }

  const eog = new Set<number>();
  for (const id of [ids.fimPadId, ids.fimRepId, ids.fimSepId]) if (id !== NO_TOKEN) eog.add(id);
  for (const id of idsOf(EOG_TEXTS)) {
    eog.add(id);
    makeControl(id);
  }
  for (const id of idsOf(ALWAYS_RENDERED)) attrs[id] = TokenAttr.USER_DEFINED;
  for (const id of [ids.eosId, ids.eotId, ids.eomId]) if (id !== NO_TOKEN) eog.add(id);

  // o200k_harmony / solar-open: "<|end|>" is not end-of-generation when <|return|>+<|call|> (or <|calls|>+<|flush|>) exist.
  {
    let hasReturn = false,
      hasCall = false,
      hasFlush = false,
      endId = NO_TOKEN;
    for (const id of eog) {
      const t = tokens[id];
      if (t === '<|return|>') hasReturn = true;
      else if (t === '<|call|>' || t === '<|calls|>') hasCall = true;
      else if (t === '<|flush|>') hasFlush = true;
      else if (t === '<|end|>') endId = id;
    }
    if (endId !== NO_TOKEN && ((hasReturn && hasCall) || (hasCall && hasFlush))) {
      eog.delete(endId);
      attrs[endId] = TokenAttr.USER_DEFINED;
    }
  }
  // gemma4 / paddleocr: "</s>" is not end-of-generation when "<|tool_response>" is.
  {
    let hasToolResponse = false,
      sId = NO_TOKEN;
    for (const id of eog) {
      if (tokens[id] === '<|tool_response>') hasToolResponse = true;
      else if (tokens[id] === '</s>') sId = id;
    }
    if (hasToolResponse && sId !== NO_TOKEN) {
      eog.delete(sId);
      attrs[sId] = TokenAttr.NORMAL;
    }
  }

  const special = TokenAttr.CONTROL | TokenAttr.USER_DEFINED | TokenAttr.UNKNOWN;
  const partitionOrder: number[] = [];
  const byteLen = new Map<number, number>();
  for (let id = 0; id < n; id++) {
    if (attrs[id]! & special) {
      partitionOrder.push(id);
      byteLen.set(id, utf8Length(tokens[id]!));
    }
  }
  // llama.cpp uses an unstable sort by length; ties are broken by id here.
  partitionOrder.sort((a, b) => byteLen.get(b)! - byteLen.get(a)! || a - b);

  if (modelName !== undefined) {
    const name = modelName.toLowerCase();
    if (name.includes('phi-3') || name.includes('phi3')) {
      for (const id of partitionOrder) attrs[id] = attrs[id]! | TokenAttr.RSTRIP;
      const s = byText.get('</s>');
      if (s !== undefined) attrs[s] = attrs[s]! | TokenAttr.RSTRIP;
      for (const t of ['<unk>', '<s>', '<|endoftext|>']) {
        const id = byText.get(t);
        if (id !== undefined) attrs[id] = attrs[id]! & ~TokenAttr.RSTRIP;
      }
    }
  }

  return { attrs, ids, eog, partitionOrder };
}

/** A piece of input: raw text `[start, end)` of the input string, or a token id. */
export type Fragment = { token: number; start: 0; end: 0 } | { token: -1; start: number; end: number };

/** C's isspace() for one UTF-16 unit (only ASCII whitespace counts). */
function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/**
 * Splits text around occurrences of special-token texts as llama.cpp's `tokenizer_st_partition`
 * does: the tokens are taken longest first, and each one is matched left to right, without
 * overlap, in the text that earlier tokens left raw. Control and unknown tokens are matched only
 * with `parseSpecial`; user-defined tokens always. LSTRIP/RSTRIP tokens swallow the ASCII
 * whitespace next to them on that side (within the raw text).
 *
 * llama.cpp scans the whole text once per special token. Here one pass over the text with a trie
 * of the token texts lists every occurrence; the occurrences are then taken in the same order
 * (token rank, then position), and one is kept when all of its text is still raw, which is
 * exactly when llama.cpp's scan of the token's raw fragments finds it. A vocabulary with
 * thousands of user-defined tokens (Gemma 3 has 6400) thus costs one pass, not thousands.
 */
export class SpecialMatcher {
  /** Trie over UTF-16 units: children of each node (undefined: a leaf). Node 0 is the root. */
  private readonly children: Array<Map<number, number> | undefined> = [undefined];
  /** The token whose text ends at each node, or -1. */
  private readonly terminal: number[] = [-1];
  /** Units that start some token text. */
  private readonly first = new Uint8Array(65536);
  /** The token's index in the partition order (its priority). */
  private readonly rank = new Map<number, number>();

  constructor(
    private readonly tokens: readonly string[],
    private readonly attrs: Uint16Array,
    private readonly order: readonly number[],
  ) {
    for (const [r, id] of order.entries()) {
      const t = tokens[id]!;
      if (t.length === 0) continue;
      this.rank.set(id, r);
      this.first[t.charCodeAt(0)] = 1;
      let node = 0;
      for (let i = 0; i < t.length; i++) {
        const c = t.charCodeAt(i);
        let kids = this.children[node];
        if (kids === undefined) this.children[node] = kids = new Map();
        let child = kids.get(c);
        if (child === undefined) {
          child = this.terminal.length;
          kids.set(c, child);
          this.terminal.push(-1);
          this.children.push(undefined);
        }
        node = child;
      }
      this.terminal[node] = id;
    }
  }

  /** The fragments of `text`: token ids and raw ranges, in order. */
  partition(text: string, parseSpecial: boolean): Fragment[] {
    const n = text.length;
    if (n === 0) return [];
    const skip = parseSpecial ? 0 : TokenAttr.CONTROL | TokenAttr.UNKNOWN;
    // Every occurrence, as rank * 2^32 + position (sorted numerically: rank, then position).
    let occ = new Float64Array(64);
    let count = 0;
    const first = this.first;
    for (let i = 0; i < n; i++) {
      if (first[text.charCodeAt(i)] === 0) continue;
      let node = 0;
      for (let j = i; j < n; j++) {
        const next = this.children[node]?.get(text.charCodeAt(j));
        if (next === undefined) break;
        node = next;
        const id = this.terminal[node]!;
        if (id < 0 || this.attrs[id]! & skip) continue;
        if (count === occ.length) {
          const grown = new Float64Array(count * 2);
          grown.set(occ);
          occ = grown;
        }
        occ[count++] = this.rank.get(id)! * 4294967296 + i;
      }
    }
    if (count === 0) return [{ token: -1, start: 0, end: n }];
    const sorted = occ.subarray(0, count).sort();

    // 0: raw, 1: taken by a token or stripped, 2: a token starts here (id in `starts`).
    const state = new Uint8Array(n);
    const starts = new Map<number, number>();
    for (const key of sorted) {
      const r = Math.floor(key / 4294967296);
      const pos = key - r * 4294967296;
      const id = this.order[r]!;
      const end = pos + this.tokens[id]!.length;
      let free = true;
      for (let k = pos; k < end; k++) {
        if (state[k] !== 0) {
          free = false;
          break;
        }
      }
      if (!free) continue;
      state.fill(1, pos, end);
      state[pos] = 2;
      starts.set(pos, id);
      const a = this.attrs[id]!;
      if (a & TokenAttr.LSTRIP) for (let k = pos - 1; k >= 0 && state[k] === 0 && isSpace(text.charCodeAt(k)); k--) state[k] = 1;
      if (a & TokenAttr.RSTRIP) for (let k = end; k < n && state[k] === 0 && isSpace(text.charCodeAt(k)); k++) state[k] = 1;
    }

    const out: Fragment[] = [];
    let rawStart = -1;
    for (let i = 0; i < n; ) {
      const s = state[i]!;
      if (s === 0) {
        if (rawStart < 0) rawStart = i;
        i++;
        continue;
      }
      if (rawStart >= 0) {
        out.push({ token: -1, start: rawStart, end: i });
        rawStart = -1;
      }
      if (s === 2) {
        const id = starts.get(i)!;
        out.push({ token: id, start: 0, end: 0 });
        i += this.tokens[id]!.length;
      } else i++;
    }
    if (rawStart >= 0) out.push({ token: -1, start: rawStart, end: n });
    return out;
  }
}
