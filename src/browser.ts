/**
 * tsinfer in a browser: the public API of ./index.ts without the Node-only file
 * writers (writeGGUF, copyGGUF, quantizeModel: they write files by path) and the
 * HTTP server (createServer: node:http). Built
 * into one ES module by scripts/build-browser.mjs (dist/tsinfer.browser.js), with
 * the browser platform (src/platform/browser.ts), the WASM binaries and the worker
 * script inside. test/platform/entries.test.ts checks that this list and index.ts agree.
 *
 * In a browser, loadModel takes a URL (fetched, with download progress), a Blob or
 * File (e.g. from <input type=file>), or bytes. The wasm backend runs threads when
 * the page is cross-origin isolated (COOP/COEP headers); without SharedArrayBuffer
 * the default backend is 'reference', and 'webgpu' needs navigator.gpu.
 */
export { loadModel, loadTokenizer, Model, type ChatMessage, type ChatOptions, type LoadModelOptions, type ModelGenerateOptions, type ModelInfo, type Tokenizer } from './model/model.js';
export type { BatchCounters } from './model/batch.js';
export { generate } from './model/oneshot.js';
export type { GenerateOptions, GenerationChunk, GenerationResult, GenerationStats, FinishReason, GenerationStream } from './generate/generate.js';
export type { SamplingOptions } from './generate/sampling.js';
export type { BackendName, LoadProgress } from './kernels/index.js';
export { GGUFError, type GGUFErrorCode } from './gguf/errors.js';
export { openGGUFFrom, type ModelSource, type ReadProgress } from './gguf/open.js';
export { openGGUF, type GGUFFile, type GGUFTensorInfo, type GGUFValue } from './gguf/reader.js';
export { GGML_TYPES, ggmlType, type GGMLTypeInfo } from './gguf/types.js';
export { dequantize, quantize } from './quant/index.js';
export { ModelError, ContextOverflowError } from './model/errors.js';
export {
  ScoringError,
  openLogProbsFile,
  type PerplexityOptions,
  type PerplexityResult,
  type PerplexityProgress,
  type KlDivergenceOptions,
  type KlDivergenceResult,
  type LogProbsFile,
  type ByteSink,
  type Estimate,
} from './model/scoring.js';
export type { EmbedOptions, Pooling } from './model/embed.js';
export type { TokenLogprob, GeneratedTokenLogprob } from './generate/logprobs.js';
export { AbortError } from './generate/errors.js';
export { parseToolCalls, toolCallFormat, type ParsedToolCall, type ParsedToolOutput, type ToolCallFormat } from './generate/toolcalls.js';
export { Grammar, GrammarError, JsonSchemaError, jsonSchemaToGbnf, jsonObjectGbnf, type GrammarOptions } from './generate/grammar/index.js';
export { BpeTokenizer, SpmTokenizer, TokenizerError, PRE_TOKENIZER_NAMES, type DecodeOptions, type EncodeOptions } from './tokenizer/index.js';
export { renderChatTemplate, type ChatTemplateOptions } from './tokenizer/chat.js';
/** Where this build runs ('browser' here), and what the platform seam reports (cores). */
export { platform } from './platform/index.js';
