/**
 * Raw-text BPE (the gemma4, granite-embed-multi-311m, sarvam-moe and whitespace pre-tokenizers,
 * the "gemma4" and "whitespace" tokenizer models) and WordPiece ("bert") on small hand-made
 * vocabularies, following llama.cpp's rules; test/tokenizer/llama-differential.test.ts checks
 * the same code against llama.cpp itself on real vocabularies.
 */
import { describe, expect, it } from 'vitest';
import { BpeTokenizer, bpeVocabFromMetadata, TokenizerError, TokenType, WpmTokenizer, wpmVocabFromMetadata } from '../../src/tokenizer/index.js';

const { NORMAL, CONTROL, BYTE } = TokenType;

function getter(meta: Record<string, unknown>): (key: string) => unknown {
  return (key) => meta[key];
}

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof TokenizerError) return e.code;
    throw e;
  }
  return undefined;
}

describe('raw-text BPE', () => {
  // 0-2 control, 3-4 byte tokens of "é", then normal tokens; no merge makes "\n\n".
  const tokens = ['<pad>', '<eos>', '<bos>', '<0xC3>', '<0xA9>', '\u2581', 'h', 'i', '\u2581h', '\u2581hi', '\n', '\n\n', 'hi'];
  const types = [CONTROL, CONTROL, CONTROL, BYTE, BYTE, ...Array<number>(8).fill(NORMAL)];
  const merges = ['\u2581 h', '\u2581h i', 'h i'];
  const meta = (model: string, pre?: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    'tokenizer.ggml.model': model,
    ...(pre === undefined ? {} : { 'tokenizer.ggml.pre': pre }),
    'tokenizer.ggml.tokens': tokens,
    'tokenizer.ggml.token_type': types,
    'tokenizer.ggml.merges': merges,
    'tokenizer.ggml.bos_token_id': 2,
    'tokenizer.ggml.eos_token_id': 1,
    ...extra,
  });
  const tok = (m: Record<string, unknown>): BpeTokenizer => BpeTokenizer.fromMetadata(getter(m), { warn: () => {} });

  it('gemma4: spaces as \u2581, merges over the raw text, <0xXX> for what is not a token, add_bos always on', () => {
    const t = tok(meta('gemma4', undefined, { 'tokenizer.ggml.add_bos_token': false }));
    expect(t.preTokenizer.name).toBe('gemma4');
    expect(t.encode(' hi', { addSpecial: false })).toEqual([9]);
    expect(t.encode('hi h', { addSpecial: false })).toEqual([12, 8]);
    expect(t.encode('é', { addSpecial: false })).toEqual([3, 4]);
    expect(t.encode('hi')).toEqual([2, 12]);
    // A run of newlines that is a token is taken whole (no merge makes it).
    expect(t.encode('\n\nhi', { addSpecial: false })).toEqual([11, 12]);
    expect(t.decode([2, 9, 3, 4, 8], { special: true })).toBe('<bos> hié h');
    expect(t.addSpacePrefix).toBe(false);
  });

  it('the "gemma4" model has no default special tokens; granite-embed-multi-311m is Gemma 4\'s pre-tokenizer, sarvam-moe without the newline rule', () => {
    const m = meta('gemma4');
    delete m['tokenizer.ggml.eos_token_id'];
    expect(bpeVocabFromMetadata(getter(m)).eosId).toBe(-1); // 11 for "gpt2"
    expect(bpeVocabFromMetadata(getter({ ...m, 'tokenizer.ggml.model': 'gpt2' })).eosId).toBe(11);
    // add_bos is forced on, so a vocabulary without BOS is refused (llama.cpp's tokenize would assert).
    delete m['tokenizer.ggml.bos_token_id'];
    expect(code(() => tok(m))).toBe('MISSING_SPECIAL_TOKEN');

    const granite = tok(meta('gpt2', 'granite-embed-multi-311m'));
    expect(granite.addBos).toBe(true);
    expect(granite.encode('\n\n h', { addSpecial: false })).toEqual([11, 8]);
    const sarvam = tok(meta('gpt2', 'sarvam-moe'));
    expect(sarvam.addBos).toBe(false);
    expect(sarvam.cleanSpaces).toBe(false);
    expect(sarvam.encode('\n\n h', { addSpecial: false })).toEqual([10, 10, 8]);
  });

  it('"whitespace" model: whitespace dropped, lowercased when the vocabulary asks, byte-character detokenization', () => {
    const t = tok(meta('whitespace', 'whitespace'));
    expect(t.encode('  hi\u3000h\ti ', { addSpecial: false })).toEqual([12, 6, 7]);
    expect(t.encode('HI', { addSpecial: false })).toEqual([]); // no tokens for H, I, no byte tokens for them
    const lower = tok(meta('whitespace', 'whitespace', { 'tokenizer.ggml.normalizer.lowercase': true }));
    expect(lower.encode('HI hI', { addSpecial: false })).toEqual([12, 12]);
    // llama.cpp decodes normal tokens as GPT-2 byte characters when spaces are not escaped.
    expect(t.decode([12, 6])).toBe('hih');
    expect(t.decode([9])).toBe('[UNK_BYTE_0xe29681\u2581hi]hi');
  });

  it('refuses tokenizer models it does not implement, by name', () => {
    expect(code(() => bpeVocabFromMetadata(getter(meta('hybriddna', 'gpt-2'))))).toBe('UNSUPPORTED_MODEL');
    expect(() => bpeVocabFromMetadata(getter(meta('hybriddna', 'gpt-2')))).toThrow(/hybriddna/);
  });
});

