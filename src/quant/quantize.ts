/**
 * Reference quantizers: float32 -> ggml block types, byte for byte what
 * ggml's ggml_quantize_chunk writes without an importance matrix (the call
 * llama.cpp's quantize tool makes), i.e. the quantize_row_*_ref routines of
 * ggml-quants.c with their helpers (make_qx_quants, make_q3_quants,
 * make_qkx2_quants, nearest_int).
 *
 * Bit-exactness rules, as in the dequantizers: every float operation is
 * float32 with its own rounding (Math.fround after each product, sum and
 * quotient, in C's evaluation order; no fused multiply-add), C's
 * float -> integer conversions are reproduced (truncation through a 32-bit
 * int, then the low bits for int8/uint8 destinations), and nearest_int is the
 * 1.5 * 2^23 trick (round half to even). Block sizes and bytes per block come
 * from the type table; field offsets are those of ggml-common.h's structs.
 */
import { GGMLType, ggmlType, ggmlTypeName, rowBytes } from '../gguf/types.js';
import { blockInfo } from './block.js';
import { f16ToF32, f32ToF16 } from './float.js';

const fround = Math.fround;
const abs = Math.abs;

/** Quantizes n floats (a whole number of blocks) from src[0..n) into dst[0..) (row bytes). */
export type RowQuantizer = (src: Float32Array, dst: Uint8Array, n: number) => void;

const F32_SCRATCH = new Float32Array(1);
const I32_SCRATCH = new Int32Array(F32_SCRATCH.buffer);

/**
 * ggml's nearest_int: adds 1.5 * 2^23 in float32 and reads the low mantissa
 * bits (round half to even for |x| < 2^22; garbage beyond, as in C).
 */
export function nearestInt(x: number): number {
  // x is a float32, so rounding the double sum once is float32 addition. In range the
  // sum's low mantissa bits are the rounded value itself; outside it, read the bits as C does.
  if (x > -4194304 && x < 4194304) return fround(x + 12582912) - 12582912;
  F32_SCRATCH[0] = x + 12582912;
  return (I32_SCRATCH[0]! & 0x007fffff) - 0x00400000;
}

/** C's float -> int32 conversion on x86-64 (cvttss2si): truncation; NaN and out-of-range give INT_MIN. */
function toI32(x: number): number {
  if (!(x > -2147483649 && x < 2147483648)) return -2147483648;
  return Math.trunc(x);
}
/** (int8_t) of a float: through int32, low 8 bits, signed. */
function toI8(x: number): number {
  return (toI32(x) << 24) >> 24;
}
/** int -> int8_t. */
function i8(v: number): number {
  return (v << 24) >> 24;
}
/** C roundf: half away from zero. */
function roundf(x: number): number {
  const t = Math.trunc(x);
  return abs(x - t) >= 0.5 ? t + Math.sign(x) : t;
}

function putF16(dst: Uint8Array, p: number, x: number): void {
  const h = f32ToF16(x);
  dst[p] = h & 0xff;
  dst[p + 1] = h >>> 8;
}
function getF16(dst: Uint8Array, p: number): number {
  return f16ToF32(dst[p]! | (dst[p + 1]! << 8));
}

const GROUP_MAX_EPS = fround(1e-15);
const F0_1 = fround(0.1);
const FLT_MAX = 3.4028234663852886e38;

/** The value of largest magnitude in x[xo..xo+n): the first of equals, 0 when all are 0 (or NaN). */
/** min and max of x[xo..xo+n) into `minMax` (ggml's Q4_1/Q5_1 scan: starts from ±FLT_MAX, NaN never wins). */
const minMax = new Float64Array(2);
function blockMinMax(x: Float32Array, xo: number, n: number): void {
  let min = FLT_MAX;
  let max = -FLT_MAX;
  for (let j = 0; j < n; j++) {
    const v = x[xo + j]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  minMax[0] = min;
  minMax[1] = max;
}

function absMaxValue(x: Float32Array, xo: number, n: number): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = abs(x[xo + i]!);
    if (ax > amax) {
      amax = ax;
      max = x[xo + i]!;
    }
  }
  return max;
}

// ---------------------------------------------------------------- float types

/** F32 -> F16 (ggml_fp32_to_fp16_row: round to nearest even, NaN -> 0x7E00 with the sign). */
export function quantizeRowF16(src: Float32Array, dst: Uint8Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const h = f32ToF16(src[i]!);
    dst[2 * i] = h & 0xff;
    dst[2 * i + 1] = h >>> 8;
  }
}

