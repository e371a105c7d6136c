/**
 * A loaded model: the GGUF file, its hyperparameters and tokenizer, and a
 * backend holding the weights and KV cache. The cache holds `sequences`
 * sequences (default 1): that many generate() calls run at once, their steps
 * batched into one forward pass (model/batch.ts); more calls wait for a free one.
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
import { StepScheduler, type BatchCounters, type Sequence } from './batch.js';
import { buildLlamaProgram, checkLlamaTensors, llamaHyperparameters, type LlamaHyperparameters } from './llama.js';

export interface LoadModelOptions {
  /** Default 'wasm' where the engine runs it (Node), else 'reference'. */
  backend?: BackendName;
  /** KV cache positions; default min(model's context length, 4096). */
  contextLength?: number;
  /** Most prompt tokens evaluated in one step; default 512. */
  batchSize?: number;
  /** KV cache element type, as llama.cpp's --cache-type-k/v; default 'f16' like llama.cpp. */
  kvCacheType?: KvCacheType;
  /**
   * Sequences the KV cache holds (default 1), each of contextLength positions: concurrent
   * generate() calls on the model, up to this many, are decoded together in one forward pass
   * per step. A backend without multi-sequence steps holds one (see ModelInfo.sequences).
   */
  sequences?: number;
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
  readonly hyperparameters: LlamaHyperparameters;
  readonly contextLength: number;
  /** Sequences the KV cache holds: generations that run at once, batched. */
  readonly sequences: number;
  readonly backend: Record<string, string | number>;
}

/** Options of `Model.generate`: generation options plus the sequence to run on. */
export interface ModelGenerateOptions extends GenerateOptions {
  /** The cache sequence to use (0 <= sequence < info.sequences); default the free one sharing the longest prefix with the prompt. */
  sequence?: number;
}

export type { Tokenizer, ChatMessage };

/** Options of `Model.chat`: generation options plus the template to use. */
export interface ChatOptions extends ModelGenerateOptions {
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
  private disposed = false;
  private readonly scheduler: StepScheduler;

  private constructor(
    readonly info: ModelInfo,
    readonly tokenizer: Tokenizer,
    private readonly backend: Backend,
    private readonly file: GGUFFile,
    private readonly maxBatch: number,
  ) {
    this.scheduler = new StepScheduler(backend, info.sequences, maxBatch, info.hyperparameters.vocabSize);
  }

  /** Steps run and what they carried, since load (multi-sequence steps are the batched ones). */
  get batchCounters(): Readonly<BatchCounters> {
    return this.scheduler.counters;
  }

  /** The generate loop's view of one held sequence: its cached tokens, and steps through the scheduler. */
  private engineFor(seq: Sequence): GenerationEngine {
    const self = this;
    const sched = this.scheduler;
    const b = this.backend;
    // With one sequence every step is single-sequence: the backend's device-side argmax / top-k apply;
    // in a batched step the scheduler takes them from the logits row.
    return {
      tokenizer: generationTokenizer(this.tokenizer),
      contextLength: this.info.contextLength,
      maxBatch: this.maxBatch,
      vocabSize: this.info.hyperparameters.vocabSize,
      get cachedTokens() {
        return seq.tokens;
      },
      set cachedTokens(v: number[]) {
        seq.tokens = v;
      },
      forward(tokens, pos) {
        self.checkOpen();
        return sched.submit(seq, tokens, pos, { kind: 'logits' });
      },
      forwardArgmax: b.forwardArgmax || this.info.sequences > 1
        ? (tokens, pos) => {
            self.checkOpen();
            return sched.submit(seq, tokens, pos, { kind: 'argmax' });
          }
        : undefined,
      forwardTopK: b.forwardTopK
        ? (tokens, pos, k) => {
            self.checkOpen();
            return sched.submit(seq, tokens, pos, { kind: 'topk', k });
          }
        : undefined,
      maxTopK: b.maxTopK ?? 0,
    };
  }

