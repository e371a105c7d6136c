/**
 * The relaxed-SIMD build: how the loader chooses it (validate + known-answer
 * self-test, silent fallback to the baseline), that its matmuls are bit-identical
 * to the baseline build's on random data at real shapes (seed printed), that
 * the self-test passes in both of V8's tiers, the whole kernel test file run
 * again on it, and whole models giving the same bits on both builds.
 *
 * Node 20 (V8 11.3, this project's CI) has relaxed SIMD behind a flag the
 * loader sets, so the relaxed build must be available here: tests that need it
 * fail rather than skip.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GGMLType, ggmlType, rowBytes } from '../../src/gguf/types.js';
import { f32ToF16, quantize } from '../../src/quant/index.js';
import { instantiate, loadWasmBuild, selectWasmBuild, selfTest, WA, writeF16Table } from '../../src/kernels/wasm/loader.js';
import { activationRowBytes } from '../../src/kernels/wasm/backend.js';
import { expandQ5Reference, INTERNAL_TYPE_IDS } from '../../src/kernels/wasm/layout.js';
import { loadModel } from '../../src/index.js';
import { REPO_ROOT, sharedPath } from '../helpers/shared.js';

const SEED = Number(process.env.TSINFER_SEED ?? Date.now() % 1e9);
console.log(`wasm relaxed-SIMD tests: seed ${SEED} (TSINFER_SEED=${SEED} to repeat)`);

const savedEnv = process.env.TSINFER_WASM_BUILD;
afterAll(() => {
  if (savedEnv === undefined) delete process.env.TSINFER_WASM_BUILD;
  else process.env.TSINFER_WASM_BUILD = savedEnv;
});

describe('choosing the relaxed-SIMD build', () => {
  it('is chosen on this engine: validates (with V8 11.3 flag set by the loader) and passes its self-test', () => {
    const b = selectWasmBuild();
    expect(b.name).toBe('relaxed-simd');
    expect(b.note).toBe('');
    expect(b.detail).toMatch(/self-test passed/);
  });

  it("the self-test's known answers are right: the baseline build passes it too", () => {
    expect(selfTest(loadWasmBuild('simd').module)).toBeUndefined();
  });

  it("falls back silently to the baseline build when the self-test fails (answers off by 2x, as V8 11.3's first tier), saying why", () => {
    const b = selectWasmBuild({ selfTestScale: 2 });
    expect(b.name).toBe('simd');
    expect(b.note).toMatch(/^relaxed-SIMD build not used: its self-test failed on this engine: Q8_0 token 0 row 0: got .*, expected .* \(first call\)$/);
  });

  it('TSINFER_WASM_BUILD: relaxed-simd throws when it cannot be used; simd is used as asked; bad values are errors', () => {
    expect(() => selectWasmBuild({ force: 'relaxed-simd', selfTestScale: 2 })).toThrow(/relaxed-SIMD build was asked for .* self-test failed/);
    const s = selectWasmBuild({ force: 'simd' });
    expect(s.name).toBe('simd');
    expect(s.detail).toMatch(/forced/);
    process.env.TSINFER_WASM_BUILD = 'relaxed';
    expect(loadWasmBuild().name).toBe('relaxed-simd');
    process.env.TSINFER_WASM_BUILD = 'fast';
    expect(() => loadWasmBuild()).toThrow(/TSINFER_WASM_BUILD must be/);
    process.env.TSINFER_WASM_BUILD = 'relaxed-simd';
  });

  it('where relaxed SIMD cannot be enabled (no node:v8 reachable, as in a browser or Node < 20.16), tsinfer info shows the baseline build and why', () => {
    const r = spawnSync(process.execPath, ['--import', 'data:text/javascript,delete process.getBuiltinModule', path.join(REPO_ROOT, 'bin', 'tsinfer.js'), 'info', '--json'], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, TSINFER_WASM_BUILD: '' },
    });
    expect(r.status, r.stderr).toBe(0);
    const o = JSON.parse(r.stdout) as { wasm: { build: string; relaxedSimd: string } };
    expect(o.wasm.build).toMatch(/^simd: baseline SIMD128/);
    expect(o.wasm.relaxedSimd).toMatch(/^relaxed-SIMD build not used: this engine does not validate relaxed SIMD \(--experimental-wasm-relaxed-simd: .*getBuiltinModule/);
  });

  // The loader cannot pick V8's tier, so the test runs the CLI's choice under each tier alone:
  // V8 11.3's Liftoff gets i32x4.relaxed_dot_i8x16_i7x16_add_s wrong, which the kernels avoid.
  for (const flag of ['--liftoff-only', '--no-liftoff']) {
    it(`the self-test passes with V8 ${flag} (tsinfer info picks the relaxed-SIMD build)`, () => {
      const r = spawnSync(process.execPath, [flag, path.join(REPO_ROOT, 'bin', 'tsinfer.js'), 'info', '--json'], {
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, TSINFER_WASM_BUILD: '' },
      });
      expect(r.status, r.stderr).toBe(0);
      const o = JSON.parse(r.stdout) as { wasm: { build: string; relaxedSimd: string } };
      expect(o.wasm.relaxedSimd).toMatch(/^in use: self-test passed/);
      expect(o.wasm.build).toMatch(/^relaxed-simd:/);
    });
  }
});

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The f16 fields of each type's block (byte offsets), given sane random scales in the random-byte rows. */
const F16_FIELDS: Record<string, number[]> = {
  Q4_0: [0],
  Q4_1: [0, 2],
  Q5_0: [0],
  Q5_1: [0, 2],
  Q8_0: [0],
  Q2_K: [80, 82],
  Q3_K: [108],
  Q4_K: [0, 2],
  Q5_K: [0, 2],
  Q6_K: [208],
};

