// Small inline helpers shared by every kernel: SIMD dot products of int8
// vectors, horizontal sums, and IEEE half <-> single conversions.

/** i8x16 · i8x16 -> i16x8 sums of two products (lane j: elements j and j + 8). Safe while |a*b| + |a*b| fits in i16. */
// @ts-ignore: decorator
@inline function pairs16(a: v128, b: v128): v128 {
  return i16x8.add(i16x8.extmul_low_i8x16_s(a, b), i16x8.extmul_high_i8x16_s(a, b));
}

/**
 * i8x16 weights · 16 activations as sign-extended i16, already loaded: lo (elements 0-7) and hi (8-15) ->
 * i32x4 partial sums: two extends and two i32x4.dot_i16x8_s (8 MACs each). Lane k sums the products of
 * elements 2k, 2k+1, 2k+8, 2k+9, the same partition as dot16s and the relaxed lanePerm order.
 */
// @ts-ignore: decorator
@inline export function dot16xv(a: v128, lo: v128, hi: v128): v128 {
  return i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(a), lo), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(a), hi));
}

/**
 * i8x16 weights · i8x16 activations times a K-quant sub-block scale (kscale): the pair sums (the K-quants'
 * weights are at most 32 in magnitude) times the scale in one i32x4.dot_i16x8_s, lane k = elements 2k, 2k+1,
 * 2k+8, 2k+9 — no i32 multiply (pmulld: two µops and ten cycles on some x86 cores).
 */
// @ts-ignore: decorator
@inline export function dot16s(a: v128, b: v128, sv: v128): v128 {
  return i32x4.dot_i16x8_s(pairs16(a, b), sv);
}
/** Two 16-element halves: dot16s(a0, b0) + dot16s(a1, b1). */
// @ts-ignore: decorator
@inline export function dot32s(a0: v128, b0: v128, a1: v128, b1: v128, sv: v128): v128 {
  return i32x4.add(dot16s(a0, b0, sv), dot16s(a1, b1, sv));
}

// The kernels are generic over a variant V, Baseline or Relaxed, and branch on relaxed<V>() (a constant
// after inlining): the relaxed-simd build instantiates both (matmul.ts picks one per weight type at run
// time), the baseline build only Baseline; Relaxed is the baseline there too, so it never emits a relaxed op.
@unmanaged export class Baseline {
  // @ts-ignore: decorator
  @inline relaxed(): bool { return false; }
}
@unmanaged export class Relaxed {
  // @ts-ignore: decorator
  @inline relaxed(): bool { return ASC_FEATURE_RELAXED_SIMD; }
}
/** Whether variant V uses the relaxed dot products. */
// @ts-ignore: decorator
@inline export function relaxed<V>(): bool {
  return changetype<V>(0).relaxed();
}

// Relaxed variant only: the kernels reach these through `relaxed<V>()` branches, true only in the
// build with the relaxed-simd feature (`ASC_FEATURE_RELAXED_SIMD`), so the baseline build never contains them.
// Only the i16 form of the relaxed dot is used: V8 11.3's first tier (Liftoff) gets the i32 accumulating form
// (i32x4.relaxed_dot_i8x16_i7x16_add_s) wrong, while this one is right in both tiers, and without AVX-VNNI the
// i32 form is the same pmaddubsw + pmaddwd pair anyway. Every product is exact: |a| <= 128, 0 <= u <= 127.

/** Weights u in [0, 127] (i7) · int8 activations x -> i16x8 pair sums (lane j: elements 2j, 2j+1). */
// @ts-ignore: decorator
@inline export function rdot(x: v128, u: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i16x8.relaxed_dot_i8x16_i7x16_s(x, u);
  unreachable();
  return x;
}
/**
 * Relaxed dot16s for u in [0, 127]: the i16 pair sums times the scale in one i32x4.dot_i16x8_s
 * instead of widening and an i32 multiply (|pair| <= 2*128*127 and 2*|pair*sc| < 2^31: exact).
 */
// @ts-ignore: decorator
@inline export function rdot16s(u: v128, x: v128, sv: v128): v128 {
  return i32x4.dot_i16x8_s(rdot(x, u), sv);
}
/** Relaxed dot32s for u in [0, 31]. */
// @ts-ignore: decorator
@inline export function rdot32s(u0: v128, x0: v128, u1: v128, x1: v128, sv: v128): v128 {
  return i32x4.dot_i16x8_s(i16x8.add(rdot(x0, u0), rdot(x1, u1)), sv);
}

// The K-quants' sub-block products, one name for both variants: the baseline multiplies signed
// weights (dot16s / dot32s), the relaxed variant the same weights before their offset is subtracted
// (rdot16s / rdot32s); both take the scale as i16 lanes. The kernels subtract the offset through the
// activation sums, so every integer sum is the same in both builds.

