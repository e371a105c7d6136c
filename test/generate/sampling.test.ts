import { describe, expect, it } from 'vitest';
import { Sampler, argmax, validateSamplingOptions, type SamplingOptions } from '../../src/generate/sampling.js';
import { Rng } from '../../src/generate/rng.js';

// No truncation at all: the draw must follow softmax(logits / temperature).
const PLAIN: SamplingOptions = { topK: 0, topP: 1, minP: 0 };

function softmax(logits: ArrayLike<number>, temperature = 1): number[] {
  const xs = Array.from(logits, (v) => v / temperature);
  const m = Math.max(...xs);
  const es = xs.map((x) => Math.exp(x - m));
  const s = es.reduce((a, b) => a + b, 0);
  return es.map((e) => e / s);
}

/** Logits whose softmax is exactly proportional to `weights`. */
function logitsFromWeights(weights: number[]): Float32Array {
  return Float32Array.from(weights, (w) => Math.log(w));
}

function randomLogits(n: number, seed: number, scale = 3): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    // roughly normal (sum of uniforms), scaled
    out[i] = (rng.next() + rng.next() + rng.next() - 1.5) * scale;
  }
  return out;
}

function draws(s: Sampler, logits: Float32Array, count: number, history: number[] = []): number[] {
  const out: number[] = [];
  for (let i = 0; i < count; i++) out.push(s.sample(logits, history));
  return out;
}

function histogram(xs: number[], n: number): number[] {
  const h = new Array<number>(n).fill(0);
  for (const x of xs) h[x]!++;
  return h;
}

/** The set of tokens that appear in `count` draws. */
function support(s: Sampler, logits: Float32Array, count: number): number[] {
  return [...new Set(draws(s, logits, count))].sort((a, b) => a - b);
}

/**
 * Straightforward re-statement of llama.cpp's chain (penalties, top-k, top-p,
 * min-p, temperature) with a full sort; returns the final distribution.
 */
function referenceChain(logitsIn: Float32Array, history: number[], opts: Required<Omit<SamplingOptions, 'seed'>>): Map<number, number> {
  const n = logitsIn.length;
  const l = Array.from(logitsIn);
  const window = opts.repeatLastN < 0 ? history : opts.repeatLastN === 0 ? [] : history.slice(-opts.repeatLastN);
  const counts = new Map<number, number>();
  for (const t of window) counts.set(t, (counts.get(t) ?? 0) + 1);
  for (const [t, c] of counts) {
    let v = l[t]!;
    v = v <= 0 ? v * opts.repeatPenalty : v / opts.repeatPenalty;
    l[t] = Math.fround(v - (c * opts.frequencyPenalty + opts.presencePenalty));
  }
  let ids = Array.from({ length: n }, (_, i) => i).sort((a, b) => l[b]! - l[a]! || a - b);
  if (opts.temperature <= 0) return new Map([[ids[0]!, 1]]);
  if (opts.topK > 0) ids = ids.slice(0, opts.topK);
  if (opts.topP < 1) {
    const p = softmax(ids.map((i) => l[i]!));
    let cum = 0;
    let keep = ids.length;
    for (let i = 0; i < ids.length; i++) {
      cum += p[i]!;
      if (cum >= opts.topP) {
        keep = i + 1;
        break;
      }
    }
    ids = ids.slice(0, keep);
  }
  if (opts.minP > 0) {
    const minLogit = l[ids[0]!]! + Math.log(opts.minP);
    let keep = 1;
    while (keep < ids.length && l[ids[keep]!]! >= minLogit) keep++;
    ids = ids.slice(0, keep);
  }
  const p = softmax(
    ids.map((i) => l[i]!),
    opts.temperature,
  );
  return new Map(ids.map((id, i) => [id, p[i]!]));
}

