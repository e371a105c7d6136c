// Per-type weight unpacking, dot products and dequantizers of the quantized
// weight types. Block field offsets come from ./generated/layout (built from
// ../layout.ts and checked against the ggml type table).
//
// Each family has one generic dot kernel over a weight-type class W (whose
// @inline methods unpack one block; `changetype<W>(0)` calls them without an
// object), a token-count type N: u8 for one token, u32 for four tokens whose
// activation rows are xs bytes apart, and a row-count type R: u8 for one
// weight row, u16 for two rows ws bytes apart (a register-blocked tile: each
// weight block is unpacked once per row for the N tokens, each token's
// activations are loaded once for the R rows). One row and token returns the
// dot product; a tile stores row r, token t's result at o + r*ob + t*os. Every
// output gets the same integer sums and float operations as with one row and
// one token, so prompt batches and tiles give the bits of token-by-token steps.
// Q6_K, Q2_K, Q3_K, Q4_K and Q5_K also have a one-token kernel (dotQ6KOne, dotK23One, dotK45One) that calls the
// same unit helpers with constant arguments, so decode runs straight-line code with constant
// offsets and shifts; their four-token kernels loop over the units instead.
//
// Every kernel is generic over a variant V (util.ts: Baseline or Relaxed); relaxed<V>() (true only
// in the relaxed-simd build, where both variants exist) selects the relaxed int8 dot products, which take
// the weights before their offset is subtracted (4-bit 0..15, 5-bit 0..31,
// Q6_K 0..63, Q3_K 0..7) and give the offset back through the activation sums,
// so every integer sum, and so every result, is the same in both variants.
import {
  dot16xv, f16t, hsumF32, hsumI32, K8_01, K8_03, K8_08, K8_10, K8_20, K8_30, K8_F0, kdot16s, kdot32s, kscale, kv, lanePerm, laneUnperm, swizzleK, nibHi, nibLo, rdot, rdot16s, relaxed,
  settle, shlSmall, shrMask,
} from './util';
import {
  Q2_K_BYTES, Q2_K_D, Q2_K_DMIN, Q2_K_QS, Q2_K_SCALES,
  Q3_K_BYTES, Q3_K_D, Q3_K_HMASK, Q3_K_QS, Q3_K_SCALES,
  Q4_0_BYTES, Q4_0_D, Q4_0_QS, Q4_1_BYTES, Q4_1_D, Q4_1_M, Q4_1_QS,
  Q4_K_BYTES, Q4_K_D, Q4_K_DMIN, Q4_K_QS, Q4_K_SCALES,
  Q5_0_BYTES, Q5_0_D, Q5_0_QH, Q5_0_QS, Q5_1_BYTES, Q5_1_D, Q5_1_M, Q5_1_QH, Q5_1_QS,
  Q5_K_BYTES, Q5_K_D, Q5_K_DMIN, Q5_K_QH, Q5_K_QS, Q5_K_SCALES,
  Q6_K_BYTES, Q6_K_D, Q6_K_QH, Q6_K_QL, Q6_K_SCALES,
  Q8_0_BYTES, Q8_0_D, Q8_0_QS, Q5_0U_BYTES, Q5_0U_D, Q5_0U_QS, Q5_1U_BYTES, Q5_1U_D, Q5_1U_M, Q5_1U_QS,
  Q8A_BYTES, Q8A_D, Q8A_QS, Q8A_S, Q8A_EXTRA_BYTES, Q8_K_BSUMS, Q8_K_BYTES, Q8_K_D, Q8_K_QS,
} from './generated/layout';

/** Tokens of a dot kernel instance: N = u8 (one) or u32 (four). */
// @ts-ignore: decorator
@inline function tokens<N>(): i32 {
  return sizeof<N>();
}

/** Weight rows of a kernel instance: R = u8 (one) or u16 (two). */
// @ts-ignore: decorator
@inline function rows<R>(): i32 {
  return sizeof<R>();
}

/** One row's results for n tokens (1 or 4) to o, o + os, ... */
// @ts-ignore: decorator
@inline function storeTile(n: i32, s0: f32, s1: f32, s2: f32, s3: f32, o: usize, os: usize): void {
  store<f32>(o, s0);
  if (n == 1) return;
  store<f32>(o + os, s1);
  store<f32>(o + 2 * os, s2);
  store<f32>(o + 3 * os, s3);
}

/** A tile's results: one row and token returns its result; else row 0's to o, o + os, ..., row 1's to o + ob, ... (returns 0). */
// @ts-ignore: decorator
@inline function tileOut(n: i32, r: i32, a0: f32, a1: f32, a2: f32, a3: f32, b0: f32, b1: f32, b2: f32, b3: f32, o: usize, ob: usize, os: usize): f32 {
  if (n == 1 && r == 1) return a0;
  storeTile(n, a0, a1, a2, a3, o, os);
  if (r > 1) storeTile(n, b0, b1, b2, b3, o + ob, os);
  return 0;
}

// ---- shared unpacking helpers ----------------------------------------------------

// the lane orders and bit masks of the fifth bits (util.ts kv and swizzleK: constants are read from memory)
const K_HM_LO = memory.data<i8>([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1], 16);
const K_HM_HI = memory.data<i8>([2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3], 16);
const K_HM_LO_P = memory.data<i8>([0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1], 16);
const K_HM_HI_P = memory.data<i8>([2, 2, 3, 3, 2, 2, 3, 3, 2, 2, 3, 3, 2, 2, 3, 3], 16);
const K_HM_BITS = memory.data<i8>([1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128], 16);
const K_HM_BITS_P = memory.data<i8>([1, 2, 1, 2, 4, 8, 4, 8, 16, 32, 16, 32, 64, -128, 64, -128], 16);
// bytes 0..7 each twice (dotK45One's mins)
const K_DUP8 = memory.data<i8>([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7], 16);

/**
 * The fifth bits of a Q5 block: hv is the 32-bit qh splatted; hmaskLo gives byte j = 0xff when
 * bit j is set (j < 16), hmaskHi the same for bits 16..31. (Q5_0: q - 16 = nibble - (bit ? 0 : 16).)
 */
// @ts-ignore: decorator
@inline function hmaskLo(hv: v128): v128 {
  const v = swizzleK(hv, K_HM_LO, i8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
  const m = kv(K_HM_BITS);
  return i8x16.eq(v128.and(v, m), m);
}
// @ts-ignore: decorator
@inline function hmaskHi(hv: v128): v128 {
  const v = swizzleK(hv, K_HM_HI, i8x16(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const m = kv(K_HM_BITS);
  return i8x16.eq(v128.and(v, m), m);
}
/** hmaskLo / hmaskHi in lanePerm order (the relaxed variant's weights). */
// @ts-ignore: decorator
@inline function hmaskLoP(hv: v128): v128 {
  const v = swizzleK(hv, K_HM_LO_P, i8x16(0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1));
  const m = kv(K_HM_BITS_P);
  return i8x16.eq(v128.and(v, m), m);
}
// @ts-ignore: decorator
@inline function hmaskHiP(hv: v128): v128 {
  const v = swizzleK(hv, K_HM_HI_P, i8x16(2, 2, 3, 3, 2, 2, 3, 3, 2, 2, 3, 3, 2, 2, 3, 3));
  const m = kv(K_HM_BITS_P);
  return i8x16.eq(v128.and(v, m), m);
}
/** get_scale_min_k4: 6-bit scale and min of sub-block j of a Q4_K/Q5_K block (scales at s). */
// @ts-ignore: decorator
@inline function scK4(s: usize, j: i32): i32 {
  return j < 4 ? <i32>load<u8>(s + j) & 63 : (<i32>load<u8>(s + j + 4) & 0x0f) | ((<i32>load<u8>(s + j - 4) >> 6) << 4);
}
// @ts-ignore: decorator
@inline function minK4(s: usize, j: i32): i32 {
  return j < 4 ? <i32>load<u8>(s + j + 4) & 63 : (<i32>load<u8>(s + j + 4) >> 4) | ((<i32>load<u8>(s + j) >> 6) << 4);
}
/** Q3_K: 6-bit scale j (minus 32) of the 12 packed scale bytes. */
// @ts-ignore: decorator
@inline function sc3(wb: usize, j: i32): i32 {
  const s = wb + Q3_K_SCALES;
  const low = j < 8 ? <i32>load<u8>(s + j) & 0x0f : <i32>load<u8>(s + j - 8) >> 4;
  const high = (<i32>load<u8>(s + 8 + (j & 3)) >> (2 * (j >> 2))) & 3;
  return (low | (high << 4)) - 32;
}

/**
 * Σ v[j]·bsum[j] over a Q8_K block's sixteen 16-element sums (i16 at xb + Q8_K_BSUMS), v's bytes signed or
 * (`unsigned`) unsigned, as i32x4 lanes: two i16 dot products. The K-quants' mins and offsets.
 */
// @ts-ignore: decorator
@inline function bsumDot(v: v128, xb: usize, unsigned: bool): v128 {
  const lo = unsigned ? i16x8.extend_low_i8x16_u(v) : i16x8.extend_low_i8x16_s(v);
  const hi = unsigned ? i16x8.extend_high_i8x16_u(v) : i16x8.extend_high_i8x16_s(v);
  return i32x4.add(i32x4.dot_i16x8_s(v128.load(xb + Q8_K_BSUMS), lo), i32x4.dot_i16x8_s(v128.load(xb + Q8_K_BSUMS + 16), hi));
}

/** 16 signed 8-bit values times d (f32x4 splat) to f32 at y. */
// @ts-ignore: decorator
@inline function put16(q: v128, d: v128, y: usize): void {
  const l = i16x8.extend_low_i8x16_s(q); const h = i16x8.extend_high_i8x16_s(q);
  v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(l)), d));
  v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(l)), d), 16);
  v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(h)), d), 32);
  v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(h)), d), 48);
}
/** put16, plus m. */
// @ts-ignore: decorator
@inline function put16a(q: v128, d: v128, m: v128, y: usize): void {
  put16(q, d, y);
  for (let i: usize = 0; i < 64; i += 16) v128.store(y + i, f32x4.add(v128.load(y + i), m));
}
/** put16, minus m. */
// @ts-ignore: decorator
@inline function put16s(q: v128, d: v128, m: v128, y: usize): void {
  put16(q, d, y);
  for (let i: usize = 0; i < 64; i += 16) v128.store(y + i, f32x4.sub(v128.load(y + i), m));
}

// ---- the 32-element types against Q8A activations ------------------------------

// A legacy weight class unpacks one block at wb: d (and m, y = d*q + m), the quant vector qs and the
// fifth-bit vector hv it reads, then the two signed i8x16 halves w0 (elements 0-15) and w1 (16-31) the
// baseline multiplies and dequantizers store. Types whose quants fit in 7 unsigned bits also give u0 / u1:
// the same halves before the offset off() is subtracted (y = d*(u - off)), from qs and masks in lanePerm
// order, for the relaxed dot; permuted(): its quants are stored in lanePerm order already (Q5_0U, Q5_1U), so the
// relaxed variant does not permute them.

