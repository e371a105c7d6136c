/**
 * The relaxed-SIMD module's per-type kernel variants (src/kernels/wasm/variants.ts):
 * TSINFER_WASM_RELAXED_TYPES forces the table, the loader's instances and
 * workers run with it, and the measured choice is a valid table. Bit-identity
 * of the two variants of every type: wasm-relaxed.test.ts.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { GGMLType, ggmlTypeName } from '../../src/gguf/types.js';
import { instantiate, loadWasmBuild, selectWasmBuild, WA } from '../../src/kernels/wasm/loader.js';
import { chooseVariants, forcedVariants, measureVariants, VARIANT_TYPES } from '../../src/kernels/wasm/variants.js';
import { base64Bytes } from '../../src/platform/index.js';
import { WASM_BUILDS } from '../../src/kernels/wasm/generated/binaries.js';

const saved = process.env.TSINFER_WASM_RELAXED_TYPES;
afterEach(() => {
  if (saved === undefined) delete process.env.TSINFER_WASM_RELAXED_TYPES;
  else process.env.TSINFER_WASM_RELAXED_TYPES = saved;
});

const ALL = VARIANT_TYPES.reduce((m, t) => m | (1 << t), 0) >>> 0;

describe('per-type kernel variants', () => {
  it('TSINFER_WASM_RELAXED_TYPES parses all, none, auto and type lists, and names what it rejects', () => {
    expect(forcedVariants('all')).toBe(ALL);
    expect(forcedVariants('none')).toBe(0);
    expect(forcedVariants('auto')).toBe('auto');
    expect(forcedVariants(undefined)).toBe('auto');
    expect(forcedVariants('Q4_K, q6_k')).toBe(((1 << GGMLType.Q4_K) | (1 << GGMLType.Q6_K)) >>> 0);
    expect(() => forcedVariants('Q4_K,F16')).toThrow(/"F16" is not a type with two kernel variants/);
  });

  it('forcing the table: the build carries it, instantiate sets it, the summary says so', () => {
    process.env.TSINFER_WASM_RELAXED_TYPES = 'Q4_K,Q8_0';
    const b = selectWasmBuild();
    expect(b.name).toBe('relaxed-simd');
    const want = ((1 << GGMLType.Q4_K) | (1 << GGMLType.Q8_0)) >>> 0;
    expect(b.relaxedTypes).toBe(want);
    expect(b.variants).toBe('relaxed: Q8_0 Q4_K; baseline: Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K Q5_K Q6_K (forced by TSINFER_WASM_RELAXED_TYPES)');
    const exp = instantiate(b, new WA.Memory({ initial: 8, maximum: 8, shared: true }));
    expect(exp.getRelaxedTypes()).toBe(want);
    process.env.TSINFER_WASM_RELAXED_TYPES = 'none';
    expect(selectWasmBuild().relaxedTypes).toBe(0);
    process.env.TSINFER_WASM_RELAXED_TYPES = 'Q9_9';
    expect(() => selectWasmBuild()).toThrow(/TSINFER_WASM_RELAXED_TYPES: "Q9_9"/);
  });

  it('the baseline build has no relaxed variant: its mask stays 0 whatever is asked', () => {
    const exp = instantiate(loadWasmBuild('simd'), new WA.Memory({ initial: 8, maximum: 8, shared: true }));
    expect(exp.setRelaxedTypes(ALL)).toBe(0);
    expect(exp.getRelaxedTypes()).toBe(0);
  });

  it('the measurement times both variants of every type and picks a table of them', () => {
    const module = loadWasmBuild('relaxed-simd').module;
    const pages = 30;
    const memory = new WA.Memory({ initial: pages, maximum: pages, shared: true });
    const exp = instantiate({ name: 'relaxed-simd', module, bytes: 0, note: '', detail: '' }, memory);
    // no f16 table is needed for timing: scales read as zeros
    const c = measureVariants(exp, memory, exp.heapBase());
    expect(c.timings.map((t) => t.type)).toEqual(VARIANT_TYPES.map(ggmlTypeName));
    for (const t of c.timings) for (const v of [...t.baseline, ...t.relaxed]) expect(v).toBeGreaterThanOrEqual(0);
    expect(c.mask & ~ALL).toBe(0);
    expect(exp.getRelaxedTypes()).toBe(c.mask);
    expect(c.summary).toMatch(/^relaxed: .*; baseline: .* \(measured at start-up\)$/);
    // chooseVariants measures once, then answers from the cache (a fresh cache directory here)
    const savedCache = process.env.XDG_CACHE_HOME;
    process.env.XDG_CACHE_HOME = mkdtempSync(path.join(tmpdir(), 'tsinfer-variants-'));
    try {
      const bytes = base64Bytes(WASM_BUILDS['relaxed-simd']!);
      const first = chooseVariants(module, bytes);
      expect(first.summary).toMatch(/measured at start-up/);
      const again = chooseVariants(module, bytes);
      expect(again.mask).toBe(first.mask);
      expect(again.summary).toMatch(/measured once on this CPU, cached in kernel-variants.json/);
    } finally {
      if (savedCache === undefined) delete process.env.XDG_CACHE_HOME;
      else process.env.XDG_CACHE_HOME = savedCache;
    }
  });
});
