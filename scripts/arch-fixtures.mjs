#!/usr/bin/env node
/**
 * Seeded random-weight fixtures of the architectures beyond SmolLM2's Llama
 * (model/arch/): written with tsinfer's GGUF writer to fixtures/generated/,
 * laid out as llama.cpp's converter lays them out (tensor names and shapes,
 * `<arch>.*` metadata keys, tokenizer.* keys and token types of a real
 * vocabulary), then quantized with tsinfer's quantizer. Called by
 * scripts/fixtures.mjs (`npm run fixtures`) and conformance/arch.mjs.
 *
 *   node scripts/arch-fixtures.mjs [--only qwen2-1l,gemma3,...] [--force] [--list]
 *
 * Shapes are the real small models' widths, cut to fewer layers:
 *   llama-rope-1l  SmolLM2-135M 1 layer + Llama 3 rope frequency factors (rope_freqs.weight,
 *                  factor 32 as Llama 3.2) and linear rope scaling (factor 2), base 500000
 *   qwen2[-1l]     Qwen2.5-0.5B: 896 embd, 14/2 heads of 64, 4864 ff, q/k/v biases (4 or 1 layers)
 *   qwen3[-1l]     Qwen3-0.6B: 1024 embd, 16/8 heads of 128, 3072 ff, q/k norms (4 or 1 layers)
 *   gemma3[-1l]    Gemma-3-270M: 640 embd, 4/1 heads of 256, 2048 ff (6 or 1 layers); sliding
 *                  window 32 instead of 512 so that short tests cross it, 5 local : 1 global
 *   phi3-1l        Phi-3-mini: 3072 embd, 32/32 heads of 96, 8192 ff, fused qkv and gate-up (1 layer)
 *   phi3-narrow-1l Phi-3's layout at 768 embd, 8 heads of 96, 2048 ff (1 layer; small enough for CI)
 *   qwen2-yarn-1l  Qwen2's layout at 256 embd, 4/2 heads of 64, 768 ff, 1 layer, YaRN factor 4 over an
 *                  original context of 32 (context 128), so that short runs go past it
 *   llama-yarn-1l  SmolLM2's layout, as narrow, base 10000, YaRN as qwen2-yarn-1l with the optional
 *                  yarn_ext_factor / yarn_beta_fast / yarn_beta_slow keys at their defaults
 *   phi3-yarn-1l   Phi-3's layout at 384 embd, 4 heads of 96 (a rope dimension that is not a power of 2),
 *                  768 ff, 1 layer, YaRN as qwen2-yarn-1l (not among the default sets)
 *   gemma3-swa     Gemma 3's layout as gemma3-yarn without YaRN, with rope.freq_base_swa 50000 and
 *                  attention.sliding_window_pattern 3 (not among the default sets)
 *   gemma3-yarn    Gemma 3's layout, as narrow (4/1 heads of 256), 6 layers (5 local + 1 global), YaRN as
 *                  above and rope.scaling.attn_factor 1.25 (local layers: base 10000, the global attn_factor)
 *
 * Vocabularies (from ../shared/vocab, none of them the models' own except Phi-3's):
 * Qwen2/Qwen3 use GPT-2's byte-level BPE (50257 tokens) for Qwen's 151936; Gemma 3
 * uses Llama's SentencePiece vocabulary (32000) for Gemma's 262144, which is not
 * available here. Runs against dist/ (build first: npx tsc).
 */
import { existsSync, mkdirSync, renameSync, unlinkSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FIXTURE_DIR, weightBytes } from './fixtures.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = path.join(ROOT, 'dist');
const VOCAB_DIR = path.resolve(ROOT, '..', 'shared', 'vocab');

const { openGGUF } = await import(path.join(DIST, 'gguf', 'reader.js'));
const { writeGGUF, metadataOf, gv } = await import(path.join(DIST, 'gguf', 'writer.js'));
const { GGMLType } = await import(path.join(DIST, 'gguf', 'types.js'));
const { llamaTensorOrder } = await import(path.join(DIST, 'quant', 'filetype.js'));
const { quantizeModel } = await import(path.join(DIST, 'quant', 'quantize-model.js'));

