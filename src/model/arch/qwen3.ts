/**
 * Qwen3 (dense: Qwen3-0.6B...), as llama.cpp's llm_build_qwen3: Llama's graph with a
 * per-head RMSNorm of q and k (attn_q_norm / attn_k_norm, head_dim values) before
 * NeoX rope; the head size comes from attention.key_length (128 on 0.6B, wider than
 * n_embd / n_head).
 */
import { checkKeys, readCommon, w } from './common.js';
import { llamaLikeProgram, llamaTensors } from './llama.js';
import type { Architecture } from './types.js';

export const qwen3: Architecture = {
  name: 'qwen3',
  hyperparameters(file) {
    checkKeys(file, 'qwen3');
    return readCommon(file, 'qwen3');
  },
  tensors(hp) {
    const { required } = llamaTensors(hp);
    for (let l = 0; l < hp.blockCount; l++) {
      required.set(w(l, 'attn_q_norm'), [hp.headDim]);
      required.set(w(l, 'attn_k_norm'), [hp.headDim]);
    }
    return { required };
  },
  program: (hp, kv) => llamaLikeProgram(hp, kv, { qkv: 'separate', qkNorm: true, ropeMode: 'neox' }),
};
