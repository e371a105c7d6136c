/**
 * Pieces shared by the architectures of model/arch/: reading and checking
 * hyperparameters, the tensors a file must (and may) hold, and the blocks the
 * op lists are built from. An architecture file combines these; whatever a
 * file asks for that no piece implements is a ModelError naming it.
 */
import type { GGUFFile, GGUFTensorInfo } from '../../gguf/reader.js';
import { GGMLType } from '../../gguf/types.js';
import { dequantize } from '../../quant/index.js';
import { ModelError } from '../errors.js';
import type { BufferDecl, KvCacheType, Op, Program, RopeFreqs, RopeMode, RowSpace, YarnParams } from '../program.js';
import { llamaCppAttnFactor } from '../rope.js';

export interface Hyperparameters {
  readonly architecture: string;
  readonly contextLength: number;
  readonly embeddingLength: number;
  readonly blockCount: number;
  readonly feedForwardLength: number;
  readonly headCount: number;
  readonly headCountKv: number;
  readonly headDim: number;
  readonly ropeDim: number;
  readonly ropeFreqBase: number;
  readonly rmsEps: number;
  readonly vocabSize: number;
  readonly tiedEmbeddings: boolean;
  /** Rope frequencies of the (global) attention layers. */
  readonly rope: RopeFreqs;
  /** Sliding-window layers: their window, which layers slide, and their rope frequencies (Gemma 3: base 10000, no scaling). */
  readonly slidingWindow?: { readonly window: number; readonly layers: readonly boolean[]; readonly rope: RopeFreqs };
  /** Final logit soft-capping: logits = cap * tanh(logits / cap). */
  readonly finalLogitSoftcap?: number;
}

export function positiveInt(file: GGUFFile, key: string, fallback?: number): number {
  let v: number | undefined;
  try {
    v = file.getNumber(key);
  } catch (e) {
    throw new ModelError(`metadata key ${key}: ${(e as Error).message}`);
  }
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new ModelError(`missing metadata key ${key}`);
  }
  if (!Number.isInteger(v) || v <= 0) throw new ModelError(`metadata key ${key} is ${v}, expected a positive integer`);
  return v;
}

export function optionalNumber(file: GGUFFile, key: string): number | undefined {
  try {
    const v = file.getNumber(key);
    if (v !== undefined && !Number.isFinite(v)) throw new ModelError(`metadata key ${key} is ${v}, expected a finite number`);
    return v;
  } catch (e) {
    if (e instanceof ModelError) throw e;
    throw new ModelError(`metadata key ${key}: ${(e as Error).message}`);
  }
}

export function positiveFloat(file: GGUFFile, key: string, fallback: number): number {
  const v = optionalNumber(file, key);
  if (v === undefined) return fallback;
  if (v <= 0) throw new ModelError(`metadata key ${key} is ${v}, expected a positive number`);
  return v;
}

function optionalString(file: GGUFFile, key: string): string | undefined {
  try {
    return file.getString(key);
  } catch (e) {
    throw new ModelError(`metadata key ${key}: ${(e as Error).message}`);
  }
}

/** rope.scaling.type values llama.cpp knows and tsinfer computes. */
const SCALING_TYPES = ['none', 'linear', 'yarn'];

/**
 * YaRN keys (`<arch>.rope.scaling.*`) llama.cpp reads only for other architectures (Grok, Mistral 3,
 * DeepSeek 2...): for these it computes with the value given here, and a file asking for another one
 * is refused (llama.cpp would ignore it). `type` is the file's rope.scaling.type, `factor` its factor.
 */
const YARN_KEYS: Record<string, (type: string, factor: number) => number> = {
  'rope.scaling.yarn_ext_factor': (type) => (type === 'yarn' ? 1 : 0),
  'rope.scaling.yarn_beta_fast': () => 32,
  'rope.scaling.yarn_beta_slow': () => 1,
  'rope.scaling.yarn_log_multiplier': () => 0,
  // the magnitude scaling llama.cpp's YaRN applies: 1 + 0.1 ln(factor) (HF's default attention_factor)
  'rope.scaling.yarn_attn_factor': (type, factor) => (type === 'yarn' && factor > 1 ? Math.fround(1 + Math.fround(0.1 * Math.log(factor))) : 1),
};

/**
 * Keys under `<arch>.` that every architecture reads or that do not change the
 * maths (vocab_size, context_length, rope.scaling.finetuned, ...). Any other key
 * under the architecture's prefix is refused: it may change the model.
 */