describe('WordPiece', () => {
  const tokens = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '\u2581hello', '\u2581world', '\u2581un', 'aff', 'able', '\u2581,', '\u2581cafe', '\u2581\u4e2d', '\u2581x'];
  const types = [CONTROL, CONTROL, CONTROL, CONTROL, ...Array<number>(9).fill(NORMAL)];
  const meta = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    'tokenizer.ggml.model': 'bert',
    'tokenizer.ggml.tokens': tokens,
    'tokenizer.ggml.token_type': types,
    'tokenizer.ggml.bos_token_id': 2,
    'tokenizer.ggml.unknown_token_id': 1,
    'tokenizer.ggml.seperator_token_id': 3,
    ...extra,
  });

  it('normalizes as BERT, covers "\u2581" + word with the longest tokens, wraps in [CLS] ... [SEP]', () => {
    const t = WpmTokenizer.fromMetadata(getter(meta()));
    expect(t.kind).toBe('wpm');
    expect(t.words('Hello, WORLD!\u0004 Café 中x')).toEqual(['hello', ',', 'world', '!', 'cafe', '中', 'x']);
    expect(t.encode('Hello, WORLD!')).toEqual([2, 4, 9, 5, 1, 3]);
    expect(t.encode('unaffable Café', { addSpecial: false })).toEqual([6, 7, 8, 10]);
    // A word the tokens cannot cover is one [UNK], whatever it covered first.
    expect(t.encode('unaffablez', { addSpecial: false })).toEqual([1]);
    expect(t.encode('x中', { addSpecial: false })).toEqual([12, 11]);
    // Detokenization: "\u2581" back to spaces, then llama.cpp's space cleaning.
    expect(t.decode([2, 4, 9, 5, 3])).toBe(' hello, world');
    expect(t.decode([2, 4, 9, 5, 3], { special: true, cleanSpaces: false })).toBe('[CLS] hello , world[SEP]');
  });

  it('keeps case and accents when the vocabulary says so', () => {
    const t = WpmTokenizer.fromMetadata(getter(meta({ 'tokenizer.ggml.normalizer.lowercase': false })));
    expect(t.words('Café')).toEqual(['Café']);
    const accents = WpmTokenizer.fromMetadata(getter(meta({ 'tokenizer.ggml.normalizer.strip_accents': false })));
    expect(accents.words('CAFÉ')).toEqual(['café']);
  });

  it("BERT's default ids (CLS 101, UNK 100, SEP 102) are disabled when out of range; special tokens then need them", () => {
    const m = meta();
    delete m['tokenizer.ggml.seperator_token_id'];
    const v = wpmVocabFromMetadata(getter(m));
    expect(v.sepId).toBe(-1);
    const t = new WpmTokenizer(v);
    expect(t.encode('hello', { addSpecial: false })).toEqual([4]);
    expect(code(() => t.encode('hello'))).toBe('MISSING_SPECIAL_TOKEN');
  });
});