const qwen2 = { arch: 'qwen2', name: 'Qwen2.5-0.5B', vocab: 'ggml-vocab-gpt-2.gguf', nEmbd: 896, nHead: 14, nHeadKv: 2, headDim: 64, nFf: 4864, ctx: 32768, ropeBase: 1e6, eps: 1e-6, bias: true };
const qwen3 = {
  arch: 'qwen3',
  name: 'Qwen3-0.6B',
  vocab: 'ggml-vocab-gpt-2.gguf',
  nEmbd: 1024,
  nHead: 16,
  nHeadKv: 8,
  headDim: 128,
  nFf: 3072,
  ctx: 40960,
  ropeBase: 1e6,
  eps: 1e-6,
  qkNorm: true,
  keyLength: true,
};
const gemma3 = {
  arch: 'gemma3',
  name: 'Gemma-3-270M',
  vocab: 'ggml-vocab-llama-spm.gguf',
  nEmbd: 640,
  nHead: 4,
  nHeadKv: 1,
  headDim: 256,
  nFf: 2048,
  ctx: 32768,
  ropeBase: 1e6,
  eps: 1e-6,
  qkNorm: true,
  keyLength: true,
  gemma: true,
  window: 32,
};
const phi3 = {
  arch: 'phi3',
  name: 'Phi-3-mini-4k',
  vocab: 'ggml-vocab-phi-3.gguf',
  nEmbd: 3072,
  nHead: 32,
  nHeadKv: 32,
  headDim: 96,
  nFf: 8192,
  ctx: 4096,
  ropeBase: 10000,
  eps: 1e-5,
  fused: true,
  untied: true,
  ropeDim: true,
  window: 2047,
};
const smol = {
  arch: 'llama',
  name: 'SmolLM2-135M',
  vocab: path.join('smollm2', 'smollm2-vocab.gguf'),
  nEmbd: 576,
  nHead: 9,
  nHeadKv: 3,
  headDim: 64,
  nFf: 1536,
  ctx: 8192,
  ropeBase: 500000,
  eps: 1e-5,
  ropeDim: true,
  llama3Rope: { factor: 32, low: 1, high: 4, orig: 8192 },
  linear: 2,
};

/** YaRN sets: 256 wide, 4/2 heads of 64, 1 layer (the rope is what they test; small enough for CI on every backend). */
const narrow = { nEmbd: 256, nHead: 4, nHeadKv: 2, headDim: 64, nFf: 768, nLayer: 1, types: [] };