/** F32 -> BF16 (ggml_fp32_to_bf16_row_ref: round to nearest even on the bits; NaN quieted, payload's top kept). */
export function quantizeRowBF16(src: Float32Array, dst: Uint8Array, n: number): void {
  const bits = new Uint32Array(src.buffer, src.byteOffset, n);
  for (let i = 0; i < n; i++) {
    const u = bits[i]!;
    const h = (u & 0x7fffffff) > 0x7f800000 ? (u >>> 16) | 64 : ((u + (0x7fff + ((u >>> 16) & 1))) >>> 16) & 0xffff;
    dst[2 * i] = h & 0xff;
    dst[2 * i + 1] = h >>> 8;
  }
}

/** F32 -> F32 (a copy of the bit patterns). */
export function quantizeRowF32(src: Float32Array, dst: Uint8Array, n: number): void {
  dst.set(new Uint8Array(src.buffer, src.byteOffset, n * 4));
}

// ---------------------------------------------------------------- legacy 32-element blocks

const Q4_0 = blockInfo(GGMLType.Q4_0);
/** quantize_row_q4_0_ref: d = max / -8 (max = the value of largest magnitude), q = min(15, (int8)(x/d + 8.5)). */
export function quantizeRowQ4_0(src: Float32Array, dst: Uint8Array, n: number): void {
  const { blockSize: qk, typeSize } = Q4_0;
  const half = qk / 2;
  for (let i = 0, x = 0, p = 0; i < n / qk; i++, x += qk, p += typeSize) {
    const max = absMaxValue(src, x, qk);
    const d = fround(max / -8);
    const id = d !== 0 ? fround(1 / d) : 0;
    putF16(dst, p, d);
    for (let j = 0; j < half; j++) {
      const x0 = fround(src[x + j]! * id);
      const x1 = fround(src[x + half + j]! * id);
      const xi0 = Math.min(15, toI8(fround(x0 + 8.5))) & 0xff;
      const xi1 = Math.min(15, toI8(fround(x1 + 8.5))) & 0xff;
      dst[p + 2 + j] = (xi0 | (xi1 << 4)) & 0xff;
    }
  }
}

const Q4_1 = blockInfo(GGMLType.Q4_1);
/** quantize_row_q4_1_ref: d = (max - min) / 15, m = min, q = min(15, (int8)((x - min)/d + 0.5)). */
export function quantizeRowQ4_1(src: Float32Array, dst: Uint8Array, n: number): void {
  const { blockSize: qk, typeSize } = Q4_1;
  const half = qk / 2;
  for (let i = 0, x = 0, p = 0; i < n / qk; i++, x += qk, p += typeSize) {
    blockMinMax(src, x, qk);
    const min = minMax[0]!;
    const max = minMax[1]!;
    const d = fround(fround(max - min) / 15);
    const id = d !== 0 ? fround(1 / d) : 0;
    putF16(dst, p, d);
    putF16(dst, p + 2, min);
    for (let j = 0; j < half; j++) {
      const x0 = fround(fround(src[x + j]! - min) * id);
      const x1 = fround(fround(src[x + half + j]! - min) * id);
      const xi0 = Math.min(15, toI8(fround(x0 + 0.5))) & 0xff;
      const xi1 = Math.min(15, toI8(fround(x1 + 0.5))) & 0xff;
      dst[p + 4 + j] = (xi0 | (xi1 << 4)) & 0xff;
    }
  }
}

/** Writes the 5-bit values of a Q5 block: low nibbles to qs, fifth bits to the uint32 qh. */
function packQ5(dst: Uint8Array, qhAt: number, qsAt: number, lo: Int32Array, half: number): void {
  let qh = 0;
  for (let j = 0; j < half; j++) {
    const xi0 = lo[j]!;
    const xi1 = lo[j + half]!;
    dst[qsAt + j] = (xi0 & 0x0f) | ((xi1 & 0x0f) << 4);
    qh |= ((xi0 & 0x10) >>> 4) << j;
    qh |= ((xi1 & 0x10) >>> 4) << (j + half);
  }
  dst[qhAt] = qh & 0xff;
  dst[qhAt + 1] = (qh >>> 8) & 0xff;
  dst[qhAt + 2] = (qh >>> 16) & 0xff;
  dst[qhAt + 3] = (qh >>> 24) & 0xff;
}
const q5Scratch = new Int32Array(32);

const Q5_0 = blockInfo(GGMLType.Q5_0);
/** quantize_row_q5_0_ref: d = max / -16, q = min(31, (int8)(x/d + 16.5)). */
export function quantizeRowQ5_0(src: Float32Array, dst: Uint8Array, n: number): void {
  const { blockSize: qk, typeSize } = Q5_0;
  const half = qk / 2;
  const q = q5Scratch;
  for (let i = 0, x = 0, p = 0; i < n / qk; i++, x += qk, p += typeSize) {
    const max = absMaxValue(src, x, qk);
    const d = fround(max / -16);
    const id = d !== 0 ? fround(1 / d) : 0;
    putF16(dst, p, d);
    for (let j = 0; j < qk; j++) q[j] = Math.min(31, toI8(fround(fround(src[x + j]! * id) + 16.5))) & 0xff;
    packQ5(dst, p + 2, p + 6, q, half);
  }
}