@unmanaged class Q8_0 {
  // @ts-ignore: decorator
  @inline bytes(): usize { return Q8_0_BYTES; }
  // @ts-ignore: decorator
  @inline hasMin(): bool { return false; }
  // @ts-ignore: decorator
  @inline hasU(): bool { return false; }
  // @ts-ignore: decorator
  @inline permuted(): bool { return false; }
  // @ts-ignore: decorator
  @inline off(): i32 { return 0; }
  // @ts-ignore: decorator
  @inline d(wb: usize): f32 { return f16t(load<u16>(wb + Q8_0_D)); }
  // @ts-ignore: decorator
  @inline m(wb: usize): f32 { return 0; }
  // @ts-ignore: decorator
  @inline qs(wb: usize): v128 { return v128.load(wb + Q8_0_QS); }
  // @ts-ignore: decorator
  @inline hv(wb: usize): v128 { return i32x4.splat(0); }
  // @ts-ignore: decorator
  @inline w0(wb: usize, qs: v128, hv: v128): v128 { return qs; }
  // @ts-ignore: decorator
  @inline w1(wb: usize, qs: v128, hv: v128): v128 { return v128.load(wb + Q8_0_QS + 16); }
  // @ts-ignore: decorator
  @inline u0(qs: v128, hv: v128): v128 { return qs; }
  // @ts-ignore: decorator
  @inline u1(qs: v128, hv: v128): v128 { return qs; }
}

@unmanaged class Q4_0 {
  // @ts-ignore: decorator
  @inline bytes(): usize { return Q4_0_BYTES; }
  // @ts-ignore: decorator
  @inline hasMin(): bool { return false; }
  // @ts-ignore: decorator
  @inline hasU(): bool { return true; }
  // @ts-ignore: decorator
  @inline permuted(): bool { return false; }
  // @ts-ignore: decorator
  @inline off(): i32 { return 8; }
  // @ts-ignore: decorator
  @inline d(wb: usize): f32 { return f16t(load<u16>(wb + Q4_0_D)); }
  // @ts-ignore: decorator
  @inline m(wb: usize): f32 { return 0; }
  // @ts-ignore: decorator
  @inline qs(wb: usize): v128 { return v128.load(wb + Q4_0_QS); }
  // @ts-ignore: decorator
  @inline hv(wb: usize): v128 { return i32x4.splat(0); }
  // @ts-ignore: decorator
  @inline w0(wb: usize, qs: v128, hv: v128): v128 { return i8x16.sub(nibLo(qs), kv(K8_08)); }
  // @ts-ignore: decorator
  @inline w1(wb: usize, qs: v128, hv: v128): v128 { return i8x16.sub(nibHi(qs), kv(K8_08)); }
  // @ts-ignore: decorator
  @inline u0(qs: v128, hv: v128): v128 { return nibLo(qs); }
  // @ts-ignore: decorator
  @inline u1(qs: v128, hv: v128): v128 { return nibHi(qs); }
}

@unmanaged class Q4_1 {
  // @ts-ignore: decorator
  @inline bytes(): usize { return Q4_1_BYTES; }
  // @ts-ignore: decorator
  @inline hasMin(): bool { return true; }
  // @ts-ignore: decorator
  @inline hasU(): bool { return true; }
  // @ts-ignore: decorator
  @inline permuted(): bool { return false; }
  // @ts-ignore: decorator
  @inline off(): i32 { return 0; }
  // @ts-ignore: decorator
  @inline d(wb: usize): f32 { return f16t(load<u16>(wb + Q4_1_D)); }
  // @ts-ignore: decorator
  @inline m(wb: usize): f32 { return f16t(load<u16>(wb + Q4_1_M)); }
  // @ts-ignore: decorator
  @inline qs(wb: usize): v128 { return v128.load(wb + Q4_1_QS); }
  // @ts-ignore: decorator
  @inline hv(wb: usize): v128 { return i32x4.splat(0); }
  // @ts-ignore: decorator
  @inline w0(wb: usize, qs: v128, hv: v128): v128 { return nibLo(qs); }
  // @ts-ignore: decorator
  @inline w1(wb: usize, qs: v128, hv: v128): v128 { return nibHi(qs); }
  // @ts-ignore: decorator
  @inline u0(qs: v128, hv: v128): v128 { return nibLo(qs); }
  // @ts-ignore: decorator
  @inline u1(qs: v128, hv: v128): v128 { return nibHi(qs); }
}

@unmanaged class Q5_0 {
  // @ts-ignore: decorator
  @inline bytes(): usize { return Q5_0_BYTES; }
  // @ts-ignore: decorator
  @inline hasMin(): bool { return false; }
  // @ts-ignore: decorator
  @inline hasU(): bool { return true; }
  // @ts-ignore: decorator
  @inline permuted(): bool { return false; }
  // @ts-ignore: decorator
  @inline off(): i32 { return 16; }
  // @ts-ignore: decorator
  @inline d(wb: usize): f32 { return f16t(load<u16>(wb + Q5_0_D)); }
  // @ts-ignore: decorator
  @inline m(wb: usize): f32 { return 0; }
  // @ts-ignore: decorator
  @inline qs(wb: usize): v128 { return v128.load(wb + Q5_0_QS); }
  // @ts-ignore: decorator
  @inline hv(wb: usize): v128 { return i32x4.splat(load<u32>(wb + Q5_0_QH)); }
  // @ts-ignore: decorator
  @inline w0(wb: usize, qs: v128, hv: v128): v128 { return i8x16.add(nibLo(qs), v128.andnot(kv(K8_F0), hmaskLo(hv))); }
  // @ts-ignore: decorator
  @inline w1(wb: usize, qs: v128, hv: v128): v128 { return i8x16.add(nibHi(qs), v128.andnot(kv(K8_F0), hmaskHi(hv))); }
  // @ts-ignore: decorator
  @inline u0(qs: v128, hv: v128): v128 { return v128.or(nibLo(qs), v128.and(hmaskLoP(hv), kv(K8_10))); }
  // @ts-ignore: decorator
  @inline u1(qs: v128, hv: v128): v128 { return v128.or(nibHi(qs), v128.and(hmaskHiP(hv), kv(K8_10))); }
}

@unmanaged class Q5_1 {
  // @ts-ignore: decorator
  @inline bytes(): usize { return Q5_1_BYTES; }
  // @ts-ignore: decorator
  @inline hasMin(): bool { return true; }
  // @ts-ignore: decorator
  @inline hasU(): bool { return true; }
  // @ts-ignore: decorator
  @inline permuted(): bool { return false; }
  // @ts-ignore: decorator
  @inline off(): i32 { return 0; }
  // @ts-ignore: decorator
  @inline d(wb: usize): f32 { return f16t(load<u16>(wb + Q5_1_D)); }
  // @ts-ignore: decorator
  @inline m(wb: usize): f32 { return f16t(load<u16>(wb + Q5_1_M)); }
  // @ts-ignore: decorator
  @inline qs(wb: usize): v128 { return v128.load(wb + Q5_1_QS); }
  // @ts-ignore: decorator
  @inline hv(wb: usize): v128 { return i32x4.splat(load<u32>(wb + Q5_1_QH)); }
  // @ts-ignore: decorator
  @inline w0(wb: usize, qs: v128, hv: v128): v128 { return v128.or(nibLo(qs), v128.and(hmaskLo(hv), kv(K8_10))); }
  // @ts-ignore: decorator
  @inline w1(wb: usize, qs: v128, hv: v128): v128 { return v128.or(nibHi(qs), v128.and(hmaskHi(hv), kv(K8_10))); }
  // @ts-ignore: decorator
  @inline u0(qs: v128, hv: v128): v128 { return v128.or(nibLo(qs), v128.and(hmaskLoP(hv), kv(K8_10))); }
  // @ts-ignore: decorator
  @inline u1(qs: v128, hv: v128): v128 { return v128.or(nibHi(qs), v128.and(hmaskHiP(hv), kv(K8_10))); }
}

/**
 * The backend's own storage of Q5_0 (layout.ts Q5_0U): d and one unsigned byte per 5-bit weight, each half
 * already in lanePerm order, so the relaxed variant loads its u-forms as they are (qs and hv are the two
 * halves here); the baseline variant and the dequantizer put them back in element order and subtract 16.
 */
@unmanaged class Q5_0U {
  // @ts-ignore: decorator
  @inline bytes(): usize { return Q5_0U_BYTES; }
  // @ts-ignore: decorator
  @inline hasMin(): bool { return false; }
  // @ts-ignore: decorator
  @inline hasU(): bool { return true; }
  // @ts-ignore: decorator
  @inline permuted(): bool { return true; }
  // @ts-ignore: decorator
  @inline off(): i32 { return 16; }
  // @ts-ignore: decorator
  @inline d(wb: usize): f32 { return f16t(load<u16>(wb + Q5_0U_D)); }
  // @ts-ignore: decorator
  @inline m(wb: usize): f32 { return 0; }
  // @ts-ignore: decorator
  @inline qs(wb: usize): v128 { return v128.load(wb + Q5_0U_QS); }
  // @ts-ignore: decorator
  @inline hv(wb: usize): v128 { return v128.load(wb + Q5_0U_QS + 16); }
  // @ts-ignore: decorator
  @inline w0(wb: usize, qs: v128, hv: v128): v128 { return i8x16.sub(laneUnperm(qs), kv(K8_10)); }
  // @ts-ignore: decorator
  @inline w1(wb: usize, qs: v128, hv: v128): v128 { return i8x16.sub(laneUnperm(hv), kv(K8_10)); }
  // @ts-ignore: decorator
  @inline u0(qs: v128, hv: v128): v128 { return qs; }
  // @ts-ignore: decorator
  @inline u1(qs: v128, hv: v128): v128 { return hv; }
}

/** The backend's own storage of Q5_1 (layout.ts Q5_1U): Q5_0U's bytes (no offset) with Q5_1's d and m. */
@unmanaged class Q5_1U {
  // @ts-ignore: decorator
  @inline bytes(): usize { return Q5_1U_BYTES; }
  // @ts-ignore: decorator
  @inline hasMin(): bool { return true; }
  // @ts-ignore: decorator
  @inline hasU(): bool { return true; }
  // @ts-ignore: decorator
  @inline permuted(): bool { return true; }
  // @ts-ignore: decorator
  @inline off(): i32 { return 0; }
  // @ts-ignore: decorator
  @inline d(wb: usize): f32 { return f16t(load<u16>(wb + Q5_1U_D)); }
  // @ts-ignore: decorator
  @inline m(wb: usize): f32 { return f16t(load<u16>(wb + Q5_1U_M)); }
  // @ts-ignore: decorator
  @inline qs(wb: usize): v128 { return v128.load(wb + Q5_1U_QS); }
  // @ts-ignore: decorator
  @inline hv(wb: usize): v128 { return v128.load(wb + Q5_1U_QS + 16); }
  // @ts-ignore: decorator
  @inline w0(wb: usize, qs: v128, hv: v128): v128 { return laneUnperm(qs); }
  // @ts-ignore: decorator
  @inline w1(wb: usize, qs: v128, hv: v128): v128 { return laneUnperm(hv); }
  // @ts-ignore: decorator
  @inline u0(qs: v128, hv: v128): v128 { return qs; }
  // @ts-ignore: decorator
  @inline u1(qs: v128, hv: v128): v128 { return hv; }
}

