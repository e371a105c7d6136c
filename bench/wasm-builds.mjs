#!/usr/bin/env node
/**
 * The two WASM builds side by side: every quantized matmul at the SmolLM2
 * shapes on the `simd` and `relaxed-simd` builds, one thread, in one process
 * over one memory, the two timed alternately in each of many short rounds so
 * that other load on the machine falls on both alike. Reports GB/s of weights
 * (best and median round) and the ratio relaxed / simd. With --model, the same
 * for a whole model instead: both builds loaded side by side (one thread),
 * pp64 (one 64-token prompt) and tg64 (64 greedy tokens) alternated per round.
 *
 *   node bench/wasm-builds.mjs [--tokens 1,16] [--types Q4_0,Q4_K] [--rounds 15]
 *   node bench/wasm-builds.mjs --model FILE.gguf [--rounds 10]
 *
 * Needs `npm run build`. Prints a markdown table and the load average.
 */
import { loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(path.join(ROOT, 'dist', p));
const { instantiate, loadWasmBuild, WA, writeF16Table } = await dist('kernels/wasm/loader.js');
const { activationRowBytes } = await dist('kernels/wasm/backend.js');
const { GGMLType, ggmlType, rowBytes } = await dist('gguf/types.js');

const { values } = parseArgs({
  options: {
    tokens: { type: 'string', default: '1,16' },
    types: { type: 'string', default: 'Q8_0,Q4_0,Q4_1,Q5_0,Q5_1,Q2_K,Q3_K,Q4_K,Q5_K,Q6_K' },
    rounds: { type: 'string', default: '15' },
    model: { type: 'string' },
  },
});
const median = (x) => x.slice().sort((a, b) => a - b)[x.length >> 1];

if (values.model) {
  const { loadModel } = await dist('index.js');
  const models = {};
  for (const b of ['simd', 'relaxed-simd']) {
    process.env.TSINFER_WASM_BUILD = b; // read by the loader when the model's backend starts
    models[b] = await loadModel(values.model, { backend: 'wasm', threads: 1, contextLength: 256 });
  }
  const prompt = Array.from({ length: 64 }, (_, i) => 1 + ((i * 7919) % 1000));
  const res = Object.fromEntries(Object.keys(models).map((b) => [b, { pp: [], tg: [] }]));
  console.log(
    `load average before: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  for (let r = -1; r < Number(values.rounds); r++) {
    for (const b of r % 2 ? ['simd', 'relaxed-simd'] : ['relaxed-simd', 'simd']) {
      let t0 = performance.now();
      await models[b].evaluate(prompt);
      const pp = 64 / ((performance.now() - t0) / 1000);
      t0 = performance.now();
      const c = await models[b].complete([1], { temperature: 0, maxTokens: 64, ignoreEos: true });
      const tg = c.tokens.length / ((performance.now() - t0) / 1000);
      if (r >= 0) {
        res[b].pp.push(pp);
        res[b].tg.push(tg);
      }
    }
  }
  console.log(`| ${path.basename(values.model)} | simd tok/s median (best) | relaxed-simd tok/s median (best) | relaxed / simd (medians) |\n|---|---|---|---|`);
  for (const t of ['pp', 'tg']) {
    const [s, x] = [res.simd[t], res['relaxed-simd'][t]];
    console.log(`| ${t}64 | ${median(s).toFixed(1)} (${Math.max(...s).toFixed(1)}) | ${median(x).toFixed(1)} (${Math.max(...x).toFixed(1)}) | ${(median(x) / median(s)).toFixed(2)} |`);
  }
  console.log(
    `load average after: ${loadavg()
      .map((x) => x.toFixed(2))
      .join(' ')}`,
  );
  for (const m of Object.values(models)) await m.dispose();
  process.exit(0);
}
const SHAPES = [
  [576, 576],
  [1536, 576],
  [576, 1536],
  [960, 960],
  [2560, 960],
  [960, 2560],
  [49152, 576],
];
const ROUNDS = Number(values.rounds);
/** Weight bytes timed per round and build (several calls for the small matrices). */
const BYTES_PER_ROUND = 3e6;

const memory = new WA.Memory({ initial: 2000, maximum: 2000, shared: true });
const builds = ['simd', 'relaxed-simd'].map((name) => ({ name, exp: instantiate(loadWasmBuild(name), memory) }));
writeF16Table(memory, builds[0].exp); // both builds read it at the same address
const base = Math.max(...builds.map((b) => b.exp.heapBase()));
// weights: hashed bytes (every bit pattern; the timing does not depend on the values)
const u8 = new Uint8Array(memory.buffer);
for (let i = base; i < u8.length; i++) u8[i] = Math.imul(i, 2654435761) >>> 24;

console.log(
  `load average before: ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
);
console.log('| type | rows × cols | tokens | simd GB/s best (median) | relaxed-simd GB/s best (median) | relaxed / simd |');
console.log('|---|---|---|---|---|---|');
const ratios = {};
for (const tokens of values.tokens.split(',').map(Number)) {
  for (const name of values.types.split(',')) {
    const id = GGMLType[name];
    const info = ggmlType(id);
    for (const [rows, cols] of SHAPES) {
      if (cols % info.blockSize) continue;
      const rb = rowBytes(info, cols);
      const fmt = builds[0].exp.activationFormat(id);
      const xrb = activationRowBytes(fmt, cols);
      const wp = base,
        xf = wp + Math.ceil((rows * rb) / 64) * 64,
        xq = xf + tokens * cols * 4,
        op = xq + tokens * xrb + 64;
      const x = new Float32Array(memory.buffer, xf, tokens * cols);
      for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37) * (i % 41 === 3 ? 10 : 1);
      for (let t = 0; t < tokens; t++) {
        if (fmt === 1) builds[0].exp.quantizeQ8A(xf + t * cols * 4, xq + t * xrb, cols);
        else builds[0].exp.quantizeQ8K(xf + t * cols * 4, xq + t * xrb, cols);
      }
      const calls = Math.max(1, Math.round(BYTES_PER_ROUND / (rows * rb)));
      const time = (exp) => {
        const t0 = performance.now();
        for (let c = 0; c < calls; c++) exp.matmul(id, wp, rb, xq, xrb, op, rows, cols, tokens, 0, rows);
        return (performance.now() - t0) / calls;
      };
      for (const b of builds) time(b.exp); // warm-up
      const ms = builds.map(() => []);
      for (let r = 0; r < ROUNDS; r++) {
        builds.forEach((b, i) => {
          ms[i].push(time(b.exp));
        });
      }
      const gb = (t) => (rows * rb) / t / 1e6;
      const [s, x2] = ms.map((m) => ({ best: gb(Math.min(...m)), med: gb(median(m)) }));
      (ratios[`${name} T=${tokens}`] ??= []).push(x2.best / s.best);
      console.log(`| ${name} | ${rows} × ${cols} | ${tokens} | ${s.best.toFixed(2)} (${s.med.toFixed(2)}) | ${x2.best.toFixed(2)} (${x2.med.toFixed(2)}) | ${(x2.best / s.best).toFixed(2)} |`);
    }
  }
}
console.log('\n| type | tokens | relaxed / simd (geometric mean over shapes) |\n|---|---|---|');
for (const [k, r] of Object.entries(ratios)) {
  const [name, t] = k.split(' T=');
  console.log(`| ${name} | ${t} | ${Math.exp(r.reduce((s, v) => s + Math.log(v), 0) / r.length).toFixed(2)} |`);
}
console.log(
  `\nload average after: ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
);
