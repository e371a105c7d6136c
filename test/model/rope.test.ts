/**
 * The rope table (model/rope.ts) and the rope metadata a file may carry: linear
 * scaling, YaRN, rope.scaling.attn_factor and Llama 3's frequency factors change
 * the numbers; what is not implemented (other scaling types, YaRN keys llama.cpp
 * ignores set to other values, unknown keys and tensors) is a ModelError naming it.
 */
import { describe, expect, it } from 'vitest';
import { GGMLType } from '../../src/gguf/types.js';
import { loadModel, ModelError } from '../../src/index.js';
import { llamaCppAttnFactor, ropeKey, ropeTable, yarnCorrDims } from '../../src/model/rope.js';
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

describe('YaRN in the rope table (ggml_rope_yarn_corr_dims, rope_yarn)', () => {
  const yarn = { extFactor: 1, betaFast: 32, betaSlow: 1, origContext: 64 };

  it('correction dims: floor / ceil of dim * ln(orig / (beta * 2 pi)) / (2 ln base), clamped to [0, dim - 1]', () => {
    // 16 * ln(64 / (32 * 2 pi)) / (2 ln 10000) = -0.994 -> 0;  16 * ln(64 / (2 pi)) / (2 ln 10000) = 2.016 -> 3
    expect(yarnCorrDims(16, 64, 10000, 32, 1)).toEqual([0, 3]);
    // Llama 2 at 4096: 20.94 -> 20, 45.03 -> 46; Qwen2.5 (head 128, base 1e6) at 32768: 23.60 -> 23, 39.65 -> 40
    expect(yarnCorrDims(128, 4096, 10000, 32, 1)).toEqual([20, 46]);
    expect(yarnCorrDims(128, 32768, 1e6, 32, 1)).toEqual([23, 40]);
    // the test fixtures (scripts/arch-fixtures.mjs, original context 32): Qwen2's base 1e6 and Llama's 10000
    expect(yarnCorrDims(64, 32, 1e6, 32, 1)).toEqual([0, 4]);
    expect(yarnCorrDims(64, 32, 10000, 32, 1)).toEqual([0, 6]);
    // 8 * ln(2^20 / 2 pi) / (2 ln 10000) = 5.22 -> 5;  8 * ln(2^30 / 2 pi) / (2 ln 10000) = 8.23 -> 9, clamped to 7
    expect(yarnCorrDims(8, 1 << 20, 10000, 1, 1 / 1024)).toEqual([5, 7]);
  });

  it('llama.cpp attn_factor: with YaRN it cancels the 1 + 0.1 ln(factor) ggml multiplies in, then rope.scaling.attn_factor', () => {
    expect(llamaCppAttnFactor(0.25, 1, 1)).toBeCloseTo(1, 6);
    expect(llamaCppAttnFactor(0.25, 0, 1.5)).toBe(1.5);
    expect(llamaCppAttnFactor(1, 1, 2)).toBe(2);
  });

  it('factor 4 over dims [0, 3]: pair 0 unscaled, pairs 1 and 2 mixed 2/3 and 1/3, the rest scaled; all times 1 + 0.1 ln 4', () => {
    const dim = 16;
    const positions = 100;
    const t = ropeTable({ dim, base: 10000, freqScale: 0.25, attnFactor: llamaCppAttnFactor(0.25, 1, 1), yarn }, positions);
    const mscale = 1 + 0.1 * Math.log(4);
    const mix = [1, 2 / 3, 1 / 3, 0, 0, 0, 0, 0];
    let maxErr = 0;
    for (let p = 0; p < positions; p++) {
      for (let i = 0; i < dim / 2; i++) {
        const theta = p * Math.pow(10000, (-2 * i) / dim);
        const angle = theta * 0.25 * (1 - mix[i]!) + theta * mix[i]!;
        maxErr = Math.max(maxErr, Math.abs(t[(p * 8 + i) * 2]! - Math.cos(angle) * mscale), Math.abs(t[(p * 8 + i) * 2 + 1]! - Math.sin(angle) * mscale));
      }
    }
    // float32 angles of up to 100 radians
    expect(maxErr).toBeLessThan(2e-5);
    expect(t[0]).toBeCloseTo(mscale, 6);
    // exactly: pair 0 is the unscaled table's, pairs 3.. the linear table's, times mscale in float32
    const plain = ropeTable({ dim, base: 10000, freqScale: 1 }, positions);
    const linear = ropeTable({ dim, base: 10000, freqScale: 0.25 }, positions);
    const m = t[0]!;
    for (let p = 0; p < positions; p++) {
      for (const k of [0, 1]) expect(t[p * 16 + k]).toBe(Math.fround(plain[p * 16 + k]! * m));
      for (let i = 3; i < 8; i++) for (const k of [0, 1]) expect(t[(p * 8 + i) * 2 + k]).toBe(Math.fround(linear[(p * 8 + i) * 2 + k]! * m));
    }
  });

  it('ext_factor 0 is linear scaling; attn_factor alone scales cos and sin; the key tells the tables apart', () => {
    const linear = { dim: 16, base: 10000, freqScale: 0.25 };
    const lin = ropeTable(linear, 40);
    expect(Array.from(ropeTable({ ...linear, yarn: { ...yarn, extFactor: 0 } }, 40))).toEqual(Array.from(lin));
    expect(Array.from(ropeTable({ ...linear, attnFactor: 1.5 }, 40))).toEqual(Array.from(lin, (v) => Math.fround(v * 1.5)));
    const keys = new Set([linear, { ...linear, attnFactor: 1.5 }, { ...linear, yarn }, { ...linear, yarn: { ...yarn, origContext: 32 } }].map(ropeKey));
    expect(keys.size).toBe(4);
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
    for (const type of ['longrope', 'llama3']) {
      const file = variant({ meta: { 'llama.rope.scaling.type': { t: 'string', v: type } } });
      await expect(loadModel(file, { backend: 'reference' })).rejects.toThrow(new RegExp(`rope scaling type "${type}"`));
    }
    await expect(loadModel(variant({ meta: { 'llama.rope.scaling.attn_factor': { t: 'f32', v: 0 } } }), { backend: 'reference' })).rejects.toThrow(/llama\.rope\.scaling\.attn_factor/);
    await expect(loadModel(variant({ add: [f32Tensor('rope_freqs.weight', [1, 1])] }), { backend: 'reference' })).rejects.toThrow(/rope_freqs\.weight has 2 values, expected 4/);
    await expect(loadModel(variant({ meta: { 'llama.attention.scale': { t: 'f32', v: 0.1 } } }), { backend: 'reference' })).rejects.toThrow(/metadata key llama\.attention\.scale is not supported/);
    await expect(loadModel(variant({ add: [f32Tensor('blk.0.attn_q.bias', new Array(64).fill(0))] }), { backend: 'reference' })).rejects.toThrow(/tensor blk\.0\.attn_q\.bias is not supported/);
    const err = await loadModel(variant({ meta: { 'general.architecture': { t: 'string', v: 'mamba' } } })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelError);
    expect(String(err)).toMatch(/unsupported architecture "mamba" \(supported: llama, qwen2, qwen3, gemma3, phi3\)/);
  });

  const yarn4 = {
    'llama.rope.scaling.type': { t: 'string', v: 'yarn' },
    'llama.rope.scaling.factor': { t: 'f32', v: 4 },
    'llama.rope.scaling.original_context_length': { t: 'u32', v: 4 },
  } as const;

  it('YaRN changes the logits (not linear scaling), and so does rope.scaling.attn_factor', async () => {
    const plain = await logits(variant({}));
    const linear4 = await logits(variant({ meta: { ...linear8, 'llama.rope.scaling.factor': { t: 'f32', v: 4 } } }));
    const yarn = await logits(variant({ meta: yarn4 }));
    expect(Array.from(yarn)).not.toEqual(Array.from(plain));
    expect(Array.from(yarn)).not.toEqual(Array.from(linear4));
    const attn = await logits(variant({ meta: { 'llama.rope.scaling.attn_factor': { t: 'f32', v: 1.5 } } }));
    expect(Array.from(attn)).not.toEqual(Array.from(plain));
  });

  it("YaRN keys llama.cpp does not read for these architectures: accepted at llama.cpp's values, else refused by name", async () => {
    const yarn = await logits(variant({ meta: yarn4 }));
    const defaults = {
      'llama.rope.scaling.yarn_ext_factor': { t: 'f32', v: 1 },
      'llama.rope.scaling.yarn_beta_fast': { t: 'f32', v: 32 },
      'llama.rope.scaling.yarn_beta_slow': { t: 'f32', v: 1 },
      'llama.rope.scaling.yarn_log_multiplier': { t: 'f32', v: 0 },
      'llama.rope.scaling.yarn_attn_factor': { t: 'f32', v: 1 + 0.1 * Math.log(4) },
    } as const;
    expect(Array.from(await logits(variant({ meta: { ...yarn4, ...defaults } })))).toEqual(Array.from(yarn));
    for (const [key, v] of [
      ['yarn_ext_factor', 0.5],
      ['yarn_beta_fast', 64],
      ['yarn_beta_slow', 2],
      ['yarn_log_multiplier', 0.1],
      ['yarn_attn_factor', 1.2],
    ] as const) {
      const file = variant({ meta: { ...yarn4, [`llama.rope.scaling.${key}`]: { t: 'f32', v } } });
      await expect(loadModel(file, { backend: 'reference' })).rejects.toThrow(new RegExp(`llama\\.rope\\.scaling\\.${key} = .* llama\\.cpp does not read it`));
    }
    // with linear scaling llama.cpp's ext_factor is 0
    const file = variant({ meta: { ...linear8, 'llama.rope.scaling.yarn_ext_factor': { t: 'f32', v: 1 } } });
    await expect(loadModel(file, { backend: 'reference' })).rejects.toThrow(/yarn_ext_factor = 1 .* computes with 0/);
  });

  it('the wasm backend honours linear scaling and rope_freqs (the one rope table), and is the default backend for them', async () => {
    const meta = { 'llama.rope.scaling.type': { t: 'string' as const, v: 'linear' }, 'llama.rope.scaling.factor': { t: 'f32' as const, v: 8 } };
    const file = variant({ meta, add: [f32Tensor('rope_freqs.weight', [1, 1, 4, 8])] });
    const plain = await logits(variant({}));
    const want = await logits(file);
    const m = await loadModel(file);
    let got: Float32Array;
    try {
      expect(m.info.backend.backend).toBe('wasm');
      got = await m.evaluate(TOKENS);
    } finally {
      await m.dispose();
    }
    const maxAbs = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => Math.max(s, Math.abs(v - b[i]!)), 0);
    // the scaling moves the logits far more than wasm and the reference differ
    expect(maxAbs(want, plain)).toBeGreaterThan(0.05);
    expect(maxAbs(got, want)).toBeLessThan(5e-3);
  });
});
