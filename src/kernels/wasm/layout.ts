/**
 * The byte layout of every block the WASM kernels read: the ggml weight types
 * they have kernels for, ggml's Q8_K activation block and this backend's own
 * Q8A activation block. Fields are listed in order; offsets are their running
 * sums, so no offset is written by hand. scripts/build-wasm.mjs checks every
 * ggml type's total against the ggml type table (src/gguf/types.ts) and
 * generates the AssemblyScript constants (TYPE_Q4_K, Q4_K_BYTES, Q4_K_QS, ...)
 * into assembly/generated/layout.ts; the host (backend.ts, selftest.ts) reads
 * the same table.
 *
 * This file imports nothing: the build script evaluates it before tsc runs.
 */

export type FieldKind = 'f16' | 'f32' | 'u8' | 'i8' | 'i16';
/** [name, element kind, element count] */
export type BlockField = readonly [name: string, kind: FieldKind, count: number];

export interface BlockLayout {
  /** Elements per block. */
  readonly elements: number;
  readonly fields: readonly BlockField[];
}

const KIND_BYTES: Record<FieldKind, number> = { f16: 2, f32: 4, u8: 1, i8: 1, i16: 2 };

/** Block layouts by ggml type name (and Q8A, which is not a ggml type). */
export const BLOCK_LAYOUTS = {
  Q4_0: {
    elements: 32,
    fields: [
      ['d', 'f16', 1],
      ['qs', 'u8', 16],
    ],
  },
  Q4_1: {
    elements: 32,
    fields: [
      ['d', 'f16', 1],
      ['m', 'f16', 1],
      ['qs', 'u8', 16],
    ],
  },
  Q5_0: {
    elements: 32,
    fields: [
      ['d', 'f16', 1],
      ['qh', 'u8', 4],
      ['qs', 'u8', 16],
    ],
  },
  Q5_1: {
    elements: 32,
    fields: [
      ['d', 'f16', 1],
      ['m', 'f16', 1],
      ['qh', 'u8', 4],
      ['qs', 'u8', 16],
    ],
  },
  Q8_0: {
    elements: 32,
    fields: [
      ['d', 'f16', 1],
      ['qs', 'i8', 32],
    ],
  },
  Q2_K: {
    elements: 256,
    fields: [
      ['scales', 'u8', 16],
      ['qs', 'u8', 64],
      ['d', 'f16', 1],
      ['dmin', 'f16', 1],
    ],
  },
  Q3_K: {
    elements: 256,
    fields: [
      ['hmask', 'u8', 32],
      ['qs', 'u8', 64],
      ['scales', 'u8', 12],
      ['d', 'f16', 1],
    ],
  },
  Q4_K: {
    elements: 256,
    fields: [
      ['d', 'f16', 1],
      ['dmin', 'f16', 1],
      ['scales', 'u8', 12],
      ['qs', 'u8', 128],
    ],
  },
  Q5_K: {
    elements: 256,
    fields: [
      ['d', 'f16', 1],
      ['dmin', 'f16', 1],
      ['scales', 'u8', 12],
      ['qh', 'u8', 32],
      ['qs', 'u8', 128],
    ],
  },
  Q6_K: {
    elements: 256,
    fields: [
      ['ql', 'u8', 128],
      ['qh', 'u8', 64],
      ['scales', 'i8', 16],
      ['d', 'f16', 1],
    ],
  },
  /**
   * This backend's storage of a Q5_0 matrix for the relaxed kernels (backend.ts expands Q5_0 at load):
   * the same d, and each weight's 5-bit q (0..31) as one unsigned byte, each 16-weight half in the
   * kernels' lanePerm order, so the relaxed int8 dot takes them as they are.
   */
  Q5_0U: {
    elements: 32,
    fields: [
      ['d', 'f16', 1],
      ['qs', 'u8', 32],
    ],
  },
  /** The same for Q5_1 (Q5_1U): d, m and each weight's 5-bit q as one unsigned byte, halves in lanePerm order. */
  Q5_1U: {
    elements: 32,
    fields: [
      ['d', 'f16', 1],
      ['m', 'f16', 1],
      ['qs', 'u8', 32],
    ],
  },
  /** ggml's block_q8_K: the K-quants' activations. */
  Q8_K: {
    elements: 256,
    fields: [
      ['d', 'f32', 1],
      ['qs', 'i8', 256],
      ['bsums', 'i16', 16],
    ],
  },
  /**
   * This backend's activation block for the 32-element types: d = amax/127 and
   * s = d·Σq, both rounded to half precision as in ggml's block_q8_0 / q8_1.
   * A row's blocks are followed by every block's extras (Q8A_EXTRA_BYTES each).
   */
  Q8A: {
    elements: 32,
    fields: [
      ['d', 'f32', 1],
      ['s', 'f32', 1],
      ['qs', 'i8', 32],
    ],
  },
} as const satisfies Record<string, BlockLayout>;

