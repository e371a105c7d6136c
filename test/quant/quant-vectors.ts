/**
 * The ggml quantization test vectors in ../shared/reference/quant (see the
 * README.md there): one JSON file per type, each with cases whose float data
 * is base64 of little-endian float32 and whose quantized data is ggml's bytes.
 */
import { readdirSync } from 'node:fs';
import { readSharedJson, sharedPath } from '../helpers/shared.js';

export interface QuantCase {
  name: string;
  seed: number;
  nPerRow: number;
  nRows: number;
  rowDescriptions: string[];
  quantizedBytesPerRow: number;
  inputF32Base64: string;
  quantizedBase64: string;
  dequantizedF32Base64: string;
}

export interface QuantVectorFile {
  type: string;
  ggmlTypeId: number;
  blockSize: number;
  typeSize: number;
  cases: QuantCase[];
}

export const QUANT_VECTOR_DIR = ['reference', 'quant'] as const;

/** Every vector file, sorted by type id. */
export function loadQuantVectors(): QuantVectorFile[] {
  const dir = sharedPath(...QUANT_VECTOR_DIR);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => readSharedJson<QuantVectorFile>(...QUANT_VECTOR_DIR, f))
    .sort((a, b) => a.ggmlTypeId - b.ggmlTypeId);
}

/** Base64 -> bytes. The result is a Buffer (a Uint8Array that may sit at any byteOffset in a pool). */
export function decodeBytes(b64: string): Uint8Array {
  return Buffer.from(b64, 'base64');
}

/** Base64 of little-endian float32 -> their bit patterns. */
export function decodeF32Bits(b64: string): Uint32Array {
  const bytes = decodeBytes(b64);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Uint32Array(bytes.byteLength / 4);
  for (let i = 0; i < out.length; i++) out[i] = view.getUint32(i * 4, true);
  return out;
}

/** Float32 bit pattern as 0x-prefixed hex. */
export function hex32(bits: number): string {
  return '0x' + (bits >>> 0).toString(16).padStart(8, '0');
}

/**
 * Index of the first element whose float32 bits differ, or -1. `actual` is
 * compared through a bit view, so NaN payloads and -0 count.
 */
export function firstBitMismatch(expected: Uint32Array, actual: Float32Array): number {
  const bits = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  if (bits.length !== expected.length) return Math.min(bits.length, expected.length);
  for (let i = 0; i < expected.length; i++) if (bits[i] !== expected[i]) return i;
  return -1;
}
