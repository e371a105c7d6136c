/**
 * WASM kernels against the reference on fresh random data (seed printed).
 *
 * Matmuls quantize their activations (Q8A for the 32-element types, Q8_K for
 * the K-quants) as llama.cpp does, so each matmul is checked twice:
 *  - exactly-paired: against float64 Σ w·x̂ where x̂ is the activation the kernel
 *    really used (read back from the quantized buffer), tolerance 2e-6·Σ|w·x̂|
 *    (float32 accumulation only; 1e-3·Σ|w·x̂| for Q4_1/Q5_1, whose block sums
 *    are rounded to half precision as in ggml's block_q8_1);
 *  - against the reference backend's matmul (float64, unquantized x), within the
 *    bound the 8-bit activations allow: Σ|w_i|·amax(block of i)·c with
 *    c = 0.0045 for Q8A (d rounded to f16) and 1/254·1.01 for Q8_K.
 */
import { describe, expect, it } from 'vitest';
import { GGMLType, ggmlType, rowBytes } from '../../src/gguf/types.js';
import { dequantize, f32ToF16, quantize, roundToF16 } from '../../src/quant/index.js';
import * as ref from '../../src/kernels/reference/ops.js';
import { instantiate, loadWasmBuild, WA, writeF16Table, type WasmExports } from '../../src/kernels/wasm/loader.js';
import { activationRowBytes } from '../../src/kernels/wasm/backend.js';

const SEED = Number(process.env.TSINFER_SEED ?? Date.now() % 1e9);
/** The build under test: the baseline here; wasm-relaxed.test.ts runs this whole file again on the relaxed-SIMD build. */
const BUILD = loadWasmBuild(process.env.TSINFER_WASM_BUILD === 'relaxed-simd' ? 'relaxed-simd' : 'simd');
console.log(`wasm kernel tests (${BUILD.name} build): seed ${SEED} (TSINFER_SEED=${SEED} to repeat)`);

function rng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(next() + 1e-12)) * Math.cos(2 * Math.PI * next());
  return { next, normal };
}

const memory = new WA.Memory({ initial: 1600, maximum: 65536, shared: true });
const exp: WasmExports = instantiate(BUILD, memory);
writeF16Table(memory, exp);
const BASE = exp.heapBase();
let top = BASE;
function alloc(bytes: number): number {
  const p = top;
  top = Math.ceil((top + bytes) / 64) * 64;
  if (top > memory.buffer.byteLength) throw new Error('test memory exhausted');
  return p;
}
function resetAlloc(): void {
  top = BASE;
}
const u8 = (p: number, n: number) => new Uint8Array(memory.buffer, p, n);
const f32 = (p: number, n: number) => new Float32Array(memory.buffer, p, n);

/** Random activations with a few outliers, like real hidden states. */
function activations(r: ReturnType<typeof rng>, n: number): Float32Array {
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = r.normal() * (r.next() < 0.01 ? 20 : 1);
  return x;
}

/** The f16 fields of each type's block (byte offsets), for blocks of random bytes with sane scales. */
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

/** A weight matrix: quantizer output for most rows, random bytes with sane scales for the last two (every bit pattern). */
function weights(r: ReturnType<typeof rng>, typeId: number, rows: number, cols: number): Uint8Array {
  const info = ggmlType(typeId)!;
  const src = new Float32Array(rows * cols);
  for (let i = 0; i < src.length; i++) src[i] = r.normal() * 0.05;
  if (typeId === GGMLType.F32) return new Uint8Array(src.buffer);
  const bytes = quantize(typeId, src, rows, cols);
  const fields = F16_FIELDS[info.name];
  if (fields && rows >= 4) {
    const rb = rowBytes(info, cols);
    for (let i = (rows - 2) * rb; i < rows * rb; i++) bytes[i] = Math.floor(r.next() * 256);
    for (let b = (rows - 2) * (cols / info.blockSize); b < rows * (cols / info.blockSize); b++) {
      for (const f of fields) {
        const h = f32ToF16((r.next() * 0.02 + 0.001) * (r.next() < 0.5 && f !== 0 ? -1 : 1));
        bytes[b * info.typeSize + f] = h & 0xff;
        bytes[b * info.typeSize + f + 1] = h >> 8;
      }
    }
  }
  return bytes;
}

