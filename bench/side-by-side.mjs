#!/usr/bin/env node
/**
 * tsinfer (wasm backend) and llama.cpp side by side on the same GGUF files,
 * same thread count, alternating run by run, in one process.
 *
 * llama.cpp is release v0.5.0's CPU build bundled in @node-llama-cpp/linux-x64
 * (the conformance harness's install: conformance/node_modules), driven through
 * node-llama-cpp: ppN = one evaluateWithoutGeneratingNewTokens call over N
 * random tokens from an empty sequence; tgN = N tokens of greedy generation
 * after a 1-token prompt (seq.evaluate; sampling in the native library, a few
 * µs of binding overhead per token included), and tgN "bare": N single-token
 * evaluateWithoutGeneratingNewTokens calls (no sampling, less of node-llama-cpp's
 * generation loop; the stricter comparison). tsinfer: runBench (dist/cli/bench.js),
 * the same tests through the Backend interface. Both: f16 KV cache, flash
 * attention off (llama-bench's default), batch = the whole prompt.
 *
 *   node bench/side-by-side.mjs [-t 2] [-p 512] [-n 128] [-r 3] FILE...
 *
 * Prints a markdown table with medians and the tsinfer / llama.cpp ratios and
 * writes bench/results/side-by-side-<date>.json. Needs `npm run build` and
 * conformance/node_modules (node conformance/run.mjs installs it).
 */
import { execSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values, positionals } = parseArgs({ allowPositionals: true, options: {
  threads: { type: 'string', short: 't', default: '2' },
  prompt: { type: 'string', short: 'p', default: '512' },
  gen: { type: 'string', short: 'n', default: '128' },
  reps: { type: 'string', short: 'r', default: '3' },
} });
const threads = Number(values.threads), P = Number(values.prompt), N = Number(values.gen), R = Number(values.reps);
const nlc = path.join(ROOT, 'conformance', 'node_modules', 'node-llama-cpp', 'dist', 'index.js');
if (!existsSync(nlc)) {
  console.error('conformance/node_modules is missing: run `node conformance/run.mjs --no-quant --no-infer` (or npm install in conformance/) first');
  process.exit(1);
}
const { getLlama, LlamaLogLevel } = await import(nlc);
const { runBench } = await import(path.join(ROOT, 'dist', 'cli', 'bench.js'));
const { openGGUF } = await import(path.join(ROOT, 'dist', 'gguf', 'reader.js'));
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false });

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
function tokens(n, vocab, seed) {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return 1 + (s % (vocab - 1));
  });
}

async function llamaCpp(file) {
  const t0 = performance.now();
  const model = await llama.loadModel({ modelPath: file, gpuLayers: 0 });
  const loadMs = performance.now() - t0;
  const context = await model.createContext({ contextSize: Math.max(P, N) + 16, batchSize: Math.max(P, 1), threads, flashAttention: false, sequences: 1 });
  const seq = context.getSequence();
  const g = await openGGUF(file);
  const vocab = g.tensor('token_embd.weight').shape[1];
  g.close();
  const pp = async () => {
    await seq.clearHistory();
    const toks = tokens(P, vocab, 1);
    const t = performance.now();
    await seq.evaluateWithoutGeneratingNewTokens(toks);
    return P / ((performance.now() - t) / 1000);
  };
  const tg = async () => {
    await seq.clearHistory();
    const t = performance.now();
    let k = 0;
    // greedy generation of N tokens after a 1-token prompt (sampling runs in the native library)
    for await (const tok of seq.evaluate(tokens(1, vocab, 2), { temperature: 0 })) {
      void tok;
      if (++k >= N) break;
    }
    return N / ((performance.now() - t) / 1000);
  };
  // the same decode without node-llama-cpp's generation loop: one evaluateWithoutGeneratingNewTokens per token
  const tgBare = async () => {
    await seq.clearHistory();
    const toks = tokens(N, vocab, 3);
    const t = performance.now();
    for (const tok of toks) await seq.evaluateWithoutGeneratingNewTokens([tok]);
    return N / ((performance.now() - t) / 1000);
  };
  return { loadMs, pp, tg, tgBare, dispose: async () => { await context.dispose(); await model.dispose(); } };
}

const rows = [];
for (const file of positionals) {
  const name = path.basename(file);
  const l = await llamaCpp(file);
  if (P > 0) await l.pp();
  if (N > 0) await l.tg();
  const res = { file: name, llama: { pp: [], tg: [], tgBare: [], loadMs: l.loadMs }, ours: { pp: [], tg: [] } };
  for (let r = 0; r < R; r++) {
    if (P > 0) res.llama.pp.push(await l.pp());
    if (N > 0) res.llama.tg.push(await l.tg());
    if (N > 0) res.llama.tgBare.push(await l.tgBare());
    const t0 = performance.now();
    const b = await runBench({ file, backend: 'wasm', threads, prompt: P, generate: N, repetitions: 1 });
    res.ours.benchMs ??= performance.now() - t0; // load + warm-up + tests
    for (const x of b.results) res.ours[x.test.startsWith('pp') ? 'pp' : 'tg'].push(x.tokensPerSecond);
    res.bytesPerToken = b.bytesPerToken;
    res.build = b.build;
  }
  await l.dispose();
  rows.push(res);
  const m = (xs) => (xs.length ? median(xs) : NaN);
  console.error(`${name}: pp${P} llama ${m(res.llama.pp).toFixed(1)} vs tsinfer ${m(res.ours.pp).toFixed(1)}; tg${N} llama ${m(res.llama.tg).toFixed(1)} vs tsinfer ${m(res.ours.tg).toFixed(1)}`);
}

let commit = 'unknown';
try { commit = execSync('git rev-parse --short HEAD', { cwd: ROOT }).toString().trim(); } catch {}
const report = { date: new Date().toISOString(), commit, node: process.version, cpu: cpus()[0]?.model, threads, prompt: P, gen: N, reps: R, loadAverage: loadavg(), rows };
mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
const out = path.join(ROOT, 'bench', 'results', `side-by-side-${report.date.replace(/[:.]/g, '-')}.json`);
writeFileSync(out, JSON.stringify(report, null, 2));
const f = (x) => (Number.isFinite(x) ? x.toFixed(1) : '-');
console.log(`| file | test | llama.cpp t/s (median of ${R}) | tsinfer wasm t/s | ratio | tsinfer GB/s |`);
console.log('|---|---|---|---|---|---|');
for (const r of rows) {
  for (const test of ['pp', 'tg', 'tgBare']) {
    const ours = test === 'tgBare' ? 'tg' : test;
    if (!r.llama[test]?.length && !r.ours[ours].length) continue;
    const a = r.llama[test]?.length ? median(r.llama[test]) : NaN;
    const b = r.ours[ours].length ? median(r.ours[ours]) : NaN;
    const gb = ours === 'tg' ? ((b * r.bytesPerToken) / 1e9).toFixed(2) : '';
    const label = test === 'pp' ? `pp${P}` : test === 'tg' ? `tg${N}` : `tg${N} (llama.cpp: bare decode calls)`;
    console.log(`| ${r.file} | ${label} | ${f(a)} | ${f(b)} | ${(b / a).toFixed(2)}× | ${gb} |`);
  }
}
console.log(`\n${threads} threads; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}; commit ${commit}; JSON: ${path.relative(ROOT, out)}`);