// One token's operands of one activation block, loaded once and used by every weight row of a tile
// (legacyX0..legacyX3), all from the block's extras at xh that the quantizer wrote once per token
// (layout.ts Q8A_EXTRA_BYTES): the baseline's i16 copies of the 32 activations (four vectors), the
// relaxed variant's (types with u-forms) two int8 halves in lanePerm order and, for types with an
// offset, off times the pair sums: what the weights' offset takes off.

// @ts-ignore: decorator
@inline function legacyX0<W, V>(xh: usize): v128 {
  if (relaxed<V>() && changetype<W>(0).hasU()) return v128.load(xh, 64);
  return v128.load(xh);
}
// @ts-ignore: decorator
@inline function legacyX1<W, V>(xh: usize): v128 {
  if (relaxed<V>() && changetype<W>(0).hasU()) return v128.load(xh, 80);
  return v128.load(xh, 16);
}
// @ts-ignore: decorator
@inline function legacyX2<W, V>(xh: usize, x0: v128): v128 {
  const k = changetype<W>(0);
  if (relaxed<V>() && k.hasU()) {
    if (k.off() == 0) return x0; // unused
    // off · the pair sums the quantizer stored (off: Q4_0's 8, Q5_0's 16; |pairs| <= 4 * 127, exact in i16)
    return i16x8.shl(v128.load(xh, 96), k.off() == 8 ? 3 : 4);
  }
  return v128.load(xh, 32);
}
// @ts-ignore: decorator
@inline function legacyX3<W, V>(xh: usize, x0: v128): v128 {
  if (relaxed<V>() && changetype<W>(0).hasU()) return x0; // unused
  return v128.load(xh, 48);
}

/**
 * One row's update for one token and block: acc + (Σ q·qx as i32x4 lanes) * (d * dx), from the token's
 * operands x0..x3 (legacyX0..3). The baseline multiplies w0/w1 (a, b) by the activations' i16 copies; the
 * relaxed variant (types with u-forms) u0/u1 by the int8 activations, both in lanePerm order, minus off·Σqx:
 * lane k holds elements 2k, 2k+1, 2k+8, 2k+9 in both, so the float accumulation is bit-identical.
 */
// @ts-ignore: decorator
@inline function legacyStep<W, V>(acc: v128, a: v128, b: v128, d: f32, x0: v128, x1: v128, x2: v128, x3: v128, dx: f32): v128 {
  const k = changetype<W>(0);
  let isum: v128;
  if (relaxed<V>() && k.hasU()) {
    const s = i16x8.add(rdot(x0, a), rdot(x1, b));
    isum = i32x4.extadd_pairwise_i16x8_s(k.off() != 0 ? i16x8.sub(s, x2) : s);
  } else {
    isum = i32x4.add(dot16xv(a, x0, x1), dot16xv(b, x2, x3));
  }
  return f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(isum), f32x4.splat(d * dx)));
}

/**
 * W's blocks · Q8A activations for R rows (ws bytes apart) and N tokens (xs bytes apart): sum over blocks
 * of d*dx*Σ q·qx (+ m*s for the types with an offset). Each weight block is unpacked once for the N
 * tokens, each token's activations loaded once for the R rows. A Q8A row of nb blocks is followed by its
 * q as i16 (Q8A_EXTRA_BYTES per block). One row and token: returns the result; else row r, token t's goes
 * to o + r*ob + t*os.
 */
function dotLegacy<W, N, R, V>(w: usize, ws: usize, x: usize, xs: usize, nb: i32, o: usize, ob: usize, os: usize): f32 {
  const k = changetype<W>(0);
  const n = tokens<N>();
  const r = rows<R>();
  const rx = relaxed<V>() && k.hasU();
  // accumulators: row 0 (a*), row 1 (b*); tokens 0..3
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
  let am0: f32 = 0, am1: f32 = 0, am2: f32 = 0, am3: f32 = 0;
  let bm0: f32 = 0, bm1: f32 = 0, bm2: f32 = 0, bm3: f32 = 0;
  // running pointers (no per-block multiplies): weight block, Q8A block, and the row's q as i16 after its blocks
  let wb = w; let xb = x; let xh = x + <usize>nb * Q8A_BYTES;
  for (let blk = 0; blk < nb; blk++) {
    const da = k.d(wb);
    const ma = k.m(wb);
    const qa = rx && !k.permuted() ? lanePerm(k.qs(wb)) : k.qs(wb);
    const ha = k.hv(wb);
    const wa0 = rx ? k.u0(qa, ha) : k.w0(wb, qa, ha);
    const wa1 = rx ? k.u1(qa, ha) : k.w1(wb, qa, ha);
    const wbb = wb + ws;
    const db = r > 1 ? k.d(wbb) : 0;
    const mb = r > 1 ? k.m(wbb) : 0;
    const qb = r > 1 ? (rx && !k.permuted() ? lanePerm(k.qs(wbb)) : k.qs(wbb)) : qa;
    const hb = r > 1 ? k.hv(wbb) : ha;
    const wb0 = r > 1 ? (rx ? k.u0(qb, hb) : k.w0(wbb, qb, hb)) : wa0;
    const wb1 = r > 1 ? (rx ? k.u1(qb, hb) : k.w1(wbb, qb, hb)) : wa1;
    // token 0, then (N = 4) tokens 1..3: each token's operands loaded once for both rows; in a tile each
    // token's updates are settled (util.ts) before the next token's loads (1.07-1.3x; V8 spilled without)
    {
      const xt = xb + <usize>0 * xs; const ht = xh + <usize>0 * xs;
      const x0 = legacyX0<W, V>(ht); const x1 = legacyX1<W, V>(ht); const x2 = legacyX2<W, V>(ht, x0); const x3 = legacyX3<W, V>(ht, x0);
      const dx = load<f32>(xt + Q8A_D); const sx: f32 = k.hasMin() ? load<f32>(xt + Q8A_S) : 0;
      a0 = legacyStep<W, V>(a0, wa0, wa1, da, x0, x1, x2, x3, dx); if (k.hasMin()) am0 += ma * sx;
      if (r > 1) { b0 = legacyStep<W, V>(b0, wb0, wb1, db, x0, x1, x2, x3, dx); if (k.hasMin()) bm0 += mb * sx; }
      if (n > 1) { settle(o, a0); if (r > 1) settle(o, b0); }
    }
    if (n > 1) {
      {
        const xt = xb + <usize>1 * xs; const ht = xh + <usize>1 * xs;
        const x0 = legacyX0<W, V>(ht); const x1 = legacyX1<W, V>(ht); const x2 = legacyX2<W, V>(ht, x0); const x3 = legacyX3<W, V>(ht, x0);
        const dx = load<f32>(xt + Q8A_D); const sx: f32 = k.hasMin() ? load<f32>(xt + Q8A_S) : 0;
        a1 = legacyStep<W, V>(a1, wa0, wa1, da, x0, x1, x2, x3, dx); if (k.hasMin()) am1 += ma * sx;
        if (r > 1) { b1 = legacyStep<W, V>(b1, wb0, wb1, db, x0, x1, x2, x3, dx); if (k.hasMin()) bm1 += mb * sx; }
        settle(o, a1);
        if (r > 1) settle(o, b1);
      }
      {
        const xt = xb + <usize>2 * xs; const ht = xh + <usize>2 * xs;
        const x0 = legacyX0<W, V>(ht); const x1 = legacyX1<W, V>(ht); const x2 = legacyX2<W, V>(ht, x0); const x3 = legacyX3<W, V>(ht, x0);
        const dx = load<f32>(xt + Q8A_D); const sx: f32 = k.hasMin() ? load<f32>(xt + Q8A_S) : 0;
        a2 = legacyStep<W, V>(a2, wa0, wa1, da, x0, x1, x2, x3, dx); if (k.hasMin()) am2 += ma * sx;
        if (r > 1) { b2 = legacyStep<W, V>(b2, wb0, wb1, db, x0, x1, x2, x3, dx); if (k.hasMin()) bm2 += mb * sx; }
        settle(o, a2);
        if (r > 1) settle(o, b2);
      }
      {
        const xt = xb + <usize>3 * xs; const ht = xh + <usize>3 * xs;
        const x0 = legacyX0<W, V>(ht); const x1 = legacyX1<W, V>(ht); const x2 = legacyX2<W, V>(ht, x0); const x3 = legacyX3<W, V>(ht, x0);
        const dx = load<f32>(xt + Q8A_D); const sx: f32 = k.hasMin() ? load<f32>(xt + Q8A_S) : 0;
        a3 = legacyStep<W, V>(a3, wa0, wa1, da, x0, x1, x2, x3, dx); if (k.hasMin()) am3 += ma * sx;
        if (r > 1) { b3 = legacyStep<W, V>(b3, wb0, wb1, db, x0, x1, x2, x3, dx); if (k.hasMin()) bm3 += mb * sx; }
      }
    }
    wb += k.bytes(); xb += Q8A_BYTES; xh += Q8A_EXTRA_BYTES;
  }
  return tileOut(
    n, r, legacyOut<W>(a0, am0), legacyOut<W>(a1, am1), legacyOut<W>(a2, am2), legacyOut<W>(a3, am3),
    legacyOut<W>(b0, bm0), legacyOut<W>(b1, bm1), legacyOut<W>(b2, bm2), legacyOut<W>(b3, bm3), o, ob, os,
  );
}
/** A legacy output: the lanes' sum (+ the offsets' sum for types with one). */
// @ts-ignore: decorator
@inline function legacyOut<W>(acc: v128, am: f32): f32 {
  return changetype<W>(0).hasMin() ? hsumF32(acc) + am : hsumF32(acc);
}

/** nb blocks of W to f32 at y (32 floats per block). */
function dequantLegacy<W>(w: usize, y: usize, nb: i32): void {
  const k = changetype<W>(0);
  for (let b = 0; b < nb; b++) {
    const wb = w + <usize>b * k.bytes();
    const yb = y + <usize>b * 128;
    const q = k.qs(wb);
    const hv = k.hv(wb);
    const dv = f32x4.splat(k.d(wb));
    if (k.hasMin()) {
      const mv = f32x4.splat(k.m(wb));
      put16a(k.w0(wb, q, hv), dv, mv, yb); put16a(k.w1(wb, q, hv), dv, mv, yb + 64);
    } else {
      put16(k.w0(wb, q, hv), dv, yb); put16(k.w1(wb, q, hv), dv, yb + 64);
    }
  }
}

/**
 * Expands nb file blocks of W (Q5_0 or Q5_1) at src to the backend's load-time forms at dst, block by block
 * forward: toQ8 (Q5_0 only) as Q8_0 blocks (d, then q - 16 as int8 in element order), else one unsigned byte
 * per weight (Q5_0U / Q5_1U: d (and m), then q in lanePerm order per half, layout.ts). The host reads the
 * file's blocks into the end of the matrix's space (dst <= src): every byte of block b is loaded before any
 * of expanded block b is stored, and expanded block b ends at or before file block b + 1 begins.
 */