/** The activations the kernel used, dequantized from its quantized buffer; and each element's block amax. */
function readActivations(fmt: number, p: number, cols: number): Float32Array {
  if (fmt === 0) return f32(p, cols).slice();
  if (fmt === 2) return dequantize(GGMLType.Q8_K, u8(p, activationRowBytes(2, cols)).slice(), cols);
  const out = new Float32Array(cols);
  const dv = new DataView(memory.buffer, p, activationRowBytes(1, cols));
  const s8 = new Int8Array(memory.buffer, p, activationRowBytes(1, cols));
  for (let b = 0; b < cols / 32; b++) {
    const d = dv.getFloat32(b * 40, true);
    for (let j = 0; j < 32; j++) out[b * 32 + j] = Math.fround(d * s8[b * 40 + 8 + j]!);
  }
  return out;
}

const TYPES: Array<[string, number]> = [
  ['F32', GGMLType.F32],
  ['F16', GGMLType.F16],
  ['Q8_0', GGMLType.Q8_0],
  ['Q4_0', GGMLType.Q4_0],
  ['Q4_1', GGMLType.Q4_1],
  ['Q5_0', GGMLType.Q5_0],
  ['Q5_1', GGMLType.Q5_1],
  ['Q2_K', GGMLType.Q2_K],
  ['Q3_K', GGMLType.Q3_K],
  ['Q4_K', GGMLType.Q4_K],
  ['Q5_K', GGMLType.Q5_K],
  ['Q6_K', GGMLType.Q6_K],
];

/** Random weights (rows x cols of typeId) and tokens activation rows in WASM memory, quantized as the matmul wants them. */
function matmulInputs(r: ReturnType<typeof rng>, typeId: number, rows: number, cols: number, tokens: number) {
  resetAlloc();
  const rb = rowBytes(ggmlType(typeId)!, cols);
  const wbytes = weights(r, typeId, rows, cols);
  const wp = alloc(wbytes.length + 16);
  u8(wp, wbytes.length).set(wbytes);
  const x = activations(r, tokens * cols);
  const xp = alloc(x.length * 4);
  f32(xp, x.length).set(x);
  const fmt = exp.activationFormat(typeId);
  expect(fmt).toBeGreaterThanOrEqual(0);
  const xrb = activationRowBytes(fmt, cols);
  let xq = xp;
  if (fmt !== 0) {
    xq = alloc(xrb * tokens);
    for (let t = 0; t < tokens; t++) {
      if (fmt === 1) exp.quantizeQ8A(xp + t * cols * 4, xq + t * xrb, cols);
      else exp.quantizeQ8K(xp + t * cols * 4, xq + t * xrb, cols);
    }
  }
  return { rb, wbytes, wp, x, fmt, xrb, xq };
}