describe('argmax', () => {
  it('finds the largest entry', () => {
    expect(argmax(new Float32Array([0.1, -2, 3.5, 3.4, 0]))).toBe(2);
    expect(argmax(new Float32Array([-5, -1, -3]))).toBe(1);
  });
  it('breaks ties towards the lowest id', () => {
    expect(argmax(new Float32Array([1, 7, 3, 7, 7]))).toBe(1);
  });
  it('ignores NaN and handles -Infinity', () => {
    expect(argmax(new Float32Array([NaN, 2, NaN, 5, NaN]))).toBe(3);
    expect(argmax(new Float32Array([-Infinity, -Infinity]))).toBe(0);
  });
  it('rejects empty and all-NaN input', () => {
    expect(() => argmax(new Float32Array(0))).toThrow(RangeError);
    expect(() => argmax(new Float32Array([NaN, NaN]))).toThrow(RangeError);
  });
});

describe('Sampler: greedy', () => {
  it('temperature <= 0 returns the argmax, ties to the lowest id', () => {
    for (const temperature of [0, -1]) {
      const s = new Sampler({ temperature, seed: 1 }, 6);
      expect(s.sample(new Float32Array([0, 4, 1, 4, -2, 3]), [])).toBe(1);
      for (let seed = 0; seed < 20; seed++) {
        const logits = randomLogits(6, seed);
        expect(s.sample(logits, [])).toBe(argmax(logits));
      }
    }
  });

  it('top-k = 1 is greedy at any temperature', () => {
    const n = 5000;
    const s = new Sampler({ topK: 1, topP: 1, minP: 0, temperature: 5, seed: 3 }, n);
    for (let seed = 0; seed < 30; seed++) {
      const logits = randomLogits(n, 100 + seed);
      expect(s.sample(logits, [])).toBe(argmax(logits));
    }
  });

  it('truncation breaks logit ties towards the lower id', () => {
    const l = new Float32Array([1, 3, 0, 3, 3, 0, 3]);
    expect(new Sampler({ topK: 2, topP: 1, minP: 0, seed: 1 }, 7).candidates(l, []).ids).toEqual([1, 3]);
    expect(new Sampler({ topK: 3, topP: 1, minP: 0, seed: 1 }, 7).candidates(l, []).ids).toEqual([1, 3, 4]);
    // top-p without top-k: four equal tokens of ~0.24 each, p = 0.3 needs two of them
    expect(new Sampler({ topK: 0, topP: 0.3, minP: 0, seed: 1 }, 7).candidates(l, []).ids).toEqual([1, 3]);
  });

  it('topP = 0 keeps only the most likely token', () => {
    const s = new Sampler({ topK: 0, topP: 0, minP: 0, temperature: 3, seed: 4 }, 300);
    const logits = randomLogits(300, 9);
    expect(support(s, logits, 200)).toEqual([argmax(logits)]);
  });
});

describe('Sampler: seeding', () => {
  const logits = new Float32Array(16); // uniform: every draw is a coin toss among 16

  it('same seed gives the same sequence', () => {
    const a = draws(new Sampler({ ...PLAIN, temperature: 1, seed: 42 }, 16), logits, 200);
    const b = draws(new Sampler({ ...PLAIN, temperature: 1, seed: 42 }, 16), logits, 200);
    expect(a).toEqual(b);
    expect(new Set(a).size).toBeGreaterThan(8); // really random, not constant
  });

  it('different seeds give different sequences', () => {
    const a = draws(new Sampler({ ...PLAIN, temperature: 1, seed: 1 }, 16), logits, 100);
    const b = draws(new Sampler({ ...PLAIN, temperature: 1, seed: 2 }, 16), logits, 100);
    expect(a).not.toEqual(b);
  });

  it('large seeds are not truncated to 32 bits', () => {
    const a = draws(new Sampler({ ...PLAIN, temperature: 1, seed: 7 }, 16), logits, 100);
    const b = draws(new Sampler({ ...PLAIN, temperature: 1, seed: 7 + 2 ** 32 }, 16), logits, 100);
    expect(a).not.toEqual(b);
  });

  it('no seed (or -1) draws a random one, readable from .seed', () => {
    const s1 = new Sampler({ ...PLAIN, temperature: 1 }, 16);
    const s2 = new Sampler({ ...PLAIN, temperature: 1, seed: -1 }, 16);
    expect(s2.options.seed).toBeUndefined();
    const d1 = draws(s1, logits, 100);
    expect(d1).not.toEqual(draws(s2, logits, 100));
    const replay = new Sampler({ ...PLAIN, temperature: 1, seed: s1.seed }, 16);
    expect(draws(replay, logits, 100)).toEqual(d1);
  });

  it('reset() with a fixed seed replays the sequence', () => {
    const s = new Sampler({ ...PLAIN, temperature: 1, seed: 5 }, 16);
    const a = draws(s, logits, 60);
    const b = draws(s, logits, 60);
    expect(b).not.toEqual(a);
    s.reset();
    expect(draws(s, logits, 60)).toEqual(a);
  });
});

