#!/usr/bin/env node
/**
 * Cost of one decode step as the number of sequences in it grows: the same backend runs, alternated
 * round by round, a one-token single-sequence step, a four-token single-sequence step (a prompt
 * chunk), and multi-sequence steps of 2, 4 and 8 sequences with one token each (what the server
 * runs for 2, 4, 8 busy slots). ms per step and per token, medians; the per-token ratio to the
 * one-token step is the most batching can give the aggregate tok/s of concurrent streams.
 *
 *   node bench/batch-steps.mjs [-m FILE] [--backend wasm] [-t THREADS] [--reps 5]
 *
 * Needs `npm run build`.
 */
import path from 'node:path';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { openGGUF } from '../dist/gguf/reader.js';
import { createBackend } from '../dist/kernels/index.js';
import { buildLlamaProgram, llamaHyperparameters } from '../dist/model/llama.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    model: { type: 'string', short: 'm', default: path.join(ROOT, 'fixtures/generated/smollm2-135m-q8_0.gguf') },
    backend: { type: 'string', default: 'wasm' },
    threads: { type: 'string', short: 't' },
    reps: { type: 'string', default: '5' },
  },
});
const REPS = Number(values.reps);
const STEPS = 8;
const file = await openGGUF(values.model);
const hp = llamaHyperparameters(file);
const b = await createBackend(/** @type {import('../dist/kernels/index.js').BackendName} */ (values.backend), { threads: values.threads ? Number(values.threads) : undefined });
await b.init({ file, program: buildLlamaProgram(hp), contextLength: 512, maxBatch: 64, sequences: 8 });
// Every sequence starts with a 32-token prompt in its cache.
const prompt = Int32Array.from({ length: 32 }, (_, i) => 1000 + i);
for (let s = 0; s < 8; s++) await b.forward({ tokens: prompt, pos: 0, allLogits: false, seq: s });

const ids = (n) => Int32Array.from({ length: n }, (_, j) => 2000 + j);
const kinds = [
  { name: '1 token, 1 sequence', n: 1, step: (pos) => ({ tokens: ids(1), pos, allLogits: false }) },
  { name: '4 tokens, 1 sequence', n: 4, step: (pos) => ({ tokens: ids(4), pos, allLogits: false }) },
  ...[2, 4, 8].map((n) => ({
    name: `${n} sequences × 1 token`,
    n,
    step: (pos) => ({
      tokens: ids(n),
      pos: 0,
      allLogits: false,
      rows: { seqs: Int32Array.from({ length: n }, (_, j) => j), positions: new Int32Array(n).fill(pos), outputs: Int32Array.from({ length: n }, (_, j) => j) },
    }),
  })),
];
const times = new Map(kinds.map((k) => [k.name, []]));
// Backend work per step (webgpu: dispatches, submits), from getCounters differences.
const work = new Map();
for (let r = 0; r < REPS; r++) {
  for (const k of kinds) {
    const c0 = b.getCounters?.();
    const t0 = performance.now();
    for (let i = 0; i < STEPS; i++) await b.forward(k.step(32 + ((r * STEPS + i) % 400)));
    times.get(k.name).push((performance.now() - t0) / STEPS);
    const c1 = b.getCounters?.();
    if (c0 && c1 && 'dispatches' in c1) work.set(k.name, ` ${(c1.dispatches - c0.dispatches) / STEPS} | ${(c1.submits - c0.submits) / STEPS} |`);
  }
}
const median = (xs) => [...xs].sort((a, c) => a - c)[Math.floor(xs.length / 2)];
const one = median(times.get(kinds[0].name));
console.log(
  `${path.basename(values.model)}, ${values.backend} ${b.describe().threads} threads, ${cpus()[0]?.model} × ${cpus().length}, load ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`,
);
const counted = work.size > 0;
console.log(`| step | ms/step | ms/token | tokens/s gain vs 1 token |${counted ? ' dispatches/step | submits/step |' : ''}\n|---|---:|---:|---:|${counted ? '---:|---:|' : ''}`);
for (const k of kinds) {
  const ms = median(times.get(k.name));
  console.log(`| ${k.name} | ${ms.toFixed(1)} | ${(ms / k.n).toFixed(1)} | ${((one * k.n) / ms).toFixed(2)}× |${counted ? work.get(k.name) : ''}`);
}
b.dispose();
file.close();
