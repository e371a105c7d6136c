/**
 * Scoring a text: perplexity and KL divergence computed the way llama.cpp's
 * perplexity tool computes them (tools/perplexity/perplexity.cpp, default mode),
 * and its binary file of base log-probabilities for `--kl-divergence`.
 *
 * Perplexity, as llama.cpp:
 *   - the whole text is tokenized once, with BOS/EOS as the vocabulary asks;
 *   - it needs at least 2·n_ctx tokens; it is cut into floor(n / n_ctx) chunks of
 *     n_ctx tokens (the tail is dropped), at most `chunks` of them;
 *   - each chunk is evaluated from an empty KV cache, in batches of n_batch tokens;
 *     the first token of a chunk is replaced by BOS when the vocabulary adds one
 *     (llama.cpp, with n_batch >= 2·n_ctx, also packs n_batch/n_ctx chunks into one
 *     batch as separate sequences: faster, the same numbers; tsinfer runs one chunk at a time);
 *   - only the second half is scored: with first = floor(n_ctx / 2), the logits at
 *     positions first … n_ctx-2 predict tokens first+1 … n_ctx-1 (n_ctx-1-first per chunk);
 *   - nll = -log softmax(logits)[token] (max-subtracted, the sum in double); after each
 *     chunk the running PPL = exp(Σnll / count) is printed as `[i]x.xxxx,`; at the end
 *     `PPL = exp(mean) +/- sqrt((mean(nll²) - mean²) / (count-1)) · PPL`.
 *
 * The base log-probabilities file (llama.cpp's `--kl-divergence-base`), little-endian:
 *   char[8] "_logits_"; int32 n_ctx; int32 n_vocab; int32 n_chunk;
 *   int32 tokens[n_chunk · n_ctx]                       (the text's tokens, BOS not substituted)
 *   per chunk, n_ctx-1-first rows of nv = 2·ceil(n_vocab/2) + 4 uint16 each:
 *     float32 scale, float32 min_log_prob                (the first 4 uint16)
 *     uint16 q[n_vocab] (+1 pad when n_vocab is odd)      log p[i] = scale·q[i] + min_log_prob
 *   where, with max/min the row's largest/smallest logit and min clamped to max-16,
 *   scale = (max-min)/65535, q[i] = round((logit[i]-min)/scale) (0 at or below min),
 *   min_log_prob = min - max - log Σ exp(logit-max).
 */
import { AbortError } from '../generate/errors.js';

/** What scoring needs from a loaded model. */
export interface ScoringEngine {
  readonly vocabSize: number;
  /** KV cache positions of the loaded model: n_ctx may not exceed it. */
  readonly contextLength: number;
  /** Most tokens one step may carry. */
  readonly maxBatch: number;
  /** BOS id when the vocabulary adds BOS, else undefined. */
  readonly bos: number | undefined;
  readonly addEos: boolean;
  /**
   * Evaluates `tokens` from an empty cache in steps of `batch` tokens; returns the
   * logits of positions from..tokens.length-1 (one row of vocabSize floats each).
   */
  evalLogits(tokens: Int32Array, batch: number, from: number): Promise<Float32Array>;
}

export interface PerplexityOptions {
  /** Tokens per chunk (llama.cpp's -c); default 512, at most the loaded context. */
  contextLength?: number;
  /** Most chunks to evaluate (llama.cpp's --chunks); default all. */
  chunks?: number;
  /** Tokens per step (llama.cpp's -b); default the model's batch size; capped at contextLength. */
  batchSize?: number;
  /** Called after every chunk with the running figures. */
  onChunk?: (p: PerplexityProgress) => void;
  /** Write llama.cpp's base log-probabilities file (--kl-divergence-base) to this sink. */
  saveLogProbs?: ByteSink;
  signal?: AbortSignal;
}

export interface ByteSink {
  write(bytes: Uint8Array): void | Promise<void>;
}

export interface PerplexityProgress {
  /** Chunks done (1-based) and in all. */
  readonly chunk: number;
  readonly chunks: number;
  /** Running perplexity over the chunks done. */
  readonly ppl: number;
  readonly elapsedMs: number;
}