function checkMatmul(name: string, typeId: number, rows: number, cols: number, tokens: number, sampleRows?: number) {
  const r = rng(SEED ^ (typeId * 7919 + rows * 31 + cols + tokens));
  const { rb, wbytes, wp, x, fmt, xrb, xq } = matmulInputs(r, typeId, rows, cols, tokens);
  const op = alloc(rows * tokens * 4);
  // two calls over split row ranges, as two threads would do
  const mid = Math.floor(rows / 3);
  exp.matmul(typeId, wp, rb, xq, xrb, op, rows, cols, tokens, 0, mid);
  exp.matmul(typeId, wp, rb, xq, xrb, op, rows, cols, tokens, mid, rows);
  const got = f32(op, rows * tokens);
  const rowsToCheck = sampleRows ? Array.from({ length: sampleRows }, () => Math.floor(r.next() * rows)).concat([rows - 1, rows - 2]) : Array.from({ length: rows }, (_, i) => i);
  const xhat = Array.from({ length: tokens }, (_, t) => readActivations(fmt, xq + t * xrb, cols));
  const wrow = new Float32Array(cols);
  const W: ref.WeightMatrix = { typeId, bytes: wbytes, cols, outRows: rows, rowBytes: rb };
  const minType = name === 'Q4_1' || name === 'Q5_1';
  let worstPaired = 0;
  let worstRef = 0;
  for (const j of rowsToCheck) {
    ref.weightRow(W, j, wrow);
    for (let t = 0; t < tokens; t++) {
      const xt = x.subarray(t * cols, (t + 1) * cols);
      const xh = xhat[t]!;
      let paired = 0,
        pairedAbs = 0,
        exact = 0,
        bound = 0;
      for (let i = 0; i < cols; i++) {
        paired += wrow[i]! * xh[i]!;
        pairedAbs += Math.abs(wrow[i]! * xh[i]!);
        exact += wrow[i]! * xt[i]!;
      }
      if (fmt !== 0) {
        const bs = fmt === 1 ? 32 : 256;
        const c = fmt === 1 ? 0.0045 : (1 / 254) * 1.01;
        for (let b = 0; b < cols / bs; b++) {
          let amax = 0,
            wabs = 0;
          for (let i = b * bs; i < (b + 1) * bs; i++) {
            amax = Math.max(amax, Math.abs(xt[i]!));
            wabs += Math.abs(wrow[i]!);
          }
          bound += wabs * amax * c;
        }
      }
      const g = got[t * rows + j]!;
      const tolPaired = (minType ? 1e-3 : 2e-6) * pairedAbs + 1e-6;
      const tolRef = bound + tolPaired;
      worstPaired = Math.max(worstPaired, Math.abs(g - paired) / tolPaired);
      worstRef = Math.max(worstRef, Math.abs(g - exact) / tolRef);
      if (Math.abs(g - paired) > tolPaired || Math.abs(g - exact) > tolRef) {
        throw new Error(`${name} ${rows}x${cols} T=${tokens} row ${j} token ${t}: got ${g}, paired ${paired} (tol ${tolPaired}), reference ${exact} (tol ${tolRef}); seed ${SEED}`);
      }
    }
  }
  return { worstPaired, worstRef };
}

