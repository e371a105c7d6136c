/**
 * A loaded model: the GGUF file, its hyperparameters and tokenizer, and a
 * backend holding the weights and KV cache. The cache holds `sequences`
 * sequences (default 1): that many generate() calls run at once, their steps
 * batched into one forward pass (model/batch.ts); more calls wait for a free one.
 */
import type { GGUFFile } from '../gguf/reader.js';
import { openGGUFFrom, sourceName, type ModelSource } from '../gguf/open.js';
import { createBackend, defaultBackend, type Backend, type BackendName, type BackendOptions, type LoadProgress } from '../kernels/index.js';
import { GenerationStream, generateTokens, type GenerateOptions, type GenerationEngine, type GenerationResult, type GenerationTokenizer } from '../generate/generate.js';
import { BPE_MODELS, BpeTokenizer, SpmTokenizer, TokenizerError, WpmTokenizer, type EncodeOptions, type DecodeOptions, type Tokenizer } from '../tokenizer/index.js';
import { StreamDecoder } from '../tokenizer/stream.js';
import { renderChatTemplate, templateTokens, type ChatMessage } from '../tokenizer/chat.js';
import { ChatStream, prepareChat, type ChatToolOptions } from '../generate/chat.js';
import { AbortError } from '../generate/errors.js';
import { ContextOverflowError, ModelError } from './errors.js';
import type { KvCacheType } from './program.js';
import {
  klDivergence,
  perplexityOfTokens,
  type KlDivergenceOptions,
  type KlDivergenceResult,
  type LogProbsFile,
  type PerplexityOptions,
  type PerplexityResult,
  type ScoringEngine,
} from './scoring.js';
import { checkPooling, filePooling, hiddenStateProgram, pool, type EmbedOptions, type Pooling } from './embed.js';
import { StepScheduler, type BatchCounters, type Sequence } from './batch.js';
import { planModel, type Hyperparameters } from './arch/index.js';

export interface LoadModelOptions {
  /**
   * Default 'wasm' where the engine runs it (Node), else 'reference'. When the default backend
   * cannot run a model the engine supports (say a head size the wasm kernels do not take), the
   * reference backend runs it and `onWarning` says so; a backend named here never falls back.
   */
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
  /**
   * wasm backend: one-pass flash attention (online softmax, f32 weights) instead of llama.cpp's
   * non-flash numerics (default false). A RangeError with another backend named.
   */
  flashAttention?: boolean;
  /**
   * webgpu backend: use the adapter's `shader-f16` when it has it (default true); false keeps
   * the path without f16. A RangeError with another backend named.
   */
  shaderF16?: boolean;
  onProgress?: (p: LoadProgress) => void;
  /** One-line notices (the fallback from the default backend); default console.warn. */
  onWarning?: (message: string) => void;
  /**
   * Load for embeddings (as llama.cpp's --embedding): the backend returns the hidden state after
   * output_norm instead of logits; `embed` works and generation/scoring do not.
   */
  embeddings?: boolean;
}

/** A signal that aborts when either does (AbortSignal.any where the runtime has it: Node >= 20.3). */
function eitherSignal(a: AbortSignal, b: AbortSignal): AbortSignal {
  if (typeof AbortSignal.any === 'function') return AbortSignal.any([a, b]);
  const both = new AbortController();
  for (const s of [a, b]) {
    if (s.aborted) both.abort(s.reason);
    else s.addEventListener('abort', () => both.abort(s.reason), { once: true });
  }
  return both.signal;
}

/** The backend options of LoadModelOptions, checked against the backend that takes each. */
function backendOptions(name: BackendName, opts: LoadModelOptions, explicit: boolean): BackendOptions {
  const only: [keyof LoadModelOptions, BackendName][] = [
    ['flashAttention', 'wasm'],
    ['shaderF16', 'webgpu'],
  ];
  for (const [key, owner] of only) {
    if (opts[key] !== undefined && typeof opts[key] !== 'boolean') throw new RangeError(`${key} must be a boolean, got ${String(opts[key])}`);
    if (explicit && opts[key] !== undefined && name !== owner) throw new RangeError(`${key} is an option of the ${owner} backend, not of ${name}`);
  }
  return { threads: opts.threads, flashAttention: opts.flashAttention, shaderF16: opts.shaderF16 };
}

