#!/usr/bin/env node
/**
 * Whole-model steps of two builds of this engine side by side, for kernel changes measured on a
 * loaded machine: this checkout's dist/ and another build's (--base DIR, e.g. a copy of main's
 * dist/) each run the same model on the wasm backend in one process, alternated step kind by step
 * kind and round by round. Step kinds: a 64- and a 512-token prompt (pp64, pp512, from position 0),
 * one decode token (tg, after a 32-token prompt) and four sequences of one token each (4 seq, what
 * the server runs for 4 busy slots). Reports per build the median ms per step by wall clock and by
 * the process's on-CPU time (user + system: at one thread only the calling thread works, so time
 * slices taken by other jobs are not counted; at more threads it includes the workers' spinning),
 * and the ratio base / new of the medians (> 1: the new build is faster).
 *
 *   node bench/ab-steps.mjs --base /tmp/main-dist [-m FILE] [-t 1] [--rounds 5] [--kinds pp64,pp512,tg,4seq]
 *
 * Needs `npm run build` in both.
 */
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    model: { type: 'string', short: 'm', default: path.join(ROOT, 'fixtures/generated/smollm2-135m-q8_0.gguf') },
    threads: { type: 'string', short: 't', default: '1' },
    rounds: { type: 'string', default: '5' },
    kinds: { type: 'string', default: 'pp64,pp512,tg,4seq' },
  },
});
if (!values.base) throw new Error('--base DIR (the dist/ directory of the build to compare against) is required');
const dists = [
  { tag: 'base', dir: path.resolve(values.base) },
  { tag: 'new', dir: path.join(ROOT, 'dist') },
];
const mod = (dir, p) => import(pathToFileURL(path.join(dir, p)).href);
const threads = Number(values.threads);
const ids = (n, from) => Int32Array.from({ length: n }, (_, j) => from + ((j * 7919) % 1000));
const KINDS = {
  pp64: { tokens: 64, step: () => ({ tokens: ids(64, 1000), pos: 0, allLogits: false }) },
  pp512: { tokens: 512, step: () => ({ tokens: ids(512, 1000), pos: 0, allLogits: false }) },
  tg: { tokens: 1, step: (i) => ({ tokens: ids(1, 2000 + i), pos: 32 + (i % 64), allLogits: false }) },
  '4seq': {
    tokens: 4,
    step: (i) => ({
      tokens: ids(4, 2000 + i),
      pos: 0,
      allLogits: false,
      rows: { seqs: Int32Array.from([0, 1, 2, 3]), positions: new Int32Array(4).fill(32 + (i % 64)), outputs: Int32Array.from([0, 1, 2, 3]) },
    }),
  },
};
const kinds = values.kinds.split(',').map((k) => {
  if (!KINDS[k]) throw new Error(`unknown step kind ${k} (pp64, pp512, tg, 4seq)`);
  return k;
});

const runs = [];
for (const d of dists) {
  const { openGGUF } = await mod(d.dir, 'gguf/reader.js');
  const { createBackend } = await mod(d.dir, 'kernels/index.js');
  const { buildLlamaProgram, llamaHyperparameters } = await mod(d.dir, 'model/llama.js');
  const file = await openGGUF(values.model);
  const b = await createBackend('wasm', { threads });
  await b.init({ file, program: buildLlamaProgram(llamaHyperparameters(file)), contextLength: 640, maxBatch: 512, sequences: 4 });
  // every sequence starts with a 32-token prompt in its cache
  for (let s = 0; s < 4; s++) await b.forward({ tokens: ids(32, 1), pos: 0, allLogits: false, seq: s });
  runs.push({ ...d, b, file, wall: new Map(kinds.map((k) => [k, []])), cpu: new Map(kinds.map((k) => [k, []])) });
}
/** Steps per timed sample of a kind: about 600 tokens' worth of decode, one prompt. */
const reps = (k) => (KINDS[k].tokens >= 64 ? 1 : 8);
let i = 0;
for (let r = -1; r < Number(values.rounds); r++) {
  for (const k of kinds) {
    for (const run of r % 2 ? runs : [...runs].reverse()) {
      const n = reps(k);
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (let s = 0; s < n; s++) await run.b.forward(KINDS[k].step(i++));
      const wall = (performance.now() - t0) / n;
      const c1 = process.cpuUsage(c0);
      if (r >= 0) {
        run.wall.get(k).push(wall);
        run.cpu.get(k).push((c1.user + c1.system) / 1000 / n);
      }
    }
  }
}
const median = (xs) => [...xs].sort((a, c) => a - c)[Math.floor(xs.length / 2)];
console.log(
  `${path.basename(values.model)}, wasm ${threads} thread(s), ${cpus()[0]?.model} × ${cpus().length}, load ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}, ${values.rounds} rounds (medians)`,
);
console.log('| step | base ms wall | new ms wall | base ms CPU | new ms CPU | base / new (wall) | base / new (CPU) |\n|---|---:|---:|---:|---:|---:|---:|');
for (const k of kinds) {
  const [bw, nw] = runs.map((x) => median(x.wall.get(k)));
  const [bc, nc] = runs.map((x) => median(x.cpu.get(k)));
  console.log(`| ${k} | ${bw.toFixed(1)} | ${nw.toFixed(1)} | ${bc.toFixed(1)} | ${nc.toFixed(1)} | ${(bw / nw).toFixed(2)} | ${(bc / nc).toFixed(2)} |`);
}
for (const run of runs) {
  run.b.dispose();
  run.file.close();
}
