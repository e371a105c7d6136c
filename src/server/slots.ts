/**
 * Slots and the scheduler that owns the model for the server.
 *
 * A slot is one sequence the server works on: it holds the token history of its last request
 * (prompt + generated), and a request is given the free slot whose history shares the longest
 * prefix with its prompt (least recently used on a tie), as llama-server does. Requests beyond
 * the slots wait in a bounded queue; when the queue is full `submit` throws a 503.
 *
 * DECODED TOGETHER. Each slot owns one sequence of the model's multi-sequence KV cache (load the
 * model with `sequences` >= the slot count; `tsinfer serve` does) and `Slot.tokens` is what that
 * sequence holds. Every occupied slot's request runs at once as a model.generate() on its
 * sequence; the model's step scheduler (model/batch.ts) gathers their steps, the next chunk of a
 * prompt or the last sampled token of each, into ONE forward pass (weights read once, attention
 * per sequence), and each request samples its own next token with its own sampler and stop rules
 * and streams it to its client. A finished or cancelled request frees its slot, and a queued
 * request takes it before the next step.
 *
 * With fewer model sequences than slots (a model loaded with fewer, or a backend that holds one,
 * like webgpu today), the slots beyond them share the model's free sequences: their generations
 * wait for one, so they are decoded one after the other, each to its end.
 *
 * Admission, the queue, cancellation, results and metrics below stay as they are.
 */
import { AbortError } from '../generate/errors.js';
import type { GenerateOptions, GenerationChunk, GenerationResult, GenerationStream } from '../generate/generate.js';
import { commonPrefix } from '../model/batch.js';
import type { Model } from '../model/model.js';
import { ApiError } from './errors.js';

/** What the server needs from a loaded model (a `Model`, or a wrapper of one in tests). */
export type ServedModel = Pick<Model, 'generate' | 'tokenizer' | 'info' | 'chatTemplate'> & Partial<Pick<Model, 'batchCounters' | 'embed'>>;

export interface SlotTask {
  /** Prompt token ids (checked to fit the context by the caller). */
  prompt: number[];
  options: GenerateOptions;
  signal: AbortSignal;
  /** Called with each generated chunk as it comes. */
  onChunk?: (chunk: GenerationChunk) => void;
}

export interface SlotResult extends GenerationResult {
  slotId: number;
  /** Prompt tokens taken from the KV cache instead of evaluated. */
  cachedTokens: number;
}

export interface Pending {
  taskId: number;
  task: SlotTask;
  resolve: (r: SlotResult) => void;
  reject: (e: unknown) => void;
  slot?: Slot;
  onAbort?: () => void;
}

export class Slot {
  /** Token ids of this slot's last sequence: its prompt, then what was generated. */
  tokens: number[] = [];
  /** The request occupying the slot (waiting for the model or running). */
  pending: Pending | undefined;
  running = false;
  promptTokens = 0;
  decoded = 0;
  lastUsed = 0;
  constructor(readonly id: number) {}
}

/** Counters for /metrics (llama-server's names) and /slots. */
export interface SchedulerMetrics {
  promptTokensTotal: number;
  promptSecondsTotal: number;
  tokensPredictedTotal: number;
  predictedSecondsTotal: number;
  /** Forward steps run per request: prompt batches plus one per generated token after the first (a batched step counts once per request in it). */
  decodeTotal: number;
  requestsTotal: number;
  requestsFailed: number;
  requestsCancelled: number;
  requestsRejected: number;
}

export class Scheduler {
  readonly slots: Slot[];
  private readonly queue: Pending[] = [];
  /** Occupied slots' requests in the order they got their slot: the order they run in. */
  private readonly ready: Pending[] = [];
  private nextTaskId = 0;
  private clock = 0;
  /** The slot whose request last used the model's KV cache, when slots share one sequence. */
  cacheOwner = -1;
  readonly metrics: SchedulerMetrics = {
    promptTokensTotal: 0,
    promptSecondsTotal: 0,
    tokensPredictedTotal: 0,
    predictedSecondsTotal: 0,
    decodeTotal: 0,
    requestsTotal: 0,
    requestsFailed: 0,
    requestsCancelled: 0,
    requestsRejected: 0,
  };

  constructor(
    private readonly model: ServedModel,
    readonly opts: { parallel: number; queueSize: number; maxBatch: number },
  ) {
    Scheduler.check(opts);
    this.slots = Array.from({ length: opts.parallel }, (_, i) => new Slot(i));
  }

  /** Throws a RangeError naming a bad slot or queue count. */
  static check(opts: { parallel: number; queueSize: number }): void {
    if (!Number.isInteger(opts.parallel) || opts.parallel < 1) throw new RangeError(`parallel must be a positive integer, got ${opts.parallel}`);
    if (!Number.isInteger(opts.queueSize) || opts.queueSize < 0) throw new RangeError(`queueSize must be a non-negative integer, got ${opts.queueSize}`);
  }

  /** Requests waiting for a slot. */
  get queued(): number {
    return this.queue.length;
  }

  /** Slots holding a request. */
  get busy(): number {
    return this.slots.filter((s) => s.pending !== undefined).length;
  }

