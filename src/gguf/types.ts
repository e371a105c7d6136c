/**
 * The one table of ggml tensor types. Every other module (reader, writer,
 * quantizers, kernels, memory planner) reads block sizes and bytes per block
 * from here; nobody hard-codes 34 or 144 elsewhere.
 *
 * `blockSize` is the number of elements per block, `typeSize` the bytes per
 * block (ggml_blck_size / ggml_type_size). A row of n elements occupies
 * n / blockSize * typeSize bytes. Ids that ggml retired are listed as
 * `removed` so errors can still name them.
 */

export interface GGMLTypeInfo {
  readonly id: number;
  readonly name: string;
  readonly blockSize: number;
  readonly typeSize: number;
  /** Dequantization is implemented in src/quant (reference). */
  readonly dequantizable: boolean;
  /** Type id retired by ggml; a file that uses it cannot be read. */
  readonly removed?: boolean;
}

function t(id: number, name: string, blockSize: number, typeSize: number, dequantizable = false): GGMLTypeInfo {
  return { id, name, blockSize, typeSize, dequantizable };
}
function removed(id: number, name: string): GGMLTypeInfo {
  return { id, name, blockSize: 0, typeSize: 0, dequantizable: false, removed: true };
}

export const GGML_TYPES: readonly GGMLTypeInfo[] = [
  t(0, 'F32', 1, 4, true),
  t(1, 'F16', 1, 2, true),
  t(2, 'Q4_0', 32, 18, true),
  t(3, 'Q4_1', 32, 20, true),
  removed(4, 'Q4_2'),
  removed(5, 'Q4_3'),
  t(6, 'Q5_0', 32, 22, true),
  t(7, 'Q5_1', 32, 24, true),
  t(8, 'Q8_0', 32, 34, true),
  t(9, 'Q8_1', 32, 36),
  t(10, 'Q2_K', 256, 84, true),
  t(11, 'Q3_K', 256, 110, true),
  t(12, 'Q4_K', 256, 144, true),
  t(13, 'Q5_K', 256, 176, true),
  t(14, 'Q6_K', 256, 210, true),
  t(15, 'Q8_K', 256, 292, true),
  t(16, 'IQ2_XXS', 256, 66),
  t(17, 'IQ2_XS', 256, 74),
  t(18, 'IQ3_XXS', 256, 98),
  t(19, 'IQ1_S', 256, 50),
  t(20, 'IQ4_NL', 32, 18, true),
  t(21, 'IQ3_S', 256, 110),
  t(22, 'IQ2_S', 256, 82),
  t(23, 'IQ4_XS', 256, 136, true),
  t(24, 'I8', 1, 1),
  t(25, 'I16', 1, 2),
  t(26, 'I32', 1, 4),
  t(27, 'I64', 1, 8),
  t(28, 'F64', 1, 8),
  t(29, 'IQ1_M', 256, 56),
  t(30, 'BF16', 1, 2, true),
  removed(31, 'Q4_0_4_4'),
  removed(32, 'Q4_0_4_8'),
  removed(33, 'Q4_0_8_8'),
  t(34, 'TQ1_0', 256, 54),
  t(35, 'TQ2_0', 256, 66),
  removed(36, 'IQ4_NL_4_4'),
  removed(37, 'IQ4_NL_4_8'),
  removed(38, 'IQ4_NL_8_8'),
  t(39, 'MXFP4', 32, 17),
];

const BY_NAME = new Map(GGML_TYPES.map((x) => [x.name, x]));

/** Named ids for the types code refers to directly. */
export const GGMLType = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q4_1: 3,
  Q5_0: 6,
  Q5_1: 7,
  Q8_0: 8,
  Q8_1: 9,
  Q2_K: 10,
  Q3_K: 11,
  Q4_K: 12,
  Q5_K: 13,
  Q6_K: 14,
  Q8_K: 15,
  IQ4_NL: 20,
  IQ4_XS: 23,
  I8: 24,
  I16: 25,
  I32: 26,
  I64: 27,
  F64: 28,
  BF16: 30,
} as const;

/** The table entry for a type id, or undefined when the id is unknown. */
export function ggmlType(id: number): GGMLTypeInfo | undefined {
  const info = GGML_TYPES[id];
  return info && info.id === id ? info : undefined;
}

export function ggmlTypeByName(name: string): GGMLTypeInfo | undefined {
  return BY_NAME.get(name.toUpperCase());
}

/** Name for messages: "Q4_K", or "unknown type 77". */
export function ggmlTypeName(id: number): string {
  return ggmlType(id)?.name ?? `unknown type ${id}`;
}

/** Bytes a row of `n` elements occupies; throws if n is not a whole number of blocks. */
export function rowBytes(info: GGMLTypeInfo, n: number): number {
  if (info.blockSize === 0 || n % info.blockSize !== 0) {
    throw new RangeError(`row of ${n} elements is not a multiple of ${info.name}'s block size ${info.blockSize}`);
  }
  return (n / info.blockSize) * info.typeSize;
}
