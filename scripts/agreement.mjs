#!/usr/bin/env node
/**
 * How closely a backend follows the reference backend on every generated
 * fixture: the backend generates 64 greedy tokens after a prompt, then both
 * backends evaluate the whole sequence and every position's logits are
 * compared (mean / max KL of the softmax, top-1 agreement, and at each
 * disagreement the reference's margin between its best token and the
 * backend's). Prints a markdown table; with --write, replaces the
 * "wasm backend vs the reference backend" section of CONFORMANCE.md.
 *
 * Usage: node scripts/agreement.mjs [--backend wasm] [--greedy 64] [--write] [FILTER...]
 *   FILTER  substrings of fixture names to keep (default: every fixture in fixtures/generated)
 * Needs `npm run build` and `npm run fixtures`.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const { loadModel } = await import(path.join(ROOT, 'dist/index.js'));

const args = process.argv.slice(2);
let backend = 'wasm';
let nGreedy = 64;
let write = false;
const filters = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--backend') backend = args[++i];
  else if (args[i] === '--greedy') nGreedy = Number(args[++i]);
  else if (args[i] === '--write') write = true;
  else filters.push(args[i]);
}
const dir = path.join(ROOT, 'fixtures/generated');
if (!existsSync(dir)) throw new Error('no fixtures: run `npm run fixtures` first');
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.gguf') && (filters.length === 0 || filters.some((s) => f.includes(s))))
  .sort();

function logSoftmax(x) {
  let max = -Infinity;
  for (const v of x) if (v > max) max = v;
  let sum = 0;
  for (const v of x) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(x, (v) => v - lse);
}
function argmax(x) {
  let a = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[a]) a = i;
  return a;
}

const PROMPT = 'Once upon a time, in a small town by the sea,';
const rows = [];
for (const f of files) {
  const file = path.join(dir, f);
  const t0 = performance.now();
  const ours = await loadModel(file, { backend, contextLength: 256 });
  const ref = await loadModel(file, { backend: 'reference', contextLength: 256 });
  try {
    const prompt = ours.tokenize(PROMPT);
    const run = await ours.complete(prompt, { temperature: 0, maxTokens: nGreedy, ignoreEos: true });
    const seq = [...prompt, ...run.tokens];
    const vocab = ours.info.hyperparameters.vocabSize;
    const a = await ours.evaluate(seq);
    const b = await ref.evaluate(seq);
    let klSum = 0,
      klMax = 0,
      top1 = 0,
      worst = 0;
    // positions whose next token was generated (the prompt's last one onwards)
    const first = prompt.length - 1,
      n = seq.length - 1 - first;
    for (let p = first; p < seq.length - 1; p++) {
      const ra = b.subarray(p * vocab, (p + 1) * vocab),
        ga = a.subarray(p * vocab, (p + 1) * vocab);
      const lp = logSoftmax(ra),
        lq = logSoftmax(ga);
      let kl = 0;
      for (let i = 0; i < vocab; i++) kl += Math.exp(lp[i]) * (lp[i] - lq[i]);
      klSum += kl;
      klMax = Math.max(klMax, kl);
      const ir = argmax(ra),
        ig = argmax(ga);
      if (ir === ig) top1++;
      else worst = Math.max(worst, ra[ir] - ra[ig]);
    }
    const row = { fixture: f.replace(/\.gguf$/, ''), positions: n, top1, meanKL: klSum / n, maxKL: klMax, worstMargin: worst, seconds: (performance.now() - t0) / 1000 };
    rows.push(row);
    console.error(`${row.fixture}: top-1 ${top1}/${n}, mean KL ${row.meanKL.toExponential(2)}, max KL ${klMax.toExponential(2)}, worst margin ${worst.toExponential(2)} (${row.seconds.toFixed(0)} s)`);
  } finally {
    await ours.dispose();
    await ref.dispose();
  }
}

let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
} catch {
  /* not a checkout */
}
const lines = [
  `## ${backend} backend vs the reference backend`,
  '',
  `\`node scripts/agreement.mjs --backend ${backend}\` — ${new Date().toISOString().slice(0, 10)}, commit ${commit}, ${cpus()[0]?.model ?? 'cpu'}, load average ${loadavg()[0].toFixed(1)}.`,
  `The ${backend} backend generates ${nGreedy} greedy tokens after "${PROMPT}"; both backends then evaluate the`,
  'sequence and the logits of every generated position are compared. "Worst margin" is the largest',
  "reference logit gap between its own best token and the backend's where the two disagree (0 = none).",
  '',
  '| fixture | top-1 | mean KL | max KL | worst margin |',
  '|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.fixture} | ${r.top1}/${r.positions} | ${r.meanKL.toExponential(2)} | ${r.maxKL.toExponential(2)} | ${r.worstMargin === 0 ? '0' : r.worstMargin.toExponential(2)} |`),
  '',
];
const md = lines.join('\n');
process.stdout.write(md + '\n');
if (write) {
  const p = path.join(ROOT, 'CONFORMANCE.md');
  const old = readFileSync(p, 'utf8');
  const start = old.indexOf(`## ${backend} backend vs the reference backend`);
  let next;
  if (start >= 0) {
    next = old.indexOf('\n## ', start + 1);
    writeFileSync(p, old.slice(0, start) + md + (next >= 0 ? old.slice(next + 1) : ''));
  } else {
    writeFileSync(p, old.trimEnd() + '\n\n' + md);
  }
}
