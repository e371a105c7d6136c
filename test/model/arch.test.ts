/**
 * The architecture registry on tiny synthetic files (built with the test-only
 * GGUF builder from each architecture's own tensor list): what each op list
 * holds (biases, per-head norms, NeoX rope, Gemma 3's sliding-window pattern and
 * local rope base, Phi-3's fused tensors), and the ModelErrors that name what a
 * file asks for and the engine does not do. Numbers against llama.cpp: arch-conformance.test.ts.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { openGGUFSync } from '../../src/gguf/reader.js';
import { GGMLType } from '../../src/gguf/types.js';
import { ModelError } from '../../src/index.js';
import { architectureNamed, planModel } from '../../src/model/arch/index.js';
import type { Op } from '../../src/model/program.js';
import { arr, bool, buildGGUF, f32, str, u32, type TensorSpec, type WValue } from '../gguf/writer-helper.js';

const dir = mkdtempSync(path.join(tmpdir(), 'tsinfer-arch-'));
let n = 0;
const tensor = (name: string, shape: number[]): TensorSpec => ({ name, type: GGMLType.F32, shape, data: new Uint8Array(shape.reduce((a, b) => a * b, 1) * 4) });

/** A tiny file of the architecture: 2 heads of 8 (1 KV head), 16 embd, 32 ff, 6 layers, 40 tokens; `meta` added or replacing, tensors dropped or added. */
function tiny(arch: string, o: { meta?: Record<string, WValue>; drop?: string[]; add?: TensorSpec[]; layers?: number } = {}) {
  const base: Record<string, WValue> = {
    'general.architecture': str(arch),
    [`${arch}.context_length`]: u32(256),
    [`${arch}.embedding_length`]: u32(16),
    [`${arch}.block_count`]: u32(o.layers ?? 6),
    [`${arch}.feed_forward_length`]: u32(32),
    [`${arch}.attention.head_count`]: u32(2),
    [`${arch}.attention.head_count_kv`]: u32(1),
    [`${arch}.attention.layer_norm_rms_epsilon`]: f32(1e-6),
    [`${arch}.rope.freq_base`]: f32(1e6),
    ...(arch === 'gemma3' ? { 'gemma3.attention.sliding_window': u32(4) } : {}),
    ...o.meta,
  };
  const meta = Object.entries(base).filter(([, v]) => v !== undefined) as [string, WValue][];
  const write = (tensors: TensorSpec[]) => {
    const file = path.join(dir, `t${n++}.gguf`);
    writeFileSync(file, buildGGUF(meta, tensors).bytes);
    return file;
  };
  const probe = openGGUFSync(write([tensor('token_embd.weight', [16, 40])]));
  let tensors: TensorSpec[];
  try {
    const a = architectureNamed(arch);
    tensors = [...a.tensors(a.hyperparameters(probe)).required].map(([name, shape]) => tensor(name, shape));
  } finally {
    probe.close();
  }
  return openGGUFSync(write([...tensors.filter((t) => !o.drop?.includes(t.name as string)), ...(o.add ?? [])]));
}

function plan(arch: string, o: Parameters<typeof tiny>[1] = {}) {
  const f = tiny(arch, o);
  try {
    return planModel(f);
  } finally {
    f.close();
  }
}

const opsOf = <K extends Op['op']>(ops: readonly Op[], k: K) => ops.filter((x): x is Extract<Op, { op: K }> => x.op === k);