export const ARCH_SETS = {
  'llama-rope-1l': { ...smol, base: 'llama-rope-1l', nLayer: 1, seed: 31001, types: [] },
  'qwen2-1l': { ...qwen2, base: 'qwen2-0.5b-1l', nLayer: 1, seed: 2001, types: [] },
  qwen2: { ...qwen2, base: 'qwen2-0.5b-4l', nLayer: 4, seed: 2004, types: ['Q8_0', 'Q4_K_M'] },
  'qwen3-1l': { ...qwen3, base: 'qwen3-0.6b-1l', nLayer: 1, seed: 3001, types: [] },
  qwen3: { ...qwen3, base: 'qwen3-0.6b-4l', nLayer: 4, seed: 3004, types: ['Q8_0', 'Q4_K_M'] },
  'gemma3-1l': { ...gemma3, base: 'gemma3-270m-1l', nLayer: 1, seed: 4001, types: [] },
  gemma3: { ...gemma3, base: 'gemma3-270m-6l', nLayer: 6, seed: 4006, types: ['Q8_0', 'Q4_K_M'] },
  'phi3-narrow-1l': { ...phi3, name: 'Phi-3 layout, narrowed', base: 'phi3-narrow-1l', nEmbd: 768, nHead: 8, nHeadKv: 8, nFf: 2048, nLayer: 1, seed: 5002, types: [] },
  'phi3-1l': { ...phi3, base: 'phi3-mini-1l', nLayer: 1, seed: 5001, types: [] },
  'qwen2-yarn-1l': { ...qwen2, ...narrow, name: 'Qwen2.5 layout, narrowed, YaRN', base: 'qwen2-yarn-1l', seed: 2101, ctx: 128, yarn: { factor: 4, orig: 32 } },
  'llama-yarn-1l': {
    ...smol,
    ...narrow,
    name: 'SmolLM2 layout, narrowed, YaRN',
    base: 'llama-yarn-1l',
    seed: 31101,
    ctx: 128,
    ropeBase: 10000,
    llama3Rope: undefined,
    linear: undefined,
    // the keys a converter writes when the model's config states YaRN's defaults
    yarn: { factor: 4, orig: 32, betaFast: 32, betaSlow: 1, extFactor: 1 },
  },
  'phi3-yarn-1l': { ...phi3, ...narrow, nEmbd: 384, nHeadKv: 4, headDim: 96, name: 'Phi-3 layout, narrowed, YaRN', base: 'phi3-yarn-1l', seed: 5101, ctx: 128, yarn: { factor: 4, orig: 32 } },
  'gemma3-yarn': {
    ...gemma3,
    ...narrow,
    nHeadKv: 1,
    headDim: 256,
    nLayer: 6,
    name: 'Gemma 3 layout, narrowed, YaRN',
    base: 'gemma3-yarn-6l',
    seed: 4106,
    ctx: 128,
    yarn: { factor: 4, orig: 32, attnFactor: 1.25 },
  },
  'gemma3-swa': {
    ...gemma3,
    ...narrow,
    nHeadKv: 1,
    headDim: 256,
    nLayer: 6,
    name: 'Gemma 3 layout, narrowed, own local rope base and sliding pattern',
    base: 'gemma3-swa-6l',
    seed: 4206,
    ctx: 128,
    swaBase: 50000,
    swaPattern: 3,
  },
};
/** Sets made by `npm run fixtures` (the full-width Phi-3 layer, 1.2 GB in F32, only when asked for). */
export const DEFAULT_ARCH_SETS = ['llama-rope-1l', 'qwen2-1l', 'qwen3-1l', 'gemma3-1l', 'phi3-narrow-1l', 'qwen2-yarn-1l', 'llama-yarn-1l', 'gemma3-yarn', 'qwen2', 'qwen3', 'gemma3'];

export function archFixturePath(set, type = 'F32') {
  return path.join(FIXTURE_DIR, `${ARCH_SETS[set].base}-${type.toLowerCase()}.gguf`);
}

/** Llama 3's rope frequency factors as the converter computes them (float64, then float32). */
function llama3Factors(s) {
  const { factor, low, high, orig } = s.llama3Rope;
  const out = [];
  for (let i = 0; i < s.headDim; i += 2) {
    const freq = 1 / Math.pow(s.ropeBase, i / s.headDim);
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < orig / high) out.push(1);
    else if (wavelen > orig / low) out.push(factor);
    else {
      const smooth = (orig / wavelen - low) / (high - low);
      out.push(1 / ((1 - smooth) / factor + smooth));
    }
  }
  return Float32Array.from(out);
}

