/** The streaming generate loop on a real model (stories260K, reference backend). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AbortError, ContextOverflowError, generate, loadModel, type Model } from '../../src/index.js';
import { readSharedJson, sharedPath } from '../helpers/shared.js';

const MODEL = sharedPath('models', 'stories260K.gguf');
interface Greedy {
  prompt: string;
  continuationIds: number[];
  continuationText: string;
}
const greedy = readSharedJson<Greedy[]>('reference', 'stories260K-greedy.json');

describe('generate loop', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(MODEL, { contextLength: 256 });
  });
  afterAll(async () => {
    await model?.dispose();
  });

  it('streams chunks whose texts join to the result text, one chunk per token', async () => {
    const stream = model.generate('Once upon a time', { temperature: 0, maxTokens: 40 });
    const chunks: { text: string; tokenId: number }[] = [];
    for await (const c of stream) chunks.push(c);
    const r = await stream.result;
    expect(chunks.map((c) => c.text).join('')).toBe(r.text);
    expect(chunks.filter((c) => c.tokenId >= 0).map((c) => c.tokenId)).toEqual(r.tokens);
    expect(r.tokens).toEqual(greedy[0]!.continuationIds.slice(0, 40));
    expect(r.finishReason).toBe('length');
    expect(r.stats.generatedTokens).toBe(40);
    expect(r.stats.promptTokens).toBe(5);
    expect(r.stats.decodeTokensPerSecond).toBeGreaterThan(0);
    expect(r.stats.timeToFirstTokenMs).toBeGreaterThan(0);
  });

  it('stops at a stop string and leaves it out of the text', async () => {
    const full = greedy[0]!.continuationText; // ", there was a little girl named Lily. She loved ..."
    const r = await model.complete('Once upon a time', { temperature: 0, maxTokens: 64, stop: ['Lily'] });
    expect(r.finishReason).toBe('stop');
    expect(r.text).toBe(full.slice(0, full.indexOf('Lily')));
  });

  it('same seed gives the same text, different seeds differ', async () => {
    const opts = { temperature: 1, topK: 0, topP: 1, minP: 0, maxTokens: 48 };
    const a = await model.complete('Tom', { ...opts, seed: 42 });
    const b = await model.complete('Tom', { ...opts, seed: 42 });
    const c = await model.complete('Tom', { ...opts, seed: 43 });
    expect(a.tokens).toEqual(b.tokens);
    expect(a.text).toBe(b.text);
    expect(c.tokens).not.toEqual(a.tokens);
  });

  it('reuses the cached prefix and still gives the same continuation', async () => {
    await model.complete('The little dog', { temperature: 0, maxTokens: 4 });
    // Nothing but BOS is shared with the cache now.
    const first = await model.complete('Tom was sad because', { temperature: 0, maxTokens: 16 });
    expect(first.stats.promptTokensEvaluated).toBe(first.stats.promptTokens - 1);
    // The whole prompt is cached now: only its last token is evaluated again.
    const again = await model.complete('Tom was sad because', { temperature: 0, maxTokens: 16 });
    expect(again.stats.promptTokensEvaluated).toBe(1);
    expect(again.tokens).toEqual(first.tokens);
    expect(again.tokens).toEqual(greedy[2]!.continuationIds.slice(0, 16));
  });

  it('an AbortSignal ends generation with AbortError carrying the partial result', async () => {
    const controller = new AbortController();
    const seen: string[] = [];
    let err: unknown;
    try {
      for await (const c of model.generate('Once upon a time', { temperature: 0, maxTokens: 200, signal: controller.signal })) {
        seen.push(c.text);
        if (seen.length === 5) controller.abort();
      }
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AbortError);
    expect(seen.length).toBe(5);
    const partial = (err as AbortError).partial as { tokens: number[] };
    expect(partial.tokens.length).toBe(5);
    // The model is usable afterwards.
    const r = await model.complete('Once upon a time', { temperature: 0, maxTokens: 8 });
    expect(r.tokens).toEqual(greedy[0]!.continuationIds.slice(0, 8));
  });

  it('an already aborted signal throws before any work', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(model.complete('x', { signal: controller.signal })).rejects.toBeInstanceOf(AbortError);
  });

  it('concurrent generations on one model are serialised and each is correct', async () => {
    const [a, b] = await Promise.all([model.complete('Once upon a time', { temperature: 0, maxTokens: 20 }), model.complete('The little dog', { temperature: 0, maxTokens: 20 })]);
    expect(a.tokens).toEqual(greedy[0]!.continuationIds.slice(0, 20));
    expect(b.tokens).toEqual(greedy[1]!.continuationIds.slice(0, 20));
  });

  it('breaking out of the loop releases the model', async () => {
    for await (const c of model.generate('Once upon a time', { temperature: 0, maxTokens: 50 })) {
      void c;
      break;
    }
    const r = await model.complete('The little dog', { temperature: 0, maxTokens: 4 });
    expect(r.tokens).toEqual(greedy[1]!.continuationIds.slice(0, 4));
  });

  it('ends with finishReason "context" when the context is full', async () => {
    const small = await loadModel(MODEL, { contextLength: 12 });
    try {
      const r = await small.complete('Once upon a time', { temperature: 0, ignoreEos: true });
      expect(r.finishReason).toBe('context');
      // 5 prompt tokens + 7 decoded fill 12 positions; the 8th token comes from the last logits.
      expect(r.tokens.length).toBe(8);
      await expect(small.complete('Once upon a time there was a little girl named Lily', { temperature: 0 })).rejects.toBeInstanceOf(ContextOverflowError);
    } finally {
      await small.dispose();
    }
  });

  it('rejects bad options with a RangeError before generating', async () => {
    await expect(model.complete('x', { topP: 2 })).rejects.toBeInstanceOf(RangeError);
    await expect(model.complete('x', { maxTokens: -1 })).rejects.toBeInstanceOf(RangeError);
    await expect(model.complete([1, 9999])).rejects.toThrow(/outside the vocabulary/);
  });

  it('token-id prompts are accepted', async () => {
    const r = await model.complete([1, 403, 407, 261, 378], { temperature: 0, maxTokens: 10 });
    expect(r.tokens).toEqual(greedy[0]!.continuationIds.slice(0, 10));
  });

  it('top-level generate() loads, streams and disposes', async () => {
    let text = '';
    const s = generate({ model: MODEL, prompt: 'The little dog', temperature: 0, maxTokens: 16 });
    for await (const c of s) text += c.text;
    const r = await s.result;
    expect(text).toBe(r.text);
    expect(r.tokens).toEqual(greedy[1]!.continuationIds.slice(0, 16));
  });

  it('result alone drives the generation', async () => {
    const r = await model.generate('The little dog', { temperature: 0, maxTokens: 6 }).result;
    expect(r.tokens).toEqual(greedy[1]!.continuationIds.slice(0, 6));
  });
});
