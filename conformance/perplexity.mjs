#!/usr/bin/env node
/**
 * Perplexity and KL divergence of stories260K: llama.cpp (release v0.5.0, the CPU build bundled
 * in @node-llama-cpp/linux-x64 3.22.1, through node-llama-cpp's llama_decode with logits for the
 * scored positions) beside tsinfer, with llama-perplexity's chunking (src/model/scoring.ts).
 *
 *   node conformance/perplexity.mjs [--chunks 16] [--ctx 256] [--backends reference,wasm]
 *                                   [--types F32,Q8_0,Q6_K,Q5_K_M,Q4_K_M,Q4_0] [--json FILE] [--no-write]
 *                                   [--speed REPS] [--threads N]
 *
 * --speed REPS: only timing, on the F32 file: llama.cpp (PPL with logits to JS; decode alone) and
 * tsinfer's backends alternating run by run, REPS times each; medians printed.
 *
 * 1. llama.cpp's figure: its logits for every chunk (BOS first, positions n_ctx/2 … n_ctx-1),
 *    scored by the same functions tsinfer uses (perplexityOfTokens / klDivergence over a
 *    ScoringEngine whose logits come from llama.cpp). Its token ids of the text are compared
 *    with tsinfer's first.
 * 2. For each TYPE: `tsinfer quantize` of stories260K (time taken), then PPL and KL against the
 *    F32 file's base log-probabilities (llama.cpp's file format), by llama.cpp and by tsinfer.
 * 3. llama.cpp's log-probabilities of the greedy continuations in ../shared/reference/stories260K-greedy.json
 *    (prompt + continuation evaluated as one batch; the log-softmax of the row before each token, and its top 5)
 *    into test/fixtures/llama-logprobs.json, for the `logprobs` option of generate().
 * 4. Writes test/fixtures/llama-perplexity.json (llama.cpp's figures with provenance) so CI checks
 *    tsinfer against them without llama.cpp, and prints a markdown table for BENCHMARKS.md.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureInstalled } from './run.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const SHARED = path.resolve(ROOT, '..', 'shared');
const OUT_DIR = path.join(HERE, 'out');
const MODEL = path.join(SHARED, 'models', 'stories260K.gguf');
const TEXT = path.join(SHARED, 'text', 'tinystories-validation-head.txt');
export const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'llama-perplexity.json');
export const LOGPROBS_FIXTURE = path.join(ROOT, 'test', 'fixtures', 'llama-logprobs.json');
export const EMBEDDINGS_FIXTURE = path.join(ROOT, 'test', 'fixtures', 'llama-embeddings.json');
const EMBED_TEXTS = ['Once upon a time, there was a little girl named Lily.', 'The cat sat on the mat.', 'Tom and Sam went to the park to play with a red ball.'];

/**
 * llama.cpp's embeddings of stories260K (node-llama-cpp's embedding context: the file has no
 * pooling_type, so llama.cpp pools nothing and node-llama-cpp returns the last token's vector,
 * not normalised), for tsinfer's pooling 'last', normalize false.
 */
async function llamaEmbeddings() {
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  llamaPromise ??= getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false });
  const llama = await llamaPromise;
  const model = await llama.loadModel({ modelPath: MODEL, gpuLayers: 0 });
  const ctx = await model.createEmbeddingContext({ contextSize: 128, threads: 1 });
  const out = [];
  for (const text of EMBED_TEXTS) out.push({ text, embedding: Array.from((await ctx.getEmbeddingFor(text)).vector, (x) => round(x, 7)) });
  await ctx.dispose();
  await model.dispose();
  return out;
}