describe('Sampler: distribution', () => {
  const weights = [0.3, 0.22, 0.15, 0.12, 0.09, 0.07, 0.03, 0.02];
  const logits = logitsFromWeights(weights);
  const N = 20000;

  function check(observed: number[], expected: number[]): void {
    let chi2 = 0;
    for (let i = 0; i < expected.length; i++) {
      const freq = observed[i]! / N;
      expect(Math.abs(freq - expected[i]!)).toBeLessThan(0.012); // ~4 sigma at p = 0.3
      chi2 += (observed[i]! - N * expected[i]!) ** 2 / (N * expected[i]!);
    }
    expect(chi2).toBeLessThan(24.3); // chi-square, 7 dof, p = 0.001
  }

  it('temperature 1 without truncation matches softmax', () => {
    const s = new Sampler({ ...PLAIN, temperature: 1, seed: 12345 }, weights.length);
    check(histogram(draws(s, logits, N), weights.length), softmax(logits));
  });

  it('temperature 0.5 matches softmax(logits / 0.5), not softmax(logits)', () => {
    const s = new Sampler({ ...PLAIN, temperature: 0.5, seed: 777 }, weights.length);
    const h = histogram(draws(s, logits, N), weights.length);
    check(h, softmax(logits, 0.5));
    expect(h[0]! / N).toBeGreaterThan(0.4); // sharper than the untempered 0.30
  });

  it('top-k renormalizes over the k best, then applies temperature', () => {
    // token ids shuffled so sorting matters
    const ids = [5, 2, 7, 0, 3, 1, 6, 4];
    const shuffled = new Float32Array(8);
    ids.forEach((id, rank) => {
      shuffled[id] = logits[rank]!;
    });
    const s = new Sampler({ topK: 3, topP: 1, minP: 0, temperature: 1.5, seed: 99 }, 8);
    const h = histogram(draws(s, shuffled, N), 8);
    const top3 = softmax([logits[0]!, logits[1]!, logits[2]!], 1.5);
    const expected = new Array<number>(8).fill(0);
    expected[5] = top3[0]!;
    expected[2] = top3[1]!;
    expected[7] = top3[2]!;
    for (let i = 0; i < 8; i++) expect(Math.abs(h[i]! / N - expected[i]!)).toBeLessThan(0.012);
    expect(h[0]! + h[3]! + h[1]! + h[6]! + h[4]!).toBe(0);
  });
});

