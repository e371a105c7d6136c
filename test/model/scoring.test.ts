import { describe, expect, it } from 'vitest';
import { AbortError } from '../../src/generate/errors.js';
import { encodeLogProbRow, klDivergence, logProbRowWidth, negLogProb, openLogProbsFile, perplexityOfTokens, ScoringError, type ScoringEngine } from '../../src/model/scoring.js';

/** Deterministic logits from (position, token at position, previous token): any chunking mistake changes the result. */
function fakeLogits(pos: number, tok: number, prev: number, nVocab: number, out: Float32Array): void {
  for (let v = 0; v < nVocab; v++) out[v] = Math.sin(1.7 * v + 0.31 * tok + 0.05 * pos + 0.7 * prev) * 3 + (v === (tok * 7 + pos) % nVocab ? 2 : 0);
}

function fakeEngine(nVocab: number, opts: { bos?: number; ctx?: number; maxBatch?: number; shift?: number } = {}) {
  const calls: { tokens: number[]; batch: number; from: number }[] = [];
  const engine: ScoringEngine = {
    vocabSize: nVocab,
    contextLength: opts.ctx ?? 64,
    maxBatch: opts.maxBatch ?? 64,
    bos: opts.bos,
    addEos: false,
    async evalLogits(tokens, batch, from) {
      calls.push({ tokens: [...tokens], batch, from });
      const out = new Float32Array((tokens.length - from) * nVocab);
      for (let i = from; i < tokens.length; i++) {
        const row = out.subarray((i - from) * nVocab, (i - from + 1) * nVocab);
        fakeLogits(i, tokens[i]!, i > 0 ? tokens[i - 1]! : -1, nVocab, row);
        if (opts.shift) for (let v = 0; v < nVocab; v += 3) row[v]! += opts.shift;
      }
      return out;
    },
  };
  return { engine, calls };
}

/** llama-perplexity's loop written out plainly: chunks, BOS first, the second half scored. */
function naivePerplexity(tokens: number[], nCtx: number, nVocab: number, bos: number | undefined, maxChunks = Infinity) {
  const nChunk = Math.min(Math.floor(tokens.length / nCtx), maxChunks);
  const first = nCtx >> 1;
  let nll = 0;
  let nll2 = 0;
  let count = 0;
  const running: number[] = [];
  const row = new Float32Array(nVocab);
  for (let c = 0; c < nChunk; c++) {
    const chunk = tokens.slice(c * nCtx, (c + 1) * nCtx);
    if (bos !== undefined) chunk[0] = bos;
    for (let j = first; j < nCtx - 1; j++) {
      fakeLogits(j, chunk[j]!, j > 0 ? chunk[j - 1]! : -1, nVocab, row);
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
      const v = lse - row[tokens[c * nCtx + j + 1]!]!;
      nll += v;
      nll2 += v * v;
      count++;
    }
    running.push(Math.exp(nll / count));
  }
  const mean = nll / count;
  const ppl = Math.exp(mean);
  return { ppl, err: Math.sqrt((nll2 / count - mean * mean) / (count - 1)) * ppl, running, count };
}

const randomTokens = (n: number, nVocab: number, seed = 1) => {
  let s = seed;
  return Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 8) % nVocab);
};

/** A ByteSink collecting into memory, and the LogProbsFile over its bytes. */
function memoryFile() {
  const parts: Uint8Array[] = [];
  return {
    sink: { write: (b: Uint8Array) => void parts.push(Uint8Array.from(b)) },
    bytes: () => {
      const n = parts.reduce((s, p) => s + p.length, 0);
      const all = new Uint8Array(n);
      let o = 0;
      for (const p of parts) all.set(p, (o += p.length) - p.length);
      return all;
    },
  };
}
const openBytes = (b: Uint8Array) => openLogProbsFile(b.length, (pos, len) => b.slice(pos, pos + len), 'test');

