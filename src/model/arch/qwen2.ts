/**
 * Qwen2 (Qwen2.5-0.5B/1.5B...), as llama.cpp's llm_build_qwen2: Llama's graph with
 * biases on the q, k and v matmuls and NeoX rope (no frequency factors).
 */
import { checkKeys, readCommon, w } from './common.js';
import { llamaLikeProgram, llamaTensors } from './llama.js';
import type { Architecture } from './types.js';

export const qwen2: Architecture = {
  name: 'qwen2',
  hyperparameters(file) {
    checkKeys(file, 'qwen2');
    return readCommon(file, 'qwen2');
  },
  tensors(hp) {
    const { required } = llamaTensors(hp);
    const q = hp.headCount * hp.headDim;
    const kv = hp.headCountKv * hp.headDim;
    for (let l = 0; l < hp.blockCount; l++) {
      required.set(w(l, 'attn_q', 'bias'), [q]);
      required.set(w(l, 'attn_k', 'bias'), [kv]);
      required.set(w(l, 'attn_v', 'bias'), [kv]);
    }
    return { required };
  },
  program: (hp, kv) => llamaLikeProgram(hp, kv, { qkv: 'separate', bias: true, ropeMode: 'neox' }),
};
