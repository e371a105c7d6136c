/** tsinfer: GGUF language models in pure TypeScript. Public API. */
import { loadModel, Model } from './model/model.js';
import { GenerationStream, type GenerateOptions } from './generate/generate.js';
import type { ModelSource } from './gguf/open.js';

export { loadModel, loadTokenizer, Model, type ChatMessage, type ChatOptions, type LoadModelOptions, type ModelInfo, type Tokenizer } from './model/model.js';
export type { GenerateOptions, GenerationChunk, GenerationResult, GenerationStats, FinishReason, GenerationStream } from './generate/generate.js';
export type { SamplingOptions } from './generate/sampling.js';
export type { BackendName, LoadProgress } from './kernels/index.js';
export { GGUFError, type GGUFErrorCode } from './gguf/errors.js';
export { openGGUFFrom, type ModelSource, type ReadProgress } from './gguf/open.js';
export { openGGUF, type GGUFFile, type GGUFTensorInfo, type GGUFValue } from './gguf/reader.js';
export { GGML_TYPES, ggmlType, type GGMLTypeInfo } from './gguf/types.js';
export { copyGGUF, gv, writeGGUF, type GGUFWriteOptions, type GGUFWriteTensor, type GGUFWriteValue } from './gguf/writer.js';
export { quantizeModel, QuantizeError, type QuantizeModelOptions, type QuantizeProgress, type QuantizeSummary } from './quant/quantize-model.js';
export { ModelError, ContextOverflowError } from './model/errors.js';
export { AbortError } from './generate/errors.js';
export { BpeTokenizer, SpmTokenizer, TokenizerError, PRE_TOKENIZER_NAMES, type DecodeOptions, type EncodeOptions } from './tokenizer/index.js';
export { renderChatTemplate, type ChatTemplateOptions } from './tokenizer/chat.js';

/**
 * One-shot generation: `generate({ model: 'file.gguf' | url | blob | bytes | loadedModel, prompt, ...options })`.
 * Streams like `model.generate`; when given a path, the model is loaded first and disposed at the end.
 */
export function generate(args: { model: ModelSource | Model; prompt: string | number[] } & GenerateOptions): GenerationStream {
  const { model, prompt, ...opts } = args;
  if (model instanceof Model) return model.generate(prompt, opts);
  const path = model;
  // Load lazily inside the stream so errors surface through iteration / result.
  async function* run() {
    const m = await loadModel(path);
    try {
      const s = m.generate(prompt, opts);
      for await (const chunk of s) yield chunk;
      return await s.result;
    } finally {
      await m.dispose();
    }
  }
  return new GenerationStream(run());
}
