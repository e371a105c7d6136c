/**
 * The public API both entries share: src/index.ts (Node) adds the file writers and the HTTP
 * server; src/browser.ts adds the platform it runs on. test/platform/entries.test.ts checks both.
 */
export { loadModel, loadTokenizer, Model, type ChatMessage, type ChatOptions, type LoadModelOptions, type ModelGenerateOptions, type ModelInfo, type Tokenizer } from './model/model.js';
export type { BatchCounters } from './model/batch.js';
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
export { Grammar, GrammarError, JsonSchemaError, jsonSchemaToGbnf, jsonObjectGbnf, type GrammarOptions } from './generate/grammar/index.js';
export { parseToolCalls, toolCallFormat, type ParsedToolCall, type ParsedToolOutput, type ToolCallFormat } from './generate/toolcalls.js';
export {
  ChatStream,
  type AssistantMessage,
  type ChatDelta,
  type ChatToolOptions,
  type OpenAIToolCall,
  type ReasoningFormat,
  type ToolCallDelta,
  type ToolChoice,
  type ToolSpec,
} from './generate/chat.js';
export type { ReasoningBudgetOptions } from './generate/reasoning-budget.js';
export { BpeTokenizer, SpmTokenizer, TokenizerError, PRE_TOKENIZER_NAMES, type DecodeOptions, type EncodeOptions } from './tokenizer/index.js';
export { renderChatTemplate, type ChatTemplateOptions } from './tokenizer/chat.js';
export { generate } from './model/oneshot.js';
