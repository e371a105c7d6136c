// The matmul drivers and the per-type dispatch: one generic driver over a
// kernel class (./quants.ts), instantiated for every weight type with a kernel.
import { dotF16, dotF32 } from './ops';
import { Baseline, f16, Relaxed } from './util';
import {
  dequantK23, dequantK45, dequantLegacy, dequantQ6K, expandLegacy, K23, K45, K6, Legacy,
  Q2_K, Q3_K, Q4_0, Q4_1, Q4_K, Q5_0, Q5_0U, Q5_1, Q5_1U, Q5_K, Q8_0,
} from './quants';
import {
  Q2_K_ELEMS, Q3_K_ELEMS, Q4_0_ELEMS, Q4_1_ELEMS, Q4_K_ELEMS, Q5_0_ELEMS, Q5_1_ELEMS, Q5_K_ELEMS, Q6_K_ELEMS, Q8_0_ELEMS,
  Q5_0U_BYTES, Q5_0U_ELEMS, Q5_0U_QS, Q5_1U_BYTES, Q5_1U_ELEMS, Q5_1U_QS, Q8_0_BYTES, Q8_0_QS, TYPE_Q5_0U, TYPE_Q5_1U, TYPE_F16, TYPE_F32, TYPE_Q2_K, TYPE_Q3_K, TYPE_Q4_0, TYPE_Q4_1, TYPE_Q4_K, TYPE_Q5_0, TYPE_Q5_1, TYPE_Q5_K, TYPE_Q6_K, TYPE_Q8_0,
} from './generated/layout';

/** Activation formats a matmul takes: f32 rows, Q8A (the 32-element types), Q8_K (the K-quants). */
export const FMT_F32 = 0;
export const FMT_Q8A = 1;
export const FMT_Q8K = 2;

/** Float weights: one token at a time over f32 activations. */
@unmanaged class F32K {
  // @ts-ignore: decorator
  @inline dot(w: usize, x: usize, n: i32, o: usize): f32 { return dotF32(w, x, n); }
  // @ts-ignore: decorator
  @inline dot4(w: usize, x: usize, xs: usize, n: i32, o: usize, os: usize): void { unreachable(); }
  // @ts-ignore: decorator
  @inline hasDot4(): bool { return false; }
  // @ts-ignore: decorator
  @inline hasRows2(): bool { return false; }
  // @ts-ignore: decorator
  @inline dot4x2(w: usize, ws: usize, x: usize, xs: usize, nb: i32, o: usize, ob: usize, os: usize): void { unreachable(); }
}
@unmanaged class F16K {
  // @ts-ignore: decorator
  @inline dot(w: usize, x: usize, n: i32, o: usize): f32 { return dotF16(w, x, n); }
  // @ts-ignore: decorator
  @inline dot4(w: usize, x: usize, xs: usize, n: i32, o: usize, os: usize): void { unreachable(); }
  // @ts-ignore: decorator
  @inline hasDot4(): bool { return false; }
  // @ts-ignore: decorator
  @inline hasRows2(): bool { return false; }
  // @ts-ignore: decorator
  @inline dot4x2(w: usize, ws: usize, x: usize, xs: usize, nb: i32, o: usize, ob: usize, os: usize): void { unreachable(); }
}

/** Tokens per tile of the driver: a tile's activations stay in L1 while a chunk of weight rows passes over them. */
const TILE = 16;

/**
 * Rows [j0, j1) of W times every token row of x with kernel class K (blocks of
 * `elems` elements): tiles of two rows by four tokens where K has them
 * (hasRows2: chosen per type and build by measurement), else four tokens of one
 * row at a time, then single tokens.
 */
function drive<K>(elems: i32, w: usize, rowBytes: usize, x: usize, xRowBytes: usize, out: usize, n: i32, k: i32, tokens: i32, j0: i32, j1: i32): void {
  const kern = changetype<K>(0);
  const nb = k / elems;
  for (let t0 = 0; t0 < tokens; t0 += TILE) {
    const t1 = min(tokens, t0 + TILE);
    // rows [j0, jp) x tokens [t0, tp): two rows by four tokens, each token's activations loaded once for
    // both rows: row j of the range's first half with row j + h of its second, so the weights are read as
    // two sequential streams (adjacent rows from DRAM ran at half the speed). Fewer than four tokens
    // (decode) stay one row at a time: a two-row one-token kernel was 0.7-0.8x from DRAM in the backend's
    // row chunks (bench/gemm.mjs). Everything else one row at a time below, where each one-row kernel has
    // its only call site (inlined: a call per row cost decode 10-20 %).
    let jp = j0, tp = t0;
    if (kern.hasRows2() && t1 - t0 >= 4) {
      const h = (j1 - j0) >> 1;
      const ws = <usize>h * rowBytes, ob = <usize>h << 2;
      jp = j0 + 2 * h;
      tp = t0 + ((t1 - t0) & ~3);
      for (let j = j0; j < j0 + h; j++) {
        const wr = w + <usize>j * rowBytes;
        for (let t = t0; t < tp; t += 4) kern.dot4x2(wr, ws, x + <usize>t * xRowBytes, xRowBytes, nb, out + ((<usize>t * <usize>n + <usize>j) << 2), ob, <usize>n << 2);
      }
    }
    for (let j = j0; j < j1; j++) {
      const wr = w + <usize>j * rowBytes;
      let t = j < jp ? tp : t0;
      if (kern.hasDot4()) {
        for (; t + 4 <= t1; t += 4) kern.dot4(wr, x + <usize>t * xRowBytes, xRowBytes, nb, out + ((<usize>t * <usize>n + <usize>j) << 2), <usize>n << 2);
      }
      for (; t < t1; t++) {
        const o = out + ((<usize>t * <usize>n + <usize>j) << 2);
        store<f32>(o, kern.dot(wr, x + <usize>t * xRowBytes, nb, o)); // o: the kernel's settle points (util.ts)
      }
    }
  }
}

