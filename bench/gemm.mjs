#!/usr/bin/env node
/**
 * Quantized matmuls as GEMMs: every weight type at the SmolLM2 shapes for several token counts
 * (1 = decode, 4 = a four-sequence step, 64 = a prompt chunk), one thread, reported as GMAC/s and
 * as a fraction of the machine's measured SIMD128 int8 ceiling (bench/ceilings.mjs, cached; the
 * baseline ceiling for the `simd` build, the relaxed one for `relaxed-simd`).
 *
 * With --base DIR (the dist/ directory of another build of this engine, e.g. a copy of main's),
 * that build's modules run in the same process over the same memory, alternated round by round
 * with this one's, and every output is compared bit for bit with this build's: the A/B measurement
 * of a kernel change on a loaded machine. Times are the process's on-CPU time (user + system; only
 * the calling thread works), so time slices taken by other jobs are not counted.
 *
 * With --dram-mib N the calls cycle over copies of the matrix filling N MiB (beyond the caches, as a
 * model's weights are); by default they reuse one copy (from cache where it fits).
 *
 *   node bench/gemm.mjs [--base /tmp/main-dist] [--builds simd,relaxed-simd] [--tokens 1,4,64]
 *                       [--types Q8_0,Q4_K] [--shapes 576x576,49152x576] [--rounds 9] [--dram-mib 0]
 *
 * Needs `npm run build`. Prints a markdown table and the load average.
 */
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    builds: { type: 'string', default: 'simd,relaxed-simd' },
    tokens: { type: 'string', default: '1,4,64' },
    types: { type: 'string', default: 'Q8_0,Q4_0,Q4_1,Q5_0,Q5_1,Q2_K,Q3_K,Q4_K,Q5_K,Q6_K,F16,F32' },
    shapes: { type: 'string', default: '576x576,1536x576,576x1536,960x960,2560x960,960x2560,49152x576' },
    rounds: { type: 'string', default: '9' },
    'dram-mib': { type: 'string', default: '0' },
  },
});
const dists = [{ tag: 'new', dir: path.join(ROOT, 'dist') }];
if (values.base) dists.unshift({ tag: 'base', dir: path.resolve(values.base) });
const mod = (dir, p) => import(pathToFileURL(path.join(dir, p)).href);
const { F16_TABLE_BYTES, WA, writeF16Table } = await mod(dists.at(-1).dir, 'kernels/wasm/loader.js');
const { activationRowBytes } = await mod(dists.at(-1).dir, 'kernels/wasm/backend.js');
const { GGMLType, ggmlType, rowBytes } = await mod(dists.at(-1).dir, 'gguf/types.js');
const { loadCeilings, ceilingAt } = await mod(dists.at(-1).dir, 'cli/ceilings.js');
const ceil = ceilingAt(await loadCeilings([1], 'cache', { log: (l) => process.stderr.write(`ceilings: ${l}\n`) }), 1);

const median = (x) => x.slice().sort((a, b) => a - b)[x.length >> 1];
const ROUNDS = Number(values.rounds);
/** Multiply-accumulates timed per round and variant (several calls for the small cases). */
const MACS_PER_ROUND = 4e8;

const DRAM = Number(values['dram-mib']) * 2 ** 20;
const memory = new WA.Memory({ initial: 4000 + Math.ceil(DRAM / 65536), maximum: 4000 + Math.ceil(DRAM / 65536), shared: true });
const variants = [];
for (const build of values.builds.split(',')) {
  for (const d of dists) {
    const { loadWasmBuild, instantiate } = await mod(d.dir, 'kernels/wasm/loader.js');
    variants.push({ build, tag: d.tag, exp: instantiate(loadWasmBuild(build), memory) });
  }
}
// the f16 table: builds with f16Table() read it at one fixed address; older ones (init) where the host puts it
const table = Math.ceil(Math.max(...variants.map((v) => v.exp.heapBase())) / 64) * 64;
for (const v of variants) {
  if (v.exp.f16Table) writeF16Table(memory, v.exp);
  else {
    writeF16Table(memory, { f16Table: () => table });
    v.exp.init(table);
  }
}
const base = table + F16_TABLE_BYTES;
const u8 = new Uint8Array(memory.buffer);

