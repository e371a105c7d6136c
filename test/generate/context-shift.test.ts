/**
 * Context shift (llama.cpp's --context-shift) on every backend: when the next token would fill the
 * cache, the oldest half after the kept tokens goes and generation continues. The surviving tokens
 * are re-evaluated at their new positions, so each greedy token must be the argmax of a fresh
 * evaluation of the window llama.cpp's rule leaves; the oracle evaluates those windows on the
 * reference backend.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keptTokens, needsShift, tokensToDiscard } from '../../src/generate/context-shift.js';
import { argmax } from '../../src/generate/sampling.js';
import { wasmAvailable } from '../../src/kernels/wasm/loader.js';
import type { BackendName } from '../../src/kernels/index.js';
import { loadModel, type Model } from '../../src/model/model.js';
import { sharedPath } from '../helpers/shared.js';
import { HAVE_WEBGPU, requireAdapterUnderCI } from '../kernels/webgpu-helpers.js';

const MODEL = sharedPath('models', 'stories260K.gguf');
const CTX = 24;
let oracle: Model;
beforeAll(async () => {
  oracle = await loadModel(MODEL, { backend: 'reference', contextLength: 256, kvCacheType: 'f32' });
});
afterAll(async () => {
  await oracle?.dispose();
});

/** The greedy tokens llama.cpp's shift rule gives, each from a fresh evaluation of the window. */
async function expectedTokens(prompt: number[], n: number, keep: number): Promise<{ tokens: number[]; shifts: number }> {
  const vocab = oracle.info.hyperparameters.vocabSize;
  const window = [...prompt];
  const tokens: number[] = [];
  let shifts = 0;
  for (;;) {
    const logits = await oracle.evaluate(window);
    const id = argmax(logits.subarray(logits.length - vocab));
    tokens.push(id);
    if (tokens.length === n) return { tokens, shifts };
    if (needsShift(window.length, 1, CTX)) {
      window.splice(keep, tokensToDiscard(window.length, keep));
      shifts++;
    }
    window.push(id);
  }
}

describe('the shift rule', () => {
  it('keeps n_keep prompt tokens plus BOS, the whole prompt for -1, and drops half the rest', () => {
    expect(keptTokens(0, 5, true)).toBe(1);
    expect(keptTokens(2, 5, true)).toBe(3);
    expect(keptTokens(2, 5, false)).toBe(2);
    expect(keptTokens(-1, 5, true)).toBe(5);
    expect(keptTokens(9, 5, true)).toBe(5);
    expect(tokensToDiscard(23, 1)).toBe(11);
    expect(tokensToDiscard(23, 22)).toBe(0);
    expect(needsShift(23, 1, 24)).toBe(true);
    expect(needsShift(22, 1, 24)).toBe(false);
  });
});

requireAdapterUnderCI();
const backends: BackendName[] = ['reference', ...(wasmAvailable() ? (['wasm'] as const) : []), ...(HAVE_WEBGPU ? (['webgpu'] as const) : [])];

describe.each(backends)('context shift on %s', (backend) => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(MODEL, { backend, contextLength: CTX, kvCacheType: 'f32' });
  });
  afterAll(async () => {
    await model?.dispose();
  });

  for (const nKeep of [0, -1]) {
    it(`greedy generation goes past the context (nKeep ${nKeep}) with llama.cpp's windows`, async () => {
      const prompt = model.tokenize('Once upon a time');
      const r = await model.complete(prompt, { temperature: 0, maxTokens: 45, ignoreEos: true, contextShift: true, nKeep });
      expect(r.finishReason).toBe('length');
      const want = await expectedTokens(prompt, 45, nKeep < 0 ? prompt.length : nKeep + 1);
      expect(want.shifts).toBeGreaterThanOrEqual(3);
      expect(r.tokens).toEqual(want.tokens);
    });
  }

  it('off by default: the context fills and generation ends with finishReason "context"', async () => {
    const r = await model.complete('Once upon a time', { temperature: 0, ignoreEos: true });
    expect(r.finishReason).toBe('context');
    expect(r.tokens.length).toBe(CTX - 5 + 1);
  });

  it('nothing left to drop (the prompt fills the context and is all kept) ends with "context"', async () => {
    const prompt = Array.from({ length: CTX - 1 }, (_, i) => (i === 0 ? 1 : 300 + i));
    const r = await model.complete(prompt, { temperature: 0, ignoreEos: true, contextShift: true, nKeep: -1, maxTokens: 50 });
    expect(r.finishReason).toBe('context');
  });
});