describe(`wasm matmul kernels, ${BUILD.name} build (seed ${SEED})`, () => {
  for (const [name, id] of TYPES) {
    const k = ggmlType(id)!.blockSize === 256;
    // real shapes: 576 columns (SmolLM2-135M hidden) for the 32-element types, 1536 (its FFN) for K-quants; decode (T=1) and a prompt batch crossing the 16-token tile
    const cols = k ? 1536 : 576;
    it(`${name}: ${64}x${cols} decode and prefill (T=1, T=19)`, () => {
      const a = checkMatmul(name, id, 64, cols, 1);
      const b = checkMatmul(name, id, 67, cols, 19);
      expect(Math.max(a.worstPaired, b.worstPaired)).toBeLessThanOrEqual(1);
      expect(Math.max(a.worstRef, b.worstRef)).toBeLessThanOrEqual(1);
    });
  }
  it('tiles (2 rows x 4 tokens, their edges) give every output the bits of one row and one token at a time, every type', () => {
    for (const [name, id] of TYPES) {
      const cols = ggmlType(id)!.blockSize === 256 ? 1536 : 576,
        rows = 13;
      for (const tokens of [1, 2, 3, 5, 19]) {
        const { rb, wp, xrb, xq } = matmulInputs(rng(SEED ^ (id * 104729 + tokens)), id, rows, cols, tokens);
        const batch = alloc(rows * tokens * 4),
          single = alloc(rows * 4);
        // row ranges as two threads' chunks would be, the second starting at an odd row
        exp.matmul(id, wp, rb, xq, xrb, batch, rows, cols, tokens, 0, 5);
        exp.matmul(id, wp, rb, xq, xrb, batch, rows, cols, tokens, 5, rows);
        for (let t = 0; t < tokens; t++) {
          for (let j = 0; j < rows; j++) {
            exp.matmul(id, wp, rb, xq + t * xrb, xrb, single, rows, cols, 1, j, j + 1);
            const want = f32(single + j * 4, 1)[0]!;
            const got = f32(batch + (t * rows + j) * 4, 1)[0]!;
            if (!Object.is(got, want)) throw new Error(`${name} T=${tokens} row ${j} token ${t}: tile ${got} vs one row and token ${want}; seed ${SEED}`);
          }
        }
      }
    }
  });
  it("dequantRow (the embedding lookup) gives the reference dequantizer's bits for every type, including random-byte rows", () => {
    for (const [name, id] of TYPES) {
      resetAlloc();
      const r = rng(SEED ^ (id * 15485863));
      const cols = ggmlType(id)!.blockSize === 256 ? 1536 : 576,
        rows = 6;
      const wbytes = weights(r, id, rows, cols); // the last two rows are random bytes with sane scales
      const wp = alloc(wbytes.length + 16);
      u8(wp, wbytes.length).set(wbytes);
      const rb = rowBytes(ggmlType(id)!, cols);
      const yp = alloc(cols * 4);
      for (let j = 0; j < rows; j++) {
        exp.dequantRow(id, wp + j * rb, yp, cols);
        const want = dequantize(id, wbytes.subarray(j * rb, (j + 1) * rb), cols);
        const got = f32(yp, cols);
        for (let i = 0; i < cols; i++) {
          if (!Object.is(got[i], want[i])) throw new Error(`${name} row ${j} element ${i}: got ${got[i]}, want ${want[i]}; seed ${SEED}`);
        }
      }
    }
  });
  it('Q8_0 49152x576 (the tied output matrix), 200 sampled rows', () => {
    const a = checkMatmul('Q8_0', GGMLType.Q8_0, 49152, 576, 1, 200);
    expect(a.worstPaired).toBeLessThanOrEqual(1);
  });
  it('Q6_K 960x2560 and Q5_0 2560x960 (SmolLM2-360M shapes)', () => {
    expect(checkMatmul('Q6_K', GGMLType.Q6_K, 96, 2560, 1).worstPaired).toBeLessThanOrEqual(1);
    expect(checkMatmul('Q5_0', GGMLType.Q5_0, 96, 960, 2).worstPaired).toBeLessThanOrEqual(1);
  });
});

describe(`wasm activation quantizers (seed ${SEED})`, () => {
  it('Q8A: d = amax/127 rounded to f16, q = nearest-even(x/d), s = f16(d·Σq), bit-exact with this emulation', () => {
    resetAlloc();
    const r = rng(SEED + 1);
    const n = 1536;
    const x = activations(r, n);
    x.fill(0, 64, 96); // an all-zero block
    const xp = alloc(n * 4);
    f32(xp, n).set(x);
    const qp = alloc(activationRowBytes(1, n));
    exp.quantizeQ8A(xp, qp, n);
    const dv = new DataView(memory.buffer, qp, activationRowBytes(1, n));
    const f = Math.fround;
    for (let b = 0; b < n / 32; b++) {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]!));
      const d = f(amax / 127);
      const id = d !== 0 ? f(1 / d) : 0;
      let sum = 0;
      for (let j = 0; j < 32; j++) {
        const v = f(x[b * 32 + j]! * id);
        let q = Math.round(v) | 0;
        if (Math.abs(v % 1) === 0.5 && q % 2 !== 0) q -= 1; // round half to even
        sum += q;
        expect(dv.getInt8(b * 40 + 8 + j)).toBe(q);
      }
      expect(dv.getFloat32(b * 40, true)).toBe(roundToF16(d));
      expect(dv.getFloat32(b * 40 + 4, true)).toBe(roundToF16(f(d * sum)));
    }
  });

  it('Q8_K: ggml quantize_row_q8_K (signed max, -127/max, nearest_int, bsums), bit-exact', () => {
    resetAlloc();
    const r = rng(SEED + 2);
    const n = 1536;
    const x = activations(r, n);
    x.fill(0, 256, 512); // an all-zero block
    const xp = alloc(n * 4);
    f32(xp, n).set(x);
    const qp = alloc(activationRowBytes(2, n));
    exp.quantizeQ8K(xp, qp, n);
    const dv = new DataView(memory.buffer, qp, activationRowBytes(2, n));
    const f = Math.fround;
    for (let b = 0; b < n / 256; b++) {
      const o = b * 292;
      let amax = 0,
        mx = 0;
      for (let j = 0; j < 256; j++) {
        const v = x[b * 256 + j]!;
        if (Math.abs(v) > amax) {
          amax = Math.abs(v);
          mx = v;
        }
      }
      if (amax === 0) {
        expect(dv.getFloat32(o, true)).toBe(0);
        for (let j = 0; j < 256; j++) expect(dv.getInt8(o + 4 + j)).toBe(0);
        continue;
      }
      const iscale = f(-127 / mx);
      for (let g = 0; g < 16; g++) {
        let s = 0;
        for (let j = g * 16; j < g * 16 + 16; j++) {
          const v = f(iscale * x[b * 256 + j]!);
          let q = Math.round(v) | 0;
          if (Math.abs(v % 1) === 0.5 && q % 2 !== 0) q -= 1;
          q = Math.min(127, q);
          s += q;
          expect(dv.getInt8(o + 4 + j)).toBe(q);
        }
        expect(dv.getInt16(o + 260 + 2 * g, true)).toBe(s);
      }
      expect(dv.getFloat32(o, true)).toBe(f(1 / iscale));
    }
  });
});

