/**
 * K-quants: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K and Q8_K (super-blocks of 256
 * elements split into sub-blocks of 16 or 32 with their own scales).
 *
 * Each dequantizer follows ggml's dequantize_row_*_K (ggml-quants.c) over the
 * block struct of ggml-common.h; elements per block and bytes per block come
 * from the type table, field offsets below are the struct's. Float arithmetic
 * is float32 with every product and sum rounded on its own (Math.fround) in
 * C's order, including ggml's precomputed sub-block factors (dl = d * sc, ...).
 */
import { GGMLType } from '../gguf/types.js';
import { blockInfo } from './block.js';
import { f16At } from './float.js';

const fround = Math.fround;

const Q2_K = blockInfo(GGMLType.Q2_K);
/**
 * block_q2_K { u8 scales[16]; u8 qs[64]; f16 d; f16 dmin }. Sub-block s of 16
 * has scale scales[s] & 15 and min scales[s] >> 4. Each 128-element half uses
 * 32 qs bytes; its four 32-element groups are the 2-bit fields at shifts
 * 0, 2, 4, 6. y = (d * sc) * q - (dmin * m).
 */
export function dequantizeRowQ2_K(src: Uint8Array, dst: Float32Array, n: number): void {
  const { blockSize: qk, typeSize } = Q2_K;
  const nb = n / qk;
  let y = 0;
  for (let i = 0; i < nb; i++) {
    const p = i * typeSize;
    const scales = p;
    const d = f16At(src, p + 80);
    const min = f16At(src, p + 82);
    let q = p + 16;
    let is = 0;
    for (let half = 0; half < qk; half += 128) {
      for (let shift = 0; shift < 8; shift += 2) {
        for (let k = 0; k < 32; k += 16) {
          const sc = src[scales + is++];
          const dl = fround(d * (sc & 0x0f));
          const ml = fround(min * (sc >> 4));
          for (let l = 0; l < 16; l++) {
            dst[y++] = fround(fround(dl * ((src[q + k + l] >> shift) & 3)) - ml);
          }
        }
      }
      q += 32;
    }
  }
}

const Q3_K = blockInfo(GGMLType.Q3_K);
/** The 16 six-bit sub-block scales of a Q3_K block, each minus 32. */
const q3Scales = new Int32Array(16);
/**
 * block_q3_K { u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d }.
 * scales packs 16 six-bit values: the low 4 bits of scale j are the low
 * (j < 8) or high (j >= 8) nibble of byte j % 8, the top 2 bits are bits
 * 2*(j/4)..+1 of byte 8 + j % 4 (the byte-wise form of ggml's kmask1/kmask2
 * shuffle). Quants are 2 bits in qs (as Q2_K) plus a high bit in hmask: bit b
 * of hmask[l] belongs to the 32-element group b; a clear high bit means
 * subtract 4. y = (d * (scale - 32)) * q.
 */
export function dequantizeRowQ3_K(src: Uint8Array, dst: Float32Array, n: number): void {
  const { blockSize: qk, typeSize } = Q3_K;
  const nb = n / qk;
  const sc = q3Scales;
  let y = 0;
  for (let i = 0; i < nb; i++) {
    const p = i * typeSize;
    const hm = p;
    const s = p + 96;
    const dAll = f16At(src, p + 108);
    for (let j = 0; j < 16; j++) {
      const low = j < 8 ? src[s + j] & 0x0f : src[s + j - 8] >> 4;
      const high = (src[s + 8 + (j & 3)] >> (2 * (j >> 2))) & 3;
      sc[j] = (low | (high << 4)) - 32;
    }
    let q = p + 32;
    let is = 0;
    let m = 1;
    for (let half = 0; half < qk; half += 128) {
      for (let shift = 0; shift < 8; shift += 2) {
        for (let k = 0; k < 32; k += 16) {
          const dl = fround(dAll * sc[is++]);
          for (let l = 0; l < 16; l++) {
            const v = ((src[q + k + l] >> shift) & 3) - ((src[hm + k + l] & m) !== 0 ? 0 : 4);
            dst[y++] = fround(dl * v);
          }
        }
        m <<= 1;
      }
      q += 32;
    }
  }
}

/**
 * get_scale_min_k4: scale (6 bits) of sub-block j of a Q4_K/Q5_K block whose
 * 12 packed scale bytes start at s. Sub-blocks 0-3 use the low 6 bits of
 * bytes 0-3 (scales) and 4-7 (mins); 4-7 take a nibble of bytes 8-11 and
 * their top 2 bits from the spare high bits of bytes 0-7.
 */
function scaleK4(src: Uint8Array, s: number, j: number): number {
  return j < 4 ? src[s + j] & 63 : (src[s + j + 4] & 0x0f) | ((src[s + j - 4] >> 6) << 4);
}
/** get_scale_min_k4: min (6 bits) of sub-block j. */
function minK4(src: Uint8Array, s: number, j: number): number {
  return j < 4 ? src[s + j + 4] & 63 : (src[s + j + 4] >> 4) | ((src[s + j] >> 6) << 4);
}

const Q4_K = blockInfo(GGMLType.Q4_K);
/**
 * block_q4_K { f16 d; f16 dmin; u8 scales[12]; u8 qs[128] }. Eight sub-blocks
 * of 32; each 64 elements share 32 qs bytes (low nibbles first, then high).
 * y = (d * sc) * q - (dmin * m).
 */