describe('Sampler: top-p and min-p', () => {
  // probabilities 0.5, 0.3, 0.15, 0.05, scattered over ids
  const order = [3, 0, 2, 1]; // order[rank] = id
  const logits = new Float32Array(4);
  [0.5, 0.3, 0.15, 0.05].forEach((p, rank) => {
    logits[order[rank]!] = Math.log(p);
  });

  it('top-p keeps the smallest prefix reaching p', () => {
    const cases: [number, number[]][] = [
      [0.45, [3]],
      [0.75, [0, 3]],
      [0.85, [0, 2, 3]],
      [0.97, [0, 1, 2, 3]],
    ];
    for (const [topP, expected] of cases) {
      const s = new Sampler({ topK: 0, topP, minP: 0, temperature: 1, seed: 11 }, 4);
      expect(support(s, logits, 3000)).toEqual(expected);
      expect(s.candidates(logits, []).ids.slice().sort()).toEqual(expected);
    }
  });

  it('top-p uses probabilities at temperature 1 (temperature is applied last)', () => {
    // at T = 0.3 the tempered probs would be ~[0.85, 0.15, ...] and top-p 0.75 would keep one token
    const s = new Sampler({ topK: 0, topP: 0.75, minP: 0, temperature: 0.3, seed: 12 }, 4);
    const c = s.candidates(logits, []);
    expect(c.ids).toEqual([3, 0]);
    const p1 = 0.6 ** (1 / 0.3) / (1 + 0.6 ** (1 / 0.3));
    expect(c.probs[1]).toBeCloseTo(p1, 6);
    expect(support(s, logits, 3000)).toEqual([0, 3]);
  });

  it('top-p runs on the distribution renormalized by top-k', () => {
    // probs 0.4, 0.3, 0.2, 0.1; after top-k 2: 0.571, 0.429
    const l = logitsFromWeights([0.4, 0.3, 0.2, 0.1]);
    const withK = new Sampler({ topK: 2, topP: 0.55, minP: 0, temperature: 1, seed: 1 }, 4);
    expect(withK.candidates(l, []).ids).toEqual([0]);
    const withoutK = new Sampler({ topK: 0, topP: 0.55, minP: 0, temperature: 1, seed: 1 }, 4);
    expect(withoutK.candidates(l, []).ids).toEqual([0, 1]);
  });

  it('min-p keeps tokens with p >= minP * p_max', () => {
    // relative to the max: 1, 0.5, 0.1, 0.04, 0.01
    const rel = [1, 0.5, 0.1, 0.04, 0.01];
    const l = Float32Array.from([rel[2]!, rel[4]!, rel[0]!, rel[3]!, rel[1]!], Math.log); // ids 2,4,0,3,1 by rank
    const cases: [number, number[]][] = [
      [0.05, [0, 2, 4]],
      [0.2, [2, 4]],
      [0.6, [2]],
      [0.02, [0, 2, 3, 4]],
    ];
    for (const [minP, expected] of cases) {
      for (const topK of [0, 5, 4]) {
        // topK 0 and 5 (= vocab) take the unsorted path, 4 the sorted one
        const s = new Sampler({ topK, topP: 1, minP, temperature: 1, seed: 21 }, 5);
        expect(support(s, l, 4000)).toEqual(expected.filter((id) => topK !== 4 || id !== 1));
      }
    }
  });

  it('the final probabilities are softmax(logit / T) over the survivors', () => {
    const s = new Sampler({ topK: 0, topP: 0.85, minP: 0, temperature: 0.7, seed: 0 }, 4);
    const c = s.candidates(logits, []);
    expect(c.ids).toEqual([3, 0, 2]);
    const expected = softmax([Math.log(0.5), Math.log(0.3), Math.log(0.15)], 0.7);
    c.probs.forEach((p, i) => {
      expect(p).toBeCloseTo(expected[i]!, 6);
    });
  });
});