function args(argv) {
  const o = { chunks: 16, ctx: 256, backends: ['reference', 'wasm'], types: ['F32', 'Q8_0', 'Q6_K', 'Q5_K_M', 'Q4_K_M', 'Q4_0'], json: FIXTURE, write: true, threads: 1 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--chunks') o.chunks = Number(argv[++i]);
    else if (a === '--ctx') o.ctx = Number(argv[++i]);
    else if (a === '--threads') o.threads = Number(argv[++i]);
    else if (a === '--backends') o.backends = argv[++i].split(',');
    else if (a === '--types') o.types = argv[++i].split(',').filter((t) => t && t !== 'none');
    else if (a === '--json') o.json = argv[++i];
    else if (a === '--no-write') o.write = false;
    else if (a === '--speed') o.speed = Number(argv[++i]);
    else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

/** The text as llama.cpp's -f gives it (one trailing newline dropped). */
function readText() {
  const t = readFileSync(TEXT, 'utf8');
  return t.endsWith('\n') ? t.slice(0, -1) : t;
}

let llamaPromise;
/** A ScoringEngine whose logits come from llama.cpp (one sequence, n_ctx positions, f16 KV cache, flash attention off). */
async function llamaEngine(modelPath, nCtx, threads, vocab) {
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  llamaPromise ??= getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false });
  const llama = await llamaPromise;
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const context = await model.createContext({ contextSize: nCtx, batchSize: nCtx, threads, flashAttention: false, sequences: 1 });
  const seq = context.getSequence();
  const { nVocab, bos } = vocab;
  let decodeMs = 0;
  const engine = {
    vocabSize: nVocab,
    contextLength: nCtx,
    maxBatch: nCtx,
    bos,
    addEos: false,
    async evalLogits(tokens, _batch, from) {
      await seq.clearHistory();
      const t0 = performance.now();
      const res = await seq.controlledEvaluate(Array.from(tokens, (t, i) => (i >= from ? [t, { generateNext: { logits: true } }] : t)));
      decodeMs += performance.now() - t0;
      const out = new Float32Array((tokens.length - from) * nVocab);
      for (let i = from; i < tokens.length; i++) for (const [t, v] of res[i].next.logits) out[(i - from) * nVocab + t] = v;
      return out;
    },
  };
  /** Seconds llama.cpp takes to evaluate these chunks without handing logits to JS (decode speed alone). */
  async function decodeOnlyMs(tokens, nChunk) {
    let ms = 0;
    for (let c = 0; c < nChunk; c++) {
      const chunk = tokens.slice(c * nCtx, (c + 1) * nCtx);
      chunk[0] = bos;
      await seq.clearHistory();
      const t0 = performance.now();
      await seq.evaluateWithoutGeneratingNewTokens(chunk);
      ms += performance.now() - t0;
    }
    return ms;
  }
  return {
    engine,
    decodeOnlyMs,
    tokenize: (text) => [bos, ...Array.from(model.tokenize(text, false))],
    get decodeMs() {
      return decodeMs;
    },
    async dispose() {
      await context.dispose();
      await model.dispose();
    },
  };
}

/** An in-memory base log-probabilities file (ByteSink + LogProbsFile over the same bytes). */
async function memoryBase(scoring) {
  const parts = [];
  return {
    sink: { write: (b) => void parts.push(Uint8Array.from(b)) },
    open() {
      const all = Buffer.concat(parts);
      return scoring.openLogProbsFile(all.length, (pos, len) => all.subarray(pos, pos + len));
    },
  };
}

const round = (x, d = 6) => Number(x.toFixed(d));

/** llama.cpp's log-probabilities of each greedy continuation token and the top 5 at that step. */
async function greedyLogprobs(llamaEngineOf, scoring) {
  const greedy = JSON.parse(readFileSync(path.join(SHARED, 'reference', 'stories260K-greedy.json'), 'utf8'));
  const out = [];
  for (const g of greedy) {
    const ids = [...g.promptIds, ...g.continuationIds];
    const l = await llamaEngineOf(ids.length);
    const n = l.engine.vocabSize;
    const rows = await l.engine.evalLogits(Int32Array.from(ids), ids.length, g.promptIds.length - 1);
    await l.dispose();
    const steps = g.continuationIds.map((id, k) => {
      const row = rows.subarray(k * n, (k + 1) * n);
      const lse = scoring.negLogProb(row, 0) + row[0];
      const top = Array.from(row.keys())
        .sort((a, b) => row[b] - row[a] || a - b)
        .slice(0, 5);
      return { tokenId: id, logprob: round(row[id] - lse, 7), top: top.map((t) => ({ tokenId: t, logprob: round(row[t] - lse, 7) })) };
    });
    out.push({ prompt: g.prompt, promptIds: g.promptIds, steps });
  }
  return out;
}

