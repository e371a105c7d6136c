/**
 * Embeddings: the per-position hidden states are the ones the logits come from (output.weight ·
 * h = the logits of a normal load) and the last one is llama.cpp's embedding
 * (test/fixtures/llama-embeddings.json, from conformance/perplexity.mjs), pooling modes equal plain loops over them, the same text gives
 * the same vector, on each backend; and `tsinfer embed`.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/index.js';
import { openGGUF } from '../../src/gguf/reader.js';
import { hiddenStateProgram, pool } from '../../src/model/embed.js';
import { buildLlamaProgram, llamaHyperparameters } from '../../src/model/llama.js';
import { REPO_ROOT, sharedPath } from '../helpers/shared.js';
import { HAVE_WEBGPU } from '../kernels/webgpu-helpers.js';

const MODEL = sharedPath('models', 'stories260K.gguf');
const TEXTS = ['Once upon a time, there was a little girl named Lily.', 'The cat sat on the mat.'];

describe('hiddenStateProgram', () => {
  it('drops the output matmul only; its input (the normed hidden state) becomes the output', async () => {
    const file = await openGGUF(MODEL);
    const p = buildLlamaProgram(llamaHyperparameters(file));
    file.close();
    const h = hiddenStateProgram(p);
    expect(h.ops).toEqual(p.ops.slice(0, -1));
    expect(h.ops.at(-1)).toMatchObject({ op: 'rmsnorm', weight: 'output_norm.weight', out: 'hout' });
    expect(h.logits).toBe('hout');
    expect(h.weights).not.toContain('output.weight');
    expect(h.weights).toContain('token_embd.weight');
  });
});

describe('pool', () => {
  it('mean / cls / last / none, and L2 normalisation', () => {
    const h = Float32Array.of(1, 2, 3, 4, 5, 6);
    expect([...pool(h, 3, 2, 'mean', false)]).toEqual([3, 4]);
    expect([...pool(h, 3, 2, 'cls', false)]).toEqual([1, 2]);
    expect([...pool(h, 3, 2, 'last', false)]).toEqual([5, 6]);
    expect([...pool(h, 3, 2, 'none', false)]).toEqual([1, 2, 3, 4, 5, 6]);
    const n = pool(Float32Array.of(3, 4), 1, 2, 'cls', true);
    expect(n[0]).toBeCloseTo(0.6, 7);
    expect(n[1]).toBeCloseTo(0.8, 7);
    expect([...pool(new Float32Array(2), 1, 2, 'mean', true)]).toEqual([0, 0]);
  });
});

const backends = ['reference', 'wasm', ...(HAVE_WEBGPU ? ['webgpu' as const] : [])] as const;

describe.each(backends)('embeddings of stories260K (%s backend)', (backend) => {
  let emb: Model;
  beforeAll(async () => {
    emb = await loadModel(MODEL, { backend, contextLength: 128, embeddings: true });
  });
  afterAll(() => emb?.dispose());

  it('per-position hidden states give the logits through output.weight', async () => {
    const [none] = await emb.embed(TEXTS[0]!, { pooling: 'none', normalize: false });
    const ids = emb.tokenize(TEXTS[0]!);
    const dim = emb.info.hyperparameters.embeddingLength;
    expect(none!.length).toBe(ids.length * dim);
    const lm = await loadModel(MODEL, { backend: 'reference', contextLength: 128 });
    const logits = await lm.evaluate(ids);
    await lm.dispose();
    const file = await openGGUF(MODEL);
    const t = file.tensor('output.weight')!;
    expect(t.type.name).toBe('F32');
    const w = new Float32Array(t.nElements);
    file.source.readInto(t.fileOffset, new Uint8Array(w.buffer));
    file.close();
    const n = emb.info.hyperparameters.vocabSize;
    let maxErr = 0;
    for (let p = 0; p < ids.length; p++) {
      for (let v = 0; v < n; v++) {
        let s = 0;
        for (let d = 0; d < dim; d++) s += w[v * dim + d]! * none![p * dim + d]!;
        maxErr = Math.max(maxErr, Math.abs(s - logits[p * n + v]!));
      }
    }
    expect(maxErr).toBeLessThan(backend === 'reference' ? 1e-3 : 5e-2);
  });

  it("the last token's vector equals llama.cpp's embedding (a file without pooling_type)", async () => {
    const want = JSON.parse(readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'llama-embeddings.json'), 'utf8')) as { texts: { text: string; embedding: number[] }[] };
    for (const { text, embedding } of want.texts) {
      const [v] = await emb.embed(text, { pooling: 'last', normalize: false });
      let maxAbs = 0;
      let dot = 0;
      for (let d = 0; d < embedding.length; d++) {
        maxAbs = Math.max(maxAbs, Math.abs(v![d]! - embedding[d]!));
        dot += v![d]! * embedding[d]!;
      }
      // values of magnitude ~1-5 (norm ~17); the f16 KV cache's rounding order leaves a few 1e-3
      expect(maxAbs).toBeLessThan(1e-2);
      expect(dot / (Math.hypot(...v!) * Math.hypot(...embedding))).toBeGreaterThan(0.99999);
    }
  });

  it('pooling modes equal mean / first / last of the per-position states; same text, same vector', async () => {
    const dim = emb.info.hyperparameters.embeddingLength;
    const [none] = await emb.embed(TEXTS[1]!, { pooling: 'none', normalize: false });
    const rows = none!.length / dim;
    const row = (p: number) => Array.from(none!.subarray(p * dim, (p + 1) * dim));
    const mean = Array.from({ length: dim }, (_, d) => Array.from({ length: rows }, (_, p) => none![p * dim + d]!).reduce((a, b) => a + b, 0) / rows);
    const unit = (v: number[]) => {
      const n = Math.hypot(...v);
      return v.map((x) => x / n);
    };
    const want = { mean, cls: row(0), last: row(rows - 1) };
    for (const pooling of ['mean', 'cls', 'last'] as const) {
      const [raw] = await emb.embed(TEXTS[1]!, { pooling, normalize: false });
      const [normed] = await emb.embed(TEXTS[1]!, { pooling });
      expect(raw!.length).toBe(dim);
      raw!.forEach((x, d) => {
        expect(x).toBeCloseTo(want[pooling][d]!, 5);
      });
      unit(want[pooling]).forEach((x, d) => {
        expect(normed![d]).toBeCloseTo(x, 5);
      });
    }
    // batch of texts = texts one at a time; repeat = identical
    const both = await emb.embed(TEXTS, { pooling: 'mean' });
    const again = await emb.embed(TEXTS[1]!, { pooling: 'mean' });
    expect([...both[1]!]).toEqual([...again[0]!]);
    expect(both[0]).not.toEqual(both[1]);
  });

  it('defaults to the file (no pooling_type: none, as llama.cpp) and refuses what it cannot do', async () => {
    const [v] = await emb.embed('Once');
    expect(v!.length).toBe(emb.tokenize('Once').length * emb.info.hyperparameters.embeddingLength);
    await expect(emb.embed('x', { pooling: 'rank' as never })).rejects.toThrow(/pooling must be one of/);
    expect(() => emb.generate('Once')).toThrow(/loaded with \{ embeddings: true \}/);
    await expect(emb.embed('Once '.repeat(200))).rejects.toThrow(/context holds 128/);
  });
});

it('a model loaded for text refuses embed', async () => {
  const m = await loadModel(MODEL, { backend: 'reference', contextLength: 64 });
  try {
    await expect(m.embed('Once')).rejects.toThrow(/embeddings: true/);
  } finally {
    await m.dispose();
  }
});

it('tsinfer embed prints one vector per line of text, and JSON', () => {
  const bin = path.join(REPO_ROOT, 'bin', 'tsinfer.js');
  let r = spawnSync(process.execPath, [bin, 'embed', '-m', MODEL, '-p', 'Once upon a time\nThe cat', '--pooling', 'mean'], { encoding: 'utf8' });
  expect(r.status).toBe(0);
  const lines = r.stdout.trim().split('\n');
  expect(lines).toHaveLength(2);
  expect(lines[0]).toMatch(/^embedding 0: ( *-?\d\.\d{6}){64}$/);
  r = spawnSync(process.execPath, [bin, 'embed', '-m', MODEL, '-p', 'Once upon a time', '--pooling', 'last', '--json'], { encoding: 'utf8' });
  expect(r.status).toBe(0);
  const j = JSON.parse(r.stdout) as { data: { index: number; embedding: number[] }[] };
  expect(j.data).toHaveLength(1);
  expect(Math.hypot(...j.data[0]!.embedding)).toBeCloseTo(1, 5);
  r = spawnSync(process.execPath, [bin, 'embed', '-m', MODEL, '-p', 'x', '--pooling', 'max'], { encoding: 'utf8' });
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(/--pooling must be one of none, mean, cls, last/);
});
