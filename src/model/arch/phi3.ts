/**
 * Phi-3 (Phi-3-mini-4k), as llama.cpp's llm_build_phi3: fused attn_qkv (rows: q, then k,
 * then v) and fused ffn_up (rows: gate, then up; silu(gate) * up), NeoX rope, q scaled by
 * 1/sqrt(head_dim) before attention, an untied output matrix.
 *
 * attention.sliding_window is read and ignored, as llama.cpp does (it disables Phi-3's
 * sliding window). Long-context files (rope_factors_long/short, "longrope") are refused:
 * their tensors are not read.
 */
import { checkKeys, headTensors, readCommon, w } from './common.js';
import { llamaLikeProgram } from './llama.js';
import type { Architecture } from './types.js';

export const phi3: Architecture = {
  name: 'phi3',
  hyperparameters(file) {
    checkKeys(file, 'phi3', ['attention.sliding_window']);
    return readCommon(file, 'phi3');
  },
  tensors(hp) {
    const m = headTensors(hp);
    const d = hp.embeddingLength;
    const q = hp.headCount * hp.headDim;
    const kv = hp.headCountKv * hp.headDim;
    const ff = hp.feedForwardLength;
    for (let l = 0; l < hp.blockCount; l++) {
      m.set(w(l, 'attn_norm'), [d]);
      m.set(w(l, 'attn_qkv'), [d, q + 2 * kv]);
      m.set(w(l, 'attn_output'), [q, d]);
      m.set(w(l, 'ffn_norm'), [d]);
      m.set(w(l, 'ffn_up'), [d, 2 * ff]);
      m.set(w(l, 'ffn_down'), [ff, d]);
    }
    return { required: m };
  },
  program: (hp, kv) => llamaLikeProgram(hp, kv, { qkv: 'fused', ropeMode: 'neox', qScale: 1 / Math.sqrt(hp.headDim) }, 'silu_fused'),
};