const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];

async function speed(o, tokens, llamaTokens, vocab, scoring, loadModel) {
  const t = { llamaLogits: [], llamaDecode: [] };
  for (const b of o.backends) t[b] = [];
  const l = await llamaEngine(MODEL, o.ctx, o.threads, vocab);
  const models = {};
  for (const b of o.backends) models[b] = await loadModel(MODEL, { backend: b, contextLength: o.ctx, threads: o.threads });
  for (let r = 0; r < o.speed; r++) {
    let t0 = performance.now();
    await scoring.perplexityOfTokens(l.engine, llamaTokens, { contextLength: o.ctx, chunks: o.chunks });
    t.llamaLogits.push(performance.now() - t0);
    t.llamaDecode.push(await l.decodeOnlyMs(llamaTokens, o.chunks));
    for (const b of o.backends) {
      t0 = performance.now();
      await models[b].perplexity(tokens, { contextLength: o.ctx, chunks: o.chunks });
      t[b].push(performance.now() - t0);
    }
  }
  await l.dispose();
  for (const b of o.backends) await models[b].dispose();
  const n = o.chunks * o.ctx;
  console.log(
    `speed: ${o.chunks} chunks of ${o.ctx} (${n} tokens), ${o.threads} thread(s), median of ${o.speed}, load average ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}, ${os.cpus()[0]?.model}`,
  );
  for (const [k, v] of Object.entries(t))
    console.log(`  ${k.padEnd(12)} ${(median(v) / 1000).toFixed(3)} s  ${((n * 1000) / median(v)).toFixed(0)} tokens/s  (runs: ${v.map((x) => (x / 1000).toFixed(2)).join(', ')})`);
}

