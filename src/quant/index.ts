/** Reference (plain TypeScript, bit-exact with ggml) dequantization of ggml block types. */
export { dequantize, dequantizeRow, dequantizableTypes, isDequantizable } from './dequant.js';
export { bf16ToF32, f16ToF32, f32ToF16, roundToF16 } from './float.js';
export type { RowDequantizer } from './block.js';
export { KVALUES_IQ4NL } from './iquants.js';
export { isQuantizable, quantizableTypes, quantize, quantizeChunk, type RowQuantizer } from './quantize.js';