const COMMON_KEYS = [
  'context_length',
  'embedding_length',
  'block_count',
  'feed_forward_length',
  'vocab_size',
  'attention.head_count',
  'attention.head_count_kv',
  'attention.layer_norm_rms_epsilon',
  'attention.key_length',
  'attention.value_length',
  'rope.dimension_count',
  'rope.freq_base',
  'rope.scaling.type',
  'rope.scaling.factor',
  'rope.scale_linear',
  'rope.scaling.attn_factor',
  'rope.scaling.original_context_length',
  'rope.scaling.finetuned',
  ...Object.keys(YARN_KEYS),
  'expert_count',
  'expert_used_count',
];

/** Refuses a key under `<arch>.` that neither COMMON_KEYS nor the architecture's own `extra` list knows. */
export function checkKeys(file: GGUFFile, arch: string, extra: readonly string[] = []): void {
  const known = new Set([...COMMON_KEYS, ...extra].map((k) => `${arch}.${k}`));
  for (const key of file.metadata.keys()) {
    if (key.startsWith(`${arch}.`) && !known.has(key)) {
      throw new ModelError(`metadata key ${key} is not supported for architecture ${arch} (it may change the model's maths)`);
    }
  }
  for (const k of ['expert_count', 'expert_used_count']) {
    const n = optionalNumber(file, `${arch}.${k}`);
    if (n !== undefined && n !== 0) throw new ModelError(`metadata key ${arch}.${k} is ${n}: mixture-of-experts models are not supported`);
  }
}

/** Dequantized values of a 1-D tensor. */
function vectorOf(file: GGUFFile, t: GGUFTensorInfo): Float32Array {
  const bytes = file.readTensor(t);
  if (t.typeId === GGMLType.F32) return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + t.nElements * 4));
  return dequantize(t.typeId, bytes, t.nElements);
}

function checkYarnKeys(file: GGUFFile, arch: string, type: string, factor: number): void {
  for (const [key, want] of Object.entries(YARN_KEYS)) {
    const v = optionalNumber(file, `${arch}.${key}`);
    if (v === undefined) continue;
    const w = want(type, factor);
    if (Math.abs(v - w) > 1e-6 * Math.max(1, Math.abs(w))) {
      throw new ModelError(`metadata key ${arch}.${key} = ${v} is not supported: llama.cpp does not read it for architecture ${arch} and computes with ${w}`);
    }
  }
}

/**
 * The rope frequencies a file asks for, as llama.cpp reads them (llama_model::load_hparams,
 * llama_context): rope.freq_base (default 10000), rope.scaling.type (default linear) with
 * rope.scaling.factor (or the older rope.scale_linear), YaRN (ext_factor 1, beta_fast 32,
 * beta_slow 1 over rope.scaling.original_context_length, default the context length),
 * rope.scaling.attn_factor (multiplies cos and sin in every layer) and, where the architecture
 * reads it (`factorsTensor`), the frequency factors tensor.
 * Refused: an unknown scaling type (longrope included), YaRN keys at values llama.cpp would ignore.
 */
export function readRope(file: GGUFFile, arch: string, dim: number, opts: { factorsTensor?: string; base?: number } = {}): RopeFreqs {
  const base = opts.base ?? positiveFloat(file, `${arch}.rope.freq_base`, 10000);
  const type = optionalString(file, `${arch}.rope.scaling.type`) ?? 'linear';
  if (!SCALING_TYPES.includes(type)) {
    throw new ModelError(`rope scaling type "${type}" (metadata key ${arch}.rope.scaling.type) is not supported (supported: ${SCALING_TYPES.join(', ')})`);
  }
  const factor = optionalNumber(file, `${arch}.rope.scaling.factor`) ?? optionalNumber(file, `${arch}.rope.scale_linear`) ?? 0;
  if (factor < 0) throw new ModelError(`metadata key ${arch}.rope.scaling.factor is ${factor}, expected a positive number`);
  const ropeAttnFactor = positiveFloat(file, `${arch}.rope.scaling.attn_factor`, 1);
  checkYarnKeys(file, arch, type, factor);
  // llama.cpp never scales when the type is "none".
  const freqScale = type === 'none' || factor === 0 ? 1 : Math.fround(1 / factor);
  let yarn: YarnParams | undefined;
  if (type === 'yarn') {
    // 0 (or absent) means the training context, as llama.cpp reads it
    const orig = optionalNumber(file, `${arch}.rope.scaling.original_context_length`) || positiveInt(file, `${arch}.context_length`);
    if (!Number.isInteger(orig) || orig <= 0) throw new ModelError(`metadata key ${arch}.rope.scaling.original_context_length is ${orig}, expected a positive integer`);
    yarn = { extFactor: 1, betaFast: 32, betaSlow: 1, origContext: orig };
  }
  const attnFactor = llamaCppAttnFactor(freqScale, yarn?.extFactor ?? 0, ropeAttnFactor);
  let factors: Float32Array | undefined;
  if (opts.factorsTensor) {
    const t = file.tensor(opts.factorsTensor);
    if (t) {
      if (t.nElements !== dim / 2) throw new ModelError(`tensor ${t.name} has ${t.nElements} values, expected ${dim / 2} (rope dimension ${dim} / 2)`);
      if (!t.type.dequantizable) throw new ModelError(`tensor ${t.name} has type ${t.type.name}, which tsinfer cannot compute yet`);
      factors = vectorOf(file, t);
      if (factors.some((v) => !(v > 0) || !Number.isFinite(v))) throw new ModelError(`tensor ${t.name} holds a frequency factor that is not a positive finite number`);
    }
  }
  return { dim, base, freqScale, factors, ...(attnFactor !== 1 ? { attnFactor } : {}), ...(yarn ? { yarn } : {}) };
}

