/**
 * The Llama model builder on variants of stories260K rebuilt with the test-only
 * GGUF builder: tied embeddings, F16 weights, and the ModelErrors that name
 * what is wrong.
 */
import { describe, expect, it } from 'vitest';
import { openGGUFSync } from '../../src/gguf/reader.js';
import { GGMLType } from '../../src/gguf/types.js';
import { loadModel, ModelError } from '../../src/index.js';
import { f32ToF16 } from '../../src/quant/index.js';
import type { TensorSpec } from '../gguf/writer-helper.js';
import { variant } from '../helpers/variant.js';
import { sharedPath } from '../helpers/shared.js';
import { compareRow } from '../helpers/compare.js';

async function logits(file: string, tokens: number[]): Promise<Float32Array> {
  const m = await loadModel(file);
  try {
    return await m.evaluate(tokens);
  } finally {
    await m.dispose();
  }
}

const TOKENS = [1, 317, 391, 266, 267, 337, 335, 311, 374];

describe('llama model variants', () => {
  it('the rebuilt file gives the same logits as the original', async () => {
    const a = await logits(sharedPath('models', 'stories260K.gguf'), TOKENS);
    const b = await logits(variant({}), TOKENS);
    expect(Array.from(b)).toEqual(Array.from(a));
  });

  it('ties the output projection to token_embd when output.weight is absent', async () => {
    const src = openGGUFSync(sharedPath('models', 'stories260K.gguf'));
    const embd = src.readTensor(src.tensor('token_embd.weight')!);
    src.close();
    // Reference: output.weight replaced by a copy of token_embd; tied: output.weight dropped.
    const explicit = variant({ tensor: (t) => (t.name === 'output.weight' ? { ...t, data: embd } : t) });
    const tied = variant({ drop: ['output.weight'] });
    const m = await loadModel(tied);
    expect(m.info.hyperparameters.tiedEmbeddings).toBe(true);
    await m.dispose();
    const a = await logits(explicit, TOKENS);
    const b = await logits(tied, TOKENS);
    expect(Array.from(b)).toEqual(Array.from(a));
  });

  it('F16 weights run and stay close to the F32 model', async () => {
    const toF16 = (t: TensorSpec): TensorSpec => {
      if (t.shape.length < 2) return t;
      const f = new Float32Array(new Uint8Array(t.data!).buffer);
      const h = new Uint16Array(f.length);
      for (let i = 0; i < f.length; i++) h[i] = f32ToF16(f[i]!);
      return { ...t, type: GGMLType.F16, data: new Uint8Array(h.buffer) };
    };
    const file = variant({ tensor: toF16 });
    const m = await loadModel(file);
    expect(m.info.tensorTypes).toMatchObject({ F16: 37, F32: 11 });
    await m.dispose();
    const a = await logits(sharedPath('models', 'stories260K.gguf'), TOKENS);
    const b = await logits(file, TOKENS);
    for (let k = 0; k < TOKENS.length; k++) {
      const c = compareRow(a.subarray(k * 512, (k + 1) * 512), b.subarray(k * 512, (k + 1) * 512));
      expect(c.top1).toBe(true);
      expect(c.kl).toBeLessThan(1e-3);
      expect(c.maxAbs).toBeGreaterThan(0); // really computed from different weights
    }
  });

  it('an unsupported architecture is a ModelError that names it', async () => {
    const file = variant({ meta: { 'general.architecture': { t: 'string', v: 'mamba' } } });
    await expect(loadModel(file)).rejects.toThrow(ModelError);
    await expect(loadModel(file)).rejects.toThrow(/unsupported architecture "mamba"/);
  });

  it('a missing tensor is a ModelError that names it', async () => {
    await expect(loadModel(variant({ drop: ['blk.3.ffn_up.weight'] }))).rejects.toThrow(/missing tensor blk\.3\.ffn_up\.weight/);
  });

  it('a tensor of the wrong shape is a ModelError that names it', async () => {
    const file = variant({ tensor: (t) => (t.name === 'blk.1.attn_k.weight' ? { ...t, shape: [32, 64] } : t) });
    await expect(loadModel(file)).rejects.toThrow(/tensor blk\.1\.attn_k\.weight has shape \[32, 64\], expected \[64, 32\]/);
  });

  it('a bad hyperparameter is a ModelError that names the key', async () => {
    const file = variant({ meta: { 'llama.attention.head_count_kv': { t: 'u32', v: 3 } } });
    await expect(loadModel(file)).rejects.toThrow(/head_count \(8\) is not a multiple of llama\.attention\.head_count_kv \(3\)/);
    const missing = variant({ meta: { 'llama.block_count': { t: 'string', v: 'five' } } });
    await expect(loadModel(missing)).rejects.toThrow(ModelError);
  });
});
