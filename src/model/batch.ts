/**
 * Sequences of a loaded model and the scheduler that steps them together.
 *
 * The backend's KV cache holds `sequences` sequences, each its own region of contextLength
 * positions. A generation (or an evaluate call) holds one sequence from start to end; its
 * `tokens` are what that region of the cache holds, so a later prompt that starts the same way
 * prefills only the rest. A new generation takes the free sequence whose tokens share the
 * longest prefix with its prompt (least recently used on a tie), or waits for one.
 *
 * Every forward step a generation asks for goes through `submit`. Requests that arrive
 * together (all held sequences have asked, or the event loop has turned once) run as ONE
 * multi-sequence step: each request's tokens become rows with their own sequence and
 * position, matmuls read every weight once for all rows, and each request gets the logits of
 * its last token. One pending request runs as a single-sequence step, keeping the backend's
 * fast paths (argmax and top-k on the device). Requests for every logit row (evaluate) run
 * alone. Sampling stays with each generation.
 */
import { AbortError } from '../generate/errors.js';
import type { Backend } from '../kernels/backend.js';
import type { Step } from './program.js';

export class Sequence {
  /** Token ids whose K/V this sequence's region of the cache holds, in order. */
  tokens: number[] = [];
  held = false;
  lastUsed = 0;
  constructor(readonly id: number) {}
}

/** What a step request wants back: the logits row, the greedy token, or the k best logits. */
export type StepWant = { kind: 'logits'; allLogits?: boolean } | { kind: 'argmax' } | { kind: 'topk'; k: number };
export type TopK = { ids: Int32Array; logits: Float32Array };

interface Request {
  seq: Sequence;
  tokens: Int32Array;
  pos: number;
  want: StepWant;
  resolve: (v: Float32Array | number | TopK) => void;
  reject: (e: unknown) => void;
}

interface Waiter {
  prompt: readonly number[];
  id: number | undefined;
  resolve: (s: Sequence) => void;
}

/** Counters for bench and tests: steps run, and tokens and requests they carried. */
export interface BatchCounters {
  steps: number;
  multiSequenceSteps: number;
  requests: number;
  tokens: number;
}

/** Length of the common prefix of two token lists. */
export function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

/** Index of the largest value (ties -> lowest index). */
export function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

/** The k largest values with their indices, best first (ties -> lower index). */
export function topK(row: Float32Array, k: number): TopK {
  const ids = new Int32Array(k).fill(-1);
  const vals = new Float32Array(k).fill(-Infinity);
  let n = 0;
  for (let i = 0; i < row.length; i++) {
    const v = row[i]!;
    if (n === k && !(v > vals[k - 1]!)) continue;
    let j = n < k ? n++ : k - 1;
    while (j > 0 && v > vals[j - 1]!) {
      vals[j] = vals[j - 1]!;
      ids[j] = ids[j - 1]!;
      j--;
    }
    vals[j] = v;
    ids[j] = i;
  }
  return { ids: ids.subarray(0, n), logits: vals.subarray(0, n) };
}

export class StepScheduler {
  readonly sequences: Sequence[];
  private readonly waiters: Waiter[] = [];
  private pending: Request[] = [];
  private running = false;
  private flushQueued = false;
  private clock = 0;
  private idleWaiters: (() => void)[] = [];
  readonly counters: BatchCounters = { steps: 0, multiSequenceSteps: 0, requests: 0, tokens: 0 };

  constructor(
    private readonly backend: Backend,
    count: number,
    private readonly maxBatch: number,
    private readonly vocabSize: number,
  ) {
    this.sequences = Array.from({ length: count }, (_, i) => new Sequence(i));
  }

  /** Sequences held by a generation or evaluation. */
  get held(): number {
    return this.sequences.filter((s) => s.held).length;
  }

  /**
   * Resolves with a sequence for a prompt: sequence `id` when given (it must exist), else the free
   * one sharing the longest prefix with the prompt (least recently used on a tie). Waits while none is free.
   */
  acquire(prompt: readonly number[], id?: number, signal?: AbortSignal): Promise<Sequence> {
    if (id !== undefined && !(Number.isInteger(id) && id >= 0 && id < this.sequences.length)) {
      return Promise.reject(new RangeError(`sequence ${id} does not exist: the model holds ${this.sequences.length} (loadModel's sequences option)`));
    }
    const free = this.pick(prompt, id);
    if (free) return Promise.resolve(this.take(free));
    return new Promise<Sequence>((resolve, reject) => {
      const w: Waiter = { prompt, id, resolve };
      this.waiters.push(w);
      signal?.addEventListener(
        'abort',
        () => {
          const i = this.waiters.indexOf(w);
          if (i < 0) return;
          this.waiters.splice(i, 1);
          reject(new AbortError('generation aborted while waiting for a sequence'));
        },
        { once: true },
      );
    });
  }

  private pick(prompt: readonly number[], id: number | undefined): Sequence | undefined {
    if (id !== undefined) return this.sequences[id]!.held ? undefined : this.sequences[id];
    let best: Sequence | undefined;
    let bestLcp = -1;
    for (const s of this.sequences) {
      if (s.held) continue;
      const lcp = commonPrefix(s.tokens, prompt);
      if (lcp > bestLcp || (lcp === bestLcp && best !== undefined && s.lastUsed < best.lastUsed)) {
        best = s;
        bestLcp = lcp;
      }
    }
    return best;
  }