export interface PerplexityResult {
  readonly ppl: number;
  /** llama.cpp's error estimate: PPL · sqrt(var(nll) / (count-1)). */
  readonly pplError: number;
  /** Running perplexity after each chunk, as llama.cpp prints `[1]…,[2]…`. */
  readonly chunkPpl: number[];
  readonly chunks: number;
  readonly contextLength: number;
  readonly batchSize: number;
  /** Scored tokens: chunks · (n_ctx - 1 - n_ctx/2). */
  readonly scoredTokens: number;
  /** Tokens of the whole text. */
  readonly textTokens: number;
  /** Tokens evaluated (chunks · n_ctx) and the time it took. */
  readonly evaluatedTokens: number;
  readonly ms: number;
  readonly tokensPerSecond: number;
}

/** Lets timers and signal handlers (Ctrl-C) run between chunks: the backends compute synchronously. */
const yieldToEventLoop = () => new Promise<void>((r) => (typeof setImmediate === 'function' ? setImmediate(r) : setTimeout(r, 0)));

export class ScoringError extends Error {
  override readonly name = 'ScoringError';
}

/** n_ctx / n_batch / chunk count checks shared by perplexity and KL divergence. */
function plan(engine: ScoringEngine, opts: { contextLength?: number; chunks?: number; batchSize?: number }) {
  const nCtx = opts.contextLength ?? 512;
  if (!Number.isInteger(nCtx) || nCtx < 4) throw new RangeError(`contextLength must be an integer >= 4, got ${opts.contextLength}`);
  if (nCtx > engine.contextLength) {
    throw new RangeError(`contextLength ${nCtx} exceeds the model's loaded context of ${engine.contextLength} (load it with contextLength >= ${nCtx})`);
  }
  const batch = Math.min(opts.batchSize ?? engine.maxBatch, nCtx, engine.maxBatch);
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`batchSize must be a positive integer, got ${opts.batchSize}`);
  if (opts.chunks !== undefined && (!Number.isInteger(opts.chunks) || opts.chunks < 1)) throw new RangeError(`chunks must be a positive integer, got ${opts.chunks}`);
  if (engine.addEos) throw new ScoringError('the vocabulary adds EOS to every text (tokenizer.ggml.add_eos_token); llama.cpp refuses to compute perplexity with it and so does tsinfer');
  return { nCtx, batch, first: nCtx >> 1 };
}

/** -log softmax(row)[tok], as llama.cpp: max-subtracted, the sum of exponentials in double. */
export function negLogProb(row: Float32Array, tok: number): number {
  let max = row[0]!;
  for (let i = 1; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
  return max + Math.log(sum) - row[tok]!;
}

/** Mean and llama.cpp's uncertainty of the mean; 0 uncertainty for fewer than 11 values as there. */
function meanAndUncertainty(sum: number, sum2: number, count: number): [number, number] {
  if (count < 1) return [0, 0];
  const f = sum / count;
  const df = sum2 / count - f * f;
  return [f, df > 0 && count > 10 ? Math.sqrt(df / (count - 1)) : 0];
}

function pplOf(nll: number, nll2: number, count: number): { ppl: number; err: number } {
  const mean = nll / count;
  const ppl = Math.exp(mean);
  const v = nll2 / count - mean * mean;
  return { ppl, err: v > 0 ? Math.sqrt(v / (count - 1)) * ppl : NaN };
}

const LOGITS_MAGIC = '_logits_';

/** uint16 per row of the base file: scale and min (two floats) plus the vocabulary padded to even. */
export function logProbRowWidth(nVocab: number): number {
  return 2 * ((nVocab + 1) >> 1) + 4;
}

/** Round to nearest, ties to even (what llama.cpp's nearest_int does through float32 addition). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Encodes one row of logits as llama.cpp stores base log-probabilities; returns -log p[tok]. */
export function encodeLogProbRow(logits: Float32Array, tok: number, out: Uint16Array): number {
  const n = logits.length;
  let max = logits[0]!;
  let min = logits[0]!;
  for (let i = 1; i < n; i++) {
    const v = logits[i]!;
    if (v > max) max = v;
    if (v < min) min = v;
  }
  min = Math.fround(Math.max(min, max - 16));
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.fround(Math.exp(logits[i]! - max));
  const logSum = Math.fround(Math.log(sum));
  const minLogProb = Math.fround(min - max - logSum);
  const scale = Math.fround((max - min) / 65535);
  const head = new Float32Array(out.buffer, out.byteOffset, 2);
  head[0] = scale;
  head[1] = minLogProb;
  const q = out.subarray(4);
  if (scale > 0) {
    const inv = Math.fround(1 / scale);
    for (let i = 0; i < n; i++) {
      const v = logits[i]!;
      q[i] = v > min ? Math.min(65535, roundHalfEven(Math.fround(inv * Math.fround(v - min)))) : 0;
    }
  } else {
    q.fill(0, 0, n);
  }
  return max + Math.log(sum) - logits[tok]!;
}

function checkTokens(engine: ScoringEngine, tokens: ArrayLike<number>): void {
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (!Number.isInteger(t) || t < 0 || t >= engine.vocabSize) throw new ScoringError(`token id ${t} at ${i} is outside the vocabulary of ${engine.vocabSize}`);
  }
}

