/**
 * The known-answer self-test a WASM build must pass on the running engine
 * before the loader uses it (the relaxed-SIMD build: engines are allowed to
 * implement relaxed instructions differently, and V8 11.3's first tier gets
 * one of them wrong).
 *
 * Fixed, deterministic data (no randomness, so a failure repeats): for every
 * quantized weight type the build has a kernel for, two weight rows of
 * pseudo-random bytes (every bit pattern, with sane half-precision scales:
 * the JS quantizers would cost more start-up time than everything else) and
 * five activation rows (one four-token tile and one
 * single token, so both dot paths run) go through the module's own activation
 * quantizer and matmul. The answer is computed in JS in float64 from the
 * reference dequantizer and the quantized activations read back from memory;
 * the kernels must be within float32 accumulation error of it. Each matmul runs
 * once cold (the engine's first tier) and again after `WARM_CALLS` more calls.
 */
import { GGMLType, ggmlType, rowBytes } from '../../gguf/types.js';
import { dequantize, f32ToF16 } from '../../quant/index.js';
import type { WasmExports, WasmMemory } from './loader.js';
import { BLOCK_LAYOUTS, blockOffsets, f16Fields, Q8A_EXTRA_BYTES, type BlockName } from './layout.js';

const Q8A = blockOffsets('Q8A');
const Q8K = blockOffsets('Q8_K');

/** Types checked, with the column count of their rows (legacy: three 32-blocks, one pair and the odd one; K: two super-blocks). */
export const SELF_TEST_CASES: [number, number][] = [
  [GGMLType.Q8_0, 96],
  [GGMLType.Q4_0, 96],
  [GGMLType.Q4_1, 96],
  [GGMLType.Q5_0, 96],
  [GGMLType.Q5_1, 96],
  [GGMLType.Q2_K, 512],
  [GGMLType.Q3_K, 512],
  [GGMLType.Q4_K, 512],
  [GGMLType.Q5_K, 512],
  [GGMLType.Q6_K, 512],
];
const ROWS = 2;
const TOKENS = 5;
const WARM_CALLS = 50;
/** Memory the test needs after the f16 table (bytes). */
export const SELF_TEST_BYTES = 1 << 17;

/** A deterministic LCG in [0, 1), so nothing here changes run to run. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
}

/** n activations in (-1, 1) with some large entries. */
export function signal(n: number, seed: number): Float32Array {
  const r = lcg(seed);
  return Float32Array.from({ length: n }, (_, i) => (r() - 0.5) * (i % 37 === 5 ? 16 : 2));
}

/** Weight rows of random bytes whose f16 scales are small normal numbers of either sign. */
export function weightBytes(typeId: number, bytes: number, seed: number): Uint8Array {
  const info = ggmlType(typeId)!;
  const r = lcg(seed);
  const w = Uint8Array.from({ length: bytes }, () => Math.floor(r() * 256));
  for (let b = 0; b < bytes / info.typeSize; b++) {
    for (const f of f16Fields(info.name as BlockName)) {
      const h = f32ToF16((r() - 0.5) * 0.02);
      w[b * info.typeSize + f] = h & 0xff;
      w[b * info.typeSize + f + 1] = h >> 8;
    }
  }
  return w;
}

/**
 * Runs the test with the kernels of `exp` in `memory` (initialised, f16 table
 * set) using `SELF_TEST_BYTES` from `base`. Returns undefined when every answer
 * is right, else what was wrong. `expectScale` multiplies the known answers
 * (1 for the real test; anything else makes it fail, which tests the fallback).
 */
export function knownAnswerTest(exp: WasmExports, memory: WasmMemory, base: number, expectScale = 1): string | undefined {
  for (const [typeId, cols] of SELF_TEST_CASES) {
    const info = ggmlType(typeId)!;
    const fmt = exp.activationFormat(typeId);
    if (fmt < 1) return `${info.name}: no quantized kernel`;
    const rb = rowBytes(info, cols);
    const wq = weightBytes(typeId, ROWS * rb, 7 + typeId);
    const w = dequantize(typeId, wq, ROWS * cols);
    const xRowBytes = fmt === 1 ? (cols / BLOCK_LAYOUTS.Q8A.elements) * (Q8A.bytes + Q8A_EXTRA_BYTES) : rowBytes(ggmlType(GGMLType.Q8_K)!, cols);
    const wp = base;
    const xf = wp + ROWS * rb;
    const xq = xf + TOKENS * cols * 4;
    const out = xq + TOKENS * xRowBytes;
    if (out + TOKENS * ROWS * 4 > base + SELF_TEST_BYTES) return `${info.name}: self-test memory too small`;
    new Uint8Array(memory.buffer, wp, wq.length).set(wq);
    new Float32Array(memory.buffer, xf, TOKENS * cols).set(signal(TOKENS * cols, 1000 + typeId));
    for (let t = 0; t < TOKENS; t++) {
      if (fmt === 1) exp.quantizeQ8A(xf + t * cols * 4, xq + t * xRowBytes, cols);
      else exp.quantizeQ8K(xf + t * cols * 4, xq + t * xRowBytes, cols);
    }
    // the activations the kernel really multiplies: Q8A blocks of 32 (d f32, s f32, q i8[32]) or Q8_K (d f32, q i8[256])
    const dv = new DataView(memory.buffer);
    const expected: number[] = [];
    const bound: number[] = [];
    for (let t = 0; t < TOKENS; t++) {
      for (let j = 0; j < ROWS; j++) {
        let sum = 0,
          abs = 0;
        for (let i = 0; i < cols; i++) {
          const row = xq + t * xRowBytes;
          const x =
            fmt === 1
              ? dv.getFloat32(row + (i >> 5) * Q8A.bytes + Q8A.offsets.d!, true) * dv.getInt8(row + (i >> 5) * Q8A.bytes + Q8A.offsets.qs! + (i & 31))
              : dv.getFloat32(row + (i >> 8) * Q8K.bytes + Q8K.offsets.d!, true) * dv.getInt8(row + (i >> 8) * Q8K.bytes + Q8K.offsets.qs! + (i & 255));
          const p = w[j * cols + i]! * x;
          sum += p;
          abs += Math.abs(p);
        }
        expected.push(sum * expectScale);
        // float32 accumulation; Q4_1/Q5_1 pair their offset with Q8A's half-precision block sum as ggml does
        bound.push(abs * (typeId === GGMLType.Q4_1 || typeId === GGMLType.Q5_1 ? 2e-3 : 1e-5) + 1e-6);
      }
    }
    const res = new Float32Array(memory.buffer, out, TOKENS * ROWS);
    for (let call = 0; call <= WARM_CALLS; call++) {
      res.fill(NaN);
      exp.matmul(typeId, wp, rb, xq, xRowBytes, out, ROWS, cols, TOKENS, 0, ROWS);
      if (call !== 0 && call !== WARM_CALLS) continue;
      for (let i = 0; i < expected.length; i++) {
        if (!(Math.abs(res[i]! - expected[i]!) <= bound[i]!)) {
          return `${info.name} token ${Math.floor(i / ROWS)} row ${i % ROWS}: got ${res[i]}, expected ${expected[i]!.toPrecision(7)} (${call === 0 ? 'first call' : `after ${WARM_CALLS} calls`})`;
        }
      }
    }
  }
  return undefined;
}