describe(`wasm element-wise and attention kernels (seed ${SEED})`, () => {
  it('rmsnorm equals the reference bit for bit (576 wide, 3 rows)', () => {
    resetAlloc();
    const r = rng(SEED + 3);
    const width = 576,
      rows = 3;
    const x = activations(r, width * rows);
    const w = activations(r, width);
    const xp = alloc(x.length * 4),
      wp = alloc(width * 4),
      op = alloc(x.length * 4);
    f32(xp, x.length).set(x);
    f32(wp, width).set(w);
    exp.rmsnorm(xp, wp, op, width, 1e-5, 0, 1);
    exp.rmsnorm(xp, wp, op, width, 1e-5, 1, rows);
    const want = new Float32Array(x.length);
    ref.rmsnorm(want, x, w, rows, width, 1e-5);
    expect(Array.from(f32(op, x.length))).toEqual(Array.from(want));
  });

  it('rope equals the reference bit for bit (9 heads of 64, positions 37..40)', () => {
    resetAlloc();
    const r = rng(SEED + 4);
    const nHeads = 9,
      headDim = 64,
      ropeDim = 64,
      rows = 4,
      pos0 = 37,
      base = 10000,
      ctx = 64;
    const x = activations(r, rows * nHeads * headDim);
    const f = Math.fround;
    const tab = new Float32Array(ctx * ropeDim);
    const thetaScale = f(Math.pow(base, -2 / ropeDim));
    for (let pos = 0; pos < ctx; pos++) {
      let theta = f(pos);
      for (let i = 0; i < ropeDim / 2; i++) {
        tab[(pos * (ropeDim / 2) + i) * 2] = f(Math.cos(theta));
        tab[(pos * (ropeDim / 2) + i) * 2 + 1] = f(Math.sin(theta));
        theta = f(theta * thetaScale);
      }
    }
    const xp = alloc(x.length * 4),
      tp = alloc(tab.length * 4);
    f32(xp, x.length).set(x);
    f32(tp, tab.length).set(tab);
    exp.rope(xp, nHeads, headDim, ropeDim, tp, 0, pos0, 0, rows * nHeads);
    const want = x.slice();
    ref.rope(want, rows, pos0, nHeads, headDim, ropeDim, base);
    expect(Array.from(f32(xp, x.length))).toEqual(Array.from(want));
  });

  it("add is exact; silu·mul within 3 ulp of the reference (vectorised e^x, as ggml's silu)", () => {
    resetAlloc();
    const r = rng(SEED + 5);
    const n = 1536 * 3 + 3;
    const a = activations(r, n),
      b = activations(r, n);
    const ap = alloc(n * 4),
      bp = alloc(n * 4),
      op = alloc(n * 4);
    f32(ap, n).set(a);
    f32(bp, n).set(b);
    exp.add(ap, bp, op, 0, 1000);
    exp.add(ap, bp, op, 1000, n);
    const want = new Float32Array(n);
    ref.add(want, a, b, n);
    expect(Array.from(f32(op, n))).toEqual(Array.from(want));
    exp.siluMul(ap, bp, op, 0, n);
    ref.siluMul(want, a, b, n);
    const got = f32(op, n);
    let worst = 0;
    for (let i = 0; i < n; i++) {
      const err = Math.abs(got[i]! - want[i]!);
      if (err > 1e-30) worst = Math.max(worst, err / (Math.abs(want[i]!) * 2 ** -23));
      expect(err).toBeLessThanOrEqual(3 * Math.abs(want[i]!) * 2 ** -23 + 1e-30);
    }
    console.log(`silu·mul: worst error ${worst.toFixed(2)} ulp over ${n} values`);
    // saturation: e^-g overflows for g < -88.7 (silu -> -0, the reference's value is below 1e-36), and large g passes through
    const edge = Float32Array.from([-100, -88.8, 88.8, 100, 0, -1e-30, 1e-30]);
    f32(ap, edge.length).set(edge);
    f32(bp, edge.length).fill(1);
    exp.siluMul(ap, bp, op, 0, edge.length);
    ref.siluMul(want, edge, new Float32Array(edge.length).fill(1), edge.length);
    for (let i = 0; i < edge.length; i++) expect(Math.abs(f32(op, edge.length)[i]! - want[i]!)).toBeLessThanOrEqual(3 * Math.abs(want[i]!) * 2 ** -23 + 1e-30);
  });

  for (const [f16, flash, tile, window] of [
    [true, false, 4, 0],
    [true, false, 1, 0],
    [true, true, 4, 0],
    [false, false, 4, 0],
    [false, false, 1, 0],
    [false, true, 1, 0],
    // sliding window (Gemma 3's local layers): each row sees its last 7 positions
    [true, false, 4, 7],
    [false, false, 1, 7],
    [true, true, 4, 7],
    [false, true, 1, 7],
  ] as const) {
    it(`${flash ? 'flash (online softmax)' : 'llama.cpp-numerics'} attention vs the reference, ${f16 ? 'f16' : 'f32'} cache, ${tile} row(s) per task${window ? `, window ${window}` : ''} (9 heads / 3 KV heads of 64, prompt rows at 0..2, 3..39, then 40..42)`, () => {
      resetAlloc();
      const r = rng(SEED + (f16 ? 6 : 7));
      const nHeads = 9,
        nKv = 3,
        headDim = 64,
        ctx = 64;
      const kvw = nKv * headDim,
        qw = nHeads * headDim;
      const esz = f16 ? 2 : 4;
      const kc = alloc(ctx * kvw * esz),
        vc = alloc(ctx * kvw * esz);
      const kRef = new Float32Array(ctx * kvw),
        vRef = new Float32Array(ctx * kvw);
      const scratch = alloc(exp.attentionScratch(tile, nHeads / nKv, headDim, ctx));
      for (const [pos0, rows] of [
        [0, 3],
        [3, 37],
        [40, 3],
      ] as const) {
        const k = activations(r, rows * kvw),
          v = activations(r, rows * kvw);
        const q = activations(r, rows * qw);
        const kp = alloc(k.length * 4),
          vp = alloc(v.length * 4),
          qp = alloc(q.length * 4),
          op = alloc(q.length * 4);
        f32(kp, k.length).set(k);
        f32(vp, v.length).set(v);
        f32(qp, q.length).set(q);
        exp.kvStore(kp, vp, kc, vc, kvw, f16 ? 1 : 0, f16 ? 1 : 0, pos0, 0, rows);
        ref.kvStore(kRef, vRef, k, v, rows, pos0, kvw, f16);
        if (f16) {
          const h = new Uint16Array(memory.buffer, kc, ctx * kvw);
          for (let i = pos0 * kvw; i < (pos0 + rows) * kvw; i++) expect(h[i]).toBe(f32ToF16(k[i - pos0 * kvw]!));
        }
        // tasks = row tiles x KV heads, run in two calls as two threads would split them
        const tasks = Math.ceil(rows / tile) * nKv;
        exp.attention(qp, op, kc, vc, nHeads, nKv, headDim, 1 / 8, f16 ? 1 : 0, f16 ? 1 : 0, flash ? 1 : 0, window, pos0, rows, tile, scratch, 0, tasks >> 1);
        exp.attention(qp, op, kc, vc, nHeads, nKv, headDim, 1 / 8, f16 ? 1 : 0, f16 ? 1 : 0, flash ? 1 : 0, window, pos0, rows, tile, scratch, tasks >> 1, tasks);
        const want = new Float32Array(q.length);
        ref.attention(want, q, kRef, vRef, rows, pos0, nHeads, nKv, headDim, 1 / 8, f16, window);
        let vmax = 0;
        for (let i = 0; i < (pos0 + rows) * kvw; i++) vmax = Math.max(vmax, Math.abs(vRef[i]!));
        // flash keeps the softmax weights in f32 where the reference rounds them to f16 (relative 2^-11);
        // otherwise only f32-vs-f64 score rounding remains, which can move a weight across an f16
        // rounding boundary: one weight in [0.5, 1) then moves by 2^-11, its V row by up to 2^-11 * vmax
        // (seed 455271966 hits it: 2.4e-4 * vmax)
        const tol = (f16 ? 2 ** -10 : 1e-5) * vmax;
        const got = f32(op, q.length);
        for (let i = 0; i < q.length; i++) {
          if (!(Math.abs(got[i]! - want[i]!) <= tol)) throw new Error(`attention pos0 ${pos0} element ${i}: got ${got[i]}, want ${want[i]} (tol ${tol}); seed ${SEED}`);
        }
      }
    });
  }
});