console.log(
  `load average before: ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}; int8 ceiling (1 thread) ${ceil ? `${ceil.i8GMACs.toFixed(1)} GMAC/s baseline, ${ceil.i8RelaxedGMACs.toFixed(1)} relaxed` : 'not measured'}`,
);
const head = variants.map((v) => `${v.build}${values.base ? ` ${v.tag}` : ''} GMAC/s (of ceiling)`);
console.log(`| type | rows × cols | tokens | ${head.join(' | ')} |${values.base ? ' new / base |'.repeat(variants.length / 2) : ''}`);
console.log(`|---|---|---|${'---|'.repeat(variants.length + (values.base ? variants.length / 2 : 0))}`);
let mismatches = 0;
for (const tokens of values.tokens.split(',').map(Number)) {
  for (const name of values.types.split(',')) {
    const id = GGMLType[name];
    const info = ggmlType(id);
    for (const [rows, cols] of values.shapes.split(',').map((s) => s.split('x').map(Number))) {
      if (cols % info.blockSize) continue;
      const rb = rowBytes(info, cols);
      const fmt = variants[0].exp.activationFormat(id);
      const xrb = activationRowBytes(fmt, cols);
      const wp = base;
      const wBytes = Math.ceil((rows * rb) / 64) * 64;
      const copies = Math.max(1, Math.floor(DRAM / wBytes));
      const xf = wp + copies * wBytes;
      const xq = xf + tokens * cols * 4;
      const outs = variants.map((_, i) => xq + tokens * xrb + 64 + i * Math.ceil((rows * tokens * 4) / 64) * 64);
      if (outs.at(-1) + rows * tokens * 4 > memory.buffer.byteLength) throw new RangeError('bench memory too small');
      // weights: hashed bytes with every f16 scale finite (0x3b mask); floats in [-1, 1] for F32
      if (name === 'F32') {
        const f = new Float32Array(memory.buffer, wp, rows * cols);
        for (let i = 0; i < f.length; i++) f[i] = Math.sin(i * 0.61);
      } else {
        for (let i = wp; i < wp + rows * rb; i++) u8[i] = (Math.imul(i, 2654435761) >>> 24) & 0x3b;
      }
      for (let c = 1; c < copies; c++) u8.copyWithin(wp + c * wBytes, wp, wp + rows * rb);
      const x = new Float32Array(memory.buffer, xf, tokens * cols);
      for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37) * (i % 41 === 3 ? 10 : 1);
      const e = variants[0].exp;
      for (let t = 0; t < tokens; t++) {
        if (fmt === 1) e.quantizeQ8A(xf + t * cols * 4, xq + t * xrb, cols);
        else if (fmt === 2) e.quantizeQ8K(xf + t * cols * 4, xq + t * xrb, cols);
      }
      const xin = fmt === 0 ? xf : xq;
      const macs = rows * cols * tokens;
      const calls = Math.max(copies, Math.round(MACS_PER_ROUND / macs));
      // on-CPU time of the process (one thread works): other jobs' time slices are not counted
      const time = (v, i) => {
        const c0 = process.cpuUsage();
        for (let c = 0; c < calls; c++) v.exp.matmul(id, wp + (c % copies) * wBytes, rb, xin, xrb, outs[i], rows, cols, tokens, 0, rows);
        const c1 = process.cpuUsage(c0);
        return (c1.user + c1.system) / 1000 / calls;
      };
      // warm-up, first touch of every copy (and the outputs compared below)
      variants.forEach((v, i) => {
        time(v, i);
      });
      for (let i = 0; i + 1 < variants.length; i += 2) {
        if (!values.base) break;
        const a = new Uint32Array(memory.buffer, outs[i], rows * tokens);
        const b = new Uint32Array(memory.buffer, outs[i + 1], rows * tokens);
        const bad = a.findIndex((w, j) => w !== b[j]);
        if (bad >= 0) {
          mismatches++;
          console.error(`MISMATCH ${variants[i].build} ${name} ${rows}x${cols} T=${tokens} at ${bad}`);
        }
      }
      const ms = variants.map(() => []);
      for (let r = 0; r < ROUNDS; r++) {
        const order = r % 2 ? variants.map((_, i) => i) : variants.map((_, i) => variants.length - 1 - i);
        for (const i of order) ms[i].push(time(variants[i], i));
      }
      const g = ms.map((m) => macs / median(m) / 1e6);
      const cells = g.map((x, i) => {
        const c = variants[i].build === 'simd' ? ceil?.i8GMACs : ceil?.i8RelaxedGMACs;
        return `${x.toFixed(2)}${c && name !== 'F32' && name !== 'F16' ? ` (${Math.round((100 * x) / c)} %)` : ''}`;
      });
      const ratios = values.base ? g.flatMap((x, i) => (i % 2 ? [(x / g[i - 1]).toFixed(2)] : [])) : [];
      console.log(`| ${name} | ${rows} × ${cols} | ${tokens} | ${cells.join(' | ')} |${ratios.map((r) => ` ${r} |`).join('')}`);
    }
  }
}
console.log(
  `\nload average after: ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}${values.base ? `; outputs differing from the base build: ${mismatches}` : ''}`,
);
if (mismatches) process.exitCode = 1;
