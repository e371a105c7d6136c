/** Streams and the model's lifetime: dispose() ends open streams, aborts say so in their partial result. */
import { afterEach, describe, expect, it } from 'vitest';
import { AbortError } from '../../src/generate/errors.js';
import { loadModel, type Model } from '../../src/model/model.js';
import { sharedPath } from '../helpers/shared.js';

const MODEL = sharedPath('models', 'stories260K.gguf');
let model: Model | undefined;
afterEach(async () => {
  await model?.dispose();
  model = undefined;
});

/** Resolves with 'timeout' if p has not settled within ms. */
function within<T>(p: Promise<T>, ms = 5000): Promise<T | 'timeout'> {
  return Promise.race([p, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms))]);
}

describe('dispose() with open streams', () => {
  it('a stream paused between chunks is ended: dispose resolves, the next read and result reject with AbortError', async () => {
    model = await loadModel(MODEL);
    const stream = model.generate('Once upon a time', { temperature: 0, maxTokens: 100 });
    const it = stream[Symbol.asyncIterator]();
    expect((await it.next()).done).toBe(false);
    expect(await within(model.dispose())).toBeUndefined();
    await expect(it.next()).rejects.toBeInstanceOf(AbortError);
    await expect(stream.result).rejects.toThrow(/the model was disposed/);
  });

  it('a stream being read in a loop ends with AbortError', async () => {
    model = await loadModel(MODEL);
    const chunks: string[] = [];
    const reading = (async () => {
      for await (const c of model!.generate('Once upon a time', { temperature: 0, maxTokens: 1000, ignoreEos: true })) chunks.push(c.text);
    })();
    while (chunks.length < 3) await new Promise((r) => setTimeout(r, 1));
    expect(await within(model.dispose())).toBeUndefined();
    await expect(reading).rejects.toBeInstanceOf(AbortError);
    expect(chunks.length).toBeLessThan(1000);
  });

  it('a stream whose result is awaited ends with AbortError carrying the partial result', async () => {
    model = await loadModel(MODEL);
    const pending = model.complete('Once upon a time', { temperature: 0, maxTokens: 1000, ignoreEos: true });
    await new Promise((r) => setTimeout(r, 20));
    expect(await within(model.dispose())).toBeUndefined();
    const e = await pending.catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AbortError);
    expect((e as AbortError).message).toBe('the model was disposed');
    // The generation was inside a step when dispose() came: it ended at its abort check.
    expect((e as AbortError).partial?.finishReason).toBe('abort');
    expect((e as AbortError).partial!.tokens.length).toBeGreaterThan(0);
  });

  it('a stream never read holds nothing; reading it after dispose rejects; generate after dispose throws', async () => {
    model = await loadModel(MODEL);
    const queued = model.generate('Once', { maxTokens: 5 });
    const waiting = model.generate('Once', { maxTokens: 5 });
    const first = waiting[Symbol.asyncIterator]().next(); // started: waits for the model or runs
    expect(await within(model.dispose())).toBeUndefined();
    await expect(queued.result).rejects.toThrow();
    await first.catch(() => {});
    expect(() => model!.generate('x')).toThrow(/disposed/);
  });
});

describe('aborted generations', () => {
  it('finishReason is "abort" in the partial result', async () => {
    model = await loadModel(MODEL);
    const controller = new AbortController();
    let n = 0;
    const e = await (async () => {
      for await (const _ of model!.generate('Once upon a time', { temperature: 0, maxTokens: 100, signal: controller.signal })) if (++n === 4) controller.abort();
    })().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AbortError);
    const partial = (e as AbortError).partial!;
    expect(partial.finishReason).toBe('abort');
    expect(partial.tokens).toHaveLength(4);
    expect(partial.stats.generatedTokens).toBe(4);
  });
});
