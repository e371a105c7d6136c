/**
 * A loaded model: the GGUF file, its hyperparameters and tokenizer, and a
 * backend holding the weights and KV cache. Generation calls are serialised:
 * one model runs one generation at a time.
 */
import { openGGUF, type GGUFFile } from '../gguf/reader.js';
import { createBackend, defaultBackend, type Backend, type BackendName, type LoadProgress } from '../kernels/index.js';
import { GenerationStream, generateTokens, type GenerateOptions, type GenerationEngine, type GenerationResult, type GenerationTokenizer } from '../generate/generate.js';
import { BpeTokenizer, SpmTokenizer, TokenizerError, type EncodeOptions, type DecodeOptions, type Tokenizer } from '../tokenizer/index.js';
import { StreamDecoder } from '../tokenizer/stream.js';
import { encodeChat, renderChatTemplate, templateTokens, type ChatMessage } from '../tokenizer/chat.js';
import { ModelError } from './errors.js';
import { AbortError } from '../generate/errors.js';
import type { KvCacheType } from './program.js';
import { planModel, type Hyperparameters } from './arch/index.js';
import { backendFor } from './backend-choice.js';

export interface LoadModelOptions {
  /** Default 'wasm' where the engine runs it (Node), else 'reference'. */
  backend?: BackendName;
  /** KV cache positions; default min(model's context length, 4096). */
  contextLength?: number;
  /** Most prompt tokens evaluated in one step; default 512. */
  batchSize?: number;
  /** KV cache element type, as llama.cpp's --cache-type-k/v; default 'f16' like llama.cpp. */
  kvCacheType?: KvCacheType;
  /** Compute threads of the wasm backend (main thread included); default the core count. */
  threads?: number;
  onProgress?: (p: LoadProgress) => void;
}

export interface ModelInfo {
  readonly path: string;
  readonly name: string | undefined;
  readonly architecture: string;
  readonly fileBytes: number;
  readonly parameters: number;
  readonly weightBytes: number;
  /** ggml type name → number of tensors of that type. */
  readonly tensorTypes: Record<string, number>;
  readonly hyperparameters: Hyperparameters;
  readonly contextLength: number;
  readonly backend: Record<string, string | number>;
}

export type { Tokenizer, ChatMessage };

/** Options of `Model.chat`: generation options plus the template to use. */
export interface ChatOptions extends GenerateOptions {
  /** A Jinja chat template to use instead of the model's `tokenizer.chat_template`. */
  template?: string;
  /** More template variables (tools, date_string, ...). */
  templateVariables?: Record<string, unknown>;
}

/** Builds the tokenizer described by a GGUF file's metadata: SentencePiece ("llama") or byte-level BPE ("gpt2"). */
export function tokenizerFromGGUF(file: GGUFFile, opts: { warn?: (message: string) => void } = {}): Tokenizer {
  const model = file.getString('tokenizer.ggml.model');
  if (model === undefined) throw new TokenizerError('MISSING_KEY', `${file.path ?? 'file'} has no tokenizer (metadata key tokenizer.ggml.model is missing)`);
  if (model === 'llama') return SpmTokenizer.fromMetadata((key) => file.get(key));
  if (model === 'gpt2') return BpeTokenizer.fromMetadata((key) => file.get(key), opts);
  throw new TokenizerError('UNSUPPORTED_MODEL', `tokenizer model "${model}" is not supported (supported: llama, gpt2)`);
}

/** Loads only the tokenizer of a GGUF file (works on vocabulary-only files with no tensors). */
export async function loadTokenizer(path: string, opts: { warn?: (message: string) => void } = {}): Promise<Tokenizer> {
  const file = await openGGUF(path);
  try {
    return tokenizerFromGGUF(file, opts);
  } finally {
    file.close();
  }
}

function generationTokenizer(tok: Tokenizer): GenerationTokenizer {
  return {
    encode: (text, o) => tok.encode(text, o),
    isEog: (id) => tok.isEog(id),
    createStreamDecoder: () => new StreamDecoder(tok),
    addSpacePrefix: tok.addSpacePrefix,
  };
}