/** Logits of the scored half of chunk `c` (positions first … n_ctx-1), BOS substituted as llama.cpp does. */
function evalChunk(engine: ScoringEngine, tokens: ArrayLike<number>, c: number, nCtx: number, batch: number, first: number): Promise<Float32Array> {
  const chunk = Int32Array.from({ length: nCtx }, (_, i) => tokens[c * nCtx + i]!);
  if (engine.bos !== undefined) chunk[0] = engine.bos;
  return engine.evalLogits(chunk, batch, first);
}

/** Perplexity of a tokenized text, computed as llama.cpp's perplexity tool does (see the top of this file). */
export async function perplexityOfTokens(engine: ScoringEngine, tokens: readonly number[], opts: PerplexityOptions = {}): Promise<PerplexityResult> {
  const { nCtx, batch, first } = plan(engine, opts);
  checkTokens(engine, tokens);
  if (tokens.length < 2 * nCtx) {
    throw new ScoringError(`the text tokenizes to ${tokens.length} tokens; perplexity with a context of ${nCtx} needs at least ${2 * nCtx} (as llama.cpp)`);
  }
  const nChunk = Math.min(Math.floor(tokens.length / nCtx), opts.chunks ?? Infinity);
  const nVocab = engine.vocabSize;
  const sink = opts.saveLogProbs;
  const nv = logProbRowWidth(nVocab);
  if (sink) {
    const head = new Uint8Array(20 + 4 * nChunk * nCtx);
    for (let i = 0; i < 8; i++) head[i] = LOGITS_MAGIC.charCodeAt(i);
    const dv = new DataView(head.buffer);
    dv.setInt32(8, nCtx, true);
    dv.setInt32(12, nVocab, true);
    dv.setInt32(16, nChunk, true);
    for (let i = 0; i < nChunk * nCtx; i++) dv.setInt32(20 + 4 * i, tokens[i]!, true);
    await sink.write(head);
  }
  const perChunk = nCtx - 1 - first;
  const rows = sink ? new Uint16Array(perChunk * nv) : undefined;
  let nll = 0;
  let nll2 = 0;
  let count = 0;
  const chunkPpl: number[] = [];
  const t0 = performance.now();
  for (let c = 0; c < nChunk; c++) {
    await yieldToEventLoop();
    if (opts.signal?.aborted) throw new AbortError();
    const logits = await evalChunk(engine, tokens, c, nCtx, batch, first);
    for (let j = 0; j < perChunk; j++) {
      const row = logits.subarray(j * nVocab, (j + 1) * nVocab);
      const tok = tokens[c * nCtx + first + j + 1]!;
      const v = rows ? encodeLogProbRow(row, tok, rows.subarray(j * nv, (j + 1) * nv)) : negLogProb(row, tok);
      nll += v;
      nll2 += v * v;
    }
    count += perChunk;
    if (sink) await sink.write(new Uint8Array(rows!.buffer, rows!.byteOffset, rows!.byteLength));
    chunkPpl.push(Math.exp(nll / count));
    opts.onChunk?.({ chunk: c + 1, chunks: nChunk, ppl: chunkPpl[c]!, elapsedMs: performance.now() - t0 });
  }
  const ms = performance.now() - t0;
  const { ppl, err } = pplOf(nll, nll2, count);
  return {
    ppl,
    pplError: err,
    chunkPpl,
    chunks: nChunk,
    contextLength: nCtx,
    batchSize: batch,
    scoredTokens: count,
    textTokens: tokens.length,
    evaluatedTokens: nChunk * nCtx,
    ms,
    tokensPerSecond: (nChunk * nCtx * 1000) / ms,
  };
}

// ------------------------------------------------------------------ KL divergence

/** The header of a base log-probabilities file and a reader of its chunks. */
export interface LogProbsFile {
  readonly nCtx: number;
  readonly nVocab: number;
  readonly nChunk: number;
  readonly tokens: Int32Array;
  /** The n_ctx-1-n_ctx/2 rows of chunk i (logProbRowWidth(nVocab) uint16 each). */
  readChunk(i: number): Uint16Array;
}