describe('Sampler: penalties', () => {
  it('repeat penalty divides a positive logit and changes the argmax', () => {
    const l = new Float32Array([2.0, 1.8, -1]);
    const off = new Sampler({ temperature: 0 }, 3);
    expect(off.sample(l, [0])).toBe(0); // default repeatPenalty 1: disabled
    const on = new Sampler({ temperature: 0, repeatPenalty: 1.2 }, 3);
    expect(on.sample(l, [0])).toBe(1); // 2.0 / 1.2 = 1.67 < 1.8
    expect(on.sample(l, [2])).toBe(0);
  });

  it('repeat penalty multiplies a negative logit', () => {
    const l = new Float32Array([-1.0, -1.1]);
    const s = new Sampler({ temperature: 0, repeatPenalty: 1.2 }, 2);
    expect(s.sample(l, [0])).toBe(1); // -1.2 < -1.1 (dividing would give -0.83 and keep 0)
  });

  it('frequency and presence penalties subtract per count / once', () => {
    const l = new Float32Array([1, 0.9, 0.5]);
    const h = [0, 0, 0];
    expect(new Sampler({ temperature: 0, frequencyPenalty: 0.05 }, 3).sample(l, h)).toBe(1); // 1 - 0.15
    expect(new Sampler({ temperature: 0, frequencyPenalty: 0.03 }, 3).sample(l, h)).toBe(0); // 1 - 0.09
    expect(new Sampler({ temperature: 0, presencePenalty: 0.2 }, 3).sample(l, h)).toBe(1); // 1 - 0.2
    expect(new Sampler({ temperature: 0, presencePenalty: 0.05 }, 3).sample(l, h)).toBe(0); // 1 - 0.05
  });

  it('only the last repeatLastN tokens count', () => {
    const l = new Float32Array([2.0, 1.8, 0, 0, 0, 0]);
    const h = [0, 5, 5, 5];
    expect(new Sampler({ temperature: 0, repeatPenalty: 1.5, repeatLastN: 3 }, 6).sample(l, h)).toBe(0);
    expect(new Sampler({ temperature: 0, repeatPenalty: 1.5, repeatLastN: 4 }, 6).sample(l, h)).toBe(1);
    expect(new Sampler({ temperature: 0, repeatPenalty: 1.5, repeatLastN: -1 }, 6).sample(l, h)).toBe(1);
    expect(new Sampler({ temperature: 0, repeatPenalty: 1.5, repeatLastN: 0 }, 6).sample(l, h)).toBe(0);
  });

  it('state does not leak between calls; out-of-vocab history ids are ignored', () => {
    const l = new Float32Array([1, 0.9, 0.5]);
    const s = new Sampler({ temperature: 0, frequencyPenalty: 0.05 }, 3);
    expect(s.sample(l, [0, 0, 0])).toBe(1);
    expect(s.sample(l, [2, 7, -1, 1.5])).toBe(0);
    expect(s.sample(l, [0])).toBe(0); // one occurrence only: 0.95 > 0.9
  });

  it('agrees with a straightforward llama.cpp-order reference on random inputs', () => {
    const rng = new Rng(2024);
    const optionSets: Required<Omit<SamplingOptions, 'seed'>>[] = [
      { temperature: 0.8, topK: 40, topP: 0.95, minP: 0.05, repeatPenalty: 1, repeatLastN: 64, frequencyPenalty: 0, presencePenalty: 0 },
      { temperature: 1.3, topK: 0, topP: 0.9, minP: 0, repeatPenalty: 1.1, repeatLastN: 16, frequencyPenalty: 0.1, presencePenalty: 0.2 },
      { temperature: 0.6, topK: 0, topP: 1, minP: 0.1, repeatPenalty: 1.3, repeatLastN: -1, frequencyPenalty: 0, presencePenalty: 0 },
      { temperature: 1, topK: 500, topP: 0.5, minP: 0.01, repeatPenalty: 1, repeatLastN: 64, frequencyPenalty: -0.5, presencePenalty: 0 },
      { temperature: 2, topK: 0, topP: 0.999, minP: 0, repeatPenalty: 1, repeatLastN: 64, frequencyPenalty: 0, presencePenalty: 0 },
      { temperature: 0, topK: 40, topP: 0.95, minP: 0.05, repeatPenalty: 1.5, repeatLastN: 64, frequencyPenalty: 0, presencePenalty: 0 },
    ];
    for (const n of [7, 3000]) {
      for (const opts of optionSets) {
        const s = new Sampler({ ...opts, seed: 1 }, n);
        for (let trial = 0; trial < 5; trial++) {
          const logits = randomLogits(n, rng.nextUint32(), trial + 1);
          const history = Array.from({ length: 40 }, () => Math.floor(rng.next() * Math.min(n, 30)));
          const ref = referenceChain(logits, history, opts);
          const got = s.candidates(logits, history);
          expect(new Set(got.ids)).toEqual(new Set(ref.keys()));
          got.ids.forEach((id, i) => {
            expect(got.probs[i]).toBeCloseTo(ref.get(id)!, 6);
          });
        }
      }
    }
  });
});