describe(`wasm matmul on 2 threads (seed ${SEED})`, () => {
  it('the threaded interpreter (worker + main thread, chunked rows) gives the same bits as one thread: Q4_K 960x2560, Q5_0 1536x576 T=7', async () => {
    const { KernelHarness } = await import('../../src/kernels/wasm/harness.js');
    const h = await KernelHarness.create(2, 64 << 20);
    try {
      const r = rng(SEED + 9);
      for (const [typeId, rows, cols, tokens] of [
        [GGMLType.Q4_K, 960, 2560, 1],
        [GGMLType.Q5_0, 1536, 576, 7],
      ] as const) {
        h.top = h.base;
        const info = ggmlType(typeId)!;
        const rb = rowBytes(info, cols);
        const wbytes = weights(r, typeId, rows, cols);
        const w = h.alloc(wbytes.length + 16);
        h.bytes(w, wbytes.length).set(wbytes);
        const fmt = h.exp.activationFormat(typeId);
        const xrb = activationRowBytes(fmt, cols);
        const xf = h.alloc(cols * 4 * tokens);
        h.floats(xf, cols * tokens).set(activations(r, cols * tokens));
        const xq = h.alloc(xrb * tokens);
        for (let t = 0; t < tokens; t++) {
          if (fmt === 1) h.exp.quantizeQ8A(xf + t * cols * 4, xq + t * xrb, cols);
          else h.exp.quantizeQ8K(xf + t * cols * 4, xq + t * xrb, cols);
        }
        const one = h.alloc(rows * tokens * 4);
        const two = h.alloc(rows * tokens * 4);
        h.exp.matmul(typeId, w, rb, xq, xrb, one, rows, cols, tokens, 0, rows);
        h.matmul(typeId, w, rb, xq, cols, two, rows, tokens);
        expect(Array.from(h.floats(two, rows * tokens))).toEqual(Array.from(h.floats(one, rows * tokens)));
      }
    } finally {
      await h.dispose();
    }
  });
});

