#!/usr/bin/env node
/**
 * tsinfer (wasm backend) and llama.cpp side by side: same GGUF file, same
 * thread count, alternating test by test within each round, in one process.
 *
 * llama.cpp is the libllama that @node-llama-cpp/linux-x64 bundles (the
 * conformance harness's install: conformance/node_modules), driven by bare
 * `llama_decode` calls through its C API (conformance/lib/llama-ffi.mjs: koffi,
 * no node-llama-cpp generation loop): ppN = one batch of N random tokens into an
 * empty context (logits of the last only); tgN = N single-token decode calls
 * (no sampling); tgN @ dD = the same after D tokens were decoded into the context
 * (untimed, batches of 512). tsinfer: the same three tests through its Backend
 * (BenchSession of dist/cli/bench.js; greedy argmax on the device). Both: f16 KV
 * cache, no flash attention (llama-bench's default; --flash for both), batch =
 * the whole prompt. Token ids are the same pseudo-random ones for both.
 *
 *   node bench/side-by-side.mjs [-t 1,2] [-p 512] [-n 128] [-d 1500] [-r 3] [FILE...]
 *
 * Files default to the 135M Q8_0, 135M Q4_K_M and 360M Q8_0 fixtures. Prints a
 * markdown table (medians over the rounds, ratios, GB/s of weights for decode and
 * GMAC/s for prompts, each as a fraction of this machine's ceilings from
 * src/cli/ceilings.ts) and writes bench/results/side-by-side-<date>.json.
 * Needs `npm run build`, fixtures/generated and conformance/node_modules.
 */
import { execSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    threads: { type: 'string', short: 't', default: '1,2' },
    prompt: { type: 'string', short: 'p', default: '512' },
    gen: { type: 'string', short: 'n', default: '128' },
    depth: { type: 'string', short: 'd', default: '1500' },
    reps: { type: 'string', short: 'r', default: '3' },
    flash: { type: 'boolean', default: false },
    ceilings: { type: 'string', default: 'cache' },
  },
});
const threadList = values.threads.split(',').map(Number);
const P = Number(values.prompt),
  N = Number(values.gen),
  D = Number(values.depth),
  R = Number(values.reps);
const files = positionals.length ? positionals : ['smollm2-135m-q8_0.gguf', 'smollm2-135m-q4_k_m.gguf', 'smollm2-360m-q8_0.gguf'].map((f) => path.join(ROOT, 'fixtures', 'generated', f));
for (const f of files) if (!existsSync(f)) throw new Error(`${f} not found (fixtures: npm run fixtures, or link fixtures/generated)`);
if (!existsSync(path.join(ROOT, 'conformance', 'node_modules', 'koffi'))) {
  console.error('conformance/node_modules is missing: npm install in conformance/ (or link an installed one) first');
  process.exit(1);
}
const { llamaDecoder, LLAMA_CPP_RELEASE } = await import(path.join(ROOT, 'conformance', 'lib', 'llama-ffi.mjs'));
const { openBenchSession } = await import(path.join(ROOT, 'dist', 'cli', 'bench.js'));
const { loadCeilings, ceilingAt } = await import(path.join(ROOT, 'dist', 'cli', 'ceilings.js'));
const ceilings = await loadCeilings(threadList, values.ceilings, { log: (l) => process.stderr.write(`ceilings: ${l}\n`) });

const median = (xs) => (xs.length ? [...xs].sort((a, b) => a - b)[xs.length >> 1] : NaN);
/** The pseudo-random ids both engines get (in [1, vocab)). */
function tokens(n, vocab, seed) {
  let s = seed >>> 0;
  return Int32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return 1 + (s % (vocab - 1));
  });
}

/** The three tests on llama.cpp: tok/s each. */
function llamaTests(l) {
  const fill = (depth) => {
    l.clear();
    const toks = tokens(depth, l.nVocab, 3);
    for (let p = 0; p < depth; p += l.nBatch) l.decode(toks.subarray(p, Math.min(depth, p + l.nBatch)));
  };
  const tg = (depth) => {
    fill(depth);
    const toks = tokens(N, l.nVocab, 2);
    const t = performance.now();
    for (let i = 0; i < N; i++) l.decode(toks.subarray(i, i + 1));
    return N / ((performance.now() - t) / 1000);
  };
  return {
    pp: async () => {
      fill(0);
      const toks = tokens(P, l.nVocab, 1);
      const t = performance.now();
      l.decode(toks);
      return P / ((performance.now() - t) / 1000);
    },
    tg: async () => tg(0),
    tgDeep: async () => tg(D),
  };
}

/** The same three tests on tsinfer. */
function oursTests(s) {
  return {
    pp: () => s.pp(P, 0),
    tg: () => s.tg(N, 0),
    tgDeep: async () => {
      await s.fill(D);
      return s.tg(N, D);
    },
  };
}

