/**
 * Gemma 3 (text: Gemma-3-270M / 1B / 4B...), as llama.cpp's llm_build_gemma3:
 *
 *   x = embed(tokens) * sqrt(n_embd)
 *   per layer:  h = rmsnorm(x) · attn_norm
 *               q, k, v = Wq h, Wk h, Wv h;  q, k = per-head rmsnorm · attn_q_norm / attn_k_norm
 *               rope(q), rope(k) (NeoX);  q *= attention scale;  cache k, v
 *               x = x + rmsnorm(Wo · attention(q, cache)) · post_attention_norm
 *               h = rmsnorm(x) · ffn_norm
 *               x = x + rmsnorm(Wdown · (gelu(Wgate h) * (Wup h))) · post_ffw_norm
 *   logits = token_embd · (rmsnorm(x) · output_norm)
 *
 * Norm weights are used as stored: llama.cpp's converter already adds Gemma's 1 to them.
 * With attention.sliding_window, 5 layers of every 6 (l % 6 < 5; or as
 * attention.sliding_window_pattern says: a period, or one flag per layer) see only the last
 * `window` positions and rope with base rope.freq_base_swa (default 10000) and no frequency
 * scaling (but the global attn_factor and YaRN parameters, as llama.cpp); the others use
 * rope.freq_base and rope.scaling. Attention
 * scale 1/sqrt(head_dim), or 1/sqrt(n_embd / n_head) for the 62-layer (27B) model, as
 * llama.cpp decides it. Without a sliding window llama.cpp builds the graph
 * with final_logit_softcapping, which such a file must then have.
 */
import { ModelError } from '../errors.js';
import type { GGUFFile } from '../../gguf/reader.js';
import { ProgramBuilder, attentionBlock, checkKeys, embedding, ffnBlock, headTensors, norm, optionalNumber, outputHead, positiveFloat, readCommon, w } from './common.js';
import { llamaLayerTensors } from './llama.js';
import type { Architecture } from './types.js';

const SWA_PATTERN = 6;
const PATTERN_KEY = 'gemma3.attention.sliding_window_pattern';

/**
 * Which layers slide, as llama.cpp's load_swa_pattern: one flag per layer (an array), or a period
 * n (the last layer of every n is global; 0: every layer slides), 6 when the key is absent.
 */
function slidingLayers(file: GGUFFile, blockCount: number): boolean[] {
  const flags = file.metadata.get(PATTERN_KEY)?.value;
  if (flags !== undefined && typeof flags === 'object' && 'length' in flags) {
    if (flags.length !== blockCount) throw new ModelError(`metadata key ${PATTERN_KEY} has ${flags.length} entries for ${blockCount} layers`);
    return Array.from(flags as ArrayLike<unknown>, (f, l) => {
      if (typeof f !== 'boolean' && typeof f !== 'number') throw new ModelError(`metadata key ${PATTERN_KEY}: entry ${l} is not a flag`);
      return Boolean(f);
    });
  }
  const n = optionalNumber(file, PATTERN_KEY) ?? SWA_PATTERN;
  if (!Number.isInteger(n) || n < 0) throw new ModelError(`metadata key ${PATTERN_KEY} is ${n}, expected a non-negative integer or one flag per layer`);
  return Array.from({ length: blockCount }, (_, l) => n === 0 || l % n < n - 1);
}

export const gemma3: Architecture = {
  name: 'gemma3',
  hyperparameters(file) {
    checkKeys(file, 'gemma3', ['attention.sliding_window', 'attention.sliding_window_pattern', 'rope.freq_base_swa', 'final_logit_softcapping']);
    const hp = readCommon(file, 'gemma3');
    const window = optionalNumber(file, 'gemma3.attention.sliding_window');
    if (window !== undefined && (!Number.isInteger(window) || window < 0)) throw new ModelError(`metadata key gemma3.attention.sliding_window is ${window}, expected a non-negative integer`);
    if (window) {
      const layers = slidingLayers(file, hp.blockCount);
      // llama.cpp ignores final_logit_softcapping in the sliding-window graph.
      // llama.cpp's sliding-window layers: their own base and freq_scale, the global attn_factor and YaRN parameters
      const { attnFactor, yarn } = hp.rope;
      const rope = { dim: hp.ropeDim, base: positiveFloat(file, 'gemma3.rope.freq_base_swa', 10000), freqScale: 1, ...(attnFactor !== undefined ? { attnFactor } : {}), ...(yarn ? { yarn } : {}) };
      return { ...hp, slidingWindow: { window, layers, rope } };
    }
    const cap = optionalNumber(file, 'gemma3.final_logit_softcapping');
    if (!cap || cap <= 0) throw new ModelError('a gemma3 file without gemma3.attention.sliding_window needs gemma3.final_logit_softcapping (> 0), as llama.cpp builds that graph with it');
    return { ...hp, finalLogitSoftcap: cap };
  },
  tensors(hp) {
    const m = headTensors(hp);
    for (let l = 0; l < hp.blockCount; l++) {
      llamaLayerTensors(hp, m, l);
      m.set(w(l, 'attn_q_norm'), [hp.headDim]);
      m.set(w(l, 'attn_k_norm'), [hp.headDim]);
      m.set(w(l, 'post_attention_norm'), [hp.embeddingLength]);
      m.set(w(l, 'post_ffw_norm'), [hp.embeddingLength]);
    }
    return { required: m };
  },
  program(hp, kv) {
    const b = new ProgramBuilder(hp);
    const d = hp.embeddingLength;
    embedding(b, Math.sqrt(d));
    const qScale = hp.blockCount === 62 ? 1 / Math.sqrt(d / hp.headCount) : 1 / Math.sqrt(hp.headDim);
    for (let l = 0; l < hp.blockCount; l++) {
      b.push(norm(b, 'x', w(l, 'attn_norm'), b.buf('h', d)));
      attentionBlock(b, l, { qkv: 'separate', qkNorm: true, ropeMode: 'neox', qScale });
      b.push(norm(b, 'proj', w(l, 'post_attention_norm'), 'h'), { op: 'add', a: 'x', b: 'h', out: 'x' }, norm(b, 'x', w(l, 'ffn_norm'), 'h'));
      ffnBlock(b, l, 'gelu');
      b.push(norm(b, 'proj', w(l, 'post_ffw_norm'), 'h'), { op: 'add', a: 'x', b: 'h', out: 'x' });
    }
    outputHead(b);
    return b.build(kv, 'logits');
  },
};