describe('wasm binary16 -> f32 (KV cache, F16 weights)', () => {
  it("the vector conversion gives f16ToF32's bits for every finite half (subnormals, -0 included)", () => {
    resetAlloc();
    const src = alloc(65536 * 2),
      dst = alloc(65536 * 4);
    const h = new Uint16Array(memory.buffer, src, 65536);
    for (let i = 0; i < 65536; i++) h[i] = i;
    exp.halvesToF32(src, dst, 65536);
    const got = f32(dst, 65536);
    let checked = 0;
    for (let i = 0; i < 65536; i++) {
      if ((i & 0x7c00) === 0x7c00) continue; // inf / NaN: never in the cache or weights this path reads
      const want = exp.f16ToF32(i);
      if (!Object.is(got[i], want)) throw new Error(`half 0x${i.toString(16)}: got ${got[i]}, want ${want}`);
      checked++;
    }
    expect(checked).toBe(63488);
  });
});

describe('wasm f32 -> nearest binary16 value, four at a time (softmax weights and queries with an f16 KV cache)', () => {
  it("roundHalves gives roundToF16's bits: every sign, exponent and top mantissa bits with the rounding bits' edge cases", () => {
    resetAlloc();
    // high 16 bits: every pattern; low 16: below, at and above the tie at bit 12, odd and even kept bit, all ones
    const lows = [0x0000, 0x0fff, 0x1000, 0x1001, 0x3000, 0x2fff, 0xffff, 0x8000];
    const n = 65536 * lows.length;
    const src = alloc(n * 4),
      dst = alloc(n * 4);
    const bits = new Uint32Array(memory.buffer, src, n);
    for (let hi = 0; hi < 65536; hi++) for (let i = 0; i < lows.length; i++) bits[hi * lows.length + i] = ((hi << 16) | lows[i]!) >>> 0;
    exp.roundHalves(src, dst, n);
    const x = f32(src, n),
      got = f32(dst, n);
    for (let i = 0; i < n; i++) {
      const want = exp.roundToF16(x[i]!);
      if (!Object.is(got[i], want) && !(Number.isNaN(want) && Number.isNaN(got[i]))) throw new Error(`0x${bits[i]!.toString(16)}: got ${got[i]}, want ${want}`);
    }
    // the overflow edge: 65504 is the largest half, from halfway to 65536 up the result is infinite
    const edge = new Float32Array(memory.buffer, src, 8);
    edge.set([65504, 65519.99609375, 65520, -65520, 2 ** -25, 2 ** -24 * 1.5, 2 ** -14 * (1 - 2 ** -12), 1e-45]);
    exp.roundHalves(src, dst, 8);
    expect(Array.from(f32(dst, 8))).toEqual([65504, 65504, Infinity, -Infinity, 0, 2 ** -23, 2 ** -14, 0]);
  });
});