export interface ModelInfo {
  /** The path or URL the model came from (a File's name, or a description of a Blob or bytes). */
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

/** Options of `Model.chat`: generation options, tools and reasoning (generate/chat.ts), and the template to use. */
export interface ChatOptions extends Omit<ModelGenerateOptions, 'reasoningBudget'>, ChatToolOptions {
  /** A Jinja chat template to use instead of the model's `tokenizer.chat_template`. */
  template?: string;
  /** More template variables (tools, date_string, ...). */
  templateVariables?: Record<string, unknown>;
}

/** Builds the tokenizer described by a GGUF file's metadata: SentencePiece ("llama"), BPE ("gpt2", "gemma4", "whitespace") or WordPiece ("bert"). */
export function tokenizerFromGGUF(file: GGUFFile, opts: { warn?: (message: string) => void } = {}): Tokenizer {
  const model = file.getString('tokenizer.ggml.model');
  if (model === undefined) throw new TokenizerError('MISSING_KEY', `${file.path ?? 'file'} has no tokenizer (metadata key tokenizer.ggml.model is missing)`);
  if (model === 'llama') return SpmTokenizer.fromMetadata((key) => file.get(key));
  if ((BPE_MODELS as readonly string[]).includes(model)) return BpeTokenizer.fromMetadata((key) => file.get(key), opts);
  if (model === 'bert') return WpmTokenizer.fromMetadata((key) => file.get(key));
  throw new TokenizerError('UNSUPPORTED_MODEL', `tokenizer model "${model}" is not supported (supported: llama, ${BPE_MODELS.join(', ')}, bert)`);
}

/** Loads only the tokenizer of a GGUF file (works on vocabulary-only files with no tensors). */
export async function loadTokenizer(source: ModelSource, opts: { warn?: (message: string) => void } = {}): Promise<Tokenizer> {
  const file = await openGGUFFrom(source);
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
    tokenToPieceBytes: (id, o) => tok.tokenToPieceBytes(id, o),
    vocabSize: tok.vocabSize,
    bosId: tok.addBos ? tok.bosId : undefined,
  };
}

