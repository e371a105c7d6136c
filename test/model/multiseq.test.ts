/**
 * Multi-sequence steps: one forward pass over tokens of several sequences (each at its own
 * position in its own region of the KV cache) gives the logits those sequences get when run one
 * by one, on the reference, wasm and webgpu backends; and concurrent generate() calls on a model with
 * several sequences are batched into such steps and give the tokens they give alone.
 * WebGPU runs when there is an adapter (under TSINFER_REQUIRE_WEBGPU=1 a missing one fails).
 */
import { describe, expect, it } from 'vitest';
import { openGGUF } from '../../src/gguf/reader.js';
import { createBackend } from '../../src/kernels/index.js';
import { checkStep, type Backend, type BackendName } from '../../src/kernels/backend.js';
import { buildLlamaProgram, llamaHyperparameters } from '../../src/model/llama.js';
import { argmax, topK } from '../../src/model/batch.js';
import { loadModel } from '../../src/index.js';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT, sharedPath } from '../helpers/shared.js';
import { compareRow } from '../helpers/compare.js';
import { F16_RUN, HAVE_WEBGPU, requireAdapterUnderCI } from '../kernels/webgpu-helpers.js';
import type { WebGPUBackend } from '../../src/kernels/webgpu/backend.js';

const MODEL = sharedPath('models', 'stories260K.gguf');
const CTX = 64;

async function backendFor(name: BackendName, sequences: number): Promise<{ b: Backend; vocab: number; close: () => void }> {
  const file = await openGGUF(MODEL);
  const hp = llamaHyperparameters(file);
  const b = await createBackend(name, { threads: 2 });
  await b.init({ file, program: buildLlamaProgram(hp, 'f16'), contextLength: CTX, maxBatch: 16, sequences });
  return {
    b,
    vocab: hp.vocabSize,
    close: () => {
      b.dispose();
      file.close();
    },
  };
}

// Three sequences: A and B have their prompts in the cache, C starts in the batched step.
const A = [1, 403, 261, 506, 325, 199, 289];
const B = [1, 451, 360, 311];
const C = [1, 73, 300];

// The webgpu-f16 project (lavapipe, shader-f16 kernels) runs the webgpu cases only.
const BACKENDS = [...(F16_RUN ? [] : (['reference', 'wasm'] as const)), ...(HAVE_WEBGPU ? ['webgpu' as const] : [])] as const;
const tolerance = (name: BackendName) => (name === 'reference' ? 1e-5 : 2e-3);

describe('a WebGPU adapter', () => requireAdapterUnderCI());

