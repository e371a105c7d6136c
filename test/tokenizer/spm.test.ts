import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { openGGUF } from '../../src/gguf/reader.js';
import { NO_TOKEN, SpmTokenizer, StreamDecoder, TokenAttr, TokenizerError, vocabFromMetadata, type SpmVocab } from '../../src/tokenizer/index.js';
import { mulberry32, seedFor } from './helpers.js';

const SHARED = fileURLToPath(new URL('../../../shared/', import.meta.url));

async function load(rel: string): Promise<SpmTokenizer> {
  const f = await openGGUF(SHARED + rel);
  try {
    return SpmTokenizer.fromMetadata((k) => f.metadata.get(k));
  } finally {
    f.close();
  }
}

/** llama.cpp's tokenizer test files: `.inp` sections end with "\n__ggml_vocab_test__\n", `.out` has one line of ids per section. */
function readCases(rel: string): Array<{ text: string; ids: number[] }> {
  const inp = readFileSync(SHARED + rel + '.inp', 'utf8').split('\n__ggml_vocab_test__\n');
  expect(inp.pop()).toBe('');
  const out = readFileSync(SHARED + rel + '.out', 'utf8').split('\n');
  expect(out.pop()).toBe('');
  expect(out.length).toBe(inp.length);
  return inp.map((text, i) => ({
    text,
    ids: out[i]!.split(' ')
      .filter((s) => s !== '')
      .map(Number),
  }));
}

const llamaSpm = load('vocab/ggml-vocab-llama-spm.gguf');
const phi3 = load('vocab/ggml-vocab-phi-3.gguf');
const stories = load('models/stories260K.gguf');

for (const name of ['llama-spm', 'phi-3']) {
  describe(`llama.cpp tokenizer test vectors: ggml-vocab-${name}`, () => {
    const rel = `vocab/ggml-vocab-${name}.gguf`;
    const cases = readCases(rel);

    it('has 46 cases', () => expect(cases.length).toBe(46));

    it('encodes every case exactly (add_special=false, parse_special=false)', async () => {
      const tok = name === 'phi-3' ? await phi3 : await llamaSpm;
      let pass = 0;
      for (const c of cases) {
        const got = tok.encode(c.text, { addSpecial: false, parseSpecial: false });
        expect(got, JSON.stringify(c.text)).toEqual(c.ids);
        pass++;
      }
      console.log(`[${name}] encode: ${pass}/${cases.length} match llama.cpp`);
    });

    it('decode(encode(s)) gives s back (one prefix space removed)', async () => {
      const tok = name === 'phi-3' ? await phi3 : await llamaSpm;
      let same = 0;
      for (const c of cases) {
        const back = tok.decode(c.ids);
        if (back === c.text) same++;
        expect(back, JSON.stringify(c.text)).toBe(c.text);
        // the same through the stream decoder
        const sd = new StreamDecoder(tok, { stripLeadingSpace: true });
        expect(c.ids.map((id) => sd.push(id)).join('') + sd.flush()).toBe(back);
      }
      console.log(`[${name}] decode round trip: ${same}/${cases.length}`);
    });
  });
}

describe('stories260K (llama.cpp reference outputs)', () => {
  type Greedy = { prompt: string; promptIds: number[]; continuationIds: number[]; continuationText: string };
  const greedy = JSON.parse(readFileSync(SHARED + 'reference/stories260K-greedy.json', 'utf8')) as Greedy[];

  it('tokenizes the prompts as llama_tokenize(add_special=true, parse_special=false)', async () => {
    const tok = await stories;
    for (const g of greedy) expect(tok.encode(g.prompt), g.prompt).toEqual(g.promptIds);
  });

  it('renders the continuations as concatenated token_to_piece(special=false)', async () => {
    const tok = await stories;
    for (const g of greedy) {
      const bytes = Buffer.concat(g.continuationIds.map((id) => tok.tokenToPieceBytes(id, { special: false })));
      expect(bytes.toString('utf8')).toBe(g.continuationText);
      expect(tok.decode(g.continuationIds, { stripLeadingSpace: false })).toBe(g.continuationText);
      const sd = new StreamDecoder(tok);
      expect(g.continuationIds.map((id) => sd.push(id)).join('') + sd.flush()).toBe(g.continuationText);
    }
  });

  for (const p of ['p1', 'p2']) {
    it(`tokenizes the ${p} prompt and renders its pieces (special=true)`, async () => {
      const tok = await stories;
      const ref = JSON.parse(readFileSync(SHARED + `reference/stories260K-${p}.json`, 'utf8')) as {
        prompt: string;
        addBos: boolean;
        tokens: number[];
        pieces: string[];
      };
      expect(tok.encode(ref.prompt, { addSpecial: ref.addBos })).toEqual(ref.tokens);
      expect(ref.tokens.map((id) => tok.tokenToPiece(id, { special: true }))).toEqual(ref.pieces);
    });
  }

  it('reads the vocabulary defaults', async () => {
    const tok = await stories;
    expect(tok.vocabSize).toBe(512);
    expect([tok.bosId, tok.eosId, tok.unkId]).toEqual([1, 2, 0]);
    expect(tok.padId).toBe(NO_TOKEN); // 4294967295 in the file: out of range, ignored
    expect(tok.sepId).toBe(NO_TOKEN);
    expect([tok.addBos, tok.addEos, tok.addSpacePrefix]).toEqual([true, false, true]);
    expect(tok.isEog(2)).toBe(true);
    expect(tok.eogIds).toEqual([2]);
    expect(tok.newlineId).toBe(13);
  });
});

