/**
 * The streaming generate loop: evaluate the prompt in batches, then sample
 * one token per step until end of generation, a stop string, the token limit
 * or the end of the context. Text is streamed as valid UTF-8 and held back
 * while it could still become a stop string.
 */
import { ContextOverflowError } from '../model/errors.js';
import { keptTokens, needsShift, tokensToDiscard } from './context-shift.js';
import { AbortError } from './errors.js';
import { Sampler, validateSamplingOptions, type SamplingOptions } from './sampling.js';
import { StopMatcher } from './stop.js';
import { grammarConstraint, type GrammarOptions } from './grammar/index.js';
import { tokenLogprob, validateLogprobOptions, wantsLogprobs, type GeneratedTokenLogprob } from './logprobs.js';
import { platform } from '../platform/index.js';
import { ReasoningBudget, validateReasoningBudget, type ReasoningBudgetOptions } from './reasoning-budget.js';

export interface GenerateOptions extends SamplingOptions, GrammarOptions {
  /** Most tokens to generate; default: until end of generation or the context is full. */
  maxTokens?: number;
  /** Strings that end generation; they are not part of the returned text. */
  stop?: string[];
  signal?: AbortSignal;
  /** Add BOS/EOS as the vocabulary asks (default true). */
  addSpecial?: boolean;
  /** Match special-token texts in the prompt (default false). */
  parseSpecial?: boolean;
  /** Keep generating past end-of-generation tokens (benchmarks). */
  ignoreEos?: boolean;
  /** Reuse the KV cache for the prefix the prompt shares with it (default true); false evaluates the whole prompt. */
  cachePrompt?: boolean;
  /**
   * When the context fills, drop the oldest half of the tokens after the first `nKeep` and go on,
   * as llama.cpp's `--context-shift` (default false: generation ends with finishReason 'context').
   * The kept tokens are re-evaluated at their new positions (see context-shift.ts), so a shift costs
   * an evaluation of about half the context and its numbers differ from llama.cpp's by rounding.
   */
  contextShift?: boolean;
  /**
   * Prompt tokens a context shift never drops, as llama.cpp's `n_keep` / `--keep` (default 0; -1 = the
   * whole prompt). A BOS token the vocabulary adds is kept on top of these, as in llama.cpp.
   */
  nKeep?: number;
  /** Report each generated token's log-probability under the model's softmax, before the sampler chain (generate/logprobs.ts). */
  logprobs?: boolean;
  /** Also report this many most likely tokens per step (0-100; implies logprobs). */
  topLogprobs?: number;
  /** Close a think block after this many tokens of it, as llama.cpp's --reasoning-budget (reasoning-budget.ts). */
  reasoningBudget?: ReasoningBudgetOptions;
}

export interface GenerationChunk {
  /** Text completed by this token (may be empty: a partial character, a held-back stop prefix, a control token). */
  readonly text: string;
  readonly tokenId: number;
  /** With `logprobs`: this token's log-probability and the top alternatives. */
  readonly logprobs?: GeneratedTokenLogprob;
}

export interface GenerationStats {
  readonly promptTokens: number;
  /** Prompt tokens actually evaluated (the rest came from the KV cache of the previous call). */
  readonly promptTokensEvaluated: number;
  readonly generatedTokens: number;
  readonly prefillMs: number;
  readonly decodeMs: number;
  readonly prefillTokensPerSecond: number;
  readonly decodeTokensPerSecond: number;
  readonly timeToFirstTokenMs: number;
}

/** Why generation ended: end-of-generation token, stop string, maxTokens, full context, or an abort (the `partial` of an AbortError). */
export type FinishReason = 'eos' | 'stop' | 'length' | 'context' | 'abort';

export interface GenerationResult {
  readonly text: string;
  /** Generated token ids (including the end-of-generation token when one ended it). */
  readonly tokens: number[];
  readonly promptTokens: number[];
  readonly finishReason: FinishReason;
  readonly stats: GenerationStats;
  /** With `logprobs`: one entry per generated token. */
  readonly logprobs?: GeneratedTokenLogprob[];
}

/** What the loop needs from a tokenizer. */
export interface GenerationTokenizer {
  encode(text: string, opts: { addSpecial: boolean; parseSpecial: boolean }): number[];
  isEog(id: number): boolean;
  createStreamDecoder(): { push(id: number): string; flush(): string };
  /** Token bytes and vocabulary size: needed only by grammar-constrained sampling. */
  tokenToPieceBytes?(id: number, opts?: { special?: boolean }): Uint8Array;
  readonly vocabSize?: number;
  /** SentencePiece vocabularies prefix the first word with a space that is not part of the text. */
  readonly addSpacePrefix: boolean;
  /** The BOS id encode() adds with addSpecial, if it adds one (a context shift keeps it). */
  readonly bosId?: number;
}