function expandLegacy<W>(dst: usize, src: usize, nb: i32, toQ8: bool, head: usize, to: usize): void {
  const k = changetype<W>(0);
  let wb = src, db = dst;
  for (let b = 0; b < nb; b++) {
    const hd = load<u32>(wb); // d, and m (Q5_1) or the first qh bytes (Q5_0): only `head` bytes are stored
    const qs = k.qs(wb);
    const hv = k.hv(wb);
    let v0: v128, v1: v128;
    if (toQ8) { v0 = k.w0(wb, qs, hv); v1 = k.w1(wb, qs, hv); }
    else { const qp = lanePerm(qs); v0 = k.u0(qp, hv); v1 = k.u1(qp, hv); }
    if (head == 4) store<u32>(db, hd);
    else store<u16>(db, <u16>hd);
    v128.store(db + head, v0);
    v128.store(db + head, v1, 16);
    wb += k.bytes(); db += to;
  }
}

// ---- K-quants against Q8_K activations ------------------------------------------
// Per super-block and token: integer sums isum (i32x4) and msum (the offsets through the activations'
// 16-element sums), then one float update. Sub-block units are unpacked once per super-block and used by
// every token of the kernel.

/** The four tokens' activation blocks of super-block b. */
// @ts-ignore: decorator
@inline function q8k(x: usize, xs: usize, b: i32, t: i32): usize {
  return x + <usize>t * xs + <usize>b * Q8_K_BYTES;
}

@unmanaged class Q4_K {
  // @ts-ignore: decorator
  @inline bytes(): usize { return Q4_K_BYTES; }
  // @ts-ignore: decorator
  @inline fifth(): bool { return false; }
  // @ts-ignore: decorator
  @inline qs(): usize { return Q4_K_QS; }
  // @ts-ignore: decorator
  @inline qh(): usize { return 0; }
  // @ts-ignore: decorator
  @inline d(): usize { return Q4_K_D; }
  // @ts-ignore: decorator
  @inline dmin(): usize { return Q4_K_DMIN; }
  // @ts-ignore: decorator
  @inline scales(): usize { return Q4_K_SCALES; }
}
@unmanaged class Q5_K {
  // @ts-ignore: decorator
  @inline bytes(): usize { return Q5_K_BYTES; }
  // @ts-ignore: decorator
  @inline fifth(): bool { return true; }
  // @ts-ignore: decorator
  @inline qs(): usize { return Q5_K_QS; }
  // @ts-ignore: decorator
  @inline qh(): usize { return Q5_K_QH; }
  // @ts-ignore: decorator
  @inline d(): usize { return Q5_K_D; }
  // @ts-ignore: decorator
  @inline dmin(): usize { return Q5_K_DMIN; }
  // @ts-ignore: decorator
  @inline scales(): usize { return Q5_K_SCALES; }
}

/** Q4_K / Q5_K: sub-block `sub`'s quants from qs vector v (low nibble, or high with `high`), plus Q5_K's fifth bit (bit sub of hv) as 16. */
// @ts-ignore: decorator
@inline function k45Quants<W>(v: v128, hv: v128, sub: i32, high: bool): v128 {
  const q = high ? nibHi(v) : nibLo(v);
  if (!changetype<W>(0).fifth()) return q;
  return v128.or(q, shlSmall(shrMask(hv, sub, K8_01), 4));
}

/** Q4_K / Q5_K unit p (sub-blocks 2p, 2p+1) for one token: the scaled integer sums of its 64 activations x0..x3. */
// @ts-ignore: decorator
@inline function k45TokenV<V>(isum: v128, a0: v128, a1: v128, b0: v128, b1: v128, sa: v128, sb: v128, x0: v128, x1: v128, x2: v128, x3: v128): v128 {
  return i32x4.add(isum, i32x4.add(kdot32s<V>(a0, x0, a1, x1, sa), kdot32s<V>(b0, x2, b1, x3, sb)));
}
/** Q4_K / Q5_K super-block end for one token: y = d*sc*q - dmin*m. */
// @ts-ignore: decorator
@inline function k45Tail<W>(sumf: f32, wb: usize, xb: usize, isum: v128, msum: i32): f32 {
  const k = changetype<W>(0);
  return sumf + (f16t(load<u16>(wb + k.d())) * load<f32>(xb + Q8_K_D) * <f32>hsumI32(isum) - f16t(load<u16>(wb + k.dmin())) * load<f32>(xb + Q8_K_D) * <f32>msum);
}

/** Q4_K / Q5_K unit p (sub-blocks 2p, 2p+1) of one row for one token, with constant p in the one-token kernel. */
// @ts-ignore: decorator
@inline function k45UnitToken<W, V>(isum: v128, wb: usize, xb: usize, p: i32, h0: v128, h1: v128, sa: i32, sb: i32): v128 {
  const k = changetype<W>(0);
  const u0 = v128.load(wb + k.qs() + <usize>(32 * p)); const u1 = v128.load(wb + k.qs() + <usize>(32 * p + 16));
  const xq = xb + Q8_K_QS + <usize>(64 * p);
  return k45TokenV<V>(
    isum, k45Quants<W>(u0, h0, 2 * p, false), k45Quants<W>(u1, h1, 2 * p, false), k45Quants<W>(u0, h0, 2 * p + 1, true), k45Quants<W>(u1, h1, 2 * p + 1, true),
    kscale(sa), kscale(sb), v128.load(xq), v128.load(xq, 16), v128.load(xq, 32), v128.load(xq, 48),
  );
}

/** The eight 6-bit mins (bytes j of mnLo / mnHi: min j / j + 4) each twice, as bytes: one per 16 activations. */
// @ts-ignore: decorator
@inline function k45MinPairs(mnLo: i32, mnHi: i32): v128 {
  return swizzleK(i32x4.replace_lane(i32x4.splat(mnLo), 1, mnHi), K_DUP8, i8x16(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7));
}
/** Σ min·(bsum[2j] + bsum[2j+1]) of a super-block (md: k45MinPairs). */
// @ts-ignore: decorator
@inline function k45Mins(md: v128, xb: usize): i32 {
  return hsumI32(bsumDot(md, xb, true));
}
/** k45MinPairs of the 12-byte scales at s (get_scale_min_k4's mins). */
// @ts-ignore: decorator
@inline function k45MinPairsAt(s: usize): v128 {
  const s1 = load<u32>(s, 4), s2 = load<u32>(s, 8);
  return k45MinPairs(s1 & 0x3f3f3f3f, ((s2 >> 4) & 0x0f0f0f0f) | (((s1 >> 6) & 0x03030303) << 4));
}

/**
 * Q4_K / Q5_K for one row and one token (decode) in straight-line code: the four units with constant
 * offsets, the 6-bit scales and mins of get_scale_min_k4 unpacked from three 32-bit words at once (four
 * per word), and Σ min·(bsum[2j] + bsum[2j+1]) as two i16 dot products against the mins, each twice.
 * The same integer sums and float operations as dotK45, so the same bits. A settle point (util.ts) after
 * each of the first three units at o, the row's output slot: without them V8 loads the whole super-block
 * first and spills (1.14-1.35x; the same points made Q6_K, Q2_K, Q3_K and the tiles slower, so they have none).
 */
function dotK45One<W, V>(w: usize, x: usize, nb: i32, o: usize): f32 {
  const k = changetype<W>(0);
  let sumf: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const wb = w + <usize>b * k.bytes();
    const xb = x + <usize>b * Q8_K_BYTES;
    const s = wb + k.scales();
    const s0 = load<u32>(s), s1 = load<u32>(s, 4), s2 = load<u32>(s, 8);
    // bytes j of scLo/scHi: scale j / j + 4 (scK4); of mnLo/mnHi: min j / j + 4 (minK4)
    const scLo = s0 & 0x3f3f3f3f, scHi = (s2 & 0x0f0f0f0f) | (((s0 >> 6) & 0x03030303) << 4);
    const mnLo = s1 & 0x3f3f3f3f, mnHi = ((s2 >> 4) & 0x0f0f0f0f) | (((s1 >> 6) & 0x03030303) << 4);
    const h0 = k.fifth() ? v128.load(wb + k.qh()) : i32x4.splat(0);
    const h1 = k.fifth() ? v128.load(wb + k.qh() + 16) : i32x4.splat(0);
    let isum = k45UnitToken<W, V>(i32x4.splat(0), wb, xb, 0, h0, h1, scLo & 0xff, (scLo >> 8) & 0xff);
    settle(o, isum);
    isum = k45UnitToken<W, V>(isum, wb, xb, 1, h0, h1, (scLo >> 16) & 0xff, scLo >> 24);
    settle(o, isum);
    isum = k45UnitToken<W, V>(isum, wb, xb, 2, h0, h1, scHi & 0xff, (scHi >> 8) & 0xff);
    settle(o, isum);
    isum = k45UnitToken<W, V>(isum, wb, xb, 3, h0, h1, (scHi >> 16) & 0xff, scHi >> 24);
    sumf = k45Tail<W>(sumf, wb, xb, isum, k45Mins(k45MinPairs(mnLo, mnHi), xb));
  }
  return sumf;
}

/**
 * Q4_K and Q5_K: eight 32-element sub-blocks with 6-bit scales and mins (get_scale_min_k4); Q5_K adds a
 * fifth bit from qh. R rows (ws bytes apart) by N tokens: each unit is unpacked once per row for the N
 * tokens, each token's activations and sums loaded once for the R rows. One row and token: returns the
 * result; else row r, token t's goes to o + r*ob + t*os.
 */
