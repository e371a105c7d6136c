#!/usr/bin/env node
/**
 * Grammar-constrained sampling overhead per token on the SmolLM2 vocabulary (49152 tokens),
 * against plain sampling and against a decode step of SmolLM2-135M Q8_0.
 *
 *   npm run build && node bench/grammar.mjs [--docs N] [--runs N] [--no-model] [--no-llama] [--no-replay] [--json FILE]
 *
 * Token streams are JSON documents (objects of names, numbers, lists and sentences of
 * ../shared/text/war-and-peace.txt) tokenized by SmolLM2's tokenizer and replayed through the
 * sampler: at each step the grammar masks a random logit row (fixed seed), the sampler draws
 * (llama.cpp defaults: top-k 40, top-p 0.95, min-p 0.05, temperature 0.8), then the grammar accepts
 * the document's token. Three grammar cases:
 *   cold     a new grammar per document: every state's transitions and masks are computed
 *   steady   one grammar for all documents (as a server answering many requests with one schema):
 *            states met before reuse their masks
 *   greedy   temperature 0: the argmax is checked first, the row is masked only when it is rejected
 * llama.cpp's grammar sampler (llama_sampler_init_grammar on the same GBNF, through koffi) is timed
 * on the same streams when conformance/node_modules is installed, and its masks are compared with
 * tsinfer's token by token at every step of the first two documents. Medians over runs.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SHARED = path.resolve(ROOT, '..', 'shared');
const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : def;
};
const nDocs = Number(arg('--docs', '8'));
const runs = Number(arg('--runs', '3'));
const jsonOut = arg('--json', undefined);
const withModel = !process.argv.includes('--no-model');
const withLlama = !process.argv.includes('--no-llama');

const dist = (p) => import(pathToFileURL(path.join(ROOT, 'dist', p)).href);
const { loadTokenizer, loadModel, Grammar, jsonSchemaToGbnf } = await dist('index.js');
const { GrammarConstraint } = await dist('generate/grammar/constraint.js');
const { vocabTrie } = await dist('generate/grammar/vocab-trie.js');
const { Sampler } = await dist('generate/sampling.js');
const { Rng } = await dist('generate/rng.js');

const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const now = () => Number(process.hrtime.bigint()) / 1e6;
/** CPU time of this process in ms: on a loaded machine, the work itself (wall clock also counts waiting for a core). */
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

