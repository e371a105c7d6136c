#!/usr/bin/env node
/**
 * `npm run bench`: WASM matrix-vector products (decode) at the real SmolLM2
 * shapes, 1 and 2 threads, as GB/s of weight reads and as a fraction of the
 * machine's own DRAM read ceiling at the same thread count (src/cli/ceilings.ts,
 * bench/ceilings.mjs; cached, measured on first use).
 *
 * Method (each point is a fix of a way the previous version misled):
 * - The weights come from DRAM: every task cycles over copies of its matrix
 *   filling --dram-mib (1 GiB by default, several times any current L3; 256 MiB
 *   fit in a 300 MiB L3).
 * - F32 weights are normal floats in [-1, 1]. A byte pattern repeated through a
 *   page makes floats near 1e-38 whose products are subnormal; WASM has no
 *   flush-to-zero, and cores that take a microcode assist per subnormal result
 *   (Intel's) then ran the F32 matvec at a third of its speed. Quantized types get
 *   random bytes masked with 0x3b, so every f16 scale is finite and at most 1.
 * - Every copy is multiplied once before timing (first-touch faults and the
 *   engine's tier-up from its baseline compiler are not timed).
 * - A timed sample is one pass over all copies back to back (about 1 GiB of
 *   weights), divided by the number of calls; --reps samples, median and best.
 *   The per-call cost of the harness (op encoding, waking the pool) is measured
 *   on its own with a 4-row matrix and printed; it is included in the figures,
 *   as a barrier is in a model's decode step.
 * - At 1 thread an on-CPU rate as well: bytes per second of the process's CPU
 *   time (user + system) over the same passes. Only the calling thread works
 *   then, so this removes the time-slicing by other jobs on a loaded machine,
 *   where wall-clock rates vary several-fold from run to run; compare builds
 *   by it, alternating.
 *
 * - Q5_0U / Q5_1U rows: the backend's load-time forms of Q5_0 / Q5_1 (one byte per weight), which
 *   the engine multiplies where the relaxed kernels run those types; the footnote gives their rate as the
 *   file's bytes per second.
 *
 *   node bench/kernels.mjs [--types Q8_0,Q4_K] [--threads 1,2] [--reps 7] [--dram-mib 1024] [--ceilings cache|fresh|off]
 *
 * Writes bench/results/kernels-<date>.json and prints a markdown table. Needs `npm run build`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg, cpus } from 'node:os';
import { execSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(path.join(ROOT, 'dist', p));
const { KernelHarness } = await dist('kernels/wasm/harness.js');
const { GGML_TYPES, rowBytes } = await dist('gguf/types.js');
const { INTERNAL_TYPE_IDS, blockOffsets } = await dist('kernels/wasm/layout.js');
const { loadCeilings, ceilingAt, ceilingsTable } = await dist('cli/ceilings.js');

const { values } = parseArgs({
  options: {
    types: { type: 'string', default: 'Q8_0,Q4_0,Q4_1,Q5_0,Q5_1,Q5_0U,Q5_1U,Q2_K,Q3_K,Q4_K,Q5_K,Q6_K,F16,F32' },
    threads: { type: 'string', default: '1,2' },
    reps: { type: 'string', default: '5' },
    'dram-mib': { type: 'string', default: '1024' },
    shapes: { type: 'string' },
    ceilings: { type: 'string', default: 'cache' },
  },
});
/** [rows (outputs), cols (inputs)] of SmolLM2-135M (576 / 1536 / 49152) and -360M (960 / 2560). */
const SHAPES = values.shapes
  ? values.shapes.split(',').map((s) => s.split('x').map(Number))
  : [
      [576, 576],
      [1536, 576],
      [576, 1536],
      [49152, 576],
      [960, 960],
      [2560, 960],
      [960, 2560],
    ];
const TOTAL = Number(values['dram-mib']) * 2 ** 20;
const REPS = Number(values.reps);
const threadList = values.threads.split(',').map(Number);
const ceilings = await loadCeilings(threadList, values.ceilings, { log: (l) => process.stderr.write(`ceilings: ${l}\n`) });