describe('special tokens', () => {
  it('parses control tokens only with parseSpecial, and prefixes a space after them', async () => {
    const tok = await llamaSpm;
    expect(tok.encode('<s>Hello', { addSpecial: false, parseSpecial: true })).toEqual([1, 15043]);
    expect(tok.encode('Hello<s>', { addSpecial: false, parseSpecial: true })).toEqual([15043, 1]);
    expect(tok.encode('Hello</s> world', { addSpecial: true, parseSpecial: true })).toEqual([1, 15043, 2, 29871, 3186]);
    const plain = tok.encode('<s>Hello', { addSpecial: false });
    expect(plain).not.toContain(1);
    expect(tok.decode(plain)).toBe('<s>Hello');
    expect(tok.encode('', { addSpecial: true })).toEqual([1]);
    expect(tok.encode('', { addSpecial: false })).toEqual([]);
  });

  it('phi-3: special tokens strip whitespace on their right (llama.cpp quirk for models named phi3)', async () => {
    const tok = await phi3;
    expect(tok.eotId).toBe(32007); // <|end|>, found by text
    expect(tok.isEog(32007) && tok.isEog(32000)).toBe(true);
    expect(tok.tokenAttr(32010) & TokenAttr.RSTRIP).toBeTruthy(); // <|user|>
    expect(tok.tokenAttr(1) & TokenAttr.RSTRIP).toBeFalsy(); // <s>
    const ids = tok.encode('<|user|>\nHello<|end|>\n<|assistant|>', { parseSpecial: true });
    expect(ids).toEqual([1, 32010, 15043, 32007, 32001]);
    expect(tok.decode(ids, { special: true })).toBe('<s><|user|> Hello<|end|><|assistant|>');
    expect(tok.decode(ids)).toBe(' Hello');
  });

  it('decodes as llama_detokenize: leading space, BOS, control and unknown tokens', async () => {
    const tok = await llamaSpm;
    expect(tok.decode([15043, 3186])).toBe('Hello world');
    expect(tok.decode([15043, 3186], { stripLeadingSpace: false })).toBe(' Hello world');
    // the BOS piece takes the leading-space strip, so the space stays (as in llama.cpp)
    expect(tok.decode([1, 15043, 3186])).toBe(' Hello world');
    expect(tok.decode([1, 15043, 3186], { removeSpecial: true })).toBe(' Hello world');
    expect(tok.decode([1, 15043, 2], { special: true })).toBe('<s> Hello</s>');
    expect(tok.decode([1, 15043, 2], { skipSpecial: false })).toBe('<s> Hello</s>');
    expect(tok.decode([0, 15043])).toBe(' Hello');
    expect(tok.decode([0, 15043], { special: true })).toBe('<unk> Hello');
    expect(tok.tokenToPiece(13)).toBe('\n'); // <0x0A>
    expect(() => tok.decode([32000])).toThrow(TokenizerError);
    expect(() => tok.decode([-1])).toThrow(TokenizerError);
  });
});