describe('architecture registry', () => {
  it('llama: separate q/k/v, normal rope, SiLU', () => {
    const { program } = plan('llama');
    expect(opsOf(program.ops, 'rope').every((r) => r.mode === 'normal')).toBe(true);
    expect(opsOf(program.ops, 'silu_mul')).toHaveLength(6);
  });

  it('qwen2: q/k/v biases and NeoX rope; a missing bias is named', () => {
    const { program } = plan('qwen2');
    expect(
      opsOf(program.ops, 'matmul')
        .filter((m) => m.bias)
        .map((m) => m.bias)
        .slice(0, 3),
    ).toEqual(['blk.0.attn_q.bias', 'blk.0.attn_k.bias', 'blk.0.attn_v.bias']);
    expect(opsOf(program.ops, 'rope').every((r) => r.mode === 'neox')).toBe(true);
    expect(() => plan('qwen2', { drop: ['blk.2.attn_k.bias'] })).toThrow(/missing tensor blk\.2\.attn_k\.bias/);
  });

  it('qwen3: per-head q/k norms of head_dim, head size from key_length', () => {
    const { program, hyperparameters } = plan('qwen3', { meta: { 'qwen3.attention.key_length': u32(16), 'qwen3.attention.value_length': u32(16) } });
    expect(hyperparameters.headDim).toBe(16);
    const norms = opsOf(program.ops, 'rmsnorm').filter((r) => r.groupWidth);
    expect(norms.map((r) => r.weight).slice(0, 2)).toEqual(['blk.0.attn_q_norm.weight', 'blk.0.attn_k_norm.weight']);
    expect(norms.every((r) => r.groupWidth === 16)).toBe(true);
    expect(program.buffers.find((b) => b.name === 'q')!.width).toBe(32);
    expect(() => plan('qwen3', { meta: { 'qwen3.attention.value_length': u32(4) } })).toThrow(/value_length \(4\) differs/);
  });

  it('gemma3: embedding scale, 5 local : 1 global layers with their own rope base, GELU, post norms', () => {
    const { program } = plan('gemma3');
    expect(program.ops[1]).toEqual({ op: 'scale', x: 'x', scale: 4, out: 'x' });
    const att = opsOf(program.ops, 'attention');
    expect(att.map((a) => a.window ?? 0)).toEqual([4, 4, 4, 4, 4, 0]);
    expect(att.every((a) => a.scale === 1)).toBe(true);
    const ropes = opsOf(program.ops, 'rope');
    expect(ropes.map((r) => r.base)).toEqual([1e4, 1e4, 1e4, 1e4, 1e4, 1e4, 1e4, 1e4, 1e4, 1e4, 1e6, 1e6]);
    expect(
      opsOf(program.ops, 'scale')
        .filter((s) => s.x === 'q')
        .every((s) => s.scale === 1 / Math.sqrt(8)),
    ).toBe(true);
    expect(opsOf(program.ops, 'gelu_mul')).toHaveLength(6);
    expect(opsOf(program.ops, 'rmsnorm').map((r) => r.weight)).toContain('blk.5.post_ffw_norm.weight');
    expect(opsOf(program.ops, 'softcap')).toHaveLength(0);
  });

  it("gemma3 with YaRN: local layers keep base 10000 and freq_scale 1 but take the global attn_factor and YaRN parameters, as llama.cpp's", () => {
    const meta = { 'gemma3.rope.scaling.type': str('yarn'), 'gemma3.rope.scaling.factor': f32(8), 'gemma3.rope.scaling.attn_factor': f32(1.5) };
    const ropes = opsOf(plan('gemma3', { meta }).program.ops, 'rope');
    const [local, global] = [ropes[0]!.freqs, ropes[10]!.freqs];
    expect(global).toMatchObject({ base: 1e6, freqScale: 0.125, yarn: { extFactor: 1, betaFast: 32, betaSlow: 1, origContext: 256 } });
    expect(global.attnFactor).toBeCloseTo(1.5, 6);
    expect(local).toEqual({ dim: 8, base: 1e4, freqScale: 1, attnFactor: global.attnFactor, yarn: global.yarn });
  });

  it("gemma3: rope.freq_base_swa and attention.sliding_window_pattern as llama.cpp's load_swa_pattern reads them", () => {
    const bases = (meta: Record<string, WValue>) => opsOf(plan('gemma3', { meta }).program.ops, 'rope').map((r) => r.base);
    const windows = (meta: Record<string, WValue>) => opsOf(plan('gemma3', { meta }).program.ops, 'attention').map((a) => a.window ?? 0);
    expect(bases({ 'gemma3.rope.freq_base_swa': f32(5e4) })).toEqual([5e4, 5e4, 5e4, 5e4, 5e4, 5e4, 5e4, 5e4, 5e4, 5e4, 1e6, 1e6]);
    expect(windows({ 'gemma3.attention.sliding_window_pattern': u32(3) })).toEqual([4, 4, 0, 4, 4, 0]);
    expect(windows({ 'gemma3.attention.sliding_window_pattern': u32(0) })).toEqual([4, 4, 4, 4, 4, 4]);
    const flags = [true, false, true, true, false, false].map((f) => bool(f));
    expect(windows({ 'gemma3.attention.sliding_window_pattern': arr('bool', flags) })).toEqual([4, 0, 4, 4, 0, 0]);
    expect(() => plan('gemma3', { meta: { 'gemma3.attention.sliding_window_pattern': arr('bool', flags.slice(1)) } })).toThrow(/has 5 entries for 6 layers/);
    expect(() => plan('gemma3', { meta: { 'gemma3.rope.freq_base_swa': f32(0) } })).toThrow(/freq_base_swa is 0/);
  });

  it('gemma3 without a sliding window: final logit soft-capping, which such a file must have', () => {
    const meta = { 'gemma3.attention.sliding_window': undefined as unknown as WValue };
    expect(() => plan('gemma3', { meta })).toThrow(/needs gemma3\.final_logit_softcapping/);
    const { program } = plan('gemma3', { meta: { ...meta, 'gemma3.final_logit_softcapping': f32(30) } });
    expect(opsOf(program.ops, 'softcap')).toEqual([{ op: 'softcap', x: 'logits', cap: 30 }]);
    expect(opsOf(program.ops, 'attention').every((a) => !a.window)).toBe(true);
  });

  it('phi3: fused qkv and gate-up sliced; long-rope tensors are refused by name', () => {
    const { program } = plan('phi3', { meta: { 'phi3.attention.sliding_window': u32(2047) } });
    expect(
      opsOf(program.ops, 'slice')
        .slice(0, 5)
        .map((s) => [s.out, s.offset]),
    ).toEqual([
      ['q', 0],
      ['k', 16],
      ['v', 24],
      ['gate', 0],
      ['up', 32],
    ]);
    expect(opsOf(program.ops, 'attention').every((a) => !a.window && a.scale === 1)).toBe(true);
    expect(() => plan('phi3', { add: [tensor('rope_factors_long.weight', [4])] })).toThrow(/tensor rope_factors_long\.weight is not supported for architecture phi3/);
  });

  it('unknown keys that may change the maths, and MoE, are ModelErrors naming them', () => {
    expect(() => plan('qwen2', { meta: { 'qwen2.attention.sliding_window': u32(8) } })).toThrow(/metadata key qwen2\.attention\.sliding_window is not supported/);
    expect(() => plan('qwen3', { meta: { 'qwen3.expert_count': u32(8) } })).toThrow(ModelError);
    expect(() => plan('gemma3', { meta: { 'gemma3.rope.scaling.type': str('longrope') } })).toThrow(/rope scaling type "longrope"/);
  });
});
