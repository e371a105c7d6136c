/**
 * The Llama architecture: hyperparameters from GGUF metadata, the tensors it
 * needs, and the forward pass written once as an op list (model/program.ts).
 *
 *   x = embed(tokens)
 *   per layer:  h = rmsnorm(x) · attn_norm
 *               q, k, v = Wq h, Wk h, Wv h;  rope(q), rope(k);  cache k, v
 *               x = x + Wo · attention(q, cache)
 *               h = rmsnorm(x) · ffn_norm
 *               x = x + Wdown · (silu(Wgate h) * (Wup h))
 *   logits = Woutput · (rmsnorm(x) · output_norm)     (Woutput = token_embd when tied)
 */
import type { GGUFFile, GGUFTensorInfo } from '../gguf/reader.js';
import { ModelError } from './errors.js';
import type { BufferDecl, KvCacheType, Op, Program } from './program.js';

export const SUPPORTED_ARCHITECTURES = ['llama'] as const;

export interface LlamaHyperparameters {
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
}

function positiveInt(file: GGUFFile, key: string, fallback?: number): number {
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

function positiveFloat(file: GGUFFile, key: string, fallback: number): number {
  const v = file.getNumber(key);
  if (v === undefined) return fallback;
  if (!Number.isFinite(v) || v <= 0) throw new ModelError(`metadata key ${key} is ${v}, expected a positive number`);
  return v;
}

/** Reads and checks the hyperparameters; throws ModelError naming the key at fault. */
export function llamaHyperparameters(file: GGUFFile): LlamaHyperparameters {
  const architecture = file.getString('general.architecture');
  if (architecture === undefined) throw new ModelError('missing metadata key general.architecture');
  if (!(SUPPORTED_ARCHITECTURES as readonly string[]).includes(architecture)) {
    throw new ModelError(`unsupported architecture "${architecture}" (supported: ${SUPPORTED_ARCHITECTURES.join(', ')})`);
  }
  const a = architecture;
  const embeddingLength = positiveInt(file, `${a}.embedding_length`);
  const headCount = positiveInt(file, `${a}.attention.head_count`);
  const headCountKv = positiveInt(file, `${a}.attention.head_count_kv`, headCount);
  if (headCount % headCountKv !== 0) {
    throw new ModelError(`${a}.attention.head_count (${headCount}) is not a multiple of ${a}.attention.head_count_kv (${headCountKv})`);
  }
  const headDim = positiveInt(file, `${a}.attention.key_length`, embeddingLength / headCount);
  if (!Number.isInteger(headDim)) throw new ModelError(`${a}.embedding_length ${embeddingLength} is not divisible by head_count ${headCount}`);
  const ropeDim = positiveInt(file, `${a}.rope.dimension_count`, headDim);
  if (ropeDim > headDim || ropeDim % 2 !== 0) throw new ModelError(`${a}.rope.dimension_count ${ropeDim} must be even and at most the head size ${headDim}`);
  const embd = file.tensor('token_embd.weight');
  if (!embd) throw new ModelError('missing tensor token_embd.weight');
  const vocabSize = embd.shape[1] ?? 1;
  return {
    architecture,
    contextLength: positiveInt(file, `${a}.context_length`),
    embeddingLength,
    blockCount: positiveInt(file, `${a}.block_count`),
    feedForwardLength: positiveInt(file, `${a}.feed_forward_length`),
    headCount,
    headCountKv,
    headDim,
    ropeDim,
    ropeFreqBase: positiveFloat(file, `${a}.rope.freq_base`, 10000),
    rmsEps: positiveFloat(file, `${a}.attention.layer_norm_rms_epsilon`, 1e-5),
    vocabSize,
    tiedEmbeddings: !file.tensor('output.weight'),
  };
}

/** Every tensor the model reads with its expected GGUF shape (ggml order). */
export function llamaTensorShapes(hp: LlamaHyperparameters): Map<string, number[]> {
  const d = hp.embeddingLength;
  const q = hp.headCount * hp.headDim;
  const kv = hp.headCountKv * hp.headDim;
  const ff = hp.feedForwardLength;
  const m = new Map<string, number[]>();
  m.set('token_embd.weight', [d, hp.vocabSize]);
  m.set('output_norm.weight', [d]);
  if (!hp.tiedEmbeddings) m.set('output.weight', [d, hp.vocabSize]);
  for (let l = 0; l < hp.blockCount; l++) {
    const b = `blk.${l}.`;
    m.set(b + 'attn_norm.weight', [d]);
    m.set(b + 'attn_q.weight', [d, q]);
    m.set(b + 'attn_k.weight', [d, kv]);
    m.set(b + 'attn_v.weight', [d, kv]);
    m.set(b + 'attn_output.weight', [q, d]);
    m.set(b + 'ffn_norm.weight', [d]);
    m.set(b + 'ffn_gate.weight', [d, ff]);
    m.set(b + 'ffn_up.weight', [d, ff]);
    m.set(b + 'ffn_down.weight', [ff, d]);
  }
  return m;
}

/** Checks that every tensor exists with the right shape and a type we can compute; ModelError names the first at fault. */
export function checkLlamaTensors(file: GGUFFile, hp: LlamaHyperparameters): GGUFTensorInfo[] {
  const out: GGUFTensorInfo[] = [];
  for (const [name, shape] of llamaTensorShapes(hp)) {
    const t = file.tensor(name);
    if (!t) throw new ModelError(`missing tensor ${name}`);
    const got = [...t.shape];
    while (got.length > shape.length && got[got.length - 1] === 1) got.pop();
    if (got.length !== shape.length || got.some((n, i) => n !== shape[i])) {
      throw new ModelError(`tensor ${name} has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}]`);
    }
    if (!t.type.dequantizable) throw new ModelError(`tensor ${name} has type ${t.type.name}, which tsinfer cannot compute yet`);
    out.push(t);
  }
  return out;
}

/** The per-step op list of a Llama model. */
export function buildLlamaProgram(hp: LlamaHyperparameters, kvCacheType: KvCacheType = 'f16'): Program {
  const d = hp.embeddingLength;
  const qw = hp.headCount * hp.headDim;
  const kvw = hp.headCountKv * hp.headDim;
  const ff = hp.feedForwardLength;
  const buffers: BufferDecl[] = [
    { name: 'x', width: d, rows: 'tokens' },
    { name: 'h', width: d, rows: 'tokens' },
    { name: 'q', width: qw, rows: 'tokens' },
    { name: 'k', width: kvw, rows: 'tokens' },
    { name: 'v', width: kvw, rows: 'tokens' },
    { name: 'att', width: qw, rows: 'tokens' },
    { name: 'proj', width: d, rows: 'tokens' },
    { name: 'gate', width: ff, rows: 'tokens' },
    { name: 'up', width: ff, rows: 'tokens' },
    { name: 'xout', width: d, rows: 'outputs' },
    { name: 'hout', width: d, rows: 'outputs' },
    { name: 'logits', width: hp.vocabSize, rows: 'outputs' },
  ];
  const eps = hp.rmsEps;
  const rope = (x: string, nHeads: number): Op => ({ op: 'rope', x, nHeads, headDim: hp.headDim, ropeDim: hp.ropeDim, base: hp.ropeFreqBase });
  const ops: Op[] = [{ op: 'embed', table: 'token_embd.weight', out: 'x' }];
  for (let l = 0; l < hp.blockCount; l++) {
    const w = (n: string) => `blk.${l}.${n}.weight`;
    ops.push(
      { op: 'rmsnorm', x: 'x', weight: w('attn_norm'), eps, out: 'h' },
      { op: 'matmul', weight: w('attn_q'), x: 'h', out: 'q' },
      { op: 'matmul', weight: w('attn_k'), x: 'h', out: 'k' },
      { op: 'matmul', weight: w('attn_v'), x: 'h', out: 'v' },
      rope('q', hp.headCount),
      rope('k', hp.headCountKv),
      { op: 'kv_store', layer: l, k: 'k', v: 'v' },
      { op: 'attention', layer: l, q: 'q', out: 'att', nHeads: hp.headCount, nKvHeads: hp.headCountKv, headDim: hp.headDim, scale: 1 / Math.sqrt(hp.headDim) },
      { op: 'matmul', weight: w('attn_output'), x: 'att', out: 'proj' },
      { op: 'add', a: 'x', b: 'proj', out: 'x' },
      { op: 'rmsnorm', x: 'x', weight: w('ffn_norm'), eps, out: 'h' },
      { op: 'matmul', weight: w('ffn_gate'), x: 'h', out: 'gate' },
      { op: 'matmul', weight: w('ffn_up'), x: 'h', out: 'up' },
      { op: 'silu_mul', gate: 'gate', up: 'up', out: 'gate' },
      { op: 'matmul', weight: w('ffn_down'), x: 'gate', out: 'proj' },
      { op: 'add', a: 'x', b: 'proj', out: 'x' },
    );
  }
  ops.push(
    { op: 'gather_outputs', x: 'x', out: 'xout' },
    { op: 'rmsnorm', x: 'xout', weight: 'output_norm.weight', eps, out: 'hout' },
    { op: 'matmul', weight: hp.tiedEmbeddings ? 'token_embd.weight' : 'output.weight', x: 'hout', out: 'logits' },
  );
  const weights = [...new Set(ops.flatMap((o) => ('weight' in o ? [o.weight] : 'table' in o ? [o.table] : [])))];
  return { buffers, ops, kv: { type: kvCacheType, layers: hp.blockCount, width: kvw }, logits: 'logits', weights };
}