/** A K-quant sub-block scale (|sc| <= 128) as kdot16s / kdot32s take it in either variant: i16 lanes. */
// @ts-ignore: decorator
@inline export function kscale(sc: i32): v128 {
  return i16x8.splat(<i16>sc);
}
/** 16 weights · 16 int8 activations times a kscale. */
// @ts-ignore: decorator
@inline export function kdot16s<V>(q: v128, x: v128, sv: v128): v128 {
  if (relaxed<V>()) return rdot16s(q, x, sv);
  return dot16s(q, x, sv);
}
/** 32 weights (two halves, 0..31) · 32 int8 activations times a kscale. */
// @ts-ignore: decorator
@inline export function kdot32s<V>(q0: v128, x0: v128, q1: v128, x1: v128, sv: v128): v128 {
  if (relaxed<V>()) return rdot32s(q0, x0, q1, x1, sv);
  return dot32s(q0, x0, q1, x1, sv);
}
/**
 * Byte order that makes a relaxed dot's lanes hold the same partial sums as dot16x: applied to both
 * operands, lane k of the i32 result sums elements 2k, 2k+1, 2k+8, 2k+9, so the float accumulation of
 * the 32-element types is bit-identical in both builds.
 */
// @ts-ignore: decorator
@inline export function lanePerm(v: v128): v128 {
  return swizzleK(v, K_LANE_PERM, i8x16(0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15));
}

/** The inverse of lanePerm: bytes in lanePerm order back in element order. */
// @ts-ignore: decorator
@inline export function laneUnperm(v: v128): v128 {
  return swizzleK(v, K_LANE_UNPERM, i8x16(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15));
}

/**
 * i8x16.swizzle by constant indices, all in 0..15, at p in memory and as the literal `lit` (the same
 * bytes). The relaxed build's relaxed swizzle of the loaded indices is one pshufb (indices in range give
 * the same result in every implementation); the baseline build keeps the literal, which V8 knows to be in
 * range, where a loaded index vector would cost it a saturating add to clamp them first.
 */
// @ts-ignore: decorator
@inline export function swizzleK(v: v128, p: usize, lit: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i8x16.relaxed_swizzle(v, kv(p));
  return i8x16.swizzle(v, lit);
}

// @ts-ignore: decorator
@inline export function hsumI32(v: v128): i32 {
  return i32x4.extract_lane(v, 0) + i32x4.extract_lane(v, 1) + i32x4.extract_lane(v, 2) + i32x4.extract_lane(v, 3);
}

// @ts-ignore: decorator
@inline export function hsumF32(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/**
 * Where the 65536-entry binary16 -> f32 table lies, which the host writes once per memory (loader.ts
 * writeF16Table at f16Table()): a constant, the same in both builds so that builds sharing one memory share
 * it, and above every build's static data (heapBase() checks). A constant address makes each lookup one
 * load; read from a global it was three (the Q8_0 one-token kernel streamed 3-4 % slower).
 */
export const F16_TABLE_AT: usize = 65536;
/** Bytes of the table. */
export const F16_TABLE_BYTES: usize = 65536 * 4;
/** binary16 bits -> float by table lookup: the weight scales of every quantized block. */
// @ts-ignore: decorator
@inline export function f16t(h: u32): f32 {
  return load<f32>(F16_TABLE_AT + (<usize>h << 2));
}

/**
 * Stores lane 0 of v at o, the row's own output slot (the kernel's caller stores the result there after it):
 * a point in the order of memory operations that v must be computed by. TurboFan keeps loads and stores in
 * program order but places arithmetic just before its first use, so a long straight-line kernel would load
 * all of its operands first and spill them (Q4_K one-token: 1.16-1.22x with a settle after each unit).
 */
// @ts-ignore: decorator
@inline export function settle(o: usize, v: v128): void {
  store<i32>(o, i32x4.extract_lane(v, 0));
}

/** binary16 bits -> float (exact for every finite value; inf/NaN kept). */
// @ts-ignore: decorator
@inline export function f16(h: u32): f32 {
  const o: u32 = (h & 0x7fff) << 13;
  let f = reinterpret<f32>(o) * reinterpret<f32>(0x77800000); // 2^112 moves the exponent bias 15 -> 127
  if ((h & 0x7c00) == 0x7c00) f = reinterpret<f32>(o | 0x7f800000);
  return reinterpret<f32>(reinterpret<u32>(f) | ((h & 0x8000) << 16));
}

/** Eight binary16 values at p -> two f32x4 (finite values; used for the KV cache and F16 weights). */
// @ts-ignore: decorator
@inline export function f16x4lo(h: v128): v128 {
  return f16bits(i32x4.extend_low_i16x8_s(h));
}
// @ts-ignore: decorator
@inline export function f16x4hi(h: v128): v128 {
  return f16bits(i32x4.extend_high_i16x8_s(h));
}
/**
 * Four sign-extended binary16 values -> f32: shifted left by 13 the exponent and mantissa land in
 * the f32 fields and the sign stays in bit 31; clearing bits 30..28 (copies of the sign) leaves
 * the half's value times 2^-112 (subnormals included), which one multiply by 2^112 corrects.
 */
// @ts-ignore: decorator
@inline function f16bits(w: v128): v128 {
  const o = v128.and(i32x4.shl(w, 13), kv(K32_HALF_MASK));
  return f32x4.mul(o, kv(K32_HALF_SCALE));
}

/** float -> binary16 bits, round to nearest even (as ggml_fp32_to_fp16). */
export function toF16(x: f32): u32 {
  const u = reinterpret<u32>(x);
  const sign = (u >> 16) & 0x8000;
  const exp = <i32>((u >> 23) & 0xff);
  const mant = u & 0x7fffff;
  if (exp == 0xff) return sign | 0x7c00 | (mant != 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = <u32>(14 - e);
    let h = m >> shift;
    const rem = m & ((1 << shift) - 1);
    const halfway: u32 = 1 << (shift - 1);
    if (rem > halfway || (rem == halfway && (h & 1) != 0)) h++;
    return sign | h;
  }
  let h: u32 = (<u32>e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1) != 0)) h++;
  return sign | h;
}