export type BlockName = keyof typeof BLOCK_LAYOUTS;

/**
 * Type ids of the storage formats that are this backend's own (not in ggml's table), as the matmul and
 * dequantization switches take them: above every ggml id, so no file's type is ever taken for one.
 */
export const INTERNAL_TYPE_IDS = { Q5_0U: 256, Q5_1U: 257 } as const;
/**
 * The byte order of a Q5_0U half (and of the relaxed kernels' operands): element perm[k] at byte k.
 * assembly/util.ts's lanePerm uses the same order (K_LANE_PERM); wasm-relaxed.test.ts fails if they differ.
 */
export const LANE_PERM = [0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15] as const;

/**
 * The reference for the module's expandQ5 (what the backend runs at load; tests compare their bytes): nb Q5_0
 * (Q5_1) file blocks at the end of buf rewritten from byte 0 as `form`: 'q8_0' (Q5_0 only: Q8_0 blocks, the
 * same d and q - 16 as int8 in element order, so they dequantize and multiply to the same values) or 'bytes'
 * (Q5_0U / Q5_1U: the same d (and m), each 5-bit q as an unsigned byte, halves in LANE_PERM order). Forward in
 * place: expanded block i ends at or before the start of the file's block i + 1.
 */
export function expandQ5Reference(buf: Uint8Array, nb: number, type: 'Q5_0' | 'Q5_1', form: 'bytes' | 'q8_0'): void {
  if (form === 'q8_0' && type !== 'Q5_0') throw new RangeError('expandQ5Reference: only Q5_0 has a Q8_0 form');
  const from = blockOffsets(type);
  const to = blockOffsets(form === 'q8_0' ? 'Q8_0' : type === 'Q5_0' ? 'Q5_0U' : 'Q5_1U');
  const head = to.offsets.qs!; // d (and m), where the file's block has them
  const qhAt = from.offsets.qh!,
    qsAt = from.offsets.qs!;
  const src0 = buf.length - nb * from.bytes;
  if (buf.length < nb * to.bytes || src0 < nb * (to.bytes - from.bytes))
    throw new RangeError(`expandQ5Reference: ${buf.length} bytes do not hold ${nb} expanded ${type} blocks with the file's blocks at their end`);
  const blk = new Uint8Array(from.bytes);
  const q = new Uint8Array(32);
  for (let i = 0; i < nb; i++) {
    const s = src0 + i * from.bytes;
    for (let k = 0; k < from.bytes; k++) blk[k] = buf[s + k]!;
    const qh = (blk[qhAt]! | (blk[qhAt + 1]! << 8) | (blk[qhAt + 2]! << 16) | (blk[qhAt + 3]! << 24)) >>> 0;
    for (let j = 0; j < 16; j++) {
      const b = blk[qsAt + j]!;
      q[j] = (b & 0x0f) | (((qh >>> j) & 1) << 4);
      q[j + 16] = (b >> 4) | (((qh >>> (j + 16)) & 1) << 4);
    }
    const p = i * to.bytes;
    for (let k = 0; k < head; k++) buf[p + k] = blk[k]!;
    for (let k = 0; k < 32; k++) {
      buf[p + head + k] = form === 'q8_0' ? (q[k]! - 16) & 0xff : q[(k & 16) + LANE_PERM[k & 15]!]!;
    }
  }
}

/**
 * Bytes per block after a Q8A row's blocks, computed once per token for the kernels of every weight row:
 * the block's 32 quants as i16 (64 bytes, the baseline kernels), then for the relaxed kernels the 32 quants
 * in lanePerm order (32 bytes) and their pair sums as eight i16 (16 bytes: lane j sums the lanePerm-ordered
 * quants 2j, 2j+1, 16+2j, 17+2j; times the weights' offset they are what the offset takes off).
 */
export const Q8A_EXTRA_BYTES = 112;

/** Byte offset of each field of a block, and the block's size. */
export function blockOffsets(name: BlockName): { bytes: number; offsets: Record<string, number>; kinds: Record<string, FieldKind> } {
  let at = 0;
  const offsets: Record<string, number> = {};
  const kinds: Record<string, FieldKind> = {};
  for (const [field, kind, count] of BLOCK_LAYOUTS[name].fields as readonly BlockField[]) {
    offsets[field] = at;
    kinds[field] = kind;
    at += KIND_BYTES[kind] * count;
  }
  return { bytes: at, offsets, kinds };
}

/** Offsets of a block's half-precision fields (the scales). */
export function f16Fields(name: BlockName): number[] {
  const { offsets, kinds } = blockOffsets(name);
  return Object.keys(offsets)
    .filter((f) => kinds[f] === 'f16')
    .map((f) => offsets[f]!);
}
