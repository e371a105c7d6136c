/** Codes for every way a GGUF file can be rejected. */
export type GGUFErrorCode =
  | 'BAD_MAGIC'
  | 'UNSUPPORTED_VERSION'
  | 'BIG_ENDIAN'
  | 'TRUNCATED'
  | 'BAD_COUNT'
  | 'BAD_STRING'
  | 'BAD_VALUE_TYPE'
  | 'NESTING_TOO_DEEP'
  | 'DUPLICATE_KEY'
  | 'BAD_ALIGNMENT'
  | 'BAD_DIMS'
  | 'UNKNOWN_TYPE'
  | 'BAD_SHAPE'
  | 'DUPLICATE_TENSOR'
  | 'MISALIGNED_TENSOR'
  | 'TENSOR_OUT_OF_BOUNDS'
  | 'WRONG_VALUE_TYPE'
  | 'IO';

/** Any failure to read a GGUF file: a code, a message naming the key or tensor, and the byte offset. */
export class GGUFError extends Error {
  override readonly name = 'GGUFError';
  constructor(
    readonly code: GGUFErrorCode,
    message: string,
    /** Byte offset in the file where the problem was found. */
    readonly offset: number,
    readonly path?: string,
  ) {
    super(`${message} (at byte ${offset}${path ? ` of ${path}` : ''})`);
  }
}