describe('perplexity (llama-perplexity chunking)', () => {
  it.each([
    { nCtx: 16, n: 70, bos: 1, batch: 16 },
    { nCtx: 16, n: 70, bos: undefined, batch: 5 },
    { nCtx: 17, n: 40, bos: 2, batch: 64 },
  ])('matches a plain loop: n_ctx $nCtx, $n tokens, BOS $bos, batch $batch', async ({ nCtx, n, bos, batch }) => {
    const nVocab = 11;
    const tokens = randomTokens(n, nVocab);
    const { engine, calls } = fakeEngine(nVocab, { bos });
    const r = await perplexityOfTokens(engine, tokens, { contextLength: nCtx, batchSize: batch });
    const want = naivePerplexity(tokens, nCtx, nVocab, bos);
    expect(r.chunks).toBe(Math.floor(n / nCtx));
    expect(r.scoredTokens).toBe(want.count);
    expect(r.scoredTokens).toBe(r.chunks * (nCtx - 1 - (nCtx >> 1)));
    expect(r.ppl).toBeCloseTo(want.ppl, 10);
    expect(r.pplError).toBeCloseTo(want.err, 10);
    r.chunkPpl.forEach((p, i) => {
      expect(p).toBeCloseTo(want.running[i]!, 10);
    });
    // each chunk starts from BOS (when the vocabulary adds it), steps of min(batch, n_ctx), logits from n_ctx/2
    expect(calls).toHaveLength(r.chunks);
    calls.forEach((c, i) => {
      expect(c.tokens[0]).toBe(bos ?? tokens[i * nCtx]);
      expect(c.tokens.slice(1)).toEqual(tokens.slice(i * nCtx + 1, (i + 1) * nCtx));
      expect(c.batch).toBe(Math.min(batch, nCtx));
      expect(c.from).toBe(nCtx >> 1);
    });
  });

  it('stops after --chunks and reports progress per chunk', async () => {
    const tokens = randomTokens(100, 9);
    const { engine } = fakeEngine(9, { bos: 1 });
    const seen: number[] = [];
    const r = await perplexityOfTokens(engine, tokens, { contextLength: 16, chunks: 2, onChunk: (p) => seen.push(p.chunk) });
    expect(r.chunks).toBe(2);
    expect(seen).toEqual([1, 2]);
    expect(r.ppl).toBeCloseTo(naivePerplexity(tokens, 16, 9, 1, 2).ppl, 10);
  });

  it('stops at the next chunk when the signal is aborted', async () => {
    const { engine, calls } = fakeEngine(9, { bos: 1 });
    const ac = new AbortController();
    const run = perplexityOfTokens(engine, randomTokens(100, 9), { contextLength: 16, signal: ac.signal, onChunk: (p) => p.chunk === 2 && ac.abort() });
    await expect(run).rejects.toThrow(AbortError);
    expect(calls).toHaveLength(2);
  });

  it('refuses a text shorter than 2 n_ctx, as llama.cpp', async () => {
    const { engine } = fakeEngine(9);
    await expect(perplexityOfTokens(engine, randomTokens(31, 9), { contextLength: 16 })).rejects.toThrow(ScoringError);
    await expect(perplexityOfTokens(engine, randomTokens(31, 9), { contextLength: 16 })).rejects.toThrow(/at least 32/);
    await expect(perplexityOfTokens(engine, randomTokens(200, 9), { contextLength: 128 })).rejects.toThrow(/exceeds the model's loaded context of 64/);
    await expect(perplexityOfTokens(engine, [...randomTokens(40, 9), 9], { contextLength: 16 })).rejects.toThrow(/outside the vocabulary/);
    await expect(perplexityOfTokens({ ...engine, addEos: true }, randomTokens(40, 9), { contextLength: 16 })).rejects.toThrow(/add_eos/);
  });
});

describe('base log-probabilities file (llama.cpp format)', () => {
  it('encodes a row as scale/min + uint16 within one step of the true log-probability', () => {
    const nVocab = 301;
    const logits = Float32Array.from({ length: nVocab }, (_, i) => Math.sin(i * 0.37) * 9 - (i === 5 ? 40 : 0));
    const row = new Uint16Array(logProbRowWidth(nVocab));
    expect(row.length).toBe(2 * 151 + 4);
    const nll = encodeLogProbRow(logits, 17, row);
    expect(nll).toBeCloseTo(negLogProb(logits, 17), 7); // the sum of exponentials is taken in float32 steps there, as expf
    const head = new Float32Array(row.buffer, 0, 2);
    const max = Math.max(...logits);
    const lse = max + Math.log(logits.reduce((s, x) => s + Math.exp(x - max), 0));
    expect(head[0]).toBeCloseTo(16 / 65535, 8); // max - min is clamped to 16
    for (let i = 0; i < nVocab; i++) {
      const lp = head[0]! * row[4 + i]! + head[1]!;
      const truth = logits[i]! - lse;
      if (truth > head[1]!) expect(Math.abs(lp - truth)).toBeLessThan(head[0]! * 0.51 + 1e-5);
      else expect(row[4 + i]).toBe(0);
    }
  });

  it('round-trips through the file; a file against itself has KL 0 and the same PPL', async () => {
    const nVocab = 13;
    const tokens = randomTokens(80, nVocab, 7);
    const { engine } = fakeEngine(nVocab, { bos: 1 });
    const f = memoryFile();
    const p = await perplexityOfTokens(engine, tokens, { contextLength: 20, saveLogProbs: f.sink });
    const bytes = f.bytes();
    const perChunk = 20 - 1 - 10;
    expect(bytes.length).toBe(20 + 4 * 4 * 20 + 4 * perChunk * logProbRowWidth(nVocab) * 2);
    expect(new TextDecoder().decode(bytes.subarray(0, 8))).toBe('_logits_');
    const base = openBytes(bytes);
    expect([base.nCtx, base.nVocab, base.nChunk]).toEqual([20, nVocab, 4]);
    expect([...base.tokens]).toEqual(tokens.slice(0, 80));
    const k = await klDivergence(engine, base);
    expect(k.count).toBe(p.scoredTokens);
    // Not exactly 0: the base is stored in steps of 16/65535 in log p (llama.cpp's format), so only that rounding remains.
    expect(Math.abs(k.kl.mean[0])).toBeLessThan(1e-5);
    expect(k.kl.max).toBeLessThan(1e-4);
    expect(k.sameTop[0]).toBe(1);
    expect(k.ppl[0] / p.ppl).toBeCloseTo(1, 8);
    expect(k.pplBase[0] / p.ppl).toBeCloseTo(1, 4);
  });

  it('measures a different model: KL > 0 equal to a direct computation, top-1 and ΔPPL reported', async () => {
    const nVocab = 13;
    const tokens = randomTokens(80, nVocab, 3);
    const f = memoryFile();
    await perplexityOfTokens(fakeEngine(nVocab, { bos: 1 }).engine, tokens, { contextLength: 20, saveLogProbs: f.sink });
    const other = fakeEngine(nVocab, { bos: 1, shift: 0.8 }).engine;
    const k = await klDivergence(other, openBytes(f.bytes()));
    const q = await perplexityOfTokens(other, tokens, { contextLength: 20 });
    // direct KL(P_base || P_other) over the scored positions, from the float logits
    let sum = 0;
    const a = new Float32Array(nVocab);
    for (let c = 0; c < 4; c++) {
      const chunk = tokens.slice(c * 20, c * 20 + 20);
      chunk[0] = 1;
      for (let j = 10; j < 19; j++) {
        fakeLogits(j, chunk[j]!, chunk[j - 1]!, nVocab, a);
        const b = a.map((x, v) => (v % 3 === 0 ? x + 0.8 : x));
        const lsm = (r: Float32Array) => {
          const m = Math.max(...r);
          const l = m + Math.log(r.reduce((s, x) => s + Math.exp(x - m), 0));
          return Array.from(r, (x) => x - l);
        };
        const la = lsm(a);
        const lb = lsm(b);
        sum += la.reduce((s, x, v) => s + Math.exp(x) * (x - lb[v]!), 0);
      }
    }
    expect(k.kl.mean[0]).toBeGreaterThan(1e-3);
    expect(k.kl.mean[0]).toBeCloseTo(sum / 36, 4);
    expect(k.ppl[0]).toBeCloseTo(q.ppl, 10);
    expect(k.pplDiff[0]).toBeCloseTo(k.ppl[0] - k.pplBase[0], 12);
    expect(k.kl.min).toBeLessThanOrEqual(k.kl.median);
    expect(k.kl.median).toBeLessThanOrEqual(k.kl.max);
  });

  it('rejects files that are not llama.cpp log-probabilities', () => {
    const good = new Uint8Array(20 + 4 * 8 + 3 * 2 * logProbRowWidth(3));
    good.set(new TextEncoder().encode('_logits_'));
    const dv = new DataView(good.buffer);
    dv.setInt32(8, 8, true);
    dv.setInt32(12, 3, true);
    dv.setInt32(16, 1, true);
    expect(openBytes(good).nChunk).toBe(1);
    expect(() => openBytes(good.subarray(0, 10))).toThrow(/less than the 20-byte header/);
    expect(() => openBytes(good.subarray(0, good.length - 1))).toThrow(/make/);
    const bad = good.slice();
    bad[0] = 0x41;
    expect(() => openBytes(bad)).toThrow(/not "_logits_"/);
    const neg = good.slice();
    new DataView(neg.buffer).setInt32(16, -5, true);
    expect(() => openBytes(neg)).toThrow(ScoringError);
  });

  it('rejects a base with another vocabulary', async () => {
    const f = memoryFile();
    await perplexityOfTokens(fakeEngine(13, { bos: 1 }).engine, randomTokens(40, 13), { contextLength: 20, saveLogProbs: f.sink });
    await expect(klDivergence(fakeEngine(14, { bos: 1 }).engine, openBytes(f.bytes()))).rejects.toThrow(/vocabulary of 13/);
  });
});
