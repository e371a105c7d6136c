/**
 * Shared pieces of the per-type dequantizers: the row-kernel signature and the
 * lookup of a type's block geometry in the one ggml type table.
 */
import { ggmlType, type GGMLTypeInfo } from '../gguf/types.js';

/**
 * Dequantizes n elements (a whole number of blocks, already checked by the
 * caller) from the bytes at src[0..) into dst[0..n). src may have any
 * byteOffset: kernels read it byte by byte.
 */
export type RowDequantizer = (src: Uint8Array, dst: Float32Array, n: number) => void;

/** The table entry of a type this module implements (its absence is a programming error). */
export function blockInfo(id: number): GGMLTypeInfo {
  const info = ggmlType(id);
  if (!info || info.removed) throw new Error(`ggml type ${id} is missing from src/gguf/types.ts`);
  return info;
}
