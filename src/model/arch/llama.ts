/**
 * Llama (Llama 2/3, SmolLM2, TinyLlama), as llama.cpp's llm_build_llama:
 *
 *   x = embed(tokens)
 *   per layer:  h = rmsnorm(x) · attn_norm
 *               q, k, v = Wq h, Wk h, Wv h;  rope(q), rope(k) (normal mode);  cache k, v
 *               x = x + Wo · attention(q, cache)
 *               h = rmsnorm(x) · ffn_norm
 *               x = x + Wdown · (silu(Wgate h) * (Wup h))
 *   logits = Woutput · (rmsnorm(x) · output_norm)     (Woutput = token_embd when tied)
 *
 * Rope: linear or YaRN scaling (rope.scaling.*) and Llama 3.1/3.2's frequency factors (rope_freqs.weight).
 */
import type { GGUFFile } from '../../gguf/reader.js';
import type { KvCacheType, Program } from '../program.js';
import {
  ProgramBuilder,
  attentionBlock,
  checkKeys,
  embedding,
  ffnBlock,
  headTensors,
  norm,
  outputHead,
  readCommon,
  w,
  type AttentionOptions,
  type FfnKind,
  type Hyperparameters,
  type TensorSpec,
} from './common.js';
import type { Architecture } from './types.js';

export function llamaHyperparameters(file: GGUFFile, arch = 'llama'): Hyperparameters {
  checkKeys(file, arch);
  return readCommon(file, arch, { factorsTensor: 'rope_freqs.weight' });
}

/** attn_norm, attn_q/k/v/output, ffn_norm, ffn_gate/up/down of layer l. */
export function llamaLayerTensors(hp: Hyperparameters, m: Map<string, number[]>, l: number): void {
  const d = hp.embeddingLength;
  const q = hp.headCount * hp.headDim;
  const kv = hp.headCountKv * hp.headDim;
  const ff = hp.feedForwardLength;
  m.set(w(l, 'attn_norm'), [d]);
  m.set(w(l, 'attn_q'), [d, q]);
  m.set(w(l, 'attn_k'), [d, kv]);
  m.set(w(l, 'attn_v'), [d, kv]);
  m.set(w(l, 'attn_output'), [q, d]);
  m.set(w(l, 'ffn_norm'), [d]);
  m.set(w(l, 'ffn_gate'), [d, ff]);
  m.set(w(l, 'ffn_up'), [d, ff]);
  m.set(w(l, 'ffn_down'), [ff, d]);
}

export function llamaTensors(hp: Hyperparameters): TensorSpec {
  const m = headTensors(hp);
  for (let l = 0; l < hp.blockCount; l++) llamaLayerTensors(hp, m, l);
  return { required: m, optional: new Map([['rope_freqs.weight', [hp.ropeDim / 2]]]) };
}

/** The pre-norm residual decoder shared by Llama, Qwen2/Qwen3 and Phi-3: attention and a SiLU FFN, each added to x. */
export function llamaLikeProgram(hp: Hyperparameters, kvCacheType: KvCacheType, attn: AttentionOptions, ffn: FfnKind = 'silu'): Program {
  const b = new ProgramBuilder(hp);
  embedding(b);
  const d = hp.embeddingLength;
  for (let l = 0; l < hp.blockCount; l++) {
    b.push(norm(b, 'x', w(l, 'attn_norm'), b.buf('h', d)));
    attentionBlock(b, l, attn);
    b.push({ op: 'add', a: 'x', b: 'proj', out: 'x' }, norm(b, 'x', w(l, 'ffn_norm'), 'h'));
    ffnBlock(b, l, ffn);
    b.push({ op: 'add', a: 'x', b: 'proj', out: 'x' });
  }
  outputHead(b);
  return b.build(kvCacheType, 'logits');
}

export const llama: Architecture = {
  name: 'llama',
  hyperparameters: (file) => llamaHyperparameters(file),
  tensors: llamaTensors,
  program: (hp, kv) => llamaLikeProgram(hp, kv, { qkv: 'separate', ropeMode: 'normal' }),
};
