/**
 * The non-linear 4-bit types IQ4_NL (32-element blocks) and IQ4_XS
 * (256-element super-blocks with 6-bit sub-block scales). Their 4-bit codes
 * index kvalues_iq4nl instead of being used as integers.
 *
 * Follows ggml's dequantize_row_iq4_nl / dequantize_row_iq4_xs over the block
 * structs of ggml-common.h; block geometry comes from the type table. Float
 * arithmetic is float32 with every product rounded on its own (Math.fround).
 */
import { GGMLType } from '../gguf/types.js';
import { blockInfo } from './block.js';
import { f16At } from './float.js';

const fround = Math.fround;

/** kvalues_iq4nl (ggml-common.h): the 16 levels of the non-linear 4-bit grid. */
export const KVALUES_IQ4NL: readonly number[] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];
const KV = Int8Array.from(KVALUES_IQ4NL);

const IQ4_NL = blockInfo(GGMLType.IQ4_NL);
/**
 * block_iq4_nl { f16 d; u8 qs[16] }: first half of the block in the low
 * nibbles, second half in the high nibbles. y = d * kvalues[q].
 */
export function dequantizeRowIQ4_NL(src: Uint8Array, dst: Float32Array, n: number): void {
  const { blockSize: qk, typeSize } = IQ4_NL;
  const half = qk / 2;
  const nb = n / qk;
  for (let i = 0; i < nb; i++) {
    const p = i * typeSize;
    const d = f16At(src, p);
    const qs = p + 2;
    const y = i * qk;
    for (let j = 0; j < half; j++) {
      const b = src[qs + j];
      dst[y + j] = fround(d * KV[b & 0x0f]);
      dst[y + j + half] = fround(d * KV[b >> 4]);
    }
  }
}

const IQ4_XS = blockInfo(GGMLType.IQ4_XS);
/**
 * block_iq4_xs { f16 d; u16 scales_h; u8 scales_l[4]; u8 qs[128] }. Eight
 * sub-blocks of 32, each laid out as one IQ4_NL block's qs. The 6-bit scale of
 * sub-block ib is nibble ib % 2 of scales_l[ib / 2] with bits 2ib..2ib+1 of
 * scales_h on top. y = (d * (ls - 32)) * kvalues[q].
 */
export function dequantizeRowIQ4_XS(src: Uint8Array, dst: Float32Array, n: number): void {
  const { blockSize: qk, typeSize } = IQ4_XS;
  const nb = n / qk;
  let y = 0;
  for (let i = 0; i < nb; i++) {
    const p = i * typeSize;
    const d = f16At(src, p);
    const scalesH = src[p + 2] | (src[p + 3] << 8);
    const scalesL = p + 4;
    let qs = p + 8;
    for (let ib = 0; ib < qk / 32; ib++) {
      const ls = ((src[scalesL + (ib >> 1)] >> (4 * (ib & 1))) & 0x0f) | (((scalesH >> (2 * ib)) & 3) << 4);
      const dl = fround(d * (ls - 32));
      for (let j = 0; j < 16; j++) {
        const b = src[qs + j];
        dst[y + j] = fround(dl * KV[b & 0x0f]);
        dst[y + j + 16] = fround(dl * KV[b >> 4]);
      }
      y += 32;
      qs += 16;
    }
  }
}