/** x rounded to the nearest binary16 value. */
// @ts-ignore: decorator
@inline export function roundF16(x: f32): f32 {
  return f16(toF16(x));
}

/** Stops the calling thread with a message (the host's env.abort throws it as an Error). */
export function trap(message: string): void {
  abort(message);
}

// 16-byte constants read from memory. V8 (Node 20) builds every v128.const other than zero inside a loop
// anew from a 64-bit immediate each time round (three instructions, one a move from a general-purpose
// register; seen with node --print-wasm-code), and i8x16 shifts by a constant add a mask built the same way.
// A load from memory is one instruction, often folded into its user, so masks, lane orders and
// polynomial coefficients that kernels use inside loops are read with kv(K_...).
// @ts-ignore: decorator
@inline export function kv(p: usize): v128 {
  return v128.load(p);
}
export const K8_0F = memory.data<u8>([0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f, 0x0f], 16);
export const K8_F0 = memory.data<u8>([0xf0, 0xf0, 0xf0, 0xf0, 0xf0, 0xf0, 0xf0, 0xf0, 0xf0, 0xf0, 0xf0, 0xf0, 0xf0, 0xf0, 0xf0, 0xf0], 16);
export const K8_10 = memory.data<u8>([0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x10], 16);
export const K8_01 = memory.data<u8>([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], 16);
export const K8_03 = memory.data<u8>([3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3], 16);
export const K8_08 = memory.data<u8>([8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8], 16);
export const K8_20 = memory.data<u8>([32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32, 32], 16);
export const K8_30 = memory.data<u8>([48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48], 16);
export const K_LANE_PERM = memory.data<u8>([0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15], 16);
export const K_LANE_UNPERM = memory.data<u8>([0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15], 16);
export const K32_HALF_MASK = memory.data<u32>([0x8fffffff, 0x8fffffff, 0x8fffffff, 0x8fffffff], 16);
export const K32_HALF_SCALE = memory.data<u32>([0x77800000, 0x77800000, 0x77800000, 0x77800000], 16);

/** The low nibble of every byte (i8x16 & 0x0f). */
// @ts-ignore: decorator
@inline export function nibLo(v: v128): v128 {
  return v128.and(v, kv(K8_0F));
}
/** The high nibble of every byte, i8x16.shr_u(v, 4): a 16-bit shift, the bits from the neighbouring byte masked off. */
// @ts-ignore: decorator
@inline export function nibHi(v: v128): v128 {
  return v128.and(i16x8.shr_u(v, 4), kv(K8_0F));
}
/**
 * i8x16.shl(v, s) for bytes below 2^(8 - s), which no bit leaves: a 16-bit shift is the same then and is one
 * instruction, where V8's i8x16 shift adds a mask.
 */
// @ts-ignore: decorator
@inline export function shlSmall(v: v128, s: i32): v128 {
  return i16x8.shl(v, s);
}
/** (v >> s) & m per byte for a mask m below 2^(8 - s): a 16-bit shift; the neighbouring bits land above the mask. */
// @ts-ignore: decorator
@inline export function shrMask(v: v128, s: i32, m: usize): v128 {
  return v128.and(i16x8.shr_u(v, s), kv(m));
}
