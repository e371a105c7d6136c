/**
 * Slots and the scheduler that owns the model for the server.
 *
 * A slot is one sequence the server works on: it holds the token history of its last request
 * (prompt + generated), and a request is given the free slot whose history shares the longest
 * prefix with its prompt (least recently used on a tie), as llama-server does. Requests beyond
 * the slots wait in a bounded queue; when the queue is full `submit` throws a 503.
 *
 * TIME-SHARED FOR NOW. The model has one KV cache and one-sequence forward steps, so the slots
 * are decoded one at a time: the scheduler runs the requests of the occupied slots one after
 * the other (in the order they got their slot), each to its end. The one KV cache is reused for
 * the prefix the next prompt shares with what it holds (generate()'s `cachedTokens`): a slot
 * that continues its own conversation prefills only its new tokens, and so does any prompt that
 * starts like the previous one (a shared system prompt); everything else is prefilled again.
 * Interleaving slots token by token would evict the cache at every switch, so each request runs
 * to its end: a long generation delays the first token of the requests behind it.
 *
 * THE BATCHED DESIGN (when multi-sequence steps land in the model and every backend): each slot
 * owns one sequence of a multi-sequence KV cache and `Slot.tokens` is what that sequence holds.
 * `drive()` becomes a step loop: every iteration gathers, for each occupied slot, either the
 * next chunk of its prompt or its last sampled token, runs them as ONE forward step (weights read
 * once, attention per sequence), samples each slot's next token with its own sampler and stop
 * rules, streams it to its client, and frees finished or cancelled slots before the next step.
 * Admission, the queue, cancellation, results and metrics below stay as they are.
 */
import { AbortError } from '../generate/errors.js';
import type { GenerateOptions, GenerationChunk, GenerationResult, GenerationStream } from '../generate/generate.js';
import type { Model } from '../model/model.js';
import { ApiError } from './errors.js';

/** What the server needs from a loaded model (a `Model`, or a wrapper of one in tests). */
export type ServedModel = Pick<Model, 'generate' | 'tokenizer' | 'info' | 'chatTemplate'>;

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
  /** Forward steps run: prompt batches plus one per generated token after the first. */
  decodeTotal: number;
  requestsTotal: number;
  requestsFailed: number;
  requestsCancelled: number;
  requestsRejected: number;
}

function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

export class Scheduler {
  readonly slots: Slot[];
  private readonly queue: Pending[] = [];
  /** Occupied slots' requests in the order they got their slot: the order they run in. */
  private readonly ready: Pending[] = [];
  private driving = false;
  private nextTaskId = 0;
  private clock = 0;
  /** The slot whose request last used the model's KV cache. */
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
      void this.drive();
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

  /** Runs the occupied slots' requests one at a time (time-shared: see the top of this file). */
  private async drive(): Promise<void> {
    if (this.driving) return;
    this.driving = true;
    try {
      for (;;) {
        const p = this.ready.shift();
        if (p === undefined) break;
        await this.run(p);
        this.fillSlots();
      }
    } finally {
      this.driving = false;
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
      stream = this.model.generate(task.prompt, { ...task.options, signal: task.signal });
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