// ---- documents ----
const SCHEMA = {
  type: 'object',
  properties: {
    title: { type: 'string' },
    year: { type: 'integer', minimum: 1800, maximum: 2100 },
    people: {
      type: 'array',
      items: { type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer' }, tags: { type: 'array', items: { type: 'string' } } }, required: ['name', 'age'] },
    },
    summary: { type: 'string' },
    rating: { type: 'number' },
  },
  required: ['title', 'year', 'people', 'summary'],
};
const book = readFileSync(path.join(SHARED, 'text', 'war-and-peace.txt'), 'utf8').replace(/\s+/g, ' ');
const words = book.split(' ').filter((w) => /^[A-Za-z,.;'-]+$/.test(w));
const rng = new Rng(7);
const pick = (n) => Array.from({ length: n }, () => words[Math.floor(rng.next() * words.length)]).join(' ');
const docs = Array.from({ length: nDocs }, (_, d) =>
  JSON.stringify(
    {
      title: pick(3),
      year: 1800 + d * 7,
      people: Array.from({ length: 2 + (d % 3) }, (_, i) => ({ name: pick(2), age: 20 + i * 11 + d, tags: [pick(1), pick(1)] })),
      summary: pick(24 + 4 * d),
      rating: 3.25 + d / 8,
    },
    null,
    d % 2 ? 1 : undefined,
  ),
);

const tok = await loadTokenizer(path.join(SHARED, 'vocab', 'smollm2', 'smollm2-vocab.gguf'));
const n = tok.vocabSize;
const streams = docs.map((d) => tok.encode(d, { addSpecial: false }));
const tokensTotal = streams.reduce((s, t) => s + t.length, 0);

const grammars = { 'json (any object)': jsonSchemaToGbnf({ type: 'object' }), 'json schema': jsonSchemaToGbnf(SCHEMA) };
for (const [name, g] of Object.entries(grammars)) {
  const G = Grammar.parse(g);
  for (const d of docs) if (!G.matchesString(d)) throw new Error(`bench document not in grammar ${name}: ${d}`);
}

// A random logit row (normal-ish), the same for every step.
const logits = new Float32Array(n);
for (let i = 0; i < n; i++) logits[i] = (rng.next() + rng.next() + rng.next() - 1.5) * 4;

const t0 = now();
const trie = vocabTrie(tok);
const trieMs = now() - t0;

function plainPerToken() {
  const s = new Sampler({ seed: 1 }, n);
  const t = now();
  let steps = 0;
  for (const ids of streams)
    for (const id of ids) {
      s.sample(logits, []);
      steps++;
      void id;
    }
  return (now() - t) / steps;
}

/**
 * Per token: the grammar's own time (mask or greedy check, and accept) and the whole step
 * (grammar + sampler). `shared`: one grammar for all documents.
 */
function grammarPerToken(source, { shared, temperature }) {
  const s = new Sampler({ seed: 1, temperature }, n);
  const top = s.sample(logits, []); // the row is fixed: so is its argmax
  let g = Grammar.parse(source);
  const counters = { walks: 0, cacheHits: 0, greedyAccepted: 0 };
  const grammarMs = [];
  let grammarCpu = 0;
  let total = 0;
  let steps = 0;
  for (const ids of streams) {
    if (!shared) g = Grammar.parse(source);
    const c = new GrammarConstraint(g, tok);
    for (const id of ids) {
      const ca = cpu();
      const a = now();
      let masked;
      if (temperature > 0 || !c.allows(top)) masked = c.mask(logits);
      else counters.greedyAccepted++;
      const b = now();
      const cb = cpu();
      if (masked) s.sample(masked, []);
      const cd = cpu();
      const d = now();
      c.accept(id);
      const e = now();
      grammarCpu += cb - ca + (cpu() - cd);
      grammarMs.push(b - a + (e - d));
      total += e - a;
      steps++;
    }
    counters.walks += c.counters.walks;
    counters.cacheHits += c.counters.cacheHits;
  }
  const sum = grammarMs.reduce((x, y) => x + y, 0);
  const sorted = [...grammarMs].sort((x, y) => x - y);
  return { mean: sum / steps, cpu: grammarCpu / steps, total: total / steps, median: median(grammarMs), p99: sorted[Math.floor(sorted.length * 0.99)], counters };
}

// ---- llama.cpp ----
let llama;
if (withLlama && existsSync(path.join(ROOT, 'conformance', 'node_modules', 'koffi'))) {
  try {
    llama = await (await import(pathToFileURL(path.join(ROOT, 'bench', 'grammar-llama.mjs')).href)).openLlamaGrammar(path.join(ROOT, 'fixtures', 'generated', 'smollm2-135m-q8_0.gguf'));
  } catch (e) {
    console.error(`llama.cpp side skipped: ${e.message}`);
  }
}

function llamaPerToken(source) {
  const perStep = [];
  let cpuSum = 0;
  for (const ids of streams) {
    const smpl = llama.initGrammar(source);
    for (const id of ids) {
      llama.fill(logits);
      const c0 = cpu();
      const t0 = now();
      llama.applyAndAccept(smpl, id);
      perStep.push(now() - t0);
      cpuSum += cpu() - c0;
    }
    llama.free(smpl);
  }
  const sorted = [...perStep].sort((x, y) => x - y);
  return { mean: perStep.reduce((x, y) => x + y, 0) / perStep.length, cpu: cpuSum / perStep.length, median: median(perStep), p99: sorted[Math.floor(sorted.length * 0.99)] };
}

/**
 * Mask agreement: at every step of the first documents, the tokens tsinfer's grammar allows and the
 * ones llama.cpp's grammar sampler leaves finite. Control tokens are counted apart: llama.cpp matches
 * them by their text, tsinfer never produces them under a grammar.
 */
function maskAgreement(source, docsToCheck = 2) {
  const zeros = new Float32Array(n);
  let decisions = 0;
  let differ = 0;
  let control = 0;
  for (const ids of streams.slice(0, docsToCheck)) {
    const c = new GrammarConstraint(Grammar.parse(source), tok);
    const smpl = llama.initGrammar(source);
    for (let step = 0; step <= ids.length; step++) {
      llama.fill(zeros);
      llama.apply(smpl);
      const mask = c.allowedMask();
      for (let id = 0; id < n; id++) {
        if ((((mask[id >>> 5] >>> (id & 31)) & 1) === 1) !== llama.allowedAfterApply(id)) {
          if (tok.isControl(id)) control++;
          else differ++;
        }
      }
      decisions += n;
      if (step < ids.length) {
        c.accept(ids[step]);
        llama.accept(smpl, ids[step]);
      }
    }
    llama.free(smpl);
  }
  return { decisions, differ, control };
}

// ---- decode step of the 135M model ----
let decodeMs;
let endToEnd;
const modelPath = path.join(ROOT, 'fixtures', 'generated', 'smollm2-135m-q8_0.gguf');
if (withModel && existsSync(modelPath)) {
  const model = await loadModel(modelPath, { contextLength: 512 });
  const tps = [];
  for (let r = 0; r < runs; r++) {
    const res = await model.complete('The', { temperature: 0, maxTokens: 33, ignoreEos: true });
    tps.push(res.stats.decodeTokensPerSecond);
  }
  decodeMs = 1000 / median(tps);
  // End to end: sampled decoding (temperature 0.8) with and without a JSON schema, alternating.
  // The first round warms up (and compiles the grammar); the reported rounds reuse its tables, as a server would.
  const e2e = { plain: [], schema: [] };
  for (let r = 0; r <= runs; r++) {
    for (const k of ['plain', 'schema']) {
      const res = await model.complete('{"', { seed: r + 1, maxTokens: 48, ignoreEos: k === 'plain', ...(k === 'schema' ? { jsonSchema: SCHEMA } : {}) });
      if (r > 0) e2e[k].push(1000 / res.stats.decodeTokensPerSecond);
    }
  }
  endToEnd = { plainMs: median(e2e.plain), schemaMs: median(e2e.schema) };
  await model.dispose();
}

const rows = [];
const agreement = [];
const replay = !process.argv.includes('--no-replay');
const result = {
  machine: os.cpus()[0]?.model,
  cores: os.cpus().length,
  loadavg: os.loadavg(),
  node: process.version,
  vocab: n,
  trieNodes: trie.size,
  trieMs,
  docs: nDocs,
  tokens: tokensTotal,
  decodeMs,
  endToEnd,
  cases: rows,
};
const plain = replay ? median(Array.from({ length: runs }, plainPerToken)) : NaN;
if (replay) rows.push({ grammar: '-', mode: 'plain sampling, no grammar (sampler only)', total: plain });
for (const [name, source] of replay ? Object.entries(grammars) : []) {
  for (const [mode, o] of /** @type {Array<[string, { shared: boolean; temperature: number }]>} */ ([
    ['cold', { shared: false, temperature: 0.8 }],
    ['steady', { shared: true, temperature: 0.8 }],
    ['greedy', { shared: true, temperature: 0 }],
  ])) {
    const rs = Array.from({ length: runs }, () => grammarPerToken(source, o));
    rows.push({
      grammar: name,
      mode,
      grammarMs: median(rs.map((r) => r.mean)),
      cpuMs: median(rs.map((r) => r.cpu)),
      total: median(rs.map((r) => r.total)),
      medianStep: median(rs.map((r) => r.median)),
      p99Step: median(rs.map((r) => r.p99)),
      counters: rs[0].counters,
    });
  }
  if (llama) {
    const a = maskAgreement(source);
    agreement.push({ grammar: name, ...a });
    const rs = Array.from({ length: runs }, () => llamaPerToken(source));
    rows.push({
      grammar: name,
      mode: 'llama.cpp grammar sampler (apply + accept)',
      grammarMs: median(rs.map((r) => r.mean)),
      cpuMs: median(rs.map((r) => r.cpu)),
      medianStep: median(rs.map((r) => r.median)),
      p99Step: median(rs.map((r) => r.p99)),
    });
  }
}

console.log(`${result.machine} (${result.cores} cores, load ${result.loadavg.map((x) => x.toFixed(1)).join(' ')}), node ${result.node}`);
console.log(`SmolLM2 vocabulary: ${n} tokens, trie ${trie.size} nodes built in ${trieMs.toFixed(0)} ms; ${nDocs} documents, ${tokensTotal} tokens`);
if (decodeMs) console.log(`decode step of SmolLM2-135M Q8_0 (wasm, greedy): ${decodeMs.toFixed(2)} ms`);
if (endToEnd)
  console.log(
    `end to end, temperature 0.8, 48 tokens: ${endToEnd.plainMs.toFixed(2)} ms/token plain, ${endToEnd.schemaMs.toFixed(2)} ms/token under the JSON schema (medians of ${runs} alternating runs after a warm-up)`,
  );
console.log('| grammar | mode | grammar ms/token (mean, wall) | CPU ms/token | median step | p99 step | of a decode step | grammar + sampler ms/token | masks walked / cached / argmax kept |');
console.log('|---|---|---:|---:|---:|---:|---:|---:|---|');
const f3 = (x) => (x === undefined ? '' : x.toFixed(3));
for (const r of rows) {
  const frac = decodeMs && r.grammarMs !== undefined ? `${((100 * r.grammarMs) / decodeMs).toFixed(1)} %` : '';
  const c = r.counters ? `${r.counters.walks} / ${r.counters.cacheHits} / ${r.counters.greedyAccepted}` : '';
  console.log(`| ${r.grammar} | ${r.mode} | ${f3(r.grammarMs)} | ${f3(r.cpuMs)} | ${f3(r.medianStep)} | ${f3(r.p99Step)} | ${frac} | ${f3(r.total)} | ${c} |`);
}
for (const a of agreement) {
  console.log(`masks against llama.cpp, ${a.grammar}: ${a.decisions} token decisions, ${a.differ} differ (${a.control} more on control tokens, matched by their text in llama.cpp only)`);
}
result.agreement = agreement;
if (jsonOut) writeFileSync(jsonOut, JSON.stringify(result, null, 2));