describe('Sampler: large vocabularies', () => {
  it('keeps the 40 best of 128256 under the default chain, and draws from them', () => {
    const n = 128256;
    const logits = randomLogits(n, 5, 2);
    const best = Array.from({ length: n }, (_, i) => i)
      .sort((a, b) => logits[b]! - logits[a]! || a - b)
      .slice(0, 40);
    const s = new Sampler({ minP: 0, topP: 1, seed: 8 }, n);
    const c = s.candidates(logits, []);
    expect(c.ids).toEqual(best); // sorted best first
    const allowed = new Set(best);
    for (const t of draws(s, logits, 200)) expect(allowed.has(t)).toBe(true);
  });

  it('large top-k sorts exactly (packed-key sort path), signs, ties and -0 included', () => {
    const n = 20000;
    const logits = randomLogits(n, 4242, 3);
    for (let i = 0; i < n; i += 97) logits[i] = 0; // ties at zero
    for (let i = 50; i < n; i += 89) logits[i] = -0;
    for (let i = 7; i < n; i += 131) logits[i] = 1.25; // positive ties
    logits[3] = -Infinity;
    const full = Array.from({ length: n }, (_, i) => i).sort((a, b) => logits[b]! - logits[a]! || a - b);
    for (const topK of [15000, 3000, 2000]) {
      // key sort, key sort, heap
      const s = new Sampler({ topK, topP: 1, minP: 0, seed: 1 }, n);
      expect(s.candidates(logits, []).ids).toEqual(full.slice(0, topK));
    }
  });

  it('top-p without top-k or min-p finds large kept sets exactly (bucketed path)', () => {
    // flat-ish logits: top-p needs thousands of tokens, far beyond the first 256
    const n = 20000;
    const opts = { temperature: 1, topK: 0, topP: 0.9, minP: 0, repeatPenalty: 1, repeatLastN: 64, frequencyPenalty: 0, presencePenalty: 0 };
    for (const [scale, topP] of [
      [0.1, 0.9],
      [3, 0.95],
      [8, 0.99],
      [0, 0.5],
    ] as const) {
      const logits = randomLogits(n, 77, scale);
      // outliers: masked tokens and far-away logits land in the lowest bucket
      logits[5] = -Infinity;
      logits[6] = -1e30;
      logits[7] = logits[argmax(logits)]! - 60;
      const o = { ...opts, topP };
      const ref = referenceChain(logits, [], o);
      expect(ref.size).toBeGreaterThan(256);
      const got = new Sampler({ ...o, seed: 1 }, n).candidates(logits, []);
      expect(got.ids.length).toBe(ref.size);
      expect(new Set(got.ids)).toEqual(new Set(ref.keys()));
      got.ids.forEach((id, i) => {
        expect(got.probs[i]).toBeCloseTo(ref.get(id)!, 9);
      });
    }
  });

  it('never draws a NaN logit', () => {
    const logits = new Float32Array([NaN, 0, NaN, 0.1, NaN]);
    for (const opts of [PLAIN, { topK: 4 }, { topK: 0, topP: 0.9, minP: 0 }, {}]) {
      const s = new Sampler({ ...opts, temperature: 2, seed: 3 }, 5);
      expect(support(s, logits, 500)).toEqual([1, 3]);
    }
  });
});

