/** tsinfer: GGUF language models in pure TypeScript. Public API (Node entry). */
export * from './api.js';
export { copyGGUF, gv, writeGGUF, type GGUFWriteOptions, type GGUFWriteTensor, type GGUFWriteValue } from './gguf/writer.js';
export { quantizeModel, QuantizeError, type QuantizeModelOptions, type QuantizeProgress, type QuantizeSummary } from './quant/quantize-model.js';
export { createServer, TsinferServer, type ServerOptions } from './server/server.js';