function dotK45<W, N, R, V>(w: usize, ws: usize, x: usize, xs: usize, nb: i32, o: usize, ob: usize, os: usize): f32 {
  const k = changetype<W>(0);
  const n = tokens<N>();
  const r = rows<R>();
  let fa0: f32 = 0, fa1: f32 = 0, fa2: f32 = 0, fa3: f32 = 0;
  let fb0: f32 = 0, fb1: f32 = 0, fb2: f32 = 0, fb3: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const wa = w + <usize>b * k.bytes(); const wb = wa + ws;
    const xb0 = q8k(x, xs, b, 0), xb1 = q8k(x, xs, b, 1), xb2 = q8k(x, xs, b, 2), xb3 = q8k(x, xs, b, 3);
    let ia0 = i32x4.splat(0), ia1 = i32x4.splat(0), ia2 = i32x4.splat(0), ia3 = i32x4.splat(0);
    let ib0 = i32x4.splat(0), ib1 = i32x4.splat(0), ib2 = i32x4.splat(0), ib3 = i32x4.splat(0);
    const sA = wa + k.scales(); const sB = wb + k.scales();
    const ha0 = k.fifth() ? v128.load(wa + k.qh()) : i32x4.splat(0);
    const ha1 = k.fifth() ? v128.load(wa + k.qh() + 16) : i32x4.splat(0);
    const hb0 = k.fifth() && r > 1 ? v128.load(wb + k.qh()) : i32x4.splat(0);
    const hb1 = k.fifth() && r > 1 ? v128.load(wb + k.qh() + 16) : i32x4.splat(0);
    for (let p = 0; p < 4; p++) {
      // row 0's unit (p*) and row 1's (q*)
      const u0 = v128.load(wa + k.qs() + <usize>(32 * p)); const u1 = v128.load(wa + k.qs() + <usize>(32 * p + 16));
      const pa0 = k45Quants<W>(u0, ha0, 2 * p, false); const pa1 = k45Quants<W>(u1, ha1, 2 * p, false);
      const pb0 = k45Quants<W>(u0, ha0, 2 * p + 1, true); const pb1 = k45Quants<W>(u1, ha1, 2 * p + 1, true);
      const psa = kscale(scK4(sA, 2 * p)); const psb = kscale(scK4(sA, 2 * p + 1));
      const v0 = r > 1 ? v128.load(wb + k.qs() + <usize>(32 * p)) : u0; const v1 = r > 1 ? v128.load(wb + k.qs() + <usize>(32 * p + 16)) : u1;
      const qa0 = k45Quants<W>(v0, hb0, 2 * p, false); const qa1 = k45Quants<W>(v1, hb1, 2 * p, false);
      const qb0 = k45Quants<W>(v0, hb0, 2 * p + 1, true); const qb1 = k45Quants<W>(v1, hb1, 2 * p + 1, true);
      const qsa = r > 1 ? kscale(scK4(sB, 2 * p)) : psa; const qsb = r > 1 ? kscale(scK4(sB, 2 * p + 1)) : psb;
      {
        const xq = xb0 + Q8_K_QS + <usize>(64 * p);
        const x0 = v128.load(xq), x1 = v128.load(xq, 16), x2 = v128.load(xq, 32), x3 = v128.load(xq, 48);
        ia0 = k45TokenV<V>(ia0, pa0, pa1, pb0, pb1, psa, psb, x0, x1, x2, x3);
        if (r > 1) { ib0 = k45TokenV<V>(ib0, qa0, qa1, qb0, qb1, qsa, qsb, x0, x1, x2, x3); }
      }
      if (n > 1) {
        {
          const xq = xb1 + Q8_K_QS + <usize>(64 * p);
          const x0 = v128.load(xq), x1 = v128.load(xq, 16), x2 = v128.load(xq, 32), x3 = v128.load(xq, 48);
          ia1 = k45TokenV<V>(ia1, pa0, pa1, pb0, pb1, psa, psb, x0, x1, x2, x3);
          if (r > 1) { ib1 = k45TokenV<V>(ib1, qa0, qa1, qb0, qb1, qsa, qsb, x0, x1, x2, x3); }
        }
        {
          const xq = xb2 + Q8_K_QS + <usize>(64 * p);
          const x0 = v128.load(xq), x1 = v128.load(xq, 16), x2 = v128.load(xq, 32), x3 = v128.load(xq, 48);
          ia2 = k45TokenV<V>(ia2, pa0, pa1, pb0, pb1, psa, psb, x0, x1, x2, x3);
          if (r > 1) { ib2 = k45TokenV<V>(ib2, qa0, qa1, qb0, qb1, qsa, qsb, x0, x1, x2, x3); }
        }
        {
          const xq = xb3 + Q8_K_QS + <usize>(64 * p);
          const x0 = v128.load(xq), x1 = v128.load(xq, 16), x2 = v128.load(xq, 32), x3 = v128.load(xq, 48);
          ia3 = k45TokenV<V>(ia3, pa0, pa1, pb0, pb1, psa, psb, x0, x1, x2, x3);
          if (r > 1) { ib3 = k45TokenV<V>(ib3, qa0, qa1, qb0, qb1, qsa, qsb, x0, x1, x2, x3); }
        }
      }
    }
    // the super-block's float updates, row 0 then row 1, the mins' sums as in the one-token kernel
    const mdA = k45MinPairsAt(sA);
    fa0 = k45Tail<W>(fa0, wa, xb0, ia0, k45Mins(mdA, xb0));
    if (n > 1) { fa1 = k45Tail<W>(fa1, wa, xb1, ia1, k45Mins(mdA, xb1)); fa2 = k45Tail<W>(fa2, wa, xb2, ia2, k45Mins(mdA, xb2)); fa3 = k45Tail<W>(fa3, wa, xb3, ia3, k45Mins(mdA, xb3)); }
    if (r > 1) {
      const mdB = k45MinPairsAt(sB);
      fb0 = k45Tail<W>(fb0, wb, xb0, ib0, k45Mins(mdB, xb0));
      if (n > 1) { fb1 = k45Tail<W>(fb1, wb, xb1, ib1, k45Mins(mdB, xb1)); fb2 = k45Tail<W>(fb2, wb, xb2, ib2, k45Mins(mdB, xb2)); fb3 = k45Tail<W>(fb3, wb, xb3, ib3, k45Mins(mdB, xb3)); }
    }
  }
  return tileOut(n, r, fa0, fa1, fa2, fa3, fb0, fb1, fb2, fb3, o, ob, os);
}

/** Q6_K quant j (0..63) of the ql vectors a, bq and the qh vector hh of one 16-element column group. */
// @ts-ignore: decorator
@inline function q6Quant(a: v128, bq: v128, hh: v128, j: i32): v128 {
  if (j == 0) return v128.or(nibLo(a), shlSmall(v128.and(hh, kv(K8_03)), 4));
  if (j == 1) return v128.or(nibLo(bq), shlSmall(shrMask(hh, 2, K8_03), 4));
  if (j == 2) return v128.or(nibHi(a), shlSmall(shrMask(hh, 4, K8_03), 4));
  return v128.or(nibHi(bq), shlSmall(shrMask(hh, 6, K8_03), 4));
}
/** Q6_K quant j as the dot product takes it: signed (q - 32) in the baseline variant, 0..63 in the relaxed one. */
// @ts-ignore: decorator
@inline function q6DotQuant<V>(a: v128, bq: v128, hh: v128, j: i32): v128 {
  const q = q6Quant(a, bq, hh, j);
  if (relaxed<V>()) return q;
  return i8x16.sub(q, kv(K8_20));
}
/** Q6_K scale group of quant j in unit (h, c): 16 elements each. */
// @ts-ignore: decorator
@inline function q6Group(h: i32, c: i32, j: i32): i32 {
  return 8 * h + 2 * j + c;
}
/** Q6_K unit (h, c), one token: the four quants' scaled sums. */
// @ts-ignore: decorator
@inline function q6Token<V>(isum: v128, q0: v128, q1: v128, q2: v128, q3: v128, v0: v128, v1: v128, v2: v128, v3: v128, xb: usize, h: i32, c: i32): v128 {
  return q6TokenV<V>(isum, q0, q1, q2, q3, v0, v1, v2, v3, q6X(xb, h, c, 0), q6X(xb, h, c, 1), q6X(xb, h, c, 2), q6X(xb, h, c, 3));
}
/** Q6_K unit (h, c): the 16 activations of its quant j. */
// @ts-ignore: decorator
@inline function q6X(xb: usize, h: i32, c: i32, j: i32): v128 {
  return v128.load(xb + Q8_K_QS + <usize>(16 * q6Group(h, c, j)));
}
/** q6Token with the unit's four 16-activation groups already loaded (x0..x3), for the rows of a tile. */
// @ts-ignore: decorator
@inline function q6TokenV<V>(isum: v128, q0: v128, q1: v128, q2: v128, q3: v128, v0: v128, v1: v128, v2: v128, v3: v128, x0: v128, x1: v128, x2: v128, x3: v128): v128 {
  isum = i32x4.add(isum, kdot16s<V>(q0, x0, v0));
  isum = i32x4.add(isum, kdot16s<V>(q1, x1, v1));
  isum = i32x4.add(isum, kdot16s<V>(q2, x2, v2));
  return i32x4.add(isum, kdot16s<V>(q3, x3, v3));
}
/** The super-block's float update; relaxed, the integer sums started at q6Offset. */
// @ts-ignore: decorator
@inline function q6Tail(sumf: f32, wb: usize, xb: usize, isum: v128): f32 {
  return sumf + f16t(load<u16>(wb + Q6_K_D)) * load<f32>(xb + Q8_K_D) * <f32>hsumI32(isum);
}

/**
 * Q6_K unit (h, c) for one token, its weights unpacked here: the one-token kernel calls it with
 * constant (h, c), so every offset and shift is a constant in straight-line code (decode's hot path).
 */
// @ts-ignore: decorator
@inline function q6UnitToken<V>(isum: v128, wb: usize, xb: usize, h: i32, c: i32): v128 {
  const a = v128.load(wb + Q6_K_QL + <usize>(64 * h + 16 * c));
  const bq = v128.load(wb + Q6_K_QL + <usize>(64 * h + 32 + 16 * c));
  const hh = v128.load(wb + Q6_K_QH + <usize>(32 * h + 16 * c));
  const sc = wb + Q6_K_SCALES;
  const s0 = <i32>load<i8>(sc + q6Group(h, c, 0)), s1 = <i32>load<i8>(sc + q6Group(h, c, 1));
  const s2 = <i32>load<i8>(sc + q6Group(h, c, 2)), s3 = <i32>load<i8>(sc + q6Group(h, c, 3));
  return q6Token<V>(
    isum, q6DotQuant<V>(a, bq, hh, 0), q6DotQuant<V>(a, bq, hh, 1), q6DotQuant<V>(a, bq, hh, 2), q6DotQuant<V>(a, bq, hh, 3),
    kscale(s0), kscale(s1), kscale(s2), kscale(s3), xb, h, c,
  );
}

// i16 lane k of a vector repeated in all eight lanes (byte indices 2k, 2k + 1), k = 0..7: Q6_K's scales
const K_SPLAT16 = memory.data<u8>([
  0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3, 2, 3,
  4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7, 6, 7,
  8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 8, 9, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11, 10, 11,
  12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15, 14, 15,
], 16);
/** Lane k (constant, 0..7) of the i16 vector v in every lane: one pshufb against a constant in memory. */
// @ts-ignore: decorator
@inline function splat16(v: v128, k: i32): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i8x16.relaxed_swizzle(v, kv(K_SPLAT16 + <usize>(16 * k)));
  unreachable();
  return v;
}
/** Q6_K's 2 high bits of quant j (0..3) from the qh vector hh, at bit 4: ((hh >> 2j) & 3) << 4 in two operations at most. */
// @ts-ignore: decorator
@inline function q6High(hh: v128, j: i32): v128 {
  if (j == 0) return v128.and(i16x8.shl(hh, 4), kv(K8_30));
  if (j == 1) return v128.and(i16x8.shl(hh, 2), kv(K8_30));
  if (j == 2) return v128.and(hh, kv(K8_30));
  return v128.and(i16x8.shr_u(hh, 2), kv(K8_30));
}
/**
 * Q6_K unit (h, c), one token, relaxed variant: the quants 0..63 (ql nibble | high bits), each group's
 * pair sums times its scale splatted from sv (the scales of groups 8h..8h+7 as i16 lanes). The offset 32
 * comes off once per super-block (dotQ6KOneR).
 */
// @ts-ignore: decorator
@inline function q6UnitTokenR(isum: v128, wb: usize, xb: usize, h: i32, c: i32, sv: v128): v128 {
  const a = v128.load(wb + Q6_K_QL + <usize>(64 * h + 16 * c));
  const bq = v128.load(wb + Q6_K_QL + <usize>(64 * h + 32 + 16 * c));
  const hh = v128.load(wb + Q6_K_QH + <usize>(32 * h + 16 * c));
  isum = i32x4.add(isum, rdot16s(v128.or(nibLo(a), q6High(hh, 0)), q6X(xb, h, c, 0), splat16(sv, c)));
  isum = i32x4.add(isum, rdot16s(v128.or(nibLo(bq), q6High(hh, 1)), q6X(xb, h, c, 1), splat16(sv, 2 + c)));
  isum = i32x4.add(isum, rdot16s(v128.or(nibHi(a), q6High(hh, 2)), q6X(xb, h, c, 2), splat16(sv, 4 + c)));
  return i32x4.add(isum, rdot16s(v128.or(nibHi(bq), q6High(hh, 3)), q6X(xb, h, c, 3), splat16(sv, 6 + c)));
}
/**
 * Where a row's integer sums start for one super-block (row block wb, activations xb). Relaxed variant (quants
 * 0..63): -32·Σ scale·bsum over the sixteen groups, the quants' offset, as two i16 dot products — the lane
 * sum at the end is the same integer as the baseline's (signed quants, sums from zero). The tiles took it
 * off per unit and token in scalar code before: 1.43-1.46x for four tokens.
 */
