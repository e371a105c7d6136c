#!/usr/bin/env node
/**
 * The machine's own ceilings for WASM SIMD128 (src/cli/ceilings.ts, kernels in
 * bench/ceilings/ceilings.ts): read GB/s from DRAM and from L2, f32 and int8
 * multiply-accumulate peaks (baseline i16 dot and relaxed dot), at 1 and 2 threads.
 * Prints a markdown table, writes bench/results/ceilings-<date>.json and
 * refreshes the cache file (ceilingsCachePath) `tsinfer bench` and bench/kernels.mjs read.
 *
 *   node bench/ceilings.mjs [--threads 1,2] [--dram-mib 1024] [--cache-kib 256] [--reps 5]
 *
 * Needs `npm run build` (dist/) and the assemblyscript development dependency.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { execSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { measureCeilings, ceilingsTable, ceilingsCachePath, writeCeilingsCache } = await import(path.join(ROOT, 'dist', 'cli', 'ceilings.js'));
const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '1,2' },
    'dram-mib': { type: 'string', default: '1024' },
    'cache-kib': { type: 'string', default: '256' },
    reps: { type: 'string', default: '5' },
  },
});
const threads = values.threads.split(',').map(Number);
const c = await measureCeilings({
  threads,
  dramBytes: Number(values['dram-mib']) << 20,
  cacheBytes: Number(values['cache-kib']) << 10,
  repetitions: Number(values.reps),
  log: (l) => process.stderr.write(l + '\n'),
});
let commit = 'unknown';
try {
  commit = execSync('git rev-parse --short HEAD', { cwd: ROOT }).toString().trim();
} catch {}
mkdirSync(path.join(ROOT, 'bench', 'results'), { recursive: true });
const out = path.join(ROOT, 'bench', 'results', `ceilings-${c.date.replace(/[:.]/g, '-')}.json`);
writeFileSync(out, JSON.stringify({ ...c, commit }, null, 2));
writeCeilingsCache(c); // what `tsinfer bench` and the other benches read (rows of other thread counts kept)
console.log(`${c.cpu}, ${c.cores} cores, Node ${c.node}; DRAM buffer ${c.dramBytes >> 20} MiB in all, cache buffer ${c.cacheBytes >> 10} KiB per thread; best of ${c.repetitions}\n`);
console.log(ceilingsTable(c));
console.log(`\ncache: ${ceilingsCachePath()}\nload average ${c.loadAverage.map((x) => x.toFixed(2)).join(' ')}; commit ${commit}; JSON: ${path.relative(ROOT, out)}`);