/** The tensors of a set, named and shaped as llama.cpp's converter writes them (ggml shapes: [row length, rows]). */
function tensorsOf(s, nVocab) {
  const d = s.nEmbd;
  const q = s.nHead * s.headDim;
  const kv = s.nHeadKv * s.headDim;
  const t = [
    { name: 'token_embd.weight', shape: [d, nVocab], kind: 'w' },
    { name: 'output_norm.weight', shape: [d], kind: 'norm' },
  ];
  if (s.untied) t.push({ name: 'output.weight', shape: [d, nVocab], kind: 'w' });
  if (s.llama3Rope) t.push({ name: 'rope_freqs.weight', shape: [s.headDim / 2], kind: 'fixed', values: llama3Factors(s) });
  for (let l = 0; l < s.nLayer; l++) {
    const b = `blk.${l}.`;
    t.push({ name: b + 'attn_norm.weight', shape: [d], kind: 'norm' });
    if (s.fused) t.push({ name: b + 'attn_qkv.weight', shape: [d, q + 2 * kv], kind: 'w' });
    else {
      t.push({ name: b + 'attn_q.weight', shape: [d, q], kind: 'w' }, { name: b + 'attn_k.weight', shape: [d, kv], kind: 'w' }, { name: b + 'attn_v.weight', shape: [d, kv], kind: 'w' });
    }
    if (s.bias) {
      t.push(
        { name: b + 'attn_q.bias', shape: [q], kind: 'w', scale: 0.5 },
        { name: b + 'attn_k.bias', shape: [kv], kind: 'w', scale: 0.5 },
        { name: b + 'attn_v.bias', shape: [kv], kind: 'w', scale: 0.5 },
      );
    }
    if (s.qkNorm) t.push({ name: b + 'attn_q_norm.weight', shape: [s.headDim], kind: 'norm' }, { name: b + 'attn_k_norm.weight', shape: [s.headDim], kind: 'norm' });
    t.push({ name: b + 'attn_output.weight', shape: [q, d], kind: 'residual' });
    if (s.gemma) t.push({ name: b + 'post_attention_norm.weight', shape: [d], kind: 'norm' });
    t.push({ name: b + 'ffn_norm.weight', shape: [d], kind: 'norm' });
    if (s.fused) t.push({ name: b + 'ffn_up.weight', shape: [d, 2 * s.nFf], kind: 'w' });
    else t.push({ name: b + 'ffn_gate.weight', shape: [d, s.nFf], kind: 'w' }, { name: b + 'ffn_up.weight', shape: [d, s.nFf], kind: 'w' });
    t.push({ name: b + 'ffn_down.weight', shape: [s.nFf, d], kind: 'residual' });
    if (s.gemma) t.push({ name: b + 'post_ffw_norm.weight', shape: [d], kind: 'norm' });
  }
  return llamaTensorOrder(t);
}

/** The `<arch>.*` keys the converter writes for the set. */
function archKeys(s) {
  const a = s.arch;
  const k = [
    [`${a}.context_length`, gv.u32(s.ctx)],
    [`${a}.embedding_length`, gv.u32(s.nEmbd)],
    [`${a}.block_count`, gv.u32(s.nLayer)],
    [`${a}.feed_forward_length`, gv.u32(s.nFf)],
    [`${a}.attention.head_count`, gv.u32(s.nHead)],
    [`${a}.attention.head_count_kv`, gv.u32(s.nHeadKv)],
    [`${a}.rope.freq_base`, gv.f32(s.ropeBase)],
    [`${a}.attention.layer_norm_rms_epsilon`, gv.f32(s.eps)],
  ];
  if (s.keyLength) k.push([`${a}.attention.key_length`, gv.u32(s.headDim)], [`${a}.attention.value_length`, gv.u32(s.headDim)]);
  if (s.ropeDim) k.push([`${a}.rope.dimension_count`, gv.u32(s.headDim)]);
  if (s.window) k.push([`${a}.attention.sliding_window`, gv.u32(s.window)]);
  if (s.swaBase) k.push([`${a}.rope.freq_base_swa`, gv.f32(s.swaBase)]);
  if (s.swaPattern !== undefined) k.push([`${a}.attention.sliding_window_pattern`, gv.u32(s.swaPattern)]);
  if (s.linear) k.push([`${a}.rope.scaling.type`, gv.string('linear')], [`${a}.rope.scaling.factor`, gv.f32(s.linear)]);
  if (s.yarn) {
    const y = s.yarn;
    k.push([`${a}.rope.scaling.type`, gv.string('yarn')], [`${a}.rope.scaling.factor`, gv.f32(y.factor)], [`${a}.rope.scaling.original_context_length`, gv.u32(y.orig)]);
    if (y.extFactor !== undefined) k.push([`${a}.rope.scaling.yarn_ext_factor`, gv.f32(y.extFactor)]);
    if (y.attnFactor !== undefined) k.push([`${a}.rope.scaling.attn_factor`, gv.f32(y.attnFactor)]);
    if (y.betaFast !== undefined) k.push([`${a}.rope.scaling.yarn_beta_fast`, gv.f32(y.betaFast)], [`${a}.rope.scaling.yarn_beta_slow`, gv.f32(y.betaSlow)]);
  }
  return k;
}

