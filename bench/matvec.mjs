#!/usr/bin/env node
/**
 * Why does the Q8_0 matvec stream DRAM slower than WASM reads? Standalone
 * prototype kernels (bench/matvec/q8_0.ts, compiled here with asc) over one
 * matrix far beyond the last-level cache, at 1 and 2 threads, each variant run
 * in turn within every round (alternating, so a noisy neighbour hits all of
 * them alike), median and best GB/s of weight bytes, with the plain f32x4 read
 * of the same bytes beside them.
 *
 *   node bench/matvec.mjs [--mib 512] [--cols 576] [--threads 1,2] [--rounds 7] [--only cur,read]
 *
 * Writes bench/results/matvec-<date>.json and prints a markdown table. Needs `npm run build`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { execSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { compileAssemblyScript, WasmThreads, loadCeilings, ceilingAt } = await import(path.join(ROOT, 'dist', 'cli', 'ceilings.js'));
const { values } = parseArgs({
  options: {
    mib: { type: 'string', default: '512' },
    cols: { type: 'string', default: '576' },
    threads: { type: 'string', default: '1,2' },
    rounds: { type: 'string', default: '7' },
    only: { type: 'string' },
    ceilings: { type: 'string', default: 'cache' },
  },
});
const COLS = Number(values.cols);
if (COLS % 32 !== 0) throw new Error('--cols must be a multiple of 32');
const NB = COLS / 32;
const RB = NB * 34;
const ARB = Math.ceil((NB * 32) / 64) * 64; // aligned layout: qs rows padded to 64 bytes
const ROWS = Math.floor((Number(values.mib) * 2 ** 20) / RB);
const MAT = ROWS * RB;
const ROUNDS = Number(values.rounds);
const threadList = values.threads.split(',').map(Number);

const K = 1024;
/** label, exported function, params overrides (chunk bytes, touch distance), what it does differently. */
const VARIANTS = [
  ['read', 'read', {}, 'plain f32x4 loads of the same bytes, 4 accumulators (the ceiling)'],
  ['cur', 'cur', { chunk: 64 * K }, "the engine today: i8 weights sign-extended to i16, i32x4.dot_i16x8_s against Q8A's i16 copy, 64 KiB chunks"],
  ['engine', 'engine', { chunk: 64 * K }, "the engine's generated dot_Q8_0 as built today (two blocks per iteration, f16 table through a global, one call per row)"],
  ['engine, table in a local', 'engineLocalTable', { chunk: 64 * K }, 'engine with the f16 table address passed as a parameter instead of read from a global'],
  ['cur, called per row', 'curCall', { chunk: 64 * K }, "cur's dot as a function called per row (not inlined)"],
  ['cur chunk 16K', 'cur', { chunk: 16 * K }, 'as cur, 16 KiB chunks'],
  ['cur chunk 256K', 'cur', { chunk: 256 * K }, 'as cur, 256 KiB chunks'],
  ['cur one chunk', 'cur', { chunk: 0 }, "as cur, each thread's share as one chunk"],
  ['lite', 'lite', { chunk: 64 * K }, 'i8 x i8 extmul + pairwise widening against block_q8_0 activations (no i16 copy)'],
  ['aligned', 'aligned', { chunk: 64 * K }, 'as cur over a repacked layout: 32-byte qs rows (aligned loads), f16 scales apart'],
  ['cur touch 1K', 'curTouch', { chunk: 64 * K, touch: 1 * K }, 'as cur, one byte per line of the row 1 KiB ahead read first'],
  ['cur touch 4K', 'curTouch', { chunk: 64 * K, touch: 4 * K }, 'as cur, touch 4 KiB ahead'],
  ['cur touch 16K', 'curTouch', { chunk: 64 * K, touch: 16 * K }, 'as cur, touch 16 KiB ahead'],
  ['lite touch 4K', 'liteTouch', { chunk: 64 * K, touch: 4 * K }, 'lite, touch 4 KiB ahead'],
  ['cur 4 rows', 'cur4', { chunk: 64 * K }, 'as cur, four adjacent rows block by block (activations loaded once per block for four rows)'],
  ['cur two streams', 'curTwo', {}, "as cur, the thread's rows in two halves, one row of each in turn"],
  ['cur two interleaved', 'twoInterleaved', {}, 'as cur, two far-apart rows block by block in one loop (activations loaded once for both)'],
  ['cur two in chunk', 'twoNear', { chunk: 64 * K }, 'as cur two interleaved, but the two rows j and j + half of each 64 KiB chunk (32 KiB apart), as a driver that sees one chunk can pair them'],
  ['cur two in chunk 256K', 'twoNear', { chunk: 256 * K }, 'as cur two in chunk, 256 KiB chunks (rows 128 KiB apart)'],
  ['cur two in chunk 1M', 'twoNear', { chunk: 1024 * K }, 'as cur two in chunk, 1 MiB chunks (rows 512 KiB apart)'],
  ['lite two streams', 'liteTwo', {}, 'lite, two halves in turn'],
].filter(([label, fn]) => !values.only || values.only.split(',').some((o) => o === label || o === fn));
const NAMES = [...new Set(VARIANTS.map((v) => v[1]))];

