#!/usr/bin/env node
/**
 * `npm run bench`: WASM quantized matrix-vector products (decode) at the real
 * SmolLM2 shapes, 1 and 2 threads, with tinybench. Reports GB/s of weight reads
 * and the fraction of DRAM bandwidth. Each task cycles over enough copies of
 * its matrix (≥ 256 MiB in all) that the weights come from DRAM, as in a
 * model's decode step, not from the caches.
 *
 *   node bench/kernels.mjs [--types Q8_0,Q4_K] [--threads 1,2] [--time MS] [--dram GBPS]
 *
 * Writes bench/results/kernels-<date>.json and prints a table. Needs `npm run build`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg, cpus } from 'node:os';
import { execSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(path.join(ROOT, 'dist', p));
const { KernelHarness } = await dist('kernels/wasm/harness.js');
const { activationRowBytes } = await dist('kernels/wasm/backend.js');
const { GGML_TYPES, rowBytes } = await dist('gguf/types.js');

const { values } = parseArgs({ options: {
  types: { type: 'string', default: 'Q8_0,Q4_0,Q4_1,Q5_0,Q5_1,Q2_K,Q3_K,Q4_K,Q5_K,Q6_K,F16,F32' },
  threads: { type: 'string', default: '1,2' },
  time: { type: 'string', default: '300' },
  dram: { type: 'string', default: '31' },
} });
const DRAM_GBPS = Number(values.dram); // measured on this machine (2 threads), see BENCHMARKS.md
/** [rows (outputs), cols (inputs)] of SmolLM2-135M (576 / 1536 / 49152) and -360M (960 / 2560). */
const SHAPES = [[576, 576], [1536, 576], [576, 1536], [49152, 576], [960, 960], [2560, 960], [960, 2560]];
const TOTAL = 256 << 20;

const byName = new Map(GGML_TYPES.map((t) => [t.name, t]));
const results = [];
for (const threads of values.threads.split(',').map(Number)) {
  const h = await KernelHarness.create(threads, TOTAL + (64 << 20));
  for (const name of values.types.split(',')) {
    const type = byName.get(name);
    for (const [rows, cols] of SHAPES) {
      if (cols % type.blockSize !== 0) continue;
      const rb = rowBytes(type, cols);
      const matBytes = rows * rb;
      const copies = Math.max(1, Math.floor(TOTAL / matBytes));
      h.top = h.base; // reuse the memory for every shape
      const hAlloc = (n) => h.alloc(n);
      const w = hAlloc(matBytes * copies + 64);
      // random bytes; half-precision fields stay finite because speed does not depend on values
      const bytes = h.bytes(w, matBytes * copies);
      for (let i = 0; i < bytes.length; i += 4096) bytes.fill((i >> 12) & 0x3b, i, Math.min(bytes.length, i + 4096));
      const fmt = h.exp.activationFormat(type.id);
      const xr = activationRowBytes(fmt, cols);
      const x = hAlloc(Math.max(xr, cols * 4));
      const xf = hAlloc(cols * 4);
      h.floats(xf, cols).set(Float32Array.from({ length: cols }, (_, i) => Math.sin(i)));
      if (fmt === 1) h.exp.quantizeQ8A(xf, x, cols);
      else if (fmt === 2) h.exp.quantizeQ8K(xf, x, cols);
      else h.floats(x, cols).set(h.floats(xf, cols));
      const out = hAlloc(rows * 4);
      let c = 0;
      const bench = new Bench({ time: Number(values.time), warmupTime: 50 });
      bench.add(`${name} ${rows}x${cols} t${threads}`, () => {
        h.matmul(type.id, w + (c++ % copies) * matBytes, rb, x, cols, out, rows, 1);
      });
      await bench.run();
      const r = bench.tasks[0].result;
      if (r.state !== 'completed') throw new Error(`benchmark ${bench.tasks[0].name} did not complete: ${r.state}${'error' in r ? ` (${r.error})` : ''}`);
      const ms = r.latency.p50; // tinybench 6 names the median p50 (there is no latency.median)
      const gbps = matBytes / (ms / 1000) / 1e9;
      results.push({ type: name, rows, cols, threads, bytes: matBytes, medianMs: ms, meanMs: r.latency.mean, rme: r.latency.rme, gbPerSecond: gbps, dramFraction: gbps / DRAM_GBPS, samples: r.latency.samplesCount ?? r.latency.samples?.length });
      process.stderr.write(`${name} ${rows}x${cols} t${threads}: ${gbps.toFixed(2)} GB/s\n`);
    }
  }
  await h.dispose();
}

let commit = 'unknown';
try { commit = execSync('git rev-parse --short HEAD', { cwd: ROOT }).toString().trim(); } catch {}
const report = { date: new Date().toISOString(), commit, node: process.version, cpu: cpus()[0]?.model, loadAverage: loadavg(), dramGBps: DRAM_GBPS, results };
mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
const file = path.join(ROOT, 'bench', 'results', `kernels-${report.date.replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify(report, null, 2));
const pad = (s, n) => String(s).padStart(n);
console.log(`| type | rows × cols | threads | MiB | median ms | GB/s | of ${DRAM_GBPS} GB/s |`);
console.log('|---|---|---|---|---|---|---|');
for (const r of results) console.log(`| ${r.type} | ${r.rows} × ${r.cols} | ${r.threads} | ${(r.bytes / 2 ** 20).toFixed(2)} | ${r.medianMs.toFixed(3)} | ${r.gbPerSecond.toFixed(2)} | ${(100 * r.dramFraction).toFixed(0)} % |`);
console.log(`\nload average ${loadavg().map((x) => x.toFixed(2)).join(' ')}; commit ${commit}; JSON: ${path.relative(ROOT, file)}`);
