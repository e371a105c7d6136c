/**
 * End to end against llama.cpp on stories260K: prompt token ids, greedy
 * continuations and per-position logits (../shared/reference).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, ModelError, type Model } from '../../src/index.js';
import { compareRow } from '../helpers/compare.js';
import { readSharedJson, sharedPath } from '../helpers/shared.js';

const MODEL = sharedPath('models', 'stories260K.gguf');

interface Greedy {
  prompt: string;
  promptIds: number[];
  continuationIds: number[];
  continuationText: string;
}
interface LogitsRef {
  prompt: string;
  tokens: number[];
  shape: [number, number];
}

describe('stories260K against llama.cpp (reference backend)', () => {
  let model: Model;
  beforeAll(async () => {
    model = await loadModel(MODEL);
  });
  afterAll(async () => {
    await model?.dispose();
  });

  const greedy = readSharedJson<Greedy[]>('reference', 'stories260K-greedy.json');
  for (const c of greedy) {
    it(`greedy continuation of ${JSON.stringify(c.prompt)}`, async () => {
      const r = await model.complete(c.prompt, { temperature: 0, maxTokens: c.continuationIds.length });
      expect(r.promptTokens).toEqual(c.promptIds);
      expect(r.tokens).toEqual(c.continuationIds);
      // With an empty prompt the first piece's SentencePiece space is not text (llama2.c prints it without).
      expect(r.text).toBe(c.prompt === '' ? c.continuationText.replace(/^ /, '') : c.continuationText);
    });
  }

  it('the 200-token greedy story equals llama2.c expected output', async () => {
    const expected = readFileSync(sharedPath('models', 'stories260K-greedy-200steps.expected.txt'), 'utf8');
    const r = await model.complete('', { temperature: 0, maxTokens: 200 });
    expect(r.text).toBe(expected);
  });

  for (const name of ['p1', 'p2']) {
    it(`per-position logits of stories260K-${name} are within tolerance of llama.cpp`, async () => {
      const ref = readSharedJson<LogitsRef>('reference', `stories260K-${name}.json`);
      const bytes = readFileSync(sharedPath('reference', `stories260K-${name}.f32`));
      const want = new Float32Array(new Uint8Array(bytes).buffer);
      const [positions, nVocab] = ref.shape;
      expect(want.length).toBe(positions * nVocab);
      const got = await model.evaluate(ref.tokens);
      const rows = Array.from({ length: positions }, (_, k) => compareRow(want.subarray(k * nVocab, (k + 1) * nVocab), got.subarray(k * nVocab, (k + 1) * nVocab)));
      const maxAbs = Math.max(...rows.map((r) => r.maxAbs));
      const meanKl = rows.reduce((s, r) => s + r.kl, 0) / positions;
      console.log(`stories260K-${name}: max|Δ| per position ${rows.map((r) => r.maxAbs.toExponential(1)).join(' ')}; mean KL ${meanKl.toExponential(2)}`);
      expect(rows.every((r) => r.top1)).toBe(true);
      expect(meanKl).toBeLessThan(1e-6);
      // 1e-3 everywhere except after an exact f16 rounding tie: in p2, one K value at position 10
      // is exactly halfway between two f16 values in our float32 arithmetic, and llama.cpp's
      // differently ordered float32 sums put it on the other side. Flipping that one rounding
      // brings every position under 5e-5 (see the note on the foundation issue).
      expect(maxAbs).toBeLessThan(name === 'p2' ? 2e-3 : 1e-3);
    });
  }

  it('an f32 KV cache still agrees on every greedy token', async () => {
    const m = await loadModel(MODEL, { kvCacheType: 'f32' });
    try {
      const c = greedy[0]!;
      const r = await m.complete(c.prompt, { temperature: 0, maxTokens: 32 });
      expect(r.tokens).toEqual(c.continuationIds.slice(0, 32));
      expect(m.info.backend.kvCacheType).toBe('f32');
    } finally {
      await m.dispose();
    }
  });

  it('prompt evaluated in small batches gives the same logits as one batch', async () => {
    const m = await loadModel(MODEL, { batchSize: 3 });
    try {
      const ref = readSharedJson<LogitsRef>('reference', 'stories260K-p2.json');
      const a = await m.evaluate(ref.tokens);
      const b = await model.evaluate(ref.tokens);
      let max = 0;
      for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
      expect(max).toBeLessThan(1e-5);
    } finally {
      await m.dispose();
    }
  });

  it('reports hyperparameters and sizes', () => {
    const hp = model.info.hyperparameters;
    expect(hp).toMatchObject({ architecture: 'llama', embeddingLength: 64, blockCount: 5, headCount: 8, headCountKv: 4, headDim: 8, vocabSize: 512, contextLength: 2048, tiedEmbeddings: false });
    expect(model.info.parameters).toBe(292800);
  });
});

describe('model errors', () => {
  it('a vocabulary-only file is not a model: ModelError names the missing tensor', async () => {
    const err = await loadModel(sharedPath('vocab', 'ggml-vocab-llama-spm.gguf')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelError);
    expect((err as Error).message).toMatch(/token_embd\.weight/);
  });
});
