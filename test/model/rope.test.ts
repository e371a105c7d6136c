/**
 * The rope table (model/rope.ts) and the rope metadata a file may carry: linear
 * scaling and Llama 3's frequency factors change the numbers; what is not
 * implemented (other scaling types, attn_factor, unknown keys and tensors) is a
 * ModelError naming it.
 */
import { describe, expect, it } from 'vitest';
import { GGMLType } from '../../src/gguf/types.js';
import { loadModel, ModelError } from '../../src/index.js';
import { ropeTable } from '../../src/model/rope.js';
import { variant } from '../helpers/variant.js';

const TOKENS = [1, 317, 391, 266, 267, 337, 335, 311, 374];

async function logits(file: string): Promise<Float32Array> {
  const m = await loadModel(file, { backend: 'reference' });
  try {
    return await m.evaluate(TOKENS);
  } finally {
    await m.dispose();
  }
}

const f32Tensor = (name: string, values: number[]) => ({ name, type: GGMLType.F32, shape: [values.length], data: new Uint8Array(Float32Array.from(values).buffer) });

describe('rope table', () => {
  it('is cos/sin of pos * base^(-2i/dim), stepped in float32', () => {
    const t = ropeTable({ dim: 8, base: 10000, freqScale: 1 }, 3);
    expect(t.length).toBe(3 * 4 * 2);
    expect(Array.from(t.subarray(0, 8))).toEqual([1, 0, 1, 0, 1, 0, 1, 0]);
    // position 2, pair 1: angle 2 * 10000^(-1/4) = 0.2 (in float32 steps)
    const a = Math.fround(Math.fround(2) * Math.fround(Math.pow(10000, -2 / 8)));
    expect(t[(2 * 4 + 1) * 2]).toBe(Math.fround(Math.cos(a)));
    expect(t[(2 * 4 + 1) * 2 + 1]).toBe(Math.fround(Math.sin(a)));
  });

  it('linear scaling by 2 puts position 2p where position p was', () => {
    const plain = ropeTable({ dim: 16, base: 10000, freqScale: 1 }, 64);
    const scaled = ropeTable({ dim: 16, base: 10000, freqScale: 0.5 }, 128);
    for (let p = 0; p < 64; p++) expect(Array.from(scaled.subarray(2 * p * 16, 2 * p * 16 + 16))).toEqual(Array.from(plain.subarray(p * 16, p * 16 + 16)));
    expect(Array.from(scaled.subarray(16, 32))).not.toEqual(Array.from(plain.subarray(16, 32)));
  });

  it('frequency factors divide the angle of their pair', () => {
    const plain = ropeTable({ dim: 4, base: 10000, freqScale: 1 }, 8);
    const ff = ropeTable({ dim: 4, base: 10000, freqScale: 1, factors: Float32Array.of(1, 2) }, 8);
    for (let p = 0; p < 8; p++) {
      expect(ff[p * 4]).toBe(plain[p * 4]); // pair 0: factor 1
      const theta1 = Math.fround(Math.fround(p) * Math.fround(Math.pow(10000, -2 / 4)));
      expect(ff[p * 4 + 2]).toBe(Math.fround(Math.cos(Math.fround(theta1 / 2))));
    }
    expect(() => ropeTable({ dim: 4, base: 10000, freqScale: 1, factors: Float32Array.of(1) }, 2)).toThrow(ModelError);
  });
});

describe('rope metadata of a file', () => {
  const linear8 = { 'llama.rope.scaling.type': { t: 'string', v: 'linear' }, 'llama.rope.scaling.factor': { t: 'f32', v: 8 } } as const;

  it('linear scaling changes the logits; type "none" ignores the factor', async () => {
    const plain = await logits(variant({}));
    const scaled = await logits(variant({ meta: linear8 }));
    expect(Array.from(scaled)).not.toEqual(Array.from(plain));
    const none = await logits(variant({ meta: { ...linear8, 'llama.rope.scaling.type': { t: 'string', v: 'none' } } }));
    expect(Array.from(none)).toEqual(Array.from(plain));
  });

  it('rope_freqs.weight is read: factors of 1 change nothing, others change the logits', async () => {
    const plain = await logits(variant({}));
    const ones = await logits(variant({ add: [f32Tensor('rope_freqs.weight', [1, 1, 1, 1])] }));
    expect(Array.from(ones)).toEqual(Array.from(plain));
    const ff = await logits(variant({ add: [f32Tensor('rope_freqs.weight', [1, 1, 4, 8])] }));
    expect(Array.from(ff)).not.toEqual(Array.from(plain));
  });

  it('refuses what it does not implement, naming it', async () => {
    for (const type of ['yarn', 'longrope', 'llama3']) {
      const file = variant({ meta: { 'llama.rope.scaling.type': { t: 'string', v: type } } });
      await expect(loadModel(file, { backend: 'reference' })).rejects.toThrow(new RegExp(`rope scaling type "${type}"`));
    }
    await expect(loadModel(variant({ meta: { 'llama.rope.scaling.attn_factor': { t: 'f32', v: 1.5 } } }), { backend: 'reference' })).rejects.toThrow(/llama\.rope\.scaling\.attn_factor/);
    await expect(loadModel(variant({ add: [f32Tensor('rope_freqs.weight', [1, 1])] }), { backend: 'reference' })).rejects.toThrow(/rope_freqs\.weight has 2 values, expected 4/);
    await expect(loadModel(variant({ meta: { 'llama.attention.scale': { t: 'f32', v: 0.1 } } }), { backend: 'reference' })).rejects.toThrow(/metadata key llama\.attention\.scale is not supported/);
    await expect(loadModel(variant({ add: [f32Tensor('blk.0.attn_q.bias', new Array(64).fill(0))] }), { backend: 'reference' })).rejects.toThrow(/tensor blk\.0\.attn_q\.bias is not supported/);
    const err = await loadModel(variant({ meta: { 'general.architecture': { t: 'string', v: 'mamba' } } })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelError);
    expect(String(err)).toMatch(/unsupported architecture "mamba" \(supported: llama, qwen2, qwen3, gemma3, phi3\)/);
  });

  it('the wasm backend refuses rope scaling it does not implement; without a backend named, loading falls back to the reference backend', async () => {
    const file = variant({ add: [f32Tensor('rope_freqs.weight', [1, 1, 4, 8])] });
    await expect(loadModel(file, { backend: 'wasm' })).rejects.toThrow(/wasm backend does not implement rope frequency scaling/);
    const m = await loadModel(file);
    expect(m.info.backend.backend).toBe('reference');
    await m.dispose();
  });
});