describe(`wasm argmax (seed ${SEED})`, () => {
  it("equals the generate loop's argmax: random rows of real vocabulary sizes, ties, -Infinity, NaN", async () => {
    const { argmax } = await import('../../src/generate/sampling.js');
    const r = rng(SEED + 11);
    resetAlloc();
    const cases: Float32Array[] = [];
    for (const n of [1, 3, 512, 49152, 32000, 128256]) cases.push(activations(r, n));
    const tie = activations(r, 49152);
    tie[40001] = 99;
    tie[40003] = 99;
    tie[7] = 98;
    cases.push(tie);
    const last = activations(r, 49151);
    last[49150] = 1e9; // the maximum in the scalar tail
    cases.push(last);
    cases.push(new Float32Array(9).fill(-Infinity));
    const nan = activations(r, 1000);
    nan[0] = NaN;
    nan[500] = NaN;
    nan[999] = 50;
    cases.push(nan);
    for (const c of cases) {
      const p = alloc(c.length * 4);
      f32(p, c.length).set(c);
      expect(exp.argmax(p, c.length)).toBe(argmax(c));
    }
    const allNaN = alloc(32);
    f32(allNaN, 8).fill(NaN);
    expect(exp.argmax(allNaN, 8)).toBe(-1);
  });
});