/** ggml type id -> activation format, -1 when there is no kernel. */
export function activationFormat(type: i32): i32 {
  switch (type) {
    case TYPE_F32: case TYPE_F16: return FMT_F32;
    case TYPE_Q4_0: case TYPE_Q4_1: case TYPE_Q5_0: case TYPE_Q5_1: case TYPE_Q8_0: case TYPE_Q5_0U: case TYPE_Q5_1U: return FMT_Q8A;
    case TYPE_Q2_K: case TYPE_Q3_K: case TYPE_Q4_K: case TYPE_Q5_K: case TYPE_Q6_K: return FMT_Q8K;
    default: return -1;
  }
}

/**
 * Weight types (bit = ggml type id) whose matmuls run the Relaxed kernel variant; the others run
 * Baseline. The host sets it from a start-up measurement (setRelaxedTypes); in the baseline build
 * only Baseline exists and the mask is ignored. Both variants give bit-identical results.
 */
let relaxedTypes: u32 = ASC_FEATURE_RELAXED_SIMD ? 0xffffffff : 0;
/** Sets the per-type variant mask; returns the mask in effect (0 in the baseline build). */
export function setRelaxedTypes(mask: u32): u32 {
  relaxedTypes = ASC_FEATURE_RELAXED_SIMD ? mask : 0;
  return relaxedTypes;
}
/** The per-type variant mask in effect. */
export function getRelaxedTypes(): u32 {
  return relaxedTypes;
}

/** drive with kernel class KR (Relaxed variant) where the mask says so for `type`, else KB. */
// @ts-ignore: decorator
@inline function driveV<KB, KR>(type: i32, elems: i32, w: usize, rowBytes: usize, x: usize, xRowBytes: usize, out: usize, n: i32, k: i32, tokens: i32, j0: i32, j1: i32): void {
  if (ASC_FEATURE_RELAXED_SIMD && ((relaxedTypes >>> <u32>type) & 1)) drive<KR>(elems, w, rowBytes, x, xRowBytes, out, n, k, tokens, j0, j1);
  else drive<KB>(elems, w, rowBytes, x, xRowBytes, out, n, k, tokens, j0, j1);
}