async function main(argv) {
  ensureInstalled();
  const o = args(argv);
  const scoring = await import(path.join(ROOT, 'dist', 'model', 'scoring.js'));
  const { loadModel } = await import(path.join(ROOT, 'dist', 'index.js'));
  const { quantizeModel } = await import(path.join(ROOT, 'dist', 'quant', 'quantize-model.js'));
  const { LLAMA_CPP_RELEASE } = await import('./lib/llama-ffi.mjs');
  mkdirSync(OUT_DIR, { recursive: true });
  const text = readText();

  // tokens: llama.cpp's and tsinfer's
  const ours0 = await loadModel(MODEL, { backend: 'reference', contextLength: o.ctx });
  const tokens = ours0.tokenize(text, { addSpecial: true, parseSpecial: false });
  // stories260K's vocabulary adds BOS (tokenizer.ggml.add_bos_token), so the perplexity tool puts it first.
  const vocab = { nVocab: ours0.info.hyperparameters.vocabSize, bos: ours0.tokenizer.addBos ? ours0.tokenizer.bosId : undefined };
  if (vocab.bos === undefined) throw new Error('this harness expects a vocabulary that adds BOS');
  await ours0.dispose();
  const l0 = await llamaEngine(MODEL, o.ctx, o.threads, vocab);
  const llamaTokens = l0.tokenize(text);
  await l0.dispose();
  const firstDiff = tokens.findIndex((t, i) => t !== llamaTokens[i]);
  const tokensEqual = tokens.length === llamaTokens.length && firstDiff < 0;
  console.log(`tokens: tsinfer ${tokens.length}, llama.cpp ${llamaTokens.length}, ${tokensEqual ? 'identical' : `first difference at ${firstDiff}`}`);

  if (o.speed) return speed(o, tokens, llamaTokens, vocab, scoring, loadModel);
  const lps = await greedyLogprobs((n) => llamaEngine(MODEL, n, o.threads, vocab), scoring);
  if (o.write) {
    const provenance = `Written by conformance/perplexity.mjs: llama.cpp release ${LLAMA_CPP_RELEASE} (CPU build of @node-llama-cpp/linux-x64 3.22.1, f16 KV cache, flash attention off) logits of stories260K.gguf for prompt + greedy continuation (../shared/reference/stories260K-greedy.json) in one batch; log-softmax of the row before each continuation token, and the 5 best.`;
    writeFileSync(LOGPROBS_FIXTURE, JSON.stringify({ provenance, prompts: lps }) + '\n');
    const embeddings = await llamaEmbeddings();
    writeFileSync(
      EMBEDDINGS_FIXTURE,
      JSON.stringify({
        provenance: `Written by conformance/perplexity.mjs: llama.cpp release ${LLAMA_CPP_RELEASE} (CPU build of @node-llama-cpp/linux-x64 3.22.1, 1 thread, f16 KV cache) embeddings of stories260K.gguf through node-llama-cpp's embedding context (LlamaEmbeddingContext.getEmbeddingFor): no pooling_type in the file, so the last token's hidden state after output_norm, not normalised.`,
        texts: embeddings,
      }) + '\n',
    );
  }

  const types = [];
  let f32Base;
  let llamaF32Base;
  for (const type of o.types) {
    const file = path.join(OUT_DIR, `stories260K-${type.toLowerCase()}.tsinfer.gguf`);
    const tq = performance.now();
    await quantizeModel(MODEL, file, type, { force: true, allowRequantize: false });
    const quantizeMs = performance.now() - tq;
    const row = { type, quantizeMs: round(quantizeMs, 1), fileBytes: readFileSync(file).length };
    // llama.cpp on the same file
    const l = await llamaEngine(file, o.ctx, o.threads, vocab);
    const base = type === 'F32' ? await memoryBase(scoring) : undefined;
    const t0 = performance.now();
    const lp = await scoring.perplexityOfTokens(l.engine, llamaTokens, { contextLength: o.ctx, chunks: o.chunks, saveLogProbs: base?.sink });
    row.llama = { ppl: lp.ppl, pplError: lp.pplError, chunkPpl: lp.chunkPpl.map((x) => round(x, 6)), ms: round(performance.now() - t0, 1), decodeMs: round(l.decodeMs, 1) };
    if (base) llamaF32Base = base.open();
    row.llama.decodeOnlyMs = round(await l.decodeOnlyMs(llamaTokens, lp.chunks), 1);
    if (llamaF32Base && type !== 'F32') {
      const k = await scoring.klDivergence(l.engine, llamaF32Base, { chunks: o.chunks });
      row.llama.kl = { mean: k.kl.mean[0], max: k.kl.max, p99: k.kl.p99, median: k.kl.median, sameTop: k.sameTop[0], pplDiff: k.pplDiff[0], rmsDeltaP: k.deltaP.rms[0] };
    }
    await l.dispose();
    // tsinfer, each backend
    row.tsinfer = {};
    for (const backend of o.backends) {
      const m = await loadModel(file, { backend, contextLength: o.ctx, threads: o.threads });
      const ourBase = type === 'F32' && backend === o.backends[0] ? await memoryBase(scoring) : undefined;
      const p = await m.perplexity(tokens, { contextLength: o.ctx, chunks: o.chunks, saveLogProbs: ourBase?.sink });
      if (ourBase) f32Base = ourBase.open();
      const r = { ppl: p.ppl, pplError: p.pplError, ms: round(p.ms, 1), relDiff: p.ppl / lp.ppl - 1 };
      if (f32Base && type !== 'F32') {
        const k = await m.klDivergence(f32Base, { chunks: o.chunks });
        r.kl = { mean: k.kl.mean[0], max: k.kl.max, p99: k.kl.p99, median: k.kl.median, sameTop: k.sameTop[0], pplDiff: k.pplDiff[0], rmsDeltaP: k.deltaP.rms[0] };
      }
      if (type === 'F32') {
        // KL of the F32 file against its own base: 0 up to the uint16 rounding of the base.
        const k = await m.klDivergence(f32Base, { chunks: o.chunks });
        r.klSelf = { mean: k.kl.mean[0], max: k.kl.max, sameTop: k.sameTop[0] };
      }
      await m.dispose();
      row.tsinfer[backend] = r;
      console.log(
        `${type} ${backend}: PPL ${p.ppl.toFixed(4)} (llama.cpp ${lp.ppl.toFixed(4)}, ${(100 * r.relDiff).toFixed(4)} %)` +
          (r.kl ? `, KL ${r.kl.mean.toExponential(3)} (llama.cpp ${row.llama.kl.mean.toExponential(3)})` : '') +
          ` in ${p.ms.toFixed(0)} ms (llama.cpp ${row.llama.ms.toFixed(0)} ms)`,
      );
    }
    types.push(row);
  }

  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {}
  const result = {
    provenance: `Written by conformance/perplexity.mjs on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC (tsinfer commit ${commit}). "llama" figures: llama.cpp release ${LLAMA_CPP_RELEASE} (CPU build of @node-llama-cpp/linux-x64 3.22.1, ${o.threads} thread(s), f16 KV cache, flash attention off) logits through llama_decode, scored with llama-perplexity's chunking and formulas as src/model/scoring.ts implements them. Files: stories260K.gguf quantized by tsinfer quantize. CPU: ${os.cpus()[0]?.model ?? 'unknown'}.`,
    model: 'stories260K.gguf',
    text: 'tinystories-validation-head.txt',
    contextLength: o.ctx,
    chunks: o.chunks,
    textTokens: tokens.length,
    tokensEqual,
    types,
  };
  if (o.write && types.length > 0) {
    writeFileSync(o.json, JSON.stringify(result, null, 1) + '\n');
    console.log(`wrote ${path.relative(ROOT, o.json)}`);
  }
  // markdown table
  const b = o.backends;
  const lines = [
    `| type | file | quantize | PPL llama.cpp | ${b.map((x) => `PPL tsinfer ${x}`).join(' | ')} | mean KL llama.cpp | ${b.map((x) => `mean KL tsinfer ${x}`).join(' | ')} | same top-1 llama.cpp / tsinfer ${b.at(-1)} | llama.cpp s (with logits / decode only) | ${b.map((x) => `tsinfer ${x} s`).join(' | ')} |`,
    `|${' --- |'.repeat(8 + 3 * b.length)}`,
  ];
  const kl = (k) => (k ? k.mean.toExponential(2) : '—');
  const pct = (x) => `${x >= 0 ? '+' : ''}${(100 * x).toFixed(3)} %`;
  for (const r of types) {
    lines.push(
      `| ${r.type} | ${(r.fileBytes / 1024).toFixed(0)} KiB | ${(r.quantizeMs / 1000).toFixed(2)} s | ${r.llama.ppl.toFixed(4)} ± ${r.llama.pplError.toFixed(4)} | ${b.map((x) => `${r.tsinfer[x].ppl.toFixed(4)} (${pct(r.tsinfer[x].relDiff)})`).join(' | ')} | ${kl(r.llama.kl)} | ${b.map((x) => kl(r.tsinfer[x].kl)).join(' | ')} | ${r.llama.kl ? `${(100 * r.llama.kl.sameTop).toFixed(2)} % / ${(100 * r.tsinfer[b.at(-1)].kl.sameTop).toFixed(2)} %` : '—'} | ${(r.llama.ms / 1000).toFixed(2)} / ${(r.llama.decodeOnlyMs / 1000).toFixed(2)} | ${b.map((x) => (r.tsinfer[x].ms / 1000).toFixed(2)).join(' | ')} |`,
    );
  }
  console.log('\n' + lines.join('\n'));
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (e) => {
      console.error(e);
      process.exit(1);
    },
  );
}