/** The hyperparameters every architecture has (keys under `<arch>.`), rope included. */
export function readCommon(file: GGUFFile, arch: string, opts: { factorsTensor?: string } = {}): Hyperparameters {
  const a = arch;
  const embeddingLength = positiveInt(file, `${a}.embedding_length`);
  const headCount = positiveInt(file, `${a}.attention.head_count`);
  const headCountKv = positiveInt(file, `${a}.attention.head_count_kv`, headCount);
  if (headCount % headCountKv !== 0) {
    throw new ModelError(`${a}.attention.head_count (${headCount}) is not a multiple of ${a}.attention.head_count_kv (${headCountKv})`);
  }
  const headDim = positiveInt(file, `${a}.attention.key_length`, embeddingLength / headCount);
  if (!Number.isInteger(headDim)) throw new ModelError(`${a}.embedding_length ${embeddingLength} is not divisible by head_count ${headCount}`);
  const valueLength = positiveInt(file, `${a}.attention.value_length`, headDim);
  if (valueLength !== headDim) throw new ModelError(`${a}.attention.value_length (${valueLength}) differs from the key length (${headDim}), which is not supported`);
  const ropeDim = positiveInt(file, `${a}.rope.dimension_count`, headDim);
  if (ropeDim > headDim || ropeDim % 2 !== 0) throw new ModelError(`${a}.rope.dimension_count ${ropeDim} must be even and at most the head size ${headDim}`);
  const embd = file.tensor('token_embd.weight');
  if (!embd) throw new ModelError('missing tensor token_embd.weight');
  const vocabSize = embd.shape[1] ?? 1;
  const rope = readRope(file, a, ropeDim, opts);
  return {
    architecture: arch,
    contextLength: positiveInt(file, `${a}.context_length`),
    embeddingLength,
    blockCount: positiveInt(file, `${a}.block_count`),
    feedForwardLength: positiveInt(file, `${a}.feed_forward_length`),
    headCount,
    headCountKv,
    headDim,
    ropeDim,
    ropeFreqBase: rope.base,
    rmsEps: positiveFloat(file, `${a}.attention.layer_norm_rms_epsilon`, 1e-5),
    vocabSize,
    tiedEmbeddings: !file.tensor('output.weight'),
    rope,
  };
}

/** Tensors of an architecture: name → GGUF shape (ggml order), and optional ones the file may hold. */
export interface TensorSpec {
  readonly required: Map<string, number[]>;
  readonly optional?: Map<string, number[]>;
}

/** token_embd, output_norm and (when the file has it) output. */
export function headTensors(hp: Hyperparameters): Map<string, number[]> {
  const m = new Map<string, number[]>();
  m.set('token_embd.weight', [hp.embeddingLength, hp.vocabSize]);
  m.set('output_norm.weight', [hp.embeddingLength]);
  if (!hp.tiedEmbeddings) m.set('output.weight', [hp.embeddingLength, hp.vocabSize]);
  return m;
}

/**
 * Checks that every required tensor exists with the right shape and a type we can compute, that
 * optional ones have the right shape, and that the file holds no tensor the architecture does not
 * read (it would change the model); ModelError names the first at fault. Returns the tensors read.
 */