/** out[t][j] = W[j] · x[t] for rows j in [j0, j1) and every token t; x in activationFormat(type). */
export function matmul(type: i32, w: usize, rowBytes: usize, x: usize, xRowBytes: usize, out: usize, n: i32, k: i32, tokens: i32, j0: i32, j1: i32): void {
  switch (type) {
    case TYPE_F32: drive<F32K>(1, w, rowBytes, x, xRowBytes, out, n, k, tokens, j0, j1); break;
    case TYPE_F16: drive<F16K>(1, w, rowBytes, x, xRowBytes, out, n, k, tokens, j0, j1); break;
    case TYPE_Q4_0: driveV<Legacy<Q4_0, Baseline>, Legacy<Q4_0, Relaxed>>(type, Q4_0_ELEMS, w, rowBytes, x, xRowBytes, out, n, k, tokens, j0, j1); break;
    case TYPE_Q4_1: driveV<Legacy<Q4_1, Baseline>, Legacy<Q4_1, Relaxed>>(type, Q4_1_ELEMS, w, rowBytes, x, xRowBytes, out, n, k, tokens, j0, j1); break;
    case TYPE_Q5_0: driveV<Legacy<Q5_0, Baseline>, Legacy<Q5_0, Relaxed>>(type, Q5_0_ELEMS, w, rowBytes, x, xRowBytes, out, n, k, tokens, j0, j1); break;
    // the backend's Q5_0 and Q5_1 in bytes: their ggml type's kernel variant (the mask has bits for ggml's ids only)
    case TYPE_Q5_0U: driveV<Legacy<Q5_0U, Baseline>, Legacy<Q5_0U, Relaxed>>(TYPE_Q5_0, Q5_0U_ELEMS, w, rowBytes, x, xRowBytes, out, n, k, tokens, j0, j1); break;
    case TYPE_Q5_1U: driveV<Legacy<Q5_1U, Baseline>, Legacy<Q5_1U, Relaxed>>(TYPE_Q5_1, Q5_1U_ELEMS, w, rowBytes, x, xRowBytes, out, n, k, tokens, j0, j1); break;
    case TYPE_Q5_1: driveV<Legacy<Q5_1, Baseline>, Legacy<Q5_1, Relaxed>>(type, Q5_1_ELEMS, w, rowBytes, x, xRowBytes, out, n, k, tokens, j0, j1); break;
    case TYPE_Q8_0: driveV<Legacy<Q8_0, Baseline>, Legacy<Q8_0, Relaxed>>(type, Q8_0_ELEMS, w, rowBytes, x, xRowBytes, out, n, k, tokens, j0, j1); break;
    case TYPE_Q2_K: driveV<K23<Q2_K, Baseline>, K23<Q2_K, Relaxed>>(type, Q2_K_ELEMS, w, rowBytes, x, xRowBytes, out, n, k, tokens, j0, j1); break;
    case TYPE_Q3_K: driveV<K23<Q3_K, Baseline>, K23<Q3_K, Relaxed>>(type, Q3_K_ELEMS, w, rowBytes, x, xRowBytes, out, n, k, tokens, j0, j1); break;
    case TYPE_Q4_K: driveV<K45<Q4_K, Baseline>, K45<Q4_K, Relaxed>>(type, Q4_K_ELEMS, w, rowBytes, x, xRowBytes, out, n, k, tokens, j0, j1); break;
    case TYPE_Q5_K: driveV<K45<Q5_K, Baseline>, K45<Q5_K, Relaxed>>(type, Q5_K_ELEMS, w, rowBytes, x, xRowBytes, out, n, k, tokens, j0, j1); break;
    case TYPE_Q6_K: driveV<K6<Baseline>, K6<Relaxed>>(type, Q6_K_ELEMS, w, rowBytes, x, xRowBytes, out, n, k, tokens, j0, j1); break;
    default: abort('matmul: no kernel for this weight type');
  }
}

/** Row of n elements of weight type `type` at w to f32 at y (every type the matmuls take). */
export function dequantRow(type: i32, w: usize, y: usize, n: i32): void {
  switch (type) {
    case TYPE_F32: memory.copy(y, w, <usize>n << 2); break;
    case TYPE_F16: for (let i = 0; i < n; i++) store<f32>(y + (<usize>i << 2), f16(load<u16>(w + (<usize>i << 1)))); break;
    case TYPE_Q4_0: dequantLegacy<Q4_0>(w, y, n / Q4_0_ELEMS); break;
    case TYPE_Q4_1: dequantLegacy<Q4_1>(w, y, n / Q4_1_ELEMS); break;
    case TYPE_Q5_0: dequantLegacy<Q5_0>(w, y, n / Q5_0_ELEMS); break;
    case TYPE_Q5_1: dequantLegacy<Q5_1>(w, y, n / Q5_1_ELEMS); break;
    case TYPE_Q5_0U: dequantLegacy<Q5_0U>(w, y, n / Q5_0U_ELEMS); break;
    case TYPE_Q5_1U: dequantLegacy<Q5_1U>(w, y, n / Q5_1U_ELEMS); break;
    case TYPE_Q8_0: dequantLegacy<Q8_0>(w, y, n / Q8_0_ELEMS); break;
    case TYPE_Q2_K: dequantK23<Q2_K>(w, y, n / Q2_K_ELEMS); break;
    case TYPE_Q3_K: dequantK23<Q3_K>(w, y, n / Q3_K_ELEMS); break;
    case TYPE_Q4_K: dequantK45<Q4_K>(w, y, n / Q4_K_ELEMS); break;
    case TYPE_Q5_K: dequantK45<Q5_K>(w, y, n / Q5_K_ELEMS); break;
    case TYPE_Q6_K: dequantQ6K(w, y, n / Q6_K_ELEMS); break;
    default: abort('dequantRow: no dequantizer for this weight type');
  }
}

/**
 * Expands nb blocks of a Q5_0 / Q5_1 file tensor at src into the load-time form `form` at dst (in place
 * forward, dst <= src; quants.ts expandLegacy): Q8_0 or Q5_0U from Q5_0, Q5_1U from Q5_1.
 */
export function expandQ5(form: i32, dst: usize, src: usize, nb: i32): void {
  switch (form) {
    case TYPE_Q8_0: expandLegacy<Q5_0>(dst, src, nb, true, Q8_0_QS, Q8_0_BYTES); break;
    case TYPE_Q5_0U: expandLegacy<Q5_0>(dst, src, nb, false, Q5_0U_QS, Q5_0U_BYTES); break;
    case TYPE_Q5_1U: expandLegacy<Q5_1>(dst, src, nb, false, Q5_1U_QS, Q5_1U_BYTES); break;
    default: abort('expandQ5: not a load-time form of Q5_0 / Q5_1');
  }
}