/** Deterministic xorshift32 bytes / floats. */
function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}
/** Fills `bytes` at p: a 4 MiB random block, then copies of it (the values do not matter to speed, their class does). */
function fillWeights(h, type, p, bytes) {
  const next = rng(12345);
  const block = Math.min(bytes, 4 << 20) & ~3;
  if (type.name === 'F32') {
    const f = h.floats(p, block / 4);
    for (let i = 0; i < f.length; i++) f[i] = next() / 2 ** 31 - 1;
  } else {
    const u = new Uint32Array(h.memory.buffer, p, block >> 2);
    for (let i = 0; i < u.length; i++) u[i] = next() & 0x3b3b3b3b;
  }
  const all = h.bytes(p, bytes);
  for (let n = block; n < bytes; n *= 2) all.copyWithin(n, 0, Math.min(n, bytes - n));
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

const byName = new Map(GGML_TYPES.map((t) => [t.name, t]));
// the wasm backend's load-time forms of Q5_0 / Q5_1 (one unsigned byte per weight, layout.ts), which the
// engine multiplies instead of the file's blocks where the relaxed kernels run the type
for (const [name, file] of [
  ['Q5_0U', 'Q5_0'],
  ['Q5_1U', 'Q5_1'],
])
  byName.set(name, { name, id: INTERNAL_TYPE_IDS[name], blockSize: 32, internal: true, file: byName.get(file) });
const matRowBytes = (type, cols) => (type.internal ? (cols / 32) * blockOffsets(type.name).bytes : rowBytes(type, cols));
const results = [];
const overheads = [];
for (const threads of threadList) {
  const h = await KernelHarness.create(threads, TOTAL + (64 << 20));
  const at = ceilingAt(ceilings, threads);
  for (const name of values.types.split(',')) {
    const type = byName.get(name);
    if (!type) throw new Error(`unknown type ${name}`);
    // activations and outputs first, then one weight region for every shape of this type
    h.top = h.base;
    const x = h.alloc(1 << 16);
    const xf = h.alloc(1 << 16);
    const out = h.alloc(49152 * 4 * 2);
    const w = h.alloc(TOTAL + 64);
    fillWeights(h, type, w, TOTAL);
    for (const [rows, cols] of SHAPES) {
      if (cols % type.blockSize !== 0) continue;
      const rb = matRowBytes(type, cols);
      const matBytes = rows * rb;
      const copies = Math.max(1, Math.floor(TOTAL / matBytes));
      const fmt = h.exp.activationFormat(type.id);
      h.floats(xf, cols).set(Float32Array.from({ length: cols }, (_, i) => Math.sin(i)));
      if (fmt === 1) h.exp.quantizeQ8A(xf, x, cols);
      else if (fmt === 2) h.exp.quantizeQ8K(xf, x, cols);
      else h.floats(x, cols).set(h.floats(xf, cols));
      const cpuMs = []; // process CPU time per call (user + system): time-slicing by other jobs removed
      const pass = () => {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        for (let c = 0; c < copies; c++) h.matmul(type.id, w + c * matBytes, rb, x, cols, out, rows, 1);
        const wall = (performance.now() - t0) / copies;
        const cu = process.cpuUsage(c0);
        cpuMs.push((cu.user + cu.system) / 1000 / copies);
        return wall;
      };
      pass(); // warm-up: page faults, tier-up
      cpuMs.length = 0;
      const ms = Array.from({ length: REPS }, pass);
      // at 1 thread only the calling thread works, so bytes per CPU second is the kernel's rate while it runs
      const onCpu = threads === 1 ? matBytes / (median(cpuMs) / 1000) / 1e9 : undefined;
      const med = median(ms),
        best = Math.min(...ms);
      const gb = matBytes / (med / 1000) / 1e9,
        gbBest = matBytes / (best / 1000) / 1e9;
      results.push({
        type: name,
        rows,
        cols,
        threads,
        bytes: matBytes,
        copies,
        medianMs: med,
        bestMs: best,
        samplesMs: ms,
        gbPerSecond: gb,
        bestGbPerSecond: gbBest,
        ...(onCpu ? { onCpuGbPerSecond: onCpu } : {}),
        // a load-time form: the same products per second over the file's (smaller) blocks
        ...(type.internal ? { file: type.file.name, fileGbPerSecond: (gb * rowBytes(type.file, cols)) / rb } : {}),
        ...(at ? { dramFraction: gb / at.dramReadGBps, bestDramFraction: gbBest / at.dramReadGBps } : {}),
      });
      process.stderr.write(
        `${name} ${rows}x${cols} t${threads}: ${gb.toFixed(2)} GB/s median, ${gbBest.toFixed(2)} best${onCpu ? `, ${onCpu.toFixed(2)} on-CPU` : ''}${at ? ` (${((100 * gb) / at.dramReadGBps).toFixed(0)} % / ${((100 * gbBest) / at.dramReadGBps).toFixed(0)} % of ${at.dramReadGBps.toFixed(1)})` : ''}\n`,
      );
    }
  }
  // the harness's fixed cost per call: a 4-row F32 matvec (one chunk)
  {
    h.top = h.base;
    const cols = 64,
      w = h.alloc(4 * cols * 4),
      x = h.alloc(cols * 4),
      out = h.alloc(64);
    h.floats(w, 4 * cols).fill(0.5);
    h.floats(x, cols).fill(0.5);
    const n = 2000;
    for (let i = 0; i < n; i++) h.matmul(0, w, cols * 4, x, cols, out, 4, 1);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) h.matmul(0, w, cols * 4, x, cols, out, 4, 1);
    overheads.push({ threads, usPerCall: ((performance.now() - t0) * 1000) / n });
  }
  await h.dispose();
}