export async function writeArchFixture(set, out = archFixturePath(set)) {
  const s = ARCH_SETS[set];
  const vocab = await openGGUF(path.join(VOCAB_DIR, s.vocab));
  let nVocab;
  let meta;
  try {
    nVocab = vocab.getArray('tokenizer.ggml.tokens').length;
    meta = [
      ['general.architecture', gv.string(s.arch)],
      ['general.name', gv.string(`${s.name} ${s.nLayer}-layer (tsinfer fixture: seeded random weights, seed ${s.seed})`)],
      ...archKeys(s),
      ['general.file_type', gv.u32(0)],
      ...metadataOf(vocab).filter(([k]) => k.startsWith('tokenizer.')),
      ['tsinfer.fixture.seed', gv.u32(s.seed)],
    ];
  } finally {
    vocab.close();
  }
  const tensors = tensorsOf(s, nVocab).map((t) => ({
    name: t.name,
    typeId: GGMLType.F32,
    shape: t.shape,
    data:
      t.kind === 'fixed'
        ? function* () {
            yield new Uint8Array(t.values.buffer);
          }
        : () => weightBytes(s, t),
  }));
  const tmp = `${out}.${process.pid}-${Math.random().toString(36).slice(2, 8)}.tmp`;
  try {
    await writeGGUF(tmp, meta, tensors, { flags: 'w' });
    renameSync(tmp, out);
  } catch (e) {
    if (existsSync(tmp)) unlinkSync(tmp);
    throw e;
  }
  return out;
}

/** Makes the missing fixture files of the sets (all with force); returns the paths, F32 first per set. */
/** @param {{ sets?: string[], force?: boolean, log?: (line: string) => void }} [opts] */
export async function ensureArchFixtures({ sets = DEFAULT_ARCH_SETS, force = false, log = (/** @type {string} */ _line) => {} } = {}) {
  mkdirSync(FIXTURE_DIR, { recursive: true });
  const paths = [];
  for (const set of sets) {
    const s = ARCH_SETS[set];
    if (!s) throw new Error(`unknown architecture fixture set "${set}" (${Object.keys(ARCH_SETS).join(', ')})`);
    const f32 = archFixturePath(set);
    if (force || !existsSync(f32)) {
      const t0 = Date.now();
      await writeArchFixture(set, f32);
      log(`wrote ${path.relative(ROOT, f32)} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    }
    paths.push(f32);
    for (const type of s.types) {
      const out = archFixturePath(set, type);
      if (force || !existsSync(out)) {
        const t0 = Date.now();
        await quantizeModel(f32, out, type, { force: true, threads: Math.min(4, availableParallelism()) });
        log(`wrote ${path.relative(ROOT, out)} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      }
      paths.push(out);
    }
  }
  return paths;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  let sets;
  let force = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--force') force = true;
    else if (argv[i] === '--only')
      sets = String(argv[++i] ?? '')
        .split(',')
        .filter(Boolean);
    else if (argv[i] === '--list') {
      for (const set of DEFAULT_ARCH_SETS) console.log(path.relative(ROOT, archFixturePath(set)));
      process.exit(0);
    } else {
      console.error(`arch-fixtures: unknown argument "${argv[i]}"`);
      process.exit(2);
    }
  }
  ensureArchFixtures({ sets, force, log: (m) => console.log(m) }).then(
    (p) => console.log(`${p.length} fixture files in ${path.relative(ROOT, FIXTURE_DIR)}/`),
    (e) => {
      console.error(`arch-fixtures: ${e?.stack ?? e}`);
      process.exit(1);
    },
  );
}