const module = await compileAssemblyScript(path.join(ROOT, 'bench', 'matvec', 'q8_0.ts'));
const ceilings = await loadCeilings(threadList, values.ceilings, { log: (l) => process.stderr.write(`ceilings: ${l}\n`) });

function f16ToF32(h) {
  const s = h & 0x8000 ? -1 : 1,
    e = (h >> 10) & 31,
    m = h & 1023;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}
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
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

const results = [];
for (const nth of threadList) {
  const bytes = MAT + ROWS * (ARB + NB * 2) + ROWS * 4 + (1 << 20) + 65536 * 4 + (64 << 10);
  const w = await WasmThreads.create(module, nth, bytes, NAMES);
  const params = w.alloc(64);
  const tab = w.alloc(65536 * 4);
  const counters = w.alloc(64 * 16);
  const xa = w.alloc(NB * 104);
  const xq = w.alloc(NB * 34 + 16);
  const out = w.alloc(ROWS * 4);
  const W = w.alloc(MAT + 64);
  const QS = w.alloc(ROWS * ARB);
  const SC = w.alloc(ROWS * NB * 2);
  const buf = w.memory.buffer;
  const t = new Float32Array(buf, tab, 65536);
  for (let h = 0; h < 65536; h++) t[h] = f16ToF32(h);
  // weights: random bytes; every 4th byte keeps 0x30 so any f16 or f32 read of them is a normal number
  const next = rng(7);
  const block = Math.min(4 << 20, MAT & ~3);
  const u = new Uint32Array(buf, W, block / 4);
  for (let i = 0; i < u.length; i++) u[i] = (next() & 0x3b3b3b3b) | 0x30000000;
  const all = new Uint8Array(buf, W, MAT);
  for (let n = block; n < MAT; n *= 2) all.copyWithin(n, 0, Math.min(n, MAT - n));
  // the aligned layout: same bytes, repacked (scales apart, qs rows on 64 bytes)
  new Uint8Array(buf, QS, ROWS * ARB).fill(0x13);
  new Uint16Array(buf, SC, ROWS * NB).fill(0x211f);
  // activations: Q8A (f32 d, f32 s, q[32]) + the i16 copy; block_q8_0 (f16 d, q[32])
  const dv = new DataView(buf);
  for (let b = 0; b < NB; b++) {
    dv.setFloat32(xa + b * 40, 0.01, true);
    dv.setFloat32(xa + b * 40 + 4, 0.5, true);
    dv.setUint16(xq + b * 34, 0x211f, true);
    for (let i = 0; i < 32; i++) {
      const q = (next() % 255) - 127;
      dv.setInt8(xa + b * 40 + 8 + i, q);
      dv.setInt16(xa + NB * 40 + b * 64 + 2 * i, q, true);
      dv.setInt8(xq + b * 34 + 2 + i, q);
    }
  }
  const p = new Uint32Array(buf, params, 16);
  const runT = (v) => {
    const chunkRows = v[2].chunk === 0 ? Math.ceil(ROWS / nth) : Math.max(1, Math.floor((v[2].chunk ?? 65536) / RB));
    p.set([W, RB, ROWS, NB, out, xa, xq, tab, chunkRows, counters, v[2].touch ?? 0, SC, QS, ARB]);
    new Int32Array(buf, counters, 16 * 16).fill(0);
    const { ms, cpuMs } = w.run(v[1], (tid) => [params, tid, nth]);
    // wall: the slowest thread; on-CPU: each thread's bytes over its own CPU time, summed
    return { wall: Math.max(...ms), cpuRate: cpuMs.reduce((s, c, tid) => s + ((Math.floor((ROWS * (tid + 1)) / nth) - Math.floor((ROWS * tid) / nth)) * RB) / c / 1e6, 0) };
  };
  for (const v of VARIANTS) runT(v); // warm-up: page faults, tier-up
  const samples = VARIANTS.map(() => []);
  const cpuRates = VARIANTS.map(() => []);
  for (let r = 0; r < ROUNDS; r++)
    VARIANTS.forEach((v, i) => {
      const x = runT(v);
      samples[i].push(x.wall);
      cpuRates[i].push(x.cpuRate);
    });
  const at = ceilingAt(ceilings, nth);
  VARIANTS.forEach((v, i) => {
    const med = median(samples[i]),
      best = Math.min(...samples[i]);
    const matBytes = v[1] === 'aligned' ? ROWS * NB * 34 : MAT; // same element count; the aligned layout's padding is not counted
    results.push({
      variant: v[0],
      fn: v[1],
      threads: nth,
      what: v[3],
      params: v[2],
      medianMs: med,
      bestMs: best,
      samplesMs: samples[i],
      gbPerSecond: matBytes / med / 1e6,
      bestGbPerSecond: matBytes / best / 1e6,
      onCpuGbPerSecond: median(cpuRates[i]) * (matBytes / MAT),
      onCpuSamples: cpuRates[i],
      ...(at ? { dramCeilingGBps: at.dramReadGBps } : {}),
    });
  });
  await w.dispose();
  process.stderr.write(`${nth} thread(s) done\n`);
}