describe('Sampler: inputs', () => {
  it('does not mutate the logits', () => {
    const n = 1000;
    const logits = randomLogits(n, 31);
    const copy = logits.slice();
    const history = [1, 2, 3, 3, 3, 500, 999];
    for (const opts of [
      {},
      { repeatPenalty: 1.5, frequencyPenalty: 0.5, presencePenalty: 0.5, repeatLastN: -1 },
      { temperature: 0, repeatPenalty: 2 },
      { ...PLAIN, temperature: 0.1 },
      { topK: 0, topP: 0.5, minP: 0 },
    ]) {
      const s = new Sampler({ ...opts, seed: 2 }, n);
      s.sample(logits, history);
      s.candidates(logits, history);
      expect(logits).toEqual(copy);
    }
  });

  it('rejects logits of the wrong length', () => {
    const s = new Sampler({}, 10);
    expect(() => s.sample(new Float32Array(9), [])).toThrow(/expected a Float32Array of 10 logits/);
  });

  it('rejects a bad vocabulary size', () => {
    expect(() => new Sampler({}, 0)).toThrow(RangeError);
    expect(() => new Sampler({}, 1.5)).toThrow(RangeError);
  });
});

describe('validateSamplingOptions', () => {
  it('accepts defaults, edge values and unrelated keys', () => {
    expect(() => validateSamplingOptions({})).not.toThrow();
    expect(() => validateSamplingOptions(undefined)).not.toThrow();
    expect(() =>
      validateSamplingOptions({
        temperature: 0,
        topK: 0,
        topP: 1,
        minP: 0,
        repeatPenalty: 1,
        repeatLastN: -1,
        frequencyPenalty: -2,
        presencePenalty: 2,
        seed: 0,
      }),
    ).not.toThrow();
    expect(() => validateSamplingOptions({ topK: -1, topP: 0, minP: 1, seed: -1, maxTokens: 5 })).not.toThrow();
  });

  const bad: [Record<string, unknown>, RegExp][] = [
    [{ temperature: NaN }, /temperature/],
    [{ temperature: Infinity }, /temperature/],
    [{ temperature: '0.7' }, /temperature/],
    [{ topK: 1.5 }, /topK/],
    [{ topK: NaN }, /topK/],
    [{ topP: 1.01 }, /topP.*\[0, 1\]/],
    [{ topP: -0.1 }, /topP/],
    [{ topP: NaN }, /topP/],
    [{ minP: 2 }, /minP/],
    [{ minP: -0.5 }, /minP/],
    [{ repeatPenalty: 0 }, /repeatPenalty/],
    [{ repeatPenalty: -1 }, /repeatPenalty/],
    [{ repeatPenalty: NaN }, /repeatPenalty/],
    [{ repeatLastN: -2 }, /repeatLastN/],
    [{ repeatLastN: 3.5 }, /repeatLastN/],
    [{ frequencyPenalty: Infinity }, /frequencyPenalty/],
    [{ presencePenalty: NaN }, /presencePenalty/],
    [{ seed: 1.5 }, /seed/],
    [{ seed: -2 }, /seed/],
    [{ seed: 2 ** 60 }, /seed/],
  ];
  for (const [opts, message] of bad) {
    it(`rejects ${JSON.stringify(opts, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v))}`, () => {
      expect(() => validateSamplingOptions(opts)).toThrow(RangeError);
      expect(() => validateSamplingOptions(opts)).toThrow(message);
      expect(() => new Sampler(opts as SamplingOptions, 10)).toThrow(RangeError);
    });
  }

  it('rejects a non-object', () => {
    expect(() => validateSamplingOptions(5)).toThrow(RangeError);
    expect(() => validateSamplingOptions([])).toThrow(RangeError);
  });
});

describe('Rng', () => {
  it('produces doubles in [0, 1) with a plausible mean', () => {
    const r = new Rng(1);
    let sum = 0;
    for (let i = 0; i < 10000; i++) {
      const x = r.next();
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
      sum += x;
    }
    expect(Math.abs(sum / 10000 - 0.5)).toBeLessThan(0.01);
  });

  it('is reproducible and seed-sensitive', () => {
    const a = new Rng(123);
    const b = new Rng(123);
    const c = new Rng(124);
    const xa = Array.from({ length: 8 }, () => a.nextUint32());
    expect(Array.from({ length: 8 }, () => b.nextUint32())).toEqual(xa);
    expect(Array.from({ length: 8 }, () => c.nextUint32())).not.toEqual(xa);
  });
});