const TESTS = /** @type {Array<[string, boolean, string]>} */ ([
  ['pp', P > 0, `pp${P}`],
  ['tg', N > 0, `tg${N}`],
  ['tgDeep', N > 0 && D > 0, `tg${N} @ d${D}`],
]).filter((t) => t[1]);
const rows = [];
for (const file of files) {
  const name = path.basename(file);
  for (const threads of threadList) {
    const t0 = performance.now();
    const l = llamaDecoder(file, { threads, nCtx: Math.max(P, D + N, N) + 16, nBatch: Math.max(512, P), flash: values.flash });
    const s = await openBenchSession({ file, backend: 'wasm', threads, flashAttention: values.flash, contextLength: Math.max(P, D + N, N) + 16, maxBatch: Math.max(512, P) });
    const engines = { llama: llamaTests(l), ours: oursTests(s) };
    const res = { file: name, threads, build: String(s.backend.describe().build), bytesPerToken: s.bytesPerToken, macsPerToken: s.macsPerToken, floatWeights: s.floatWeights, llama: {}, ours: {} };
    for (const [k] of TESTS) {
      res.llama[k] = [];
      res.ours[k] = [];
    }
    // warm-up: each test once on each engine (untimed)
    for (const [k] of TESTS) {
      await engines.llama[k]();
      await engines.ours[k]();
    }
    for (let r = 0; r < R; r++) {
      for (const [k] of TESTS) {
        const order = r % 2 === 0 ? ['llama', 'ours'] : ['ours', 'llama'];
        for (const e of order) res[e][k].push(await engines[e][k]());
      }
    }
    l.close();
    s.close();
    res.seconds = (performance.now() - t0) / 1000;
    rows.push(res);
    process.stderr.write(
      `${name} t${threads}: ${TESTS.map(([k, , label]) => `${label} llama ${median(res.llama[k]).toFixed(1)} / tsinfer ${median(res.ours[k]).toFixed(1)}`).join('; ')} (${res.seconds.toFixed(0)} s)\n`,
    );
  }
}

let commit = 'unknown';
try {
  commit = execSync('git rev-parse --short HEAD', { cwd: ROOT }).toString().trim();
} catch {}
const report = {
  date: new Date().toISOString(),
  commit,
  node: process.version,
  cpu: cpus()[0]?.model,
  llamaCpp: LLAMA_CPP_RELEASE,
  threads: threadList,
  prompt: P,
  gen: N,
  depth: D,
  reps: R,
  flash: values.flash,
  loadAverage: loadavg(),
  ceilings,
  rows,
};
mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
const out = path.join(ROOT, 'bench', 'results', `side-by-side-${report.date.replace(/[:.]/g, '-')}.json`);
writeFileSync(out, JSON.stringify(report, null, 2));

const f1 = (x) => (Number.isFinite(x) ? x.toFixed(1) : '–');
const pct = (x) => (Number.isFinite(x) ? `${(100 * x).toFixed(0)} %` : '–');
console.log(`${report.cpu} (${cpus().length} vCPUs), Node ${process.version}, llama.cpp ${LLAMA_CPP_RELEASE} (bare llama_decode), commit ${commit}; medians of ${R} alternating rounds\n`);
console.log('| file | threads | test | llama.cpp t/s | tsinfer t/s | ratio | llama.cpp GB/s or GMAC/s | tsinfer GB/s or GMAC/s | tsinfer of ceiling | llama.cpp of ceiling |');
console.log('|---|---:|---|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  const at = ceilingAt(ceilings, r.threads);
  for (const [k, , label] of TESTS) {
    const a = median(r.llama[k]),
      b = median(r.ours[k]);
    // decode: weight bytes per token x tok/s against the DRAM read ceiling; prompt: matmul MACs against the MAC peak
    const decode = k !== 'pp';
    const rate = (x) => (decode ? (x * r.bytesPerToken) / 1e9 : (x * r.macsPerToken) / 1e9);
    const ceil = at ? (decode ? at.dramReadGBps : r.floatWeights ? at.f32GMACs : Math.max(at.i8GMACs, at.i8RelaxedGMACs ?? 0)) : NaN;
    const unit = decode ? 'GB/s' : 'GMAC/s';
    console.log(
      `| ${r.file} | ${r.threads} | ${label} | ${f1(a)} | ${f1(b)} | ${(b / a).toFixed(2)}× | ${rate(a).toFixed(2)} ${unit} | ${rate(b).toFixed(2)} ${unit} | ${pct(rate(b) / ceil)} | ${pct(rate(a) / ceil)} |`,
    );
  }
}
if (ceilings) {
  console.log(
    `\nceilings (${ceilings.date}): ${ceilings.byThreads
      .filter((c) => threadList.includes(c.threads))
      .map(
        (c) =>
          `${c.threads} thread${c.threads > 1 ? 's' : ''}: DRAM read ${c.dramReadGBps.toFixed(1)} GB/s, int8 ${Math.max(c.i8GMACs, c.i8RelaxedGMACs ?? 0).toFixed(1)} GMAC/s, f32 ${c.f32GMACs.toFixed(1)} GMAC/s`,
      )
      .join('; ')}`,
  );
}
console.log(
  `load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}; JSON: ${path.relative(ROOT, out)}`,
);