/** Parses a base log-probabilities file through positioned reads (`read(position, length)`), checking sizes first. */
export function openLogProbsFile(size: number, read: (position: number, length: number) => Uint8Array, name = 'file'): LogProbsFile {
  const bad = (m: string) => new ScoringError(`${name} is not a llama.cpp log-probabilities file: ${m}`);
  if (size < 20) throw bad(`it has ${size} bytes, less than the 20-byte header`);
  const head = read(0, 20);
  const magic = String.fromCharCode(...head.subarray(0, 8));
  if (magic !== LOGITS_MAGIC) throw bad(`it starts with ${JSON.stringify(magic)}, not "_logits_"`);
  const dv = new DataView(head.buffer, head.byteOffset, 20);
  const nCtx = dv.getInt32(8, true);
  const nVocab = dv.getInt32(12, true);
  const nChunk = dv.getInt32(16, true);
  if (nCtx < 4 || nVocab < 1 || nChunk < 1) throw bad(`n_ctx ${nCtx}, n_vocab ${nVocab}, n_chunk ${nChunk}`);
  const nv = logProbRowWidth(nVocab);
  const perChunk = nCtx - 1 - (nCtx >> 1);
  const chunkBytes = perChunk * nv * 2;
  const tokensBytes = 4 * nCtx * nChunk;
  const expected = 20 + tokensBytes + nChunk * chunkBytes;
  if (size !== expected) throw bad(`it has ${size} bytes; n_ctx ${nCtx}, n_vocab ${nVocab}, n_chunk ${nChunk} make ${expected}`);
  const tb = read(20, tokensBytes);
  const tokens = new Int32Array(nCtx * nChunk);
  const tdv = new DataView(tb.buffer, tb.byteOffset, tokensBytes);
  for (let i = 0; i < tokens.length; i++) tokens[i] = tdv.getInt32(4 * i, true);
  return {
    nCtx,
    nVocab,
    nChunk,
    tokens,
    readChunk(i) {
      if (!Number.isInteger(i) || i < 0 || i >= nChunk) throw new RangeError(`chunk ${i} is outside 0..${nChunk - 1}`);
      const b = read(20 + tokensBytes + i * chunkBytes, chunkBytes);
      // Copy so the rows are 4-byte aligned for the float32 head of each row.
      const out = new Uint16Array(perChunk * nv);
      new Uint8Array(out.buffer).set(b);
      return out;
    },
  };
}

export interface KlDivergenceOptions {
  /** Tokens per step; default the model's batch size (capped at the file's n_ctx). */
  batchSize?: number;
  /** Most chunks to compare; default all in the file. */
  chunks?: number;
  /** After every chunk: the running figures of llama.cpp's per-chunk line. */
  onChunk?: (p: PerplexityProgress & KlRunning) => void;
  signal?: AbortSignal;
}

/** Value and uncertainty, as llama.cpp prints `x ± y`. */
export type Estimate = readonly [value: number, uncertainty: number];

/** What llama.cpp prints after each chunk of --kl-divergence (running over the chunks so far). */
export interface KlRunning {
  readonly pplQ: Estimate;
  /** ln(PPL(Q)/PPL(base)). */
  readonly lnPplRatio: Estimate;
  readonly klMean: Estimate;
  /** RMS of Δp, as a fraction. */
  readonly rmsDeltaP: Estimate;
  readonly sameTop: Estimate;
}

interface KlSums {
  nll: number;
  nll2: number;
  nllBase: number;
  nllBase2: number;
  nllNllBase: number;
  kld: number;
  kld2: number;
  pDiff: number;
  pDiff2: number;
  pDiff4: number;
  sameTop: number;
  count: number;
}

/** llama.cpp's running estimates from the sums (the same formulas as its per-chunk line and summary). */
function klEstimates(s: KlSums) {
  const n = s.count;
  const covariance = n < 10 ? 0 : (s.nllNllBase / n - (s.nll / n) * (s.nllBase / n)) / (n - 1);
  const lnPpl = meanAndUncertainty(s.nll, s.nll2, n);
  const lnBase = meanAndUncertainty(s.nllBase, s.nllBase2, n);
  const mse = meanAndUncertainty(s.pDiff2, s.pDiff4, n);
  const rms = Math.sqrt(mse[0]);
  const same = s.sameTop / n;
  const running: KlRunning = {
    pplQ: [Math.exp(lnPpl[0]), Math.exp(lnPpl[0]) * lnPpl[1]],
    lnPplRatio: [lnPpl[0] - lnBase[0], Math.sqrt(lnPpl[1] ** 2 + lnBase[1] ** 2 - 2 * covariance)],
    klMean: meanAndUncertainty(s.kld, s.kld2, n),
    rmsDeltaP: [rms, rms > 0 ? (0.5 / rms) * mse[1] : 0],
    sameTop: [same, n > 1 ? Math.sqrt((same * (1 - same)) / (n - 1)) : 0],
  };
  return { running, lnPpl, lnBase, covariance };
}