// @ts-ignore: decorator
@inline function q6Offset<V>(wb: usize, xb: usize): v128 {
  if (!relaxed<V>()) return i32x4.splat(0);
  return i32x4.sub(i32x4.splat(0), i32x4.shl(bsumDot(v128.load(wb + Q6_K_SCALES), xb, false), 5));
}
/**
 * Q6_K, one token, relaxed variant: the sixteen scales loaded once as i16 vectors, splatted per group by a
 * byte shuffle, and the quants' offset taken off up front (q6Offset): the same integer sum as dotQ6KOne's,
 * so the same bits. 1.07-1.19x scalar scales and offset sums (one token, 1536 columns, in cache and from
 * DRAM); settle points after the units made it slower again (0.93x).
 */
function dotQ6KOneR<V>(w: usize, x: usize, nb: i32): f32 {
  let sumf: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const wb = w + <usize>b * Q6_K_BYTES;
    const xb = x + <usize>b * Q8_K_BYTES;
    const sc = v128.load(wb + Q6_K_SCALES);
    const s0 = i16x8.extend_low_i8x16_s(sc), s1 = i16x8.extend_high_i8x16_s(sc);
    let isum = q6Offset<V>(wb, xb);
    isum = q6UnitTokenR(isum, wb, xb, 0, 0, s0); isum = q6UnitTokenR(isum, wb, xb, 0, 1, s0);
    isum = q6UnitTokenR(isum, wb, xb, 1, 0, s1); isum = q6UnitTokenR(isum, wb, xb, 1, 1, s1);
    sumf = q6Tail(sumf, wb, xb, isum);
  }
  return sumf;
}

/** Q6_K, one token: the four units in straight-line code (the relaxed variant: dotQ6KOneR). */
function dotQ6KOne<V>(w: usize, x: usize, nb: i32): f32 {
  if (ASC_FEATURE_RELAXED_SIMD && relaxed<V>()) return dotQ6KOneR<V>(w, x, nb);
  let sumf: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const wb = w + <usize>b * Q6_K_BYTES;
    const xb = x + <usize>b * Q8_K_BYTES;
    let isum = i32x4.splat(0);
    isum = q6UnitToken<V>(isum, wb, xb, 0, 0); isum = q6UnitToken<V>(isum, wb, xb, 0, 1);
    isum = q6UnitToken<V>(isum, wb, xb, 1, 0); isum = q6UnitToken<V>(isum, wb, xb, 1, 1);
    sumf = q6Tail(sumf, wb, xb, isum);
  }
  return sumf;
}

/**
 * Q6_K: 6-bit quants (ql nibble + 2 bits of qh) minus 32, int8 scale per 16 elements. R rows (ws bytes
 * apart) by N tokens, each unit unpacked once per row for all the tokens and each token's activations
 * loaded once for the rows (the same integer sums as dotQ6KOne, in another order). One row and token:
 * returns the result; else row r, token t's goes to o + r*ob + t*os.
 */
function dotQ6K<N, R, V>(w: usize, ws: usize, x: usize, xs: usize, nb: i32, o: usize, ob: usize, os: usize): f32 {
  const n = tokens<N>();
  const r = rows<R>();
  let fa0: f32 = 0, fa1: f32 = 0, fa2: f32 = 0, fa3: f32 = 0;
  let fb0: f32 = 0, fb1: f32 = 0, fb2: f32 = 0, fb3: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const wa = w + <usize>b * Q6_K_BYTES; const wb = wa + ws;
    const xb0 = q8k(x, xs, b, 0), xb1 = q8k(x, xs, b, 1), xb2 = q8k(x, xs, b, 2), xb3 = q8k(x, xs, b, 3);
    // relaxed: each row and token's sums start at -32·Σ scale·bsum (q6Offset), the quants' offset
    let ia0 = q6Offset<V>(wa, xb0), ia1 = n > 1 ? q6Offset<V>(wa, xb1) : ia0, ia2 = n > 1 ? q6Offset<V>(wa, xb2) : ia0, ia3 = n > 1 ? q6Offset<V>(wa, xb3) : ia0;
    let ib0 = r > 1 ? q6Offset<V>(wb, xb0) : ia0, ib1 = r > 1 && n > 1 ? q6Offset<V>(wb, xb1) : ia0;
    let ib2 = r > 1 && n > 1 ? q6Offset<V>(wb, xb2) : ia0, ib3 = r > 1 && n > 1 ? q6Offset<V>(wb, xb3) : ia0;
    for (let u = 0; u < 4; u++) {
      const h = u >> 1, c = u & 1;
      // row 0's unit (p*) and row 1's (q*): quants, scales
      const ql0 = v128.load(wa + Q6_K_QL + <usize>(64 * h + 16 * c));
      const ql1 = v128.load(wa + Q6_K_QL + <usize>(64 * h + 32 + 16 * c));
      const qh = v128.load(wa + Q6_K_QH + <usize>(32 * h + 16 * c));
      const pq0 = q6DotQuant<V>(ql0, ql1, qh, 0), pq1 = q6DotQuant<V>(ql0, ql1, qh, 1), pq2 = q6DotQuant<V>(ql0, ql1, qh, 2), pq3 = q6DotQuant<V>(ql0, ql1, qh, 3);
      const sa = wa + Q6_K_SCALES;
      const ps0 = <i32>load<i8>(sa + q6Group(h, c, 0)), ps1 = <i32>load<i8>(sa + q6Group(h, c, 1));
      const ps2 = <i32>load<i8>(sa + q6Group(h, c, 2)), ps3 = <i32>load<i8>(sa + q6Group(h, c, 3));
      const pv0 = kscale(ps0), pv1 = kscale(ps1), pv2 = kscale(ps2), pv3 = kscale(ps3);
      const rl0 = r > 1 ? v128.load(wb + Q6_K_QL + <usize>(64 * h + 16 * c)) : ql0;
      const rl1 = r > 1 ? v128.load(wb + Q6_K_QL + <usize>(64 * h + 32 + 16 * c)) : ql1;
      const rh = r > 1 ? v128.load(wb + Q6_K_QH + <usize>(32 * h + 16 * c)) : qh;
      const qq0 = q6DotQuant<V>(rl0, rl1, rh, 0), qq1 = q6DotQuant<V>(rl0, rl1, rh, 1), qq2 = q6DotQuant<V>(rl0, rl1, rh, 2), qq3 = q6DotQuant<V>(rl0, rl1, rh, 3);
      const sb = wb + Q6_K_SCALES;
      const qs0 = r > 1 ? <i32>load<i8>(sb + q6Group(h, c, 0)) : 0, qs1 = r > 1 ? <i32>load<i8>(sb + q6Group(h, c, 1)) : 0;
      const qs2 = r > 1 ? <i32>load<i8>(sb + q6Group(h, c, 2)) : 0, qs3 = r > 1 ? <i32>load<i8>(sb + q6Group(h, c, 3)) : 0;
      const qv0 = kscale(qs0), qv1 = kscale(qs1), qv2 = kscale(qs2), qv3 = kscale(qs3);
      {
        const x0 = q6X(xb0, h, c, 0), x1 = q6X(xb0, h, c, 1), x2 = q6X(xb0, h, c, 2), x3 = q6X(xb0, h, c, 3);
        ia0 = q6TokenV<V>(ia0, pq0, pq1, pq2, pq3, pv0, pv1, pv2, pv3, x0, x1, x2, x3);
        if (r > 1) { ib0 = q6TokenV<V>(ib0, qq0, qq1, qq2, qq3, qv0, qv1, qv2, qv3, x0, x1, x2, x3); }
      }
      if (n > 1) {
        {
          const x0 = q6X(xb1, h, c, 0), x1 = q6X(xb1, h, c, 1), x2 = q6X(xb1, h, c, 2), x3 = q6X(xb1, h, c, 3);
          ia1 = q6TokenV<V>(ia1, pq0, pq1, pq2, pq3, pv0, pv1, pv2, pv3, x0, x1, x2, x3);
          if (r > 1) { ib1 = q6TokenV<V>(ib1, qq0, qq1, qq2, qq3, qv0, qv1, qv2, qv3, x0, x1, x2, x3); }
        }
        {
          const x0 = q6X(xb2, h, c, 0), x1 = q6X(xb2, h, c, 1), x2 = q6X(xb2, h, c, 2), x3 = q6X(xb2, h, c, 3);
          ia2 = q6TokenV<V>(ia2, pq0, pq1, pq2, pq3, pv0, pv1, pv2, pv3, x0, x1, x2, x3);
          if (r > 1) { ib2 = q6TokenV<V>(ib2, qq0, qq1, qq2, qq3, qv0, qv1, qv2, qv3, x0, x1, x2, x3); }
        }
        {
          const x0 = q6X(xb3, h, c, 0), x1 = q6X(xb3, h, c, 1), x2 = q6X(xb3, h, c, 2), x3 = q6X(xb3, h, c, 3);
          ia3 = q6TokenV<V>(ia3, pq0, pq1, pq2, pq3, pv0, pv1, pv2, pv3, x0, x1, x2, x3);
          if (r > 1) { ib3 = q6TokenV<V>(ib3, qq0, qq1, qq2, qq3, qv0, qv1, qv2, qv3, x0, x1, x2, x3); }
        }
      }
    }
    // the super-block's float updates, row 0 then row 1
    fa0 = q6Tail(fa0, wa, xb0, ia0); if (n > 1) { fa1 = q6Tail(fa1, wa, xb1, ia1); fa2 = q6Tail(fa2, wa, xb2, ia2); fa3 = q6Tail(fa3, wa, xb3, ia3); }
    if (r > 1) { fb0 = q6Tail(fb0, wb, xb0, ib0); if (n > 1) { fb1 = q6Tail(fb1, wb, xb1, ib1); fb2 = q6Tail(fb2, wb, xb2, ib2); fb3 = q6Tail(fb3, wb, xb3, ib3); } }
  }
  return tileOut(n, r, fa0, fa1, fa2, fa3, fb0, fb1, fb2, fb3, o, ob, os);
}

// Q2_K and Q3_K: 2-bit fields at shifts 0, 2, 4, 6 of 32 qs bytes per 128 elements, sixteen 16-element
// sub-blocks; unit u = 8h + 2sh + c covers sub-block u. Q2_K: y = d*(sc&15)*q - dmin*(sc>>4); Q3_K: a
// high bit from hmask (clear = minus 4) and signed 6-bit scales.