describe('StreamDecoder', () => {
  it('holds back characters split over byte tokens', async () => {
    const tok = await llamaSpm;
    let byteTokens = 0;
    for (const s of ['🦙', '日本語のテキスト 龘𠜎', 'a😀b🤖c', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', 'Ünïcödé ⚡ 🫠', 'ﷺ ꙮ ᚠᛇᚻ']) {
      const ids = tok.encode(s, { addSpecial: false });
      byteTokens += ids.filter((id) => tok.tokenAttr(id) & TokenAttr.BYTE).length;
      const sd = new StreamDecoder(tok, { stripLeadingSpace: true });
      const outs = ids.map((id) => sd.push(id));
      // no chunk ever contains a replacement character
      for (const o of outs) expect(o).not.toContain('\ufffd');
      expect(outs.join('') + sd.flush()).toBe(s);
    }
    expect(byteTokens).toBeGreaterThan(20);
    // 🦙 is "▁" + four byte tokens: nothing comes out until the fourth
    const ids = tok.encode('🦙', { addSpecial: false });
    expect(ids).toEqual([29871, 243, 162, 169, 156]);
    const sd = new StreamDecoder(tok);
    expect(ids.map((id) => sd.push(id))).toEqual([' ', '', '', '', '🦙']);
    expect(sd.flush()).toBe('');
  });

  it('flushes an incomplete character as U+FFFD, like decode()', async () => {
    const tok = await llamaSpm;
    const ids = [15043, 243, 162]; // "Hello" + first two bytes of a 4-byte character
    const sd = new StreamDecoder(tok);
    expect(ids.map((id) => sd.push(id)).join('')).toBe(' Hello');
    expect(sd.flush()).toBe('\ufffd');
    expect(tok.decode(ids, { stripLeadingSpace: false })).toBe(' Hello\ufffd');
    // after a flush the decoder starts over
    expect(sd.push(3186)).toBe(' world');
  });

  it('matches decode() on random strings and random byte soup', async () => {
    const tok = await llamaSpm;
    const seed = seedFor(0);
    console.log(`StreamDecoder random test seed = ${seed} (TOKENIZER_SEED to repeat)`);
    const rand = mulberry32(seed);
    const alphabet = [...'abcdefghijklmnopqrstuvwxyz ABC  \n\t.,!?0123456789', ...'éüßñçø', ...'日本語中文한국어', ...'😀🦙🤖🫠👍🏽', ...'αβγδ', '\u00a0', '\u2581', '\ufeff'];
    for (let t = 0; t < 300; t++) {
      const len = Math.floor(rand() * 40);
      let s = '';
      for (let i = 0; i < len; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
      const ids = tok.encode(s, { addSpecial: rand() < 0.5 });
      for (const strip of [false, true]) {
        const sd = new StreamDecoder(tok, { stripLeadingSpace: strip });
        const streamed = ids.map((id) => sd.push(id)).join('') + sd.flush();
        expect(streamed, JSON.stringify(s)).toBe(tok.decode(ids, { stripLeadingSpace: strip }));
      }
      // "▁" in the input comes back as a space; otherwise SPM with byte fallback is lossless
      if (!s.includes('\u2581')) expect(tok.decode(tok.encode(s, { addSpecial: false })), JSON.stringify(s)).toBe(s);
    }
    // arbitrary byte-token sequences, valid or not
    for (let t = 0; t < 300; t++) {
      const ids: number[] = [];
      const n = Math.floor(rand() * 12);
      for (let i = 0; i < n; i++) ids.push(rand() < 0.8 ? 3 + Math.floor(rand() * 256) : 15043);
      const sd = new StreamDecoder(tok);
      const streamed = ids.map((id) => sd.push(id)).join('') + sd.flush();
      expect(streamed, JSON.stringify(ids)).toBe(tok.decode(ids, { stripLeadingSpace: false }));
    }
  });
});

describe('vocabulary from metadata', () => {
  const base = (): Map<string, unknown> =>
    new Map<string, unknown>([
      ['tokenizer.ggml.model', 'llama'],
      ['tokenizer.ggml.tokens', ['<unk>', '<s>', '</s>', '▁a', 'b']],
      ['tokenizer.ggml.scores', new Float32Array([0, 0, 0, -1, -2])],
      ['tokenizer.ggml.token_type', new Int32Array([2, 3, 3, 1, 1])],
    ]);
  const build = (m: Map<string, unknown>): SpmVocab => vocabFromMetadata((k) => m.get(k));
  const code = (f: () => unknown): string | undefined => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(TokenizerError);
      return (e as TokenizerError).code;
    }
    return undefined;
  };

  it('applies llama.cpp defaults', () => {
    const v = build(base());
    expect([v.bosId, v.eosId, v.unkId, v.padId]).toEqual([1, 2, 0, NO_TOKEN]);
    expect([v.addBos, v.addEos, v.addSpacePrefix]).toEqual([true, false, true]);
    const tok = new SpmTokenizer(v);
    expect(tok.encode('a')).toEqual([1, 3]);
  });

  it('rejects missing or malformed vocabularies', () => {
    let m = base();
    m.delete('tokenizer.ggml.tokens');
    expect(code(() => build(m))).toBe('MISSING_KEY');
    m = base();
    m.delete('tokenizer.ggml.model');
    expect(code(() => build(m))).toBe('MISSING_KEY');
    m = base();
    m.set('tokenizer.ggml.model', 'gpt2');
    expect(code(() => build(m))).toBe('UNSUPPORTED_MODEL');
    m = base();
    m.set('tokenizer.ggml.scores', new Float32Array(2));
    expect(code(() => build(m))).toBe('BAD_VALUE');
    m = base();
    m.set('tokenizer.ggml.tokens', [1, 2, 3]);
    expect(code(() => build(m))).toBe('BAD_VALUE');
    m = base();
    m.set('tokenizer.ggml.add_bos_token', 'yes');
    expect(code(() => build(m))).toBe('BAD_VALUE');
    m = base();
    m.set('tokenizer.ggml.tokens', ['<unk>']);
    m.set('tokenizer.ggml.scores', new Float32Array(1));
    m.set('tokenizer.ggml.token_type', new Int32Array(1));
    expect(code(() => build(m))).toBe('MISSING_SPECIAL_TOKEN'); // default BOS 1 is out of range
    m = base();
    m.set('tokenizer.ggml.tokens', ['<unk>', '<s>', '</s>', 'b', 'b']);
    expect(code(() => new SpmTokenizer(build(m)))).toBe('DUPLICATE_TOKEN');
  });

  it("accepts the reader's { type, value } wrappers and ignores out-of-range ids", () => {
    const m = base();
    m.set('tokenizer.ggml.bos_token_id', { type: 4, value: 4294967295 });
    m.set('tokenizer.ggml.eos_token_id', { type: 4, value: 4 });
    const v = vocabFromMetadata((k) => {
      const x = m.get(k);
      return x === undefined || (typeof x === 'object' && x !== null && 'value' in x) ? x : { type: 0, value: x };
    });
    expect(v.bosId).toBe(1);
    expect(v.eosId).toBe(4);
  });
});