let commit = 'unknown';
try {
  commit = execSync('git rev-parse --short HEAD', { cwd: ROOT }).toString().trim();
} catch {}
const report = { date: new Date().toISOString(), commit, node: process.version, cpu: cpus()[0]?.model, loadAverage: loadavg(), dramMiB: TOTAL / 2 ** 20, reps: REPS, ceilings, overheads, results };
mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
const file = path.join(ROOT, 'bench', 'results', `kernels-${report.date.replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify(report, null, 2));
const pct = (x) => (x === undefined ? '–' : `${(100 * x).toFixed(0)} %`);
console.log(`${report.cpu}, Node ${process.version}; weights cycled over ${report.dramMiB} MiB; median and best of ${REPS} passes\n`);
console.log('| type | rows × cols | threads | MiB | median ms | GB/s (median) | GB/s (best) | of DRAM read ceiling (median / best) |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|');
for (const r of results)
  console.log(
    `| ${r.type} | ${r.rows} × ${r.cols} | ${r.threads} | ${(r.bytes / 2 ** 20).toFixed(2)} | ${r.medianMs.toFixed(3)} | ${r.gbPerSecond.toFixed(2)} | ${r.bestGbPerSecond.toFixed(2)} | ${pct(r.dramFraction)} / ${pct(r.bestDramFraction)} |`,
  );
const forms = results.filter((r) => r.fileGbPerSecond !== undefined);
if (forms.length)
  console.log(
    `\nQ5_0U / Q5_1U: the engine's load-time forms of Q5_0 / Q5_1 matrices (one byte per weight; the figures above count the bytes read). As the file's bytes per second: ${forms.map((r) => `${r.file} ${r.rows}×${r.cols} t${r.threads} ${r.fileGbPerSecond.toFixed(2)}`).join(', ')}`,
  );
if (ceilings) console.log(`\nceilings (${ceilings.date}, best of ${ceilings.repetitions}):\n${ceilingsTable(ceilings)}`);
console.log(`\nharness cost per call: ${overheads.map((o) => `${o.usPerCall.toFixed(1)} µs at ${o.threads} thread${o.threads > 1 ? 's' : ''}`).join(', ')}`);
console.log(
  `load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}; commit ${commit}; JSON: ${path.relative(ROOT, file)}`,
);