export class Model {
  private queue: Promise<void> = Promise.resolve();
  private disposed = false;
  private readonly engine: GenerationEngine;

  private constructor(
    readonly info: ModelInfo,
    readonly tokenizer: Tokenizer,
    private readonly backend: Backend,
    private readonly file: GGUFFile,
  ) {
    const self = this;
    this.engine = {
      tokenizer: generationTokenizer(tokenizer),
      contextLength: info.contextLength,
      maxBatch: 0,
      vocabSize: info.hyperparameters.vocabSize,
      cachedTokens: [],
      forward(tokens, pos) {
        self.checkOpen();
        return backend.forward({ tokens, pos, allLogits: false });
      },
      // Greedy sampling on the device when the backend can (WebGPU: 4 bytes read back per token).
      forwardArgmax: backend.forwardArgmax
        ? (tokens, pos) => {
            self.checkOpen();
            return backend.forwardArgmax!({ tokens, pos, allLogits: false });
          }
        : undefined,
      // Top-k selection on the device when the backend can (WebGPU: 8k bytes read back per token).
      forwardTopK: backend.forwardTopK
        ? (tokens, pos, k) => {
            self.checkOpen();
            return backend.forwardTopK!({ tokens, pos, allLogits: false }, k);
          }
        : undefined,
      maxTopK: backend.maxTopK ?? 0,
    };
  }