export interface KlDivergenceResult {
  readonly chunks: number;
  readonly contextLength: number;
  readonly count: number;
  readonly ppl: Estimate;
  readonly pplBase: Estimate;
  /** Correlation of ln PPL(Q) and ln PPL(base). */
  readonly lnPplCorrelation: number;
  readonly lnPplRatio: Estimate;
  readonly pplRatio: Estimate;
  readonly pplDiff: Estimate;
  readonly kl: {
    readonly mean: Estimate;
    readonly max: number;
    readonly p99_9: number;
    readonly p99: number;
    readonly p95: number;
    readonly p90: number;
    readonly median: number;
    readonly p10: number;
    readonly p5: number;
    readonly p1: number;
    readonly p0_1: number;
    readonly min: number;
  };
  /** Δp = p(token) - p_base(token), as fractions (llama.cpp prints them in %). */
  readonly deltaP: {
    readonly mean: Estimate;
    readonly max: number;
    readonly p99_9: number;
    readonly p99: number;
    readonly p95: number;
    readonly p90: number;
    readonly p75: number;
    readonly median: number;
    readonly p25: number;
    readonly p10: number;
    readonly p5: number;
    readonly p1: number;
    readonly p0_1: number;
    readonly min: number;
    readonly rms: Estimate;
  };
  /** Fraction of positions whose argmax agrees with the base's. */
  readonly sameTop: Estimate;
  readonly ms: number;
  readonly tokensPerSecond: number;
}

/** llama.cpp's percentile: linear interpolation over the sorted values, in float32. */
function percentile(sorted: Float32Array, fraction: number): number {
  if (fraction <= 0) return sorted[0]!;
  if (fraction >= 1) return sorted[sorted.length - 1]!;
  let p = Math.fround(fraction * (sorted.length - 1));
  const ip = Math.floor(p);
  p -= ip;
  return (1 - p) * sorted[ip]! + p * sorted[Math.min(ip + 1, sorted.length - 1)]!;
}
function median(sorted: Float32Array): number {
  const n = sorted.length;
  return n % 2 === 0 ? 0.5 * (sorted[n / 2]! + sorted[n / 2 - 1]!) : sorted[(n - 1) / 2]!;
}

/**
 * KL divergence of the model against base log-probabilities, as llama.cpp's
 * `--kl-divergence`: per scored position, KL(P_base || P_model) over the base's
 * entries with log p > -16, the base's and the model's NLL of the true token,
 * top-1 agreement and Δp; summarised as llama.cpp prints them.
 */