const Q5_1 = blockInfo(GGMLType.Q5_1);
/** quantize_row_q5_1_ref: d = (max - min) / 31, m = min, q = (uint8)((x - min)/d + 0.5). */
export function quantizeRowQ5_1(src: Float32Array, dst: Uint8Array, n: number): void {
  const { blockSize: qk, typeSize } = Q5_1;
  const half = qk / 2;
  const q = q5Scratch;
  for (let i = 0, x = 0, p = 0; i < n / qk; i++, x += qk, p += typeSize) {
    blockMinMax(src, x, qk);
    const min = minMax[0]!;
    const max = minMax[1]!;
    const d = fround(fround(max - min) / 31);
    const id = d !== 0 ? fround(1 / d) : 0;
    putF16(dst, p, d);
    putF16(dst, p + 2, min);
    for (let j = 0; j < qk; j++) q[j] = toI32(fround(fround(fround(src[x + j]! - min) * id) + 0.5)) & 0xff;
    packQ5(dst, p + 4, p + 8, q, half);
  }
}

const Q8_0 = blockInfo(GGMLType.Q8_0);
/** quantize_row_q8_0_ref: d = amax / 127, q = roundf(x/d). */
export function quantizeRowQ8_0(src: Float32Array, dst: Uint8Array, n: number): void {
  const { blockSize: qk, typeSize } = Q8_0;
  for (let i = 0, x = 0, p = 0; i < n / qk; i++, x += qk, p += typeSize) {
    let amax = 0;
    for (let j = 0; j < qk; j++) {
      const a = abs(src[x + j]!);
      // biome-ignore lint/complexity/useMathMinMax: ggml's MAX() ternary, whose NaN handling Math.max() does not share
      amax = amax > a ? amax : a; // MAX(amax, fabsf(v))
    }
    const d = fround(amax / 127);
    const id = d !== 0 ? fround(1 / d) : 0;
    putF16(dst, p, d);
    for (let j = 0; j < qk; j++) dst[p + 2 + j] = toI32(roundf(fround(src[x + j]! * id))) & 0xff;
  }
}

// ---------------------------------------------------------------- K-quant helpers

/** make_qx_quants' per-element weights and weight * x (n <= 32). */
const qxW = new Float32Array(32);
const qxWX = new Float32Array(32);

/**
 * make_qx_quants: symmetric quantization of n values at x[xo..] to
 * [-nmax, nmax-1] (stored + nmax in L[lo..]), with a search over 18 scales
 * around nmax/max maximizing sumlx^2/suml2 with weights x^2 (rmse_type 1).
 */