describe(`relaxed-SIMD and baseline matmuls are bit-identical, both variants of the relaxed module (seed ${SEED})`, () => {
  const memory = new WA.Memory({ initial: 800, maximum: 800, shared: true });
  const simd = instantiate(loadWasmBuild('simd'), memory);
  const relaxed = instantiate(loadWasmBuild('relaxed-simd'), memory);
  // one table for both: the builds read it at the same address
  expect(simd.f16Table()).toBe(relaxed.f16Table());
  writeF16Table(memory, simd);
  const base = Math.max(simd.heapBase(), relaxed.heapBase());

  for (const name of Object.keys(F16_FIELDS)) {
    const typeId = GGMLType[name as keyof typeof GGMLType] as number;
    const info = ggmlType(typeId)!;
    // SmolLM2 shapes: 576 and 960 (135M / 360M hidden), 1536 and 2560 (their FFN)
    const shapes =
      info.blockSize === 256
        ? [
            [64, 1536],
            [40, 2560],
          ]
        : [
            [64, 576],
            [40, 960],
            [33, 1536],
          ];
    it(`${name}: ${shapes.map(([r, c]) => `${r}x${c}`).join(', ')} at T=1, 4, 19 (quantizer rows and every bit pattern)`, () => {
      const r = rng(SEED ^ (typeId * 7919));
      for (const [rows, cols] of shapes as [number, number][]) {
        const rb = rowBytes(info, cols);
        const src = new Float32Array(rows * cols).map(() => (r() - 0.5) * 0.2);
        const w = quantize(typeId, src, rows, cols);
        // the second half of the rows: random bytes, f16 scales set to random normal halves
        for (let j = rows >> 1; j < rows; j++) {
          for (let i = j * rb; i < (j + 1) * rb; i++) w[i] = Math.floor(r() * 256);
          for (let b = j * (cols / info.blockSize); b < (j + 1) * (cols / info.blockSize); b++) {
            for (const f of F16_FIELDS[name]!) {
              const h = f32ToF16((r() - 0.5) * 0.1);
              w[b * info.typeSize + f] = h & 0xff;
              w[b * info.typeSize + f + 1] = h >> 8;
            }
          }
        }
        const tokens = 19;
        const fmt = simd.activationFormat(typeId);
        expect(relaxed.activationFormat(typeId)).toBe(fmt);
        const xrb = activationRowBytes(fmt, cols);
        const wp = base;
        const xf = wp + Math.ceil(w.length / 64) * 64;
        const xq = xf + tokens * cols * 4;
        const o1 = xq + tokens * xrb;
        const o2 = o1 + tokens * rows * 4;
        expect(o2 + tokens * rows * 4).toBeLessThan(memory.buffer.byteLength);
        new Uint8Array(memory.buffer, wp, w.length).set(w);
        const x = new Float32Array(memory.buffer, xf, tokens * cols);
        for (let i = 0; i < x.length; i++) x[i] = (r() - 0.5) * (r() < 0.01 ? 40 : 2);
        for (let t = 0; t < tokens; t++) {
          if (fmt === 1) simd.quantizeQ8A(xf + t * cols * 4, xq + t * xrb, cols);
          else simd.quantizeQ8K(xf + t * cols * 4, xq + t * xrb, cols);
        }
        // Q5_0 / Q5_1: the backend's own storage of the same weights, one byte per weight (backend.ts expandQ5)
        const own = name === 'Q5_0' ? INTERNAL_TYPE_IDS.Q5_0U : name === 'Q5_1' ? INTERNAL_TYPE_IDS.Q5_1U : undefined;
        const wu = Math.ceil((o2 + tokens * rows * 4) / 64) * 64;
        const rbu = (cols / 32) * (name === 'Q5_1' ? 36 : 34);
        if (own !== undefined) {
          const u = new Uint8Array(memory.buffer, wu, rows * rbu);
          expect(wu + u.length).toBeLessThan(memory.buffer.byteLength);
          u.set(w, u.length - w.length);
          expandQ5Reference(u, (rows * cols) / 32, name as 'Q5_0' | 'Q5_1', 'bytes');
          // what the backend runs at load, each module's expandQ5 in place, gives the references' bytes: these
          // Q5_0U / Q5_1U blocks, and for Q5_0 also its Q8_0 form
          const nb = (rows * cols) / 32;
          const forms: [number, Uint8Array][] = [[own, u.slice()]];
          if (name === 'Q5_0') {
            const q8 = new Uint8Array(nb * 34);
            q8.set(w, q8.length - w.length);
            expandQ5Reference(q8, nb, 'Q5_0', 'q8_0');
            forms.push([GGMLType.Q8_0, q8]);
          }
          const wv = wu + Math.ceil(u.length / 64) * 64;
          for (const [mod, build] of [
            [simd, 'baseline build'],
            [relaxed, 'relaxed build'],
          ] as const) {
            for (const [form, ref] of forms) {
              expect(wv + ref.length).toBeLessThan(memory.buffer.byteLength);
              const v = new Uint8Array(memory.buffer, wv, ref.length);
              v.fill(0xa5);
              v.set(w, ref.length - w.length);
              mod.expandQ5(form, wv, wv + ref.length - w.length, nb);
              const d = v.findIndex((x, i) => x !== ref[i]);
              expect(d, `${name} expanded to type ${form} by the ${build}: first difference at byte ${d} (block ${Math.floor(d / 34)}); seed ${SEED}`).toBe(-1);
            }
          }
        }
        // the relaxed module's two kernel variants for this type (variants.ts): relaxed, and its own baseline copy
        for (const [variant, mask] of [
          ['relaxed', 1 << typeId],
          ['baseline', ~(1 << typeId) >>> 0],
        ] as const) {
          expect(relaxed.setRelaxedTypes(mask) >>> 0).toBe(mask);
          for (const T of [1, 4, tokens]) {
            new Uint32Array(memory.buffer, o1, tokens * rows * 2).fill(0);
            simd.matmul(typeId, wp, rb, xq, xrb, o1, rows, cols, T, 0, rows);
            relaxed.matmul(typeId, wp, rb, xq, xrb, o2, rows, cols, T, 0, rows);
            const a = new Uint32Array(memory.buffer, o1, T * rows);
            const b = new Uint32Array(memory.buffer, o2, T * rows);
            const firstDiff = a.findIndex((v, i) => v !== b[i]);
            expect(firstDiff, `${name} ${variant} variant ${rows}x${cols} T=${T}: first difference at token ${Math.floor(firstDiff / rows)} row ${firstDiff % rows}; seed ${SEED}`).toBe(-1);
            expect(new Float32Array(memory.buffer, o1, T * rows).every(Number.isFinite)).toBe(true);
            if (own !== undefined) {
              for (const [mod, build] of [
                [simd, 'baseline build'],
                [relaxed, `relaxed build, ${variant} variant`],
              ] as const) {
                mod.matmul(own, wu, rbu, xq, xrb, o2, rows, cols, T, 0, rows);
                const d = a.findIndex((v, i) => v !== b[i]);
                expect(d, `${name}U (${build}) ${rows}x${cols} T=${T}: first difference from ${name} at token ${Math.floor(d / rows)} row ${d % rows}; seed ${SEED}`).toBe(-1);
              }
            }
          }
        }
      }
    });
  }
});

