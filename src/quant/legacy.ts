/**
 * The 32-element "legacy" block types Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0.
 *
 * Each dequantizer follows ggml's dequantize_row_* (ggml-quants.c) over the
 * block struct of ggml-common.h; block size and bytes per block come from the
 * type table, the field offsets below are the struct's. Float arithmetic is
 * float32 with every product and sum rounded on its own (Math.fround), in C's
 * evaluation order: ggml's reference build has no fused multiply-add.
 *
 * In every type the first half of a block's elements sit in the low nibbles of
 * qs and the second half in the high nibbles.
 */
import { GGMLType } from '../gguf/types.js';
import { blockInfo } from './block.js';
import { f16At } from './float.js';

const fround = Math.fround;

/** Little-endian uint32 at byte offset p. */
function u32At(src: Uint8Array, p: number): number {
  return (src[p] | (src[p + 1] << 8) | (src[p + 2] << 16) | (src[p + 3] << 24)) >>> 0;
}

const Q4_0 = blockInfo(GGMLType.Q4_0);
/** block_q4_0 { f16 d; u8 qs[16] }: y = (q - 8) * d. */
export function dequantizeRowQ4_0(src: Uint8Array, dst: Float32Array, n: number): void {
  const { blockSize: qk, typeSize } = Q4_0;
  const half = qk / 2;
  const nb = n / qk;
  for (let i = 0; i < nb; i++) {
    const p = i * typeSize;
    const d = f16At(src, p);
    const qs = p + 2;
    const y = i * qk;
    for (let j = 0; j < half; j++) {
      const b = src[qs + j];
      dst[y + j] = fround(((b & 0x0f) - 8) * d);
      dst[y + j + half] = fround(((b >> 4) - 8) * d);
    }
  }
}

const Q4_1 = blockInfo(GGMLType.Q4_1);
/** block_q4_1 { f16 d; f16 m; u8 qs[16] }: y = q * d + m. */
export function dequantizeRowQ4_1(src: Uint8Array, dst: Float32Array, n: number): void {
  const { blockSize: qk, typeSize } = Q4_1;
  const half = qk / 2;
  const nb = n / qk;
  for (let i = 0; i < nb; i++) {
    const p = i * typeSize;
    const d = f16At(src, p);
    const m = f16At(src, p + 2);
    const qs = p + 4;
    const y = i * qk;
    for (let j = 0; j < half; j++) {
      const b = src[qs + j];
      dst[y + j] = fround(fround((b & 0x0f) * d) + m);
      dst[y + j + half] = fround(fround((b >> 4) * d) + m);
    }
  }
}

const Q5_0 = blockInfo(GGMLType.Q5_0);
/**
 * block_q5_0 { f16 d; u8 qh[4]; u8 qs[16] }: the fifth bit of element j is bit
 * j of qh (read as a little-endian uint32); y = (q - 16) * d.
 */
export function dequantizeRowQ5_0(src: Uint8Array, dst: Float32Array, n: number): void {
  const { blockSize: qk, typeSize } = Q5_0;
  const half = qk / 2;
  const nb = n / qk;
  for (let i = 0; i < nb; i++) {
    const p = i * typeSize;
    const d = f16At(src, p);
    const qh = u32At(src, p + 2);
    const qs = p + 6;
    const y = i * qk;
    for (let j = 0; j < half; j++) {
      const b = src[qs + j];
      const xh0 = ((qh >>> j) << 4) & 0x10;
      const xh1 = (qh >>> (j + 12)) & 0x10;
      dst[y + j] = fround((((b & 0x0f) | xh0) - 16) * d);
      dst[y + j + half] = fround((((b >> 4) | xh1) - 16) * d);
    }
  }
}

const Q5_1 = blockInfo(GGMLType.Q5_1);
/** block_q5_1 { f16 d; f16 m; u8 qh[4]; u8 qs[16] }: y = q * d + m. */
export function dequantizeRowQ5_1(src: Uint8Array, dst: Float32Array, n: number): void {
  const { blockSize: qk, typeSize } = Q5_1;
  const half = qk / 2;
  const nb = n / qk;
  for (let i = 0; i < nb; i++) {
    const p = i * typeSize;
    const d = f16At(src, p);
    const m = f16At(src, p + 2);
    const qh = u32At(src, p + 4);
    const qs = p + 8;
    const y = i * qk;
    for (let j = 0; j < half; j++) {
      const b = src[qs + j];
      const xh0 = ((qh >>> j) << 4) & 0x10;
      const xh1 = (qh >>> (j + 12)) & 0x10;
      dst[y + j] = fround(fround(((b & 0x0f) | xh0) * d) + m);
      dst[y + j + half] = fround(fround(((b >> 4) | xh1) * d) + m);
    }
  }
}

const Q8_0 = blockInfo(GGMLType.Q8_0);
/** block_q8_0 { f16 d; i8 qs[32] }: y = q * d. */
export function dequantizeRowQ8_0(src: Uint8Array, dst: Float32Array, n: number): void {
  const { blockSize: qk, typeSize } = Q8_0;
  const nb = n / qk;
  const s8 = new Int8Array(src.buffer, src.byteOffset, src.byteLength);
  for (let i = 0; i < nb; i++) {
    const p = i * typeSize;
    const d = f16At(src, p);
    const qs = p + 2;
    const y = i * qk;
    for (let j = 0; j < qk; j++) {
      dst[y + j] = fround(s8[qs + j] * d);
    }
  }
}