export function checkTensors(file: GGUFFile, spec: TensorSpec): GGUFTensorInfo[] {
  const out: GGUFTensorInfo[] = [];
  const check = (name: string, shape: number[], t: GGUFTensorInfo) => {
    const got = [...t.shape];
    while (got.length > shape.length && got[got.length - 1] === 1) got.pop();
    if (got.length !== shape.length || got.some((n, i) => n !== shape[i])) {
      throw new ModelError(`tensor ${name} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
    }
    if (!t.type.dequantizable) throw new ModelError(`tensor ${name} has type ${t.type.name}, which tsinfer cannot compute yet`);
    out.push(t);
  };
  for (const [name, shape] of spec.required) {
    const t = file.tensor(name);
    if (!t) throw new ModelError(`missing tensor ${name}`);
    check(name, shape, t);
  }
  for (const [name, shape] of spec.optional ?? []) {
    const t = file.tensor(name);
    if (t) check(name, shape, t);
  }
  for (const t of file.tensors) {
    if (!spec.required.has(t.name) && !spec.optional?.has(t.name)) {
      throw new ModelError(`tensor ${t.name} is not supported for architecture ${file.getString('general.architecture')} (it would change the model)`);
    }
  }
  return out;
}

/** Builds an op list: buffers declared once by name, ops appended in order. */
export class ProgramBuilder {
  private readonly buffers = new Map<string, BufferDecl>();
  readonly ops: Op[] = [];

  constructor(readonly hp: Hyperparameters) {}

  /** Declares (or re-uses) a buffer; the same name must keep its width. */
  buf(name: string, width: number, rows: RowSpace = 'tokens'): string {
    const b = this.buffers.get(name);
    if (b && (b.width !== width || b.rows !== rows)) throw new Error(`buffer ${name} declared as ${b.width}/${b.rows} and ${width}/${rows}`);
    if (!b) this.buffers.set(name, { name, width, rows });
    return name;
  }

  push(...ops: Op[]): void {
    this.ops.push(...ops);
  }

  build(kvCacheType: KvCacheType, logits: string): Program {
    const hp = this.hp;
    const weights = [
      ...new Set(
        this.ops.flatMap((o) => {
          if (o.op === 'matmul') return o.bias ? [o.weight, o.bias] : [o.weight];
          if (o.op === 'rmsnorm') return [o.weight];
          if (o.op === 'embed') return [o.table];
          return [];
        }),
      ),
    ];
    return { buffers: [...this.buffers.values()], ops: this.ops, kv: { type: kvCacheType, layers: hp.blockCount, width: hp.headCountKv * hp.headDim }, logits, weights };
  }
}

export const w = (l: number, name: string, kind = 'weight') => `blk.${l}.${name}.${kind}`;

/** x = embed(tokens) (times `scale` when given: Gemma's sqrt(n_embd)). */
export function embedding(b: ProgramBuilder, scale?: number): void {
  b.push({ op: 'embed', table: 'token_embd.weight', out: b.buf('x', b.hp.embeddingLength) });
  if (scale !== undefined) b.push({ op: 'scale', x: 'x', scale, out: 'x' });
}

/** out = rmsnorm(x) · weight. */
export function norm(b: ProgramBuilder, x: string, weight: string, out: string, groupWidth?: number): Op {
  return { op: 'rmsnorm', x, weight, eps: b.hp.rmsEps, out, ...(groupWidth !== undefined ? { groupWidth } : {}) };
}

export interface AttentionOptions {
  /** 'separate': attn_q/k/v; 'fused': one attn_qkv whose rows are q, then k, then v (Phi-3). */
  readonly qkv: 'separate' | 'fused';
  /** Biases on the q, k and v matmuls (Qwen2). */
  readonly bias?: boolean;
  /** Per-head RMSNorm of q and k before rope (attn_q_norm / attn_k_norm: Qwen3, Gemma 3). */
  readonly qkNorm?: boolean;
  readonly ropeMode: RopeMode;
  /** Multiply q by this after rope (llama.cpp's ggml_scale of Qcur: Gemma 3, Phi-3); attention then scales by 1. */
  readonly qScale?: number;
}

/** h = attn_norm(x) is in 'h'; leaves attn_output · attention(...) in 'proj'. */
export function attentionBlock(b: ProgramBuilder, l: number, o: AttentionOptions): void {
  const hp = b.hp;
  const qw = hp.headCount * hp.headDim;
  const kvw = hp.headCountKv * hp.headDim;
  const pre = o.qkNorm ? 'raw' : '';
  const q = b.buf(`q${pre}`, qw);
  const k = b.buf(`k${pre}`, kvw);
  const v = b.buf('v', kvw);
  if (o.qkv === 'fused') {
    b.push(
      { op: 'matmul', weight: w(l, 'attn_qkv'), x: 'h', out: b.buf('qkv', qw + 2 * kvw) },
      { op: 'slice', x: 'qkv', offset: 0, out: q },
      { op: 'slice', x: 'qkv', offset: qw, out: k },
      { op: 'slice', x: 'qkv', offset: qw + kvw, out: v },
    );
  } else {
    const bias = (n: string) => (o.bias ? { bias: w(l, n, 'bias') } : {});
    b.push(
      { op: 'matmul', weight: w(l, 'attn_q'), x: 'h', out: q, ...bias('attn_q') },
      { op: 'matmul', weight: w(l, 'attn_k'), x: 'h', out: k, ...bias('attn_k') },
      { op: 'matmul', weight: w(l, 'attn_v'), x: 'h', out: v, ...bias('attn_v') },
    );
  }
  if (o.qkNorm) {
    b.push(norm(b, q, w(l, 'attn_q_norm'), b.buf('q', qw), hp.headDim), norm(b, k, w(l, 'attn_k_norm'), b.buf('k', kvw), hp.headDim));
  }
  const swa = hp.slidingWindow?.layers[l] ? hp.slidingWindow : undefined;
  const freqs = swa ? swa.rope : hp.rope;
  const rope = (x: string, nHeads: number): Op => ({ op: 'rope', x, nHeads, headDim: hp.headDim, ropeDim: freqs.dim, base: freqs.base, mode: o.ropeMode, freqs });
  b.push(rope('q', hp.headCount), rope('k', hp.headCountKv));
  if (o.qScale !== undefined) b.push({ op: 'scale', x: 'q', scale: o.qScale, out: 'q' });
  b.push(
    { op: 'kv_store', layer: l, k: 'k', v: 'v' },
    {
      op: 'attention',
      layer: l,
      q: 'q',
      out: b.buf('att', qw),
      nHeads: hp.headCount,
      nKvHeads: hp.headCountKv,
      headDim: hp.headDim,
      scale: o.qScale !== undefined ? 1 : 1 / Math.sqrt(hp.headDim),
      ...(swa ? { window: swa.window } : {}),
    },
    { op: 'matmul', weight: w(l, 'attn_output'), x: 'att', out: b.buf('proj', hp.embeddingLength) },
  );
}

/**
 * h = ffn_norm(x) is in 'h'; leaves the FFN's output in 'proj'. 'silu' / 'gelu': down · (act(gate · h) * (up · h));
 * 'silu_fused': one ffn_up of 2·ff rows, gate first then up (Phi-3).
 */
export type FfnKind = 'silu' | 'gelu' | 'silu_fused';

export function ffnBlock(b: ProgramBuilder, l: number, act: FfnKind): void {
  const ff = b.hp.feedForwardLength;
  const gate = b.buf('gate', ff);
  const up = b.buf('up', ff);
  if (act === 'silu_fused') {
    b.push({ op: 'matmul', weight: w(l, 'ffn_up'), x: 'h', out: b.buf('gateup', 2 * ff) }, { op: 'slice', x: 'gateup', offset: 0, out: gate }, { op: 'slice', x: 'gateup', offset: ff, out: up });
  } else {
    b.push({ op: 'matmul', weight: w(l, 'ffn_gate'), x: 'h', out: gate }, { op: 'matmul', weight: w(l, 'ffn_up'), x: 'h', out: up });
  }
  b.push({ op: act === 'gelu' ? 'gelu_mul' : 'silu_mul', gate, up, out: gate }, { op: 'matmul', weight: w(l, 'ffn_down'), x: gate, out: b.buf('proj', b.hp.embeddingLength) });
}

/** logits = output · output_norm(x) over the output rows, soft-capped when the file asks. */
export function outputHead(b: ProgramBuilder): void {
  const hp = b.hp;
  const d = hp.embeddingLength;
  b.push({ op: 'gather_outputs', x: 'x', out: b.buf('xout', d, 'outputs') }, norm(b, 'xout', 'output_norm.weight', b.buf('hout', d, 'outputs')), {
    op: 'matmul',
    weight: hp.tiedEmbeddings ? 'token_embd.weight' : 'output.weight',
    x: 'hout',
    out: b.buf('logits', hp.vocabSize, 'outputs'),
  });
  if (hp.finalLogitSoftcap !== undefined) b.push({ op: 'softcap', x: 'logits', cap: hp.finalLogitSoftcap });
}
