/**
 * decode(encode(s)) === s on random Unicode strings, for every shared vocabulary, and the
 * heap-based BPE merge against a naive one. Seeds are printed; TOKENIZER_SEED repeats a run.
 */
import { describe, expect, it } from 'vitest';
import { loadTokenizer } from '../../src/model/model.js';
import type { BpeTokenizer, Tokenizer } from '../../src/tokenizer/index.js';
import { BYTE_TO_CHAR } from '../../src/tokenizer/unicode.js';
import { toWellFormed } from '../../src/tokenizer/utf8.js';
import { sharedPath } from '../helpers/shared.js';
import { BPE_VOCABS, mulberry32, seedFor, SPM_VOCABS } from './helpers.js';

const WORDS = [
  'the',
  ' the',
  'Hello',
  ' world',
  "'s",
  "'LL",
  ' 123',
  '4567',
  '  ',
  '\n\n',
  '\r\n',
  '\t',
  ' ,',
  ' .',
  '?!',
  '...',
  '日本語',
  '😀👍🏽',
  'e\u0301',
  '\u00a0',
  '\u3000',
  '\u2581',
  '<|im_end|>',
  '<s>',
  '</s>',
  '<|endoftext|>',
  '<0x41>',
  'Ġ',
  'ĉ',
];

/** Random text: ASCII, whitespace of every kind, controls, Latin-1, CJK, emoji, marks, any code point, lone surrogates, words. */
function randomString(rand: () => number, allowed: (cp: number) => boolean, words: readonly string[]): string {
  const n = Math.floor(rand() * 24);
  let s = '';
  while (s.length < n) {
    const k = Math.floor(rand() * 11);
    let cp: number;
    switch (k) {
      case 0:
        cp = 0x20 + Math.floor(rand() * 95);
        break;
      case 1:
        cp = [0x20, 0x0a, 0x0d, 0x09, 0x0b, 0x0c, 0x85, 0xa0, 0x2028, 0x3000, 0xfeff][Math.floor(rand() * 11)]!;
        break;
      case 2:
        cp = Math.floor(rand() * 0x20);
        break;
      case 3:
        cp = 0x80 + Math.floor(rand() * 0x180);
        break;
      case 4:
        cp = 0x4e00 + Math.floor(rand() * 0x5000);
        break;
      case 5:
        cp = 0x1f300 + Math.floor(rand() * 0x300);
        break;
      case 6:
        cp = 0x300 + Math.floor(rand() * 0x70);
        break;
      case 7:
        cp = Math.floor(rand() * 0x110000);
        break;
      case 8:
        s += String.fromCharCode(0xd800 + Math.floor(rand() * 0x800));
        continue; // lone surrogate
      default:
        s += words[Math.floor(rand() * words.length)]!;
        continue;
    }
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    s += String.fromCodePoint(cp);
  }
  // Two lone surrogates in a row can pair up: filter whole code points at the end, until
  // dropping one brings no new pair together.
  for (;;) {
    let out = '';
    for (const ch of s) if (allowed(ch.codePointAt(0)!)) out += ch;
    if (out === s) return s;
    s = out;
  }
}

/** Code points whose UTF-8 bytes all have a byte token (SmolLM2 lacks a few; llama.cpp and HF drop those bytes). */
function encodable(tok: Tokenizer): (cp: number) => boolean {
  if (tok.kind !== 'bpe') return () => true;
  const missing = new Set<number>();
  for (let b = 0; b < 256; b++) if (tok.textToToken(BYTE_TO_CHAR[b]!) === undefined) missing.add(b);
  if (missing.size === 0) return () => true;
  return (cp) => ![...Buffer.from(String.fromCodePoint(cp))].some((b) => missing.has(b));
}

const VOCABS = [...SPM_VOCABS, ...BPE_VOCABS];

describe('decode(encode(s)) === s for 10 000 random strings', () => {
  for (const [i, rel] of VOCABS.entries()) {
    it(rel, async () => {
      const tok = await loadTokenizer(sharedPath(rel), { warn: () => {} });
      const seed = seedFor(0x1234 + i);
      console.log(`[${rel}] round-trip seed = ${seed} (TOKENIZER_SEED to repeat)`);
      const rand = mulberry32(seed);
      let allowed = encodable(tok);
      // Special-token texts are plain text here (parseSpecial off); phi-3's user-defined
      // tokens would still be matched and strip the whitespace after them, so SPM gets none.
      // SentencePiece writes spaces as "▁" and reads every "▁" back as a space: no "▁" for it.
      const words = tok.kind === 'bpe' ? WORDS : WORDS.filter((w) => !w.startsWith('<') && w !== '\u2581');
      if (tok.kind === 'spm') {
        const inner = allowed;
        allowed = (cp) => cp !== 0x2581 && inner(cp);
      }
      for (let t = 0; t < 10_000; t++) {
        const s = randomString(rand, allowed, words);
        const ids = tok.encode(s, { addSpecial: false });
        const back = tok.decode(ids, { cleanSpaces: false });
        if (back !== toWellFormed(s)) {
          expect(back, `${JSON.stringify(s)} -> ${JSON.stringify(ids)}`).toBe(toWellFormed(s));
        }
      }
    }, 60_000);
  }

  it('SmolLM2 drops bytes that have no token, as llama.cpp and Hugging Face do', async () => {
    const tok = await loadTokenizer(sharedPath('vocab/smollm2/smollm2-vocab.gguf'));
    expect(tok.decode(tok.encode('a\u0004b\u0013c', { addSpecial: false }))).toBe('abc');
  });
});

/** BPE the slow, obvious way: repeatedly merge the adjacent pair with the lowest rank (leftmost on ties). */
function naiveBpe(tok: BpeTokenizer, text: string): number[] {
  const out: number[] = [];
  for (const word of tok.preTokenize(text)) {
    let syms = [...Buffer.from(word)].map((b) => BYTE_TO_CHAR[b]!);
    for (;;) {
      let best = -1,
        bestRank = Infinity;
      for (let i = 0; i + 1 < syms.length; i++) {
        const r = tok.mergeRank(syms[i]!, syms[i + 1]!);
        if (r >= 0 && r < bestRank) {
          best = i;
          bestRank = r;
        }
      }
      if (best < 0) break;
      syms = [...syms.slice(0, best), syms[best]! + syms[best + 1]!, ...syms.slice(best + 2)];
    }
    for (const s of syms) {
      const id = tok.textToToken(s);
      if (id !== undefined) out.push(id);
      else for (const b of Buffer.from(s)) if (b < 0x80 && tok.textToToken(String.fromCharCode(b)) !== undefined) out.push(tok.textToToken(String.fromCharCode(b))!);
    }
  }
  return out;
}

describe('the heap-based BPE merge equals a naive one', () => {
  it('on random strings (gpt-2 and starcoder vocabularies: no user-defined tokens, no ignore_merges)', async () => {
    const seed = seedFor(0xb9e);
    console.log(`naive BPE comparison seed = ${seed} (TOKENIZER_SEED to repeat)`);
    const rand = mulberry32(seed);
    for (const rel of ['vocab/ggml-vocab-gpt-2.gguf', 'vocab/ggml-vocab-starcoder.gguf']) {
      const tok = (await loadTokenizer(sharedPath(rel))) as BpeTokenizer;
      for (let t = 0; t < 500; t++) {
        const s = randomString(
          rand,
          () => true,
          WORDS.filter((w) => !w.startsWith('<')),
        );
        expect(tok.encode(s, { addSpecial: false }), JSON.stringify(s)).toEqual(naiveBpe(tok, toWellFormed(s)));
      }
    }
  });
});