function makeQxQuants(n: number, nmax: number, x: Float32Array, xo: number, L: Int8Array, lo: number, rmseType: number): number {
  const max = absMaxValue(x, xo, n);
  if (abs(max) < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[lo + i] = 0;
    return 0;
  }
  let iscale = fround(-nmax / max);
  if (rmseType === 0) {
    for (let i = 0; i < n; i++) {
      const l = nearestInt(fround(iscale * x[xo + i]!));
      L[lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, l));
    }
    return fround(1 / iscale);
  }
  const w = qxW;
  const wx = qxWX;
  for (let i = 0; i < n; i++) {
    const v = x[xo + i]!;
    w[i] = rmseType === 1 ? fround(v * v) : rmseType === 2 ? 1 : rmseType === 3 ? abs(v) : fround(Math.sqrt(abs(v)));
    wx[i] = fround(w[i]! * v);
  }
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    let l = nearestInt(fround(iscale * x[xo + i]!));
    l = Math.max(-nmax, Math.min(nmax - 1, l));
    L[lo + i] = l + nmax;
    sumlx = fround(sumlx + fround(wx[i]! * l));
    suml2 = fround(suml2 + fround(fround(w[i]! * l) * l));
  }
  let scale = suml2 !== 0 ? fround(sumlx / suml2) : 0;
  let best = fround(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = fround(-fround(nmax + fround(F0_1 * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      let l = nearestInt(fround(iscale * x[xo + i]!));
      l = Math.max(-nmax, Math.min(nmax - 1, l));
      sumlx = fround(sumlx + fround(wx[i]! * l));
      suml2 = fround(suml2 + fround(fround(w[i]! * l) * l));
    }
    if (suml2 > 0 && fround(sumlx * sumlx) > fround(best * suml2)) {
      for (let i = 0; i < n; i++) {
        const l = nearestInt(fround(iscale * x[xo + i]!));
        L[lo + i] = nmax + Math.max(-nmax, Math.min(nmax - 1, l));
      }
      scale = fround(sumlx / suml2);
      best = fround(scale * sumlx);
    }
  }
  return scale;
}

/**
 * make_q3_quants with do_rmse: symmetric [-nmax, nmax-1] quantization, then
 * up to 5 passes of moving single values to the level that improves
 * sumlx^2/suml2 (weights x^2). L[lo..] gets the levels + nmax.
 */
function makeQ3Quants(n: number, nmax: number, x: Float32Array, xo: number, L: Int8Array, lo: number): number {
  const max = absMaxValue(x, xo, n);
  if (abs(max) < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[lo + i] = 0;
    return 0;
  }
  const iscale = fround(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const v = x[xo + i]!;
    let l = nearestInt(fround(iscale * v));
    l = Math.max(-nmax, Math.min(nmax - 1, l));
    L[lo + i] = l;
    const w = fround(v * v);
    sumlx = fround(sumlx + fround(fround(w * v) * l));
    suml2 = fround(suml2 + fround(fround(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const v = x[xo + i]!;
      const w = fround(v * v);
      const li = L[lo + i]!;
      let slx = fround(sumlx - fround(fround(w * v) * li));
      if (slx > 0) {
        let sl2 = fround(suml2 - fround(fround(w * li) * li));
        let nl = nearestInt(fround(fround(v * sl2) / slx));
        nl = Math.max(-nmax, Math.min(nmax - 1, nl));
        if (nl !== li) {
          slx = fround(slx + fround(fround(w * v) * nl));
          sl2 = fround(sl2 + fround(fround(w * nl) * nl));
          if (sl2 > 0 && fround(fround(slx * slx) * suml2) > fround(fround(sumlx * sumlx) * sl2)) {
            L[lo + i] = nl;
            sumlx = slx;
            suml2 = sl2;
            changed++;
          }
        }
      }
    }
    if (changed === 0) break;
  }
  for (let i = 0; i < n; i++) L[lo + i] = L[lo + i]! + nmax;
  return suml2 > 0 ? fround(sumlx / suml2) : 0;
}

const qkxXM = new Float32Array(32);
/** Result slot for makeQkx2Quants' second output (the negated min). */
const theMin = new Float32Array(1);
const laux = new Uint8Array(32);

/**
 * make_qkx2_quants: asymmetric quantization of n values to [0, nmax] with a
 * scale and a min (min <= 0; its negation goes to theMin[0]), refined by a
 * search over nstep+1 scales fitting scale and min by weighted least squares.
 */
function makeQkx2Quants(n: number, nmax: number, x: Float32Array, xo: number, weights: Float32Array, L: Uint8Array, lo: number, rmin: number, rdelta: number, nstep: number, useMad: boolean): number {
  let min = x[xo]!;
  let max = x[xo]!;
  let sumW = weights[0]!;
  let sumX = fround(sumW * x[xo]!);
  for (let i = 1; i < n; i++) {
    const v = x[xo + i]!;
    if (v < min) min = v;
    if (v > max) max = v;
    const w = weights[i]!;
    sumW = fround(sumW + w);
    sumX = fround(sumX + fround(w * v));
  }
  if (min > 0) min = 0;
  if (max === min) {
    for (let i = 0; i < n; i++) L[lo + i] = 0;
    theMin[0] = -min;
    return 0;
  }
  let iscale = fround(nmax / fround(max - min));
  let scale = fround(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const v = x[xo + i]!;
    const l = Math.max(0, Math.min(nmax, nearestInt(fround(iscale * fround(v - min)))));
    L[lo + i] = l;
    let diff = fround(fround(fround(scale * l) + min) - v);
    diff = useMad ? abs(diff) : fround(diff * diff);
    bestError = fround(bestError + fround(weights[i]! * diff));
  }
  if (nstep < 1) {
    theMin[0] = -min;
    return scale;
  }
  // x - min for the current min (min moves when a better fit is found; recomputed then)
  const xm = qkxXM;
  for (let i = 0; i < n; i++) xm[i] = fround(x[xo + i]! - min);
  for (let is = 0; is <= nstep; is++) {
    // the range is recomputed every step from the current min (as in C)
    iscale = fround(fround(fround(rmin + fround(rdelta * is)) + nmax) / fround(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const v = x[xo + i]!;
      const l = Math.max(0, Math.min(nmax, nearestInt(fround(iscale * xm[i]!))));
      laux[i] = l;
      const w = weights[i]!;
      const wl = fround(w * l);
      sumL = fround(sumL + wl);
      sumL2 = fround(sumL2 + fround(wl * l));
      sumXL = fround(sumXL + fround(wl * v));
    }
    const D = fround(fround(sumW * sumL2) - fround(sumL * sumL));
    if (D > 0) {
      let thisScale = fround(fround(fround(sumW * sumXL) - fround(sumX * sumL)) / D);
      let thisMin = fround(fround(fround(sumL2 * sumX) - fround(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = fround(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        let diff = fround(fround(fround(thisScale * laux[i]!) + thisMin) - x[xo + i]!);
        diff = useMad ? abs(diff) : fround(diff * diff);
        curError = fround(curError + fround(weights[i]! * diff));
      }
      if (curError < bestError) {
        for (let i = 0; i < n; i++) L[lo + i] = laux[i]!;
        bestError = curError;
        scale = thisScale;
        min = thisMin;
        for (let i = 0; i < n; i++) xm[i] = fround(x[xo + i]! - min);
      }
    }
  }
  theMin[0] = -min;
  return scale;
}

/** Packs 2-bit levels L[0..256) into a K-block's 64 qs bytes at q (four 32-element groups per 128). */
function pack2Bit(dst: Uint8Array, q: number, L: Uint8Array | Int8Array, qk: number): void {
  for (let j = 0; j < qk; j += 128) {
    for (let l = 0; l < 32; l++) {
      dst[q + j / 4 + l] = L[j + l]! | (L[j + l + 32]! << 2) | (L[j + l + 64]! << 4) | (L[j + l + 96]! << 6);
    }
  }
}

// ---------------------------------------------------------------- K-quants

const Lu8 = new Uint8Array(256);
const Li8 = new Int8Array(256);
const kScales = new Float32Array(16);
const kMins = new Float32Array(16);
const kWeights = new Float32Array(32);

const Q2_K = blockInfo(GGMLType.Q2_K);
/** quantize_row_q2_K_ref: 16 sub-blocks of 16, each make_qkx2_quants(nmax 3, |x| weights, MAD); 4-bit scales and mins. */
export function quantizeRowQ2_K(src: Float32Array, dst: Uint8Array, n: number): void {
  const { blockSize: qk, typeSize } = Q2_K;
  const L = Lu8;
  for (let i = 0, x = 0, p = 0; i < n / qk; i++, x += qk, p += typeSize) {
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < qk / 16; j++) {
      for (let l = 0; l < 16; l++) kWeights[l] = abs(src[x + 16 * j + l]!);
      kScales[j] = makeQkx2Quants(16, 3, src, x + 16 * j, kWeights, L, 16 * j, -0.5, F0_1, 15, true);
      kMins[j] = theMin[0]!;
      if (kScales[j]! > maxScale) maxScale = kScales[j]!;
      if (kMins[j]! > maxMin) maxMin = kMins[j]!;
    }
    const sc = p; // scales[16]
    if (maxScale > 0) {
      const iscale = fround(15 / maxScale);
      for (let j = 0; j < qk / 16; j++) dst[sc + j] = nearestInt(fround(iscale * kScales[j]!)) & 0xff;
      putF16(dst, p + 80, fround(maxScale / 15));
    } else {
      for (let j = 0; j < qk / 16; j++) dst[sc + j] = 0;
      putF16(dst, p + 80, 0);
    }
    if (maxMin > 0) {
      const iscale = fround(15 / maxMin);
      for (let j = 0; j < qk / 16; j++) dst[sc + j] = (dst[sc + j]! | (nearestInt(fround(iscale * kMins[j]!)) << 4)) & 0xff;
      putF16(dst, p + 82, fround(maxMin / 15));
    } else {
      putF16(dst, p + 82, 0);
    }
    const dAll = getF16(dst, p + 80);
    const mAll = getF16(dst, p + 82);
    for (let j = 0; j < qk / 16; j++) {
      const d = fround(dAll * (dst[sc + j]! & 0x0f));
      if (d === 0) continue;
      const dm = fround(mAll * (dst[sc + j]! >> 4));
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(fround(fround(src[x + 16 * j + ii]! + dm) / d));
        L[16 * j + ii] = Math.max(0, Math.min(3, l));
      }
    }
    pack2Bit(dst, p + 16, L, qk);
  }
}

const Q3_K = blockInfo(GGMLType.Q3_K);
/** quantize_row_q3_K_ref: 16 sub-blocks of 16 by make_q3_quants(nmax 4); 6-bit signed scales; high bits in hmask. */
export function quantizeRowQ3_K(src: Float32Array, dst: Uint8Array, n: number): void {
  const { blockSize: qk, typeSize } = Q3_K;
  const L = Li8;
  for (let i = 0, x = 0, p = 0; i < n / qk; i++, x += qk, p += typeSize) {
    let maxScale = 0;
    let amax = 0;
    for (let j = 0; j < qk / 16; j++) {
      kScales[j] = makeQ3Quants(16, 4, src, x + 16 * j, L, 16 * j);
      const scale = abs(kScales[j]!);
      if (scale > amax) {
        amax = scale;
        maxScale = kScales[j]!;
      }
    }
    const s = p + 96; // scales[12]
    dst.fill(0, s, s + 12);
    if (maxScale !== 0) {
      const iscale = fround(-32 / maxScale);
      for (let j = 0; j < qk / 16; j++) {
        let l = i8(nearestInt(fround(iscale * kScales[j]!)));
        l = Math.max(-32, Math.min(31, l)) + 32;
        if (j < 8) dst[s + j] = l & 0x0f;
        else dst[s + j - 8] = dst[s + j - 8]! | ((l & 0x0f) << 4);
        l >>= 4;
        dst[s + (j % 4) + 8] = dst[s + (j % 4) + 8]! | (l << (2 * (j >> 2)));
      }
      putF16(dst, p + 108, fround(1 / iscale));
    } else {
      putF16(dst, p + 108, 0);
    }
    const dAll = getF16(dst, p + 108);
    for (let j = 0; j < qk / 16; j++) {
      const low = j < 8 ? dst[s + j]! & 0x0f : dst[s + j - 8]! >> 4;
      const sc = (low | (((dst[s + 8 + (j % 4)]! >> (2 * (j >> 2))) & 3) << 4)) - 32;
      const d = fround(dAll * sc);
      if (d === 0) continue;
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(fround(src[x + 16 * j + ii]! / d));
        L[16 * j + ii] = Math.max(-4, Math.min(3, l)) + 4;
      }
    }
    const hm = p; // hmask[32]
    dst.fill(0, hm, hm + qk / 8);
    let m = 0;
    let bit = 1;
    for (let j = 0; j < qk; j++) {
      if (L[j]! > 3) {
        dst[hm + m] = dst[hm + m]! | bit;
        L[j] = L[j]! - 4;
      }
      if (++m === qk / 8) {
        m = 0;
        bit <<= 1;
      }
    }
    pack2Bit(dst, p + 32, L, qk);
  }
}

/** Packs Q4_K/Q5_K's eight 6-bit scales and mins into the 12 bytes at s (inverse of get_scale_min_k4). */
function packScalesK4(dst: Uint8Array, s: number, ls: Uint8Array, lm: Uint8Array): void {
  for (let j = 0; j < 8; j++) {
    if (j < 4) {
      dst[s + j] = ls[j]!;
      dst[s + j + 4] = lm[j]!;
    } else {
      dst[s + j + 4] = (ls[j]! & 0x0f) | ((lm[j]! & 0x0f) << 4);
      dst[s + j - 4] = dst[s + j - 4]! | ((ls[j]! >> 4) << 6);
      dst[s + j] = dst[s + j]! | ((lm[j]! >> 4) << 6);
    }
  }
}
function scaleK4(src: Uint8Array, s: number, j: number): number {
  return j < 4 ? src[s + j]! & 63 : (src[s + j + 4]! & 0x0f) | ((src[s + j - 4]! >> 6) << 4);
}
function minK4(src: Uint8Array, s: number, j: number): number {
  return j < 4 ? src[s + j + 4]! & 63 : (src[s + j + 4]! >> 4) | ((src[s + j]! >> 6) << 4);
}

const lsBuf = new Uint8Array(8);
const lmBuf = new Uint8Array(8);

/**
 * The shared body of quantize_row_q4_K_ref / q5_K_ref: eight sub-blocks of 32
 * by make_qkx2_quants (weights av_x + |x|), 6-bit scales and mins relative to
 * the block's largest, then the final levels in [0, nmax] into L.
 */
function quantizeBlockK4(xs: Float32Array, x: number, dst: Uint8Array, p: number, nmax: number, rmin: number, nstep: number): void {
  const L = Lu8;
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 8; j++) {
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) {
      const v = xs[x + 32 * j + l]!;
      sumX2 = fround(sumX2 + fround(v * v));
    }
    const avX = fround(Math.sqrt(fround(sumX2 / 32)));
    for (let l = 0; l < 32; l++) kWeights[l] = fround(avX + abs(xs[x + 32 * j + l]!));
    kScales[j] = makeQkx2Quants(32, nmax, xs, x + 32 * j, kWeights, L, 32 * j, rmin, F0_1, nstep, false);
    kMins[j] = theMin[0]!;
    if (kScales[j]! > maxScale) maxScale = kScales[j]!;
    if (kMins[j]! > maxMin) maxMin = kMins[j]!;
  }
  const invScale = maxScale > 0 ? fround(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? fround(63 / maxMin) : 0;
  for (let j = 0; j < 8; j++) {
    lsBuf[j] = Math.min(63, nearestInt(fround(invScale * kScales[j]!)) & 0xff);
    lmBuf[j] = Math.min(63, nearestInt(fround(invMin * kMins[j]!)) & 0xff);
  }
  packScalesK4(dst, p + 4, lsBuf, lmBuf);
  putF16(dst, p, fround(maxScale / 63));
  putF16(dst, p + 2, fround(maxMin / 63));
  const dAll = getF16(dst, p);
  const mAll = getF16(dst, p + 2);
  for (let j = 0; j < 8; j++) {
    const d = fround(dAll * scaleK4(dst, p + 4, j));
    if (d === 0) continue;
    const dm = fround(mAll * minK4(dst, p + 4, j));
    for (let ii = 0; ii < 32; ii++) {
      const l = nearestInt(fround(fround(xs[x + 32 * j + ii]! + dm) / d));
      L[32 * j + ii] = Math.max(0, Math.min(nmax, l));
    }
  }
}

const Q4_K = blockInfo(GGMLType.Q4_K);
/** quantize_row_q4_K_ref (make_qkx2_quants(32, 15, ..., -1, 0.1, 20)). */
export function quantizeRowQ4_K(src: Float32Array, dst: Uint8Array, n: number): void {
  const { blockSize: qk, typeSize } = Q4_K;
  const L = Lu8;
  for (let i = 0, x = 0, p = 0; i < n / qk; i++, x += qk, p += typeSize) {
    quantizeBlockK4(src, x, dst, p, 15, -1, 20);
    let q = p + 16;
    for (let j = 0; j < qk; j += 64) {
      for (let l = 0; l < 32; l++) dst[q + l] = L[j + l]! | (L[j + l + 32]! << 4);
      q += 32;
    }
  }
}

const Q5_K = blockInfo(GGMLType.Q5_K);
/** quantize_row_q5_K_ref (make_qkx2_quants(32, 31, ..., -0.5, 0.1, 15)); fifth bits in qh. */
export function quantizeRowQ5_K(src: Float32Array, dst: Uint8Array, n: number): void {
  const { blockSize: qk, typeSize } = Q5_K;
  const L = Lu8;
  for (let i = 0, x = 0, p = 0; i < n / qk; i++, x += qk, p += typeSize) {
    quantizeBlockK4(src, x, dst, p, 31, -0.5, 15);
    const qh = p + 16;
    let ql = p + 48;
    dst.fill(0, qh, qh + qk / 8);
    let m1 = 1;
    let m2 = 2;
    for (let nn = 0; nn < qk; nn += 64) {
      for (let j = 0; j < 32; j++) {
        let l1 = L[nn + j]!;
        if (l1 > 15) {
          l1 -= 16;
          dst[qh + j] = dst[qh + j]! | m1;
        }
        let l2 = L[nn + j + 32]!;
        if (l2 > 15) {
          l2 -= 16;
          dst[qh + j] = dst[qh + j]! | m2;
        }
        dst[ql + j] = l1 | (l2 << 4);
      }
      m1 <<= 2;
      m2 <<= 2;
      ql += 32;
    }
  }
}

const Q6_K = blockInfo(GGMLType.Q6_K);
/** quantize_row_q6_K_ref: 16 sub-blocks of 16 by make_qx_quants(nmax 32, rmse 1); int8 scales. */
export function quantizeRowQ6_K(src: Float32Array, dst: Uint8Array, n: number): void {
  const { blockSize: qk, typeSize } = Q6_K;
  const L = Li8;
  for (let i = 0, x = 0, p = 0; i < n / qk; i++, x += qk, p += typeSize) {
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < qk / 16; ib++) {
      const scale = makeQxQuants(16, 32, src, x + 16 * ib, L, 16 * ib, 1);
      kScales[ib] = scale;
      const a = abs(scale);
      if (a > maxAbsScale) {
        maxAbsScale = a;
        maxScale = scale;
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) {
      dst.fill(0, p, p + typeSize);
      continue;
    }
    const iscale = fround(-128 / maxScale);
    putF16(dst, p + 208, fround(1 / iscale));
    const sc = p + 192;
    for (let ib = 0; ib < qk / 16; ib++) dst[sc + ib] = Math.min(127, nearestInt(fround(iscale * kScales[ib]!))) & 0xff;
    const dAll = getF16(dst, p + 208);
    for (let j = 0; j < qk / 16; j++) {
      const d = fround(dAll * i8(dst[sc + j]!));
      if (d === 0) continue;
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(fround(src[x + 16 * j + ii]! / d));
        L[16 * j + ii] = Math.max(-32, Math.min(31, l)) + 32;
      }
    }
    let ql = p;
    let qh = p + 128;
    for (let j = 0; j < qk; j += 128) {
      for (let l = 0; l < 32; l++) {
        const q1 = L[j + l]! & 0x0f;
        const q2 = L[j + l + 32]! & 0x0f;
        const q3 = L[j + l + 64]! & 0x0f;
        const q4 = L[j + l + 96]! & 0x0f;
        dst[ql + l] = q1 | (q3 << 4);
        dst[ql + l + 32] = q2 | (q4 << 4);
        dst[qh + l] = (L[j + l]! >> 4) | ((L[j + l + 32]! >> 4) << 2) | ((L[j + l + 64]! >> 4) << 4) | ((L[j + l + 96]! >> 4) << 6);
      }
      ql += 64;
      qh += 32;
    }
  }
}

// ---------------------------------------------------------------- entry points

const QUANTIZERS: ReadonlyMap<number, RowQuantizer> = new Map<number, RowQuantizer>([
  [GGMLType.F32, quantizeRowF32],
  [GGMLType.F16, quantizeRowF16],
  [GGMLType.BF16, quantizeRowBF16],
  [GGMLType.Q4_0, quantizeRowQ4_0],
  [GGMLType.Q4_1, quantizeRowQ4_1],
  [GGMLType.Q5_0, quantizeRowQ5_0],
  [GGMLType.Q5_1, quantizeRowQ5_1],
  [GGMLType.Q8_0, quantizeRowQ8_0],
  [GGMLType.Q2_K, quantizeRowQ2_K],
  [GGMLType.Q3_K, quantizeRowQ3_K],
  [GGMLType.Q4_K, quantizeRowQ4_K],
  [GGMLType.Q5_K, quantizeRowQ5_K],
  [GGMLType.Q6_K, quantizeRowQ6_K],
]);

/** Whether quantizeChunk implements the type with this id. */
export function isQuantizable(typeId: number): boolean {
  return QUANTIZERS.has(typeId);
}

/** Ids of every type quantizeChunk writes, ascending. */
export function quantizableTypes(): number[] {
  return [...QUANTIZERS.keys()].sort((a, b) => a - b);
}

/**
 * ggml_quantize_chunk without an importance matrix: quantizes nRows rows of
 * nPerRow floats from src into dst (nRows * row bytes, rows back to back).
 * Returns the number of bytes written. RangeError for an unsupported type or bad sizes.
 */
export function quantizeChunk(typeId: number, src: Float32Array, dst: Uint8Array, nRows: number, nPerRow: number): number {
  const kernel = QUANTIZERS.get(typeId);
  const info = ggmlType(typeId);
  if (!kernel || !info) throw new RangeError(`cannot quantize to ${ggmlTypeName(typeId)}: type not supported by the quantizer`);
  const rb = rowBytes(info, nPerRow);
  if (src.length < nRows * nPerRow) throw new RangeError(`${info.name}: ${nRows} rows of ${nPerRow} need ${nRows * nPerRow} floats, source has ${src.length}`);
  if (dst.length < nRows * rb) throw new RangeError(`${info.name}: ${nRows} rows need ${nRows * rb} bytes, destination has ${dst.length}`);
  // Every block is quantized on its own, so all rows go through in one call, as ggml's ref routines do.
  kernel(src.subarray(0, nRows * nPerRow), dst, nRows * nPerRow);
  return nRows * rb;
}

/** Quantizes nRows rows of nPerRow floats into a new byte array. */
export function quantize(typeId: number, src: Float32Array, nRows: number, nPerRow: number): Uint8Array {
  const info = ggmlType(typeId);
  if (!info) throw new RangeError(`cannot quantize to ${ggmlTypeName(typeId)}: unknown type`);
  const dst = new Uint8Array(nRows * rowBytes(info, nPerRow));
  quantizeChunk(typeId, src, dst, nRows, nPerRow);
  return dst;
}

/** The ggml helper routines, exported for tests that compare intermediate values. */
export const quantizeInternals = {
  makeQxQuants,
  makeQ3Quants,
  makeQkx2Quants: (n: number, nmax: number, x: Float32Array, weights: Float32Array, L: Uint8Array, rmin: number, rdelta: number, nstep: number, useMad: boolean): { scale: number; min: number } => {
    const scale = makeQkx2Quants(n, nmax, x, 0, weights, L, 0, rmin, rdelta, nstep, useMad);
    return { scale, min: theMin[0]! };
  },
};
