/** tsinfer: GGUF language models in pure TypeScript. Public API. */
export { loadModel, loadTokenizer, Model, type ChatMessage, type ChatOptions, type LoadModelOptions, type ModelGenerateOptions, type ModelInfo, type Tokenizer } from './model/model.js';
export type { BatchCounters } from './model/batch.js';
export type { GenerateOptions, GenerationChunk, GenerationResult, GenerationStats, FinishReason, GenerationStream } from './generate/generate.js';
export type { SamplingOptions } from './generate/sampling.js';
export type { BackendName, LoadProgress } from './kernels/index.js';
export { GGUFError, type GGUFErrorCode } from './gguf/errors.js';
export { openGGUFFrom, type ModelSource, type ReadProgress } from './gguf/open.js';
export { openGGUF, type GGUFFile, type GGUFTensorInfo, type GGUFValue } from './gguf/reader.js';
export { GGML_TYPES, ggmlType, type GGMLTypeInfo } from './gguf/types.js';
export { copyGGUF, gv, writeGGUF, type GGUFWriteOptions, type GGUFWriteTensor, type GGUFWriteValue } from './gguf/writer.js';
export { quantizeModel, QuantizeError, type QuantizeModelOptions, type QuantizeProgress, type QuantizeSummary } from './quant/quantize-model.js';
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
export { Grammar, GrammarError, JsonSchemaError, jsonSchemaToGbnf, jsonObjectGbnf, type GrammarOptions } from './generate/grammar/index.js';
export { parseToolCalls, toolCallFormat, type ParsedToolCall, type ParsedToolOutput, type ToolCallFormat } from './generate/toolcalls.js';
export { BpeTokenizer, SpmTokenizer, TokenizerError, PRE_TOKENIZER_NAMES, type DecodeOptions, type EncodeOptions } from './tokenizer/index.js';
export { renderChatTemplate, type ChatTemplateOptions } from './tokenizer/chat.js';
export { createServer, TsinferServer, type ServerOptions } from './server/server.js';

export { generate } from './model/oneshot.js';