/** What the loop needs from a loaded model: one forward step over its KV cache. */
export interface GenerationEngine {
  readonly tokenizer: GenerationTokenizer;
  readonly contextLength: number;
  readonly maxBatch: number;
  readonly vocabSize: number;
  /** Token ids whose K/V are in the cache, in order. */
  cachedTokens: number[];
  forward(tokens: Int32Array, pos: number): Promise<Float32Array>;
  /** Optional: one step returning the argmax of its last logits row, computed by the backend (no logits read back). */
  forwardArgmax?: (tokens: Int32Array, pos: number) => Promise<number>;
  /** Optional: one step returning the k best logits of its last row with their ids, best first (k <= maxTopK). */
  forwardTopK?: (tokens: Int32Array, pos: number, k: number) => Promise<{ ids: Int32Array; logits: Float32Array }>;
  readonly maxTopK?: number;
}

function noPenalty(o: Sampler['options']): boolean {
  return o.repeatLastN === 0 || (o.repeatPenalty === 1 && o.frequencyPenalty === 0 && o.presencePenalty === 0);
}
/** Sampling that is a plain argmax of the logits: greedy without penalties. */
function isPlainGreedy(o: Sampler['options']): boolean {
  return o.temperature <= 0 && noPenalty(o);
}

/**
 * Logits for sampling. Top-k without penalties depends on the k best logits only, so
 * with a backend that selects them (forwardTopK) the rest of the row stays on the
 * device: the sampler gets a row that is -Infinity except at those k ids, which gives
 * the same candidates, probabilities and draws as the full row.
 */
function logitsForSampling(engine: GenerationEngine, o: Sampler['options']): (tokens: Int32Array, pos: number) => Promise<Float32Array> {
  const k = o.topK;
  const topK = engine.forwardTopK;
  if (!topK || !noPenalty(o) || !(k > 0 && k <= (engine.maxTopK ?? 0) && k < engine.vocabSize)) return (t, p) => engine.forward(t, p);
  const row = new Float32Array(engine.vocabSize);
  return async (tokens, pos) => {
    const best = await topK(tokens, pos, k);
    row.fill(-Infinity);
    for (let i = 0; i < best.ids.length; i++) row[best.ids[i]!] = best.logits[i]!;
    return row;
  };
}

function checkOptions(o: GenerateOptions): void {
  validateSamplingOptions(o);
  validateLogprobOptions(o);
  if ((o.maxTokens !== undefined && !(Number.isInteger(o.maxTokens) || o.maxTokens === Infinity)) || (o.maxTokens ?? 0) < 0) {
    throw new RangeError(`maxTokens must be a non-negative integer, got ${o.maxTokens}`);
  }
  if (o.nKeep !== undefined && !(Number.isSafeInteger(o.nKeep) && o.nKeep >= -1)) throw new RangeError(`nKeep must be an integer >= -1, got ${o.nKeep}`);
  if (o.stop !== undefined && (!Array.isArray(o.stop) || o.stop.some((s) => typeof s !== 'string'))) {
    throw new TypeError('stop must be an array of strings');
  }
  validateReasoningBudget(o.reasoningBudget);
  if (o.reasoningBudget && (o.grammar !== undefined || o.jsonSchema !== undefined))
    throw new RangeError('reasoningBudget cannot be combined with a grammar or JSON Schema (its forced tokens would break it)');
}

/** A ContextOverflowError when a prompt of this many tokens leaves no room to generate. */
export function checkPromptFits(promptTokens: number, contextLength: number): void {
  if (promptTokens >= contextLength) {
    throw new ContextOverflowError(promptTokens + 1, contextLength, `the prompt has ${promptTokens} tokens; the context holds ${contextLength}, leaving no room to generate`);
  }
}

const yieldToEventLoop = () => platform.yieldToEventLoop();

/** Length of the common prefix of two token lists. */
function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/**
 * Generation as an async iterable of chunks; `result` resolves with the
 * final text, ids and stats (and drives the generation if nobody iterates).
 */
export class GenerationStream implements AsyncIterable<GenerationChunk> {
  private gen: AsyncGenerator<GenerationChunk, GenerationResult>;
  private started = false;
  /** Inside gen.next(): the generator is running and ends at its next abort check. */
  private running = false;
  private closedWith: Error | undefined;
  private done: Promise<GenerationResult>;
  private resolveDone!: (r: GenerationResult) => void;
  private rejectDone!: (e: unknown) => void;

  constructor(gen: AsyncGenerator<GenerationChunk, GenerationResult>) {
    this.gen = gen;
    this.done = new Promise((res, rej) => {
      this.resolveDone = res;
      this.rejectDone = rej;
    });
    // Avoid unhandled-rejection noise when the caller only iterates.
    this.done.catch(() => {});
  }