@unmanaged class Q2_K {
  // @ts-ignore: decorator
  @inline q3(): bool { return false; }
  // @ts-ignore: decorator
  @inline bytes(): usize { return Q2_K_BYTES; }
  // @ts-ignore: decorator
  @inline qs(): usize { return Q2_K_QS; }
}
@unmanaged class Q3_K {
  // @ts-ignore: decorator
  @inline q3(): bool { return true; }
  // @ts-ignore: decorator
  @inline bytes(): usize { return Q3_K_BYTES; }
  // @ts-ignore: decorator
  @inline qs(): usize { return Q3_K_QS; }
}

/** The 2-bit field of unit u (0..3). */
// @ts-ignore: decorator
@inline function k23Field<W>(wb: usize, u: i32): v128 {
  const h = u >> 3, sh = (u >> 1) & 3, c = u & 1;
  return shrMask(v128.load(wb + changetype<W>(0).qs() + <usize>(32 * h + 16 * c)), 2 * sh, K8_03);
}
/** Q3_K's high bit of unit u (1 = set). */
// @ts-ignore: decorator
@inline function q3High(wb: usize, u: i32): v128 {
  const h = u >> 3, sh = (u >> 1) & 3, c = u & 1;
  return shrMask(v128.load(wb + Q3_K_HMASK + <usize>(16 * c)), 4 * h + sh, K8_01);
}
/** Q3_K's signed value of unit u: q - 4 where the high bit is clear. */
// @ts-ignore: decorator
@inline function q3Signed(wb: usize, u: i32): v128 {
  return i8x16.sub(k23Field<Q3_K>(wb, u), shlSmall(v128.xor(q3High(wb, u), kv(K8_01)), 2));
}
/** Unit u's quants as the dot product takes them (Q3_K relaxed: q + 4*hbit, 0..7, the 4 comes off through the sums). */
// @ts-ignore: decorator
@inline function k23DotQuant<W, V>(wb: usize, u: i32): v128 {
  if (!changetype<W>(0).q3()) return k23Field<W>(wb, u);
  if (relaxed<V>()) return v128.or(k23Field<W>(wb, u), shlSmall(q3High(wb, u), 2));
  return q3Signed(wb, u);
}
/** Activation bytes of unit u. */
// @ts-ignore: decorator
@inline function k23X(xb: usize, u: i32): usize {
  return xb + Q8_K_QS + <usize>(128 * (u >> 3) + 32 * ((u >> 1) & 3) + 16 * (u & 1));
}
// @ts-ignore: decorator
@inline function k23Tail<W>(sumf: f32, wb: usize, xb: usize, isum: v128, msum: i32): f32 {
  if (changetype<W>(0).q3()) return sumf + f16t(load<u16>(wb + Q3_K_D)) * load<f32>(xb + Q8_K_D) * <f32>hsumI32(isum);
  return sumf + (f16t(load<u16>(wb + Q2_K_D)) * load<f32>(xb + Q8_K_D) * <f32>hsumI32(isum) - f16t(load<u16>(wb + Q2_K_DMIN)) * load<f32>(xb + Q8_K_D) * <f32>msum);
}

/** Unit u's scale (Q2_K: low nibble; Q3_K: the signed 6-bit scale). */
// @ts-ignore: decorator
@inline function k23Scale<W>(wb: usize, u: i32): i32 {
  return changetype<W>(0).q3() ? sc3(wb, u) : <i32>load<u8>(wb + Q2_K_SCALES + <usize>u) & 15;
}
/**
 * The sixteen scales as signed bytes: Q2_K's low nibbles; Q3_K's 6-bit scales minus 32, unpacked as
 * ggml's kmask words (sc3 one at a time).
 */
// @ts-ignore: decorator
@inline function k23ScaleBytes<W>(wb: usize): v128 {
  if (!changetype<W>(0).q3()) return nibLo(v128.load(wb + Q2_K_SCALES));
  const s = wb + Q3_K_SCALES;
  const a0 = load<u32>(s), a1 = load<u32>(s, 4), t = load<u32>(s, 8);
  const w0 = (a0 & 0x0f0f0f0f) | ((t & 0x03030303) << 4), w1 = (a1 & 0x0f0f0f0f) | (((t >> 2) & 0x03030303) << 4);
  const w2 = ((a0 >> 4) & 0x0f0f0f0f) | (((t >> 4) & 0x03030303) << 4), w3 = ((a1 >> 4) & 0x0f0f0f0f) | (((t >> 6) & 0x03030303) << 4);
  return i8x16.sub(i32x4.replace_lane(i32x4.replace_lane(i32x4.replace_lane(i32x4.splat(w0), 1, w1), 2, w2), 3, w3), kv(K8_20));
}
/** Q2_K's Σ min·bsum (mins: the high nibbles) for k23Tail; 0 for Q3_K. */
// @ts-ignore: decorator
@inline function k23Mins<W>(wb: usize, xb: usize): i32 {
  if (changetype<W>(0).q3()) return 0;
  return hsumI32(bsumDot(nibHi(v128.load(wb + Q2_K_SCALES)), xb, true));
}
/**
 * Where a row's integer sums start for one super-block: Q3_K relaxed (quants q + 4·hbit, 0..7), -4·Σ scale·bsum,
 * the quants' offset (sc: k23ScaleBytes), so the lanes' sum is the baseline's integer; else zero.
 */
// @ts-ignore: decorator
@inline function k23Start<W, V>(sc: v128, xb: usize): v128 {
  if (!(relaxed<V>() && changetype<W>(0).q3())) return i32x4.splat(0);
  return i32x4.sub(i32x4.splat(0), i32x4.shl(bsumDot(sc, xb, false), 2));
}
/** Unit u's scale as kdot16s takes it: relaxed, lane u & 7 of s0 (units 0..7) or s1 splatted; baseline, unpacked alone. */
// @ts-ignore: decorator
@inline function k23UnitScale<W, V>(wb: usize, u: i32, s0: v128, s1: v128): v128 {
  if (relaxed<V>()) return splat16(u < 8 ? s0 : s1, u & 7);
  return kscale(k23Scale<W>(wb, u));
}
/** Unit u for one token, unpacked here (constant u: constant shifts and offsets). */
// @ts-ignore: decorator
@inline function k23UnitToken<W, V>(isum: v128, wb: usize, xb: usize, u: i32, s0: v128, s1: v128): v128 {
  return i32x4.add(isum, kdot16s<V>(k23DotQuant<W, V>(wb, u), v128.load(k23X(xb, u)), k23UnitScale<W, V>(wb, u, s0, s1)));
}
/** All sixteen units of a super-block for one token, in straight-line code, the sums from k23Start. */
// @ts-ignore: decorator
@inline function k23Units<W, V>(wb: usize, xb: usize): v128 {
  const sc = relaxed<V>() ? k23ScaleBytes<W>(wb) : i32x4.splat(0);
  const s0 = i16x8.extend_low_i8x16_s(sc), s1 = i16x8.extend_high_i8x16_s(sc);
  let s = k23Start<W, V>(sc, xb);
  s = k23UnitToken<W, V>(s, wb, xb, 0, s0, s1); s = k23UnitToken<W, V>(s, wb, xb, 1, s0, s1); s = k23UnitToken<W, V>(s, wb, xb, 2, s0, s1); s = k23UnitToken<W, V>(s, wb, xb, 3, s0, s1);
  s = k23UnitToken<W, V>(s, wb, xb, 4, s0, s1); s = k23UnitToken<W, V>(s, wb, xb, 5, s0, s1); s = k23UnitToken<W, V>(s, wb, xb, 6, s0, s1); s = k23UnitToken<W, V>(s, wb, xb, 7, s0, s1);
  s = k23UnitToken<W, V>(s, wb, xb, 8, s0, s1); s = k23UnitToken<W, V>(s, wb, xb, 9, s0, s1); s = k23UnitToken<W, V>(s, wb, xb, 10, s0, s1); s = k23UnitToken<W, V>(s, wb, xb, 11, s0, s1);
  s = k23UnitToken<W, V>(s, wb, xb, 12, s0, s1); s = k23UnitToken<W, V>(s, wb, xb, 13, s0, s1); s = k23UnitToken<W, V>(s, wb, xb, 14, s0, s1); s = k23UnitToken<W, V>(s, wb, xb, 15, s0, s1);
  return s;
}

/**
 * Q2_K / Q3_K, one token: the sixteen units in straight-line code (decode's hot path). The relaxed variant
 * takes the scales from one vector (k23ScaleBytes) and the offsets and mins in i16 dot products; the same
 * integer sums, so the same bits.
 */
function dotK23One<W, V>(w: usize, x: usize, nb: i32): f32 {
  const k = changetype<W>(0);
  let sumf: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const wb = w + <usize>b * k.bytes();
    const xb = x + <usize>b * Q8_K_BYTES;
    sumf = k23Tail<W>(sumf, wb, xb, k23Units<W, V>(wb, xb), k23Mins<W>(wb, xb));
  }
  return sumf;
}

/**
 * Q2_K / Q3_K for R rows (ws bytes apart) by N tokens: each unit unpacked once per row for all the tokens,
 * each token's activations and sums loaded once for the rows. One row and token: returns the result; else
 * row r, token t's goes to o + r*ob + t*os.
 */
