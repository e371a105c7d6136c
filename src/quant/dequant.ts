/**
 * Reference dequantization: one entry point over every implemented ggml type.
 * Bit-exact with ggml's dequantize_row_* (generic build, no FMA). The per-type
 * block layouts live in float.ts, legacy.ts, kquants.ts and iquants.ts; block
 * sizes and bytes per block come from the type table in src/gguf/types.ts.
 */
import { GGMLType, ggmlType, ggmlTypeName, rowBytes } from '../gguf/types.js';
import type { RowDequantizer } from './block.js';
import { dequantizeRowBF16, dequantizeRowF16, dequantizeRowF32 } from './float.js';
import { dequantizeRowIQ4_NL, dequantizeRowIQ4_XS } from './iquants.js';
import { dequantizeRowQ2_K, dequantizeRowQ3_K, dequantizeRowQ4_K, dequantizeRowQ5_K, dequantizeRowQ6_K, dequantizeRowQ8_K } from './kquants.js';
import { dequantizeRowQ4_0, dequantizeRowQ4_1, dequantizeRowQ5_0, dequantizeRowQ5_1, dequantizeRowQ8_0 } from './legacy.js';

const DEQUANTIZERS: ReadonlyMap<number, RowDequantizer> = new Map<number, RowDequantizer>([
  [GGMLType.F32, dequantizeRowF32],
  [GGMLType.F16, dequantizeRowF16],
  [GGMLType.BF16, dequantizeRowBF16],
  [GGMLType.Q4_0, dequantizeRowQ4_0],
  [GGMLType.Q4_1, dequantizeRowQ4_1],
  [GGMLType.Q5_0, dequantizeRowQ5_0],
  [GGMLType.Q5_1, dequantizeRowQ5_1],
  [GGMLType.Q8_0, dequantizeRowQ8_0],
  [GGMLType.Q2_K, dequantizeRowQ2_K],
  [GGMLType.Q3_K, dequantizeRowQ3_K],
  [GGMLType.Q4_K, dequantizeRowQ4_K],
  [GGMLType.Q5_K, dequantizeRowQ5_K],
  [GGMLType.Q6_K, dequantizeRowQ6_K],
  [GGMLType.Q8_K, dequantizeRowQ8_K],
  [GGMLType.IQ4_NL, dequantizeRowIQ4_NL],
  [GGMLType.IQ4_XS, dequantizeRowIQ4_XS],
]);

/** Whether dequantizeRow implements the type with this id. */
export function isDequantizable(typeId: number): boolean {
  return DEQUANTIZERS.has(typeId);
}

/** Ids of every type dequantizeRow implements, ascending. */
export function dequantizableTypes(): number[] {
  return [...DEQUANTIZERS.keys()].sort((a, b) => a - b);
}

/** The type's kernel after checking the type and the sizes; RangeError naming the type otherwise. */
function checkedKernel(typeId: number, src: Uint8Array, dstLength: number, n: number): RowDequantizer {
  const kernel = DEQUANTIZERS.get(typeId);
  const info = ggmlType(typeId);
  if (!kernel || !info) {
    throw new RangeError(`cannot dequantize ${ggmlTypeName(typeId)}: type not supported by the reference dequantizer`);
  }
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new RangeError(`${info.name}: element count must be a non-negative integer, got ${n}`);
  }
  const bytes = rowBytes(info, n); // RangeError unless n is a whole number of blocks
  if (src.length < bytes) {
    throw new RangeError(`${info.name}: ${n} elements need ${bytes} bytes, source has ${src.length}`);
  }
  if (dstLength < n) {
    throw new RangeError(`${info.name}: destination holds ${dstLength} floats, need ${n}`);
  }
  return kernel;
}

/**
 * Dequantizes n elements of type typeId from the bytes at src into dst[0..n).
 * n must be a whole number of the type's blocks; src must hold at least the
 * row's bytes (n / blockSize * typeSize) and may start at any byte offset;
 * dst must hold at least n floats. Throws a RangeError naming the type for an
 * unsupported type or bad sizes.
 */
export function dequantizeRow(typeId: number, src: Uint8Array, dst: Float32Array, n: number): void {
  checkedKernel(typeId, src, dst.length, n)(src, dst, n);
}

/** Dequantizes n elements of type typeId from src into a new Float32Array. */
export function dequantize(typeId: number, src: Uint8Array, n: number): Float32Array {
  const kernel = checkedKernel(typeId, src, n, n);
  const dst = new Float32Array(n);
  kernel(src, dst, n);
  return dst;
}