  async *[Symbol.asyncIterator](): AsyncIterator<GenerationChunk> {
    if (this.started) throw new Error('a generation stream can be iterated only once');
    this.started = true;
    try {
      for (;;) {
        if (this.closedWith) throw this.closedWith;
        this.running = true;
        let r: IteratorResult<GenerationChunk, GenerationResult>;
        try {
          r = await this.gen.next();
        } finally {
          this.running = false;
        }
        if (r.done) {
          this.resolveDone(r.value);
          return;
        }
        yield r.value;
      }
    } catch (e) {
      this.rejectDone(e);
      throw e;
    } finally {
      // The consumer stopped early (break): end the generator so the model is released.
      await this.gen.return(undefined as never);
      this.rejectDone(new AbortError('the stream was closed before generation finished'));
    }
  }

  /**
   * @internal Ends the stream from outside (Model.dispose): a generator suspended between chunks
   * is finished now (releasing the model) and iteration and `result` reject with `reason`; one inside
   * a step ends at its next abort check, since the caller aborts its signal too (its AbortError has
   * the partial result).
   */
  async close(reason: Error): Promise<void> {
    if (this.closedWith) return;
    this.closedWith = reason;
    if (this.running) return;
    this.rejectDone(reason);
    await this.gen.return(undefined as never).catch(() => {});
  }

  /** The final result. Consumes the stream if it has not been iterated. */
  get result(): Promise<GenerationResult> {
    if (!this.started) {
      void (async () => {
        try {
          for await (const _ of this) void _;
        } catch {
          /* reported through `done` */
        }
      })();
    }
    return this.done;
  }
}

