import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openGGUF } from '../../src/gguf/reader.js';
import { loadTokenizer } from '../../src/model/model.js';
import { BpeTokenizer, PreTokenizer, PRE_TOKENIZER_NAMES, preTokenizerSpec, TokenizerError, type Tokenizer } from '../../src/tokenizer/index.js';
import { sharedPath } from '../helpers/shared.js';
import { BPE_VOCABS } from './helpers.js';

/** llama.cpp's tokenizer test files: `.inp` sections end with "\n__ggml_vocab_test__\n", `.out` has one line of ids per section. */
function readCases(file: string): Array<{ text: string; ids: number[] }> {
  const inp = readFileSync(file + '.inp', 'utf8').split('\n__ggml_vocab_test__\n');
  expect(inp.pop()).toBe('');
  const out = readFileSync(file + '.out', 'utf8').split('\n');
  expect(out.pop()).toBe('');
  expect(out.length).toBe(inp.length);
  return inp.map((text, i) => ({
    text,
    ids: out[i]!.split(' ')
      .filter((s) => s !== '')
      .map(Number),
  }));
}

const cache = new Map<string, Promise<Tokenizer>>();
function tok(rel: string): Promise<Tokenizer> {
  let t = cache.get(rel);
  if (t === undefined) {
    t = loadTokenizer(sharedPath(rel), { warn: () => {} });
    cache.set(rel, t);
  }
  return t;
}

describe('llama.cpp tokenizer test vectors (byte-level BPE, add_special=false, parse_special=false)', () => {
  for (const rel of BPE_VOCABS) {
    it(rel, async () => {
      const t = await tok(rel);
      expect(t.kind).toBe('bpe');
      const cases = readCases(sharedPath(rel));
      let pass = 0;
      const failures: string[] = [];
      for (const c of cases) {
        const got = t.encode(c.text, { addSpecial: false, parseSpecial: false });
        if (JSON.stringify(got) === JSON.stringify(c.ids)) pass++;
        else failures.push(`${JSON.stringify(c.text)}: got ${JSON.stringify(got)} want ${JSON.stringify(c.ids)}`);
      }
      console.log(`[${rel}] encode: ${pass}/${cases.length} match llama.cpp`);
      expect(failures).toEqual([]);
    });
  }
});

describe('SmolLM2: Hugging Face tokenizer cases (parseSpecial on)', () => {
  it('every case matches', async () => {
    const t = await tok('vocab/smollm2/smollm2-vocab.gguf');
    const { cases } = JSON.parse(readFileSync(sharedPath('vocab/smollm2/tokenizer-cases.json'), 'utf8')) as {
      cases: Array<{ text: string; ids: number[] }>;
    };
    expect(cases.length).toBeGreaterThan(20);
    const failures: string[] = [];
    for (const c of cases) {
      const got = t.encode(c.text, { addSpecial: false, parseSpecial: true });
      if (JSON.stringify(got) !== JSON.stringify(c.ids)) failures.push(`${JSON.stringify(c.text)}: got ${JSON.stringify(got)} want ${JSON.stringify(c.ids)}`);
    }
    console.log(`[smollm2 HF cases] ${cases.length - failures.length}/${cases.length} match`);
    expect(failures).toEqual([]);
  });

  it('special tokens are plain text unless parseSpecial', async () => {
    const t = await tok('vocab/smollm2/smollm2-vocab.gguf');
    const imStart = t.textToToken('<|im_start|>')!;
    expect(imStart).toBe(1);
    expect(t.encode('<|im_start|>user', { addSpecial: false, parseSpecial: true })[0]).toBe(imStart);
    const plain = t.encode('<|im_start|>user', { addSpecial: false });
    expect(plain).not.toContain(imStart);
    expect(t.decode(plain)).toBe('<|im_start|>user');
    expect(t.isEog(t.textToToken('<|im_end|>')!)).toBe(true);
    expect(t.addBos).toBe(false);
  });
});