export async function klDivergence(engine: ScoringEngine, base: LogProbsFile, opts: KlDivergenceOptions = {}): Promise<KlDivergenceResult> {
  if (base.nVocab !== engine.vocabSize) throw new ScoringError(`the base log-probabilities have a vocabulary of ${base.nVocab}; the model's is ${engine.vocabSize}`);
  const { nCtx, batch, first } = plan(engine, { contextLength: base.nCtx, batchSize: opts.batchSize, chunks: opts.chunks });
  checkTokens(engine, base.tokens);
  const nChunk = Math.min(base.nChunk, opts.chunks ?? Infinity);
  const nVocab = engine.vocabSize;
  const nv = logProbRowWidth(nVocab);
  const perChunk = nCtx - 1 - first;
  const klValues = new Float32Array(perChunk * nChunk);
  const pDiffValues = new Float32Array(perChunk * nChunk);
  const s: KlSums = { nll: 0, nll2: 0, nllBase: 0, nllBase2: 0, nllNllBase: 0, kld: 0, kld2: 0, pDiff: 0, pDiff2: 0, pDiff4: 0, sameTop: 0, count: 0 };
  const logBase = new Float32Array(nVocab);
  const t0 = performance.now();
  for (let c = 0; c < nChunk; c++) {
    await yieldToEventLoop();
    if (opts.signal?.aborted) throw new AbortError();
    const rows = base.readChunk(c);
    const logits = await evalChunk(engine, base.tokens, c, nCtx, batch, first);
    for (let j = 0; j < perChunk; j++) {
      const row = logits.subarray(j * nVocab, (j + 1) * nVocab);
      const tok = base.tokens[c * nCtx + first + j + 1]!;
      const b = rows.subarray(j * nv, (j + 1) * nv);
      const head = new Float32Array(b.buffer, b.byteOffset, 2);
      const scale = head[0]!;
      const minLogProb = head[1]!;
      let max = row[0]!;
      let imax = 0;
      for (let i = 1; i < nVocab; i++) {
        if (row[i]! > max) {
          max = row[i]!;
          imax = i;
        }
      }
      let sum = 0;
      for (let i = 0; i < nVocab; i++) sum += Math.exp(row[i]! - max);
      const logZ = max + Math.log(sum);
      const nll = logZ - row[tok]!;
      let imaxBase = 0;
      let kl = 0;
      for (let i = 0; i < nVocab; i++) {
        const lb = (logBase[i] = scale * b[4 + i]! + minLogProb);
        if (lb > logBase[imaxBase]!) imaxBase = i;
        if (lb > -16) kl += Math.exp(lb) * (lb - row[i]! + logZ);
      }
      const nllBase = -logBase[tok]!;
      const pDiff = Math.exp(-nll) - Math.exp(-nllBase);
      s.nll += nll;
      s.nll2 += nll * nll;
      s.nllBase += nllBase;
      s.nllBase2 += nllBase * nllBase;
      s.nllNllBase += nll * nllBase;
      s.kld += kl;
      s.kld2 += kl * kl;
      s.pDiff += pDiff;
      s.pDiff2 += pDiff * pDiff;
      s.pDiff4 += pDiff ** 4;
      if (imax === imaxBase) s.sameTop++;
      klValues[s.count] = kl;
      pDiffValues[s.count] = pDiff;
      s.count++;
    }
    opts.onChunk?.({ chunk: c + 1, chunks: nChunk, ppl: Math.exp(s.nll / s.count), elapsedMs: performance.now() - t0, ...klEstimates(s).running });
  }
  const ms = performance.now() - t0;
  const n = s.count;
  const { running, lnPpl, lnBase, covariance } = klEstimates(s);
  const ppl = running.pplQ;
  const pplBase: Estimate = [Math.exp(lnBase[0]), Math.exp(lnBase[0]) * lnBase[1]];
  const [lnRatio, ratioUnc] = running.lnPplRatio;
  const pplCov = ppl[0] * pplBase[0] * covariance;
  klValues.sort();
  pDiffValues.sort();
  return {
    chunks: nChunk,
    contextLength: nCtx,
    count: n,
    ppl,
    pplBase,
    lnPplCorrelation: covariance / (lnPpl[1] * lnBase[1]),
    lnPplRatio: running.lnPplRatio,
    pplRatio: [Math.exp(lnRatio), Math.exp(lnRatio) * ratioUnc],
    pplDiff: [ppl[0] - pplBase[0], Math.sqrt(ppl[1] ** 2 + pplBase[1] ** 2 - 2 * pplCov)],
    kl: {
      mean: running.klMean,
      max: klValues[n - 1]!,
      p99_9: percentile(klValues, 0.999),
      p99: percentile(klValues, 0.99),
      p95: percentile(klValues, 0.95),
      p90: percentile(klValues, 0.9),
      median: median(klValues),
      p10: percentile(klValues, 0.1),
      p5: percentile(klValues, 0.05),
      p1: percentile(klValues, 0.01),
      p0_1: percentile(klValues, 0.001),
      min: klValues[0]!,
    },
    deltaP: {
      mean: meanAndUncertainty(s.pDiff, s.pDiff2, n),
      max: pDiffValues[n - 1]!,
      p99_9: percentile(pDiffValues, 0.999),
      p99: percentile(pDiffValues, 0.99),
      p95: percentile(pDiffValues, 0.95),
      p90: percentile(pDiffValues, 0.9),
      p75: percentile(pDiffValues, 0.75),
      median: median(pDiffValues),
      p25: percentile(pDiffValues, 0.25),
      p10: percentile(pDiffValues, 0.1),
      p5: percentile(pDiffValues, 0.05),
      p1: percentile(pDiffValues, 0.01),
      p0_1: percentile(pDiffValues, 0.001),
      min: pDiffValues[0]!,
      rms: running.rmsDeltaP,
    },
    sameTop: running.sameTop,
    ms,
    tokensPerSecond: (nChunk * nCtx * 1000) / ms,
  };
}