export class Model {
  /** Set when loaded with `embeddings`: the backend outputs hidden states, pooled this way by default. */
  private embedding: { pooling: Pooling } | undefined;
  private disposed = false;
  /** dispose() has begun: no new generation takes the model. */
  private closing = false;
  /** Streams being iterated, ended by dispose(). */
  private readonly open = new Set<{ stream: GenerationStream; controller: AbortController }>();
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
      forwardArgmax:
        b.forwardArgmax || this.info.sequences > 1
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
  static async load(source: ModelSource, opts: LoadModelOptions = {}): Promise<Model> {
    const explicit = opts.backend !== undefined;
    let backendName = opts.backend ?? (await defaultBackend());
    const path = sourceName(source);
    const onProgress = opts.onProgress;
    const file = await openGGUFFrom(source, { onProgress: onProgress && ((p) => onProgress({ stage: 'download', ...p, tensor: '' })) });
    try {
      const kvCacheType = opts.kvCacheType ?? 'f16';
      if (kvCacheType !== 'f16' && kvCacheType !== 'f32') throw new RangeError(`kvCacheType must be 'f16' or 'f32', got ${String(kvCacheType)}`);
      const { hyperparameters: hp, tensors, program: planned } = planModel(file, kvCacheType);
      const tokenizer = tokenizerFromGGUF(file);
      if (tokenizer.vocabSize !== hp.vocabSize) {
        throw new ModelError(`the tokenizer has ${tokenizer.vocabSize} tokens but token_embd.weight has ${hp.vocabSize} rows`);
      }
      const contextLength = opts.contextLength ?? Math.min(hp.contextLength, 4096);
      if (!Number.isInteger(contextLength) || contextLength < 1) throw new RangeError(`contextLength must be a positive integer, got ${opts.contextLength}`);
      const batchSize = opts.batchSize ?? 512;
      if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer, got ${opts.batchSize}`);
      const maxBatch = Math.min(batchSize, contextLength);
      const embedding = opts.embeddings ? { pooling: filePooling(file, hp.architecture) } : undefined;
      const program = embedding ? hiddenStateProgram(planned) : planned;
      const asked = opts.sequences ?? 1;
      if (!Number.isInteger(asked) || asked < 1) throw new RangeError(`sequences must be a positive integer, got ${opts.sequences}`);
      // A backend without multi-sequence steps holds one sequence: generations are then serialised.
      const initFor = (b: Backend) => ({
        file,
        program,
        contextLength,
        maxBatch,
        sequences: Math.min(asked, b.maxSequences),
        onProgress: onProgress && ((p: LoadProgress) => onProgress({ ...p, stage: 'weights' })),
      });
      let backend = await createBackend(backendName, backendOptions(backendName, opts, explicit));
      try {
        await backend.init(initFor(backend));
      } catch (e) {
        // The default backend cannot run this model (a ModelError names why): the reference backend runs every model the engine supports.
        if (explicit || backendName === 'reference' || !(e instanceof ModelError)) throw e;
        backend.dispose();
        (opts.onWarning ?? console.warn)(`the default ${backendName} backend cannot run this model (${e.message}); using the reference backend`);
        backendName = 'reference';
        backend = await createBackend(backendName);
        await backend.init(initFor(backend));
      }
      const sequences = Math.min(asked, backend.maxSequences);
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
      const model = new Model(info, tokenizer, backend, file, maxBatch);
      model.embedding = embedding;
      return model;
    } catch (e) {
      file.close();
      throw e;
    }
  }

  private checkOpen(): void {
    if (this.disposed) throw new ModelError('the model has been disposed');
  }

  /** Generation and scoring need logits: not on a model loaded for embeddings. */
  private checkLogits(): void {
    this.checkOpen();
    if (this.embedding) throw new ModelError('this model was loaded with { embeddings: true }: it gives hidden states, not logits (load it again without)');
  }

  /** Runs `fn` holding one sequence of the cache (whose cached tokens it replaces), waiting for a free one. */
  private async withSequence<T>(fn: (seq: Sequence) => Promise<T>): Promise<T> {
    const seq = await this.scheduler.acquire([]);
    try {
      return await fn(seq);
    } catch (e) {
      seq.tokens = [];
      throw e;
    } finally {
      this.scheduler.release(seq);
    }
  }

  /** Streams generated text: `for await (const { text } of model.generate(prompt))`; `.result` has the final text and stats. */
  generate(prompt: string | number[], opts: ModelGenerateOptions = {}): GenerationStream {
    this.checkLogits();
    if (this.closing) throw new ModelError('the model has been disposed');
    const { sequence, ...gen } = opts;
    const sched = this.scheduler;
    const tokenizer = this.tokenizer;
    const engineFor = (s: Sequence) => this.engineFor(s);
    const closing = () => this.closing;
    const open = this.open;
    // dispose() aborts this controller and closes the stream, so an open stream never keeps the model.
    const entry = { stream: undefined as unknown as GenerationStream, controller: new AbortController() };
    const signal = gen.signal ? eitherSignal(gen.signal, entry.controller.signal) : entry.controller.signal;
    // A sequence is taken when iteration starts, so a stream that is never read holds nothing.
    async function* run() {
      open.add(entry);
      try {
        // The prompt's ids choose the sequence whose cache shares most of it (generateTokens encodes it the same way).
        const ids = typeof prompt === 'string' ? tokenizer.encode(prompt, { addSpecial: gen.addSpecial ?? true, parseSpecial: gen.parseSpecial ?? false }) : prompt;
        const seq = await sched.acquire(ids, sequence, signal);
        const engine = engineFor(seq);
        try {
          if (closing()) throw new AbortError('the model was disposed');
          return yield* generateTokens(engine, prompt, { ...gen, signal });
        } catch (e) {
          // A failed step leaves the cache in an unknown state (an abort happens between steps: the cache is whole).
          if (!(e instanceof RangeError || e instanceof AbortError)) seq.tokens = [];
          throw e;
        } finally {
          sched.release(seq);
        }
      } finally {
        open.delete(entry);
      }
    }
    entry.stream = new GenerationStream(run());
    return entry.stream;
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
    this.checkLogits();
    if (tokens.length === 0) throw new RangeError('evaluate needs at least one token');
    if (tokens.length > this.info.contextLength) throw new RangeError(`${tokens.length} tokens do not fit in the context of ${this.info.contextLength}`);
    return this.withSequence((seq) => this.outputsFrom(seq, Int32Array.from(tokens), this.maxBatch, 0));
  }

  /**
   * Evaluates tokens from an empty cache in steps of `batch`; the output rows (logits, or hidden
   * states when loaded for embeddings) of positions from… (the caller holds the model).
   */
  private async outputsFrom(seq: Sequence, tokens: Int32Array, batch: number, from: number): Promise<Float32Array> {
    this.checkOpen();
    const hp = this.info.hyperparameters;
    const vocab = this.embedding ? hp.embeddingLength : hp.vocabSize;
    const out = new Float32Array((tokens.length - from) * vocab);
    seq.tokens = [];
    for (let pos = 0; pos < tokens.length; pos += batch) {
      const step = tokens.subarray(pos, pos + batch);
      const logits = await this.scheduler.submit(seq, step, pos, { kind: 'logits', allLogits: true });
      const skip = Math.max(0, from - pos);
      if (skip < step.length) out.set(logits.subarray(skip * vocab, step.length * vocab), (pos + skip - from) * vocab);
      seq.tokens.push(...step);
    }
    return out;
  }

  private scoringEngine(seq: Sequence): ScoringEngine {
    return {
      vocabSize: this.info.hyperparameters.vocabSize,
      contextLength: this.info.contextLength,
      maxBatch: this.maxBatch,
      bos: this.tokenizer.addBos ? this.tokenizer.bosId : undefined,
      addEos: this.tokenizer.addEos,
      evalLogits: (tokens, batch, from) => this.outputsFrom(seq, tokens, batch, from),
    };
  }

  /**
   * Perplexity of a text (or token ids) computed as llama.cpp's perplexity tool does: chunks of
   * `contextLength` (default 512) tokens, BOS first, the second half of each chunk scored
   * (model/scoring.ts). `saveLogProbs` writes llama.cpp's --kl-divergence-base file.
   */
  async perplexity(text: string | number[], opts: PerplexityOptions = {}): Promise<PerplexityResult> {
    this.checkLogits();
    const tokens = typeof text === 'string' ? this.tokenizer.encode(text, { addSpecial: true, parseSpecial: false }) : text;
    return this.withSequence((seq) => perplexityOfTokens(this.scoringEngine(seq), tokens, opts));
  }

  /** KL divergence against base log-probabilities (llama.cpp's --kl-divergence); see model/scoring.ts. */
  async klDivergence(base: LogProbsFile, opts: KlDivergenceOptions = {}): Promise<KlDivergenceResult> {
    this.checkLogits();
    return this.withSequence((seq) => klDivergence(this.scoringEngine(seq), base, opts));
  }

  /**
   * Embeddings of texts (model/embed.ts): the hidden state after output_norm, pooled as the file's
   * `<arch>.pooling_type` says or as asked, L2-normalised unless `normalize: false`. One array per
   * text: n_embd floats, or tokens × n_embd with pooling 'none'. Needs `loadModel(path, { embeddings: true })`.
   */
  async embed(texts: string | readonly string[], opts: EmbedOptions = {}): Promise<Float32Array[]> {
    this.checkOpen();
    if (!this.embedding) throw new ModelError('embed needs a model loaded with { embeddings: true } (tsinfer embed does that)');
    const pooling = opts.pooling === undefined ? this.embedding.pooling : checkPooling(opts.pooling);
    const dim = this.info.hyperparameters.embeddingLength;
    const list = typeof texts === 'string' ? [texts] : texts;
    const ids = list.map((t) => {
      if (typeof t !== 'string') throw new TypeError('embed takes a string or an array of strings');
      const tok = this.tokenizer.encode(t, { addSpecial: opts.addSpecial ?? true, parseSpecial: false });
      if (tok.length === 0) throw new RangeError('a text is empty and the vocabulary adds no BOS token: nothing to embed');
      if (tok.length > this.info.contextLength) throw new ContextOverflowError(tok.length, this.info.contextLength, `a text has ${tok.length} tokens; the context holds ${this.info.contextLength}`);
      return tok;
    });
    return this.withSequence(async (seq) => {
      const out: Float32Array[] = [];
      for (const tok of ids) out.push(pool(await this.outputsFrom(seq, Int32Array.from(tok), this.maxBatch, 0), tok.length, dim, pooling, opts.normalize ?? true));
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
  applyChatTemplate(messages: readonly ChatMessage[], opts: { addGenerationPrompt?: boolean; template?: string; templateVariables?: Record<string, unknown> } = {}): string {
    return renderChatTemplate(this.template(opts.template), messages, {
      ...templateTokens(this.tokenizer),
      addGenerationPrompt: opts.addGenerationPrompt ?? false,
      variables: opts.templateVariables,
    });
  }

  /**
   * Streams the assistant's reply to a conversation: the template is rendered with the
   * generation prompt (and the tools), its markup tokenized with special tokens and the message
   * contents as plain text. Takes the same options as `generate` (plus `template`), and `tools`,
   * `toolChoice`, `parallelToolCalls`, `reasoningFormat`, `reasoningBudget`. Iterate it for the
   * text chunks or `deltas()` for OpenAI-style deltas; `await stream.message` gives the assistant
   * message with `tool_calls` and `reasoning_content` parsed out. The KV cache is reused for the
   * part of the conversation it already holds.
   */
  chat(messages: readonly ChatMessage[], opts: ChatOptions = {}): ChatStream {
    this.checkOpen();
    const { template, tools, toolChoice, parallelToolCalls, reasoningFormat, templateVariables, reasoningBudget, reasoningBudgetMessage, ...gen } = opts;
    const chat = prepareChat(this.tokenizer, this.template(template), messages, {
      tools,
      toolChoice,
      parallelToolCalls,
      reasoningFormat,
      templateVariables,
      reasoningBudget,
      reasoningBudgetMessage,
      constrained: gen.grammar !== undefined || gen.jsonSchema !== undefined,
      addSpecial: gen.addSpecial,
    });
    const stream = this.generate(chat.prompt, {
      ...gen,
      ...(chat.jsonSchema !== undefined && { jsonSchema: chat.jsonSchema }),
      ...(chat.reasoningBudget !== undefined && { reasoningBudget: chat.reasoningBudget }),
    });
    return new ChatStream(stream, chat.output());
  }

  /**
   * Frees the weights and cache. Open streams end first: iterating them (or awaiting their `result`)
   * then rejects with an AbortError; a step in progress finishes before the memory is freed.
   */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.closing = true;
    for (const { stream, controller } of this.open) {
      const reason = new AbortError('the model was disposed');
      controller.abort(reason);
      void stream.close(reason);
    }
    await this.scheduler.idle();
    this.disposed = true;
    this.backend.dispose();
    this.file.close();
  }
}

export function loadModel(source: ModelSource, opts?: LoadModelOptions): Promise<Model> {
  return Model.load(source, opts);
}