describe('BPE vocabulary details', () => {
  it('llama-bpe adds BOS (Llama 3 default) and decodes with it removed', async () => {
    const t = await tok('vocab/ggml-vocab-llama-bpe.gguf');
    const ids = t.encode('Hello world');
    expect(ids[0]).toBe(128000);
    expect(t.decode(ids, { removeSpecial: true })).toBe('Hello world');
    expect(t.decode(ids, { special: true })).toBe('<|begin_of_text|>Hello world');
  });

  it('cleans spaces in decode as llama.cpp does (gpt-2), and not when asked', async () => {
    const t = await tok('vocab/ggml-vocab-gpt-2.gguf');
    const ids = t.encode("a , b . c ' d 's", { addSpecial: false });
    expect(t.decode(ids)).toBe("a, b. c'd's");
    expect(t.decode(ids, { cleanSpaces: false })).toBe("a , b . c ' d 's");
  });

  it('an unknown pre-tokenizer is a TokenizerError naming it; a missing one is "default" with a warning', () => {
    expect(() => preTokenizerSpec('no-such-pre')).toThrow(TokenizerError);
    expect(() => preTokenizerSpec('no-such-pre')).toThrow(/unknown pre-tokenizer "no-such-pre"/);
    const warnings: string[] = [];
    expect(preTokenizerSpec(undefined, (m) => warnings.push(m)).name).toBe('default');
    expect(warnings).toHaveLength(1);
    expect(preTokenizerSpec('qwen35').name).toBe('qwen35');
  });

  it('knows every pre-tokenizer name llama.cpp knows', () => {
    // llama.cpp's names (llama-vocab.cpp, release v0.5.0 of the conformance install)
    const llama = [
      'a.x-4.0',
      'afmoe',
      'bailingmoe',
      'bailingmoe2',
      'bloom',
      'chameleon',
      'chatglm-bpe',
      'codeshell',
      'cohere2moe',
      'command-r',
      'dbrx',
      'deepseek-coder',
      'deepseek-llm',
      'deepseek-r1-qwen',
      'deepseek-v3',
      'default',
      'exaone',
      'exaone-moe',
      'exaone4',
      'f2llmv2',
      'falcon',
      'falcon-h1',
      'falcon3',
      'gemma4',
      'gigachat',
      'glm4',
      'gpt-2',
      'gpt-4o',
      'gpt3-finnish',
      'granite-docling',
      'granite-embed-multi-311m',
      'granite-embed-multi-97m',
      'grok-2',
      'hunyuan',
      'hunyuan-dense',
      'hy_v4',
      'jais',
      'jais-2',
      'jina-de',
      'jina-es',
      'jina-v1-en',
      'jina-v2-code',
      'jina-v2-de',
      'jina-v2-es',
      'jina-v5-nano',
      'joyai-llm',
      'kanana2',
      'kimi-k2',
      'kormo',
      'laguna',
      'lfm2',
      'llada-moe',
      'llama-bpe',
      'llama-v3',
      'llama3',
      'llama4',
      'megrez',
      'mellum',
      'mellum2',
      'midm-2.0',
      'minerva-7b',
      'minicpm5',
      'minimax-m2',
      'modern-bert',
      'mpt',
      'olmo',
      'phi-2',
      'pixtral',
      'poro-chat',
      'qwen2',
      'qwen35',
      'refact',
      'roberta-bpe',
      'sarvam-moe',
      'seed-coder',
      'smaug-bpe',
      'smollm',
      'solar-open',
      'spark2_5',
      'stablelm2',
      'starcoder',
      'superbpe',
      'talkie',
      'tekken',
      'tiny_aya',
      'trillion',
      'ufakzeka',
      'viking',
      'whitespace',
      'youtu',
    ];
    const missing = llama.filter((n) => !PRE_TOKENIZER_NAMES.includes(n));
    expect(missing).toEqual([]);
  });

  it('digit groups of three from the right (AFMoE, Tiny Aya) and Kimi K2 scanners', () => {
    expect(new PreTokenizer(preTokenizerSpec('afmoe')).words('x1234567 12')).toEqual(['x', '1', '234', '567', ' ', '12']);
    expect(new PreTokenizer(preTokenizerSpec('kimi-k2')).words("中文abc's 12345 !!")).toEqual(['中文', "abc's", ' ', '123', '45', ' !!']);
  });

  it('pre-tokenizers keep text they do not match', () => {
    for (const name of PRE_TOKENIZER_NAMES) {
      const p = new PreTokenizer(preTokenizerSpec(name));
      for (const s of ['Hello, world! 123 4567\n\n  x\t\ty', '日本語のテキスト😀 ¿Qué? ', "don't  I'LL   \r\n", '\u0085\u00a0\u3000a\ufeff']) {
        expect(p.words(s).join(''), `${name} ${JSON.stringify(s)}`).toBe(s);
      }
    }
  });

  it('a byte order mark is text like any other (regex stages keep their offsets)', () => {
    const p = new PreTokenizer(preTokenizerSpec('deepseek-coder'));
    expect(p.words('\ufefftheไทย')).toEqual(['\ufeff', 'the', 'ไทย']);
  });

  it('Llama 3 pre-tokenizer cuts as the regex does', () => {
    const p = new PreTokenizer(preTokenizerSpec('llama-bpe'));
    expect(p.words("Hello world's 12345 !!\n\n  ok")).toEqual(['Hello', ' world', "'s", ' ', '123', '45', ' !!\n\n', ' ', ' ok']);
    const q = new PreTokenizer(preTokenizerSpec('qwen2'));
    expect(q.words('ab 123')).toEqual(['ab', ' ', '1', '2', '3']);
  });

  it('rejects bad vocabularies with TokenizerError', () => {
    const meta = (extra: Record<string, unknown>) => (k: string) => ({ 'tokenizer.ggml.model': 'gpt2', 'tokenizer.ggml.tokens': ['a', 'b'], 'tokenizer.ggml.merges': ['a b'], ...extra })[k];
    expect(() => BpeTokenizer.fromMetadata(meta({ 'tokenizer.ggml.merges': undefined }))).toThrow(TokenizerError);
    expect(() => BpeTokenizer.fromMetadata(meta({ 'tokenizer.ggml.tokens': ['a', 'a'] }))).toThrow(/duplicate/);
    expect(() => BpeTokenizer.fromMetadata(meta({ 'tokenizer.ggml.add_bos_token': true }))).toThrow(TokenizerError);
    const t = BpeTokenizer.fromMetadata(meta({}), { warn: () => {} });
    expect(() => t.decode([5])).toThrow(TokenizerError);
  });

  it('SPM vocabularies still load through the same entry point', async () => {
    const t = await tok('vocab/ggml-vocab-llama-spm.gguf');
    expect(t.kind).toBe('spm');
    const f = await openGGUF(sharedPath('vocab/ggml-vocab-llama-spm.gguf'));
    f.close();
  });
});

describe('performance', () => {
  it('encodes war-and-peace (3 MB) in well under a second of CPU and decodes it back', async () => {
    const t = await tok('vocab/smollm2/smollm2-vocab.gguf');
    const text = readFileSync(sharedPath('text/war-and-peace.txt'), 'utf8');
    const c0 = process.cpuUsage();
    const ids = t.encode(text, { addSpecial: false });
    const c = process.cpuUsage(c0);
    const ms = (c.user + c.system) / 1000;
    console.log(`war-and-peace (smollm2): ${Buffer.byteLength(text)} bytes -> ${ids.length} tokens in ${ms.toFixed(0)} ms CPU (cold word cache)`);
    expect(t.decode(ids, { cleanSpaces: false })).toBe(text);
    // Generous for a loaded CI machine; typically ~0.4 s.
    expect(ms).toBeLessThan(2500);
  }, 60_000);
});