  /** @internal */
  static async load(path: string, opts: LoadModelOptions = {}): Promise<Model> {
    const backendName = opts.backend ?? defaultBackend();
    const file = await openGGUF(path);
    try {
      const hp = llamaHyperparameters(file);
      const tensors = checkLlamaTensors(file, hp);
      const tokenizer = tokenizerFromGGUF(file);
      if (tokenizer.vocabSize !== hp.vocabSize) {
        throw new ModelError(`the tokenizer has ${tokenizer.vocabSize} tokens but token_embd.weight has ${hp.vocabSize} rows`);
      }
      const contextLength = opts.contextLength ?? Math.min(hp.contextLength, 4096);
      if (!Number.isInteger(contextLength) || contextLength < 1) throw new RangeError(`contextLength must be a positive integer, got ${opts.contextLength}`);
      const batchSize = opts.batchSize ?? 512;
      if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${opts.batchSize}`);
      const maxBatch = Math.min(batchSize, contextLength);
      const kvCacheType = opts.kvCacheType ?? 'f16';
      if (kvCacheType !== 'f16' && kvCacheType !== 'f32') throw new RangeError(`kvCacheType must be 'f16' or 'f32', got ${String(kvCacheType)}`);
      const program = buildLlamaProgram(hp, kvCacheType);
      const backend = createBackend(backendName, { threads: opts.threads });
      const asked = opts.sequences ?? 1;
      if (!Number.isInteger(asked) || asked < 1) throw new RangeError(`sequences must be a positive integer, got ${opts.sequences}`);
      // A backend without multi-sequence steps holds one sequence: generations are then serialised.
      const sequences = Math.min(asked, backend.maxSequences);
      await backend.init({ file, program, contextLength, maxBatch, sequences, onProgress: opts.onProgress });
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
        sequences,
        backend: backend.describe(),
      };
      return new Model(info, tokenizer, backend, file, maxBatch);
    } catch (e) {
      file.close();
      throw e;
    }
  }

  private checkOpen(): void {
    if (this.disposed) throw new ModelError('the model has been disposed');
  }

  /** Streams generated text: `for await (const { text } of model.generate(prompt))`; `.result` has the final text and stats. */
  generate(prompt: string | number[], opts: ModelGenerateOptions = {}): GenerationStream {
    this.checkOpen();
    const { sequence, ...gen } = opts;
    const sched = this.scheduler;
    const tokenizer = this.tokenizer;
    const engineFor = (s: Sequence) => this.engineFor(s);
    // A sequence is taken when iteration starts, so a stream that is never read holds nothing.
    async function* run() {
      // The prompt's ids choose the sequence whose cache shares most of it (generateTokens encodes it the same way).
      const ids = typeof prompt === 'string' ? tokenizer.encode(prompt, { addSpecial: gen.addSpecial ?? true, parseSpecial: gen.parseSpecial ?? false }) : prompt;
      const seq = await sched.acquire(ids, sequence, gen.signal);
      const engine = engineFor(seq);
      try {
        return yield* generateTokens(engine, prompt, gen);
      } catch (e) {
        // A failed step leaves the cache in an unknown state (an abort happens between steps: the cache is whole).
        if (!(e instanceof RangeError || e instanceof AbortError)) seq.tokens = [];
        throw e;
      } finally {
        sched.release(seq);
      }
    }
    return new GenerationStream(run());
  }

  /** Generates to the end and returns the text, token ids and stats. */
  complete(prompt: string | number[], opts: ModelGenerateOptions = {}): Promise<GenerationResult> {
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
    const seq = await this.scheduler.acquire(tokens);
    try {
      const out = new Float32Array(tokens.length * vocab);
      seq.tokens = [];
      for (let pos = 0; pos < tokens.length; pos += this.maxBatch) {
        const batch = tokens.slice(pos, pos + this.maxBatch);
        const logits = await this.scheduler.submit(seq, Int32Array.from(batch), pos, { kind: 'logits', allLogits: true });
        out.set(logits, pos * vocab);
        seq.tokens.push(...batch);
      }
      return out;
    } catch (e) {
      seq.tokens = [];
      throw e;
    } finally {
      this.scheduler.release(seq);
    }
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
    await this.scheduler.idle();
    this.disposed = true;
    this.backend.dispose();
    this.file.close();
  }
}

export function loadModel(path: string, opts?: LoadModelOptions): Promise<Model> {
  return Model.load(path, opts);
}
