#!/usr/bin/env node
/**
 * `npm run fixtures`: deterministic SmolLM2-shaped Llama models with seeded
 * random weights and the real SmolLM2 vocabulary and chat template, written
 * to fixtures/generated/ (git-ignored). F32 first, then quantized to Q8_0,
 * Q4_0, Q4_K_M and Q6_K with tsinfer's quantizer (the code path of
 * `tsinfer quantize`).
 *
 *   node scripts/fixtures.mjs [--only tiny|135m|360m[,...]] [--force] [--list]
 *
 * Sets (default: all three, smallest first; existing files are kept):
 *   tiny  smollm2-135m-1l-*: the 135M shape with 1 layer (fast tests)
 *   135m  smollm2-135m-*: 30 layers, 576 embd, 9/3 heads, 1536 ff
 *   360m  smollm2-360m-*: 32 layers, 960 embd, 15/5 heads, 2560 ff
 *   k256  k256-8l-*: 8 layers, 512 embd, 8/2 heads, 1536 ff (only with --only k256: K-quant rules without fallbacks)
 *
 * Weights: N(0, 0.02) from a per-tensor mulberry32 stream (seed = fixture seed
 * mixed with the tensor name), residual projections (attn_output, ffn_down)
 * divided by sqrt(2 * layers), norm weights 1 + N(0, 0.02): activations stay
 * finite over 30 layers. Runs against dist/ (build first: npx tsc).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = path.join(ROOT, 'dist');
export const FIXTURE_DIR = path.join(ROOT, 'fixtures', 'generated');
const VOCAB = path.resolve(ROOT, '..', 'shared', 'vocab', 'smollm2', 'smollm2-vocab.gguf');

const { openGGUF } = await import(path.join(DIST, 'gguf', 'reader.js'));
const { writeGGUF, metadataOf, gv } = await import(path.join(DIST, 'gguf', 'writer.js'));
const { GGMLType } = await import(path.join(DIST, 'gguf', 'types.js'));
const { llamaTensorOrder } = await import(path.join(DIST, 'quant', 'filetype.js'));
const { quantizeModel } = await import(path.join(DIST, 'quant', 'quantize-model.js'));

export const QUANT_TYPES = ['Q8_0', 'Q4_0', 'Q4_K_M', 'Q6_K'];

/** The model shapes and the sets made by default: fixtures/settings.json. */
const SETTINGS = JSON.parse(readFileSync(path.join(ROOT, 'fixtures', 'settings.json'), 'utf8'));
export const SHAPES = SETTINGS.shapes;
export const DEFAULT_SETS = SETTINGS.defaultSets;

/** Path of a fixture file: fixturePath('tiny', 'Q4_K_M') -> fixtures/generated/smollm2-135m-1l-q4_k_m.gguf. */
export function fixturePath(set, type = 'F32') {
  return path.join(FIXTURE_DIR, `${SHAPES[set].base}-${type.toLowerCase()}.gguf`);
}