let commit = 'unknown';
try {
  commit = execSync('git rev-parse --short HEAD', { cwd: ROOT }).toString().trim();
} catch {}
const report = {
  date: new Date().toISOString(),
  commit,
  cpu: cpus()[0]?.model,
  node: process.version,
  loadAverage: loadavg(),
  cols: COLS,
  rows: ROWS,
  matrixBytes: MAT,
  rounds: ROUNDS,
  ceilings,
  results,
};
mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
const file = path.join(ROOT, 'bench', 'results', `matvec-${report.date.replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify(report, null, 2));
console.log(`${report.cpu}; Q8_0 ${ROWS} x ${COLS} (${(MAT / 2 ** 20).toFixed(0)} MiB); median and best of ${ROUNDS} alternating rounds\n`);
console.log('| variant | threads | GB/s median | GB/s best | GB/s on-CPU (median) | vs cur (on-CPU) | vs read (on-CPU) | of DRAM ceiling (median) |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const r of results) {
  const cur = results.find((x) => x.variant === 'cur' && x.threads === r.threads);
  const rd = results.find((x) => x.variant === 'read' && x.threads === r.threads);
  const f = (x) => (x ? `${(r.onCpuGbPerSecond / x.onCpuGbPerSecond).toFixed(2)}×` : '–');
  console.log(
    `| ${r.variant} | ${r.threads} | ${r.gbPerSecond.toFixed(2)} | ${r.bestGbPerSecond.toFixed(2)} | ${r.onCpuGbPerSecond.toFixed(2)} | ${f(cur)} | ${f(rd)} | ${r.dramCeilingGBps ? `${((100 * r.gbPerSecond) / r.dramCeilingGBps).toFixed(0)} %` : '–'} |`,
  );
}
console.log(
  `\nload average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}; commit ${commit}; JSON: ${path.relative(ROOT, file)}`,
);