/**
 * The SPM merge written the obvious way: repeatedly merge the adjacent pair whose
 * concatenation is the highest-scoring token, the leftmost on ties (what llama.cpp's
 * priority queue computes), then fall back to byte tokens. Quadratic; for short texts only.
 */
function naiveSpm(tok: SpmTokenizer, text: string): number[] {
  if (text === '') return []; // llama.cpp makes no fragment of an empty text
  const syms = Array.from(('\u2581' + text).replaceAll(' ', '\u2581'));
  for (;;) {
    let best = -1;
    let bestScore = -Infinity;
    for (let i = 0; i + 1 < syms.length; i++) {
      const id = tok.textToToken(syms[i]! + syms[i + 1]!);
      if (id !== undefined && (best < 0 || tok.tokenScore(id) > bestScore)) {
        best = i;
        bestScore = tok.tokenScore(id);
      }
    }
    if (best < 0) break;
    syms.splice(best, 2, syms[best]! + syms[best + 1]!);
  }
  const out: number[] = [];
  for (const sym of syms) {
    const id = tok.textToToken(sym);
    if (id !== undefined) out.push(id);
    else for (const b of Buffer.from(sym)) out.push(tok.textToToken(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)!);
  }
  return out;
}

describe('the merge equals a naive re-implementation', () => {
  it('on random strings and slices of real text', async () => {
    const tok = await llamaSpm;
    const seed = seedFor(0x5eed);
    console.log(`naive SPM comparison seed = ${seed} (TOKENIZER_SEED to repeat)`);
    const rand = mulberry32(seed);
    const alphabet = [..."aeinrst hlo  ,.\n'-th", ...'éü日本😀', '\u2581', '\u00a0', '\t'];
    const texts: string[] = [];
    for (let t = 0; t < 200; t++) {
      let s = '';
      const len = Math.floor(rand() * 60);
      for (let i = 0; i < len; i++) s += alphabet[Math.floor(rand() * alphabet.length)];
      texts.push(s);
    }
    for (const file of ['text/war-and-peace.txt', 'text/wikitext-2-raw-v1-test.hf.raw', 'text/tinystories-validation-head.txt']) {
      const text = readFileSync(SHARED + file, 'utf8');
      for (let t = 0; t < 100; t++) {
        const at = Math.floor(rand() * (text.length - 300));
        texts.push(text.slice(at, at + Math.floor(rand() * 300)));
      }
    }
    for (const s of texts) expect(tok.encode(s, { addSpecial: false }), JSON.stringify(s)).toEqual(naiveSpm(tok, s));
  });
});

describe('performance', () => {
  it('encodes long text in near-linear time', async () => {
    const tok = await llamaSpm;
    const text = readFileSync(SHARED + 'text/war-and-peace.txt', 'utf8');
    const t0 = performance.now();
    const ids = tok.encode(text, { addSpecial: false });
    const ms = performance.now() - t0;
    console.log(`war-and-peace: ${text.length} chars -> ${ids.length} tokens in ${ms.toFixed(0)} ms`);
    const t1 = performance.now();
    const back = tok.decode(ids);
    console.log(`decode: ${(performance.now() - t1).toFixed(0)} ms`);
    expect(back).toBe(text);
  }, 120_000);
});