function dotK23<W, N, R, V>(w: usize, ws: usize, x: usize, xs: usize, nb: i32, o: usize, ob: usize, os: usize): f32 {
  const k = changetype<W>(0);
  const n = tokens<N>();
  const r = rows<R>();
  let fa0: f32 = 0, fa1: f32 = 0, fa2: f32 = 0, fa3: f32 = 0;
  let fb0: f32 = 0, fb1: f32 = 0, fb2: f32 = 0, fb3: f32 = 0;
  for (let b = 0; b < nb; b++) {
    const wa = w + <usize>b * k.bytes(); const wb = wa + ws;
    const xb0 = q8k(x, xs, b, 0), xb1 = q8k(x, xs, b, 1), xb2 = q8k(x, xs, b, 2), xb3 = q8k(x, xs, b, 3);
    // relaxed: the scales as vectors (k23ScaleBytes), the sums from k23Start
    const sa = relaxed<V>() ? k23ScaleBytes<W>(wa) : i32x4.splat(0), sb = relaxed<V>() && r > 1 ? k23ScaleBytes<W>(wb) : sa;
    const sa0 = i16x8.extend_low_i8x16_s(sa), sa1 = i16x8.extend_high_i8x16_s(sa);
    const sb0 = i16x8.extend_low_i8x16_s(sb), sb1 = i16x8.extend_high_i8x16_s(sb);
    let ia0 = k23Start<W, V>(sa, xb0), ia1 = n > 1 ? k23Start<W, V>(sa, xb1) : ia0, ia2 = n > 1 ? k23Start<W, V>(sa, xb2) : ia0, ia3 = n > 1 ? k23Start<W, V>(sa, xb3) : ia0;
    let ib0 = r > 1 ? k23Start<W, V>(sb, xb0) : ia0, ib1 = r > 1 && n > 1 ? k23Start<W, V>(sb, xb1) : ia0;
    let ib2 = r > 1 && n > 1 ? k23Start<W, V>(sb, xb2) : ia0, ib3 = r > 1 && n > 1 ? k23Start<W, V>(sb, xb3) : ia0;
    for (let u = 0; u < 16; u++) {
      // row 0's unit (p*) and row 1's (q*)
      const pq = k23DotQuant<W, V>(wa, u); const pv = k23UnitScale<W, V>(wa, u, sa0, sa1);
      const qq = r > 1 ? k23DotQuant<W, V>(wb, u) : pq; const qv = r > 1 ? k23UnitScale<W, V>(wb, u, sb0, sb1) : pv;
      {
        const xv = v128.load(k23X(xb0, u));
        ia0 = i32x4.add(ia0, kdot16s<V>(pq, xv, pv));
        if (r > 1) { ib0 = i32x4.add(ib0, kdot16s<V>(qq, xv, qv)); }
      }
      if (n > 1) {
        {
          const xv = v128.load(k23X(xb1, u));
          ia1 = i32x4.add(ia1, kdot16s<V>(pq, xv, pv));
          if (r > 1) { ib1 = i32x4.add(ib1, kdot16s<V>(qq, xv, qv)); }
        }
        {
          const xv = v128.load(k23X(xb2, u));
          ia2 = i32x4.add(ia2, kdot16s<V>(pq, xv, pv));
          if (r > 1) { ib2 = i32x4.add(ib2, kdot16s<V>(qq, xv, qv)); }
        }
        {
          const xv = v128.load(k23X(xb3, u));
          ia3 = i32x4.add(ia3, kdot16s<V>(pq, xv, pv));
          if (r > 1) { ib3 = i32x4.add(ib3, kdot16s<V>(qq, xv, qv)); }
        }
      }
    }
    // the super-block's float updates, row 0 then row 1
    fa0 = k23Tail<W>(fa0, wa, xb0, ia0, k23Mins<W>(wa, xb0));
    if (n > 1) { fa1 = k23Tail<W>(fa1, wa, xb1, ia1, k23Mins<W>(wa, xb1)); fa2 = k23Tail<W>(fa2, wa, xb2, ia2, k23Mins<W>(wa, xb2)); fa3 = k23Tail<W>(fa3, wa, xb3, ia3, k23Mins<W>(wa, xb3)); }
    if (r > 1) {
      fb0 = k23Tail<W>(fb0, wb, xb0, ib0, k23Mins<W>(wb, xb0));
      if (n > 1) { fb1 = k23Tail<W>(fb1, wb, xb1, ib1, k23Mins<W>(wb, xb1)); fb2 = k23Tail<W>(fb2, wb, xb2, ib2, k23Mins<W>(wb, xb2)); fb3 = k23Tail<W>(fb3, wb, xb3, ib3, k23Mins<W>(wb, xb3)); }
    }
  }
  return tileOut(n, r, fa0, fa1, fa2, fa3, fb0, fb1, fb2, fb3, o, ob, os);
}

// ---- K-quant dequantizers (the embedding lookup) -----------------------------------
// Bit for bit what the reference dequantizers (src/quant) give: every scale product is rounded to f32
// before it multiplies the quant ((d*sc)*q - dmin*m as ggml), from the same unpacking as the dot kernels.

function dequantK45<W>(w: usize, y: usize, nb: i32): void {
  const k = changetype<W>(0);
  for (let b = 0; b < nb; b++) {
    const wb = w + <usize>b * k.bytes();
    const yb = y + <usize>b * 1024;
    const d = f16t(load<u16>(wb + k.d())); const dmin = f16t(load<u16>(wb + k.dmin())); const s = wb + k.scales();
    const h0 = k.fifth() ? v128.load(wb + k.qh()) : i32x4.splat(0);
    const h1 = k.fifth() ? v128.load(wb + k.qh() + 16) : i32x4.splat(0);
    for (let p = 0; p < 4; p++) {
      const q0 = v128.load(wb + k.qs() + <usize>(32 * p)); const q1 = v128.load(wb + k.qs() + <usize>(32 * p + 16));
      const d1 = f32x4.splat(d * <f32>scK4(s, 2 * p)); const m1 = f32x4.splat(dmin * <f32>minK4(s, 2 * p));
      const d2 = f32x4.splat(d * <f32>scK4(s, 2 * p + 1)); const m2 = f32x4.splat(dmin * <f32>minK4(s, 2 * p + 1));
      const yp = yb + <usize>(256 * p);
      put16s(k45Quants<W>(q0, h0, 2 * p, false), d1, m1, yp); put16s(k45Quants<W>(q1, h1, 2 * p, false), d1, m1, yp + 64);
      put16s(k45Quants<W>(q0, h0, 2 * p + 1, true), d2, m2, yp + 128); put16s(k45Quants<W>(q1, h1, 2 * p + 1, true), d2, m2, yp + 192);
    }
  }
}

function dequantQ6K(w: usize, y: usize, nb: i32): void {
  for (let b = 0; b < nb; b++) {
    const wb = w + <usize>b * Q6_K_BYTES;
    const yb = y + <usize>b * 1024;
    const d = f16t(load<u16>(wb + Q6_K_D));
    for (let u = 0; u < 4; u++) {
      const h = u >> 1, c = u & 1;
      const a = v128.load(wb + Q6_K_QL + <usize>(64 * h + 16 * c));
      const bq = v128.load(wb + Q6_K_QL + <usize>(64 * h + 32 + 16 * c));
      const hh = v128.load(wb + Q6_K_QH + <usize>(32 * h + 16 * c));
      for (let j = 0; j < 4; j++) {
        const q = i8x16.sub(q6Quant(a, bq, hh, j), kv(K8_20));
        put16(q, f32x4.splat(d * <f32>load<i8>(wb + Q6_K_SCALES + <usize>q6Group(h, c, j))), yb + <usize>(4 * (128 * h + 32 * j + 16 * c)));
      }
    }
  }
}

function dequantK23<W>(w: usize, y: usize, nb: i32): void {
  const k = changetype<W>(0);
  for (let b = 0; b < nb; b++) {
    const wb = w + <usize>b * k.bytes();
    const yb = y + <usize>b * 1024;
    for (let u = 0; u < 16; u++) {
      const yp = yb + <usize>(4 * (128 * (u >> 3) + 32 * ((u >> 1) & 3) + 16 * (u & 1)));
      if (k.q3()) {
        put16(q3Signed(wb, u), f32x4.splat(f16t(load<u16>(wb + Q3_K_D)) * <f32>sc3(wb, u)), yp);
      } else {
        const sc = <i32>load<u8>(wb + Q2_K_SCALES + <usize>u);
        put16s(k23Field<W>(wb, u), f32x4.splat(f16t(load<u16>(wb + Q2_K_D)) * <f32>(sc & 15)), f32x4.splat(f16t(load<u16>(wb + Q2_K_DMIN)) * <f32>(sc >> 4)), yp);
      }
    }
  }
}

// ---- kernel classes the matmul driver is generic over ----------------------------
// dot for one row and token, dot4 for one row and four tokens, and where hasRows2 dot4x2: two rows ws
// bytes apart (outputs ob bytes apart) by four tokens.

@unmanaged export class Legacy<W, V> {
  // @ts-ignore: decorator
  @inline dot(w: usize, x: usize, nb: i32, o: usize): f32 { return dotLegacy<W, u8, u8, V>(w, 0, x, 0, nb, 0, 0, 0); }
  // @ts-ignore: decorator
  @inline dot4(w: usize, x: usize, xs: usize, nb: i32, o: usize, os: usize): void { dotLegacy<W, u32, u8, V>(w, 0, x, xs, nb, o, 0, os); }
  // @ts-ignore: decorator
  @inline hasDot4(): bool { return true; }
  /** Whether the driver runs two rows at a time (measured with bench/gemm.mjs at 4-64 tokens: 1.05-1.3x, both variants). */
  // @ts-ignore: decorator
  @inline hasRows2(): bool { return true; }
  // @ts-ignore: decorator
  @inline dot4x2(w: usize, ws: usize, x: usize, xs: usize, nb: i32, o: usize, ob: usize, os: usize): void { dotLegacy<W, u32, u16, V>(w, ws, x, xs, nb, o, ob, os); }
}
@unmanaged export class K45<W, V> {
  // @ts-ignore: decorator
  @inline dot(w: usize, x: usize, nb: i32, o: usize): f32 { return dotK45One<W, V>(w, x, nb, o); }
  // @ts-ignore: decorator
  @inline dot4(w: usize, x: usize, xs: usize, nb: i32, o: usize, os: usize): void { dotK45<W, u32, u8, V>(w, 0, x, xs, nb, o, 0, os); }
  // @ts-ignore: decorator
  @inline hasDot4(): bool { return true; }
  /** Whether the driver runs two rows at a time (measured with bench/gemm.mjs at 4-64 tokens: relaxed 1.07-1.13x, baseline 1.0-1.05x). */
  // @ts-ignore: decorator
  @inline hasRows2(): bool { return true; }
  // @ts-ignore: decorator
  @inline dot4x2(w: usize, ws: usize, x: usize, xs: usize, nb: i32, o: usize, ob: usize, os: usize): void { dotK45<W, u32, u16, V>(w, ws, x, xs, nb, o, ob, os); }
}
@unmanaged export class K6<V> {
  // @ts-ignore: decorator
  @inline dot(w: usize, x: usize, nb: i32, o: usize): f32 { return dotQ6KOne<V>(w, x, nb); }
  // @ts-ignore: decorator
  @inline dot4(w: usize, x: usize, xs: usize, nb: i32, o: usize, os: usize): void { dotQ6K<u32, u8, V>(w, 0, x, xs, nb, o, 0, os); }
  // @ts-ignore: decorator
  @inline hasDot4(): bool { return true; }
  /** Whether the driver runs two rows at a time (measured with bench/gemm.mjs: relaxed 1.0-1.1x, baseline 0.95x). */
  // @ts-ignore: decorator
  @inline hasRows2(): bool { return relaxed<V>(); }
  // @ts-ignore: decorator
  @inline dot4x2(w: usize, ws: usize, x: usize, xs: usize, nb: i32, o: usize, ob: usize, os: usize): void { dotQ6K<u32, u16, V>(w, ws, x, xs, nb, o, ob, os); }
}
@unmanaged export class K23<W, V> {
  // @ts-ignore: decorator
  @inline dot(w: usize, x: usize, nb: i32, o: usize): f32 { return dotK23One<W, V>(w, x, nb); }
  // @ts-ignore: decorator
  @inline dot4(w: usize, x: usize, xs: usize, nb: i32, o: usize, os: usize): void { dotK23<W, u32, u8, V>(w, 0, x, xs, nb, o, 0, os); }
  // @ts-ignore: decorator
  @inline hasDot4(): bool { return true; }
  /** Whether the driver runs two rows at a time (measured with bench/gemm.mjs: Q2_K relaxed 1.2-1.35x; Q2_K baseline 0.85-0.9x, Q3_K 0.7-0.95x). */
  // @ts-ignore: decorator
  @inline hasRows2(): bool { return relaxed<V>() && !changetype<W>(0).q3(); }
  // @ts-ignore: decorator
  @inline dot4x2(w: usize, ws: usize, x: usize, xs: usize, nb: i32, o: usize, ob: usize, os: usize): void { dotK23<W, u32, u16, V>(w, ws, x, xs, nb, o, ob, os); }
}

export { Q8_0, Q4_0, Q4_1, Q5_0, Q5_0U, Q5_1, Q5_1U, Q4_K, Q5_K, Q2_K, Q3_K };
export { dequantLegacy, dequantK45, dequantQ6K, dequantK23, expandLegacy };