describe.each(BACKENDS)('multi-sequence steps on %s', (name) => {
  it('one batched step equals the sequences run one by one, including sequences other than 0', async () => {
    const multi = await backendFor(name, 3);
    const single = await backendFor(name, 1);
    try {
      const V = multi.vocab;
      // Prompts into sequences 2 (A) and 0 (B) of the multi-sequence cache; sequence 1 is left empty.
      await multi.b.forward({ tokens: Int32Array.from(A.slice(0, -1)), pos: 0, allLogits: false, seq: 2 });
      await multi.b.forward({ tokens: Int32Array.from(B.slice(0, -2)), pos: 0, allLogits: false, seq: 0 });
      // One step: A's last token (seq 2), B's last two (seq 0), all of C (seq 1); rows interleaved by sequence.
      const tokens = Int32Array.from([B[B.length - 2]!, A[A.length - 1]!, C[0]!, B[B.length - 1]!, C[1]!, C[2]!]);
      const seqs = Int32Array.from([0, 2, 1, 0, 1, 1]);
      const positions = Int32Array.from([B.length - 2, A.length - 1, 0, B.length - 1, 1, 2]);
      const outputs = Int32Array.from([1, 3, 5, 0]);
      const before = multi.b.getCounters?.();
      const got = (await multi.b.forward({ tokens, pos: 0, allLogits: false, rows: { seqs, positions, outputs } })).slice();
      expect(got.length).toBe(4 * V);
      if (name === 'webgpu') {
        // One submit for the whole step; the per-row kernels replace the single-sequence ones, so dispatches are those of a prompt step plus one gather.
        const after = multi.b.getCounters!();
        expect(after.submits! - before!.submits!).toBe(1);
        console.log(`webgpu multi-sequence step (6 tokens, 3 sequences, 4 outputs): ${after.dispatches! - before!.dispatches!} dispatches, ${after.submits! - before!.submits!} submit`);
      }
      // The same tokens one sequence at a time on a one-sequence cache.
      const alone = async (ids: number[]) => (await single.b.forward({ tokens: Int32Array.from(ids), pos: 0, allLogits: true })).slice();
      const a = await alone(A);
      const b = await alone(B);
      const c = await alone(C);
      const want = [a.subarray((A.length - 1) * V), b.subarray((B.length - 1) * V), c.subarray((C.length - 1) * V), b.subarray((B.length - 2) * V, (B.length - 1) * V)];
      want.forEach((w, i) => {
        const row = got.subarray(i * V, (i + 1) * V);
        const { maxAbs } = compareRow(w, row);
        expect(maxAbs, `output ${i}`).toBeLessThan(tolerance(name));
        expect(argmax(row), `output ${i}`).toBe(argmax(w));
      });
      // The batched step extended each sequence: a single-sequence step on sequence 1 continues C.
      const next = await multi.b.forward({ tokens: Int32Array.of(A[1]!), pos: C.length, allLogits: false, seq: 1 });
      const ref = await alone([...C, A[1]!]);
      expect(compareRow(ref.subarray(C.length * V), next).maxAbs).toBeLessThan(tolerance(name));
    } finally {
      multi.close();
      single.close();
    }
  });

  // WebGPU validates with the same checkStep (exercised on it in the webgpu block below, without another device).
  it.skipIf(name === 'webgpu')('refuses steps outside the cache with a RangeError', async () => {
    const m = await backendFor(name, 2);
    try {
      const rows = (seqs: number[], positions: number[], outputs: number[]) => ({ seqs: Int32Array.from(seqs), positions: Int32Array.from(positions), outputs: Int32Array.from(outputs) });
      await expect(m.b.forward({ tokens: Int32Array.of(1), pos: 0, allLogits: false, seq: 2 })).rejects.toThrow(/sequence 2 is outside the 2/);
      await expect(m.b.forward({ tokens: Int32Array.of(1, 2), pos: 0, allLogits: false, rows: rows([0, 5], [0, 0], [1]) })).rejects.toThrow(/sequence 5/);
      await expect(m.b.forward({ tokens: Int32Array.of(1, 2), pos: 0, allLogits: false, rows: rows([0, 1], [0, CTX], [1]) })).rejects.toThrow(/position 64/);
      await expect(m.b.forward({ tokens: Int32Array.of(1, 2), pos: 0, allLogits: false, rows: rows([0, 1], [0, 0], [2]) })).rejects.toThrow(/output row 2/);
      await expect(m.b.forward({ tokens: Int32Array.of(1, 2), pos: 0, allLogits: false, rows: rows([0], [0], [1]) })).rejects.toThrow(/1 sequence ids/);
    } finally {
      m.close();
    }
  });
});

describe('concurrent generate() calls', () => {
  const prompts = ['Once upon a time', 'The little dog', 'Lily wanted to', 'One day, a bird'];

  it.each(BACKENDS)(
    'are batched into multi-sequence steps and give the tokens they give alone (%s)',
    async (backend) => {
      const maxTokens = backend === 'wasm' ? 24 : 12;
      const alone = await loadModel(MODEL, { backend, contextLength: CTX, threads: 2 });
      const together = await loadModel(MODEL, { backend, contextLength: CTX, threads: 2, sequences: 3 });
      try {
        expect(together.info.sequences).toBe(3);
        const want: number[][] = [];
        for (const p of prompts) want.push((await alone.complete(p, { maxTokens, temperature: 0, ignoreEos: true })).tokens);
        // Four calls on three sequences: the fourth waits for a free one. Two greedy (argmax), two top-k sampled with a seed.
        const runs = prompts.map((p, i) => together.complete(p, { maxTokens, ignoreEos: true, ...(i % 2 ? { temperature: 0.8, topK: 5, seed: i } : { temperature: 0 }) }));
        const got = await Promise.all(runs);
        expect(got[0]!.tokens).toEqual(want[0]);
        expect(got[2]!.tokens).toEqual(want[2]);
        // Sampled runs equal the same sampled runs made alone.
        for (const i of [1, 3]) {
          const solo = await alone.complete(prompts[i]!, { maxTokens, ignoreEos: true, temperature: 0.8, topK: 5, seed: i });
          expect(got[i]!.tokens, prompts[i]).toEqual(solo.tokens);
        }
        const c = together.batchCounters;
        // the three first calls' steps ran together (prefill and every decode step but the last ones)
        expect(c.multiSequenceSteps).toBeGreaterThanOrEqual(maxTokens - 1);
        // A follow-up prompt extending one of them reuses that sequence's cache.
        const follow = await together.complete([...got[2]!.promptTokens, ...got[2]!.tokens], { maxTokens: 2, temperature: 0 });
        expect(follow.stats.promptTokensEvaluated).toBe(1);
      } finally {
        await alone.dispose();
        await together.dispose();
      }
    },
    120_000,
  );

  it('evaluate() runs alongside a generation (all-logits steps run alone) and matches a one-sequence model', async () => {
    const one = await loadModel(MODEL, { backend: 'reference', contextLength: CTX });
    const two = await loadModel(MODEL, { backend: 'reference', contextLength: CTX, sequences: 2 });
    try {
      const ids = [1, 403, 261, 506];
      const want = await one.evaluate(ids);
      const [gen, got] = await Promise.all([two.complete('Once upon', { maxTokens: 6, temperature: 0 }), two.evaluate(ids)]);
      expect(compareRow(want, got).maxAbs).toBeLessThan(1e-5);
      expect(gen.tokens).toEqual((await one.complete('Once upon', { maxTokens: 6, temperature: 0 })).tokens);
    } finally {
      await one.dispose();
      await two.dispose();
    }
  });

  it('a named sequence must exist', async () => {
    const m = await loadModel(MODEL, { backend: 'reference', contextLength: CTX, sequences: 2 });
    try {
      await expect(m.complete('Once', { maxTokens: 1, sequence: 2 })).rejects.toThrow(/sequence 2 does not exist/);
      await expect(loadModel(MODEL, { backend: 'reference', sequences: 0 })).rejects.toThrow(/sequences must be a positive integer/);
    } finally {
      await m.dispose();
    }
  });
});