  private take(s: Sequence): Sequence {
    s.held = true;
    s.lastUsed = ++this.clock;
    return s;
  }

  release(s: Sequence): void {
    s.held = false;
    s.lastUsed = ++this.clock;
    for (let i = 0; i < this.waiters.length; i++) {
      const w = this.waiters[i]!;
      const free = this.pick(w.prompt, w.id);
      if (!free) continue;
      this.waiters.splice(i--, 1);
      w.resolve(this.take(free));
    }
    // A generation that ends changes how many requests a full batch has.
    this.maybeFlush();
    if (this.held === 0 && !this.running) for (const r of this.idleWaiters.splice(0)) r();
  }

  /** Resolves when no sequence is held and no step runs. */
  idle(): Promise<void> {
    if (this.held === 0 && !this.running) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** One step of `tokens` at positions pos.. of a held sequence, run together with the other sequences' requests. */
  submit(seq: Sequence, tokens: Int32Array, pos: number, want: { kind: 'logits'; allLogits?: boolean }): Promise<Float32Array>;
  submit(seq: Sequence, tokens: Int32Array, pos: number, want: { kind: 'argmax' }): Promise<number>;
  submit(seq: Sequence, tokens: Int32Array, pos: number, want: { kind: 'topk'; k: number }): Promise<TopK>;
  submit(seq: Sequence, tokens: Int32Array, pos: number, want: StepWant): Promise<Float32Array | number | TopK> {
    if (!seq.held) return Promise.reject(new Error(`sequence ${seq.id} is not held`));
    return new Promise((resolve, reject) => {
      this.pending.push({ seq, tokens: tokens.slice(), pos, want, resolve, reject });
      this.maybeFlush();
    });
  }

  /** Runs a step now when every held sequence has asked; otherwise once the event loop has turned. */
  private maybeFlush(): void {
    if (this.running || this.pending.length === 0) return;
    if (this.pending.length >= this.held) {
      void this.flush();
    } else if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(() => {
        this.flushQueued = false;
        void this.flush();
      });
    }
  }

  private async flush(): Promise<void> {
    if (this.running || this.pending.length === 0) return;
    this.running = true;
    const batch = this.takeBatch();
    try {
      await this.run(batch);
    } catch (e) {
      for (const r of batch) r.reject(e);
    } finally {
      this.running = false;
    }
    this.maybeFlush();
    if (this.held === 0 && !this.running) for (const r of this.idleWaiters.splice(0)) r();
  }

  /** The requests of the next step: in arrival order while they fit maxBatch tokens; an all-logits request alone. */
  private takeBatch(): Request[] {
    const first = this.pending[0]!;
    if (first.want.kind === 'logits' && first.want.allLogits) return this.pending.splice(0, 1);
    const out: Request[] = [];
    let tokens = 0;
    const rest: Request[] = [];
    for (const r of this.pending) {
      const allLogits = r.want.kind === 'logits' && r.want.allLogits;
      if (!allLogits && tokens + r.tokens.length <= this.maxBatch && !out.some((o) => o.seq === r.seq)) {
        out.push(r);
        tokens += r.tokens.length;
      } else rest.push(r);
    }
    this.pending = rest;
    return out;
  }

  private async run(batch: Request[]): Promise<void> {
    const c = this.counters;
    c.steps++;
    c.requests += batch.length;
    if (batch.length === 1) {
      const r = batch[0]!;
      c.tokens += r.tokens.length;
      const allLogits = r.want.kind === 'logits' && r.want.allLogits === true;
      const step: Step = { tokens: r.tokens, pos: r.pos, allLogits, seq: r.seq.id };
      const b = this.backend;
      if (r.want.kind === 'argmax') r.resolve(b.forwardArgmax ? await b.forwardArgmax(step) : argmax(await b.forward(step)));
      else if (r.want.kind === 'topk') r.resolve(b.forwardTopK ? await b.forwardTopK(step, r.want.k) : topK(await b.forward(step), r.want.k));
      // A copy: the backend reuses its array, and another sequence's step may run before this one samples.
      else r.resolve((await b.forward(step)).slice());
      return;
    }
    c.multiSequenceSteps++;
    const T = batch.reduce((s, r) => s + r.tokens.length, 0);
    c.tokens += T;
    const tokens = new Int32Array(T);
    const seqs = new Int32Array(T);
    const positions = new Int32Array(T);
    const outputs = new Int32Array(batch.length);
    let t = 0;
    batch.forEach((r, i) => {
      tokens.set(r.tokens, t);
      for (let j = 0; j < r.tokens.length; j++) {
        seqs[t + j] = r.seq.id;
        positions[t + j] = r.pos + j;
      }
      t += r.tokens.length;
      outputs[i] = t - 1;
    });
    const logits = await this.backend.forward({ tokens, pos: 0, allLogits: false, rows: { seqs, positions, outputs } });
    const V = this.vocabSize;
    batch.forEach((r, i) => {
      const row = logits.subarray(i * V, (i + 1) * V);
      if (r.want.kind === 'argmax') r.resolve(argmax(row));
      else if (r.want.kind === 'topk') r.resolve(topK(row, r.want.k));
      else r.resolve(row.slice());
    });
  }
}