describe('models on the relaxed-SIMD build', () => {
  const STORIES = sharedPath('models', 'stories260K.gguf');
  it("stories260K: the 200-token greedy story equals llama2.c's, and the logits of both builds are bit-identical", async () => {
    const expected = readFileSync(sharedPath('models', 'stories260K-greedy-200steps.expected.txt'), 'utf8');
    const runs: { text: string; logits: Float32Array }[] = [];
    for (const build of ['simd', 'relaxed-simd']) {
      process.env.TSINFER_WASM_BUILD = build;
      const m = await loadModel(STORIES, { backend: 'wasm', threads: 2 });
      try {
        expect(String(m.info.backend.build)).toMatch(new RegExp(`^${build} `));
        const r = await m.complete('', { temperature: 0, maxTokens: 199, ignoreEos: true });
        runs.push({ text: r.text, logits: await m.evaluate([1, ...r.tokens.slice(0, 40)]) });
      } finally {
        await m.dispose();
      }
    }
    process.env.TSINFER_WASM_BUILD = 'relaxed-simd';
    expect(runs[1]!.text).toBe(runs[0]!.text);
    expect(expected.startsWith(runs[1]!.text.slice(0, 200))).toBe(true);
    expect(Buffer.from(runs[1]!.logits.buffer).equals(Buffer.from(runs[0]!.logits.buffer))).toBe(true);
  });

  const TINY = ['q8_0', 'q4_0', 'q4_k_m', 'q6_k'].map((q) => `${REPO_ROOT}fixtures/generated/smollm2-135m-1l-${q}.gguf`);
  it.skipIf(!TINY.every((f) => existsSync(f)))('1-layer SmolLM2-shaped fixtures (Q8_0, Q4_0, Q4_K_M, Q6_K): 64-token greedy runs and their logits are bit-identical on both builds', async () => {
    for (const file of TINY) {
      const out: { tokens: number[]; logits: Float32Array }[] = [];
      for (const build of ['simd', 'relaxed-simd']) {
        process.env.TSINFER_WASM_BUILD = build;
        const m = await loadModel(file, { backend: 'wasm', contextLength: 128 });
        try {
          const prompt = m.tokenize('The quick brown fox');
          const r = await m.complete(prompt, { temperature: 0, maxTokens: 64, ignoreEos: true });
          out.push({ tokens: r.tokens, logits: await m.evaluate([...prompt, ...r.tokens]) });
        } finally {
          await m.dispose();
        }
      }
      process.env.TSINFER_WASM_BUILD = 'relaxed-simd';
      expect(out[1]!.tokens, file).toEqual(out[0]!.tokens);
      expect(Buffer.from(out[1]!.logits.buffer).equals(Buffer.from(out[0]!.logits.buffer)), file).toBe(true);
    }
  });
});

// The whole per-kernel test file (every kernel against the reference at real shapes) again, on the relaxed-SIMD build.
process.env.TSINFER_WASM_BUILD = 'relaxed-simd';
await import('./wasm-kernels.test.js');