export function dequantizeRowQ4_K(src: Uint8Array, dst: Float32Array, n: number): void {
  const { blockSize: qk, typeSize } = Q4_K;
  const nb = n / qk;
  let y = 0;
  for (let i = 0; i < nb; i++) {
    const p = i * typeSize;
    const d = f16At(src, p);
    const min = f16At(src, p + 2);
    const s = p + 4;
    let q = p + 16;
    for (let is = 0; is < qk / 32; is += 2) {
      const d1 = fround(d * scaleK4(src, s, is));
      const m1 = fround(min * minK4(src, s, is));
      const d2 = fround(d * scaleK4(src, s, is + 1));
      const m2 = fround(min * minK4(src, s, is + 1));
      for (let l = 0; l < 32; l++) dst[y++] = fround(fround(d1 * (src[q + l] & 0x0f)) - m1);
      for (let l = 0; l < 32; l++) dst[y++] = fround(fround(d2 * (src[q + l] >> 4)) - m2);
      q += 32;
    }
  }
}

const Q5_K = blockInfo(GGMLType.Q5_K);
/**
 * block_q5_K { f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128] }: Q4_K
 * plus a fifth bit, bit b of qh[l] for 32-element sub-block b.
 * y = (d * sc) * q - (dmin * m).
 */
export function dequantizeRowQ5_K(src: Uint8Array, dst: Float32Array, n: number): void {
  const { blockSize: qk, typeSize } = Q5_K;
  const nb = n / qk;
  let y = 0;
  for (let i = 0; i < nb; i++) {
    const p = i * typeSize;
    const d = f16At(src, p);
    const min = f16At(src, p + 2);
    const s = p + 4;
    const qh = p + 16;
    let ql = p + 48;
    let u1 = 1;
    let u2 = 2;
    for (let is = 0; is < qk / 32; is += 2) {
      const d1 = fround(d * scaleK4(src, s, is));
      const m1 = fround(min * minK4(src, s, is));
      const d2 = fround(d * scaleK4(src, s, is + 1));
      const m2 = fround(min * minK4(src, s, is + 1));
      for (let l = 0; l < 32; l++) {
        const v = (src[ql + l] & 0x0f) + ((src[qh + l] & u1) !== 0 ? 16 : 0);
        dst[y++] = fround(fround(d1 * v) - m1);
      }
      for (let l = 0; l < 32; l++) {
        const v = (src[ql + l] >> 4) + ((src[qh + l] & u2) !== 0 ? 16 : 0);
        dst[y++] = fround(fround(d2 * v) - m2);
      }
      ql += 32;
      u1 <<= 2;
      u2 <<= 2;
    }
  }
}

const Q6_K = blockInfo(GGMLType.Q6_K);
/**
 * block_q6_K { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d }. Per 128-element
 * half: 64 ql bytes, 32 qh bytes, 8 scales. Element l + 32*g (g = 0..3, l < 32)
 * takes its low 4 bits from ql[l] (g = 0, 2: low/high nibble) or ql[l + 32]
 * (g = 1, 3) and its top 2 bits from bits 2g..2g+1 of qh[l]; its scale is
 * scales[l / 16 + 2g]. y = (d * scale) * (q - 32).
 */
export function dequantizeRowQ6_K(src: Uint8Array, dst: Float32Array, n: number): void {
  const { blockSize: qk, typeSize } = Q6_K;
  const nb = n / qk;
  const s8 = new Int8Array(src.buffer, src.byteOffset, src.byteLength);
  for (let i = 0; i < nb; i++) {
    const p = i * typeSize;
    const d = f16At(src, p + 208);
    let ql = p;
    let qh = p + 128;
    let sc = p + 192;
    for (let y = i * qk; y < (i + 1) * qk; y += 128) {
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const a = src[ql + l];
        const b = src[ql + l + 32];
        const h = src[qh + l];
        const q1 = ((a & 0x0f) | (((h >> 0) & 3) << 4)) - 32;
        const q2 = ((b & 0x0f) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((a >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((b >> 4) | (((h >> 6) & 3) << 4)) - 32;
        dst[y + l] = fround(fround(d * s8[sc + is]) * q1);
        dst[y + l + 32] = fround(fround(d * s8[sc + is + 2]) * q2);
        dst[y + l + 64] = fround(fround(d * s8[sc + is + 4]) * q3);
        dst[y + l + 96] = fround(fround(d * s8[sc + is + 6]) * q4);
      }
      ql += 64;
      qh += 32;
      sc += 8;
    }
  }
}

const Q8_K = blockInfo(GGMLType.Q8_K);
/**
 * block_q8_K { f32 d; i8 qs[256]; i16 bsums[16] } (the activation format of
 * ggml's K-quant dot products; bsums are not needed to dequantize). y = d * q.
 */
export function dequantizeRowQ8_K(src: Uint8Array, dst: Float32Array, n: number): void {
  const { blockSize: qk, typeSize } = Q8_K;
  const nb = n / qk;
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const s8 = new Int8Array(src.buffer, src.byteOffset, src.byteLength);
  for (let i = 0; i < nb; i++) {
    const p = i * typeSize;
    const d = view.getFloat32(p, true);
    const qs = p + 4;
    const y = i * qk;
    for (let j = 0; j < qk; j++) dst[y + j] = fround(d * s8[qs + j]);
  }
}