/** The generation loop over an engine; the caller serialises access to the engine. */
export async function* generateTokens(engine: GenerationEngine, prompt: string | number[], opts: GenerateOptions = {}): AsyncGenerator<GenerationChunk, GenerationResult> {
  checkOptions(opts);
  const { signal } = opts;
  if (signal?.aborted) throw new AbortError('generation aborted');
  const tok = engine.tokenizer;
  const promptIds = typeof prompt === 'string' ? tok.encode(prompt, { addSpecial: opts.addSpecial ?? true, parseSpecial: opts.parseSpecial ?? false }) : [...prompt];
  if (promptIds.length === 0) throw new RangeError('the prompt is empty and the vocabulary adds no BOS token: nothing to condition on');
  for (const id of promptIds) {
    if (!Number.isInteger(id) || id < 0 || id >= engine.vocabSize) throw new RangeError(`prompt token id ${id} is outside the vocabulary of ${engine.vocabSize}`);
  }
  const ctx = engine.contextLength;
  checkPromptFits(promptIds.length, ctx);
  const maxTokens = opts.maxTokens ?? Infinity;
  const nKeep = keptTokens(opts.nKeep ?? 0, promptIds.length, tok.bosId !== undefined && promptIds[0] === tok.bosId);
  const sampler = new Sampler(opts, engine.vocabSize);
  // A grammar masks the logits before sampling: the backend's argmax / top-k shortcuts would bypass it.
  const constraint = grammarConstraint(opts, tok, engine.vocabSize);
  const rb = opts.reasoningBudget;
  const budget = rb ? new ReasoningBudget(rb, tok.encode((rb.message ?? '') + (rb.end ?? '</think>'), { addSpecial: false, parseSpecial: true })) : undefined;
  let grammarEnded = false; // finish 'stop' by the grammar's end: nothing held back for a stop string
  const history = [...promptIds];

  const t0 = performance.now();
  // Reuse the KV cache for the prefix this prompt shares with what is cached; the last prompt token is always evaluated.
  const reuse = opts.cachePrompt === false ? 0 : Math.min(commonPrefix(engine.cachedTokens, promptIds), promptIds.length - 1);
  engine.cachedTokens.length = reuse;
  let logits!: Float32Array;
  // Plain greedy on a backend that can take the argmax itself: only token ids come back.
  // Log-probabilities and grammars need the whole logits row: no device-side argmax or top-k then.
  const logprobs = wantsLogprobs(opts) ? ([] as GeneratedTokenLogprob[]) : undefined;
  const fullRow = constraint !== undefined || logprobs !== undefined;
  const argmaxStep = isPlainGreedy(sampler.options) && !fullRow ? engine.forwardArgmax : undefined;
  const forwardLogits = fullRow ? (t: Int32Array, p: number) => engine.forward(t, p) : logitsForSampling(engine, sampler.options);
  let nextId = -1;
  for (let pos = reuse; pos < promptIds.length; pos += engine.maxBatch) {
    const batch = promptIds.slice(pos, Math.min(promptIds.length, pos + engine.maxBatch));
    if (argmaxStep) nextId = await argmaxStep(Int32Array.from(batch), pos);
    else logits = await forwardLogits(Int32Array.from(batch), pos);
    engine.cachedTokens.push(...batch);
    if (signal?.aborted) break;
    await yieldToEventLoop();
  }
  const prefillMs = performance.now() - t0;

  const decoder = tok.createStreamDecoder();
  const stops = new StopMatcher(opts.stop ?? []);
  // With an empty prompt the first word's SentencePiece space prefix is not text.
  let stripLeadingSpace = tok.addSpacePrefix && typeof prompt === 'string' && prompt.length === 0;
  let text = '';
  const generated: number[] = [];
  let finishReason: FinishReason = 'length';
  let firstTokenAt = 0;
  const tDecode = performance.now();

  const finish = (): GenerationResult => {
    const decodeMs = performance.now() - tDecode;
    const evaluated = promptIds.length - reuse;
    return {
      text,
      tokens: generated,
      promptTokens: promptIds,
      finishReason,
      ...(logprobs && { logprobs }),
      stats: {
        promptTokens: promptIds.length,
        promptTokensEvaluated: evaluated,
        generatedTokens: generated.length,
        prefillMs,
        decodeMs,
        prefillTokensPerSecond: prefillMs > 0 ? (evaluated * 1000) / prefillMs : 0,
        // The first token comes from the prefill's logits; decode steps are the rest.
        decodeTokensPerSecond: generated.length > 1 && decodeMs > 0 ? ((generated.length - 1) * 1000) / decodeMs : 0,
        timeToFirstTokenMs: firstTokenAt ? firstTokenAt - t0 : 0,
      },
    };
  };

  while (generated.length < maxTokens) {
    if (signal?.aborted) {
      finishReason = 'abort';
      throw new AbortError(signal.reason instanceof AbortError ? signal.reason.message : 'generation aborted', finish());
    }
    const row = argmaxStep ? undefined : logits.subarray(logits.length - engine.vocabSize);
    const id = budget?.next() ?? (argmaxStep ? nextId : constraint ? constraint.sample(sampler, row!, history) : sampler.sample(row!, history));
    const lp = logprobs && tokenLogprob(row!, id, opts.topLogprobs ?? 0);
    if (lp) logprobs!.push(lp);
    generated.push(id);
    history.push(id);
    if (!firstTokenAt) firstTokenAt = performance.now();
    constraint?.accept(id);
    if (constraint && tok.isEog(id)) {
      // Allowed only where the grammar can end: the output is complete.
      finishReason = 'stop';
      grammarEnded = true;
      break;
    }
    if (!opts.ignoreEos && tok.isEog(id)) {
      finishReason = 'eos';
      break;
    }
    let piece = decoder.push(id);
    if (stripLeadingSpace && piece.length > 0) {
      if (piece.startsWith(' ')) piece = piece.slice(1);
      stripLeadingSpace = false;
    }
    budget?.accept(piece);
    const { emit, stopped } = stops.push(piece);
    text += emit;
    if (stopped) {
      finishReason = 'stop';
      if (emit) yield { text: emit, tokenId: id, ...(lp && { logprobs: lp }) };
      break;
    }
    yield { text: emit, tokenId: id, ...(lp && { logprobs: lp }) };
    if (constraint?.isComplete) {
      // The grammar allows nothing more: done without another step.
      finishReason = 'stop';
      grammarEnded = true;
      break;
    }
    if (generated.length >= maxTokens) break;
    let pos = engine.cachedTokens.length;
    let step = [id];
    if (opts.contextShift && needsShift(pos, 1, ctx)) {
      const discard = tokensToDiscard(pos, nKeep);
      if (discard === 0) {
        finishReason = 'context';
        break;
      }
      // The survivors after the dropped ones are evaluated again at their new positions, with the new token.
      step = [...engine.cachedTokens.slice(nKeep + discard), id];
      engine.cachedTokens.length = nKeep;
      pos = nKeep;
    } else if (pos >= ctx) {
      finishReason = 'context';
      break;
    }
    for (let i = 0; i < step.length; i += engine.maxBatch) {
      const batch = step.slice(i, i + engine.maxBatch);
      if (argmaxStep) nextId = await argmaxStep(Int32Array.from(batch), pos + i);
      else logits = await forwardLogits(Int32Array.from(batch), pos + i);
      engine.cachedTokens.push(...batch);
    }
    await yieldToEventLoop();
  }
  if (finishReason !== 'stop' || grammarEnded) {
    const rest = stops.push(decoder.flush()).emit + stops.flush();
    if (rest) {
      text += rest;
      yield { text: rest, tokenId: -1 };
    }
  }
  return finish();
}
