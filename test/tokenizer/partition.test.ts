/**
 * SpecialMatcher (one trie pass over the text) against a line-by-line transcription of llama.cpp's
 * `tokenizer_st_partition` (one scan of the raw fragments per special token, longest first), on
 * random texts over a small alphabet where special texts overlap, nest, repeat and touch
 * whitespace, with random LSTRIP/RSTRIP/CONTROL attributes. Seed printed (TOKENIZER_SEED to repeat).
 */
import { describe, expect, it } from 'vitest';
import { SpecialMatcher, TokenAttr, type Fragment } from '../../src/tokenizer/special.js';
import { mulberry32, seedFor } from './helpers.js';

function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

/** llama.cpp's algorithm, as the engine had it before the trie. */
function partitionSequential(text: string, tokens: readonly string[], attrs: Uint16Array, order: readonly number[], parseSpecial: boolean): Fragment[] {
  let frags: Fragment[] = text.length > 0 ? [{ token: -1, start: 0, end: text.length }] : [];
  for (const id of order) {
    const a = attrs[id]!;
    if (!parseSpecial && a & (TokenAttr.CONTROL | TokenAttr.UNKNOWN)) continue;
    const t = tokens[id]!;
    if (t.length === 0) continue;
    const next: Fragment[] = [];
    for (const f of frags) {
      if (f.token !== -1) {
        next.push(f);
        continue;
      }
      let start = f.start;
      const end = f.end;
      while (start < end) {
        const m = text.indexOf(t, start);
        if (m < 0 || m + t.length > end) break;
        let leftEnd = m;
        if (a & TokenAttr.LSTRIP) while (leftEnd > start && isSpace(text.charCodeAt(leftEnd - 1))) leftEnd--;
        if (leftEnd > start) next.push({ token: -1, start, end: leftEnd });
        next.push({ token: id, start: 0, end: 0 });
        start = m + t.length;
        if (a & TokenAttr.RSTRIP) while (start < end && isSpace(text.charCodeAt(start))) start++;
      }
      if (start < end) next.push({ token: -1, start, end });
    }
    frags = next;
  }
  return frags;
}

const ALPHABET = ['a', 'b', 'c', ' ', '\n', '<', '>', '😀'];

describe('special-token partition', () => {
  it('equals the token-by-token scan on random vocabularies and texts', () => {
    const seed = seedFor(0x5e1);
    console.log(`partition seed = ${seed} (TOKENIZER_SEED to repeat)`);
    const rand = mulberry32(seed);
    const pick = (): string => ALPHABET[Math.floor(rand() * ALPHABET.length)]!;
    let cases = 0,
      tokensFound = 0;
    for (let v = 0; v < 300; v++) {
      const texts = new Set<string>();
      const nTok = 1 + Math.floor(rand() * 8);
      while (texts.size < nTok) {
        let t = '';
        const len = 1 + Math.floor(rand() * 4);
        for (let i = 0; i < len; i++) t += pick();
        texts.add(t);
      }
      const tokens = [...texts];
      const attrs = new Uint16Array(tokens.length);
      for (let i = 0; i < tokens.length; i++) {
        const r = rand();
        attrs[i] = (r < 0.4 ? TokenAttr.USER_DEFINED : r < 0.9 ? TokenAttr.CONTROL : TokenAttr.UNKNOWN) | (rand() < 0.3 ? TokenAttr.LSTRIP : 0) | (rand() < 0.3 ? TokenAttr.RSTRIP : 0);
      }
      // Longest first, ties in random order (llama.cpp's sort is not stable).
      const order = tokens.map((_, i) => i).sort((a, b) => tokens[b]!.length - tokens[a]!.length || rand() - 0.5);
      const matcher = new SpecialMatcher(tokens, attrs, order);
      for (let k = 0; k < 20; k++) {
        let text = '';
        const len = Math.floor(rand() * 40);
        for (let i = 0; i < len; i++) text += rand() < 0.3 ? tokens[Math.floor(rand() * tokens.length)] : pick();
        for (const special of [false, true]) {
          const want = partitionSequential(text, tokens, attrs, order, special);
          const got = matcher.partition(text, special);
          if (JSON.stringify(got) !== JSON.stringify(want)) expect(got, `${JSON.stringify(tokens)} ${JSON.stringify(text)} special=${special}`).toEqual(want);
          tokensFound += got.filter((f) => f.token !== -1).length;
          cases++;
        }
      }
    }
    expect(tokensFound).toBeGreaterThan(cases); // the texts do hold special tokens
  });

  it('keeps plain text whole and handles the empty text', () => {
    const m = new SpecialMatcher(['<s>', 'ab'], Uint16Array.of(TokenAttr.CONTROL, TokenAttr.USER_DEFINED), [0, 1]);
    expect(m.partition('', true)).toEqual([]);
    expect(m.partition('xyz', true)).toEqual([{ token: -1, start: 0, end: 3 }]);
    expect(m.partition('<s>xab', false)).toEqual([
      { token: -1, start: 0, end: 4 },
      { token: 1, start: 0, end: 0 },
    ]);
    expect(m.partition('<s>xab', true)).toEqual([
      { token: 0, start: 0, end: 0 },
      { token: -1, start: 3, end: 4 },
      { token: 1, start: 0, end: 0 },
    ]);
  });
});