  /**
   * Takes a request: into a free slot, else into the queue. Throws (synchronously) a 503
   * ApiError when the queue is full, so the caller can answer before sending any header.
   */
  submit(task: SlotTask): Promise<SlotResult> {
    if (task.signal.aborted) return Promise.reject(new AbortError());
    const free = this.slots.some((s) => s.pending === undefined);
    if (!free && this.queue.length >= this.opts.queueSize) {
      this.metrics.requestsRejected++;
      throw new ApiError('unavailable_error', `the server is busy: ${this.opts.parallel} slots in use and ${this.queue.length} requests waiting; try again later`);
    }
    this.metrics.requestsTotal++;
    return new Promise<SlotResult>((resolve, reject) => {
      const p: Pending = { taskId: this.nextTaskId++, task, resolve, reject };
      p.onAbort = () => this.cancelWaiting(p);
      task.signal.addEventListener('abort', p.onAbort, { once: true });
      if (free) this.assign(p);
      else this.queue.push(p);
      this.drive();
    });
  }

  /** Rejects every request still waiting (queued or in a slot but not running); running ones end through their signals. */
  cancelWaiting(p?: Pending): void {
    const targets = p ? [p] : [...this.queue, ...this.ready];
    for (const q of targets) {
      if (q.slot?.running) continue; // the generation sees the signal and ends itself
      const qi = this.queue.indexOf(q);
      if (qi >= 0) this.queue.splice(qi, 1);
      const ri = this.ready.indexOf(q);
      if (ri >= 0) this.ready.splice(ri, 1);
      if (q.slot) this.release(q.slot);
      this.metrics.requestsCancelled++;
      this.settle(q);
      q.reject(new AbortError('the request was cancelled before it ran'));
    }
    this.fillSlots();
  }

  private settle(p: Pending): void {
    if (p.onAbort) p.task.signal.removeEventListener('abort', p.onAbort);
  }

  /** The free slot whose history shares the longest prefix with the prompt; least recently used on a tie. */
  private pickSlot(prompt: readonly number[]): Slot {
    let best: Slot | undefined;
    let bestLcp = -1;
    for (const s of this.slots) {
      if (s.pending !== undefined) continue;
      const lcp = commonPrefix(s.tokens, prompt);
      if (lcp > bestLcp || (lcp === bestLcp && best !== undefined && s.lastUsed < best.lastUsed)) {
        best = s;
        bestLcp = lcp;
      }
    }
    return best!;
  }

  private assign(p: Pending): void {
    const slot = this.pickSlot(p.task.prompt);
    slot.pending = p;
    slot.promptTokens = p.task.prompt.length;
    slot.decoded = 0;
    p.slot = slot;
    this.ready.push(p);
  }

  private release(slot: Slot): void {
    slot.pending = undefined;
    slot.running = false;
    slot.lastUsed = ++this.clock;
  }

  private fillSlots(): void {
    while (this.queue.length > 0 && this.slots.some((s) => s.pending === undefined)) this.assign(this.queue.shift()!);
  }

  /** Whether the KV cache holds this slot's tokens: its own sequence, or the one shared sequence it used last. */
  holdsCache(slot: Slot): boolean {
    return slot.tokens.length > 0 && (this.ownSequence(slot) !== undefined || this.cacheOwner === slot.id);
  }

  /** The model sequence a slot owns, when the model has one per slot. */
  private ownSequence(slot: Slot): number | undefined {
    const n = this.model.info?.sequences ?? 1;
    return n >= this.slots.length ? slot.id : undefined;
  }

  /** Starts every occupied slot's request: they run at once, their steps batched by the model (see the top of this file). */
  private drive(): void {
    for (;;) {
      const p = this.ready.shift();
      if (p === undefined) break;
      void this.run(p).then(() => {
        this.fillSlots();
        this.drive();
      });
    }
  }

  private async run(p: Pending): Promise<void> {
    const slot = p.slot!;
    const { task } = p;
    slot.running = true;
    this.cacheOwner = slot.id;
    slot.tokens = [...task.prompt];
    let stream: GenerationStream | undefined;
    try {
      stream = this.model.generate(task.prompt, { ...task.options, signal: task.signal, sequence: this.ownSequence(slot) });
      for await (const chunk of stream) {
        if (chunk.tokenId >= 0) {
          slot.decoded++;
          slot.tokens.push(chunk.tokenId);
        }
        task.onChunk?.(chunk);
      }
      const r = await stream.result;
      // The end-of-generation token ends the stream without a chunk.
      if (r.finishReason === 'eos') slot.tokens.push(r.tokens[r.tokens.length - 1]!);
      const s = r.stats;
      const m = this.metrics;
      m.promptTokensTotal += s.promptTokensEvaluated;
      m.promptSecondsTotal += s.prefillMs / 1000;
      m.tokensPredictedTotal += s.generatedTokens;
      m.predictedSecondsTotal += s.decodeMs / 1000;
      m.decodeTotal += Math.ceil(s.promptTokensEvaluated / this.opts.maxBatch) + Math.max(0, s.generatedTokens - 1);
      this.settle(p);
      p.resolve({ ...r, slotId: slot.id, cachedTokens: s.promptTokens - s.promptTokensEvaluated });
    } catch (e) {
      if (e instanceof AbortError) this.metrics.requestsCancelled++;
      else this.metrics.requestsFailed++;
      // A failed step leaves the cache in an unknown state (the model forgets it): so does the slot.
      if (!(e instanceof AbortError)) slot.tokens = [];
      this.settle(p);
      p.reject(e);
    } finally {
      this.release(slot);
    }
  }
}
