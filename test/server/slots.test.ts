/**
 * The slot scheduler alone, over a stand-in model that "generates" fixed tokens: slot choice by
 * longest common prefix (then least recently used), occupied slots running at once (each on its
 * own model sequence when the model has one per slot), the bounded queue, and cancellation.
 */
import { describe, expect, it } from 'vitest';
import { AbortError } from '../../src/generate/errors.js';
import { GenerationStream, type GenerateOptions, type GenerationChunk, type GenerationResult } from '../../src/generate/generate.js';
import { ApiError } from '../../src/server/errors.js';
import { Scheduler, type ServedModel } from '../../src/server/slots.js';

/** A model whose generations yield tokens 900, 901, ... (`n` of them), waiting `gate` before each. */
function fakeModel(log: number[][], gate: () => Promise<void> = async () => {}, sequences = 1, seqLog: (number | undefined)[] = []): ServedModel {
  return {
    info: { sequences },
    generate(prompt: string | number[], opts: GenerateOptions & { sequence?: number } = {}): GenerationStream {
      const ids = prompt as number[];
      async function* run(): AsyncGenerator<GenerationChunk, GenerationResult> {
        log.push(ids);
        seqLog.push(opts.sequence);
        const n = opts.maxTokens ?? 3;
        const tokens: number[] = [];
        for (let i = 0; i < n; i++) {
          await gate();
          if (opts.signal?.aborted) throw new AbortError();
          tokens.push(900 + i);
          yield { text: `t${i}`, tokenId: 900 + i };
        }
        const stats = {
          promptTokens: ids.length,
          promptTokensEvaluated: ids.length,
          generatedTokens: n,
          prefillMs: 1,
          decodeMs: 1,
          prefillTokensPerSecond: 1,
          decodeTokensPerSecond: 1,
          timeToFirstTokenMs: 1,
        };
        return { text: tokens.map((_, i) => `t${i}`).join(''), tokens, promptTokens: ids, finishReason: 'length', stats };
      }
      return new GenerationStream(run());
    },
  } as unknown as ServedModel;
}

const task = (prompt: number[], signal = new AbortController().signal, maxTokens = 3) => ({ prompt, options: { maxTokens }, signal });

describe('Scheduler', () => {
  it('gives a request the free slot sharing the longest prefix with its prompt, else the least recently used', async () => {
    const s = new Scheduler(fakeModel([]), { parallel: 3, queueSize: 0, maxBatch: 512 });
    const a = await s.submit(task([1, 2, 3]));
    const b = await s.submit(task([7, 8]));
    expect(a.slotId).toBe(0);
    // Slot 0 holds [1 2 3 900 901 902]; [7 8] shares nothing with it: least recently used (never used) slot 1.
    expect(b.slotId).toBe(1);
    const c = await s.submit(task([1, 2, 3, 900, 5]));
    expect(c.slotId).toBe(0);
    const d = await s.submit(task([7, 8, 900, 901]));
    expect(d.slotId).toBe(1);
    expect(s.slots[1]!.tokens).toEqual([7, 8, 900, 901, 900, 901, 902]);
    const e = await s.submit(task([42]));
    expect(e.slotId).toBe(2);
  });

  it("runs the occupied slots' requests at once, each on its slot's model sequence; the queue is bounded (503)", async () => {
    const log: number[][] = [];
    const seqs: (number | undefined)[] = [];
    let open!: () => void;
    let gateOpen = new Promise<void>((r) => (open = r));
    const s = new Scheduler(
      fakeModel(log, () => gateOpen, 2, seqs),
      { parallel: 2, queueSize: 1, maxBatch: 512 },
    );
    const p1 = s.submit(task([1]));
    const p2 = s.submit(task([2]));
    const p3 = s.submit(task([3]));
    expect(s.busy).toBe(2);
    expect(s.queued).toBe(1);
    expect(() => s.submit(task([4]))).toThrow(ApiError);
    expect(s.metrics.requestsRejected).toBe(1);
    await new Promise((r) => setTimeout(r, 10));
    expect(log).toEqual([[1], [2]]); // both slots run; the model batches their steps
    expect(s.slots.filter((x) => x.running)).toHaveLength(2);
    open();
    gateOpen = Promise.resolve();
    const results = await Promise.all([p1, p2, p3]);
    expect(log).toEqual([[1], [2], [3]]);
    expect(seqs).toEqual([0, 1, results[2]!.slotId]);
    expect(results.map((r) => r.text)).toEqual(['t0t1t2', 't0t1t2', 't0t1t2']);
    expect(s.busy + s.queued).toBe(0);
  });

  it('a request cancelled while waiting leaves the queue; one cancelled while running stops and frees its slot', async () => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let passed = 0;
    const s = new Scheduler(
      fakeModel([], async () => (passed++ >= 1 ? gate : undefined)),
      { parallel: 1, queueSize: 2, maxBatch: 512 },
    );
    const running = new AbortController();
    const waiting = new AbortController();
    const p1 = s.submit(task([1], running.signal, 100));
    const p2 = s.submit(task([2], waiting.signal));
    const p3 = s.submit(task([3]));
    expect(s.queued).toBe(2);
    waiting.abort();
    await expect(p2).rejects.toBeInstanceOf(AbortError);
    expect(s.queued).toBe(1);
    running.abort();
    open();
    await expect(p1).rejects.toBeInstanceOf(AbortError);
    expect((await p3).text).toBe('t0t1t2');
    expect(s.metrics.requestsCancelled).toBe(2);
    expect(s.busy + s.queued).toBe(0);
  });

  it('with fewer model sequences than slots, the model chooses the sequence', async () => {
    const seqs: (number | undefined)[] = [];
    const s = new Scheduler(
      fakeModel([], async () => {}, 1, seqs),
      { parallel: 2, queueSize: 0, maxBatch: 512 },
    );
    await Promise.all([s.submit(task([1])), s.submit(task([2]))]);
    expect(seqs).toEqual([undefined, undefined]);
  });
});
