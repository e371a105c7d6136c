/**
 * Float element types: F32, F16 (IEEE binary16) and BF16 (bfloat16), and the
 * scalar half -> float conversions every quantized block uses for its scales.
 *
 * The row converters write float32 *bit patterns* (through a Uint32Array view
 * of dst), so NaN payloads and signs survive exactly as in ggml's
 * ggml_fp16_to_fp32_row / ggml_bf16_to_fp32_row; going through a JS number
 * would let the engine canonicalize NaNs.
 */

/**
 * float32 bit pattern of the binary16 value with bit pattern `h`.
 * Exact for every finite value (binary16 is a subset of binary32). A NaN keeps
 * its sign and payload and comes out quiet (bit 22 set), which is what ggml's
 * conversion does on x86-64 (both the scalar bit trick, which multiplies, and
 * F16C's vcvtph2ps quiet a signalling NaN).
 */
function halfBitsToFloatBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >> 10) & 0x1f;
  let man = h & 0x3ff;
  if (exp === 0x1f) {
    // inf, or NaN made quiet
    return (sign | 0x7f800000 | (man << 13) | (man !== 0 ? 0x400000 : 0)) >>> 0;
  }
  if (exp !== 0) {
    return (sign | ((exp - 15 + 127) << 23) | (man << 13)) >>> 0;
  }
  if (man === 0) return sign >>> 0; // +-0
  // subnormal: man * 2^-24; normalize so the leading 1 sits at bit 10
  let e = 127 - 15 + 1;
  while ((man & 0x400) === 0) {
    man <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((man & 0x3ff) << 13)) >>> 0;
}

/** float32 bits for every binary16 bit pattern, and the same table as floats. */
const F16_TO_F32_BITS = new Uint32Array(65536);
for (let h = 0; h < 65536; h++) F16_TO_F32_BITS[h] = halfBitsToFloatBits(h);
const F16_TO_F32 = new Float32Array(F16_TO_F32_BITS.buffer);

/** binary16 bit pattern (low 16 bits of `bits`) -> its value. */
export function f16ToF32(bits: number): number {
  return F16_TO_F32[bits & 0xffff];
}

const BF16_SCRATCH_U32 = new Uint32Array(1);
const BF16_SCRATCH_F32 = new Float32Array(BF16_SCRATCH_U32.buffer);

/**
 * bfloat16 bit pattern (low 16 bits of `bits`) -> its value: the top half of a
 * float32 (ggml: bits << 16). As a JS number a NaN may lose its payload; use
 * dequantizeRow for bit-exact output.
 */
export function bf16ToF32(bits: number): number {
  BF16_SCRATCH_U32[0] = (bits & 0xffff) << 16;
  return BF16_SCRATCH_F32[0];
}

/** binary16 at byte offset p of src (little-endian) -> its value. */
export function f16At(src: Uint8Array, p: number): number {
  return F16_TO_F32[src[p] | (src[p + 1] << 8)];
}

/** float32 bit view of dst's first n elements (a Float32Array is always 4-byte aligned). */
function bitsView(dst: Float32Array, n: number): Uint32Array {
  return new Uint32Array(dst.buffer, dst.byteOffset, n);
}

/** F32: copy the bit patterns (little-endian bytes). */
export function dequantizeRowF32(src: Uint8Array, dst: Float32Array, n: number): void {
  const out = bitsView(dst, n);
  for (let i = 0, p = 0; i < n; i++, p += 4) {
    out[i] = src[p] | (src[p + 1] << 8) | (src[p + 2] << 16) | (src[p + 3] << 24);
  }
}

/** F16 -> F32 (ggml_fp16_to_fp32_row). */
export function dequantizeRowF16(src: Uint8Array, dst: Float32Array, n: number): void {
  const out = bitsView(dst, n);
  for (let i = 0, p = 0; i < n; i++, p += 2) {
    out[i] = F16_TO_F32_BITS[src[p] | (src[p + 1] << 8)];
  }
}

/** BF16 -> F32 (ggml_bf16_to_fp32_row: bits << 16, payloads kept as they are). */
export function dequantizeRowBF16(src: Uint8Array, dst: Float32Array, n: number): void {
  const out = bitsView(dst, n);
  for (let i = 0, p = 0; i < n; i++, p += 2) {
    out[i] = (src[p] << 16) | (src[p + 1] << 24);
  }
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/**
 * binary16 bit pattern of a float, rounded to nearest even as ggml_fp32_to_fp16
 * does (overflow to inf, NaN -> quiet NaN with the sign kept).
 */
export function f32ToF16(x: number): number {
  f32Scratch[0] = x;
  const u = u32Scratch[0]!;
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  const mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let h = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (h & 1) !== 0)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++; // a carry into the exponent is correct rounding
  return sign | h;
}

/** x rounded to the nearest binary16 value, as a float. */
export function roundToF16(x: number): number {
  return f16ToF32(f32ToF16(x));
}