function fnv1a(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** mulberry32: uniform numbers in [0, 1) from a 32-bit seed. */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** N(0,1) float32 samples from mulberry32(seed), Box-Muller in float64 (both outputs used). */
function* normals(seed, n, chunk = 1 << 20) {
  const next = mulberry32(seed);
  const buf = new Float32Array(Math.min(chunk, n) + 1);
  for (let done = 0; done < n; ) {
    const m = Math.min(chunk, n - done);
    for (let i = 0; i < m; i += 2) {
      const r = Math.sqrt(-2 * Math.log(1 - next()));
      const th = 2 * Math.PI * next();
      buf[i] = r * Math.cos(th);
      buf[i + 1] = r * Math.sin(th);
    }
    yield buf.subarray(0, m);
    done += m;
  }
}

/** Tensor list of a Llama model with tied embeddings (ggml shapes: [row length, rows]). */
function tensorsOf(s, nVocab) {
  const kv = (s.nEmbd / s.nHead) * s.nHeadKv;
  const t = [
    { name: 'token_embd.weight', shape: [s.nEmbd, nVocab], kind: 'w' },
    { name: 'output_norm.weight', shape: [s.nEmbd], kind: 'norm' },
  ];
  for (let l = 0; l < s.nLayer; l++) {
    const b = `blk.${l}.`;
    t.push(
      { name: b + 'attn_norm.weight', shape: [s.nEmbd], kind: 'norm' },
      { name: b + 'attn_q.weight', shape: [s.nEmbd, s.nEmbd], kind: 'w' },
      { name: b + 'attn_k.weight', shape: [s.nEmbd, kv], kind: 'w' },
      { name: b + 'attn_v.weight', shape: [s.nEmbd, kv], kind: 'w' },
      { name: b + 'attn_output.weight', shape: [s.nEmbd, s.nEmbd], kind: 'residual' },
      { name: b + 'ffn_norm.weight', shape: [s.nEmbd], kind: 'norm' },
      { name: b + 'ffn_gate.weight', shape: [s.nEmbd, s.nFf], kind: 'w' },
      { name: b + 'ffn_up.weight', shape: [s.nEmbd, s.nFf], kind: 'w' },
      { name: b + 'ffn_down.weight', shape: [s.nFf, s.nEmbd], kind: 'residual' },
    );
  }
  return llamaTensorOrder(t);
}

/** F32 bytes of a tensor: N(0, 0.02) (residual projections / sqrt(2 layers), norms 1 + N(0, 0.02), t.scale overrides 0.02). */
export function* weightBytes(s, t) {
  const n = t.shape.reduce((a, b) => a * b, 1);
  const scale = t.scale ?? (t.kind === 'residual' ? 0.02 / Math.sqrt(2 * s.nLayer) : 0.02);
  for (const chunk of normals((s.seed * 2654435761 + fnv1a(t.name)) >>> 0, n)) {
    for (let i = 0; i < chunk.length; i++) chunk[i] = t.kind === 'norm' ? 1 + 0.02 * chunk[i] : scale * chunk[i];
    yield new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  }
}

/** Writes the F32 fixture of a shape (to a temporary name, then renamed). */
export async function writeF32Fixture(set, out = fixturePath(set)) {
  const s = SHAPES[set];
  const vocab = await openGGUF(VOCAB);
  let nVocab;
  let meta;
  try {
    nVocab = vocab.getArray('tokenizer.ggml.tokens').length;
    const headDim = s.nEmbd / s.nHead;
    const overrides = new Map([
      ['general.name', gv.string(`${s.name} (tsinfer fixture: seeded random weights, seed ${s.seed})`)],
      ['llama.block_count', gv.u32(s.nLayer)],
      ['llama.embedding_length', gv.u32(s.nEmbd)],
      ['llama.feed_forward_length', gv.u32(s.nFf)],
      ['llama.attention.head_count', gv.u32(s.nHead)],
      ['llama.attention.head_count_kv', gv.u32(s.nHeadKv)],
      ['llama.rope.freq_base', gv.f32(100000)],
      ['llama.attention.layer_norm_rms_epsilon', gv.f32(1e-5)],
      ['llama.rope.dimension_count', gv.u32(headDim)],
      ['llama.vocab_size', gv.u32(nVocab)],
      ['general.file_type', gv.u32(0)],
    ]);
    meta = metadataOf(vocab).map(([k, v]) => [k, overrides.get(k) ?? v]);
    for (const [k, v] of overrides) if (!meta.some(([mk]) => mk === k)) meta.push([k, v]);
    meta.push(['tsinfer.fixture.seed', gv.u32(s.seed)]);
  } finally {
    vocab.close();
  }
  const tensors = tensorsOf(s, nVocab).map((t) => ({ name: t.name, typeId: GGMLType.F32, shape: t.shape, data: () => weightBytes(s, t) }));
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

/**
 * Makes sure the fixtures of the given sets exist (generating the missing
 * ones, or all with force). Returns the paths, F32 first per set.
 * @param {{ sets?: string[], types?: string[], force?: boolean, log?: (line: string) => void }} [options]
 */
export async function ensureFixtures({ sets = DEFAULT_SETS, types = QUANT_TYPES, force = false, log = () => {} } = {}) {
  mkdirSync(FIXTURE_DIR, { recursive: true });
  const paths = [];
  for (const set of sets) {
    if (!SHAPES[set]) throw new Error(`unknown fixture set "${set}" (${Object.keys(SHAPES).join(', ')})`);
    const f32 = fixturePath(set);
    if (force || !existsSync(f32)) {
      const t0 = Date.now();
      await writeF32Fixture(set, f32);
      log(`wrote ${path.relative(ROOT, f32)} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
    } else log(`kept ${path.relative(ROOT, f32)}`);
    paths.push(f32);
    for (const type of types) {
      const out = fixturePath(set, type);
      if (force || !existsSync(out)) {
        const t0 = Date.now();
        await quantizeModel(f32, out, type, { force: true, threads: Math.min(4, availableParallelism()) });
        log(`wrote ${path.relative(ROOT, out)} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      } else log(`kept ${path.relative(ROOT, out)}`);
      paths.push(out);
    }
  }
  return paths;
}

async function cli(argv) {
  let sets;
  let force = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--force') force = true;
    else if (a === '--only')
      sets = String(argv[++i] ?? '')
        .split(',')
        .filter(Boolean);
    else if (a.startsWith('--only=')) sets = a.slice(7).split(',').filter(Boolean);
    else if (a === '--list') {
      for (const set of DEFAULT_SETS) for (const t of ['F32', ...QUANT_TYPES]) console.log(path.relative(ROOT, fixturePath(set, t)));
      return 0;
    } else {
      console.error(`fixtures: unknown argument "${a}" (usage: node scripts/fixtures.mjs [--only tiny|135m|360m[,...]] [--force] [--list])`);
      return 2;
    }
  }
  const paths = await ensureFixtures({ sets, force, log: (m) => console.log(m) });
  if (!sets) {
    // The other architectures' fixtures (scripts/arch-fixtures.mjs): Qwen2, Qwen3, Gemma 3, Phi-3, Llama 3 rope.
    const { ensureArchFixtures } = await import('./arch-fixtures.mjs');
    paths.push(...(await ensureArchFixtures({ force, log: (m) => console.log(m) })));
  }
  writeFileSync(path.join(FIXTURE_DIR, 'README.txt'), 'Generated by `npm run fixtures` (scripts/fixtures.mjs); deterministic, safe to delete and regenerate.\n');
  console.log(`${paths.length} fixture files in ${path.relative(ROOT, FIXTURE_DIR)}/`);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  cli(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      console.error(`fixtures: ${e?.message ?? e}`);
      process.exit(1);
    },
  );
}
