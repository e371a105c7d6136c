#!/usr/bin/env node
/**
 * `tsinfer serve` over loopback: time to first token with and without a cached prompt prefix,
 * and aggregate generated tok/s at 1, 2, 4 and 8 concurrent streams, in one run, against an
 * in-process server (createServer from dist/) with --parallel 8 over a model holding 8 KV cache
 * sequences: concurrent streams are decoded together, one forward pass per step for all of them
 * (weights read once per step), so the aggregate grows with the streams while the steps stay
 * bound by reading the weights.
 *
 *   node bench/serve.mjs [-m FILE] [--prompt-tokens 256] [--tokens 64] [--reps 5] [-t THREADS]
 *
 * Writes bench/results/serve-<date>.json and prints a table. Needs `npm run build`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { execSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createServer, loadModel } from '../dist/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    model: { type: 'string', short: 'm', default: path.join(ROOT, 'fixtures/generated/smollm2-135m-q8_0.gguf') },
    'prompt-tokens': { type: 'string', default: '256' },
    tokens: { type: 'string', default: '64' },
    reps: { type: 'string', default: '5' },
    threads: { type: 'string', short: 't' },
  },
});
const PROMPT_TOKENS = Number(values['prompt-tokens']);
const TOKENS = Number(values.tokens);
const REPS = Number(values.reps);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const model = await loadModel(values.model, { contextLength: 2048, sequences: 8, threads: values.threads ? Number(values.threads) : undefined });
const server = createServer(model, { parallel: 8, queueSize: 64 });
const url = await server.listen(0);
const vocab = model.info.hyperparameters.vocabSize;

/** A prompt of n token ids, different for each seed (ordinary tokens, away from the specials). */
function promptIds(n, seed) {
  const ids = [model.tokenizer.bosId >= 0 ? model.tokenizer.bosId : 1];
  let s = (seed * 2654435761) >>> 0;
  while (ids.length < n) {
    s = (s * 1664525 + 1013904223) >>> 0;
    ids.push(1000 + (s % (vocab - 2000)));
  }
  return ids;
}

async function completion(prompt, maxTokens, extra = {}) {
  const t0 = performance.now();
  const r = await fetch(`${url}/v1/completions`, { method: 'POST', body: JSON.stringify({ prompt, max_tokens: maxTokens, temperature: 0, ignore_eos: true, ...extra }) });
  const j = /** @type {any} */ (await r.json());
  if (r.status !== 200) throw new Error(JSON.stringify(j));
  return { ms: performance.now() - t0, usage: j.usage, timings: j.timings };
}

/** Streams one completion; resolves with the time of the first token and the token count. */
async function stream(prompt, maxTokens) {
  const t0 = performance.now();
  const r = await fetch(`${url}/v1/completions`, {
    method: 'POST',
    body: JSON.stringify({ prompt, max_tokens: maxTokens, temperature: 0, ignore_eos: true, stream: true, stream_options: { include_usage: true } }),
  });
  const reader = r.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  let first = 0;
  let tokens = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    if (!first) first = performance.now() - t0;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (ev === 'data: [DONE]') continue;
      const j = JSON.parse(ev.slice(6));
      if (j.usage) tokens = j.usage.completion_tokens;
    }
  }
  return { ttft: first, tokens, end: performance.now() };
}

// Warm-up.
await completion(promptIds(32, 999), 8);

// Time to first token: a 1-token completion of a fresh prompt (nothing cached) vs. the same
// prompt plus 16 new tokens (the prefix is in the KV cache: a follow-up turn). Alternated.
const cold = [];
const warm = [];
let cachedN = 0;
for (let r = 0; r < REPS; r++) {
  const p = promptIds(PROMPT_TOKENS, r + 1);
  const a = await completion(p, 1, { cache_prompt: false });
  cold.push(a.ms);
  const b = await completion([...p, ...promptIds(17, 100 + r).slice(1)], 1);
  warm.push(b.ms);
  cachedN = b.usage.prompt_tokens_details.cached_tokens;
}

// Aggregate tok/s: N concurrent streams of TOKENS tokens each, prompts of 32 distinct tokens.
const agg = {};
for (const n of [1, 2, 4, 8]) {
  const rates = [];
  for (let r = 0; r < Math.max(1, Math.ceil(REPS / 2)); r++) {
    const t0 = performance.now();
    const rs = await Promise.all(Array.from({ length: n }, (_, i) => stream(promptIds(32, 1000 * n + 10 * r + i), TOKENS)));
    const total = rs.reduce((s, x) => s + x.tokens, 0);
    rates.push((total * 1000) / (Math.max(...rs.map((x) => x.end)) - t0));
  }
  agg[n] = median(rates);
}

await server.close();
await model.dispose();

const commit = execSync('git rev-parse --short HEAD', { cwd: ROOT }).toString().trim();
const result = {
  date: new Date().toISOString(),
  commit,
  cpu: cpus()[0]?.model,
  cores: cpus().length,
  loadavg: loadavg(),
  model: path.basename(values.model),
  backend: model.info.backend,
  promptTokens: PROMPT_TOKENS,
  ttftColdMs: median(cold),
  ttftCachedMs: median(warm),
  cachedTokens: cachedN,
  streamTokens: TOKENS,
  aggregateTokensPerSecond: agg,
  batchCounters: model.batchCounters,
};
mkdirSync(path.join(ROOT, 'bench/results'), { recursive: true });
writeFileSync(path.join(ROOT, `bench/results/serve-${result.date.slice(0, 19).replace(/:/g, '-')}.json`), JSON.stringify(result, null, 2));
console.log(`${result.model}, ${result.cpu} × ${result.cores}, load ${result.loadavg.map((x) => x.toFixed(1)).join(' ')}, commit ${commit}`);
console.log(
  `time to first token, ${PROMPT_TOKENS}-token prompt: ${result.ttftColdMs.toFixed(0)} ms uncached, ${result.ttftCachedMs.toFixed(0)} ms with ${cachedN} tokens cached (+16 new), medians of ${REPS}`,
);
console.log('| concurrent streams | aggregate tok/s | × one stream |\n|---:|---:|---:|');
for (const n of [1, 2, 4, 8]) console.log(`| ${n} | ${agg[n].toFixed(1)} | ${(agg[n] / agg[1]).toFixed(2)} |`);