  /** @internal */
  static async load(path: string, opts: LoadModelOptions = {}): Promise<Model> {
    const file = await openGGUF(path);
    try {
      const kvCacheType = opts.kvCacheType ?? 'f16';
      if (kvCacheType !== 'f16' && kvCacheType !== 'f32') throw new RangeError(`kvCacheType must be 'f16' or 'f32', got ${String(kvCacheType)}`);
      const { hyperparameters: hp, tensors, program } = planModel(file, kvCacheType);
      const backendName = backendFor(program, opts.backend, defaultBackend());
      const tokenizer = tokenizerFromGGUF(file);
      if (tokenizer.vocabSize !== hp.vocabSize) {
        throw new ModelError(`the tokenizer has ${tokenizer.vocabSize} tokens but token_embd.weight has ${hp.vocabSize} rows`);
      }
      const contextLength = opts.contextLength ?? Math.min(hp.contextLength, 4096);
      if (!Number.isInteger(contextLength) || contextLength < 1) throw new RangeError(`contextLength must be a positive integer, got ${opts.contextLength}`);
      const batchSize = opts.batchSize ?? 512;
      if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${opts.batchSize}`);
      const maxBatch = Math.min(batchSize, contextLength);
      const backend = createBackend(backendName, { threads: opts.threads });
      await backend.init({ file, program, contextLength, maxBatch, onProgress: opts.onProgress });
      const tensorTypes: Record<string, number> = {};
      for (const t of file.tensors) tensorTypes[t.type.name] = (tensorTypes[t.type.name] ?? 0) + 1;
      const info: ModelInfo = {
        path,
        name: file.getString('general.name'),
        architecture: hp.architecture,
        fileBytes: file.size,
        parameters: tensors.reduce((s, t) => s + t.nElements, 0),
        weightBytes: tensors.reduce((s, t) => s + t.nBytes, 0),
        tensorTypes,
        hyperparameters: hp,
        contextLength,
        backend: backend.describe(),
      };
      const model = new Model(info, tokenizer, backend, file);
      (model.engine as { maxBatch: number }).maxBatch = maxBatch;
      return model;
    } catch (e) {
      file.close();
      throw e;
    }
  }

  private checkOpen(): void {
    if (this.disposed) throw new ModelError('the model has been disposed');
  }

  /** Resolves, once every earlier user of the model has released it, with the function that releases it. */
  private acquire(): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const prev = this.queue;
    this.queue = prev.then(() => held);
    return prev.then(() => release);
  }

  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire();
    try {
      return await fn();
    } finally {
      release();
    }
  }

  /** Streams generated text: `for await (const { text } of model.generate(prompt))`; `.result` has the final text and stats. */
  generate(prompt: string | number[], opts: GenerateOptions = {}): GenerationStream {
    this.checkOpen();
    const engine = this.engine;
    const acquire = () => this.acquire();
    // The model is taken when iteration starts, so a stream that is never read holds nothing.
    async function* run() {
      const release = await acquire();
      try {
        return yield* generateTokens(engine, prompt, opts);
      } catch (e) {
        // A failed step leaves the cache in an unknown state (an abort happens between steps: the cache is whole).
        if (!(e instanceof RangeError || e instanceof AbortError)) engine.cachedTokens.length = 0;
        throw e;
      } finally {
        release();
      }
    }
    return new GenerationStream(run());
  }

  /** Generates to the end and returns the text, token ids and stats. */
  complete(prompt: string | number[], opts: GenerateOptions = {}): Promise<GenerationResult> {
    return this.generate(prompt, opts).result;
  }

  /**
   * Logits for every position of a token sequence (row k predicts the token after position k),
   * evaluated from an empty cache. For scoring and tests; returns positions × vocab floats.
   */
  async evaluate(tokens: number[]): Promise<Float32Array> {
    this.checkOpen();
    const vocab = this.info.hyperparameters.vocabSize;
    if (tokens.length === 0) throw new RangeError('evaluate needs at least one token');
    if (tokens.length > this.info.contextLength) throw new RangeError(`${tokens.length} tokens do not fit in the context of ${this.info.contextLength}`);
    return this.exclusive(async () => {
      const out = new Float32Array(tokens.length * vocab);
      const maxBatch = this.engine.maxBatch;
      this.engine.cachedTokens.length = 0;
      for (let pos = 0; pos < tokens.length; pos += maxBatch) {
        const batch = tokens.slice(pos, pos + maxBatch);
        const logits = await this.backend.forward({ tokens: Int32Array.from(batch), pos, allLogits: true });
        out.set(logits, pos * vocab);
        this.engine.cachedTokens.push(...batch);
      }
      return out;
    });
  }

  tokenize(text: string, opts?: EncodeOptions): number[] {
    return this.tokenizer.encode(text, opts);
  }

  detokenize(ids: readonly number[], opts?: DecodeOptions): string {
    return this.tokenizer.decode(ids, opts);
  }

  /** The model's chat template (`tokenizer.chat_template`), if it has one. */
  get chatTemplate(): string | undefined {
    return this.file.getString('tokenizer.chat_template');
  }

  private template(given: string | undefined): string {
    const t = given ?? this.chatTemplate;
    if (t === undefined) {
      throw new TokenizerError('NO_CHAT_TEMPLATE', `${this.info.path} has no chat template (tokenizer.chat_template); pass one with { template }`);
    }
    return t;
  }

  /**
   * Renders the conversation with the chat template as Hugging Face's apply_chat_template does
   * (bos_token/eos_token are this model's). `addGenerationPrompt` defaults to false, as there.
   */
  applyChatTemplate(
    messages: readonly ChatMessage[],
    opts: { addGenerationPrompt?: boolean; template?: string; templateVariables?: Record<string, unknown> } = {},
  ): string {
    return renderChatTemplate(this.template(opts.template), messages, {
      ...templateTokens(this.tokenizer),
      addGenerationPrompt: opts.addGenerationPrompt ?? false,
      variables: opts.templateVariables,
    });
  }

  /**
   * Streams the assistant's reply to a conversation: the template is rendered with the
   * generation prompt, its markup tokenized with special tokens and the message contents as
   * plain text. Takes the same options as `generate` (plus `template`); the KV cache is reused
   * for the part of the conversation it already holds.
   */
  chat(messages: readonly ChatMessage[], opts: ChatOptions = {}): GenerationStream {
    this.checkOpen();
    const { template, templateVariables, ...gen } = opts;
    const ids = encodeChat(this.tokenizer, this.template(template), messages, {
      addGenerationPrompt: true,
      variables: templateVariables,
      addSpecial: gen.addSpecial,
    });
    return this.generate(ids, gen);
  }

  /** Frees the weights and cache. Waits for a running generation to end. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    await this.queue;
    this.disposed = true;
    this.backend.dispose();
    this.file.close();
  }
}

export function loadModel(path: string, opts?: LoadModelOptions): Promise<Model> {
  return Model.load(path, opts);
}