describe('webgpu', () => {
  it('refuses more sequences than it holds before touching a device', async () => {
    const b = await createBackend('webgpu');
    const file = await openGGUF(MODEL);
    try {
      const program = buildLlamaProgram(llamaHyperparameters(file), 'f16');
      await expect(b.init({ file, program, contextLength: CTX, maxBatch: 4, sequences: b.maxSequences + 1 })).rejects.toThrow(/sequences must be 1 to/);
    } finally {
      file.close();
    }
  });

  it.runIf(HAVE_WEBGPU)('chunked output heads with rows, steps of sequence 1, and unchanged sequence-0 fast paths', async () => {
    const file = await openGGUF(MODEL);
    const hp = llamaHyperparameters(file);
    const V = hp.vocabSize;
    const open = async (sequences: number) => {
      // Two output rows per chunk: a step asking for more runs the output head (and the gather) in chunks.
      const b = (await createBackend('webgpu', { maxOutputRows: 2 })) as WebGPUBackend;
      await b.init({ file, program: buildLlamaProgram(hp, 'f16'), contextLength: CTX, maxBatch: 16, sequences });
      return b;
    };
    const one = await open(1);
    const two = await open(2);
    try {
      // All logits of A on sequence 1 (per-row commands, four chunks of the head) equal those on a one-sequence cache.
      const want = (await one.forward({ tokens: Int32Array.from(A), pos: 0, allLogits: true })).slice();
      const got = (await two.forward({ tokens: Int32Array.from(A), pos: 0, allLogits: true, seq: 1 })).slice();
      expect(got.length).toBe(A.length * V);
      expect(compareRow(want, got).maxAbs).toBeLessThan(2e-3);
      // Greedy and top-k on the GPU for sequence 1 continue it like the one-sequence cache.
      const next = Int32Array.of(argmax(want.subarray((A.length - 1) * V)));
      const wantTop = await one.forwardTopK({ tokens: next, pos: A.length, allLogits: false }, 5);
      const gotTop = await two.forwardTopK({ tokens: next, pos: A.length, allLogits: false, seq: 1 }, 5);
      expect([...gotTop.ids]).toEqual([...wantTop.ids]);
      expect(await two.forwardArgmax({ tokens: Int32Array.of(wantTop.ids[0]!), pos: A.length + 1, allLogits: false, seq: 1 })).toBe(
        await one.forwardArgmax({ tokens: Int32Array.of(wantTop.ids[0]!), pos: A.length + 1, allLogits: false }),
      );
      await expect(
        two.forward({ tokens: Int32Array.of(1, 2), pos: 0, allLogits: false, rows: { seqs: Int32Array.of(0, 1), positions: Int32Array.of(0, CTX), outputs: Int32Array.of(1) } }),
      ).rejects.toThrow(/position 64/);
      await expect(two.forward({ tokens: Int32Array.of(1), pos: 0, allLogits: false, seq: 2 })).rejects.toThrow(/sequence 2 is outside the 2/);
      await expect(two.forwardArgmax({ tokens: Int32Array.of(1), pos: 0, allLogits: false, rows: { seqs: Int32Array.of(0), positions: Int32Array.of(0), outputs: Int32Array.of(0) } })).rejects.toThrow(
        /single-sequence steps only/,
      );
      // A sequence-0 decode step records the same work on a two-sequence cache as on a one-sequence one.
      const work = async (b: WebGPUBackend) => {
        await b.forward({ tokens: Int32Array.from(B), pos: 0, allLogits: false });
        const c0 = b.getCounters();
        await b.forwardArgmax({ tokens: Int32Array.of(B[0]!), pos: B.length, allLogits: false });
        const c1 = b.getCounters();
        return [c1.dispatches - c0.dispatches, c1.submits - c0.submits];
      };
      const single = await work(one);
      expect(await work(two)).toEqual(single);
      // A decode step of three sequences (one token each) in one submit.
      const c0 = two.getCounters();
      await two.forward({
        tokens: Int32Array.of(5, 6, 7),
        pos: 0,
        allLogits: false,
        rows: { seqs: Int32Array.of(0, 1, 0), positions: Int32Array.of(B.length + 1, A.length + 2, B.length + 2), outputs: Int32Array.of(0, 1, 2) },
      });
      const c1 = two.getCounters();
      expect(c1.submits - c0.submits).toBe(1);
      console.log(
        `webgpu stories260K decode step: one sequence ${single[0]} dispatches, ${single[1]} submit; three sequences (one token each, output head in chunks of 2) ${c1.dispatches - c0.dispatches} dispatches, ${c1.submits - c0.submits} submit`,
      );
    } finally {
      one.dispose();
      two.dispose();
      file.close();
    }
  });
});

// GQA 9/3 heads of 64 and a 49152-token vocabulary: the per-row attention over wider heads than stories260K's.
const SMOL = path.join(REPO_ROOT, 'fixtures', 'generated', 'smollm2-135m-1l-q8_0.gguf');

describe.runIf(HAVE_WEBGPU && !F16_RUN)('webgpu, 1-layer SmolLM2-shaped fixture', () => {
  it.runIf(existsSync(SMOL))(
    'two concurrent greedy generations give the tokens each gives alone',
    async () => {
      const alone = await loadModel(SMOL, { backend: 'webgpu', contextLength: CTX });
      const together = await loadModel(SMOL, { backend: 'webgpu', contextLength: CTX, sequences: 2 });
      try {
        const prompts = [
          [1, 504, 2365, 282, 253, 1345, 28, 665],
          [1, 38, 7021, 314],
        ];
        const opts = { maxTokens: 4, temperature: 0, ignoreEos: true };
        const want = [];
        for (const p of prompts) want.push((await alone.complete(p, opts)).tokens);
        const got = await Promise.all(prompts.map((p) => together.complete(p, opts)));
        expect(got.map((g) => g.tokens)).toEqual(want);
        expect(together.batchCounters.multiSequenceSteps).toBeGreaterThanOrEqual(opts.maxTokens - 1);
      } finally {
        await alone.dispose();
        await together.dispose();
      }
    },
    120_000,
  );
});

describe('host-side selection', () => {
  it('argmax and topK take the lowest id on ties', () => {
    const row = Float32Array.from([1, 3, 3, -1, 2, 3]);
    expect(argmax(row)).toBe(1);
    const t = topK(row, 4);
    expect([...t.ids]).toEqual([1, 2, 5, 4]);
    expect([...t.logits]).toEqual([3, 3, 3, 2]);
    expect([...topK(Float32Array.from([5]), 3).ids]).toEqual([0]);
  });

  it('checkStep counts output rows', () => {
    const lim = { maxBatch: 8, contextLength: 16, sequences: 2 };
    expect(checkStep({ tokens: Int32Array.of(1, 2, 3), pos: 0, allLogits: true }, lim)).toEqual({ T: 3, nOut: 3 });
    expect(checkStep({ tokens: Int32Array.of(1, 2), pos: 0, allLogits: false, rows: { seqs: Int32Array.of(0, 1), positions: Int32Array.of(3, 0), outputs: Int32Array.of(0, 1) } }, lim)).toEqual({
      T: 2,
      nOut: 2,
    });
  });
});
