#!/usr/bin/env node
/**
 * `npm run conformance`: tsinfer against llama.cpp (release v0.5.0, the CPU
 * build bundled in @node-llama-cpp/linux-x64 3.22.1), in this process.
 *
 *   node conformance/run.mjs [--sets tiny,135m,360m] [--no-quant] [--no-infer]
 *                            [--greedy N] [--all-types-bytes] [--backend reference|wasm] [--out FILE]
 *                            [--types F32,Q8_0,...] (fixture files for inference) [--no-stories]
 *
 * 1. Quantizer: for every fixture set and every TYPE of `tsinfer quantize`,
 *    llama.cpp's own llama_model_quantize (through koffi) runs on the F32
 *    fixture; the per-tensor types are compared with tsinfer's plan, and the
 *    file bytes with tsinfer's output (the fixture files for Q8_0, Q4_0,
 *    Q4_K_M, Q6_K; every type on the tiny set, or everywhere with --all-types-bytes).
 * 2. Inference: for stories260K and each fixture file, token-id prompts are
 *    evaluated by tsinfer's reference backend and by llama.cpp (node-llama-cpp,
 *    1 thread, f16 KV cache, flash attention off): per-position logits
 *    (max |Δ|, mean KL of the softmax, top-1 agreement), a greedy continuation
 *    (argmax, EOS ignored), and the token ids of a few texts.
 * Writes CONFORMANCE.md (or --out) with the tables, date and commit.
 * Installs conformance/node_modules first if it is missing (npm, ~85 MB, ~10 s).
 */
import { execFileSync, execSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const OUT_DIR = path.join(HERE, 'out');
const SHARED = path.resolve(ROOT, '..', 'shared');

/** npm install inside conformance/ when node-llama-cpp or koffi is missing. */
export function ensureInstalled(log = console.log) {
  const ok = ['node-llama-cpp', 'koffi', '@node-llama-cpp/linux-x64'].every((p) => existsSync(path.join(HERE, 'node_modules', p, 'package.json')));
  if (ok) return;
  log('installing conformance/node_modules (node-llama-cpp, koffi) ...');
  // Exact versions are pinned in package.json (a lock file written with omit=optional cannot be used by npm ci).
  // Install scripts are not needed: koffi and the llama.cpp binaries come prebuilt.
  execSync('npm install --no-audit --no-fund --ignore-scripts', { cwd: HERE, stdio: 'inherit' });
}

// ------------------------------------------------------------------ numbers

function softmax(logits) {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  const p = new Float64Array(logits.length);
  let s = 0;
  for (let i = 0; i < logits.length; i++) s += p[i] = Math.exp(logits[i] - max);
  for (let i = 0; i < p.length; i++) p[i] /= s;
  return p;
}
function argmax(a) {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}
/** max |Δ|, KL(P_llama || P_ours), top-1 equal, for one position. */
export function compareLogits(ref, ours) {
  let maxAbs = 0;
  for (let i = 0; i < ref.length; i++) maxAbs = Math.max(maxAbs, Math.abs(ref[i] - ours[i]));
  const p = softmax(ref);
  const q = softmax(ours);
  let kl = 0;
  for (let i = 0; i < p.length; i++) if (p[i] > 0) kl += p[i] * Math.log(p[i] / Math.max(q[i], 1e-300));
  return { maxAbs, kl, top1: argmax(ref) === argmax(ours) };
}

// ------------------------------------------------------------------ llama.cpp side

let llamaPromise;
async function llamaInstance() {
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  llamaPromise ??= getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false });
  return llamaPromise;
}

export async function llamaRun(modelPath, prompts, texts, nGreedy) {
  const llama = await llamaInstance();
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const context = await model.createContext({ contextSize: 512, batchSize: 512, threads: 1, flashAttention: false, sequences: 1 });
  const seq = context.getSequence();
  const toArray = (map, n) => {
    const a = new Float32Array(n);
    for (const [t, v] of map) a[t] = v;
    return a;
  };
  const out = [];
  for (const ids of prompts) {
    await seq.clearHistory();
    const res = await seq.controlledEvaluate(ids.map((t) => [t, { generateNext: { logits: true } }]));
    const n = Math.max(...[...res[0].next.logits.keys()]) + 1;
    const logits = res.map((r) => toArray(r.next.logits, n));
    const greedy = [];
    let next = argmax(logits[logits.length - 1]);
    for (let k = 0; k < nGreedy; k++) {
      greedy.push(next);
      if (k === nGreedy - 1) break;
      const r = await seq.controlledEvaluate([[next, { generateNext: { logits: true } }]]);
      next = argmax(toArray(r[0].next.logits, n));
    }
    out.push({ logits, greedy });
  }
  const tokens = texts.map((t) => Array.from(model.tokenize(t, false)));
  await context.dispose();
  await model.dispose();
  return { runs: out, tokens };
}

// ------------------------------------------------------------------ tsinfer side

export async function oursRun(modelPath, prompts, texts, nGreedy, backend = 'reference') {
  const { loadModel } = await import(path.join(ROOT, 'dist', 'index.js'));
  const model = await loadModel(modelPath, { contextLength: 512, backend });
  try {
    const out = [];
    const n = model.info.hyperparameters.vocabSize;
    for (const ids of prompts) {
      const all = await model.evaluate(ids);
      const logits = ids.map((_, k) => all.subarray(k * n, (k + 1) * n));
      const r = await model.complete(ids, { temperature: 0, maxTokens: nGreedy, ignoreEos: true });
      out.push({ logits, greedy: r.tokens });
    }
    let tokens;
    try {
      tokens = texts.map((t) => model.tokenize(t, { addSpecial: false, parseSpecial: false }));
    } catch (e) {
      tokens = texts.map(() => `error: ${e.message}`);
    }
    return { runs: out, tokens };
  } finally {
    await model.dispose();
  }
}

// ------------------------------------------------------------------ prompts

/** Token-id prompts (no tokenizer involved): BOS-less random ids, fixed seeds. */
export async function idPrompts(nVocab, lengths, seed) {
  const { mulberry32 } = await import(path.join(ROOT, 'scripts', 'fixtures.mjs'));
  const rnd = mulberry32(seed);
  return lengths.map((len) => Array.from({ length: len }, () => Math.floor(rnd() * nVocab)));
}
const TEXTS = ['Hello world', 'The quick brown fox jumps over the lazy dog.', "<|im_start|>user\nWhat's 2+2?<|im_end|>", '  spaces,\ttabs and ünïcödé 😀 123456'];

// ------------------------------------------------------------------ quantizer conformance

export async function quantConformance(sets, allTypesBytes, log, onlyTypes) {
  const { llamaQuantize } = await import('./lib/llama-ffi.mjs');
  const { openGGUF } = await import(path.join(ROOT, 'dist', 'gguf', 'reader.js'));
  const { ggmlTypeName } = await import(path.join(ROOT, 'dist', 'gguf', 'types.js'));
  const { FILE_TYPES } = await import(path.join(ROOT, 'dist', 'quant', 'filetype.js'));
  const { quantizeModel } = await import(path.join(ROOT, 'dist', 'quant', 'quantize-model.js'));
  const { fixturePath, QUANT_TYPES } = await import(path.join(ROOT, 'scripts', 'fixtures.mjs'));
  mkdirSync(OUT_DIR, { recursive: true });
  const rows = [];
  for (const set of sets) {
    const f32 = fixturePath(set);
    for (const ft of FILE_TYPES.filter((f) => f.name !== 'F32' && (!onlyTypes || onlyTypes.includes(f.name)))) {
      const theirs = path.join(OUT_DIR, `${set}-${ft.name.toLowerCase()}.llama.gguf`);
      const t0 = Date.now();
      const status = llamaQuantize(f32, theirs, ft.ftype);
      const tLlama = (Date.now() - t0) / 1000;
      if (status !== 0) {
        rows.push({ set, type: ft.name, error: `llama_model_quantize returned ${status}` });
        continue;
      }
      const fixtureFile = QUANT_TYPES.includes(ft.name) ? fixturePath(set, ft.name) : undefined;
      let ours = fixtureFile && existsSync(fixtureFile) ? fixtureFile : undefined;
      let tOurs;
      if (!ours && (allTypesBytes || set === 'tiny')) {
        ours = path.join(OUT_DIR, `${set}-${ft.name.toLowerCase()}.tsinfer.gguf`);
        const t1 = Date.now();
        await quantizeModel(f32, ours, ft.name, { force: true });
        tOurs = (Date.now() - t1) / 1000;
      }
      // type agreement from llama.cpp's file vs tsinfer's plan (a dry run of the same code)
      const lf = await openGGUF(theirs);
      const plan = await planOf(f32, ft.name);
      let agree = 0;
      const diffs = [];
      for (let i = 0; i < lf.tensors.length; i++) {
        const t = lf.tensors[i];
        const p = plan[i];
        if (p && p.name === t.name && p.to === t.typeId) agree++;
        else if (diffs.length < 3) diffs.push(`${t.name}: llama.cpp ${ggmlTypeName(t.typeId)}, tsinfer ${p ? `${p.name} ${ggmlTypeName(p.to)}` : 'none'}`);
      }
      const mix = {};
      for (const t of lf.tensors) mix[t.type.name] = (mix[t.type.name] ?? 0) + 1;
      lf.close();
      let bytes = 'not compared';
      if (ours) {
        const a = readFileSync(theirs);
        const b = readFileSync(ours);
        bytes = a.equals(b) ? 'identical' : await firstDiff(a, b, theirs);
      }
      rows.push({ set, type: ft.name, tensors: plan.length, agree, diffs, mix, bytes, size: readFileSync(theirs).length, tLlama, tOurs });
      log(`quant ${set} ${ft.name}: types ${agree}/${plan.length}, bytes ${bytes}`);
      if (!fixtureFile) rmSync(theirs, { force: true });
      if (ours && !fixtureFile) rmSync(ours, { force: true });
      if (fixtureFile) rmSync(theirs, { force: true });
    }
  }
  return rows;
}

async function planOf(f32, typeName) {
  const { openGGUF } = await import(path.join(ROOT, 'dist', 'gguf', 'reader.js'));
  const { fileTypeByName, llamaTensorOrder, planTensorTypes } = await import(path.join(ROOT, 'dist', 'quant', 'filetype.js'));
  const f = await openGGUF(f32);
  try {
    const arch = f.getString('general.architecture');
    const num = (k, d) => f.getNumber(k) ?? d;
    const nHead = num(`${arch}.attention.head_count`, 0);
    return planTensorTypes(llamaTensorOrder(f.tensors), fileTypeByName(typeName), {
      arch,
      nLayer: num(`${arch}.block_count`),
      nHead,
      nHeadKv: num(`${arch}.attention.head_count_kv`, nHead),
      nExpert: num(`${arch}.expert_count`, 0),
    });
  } finally {
    f.close();
  }
}

/** Where two files first differ: the header, or a tensor and block of llama.cpp's file. */
async function firstDiff(a, b, file) {
  const { openGGUF } = await import(path.join(ROOT, 'dist', 'gguf', 'reader.js'));
  let i = 0;
  const n = Math.min(a.length, b.length);
  while (i < n && a[i] === b[i]) i++;
  if (i === n && a.length !== b.length) return `sizes differ (${a.length} vs ${b.length})`;
  const f = await openGGUF(file);
  try {
    if (i < f.dataOffset) return `differ at byte ${i} (header)`;
    const t = f.tensors.find((t) => i >= t.fileOffset && i < t.fileOffset + t.nBytes);
    if (!t) return `differ at byte ${i} (padding)`;
    const block = Math.floor((i - t.fileOffset) / t.type.typeSize);
    return `differ at byte ${i}: tensor ${t.name}, block ${block}`;
  } finally {
    f.close();
  }
}

// ------------------------------------------------------------------ inference conformance

export async function inferConformance(sets, nGreedy, log, { stories = true, backend = 'reference', types, dequantizedCheck = true } = {}) {
  const { fixturePath, QUANT_TYPES } = await import(path.join(ROOT, 'scripts', 'fixtures.mjs'));
  const models = stories ? [{ label: 'stories260K', file: path.join(SHARED, 'models', 'stories260K.gguf'), nVocab: 512, bos: 1, texts: false }] : [];
  for (const set of sets) {
    for (const type of ['F32', ...QUANT_TYPES].filter((t) => !types || types.includes(t))) {
      const file = fixturePath(set, type);
      if (existsSync(file))
        models.push({ label: path.basename(file, '.gguf'), file, nVocab: 49152, texts: true, big: set !== 'tiny', dequantizedCheck: dequantizedCheck && set === 'tiny' && type !== 'F32' });
    }
  }
  const rows = [];
  for (const m of models) {
    const lengths = m.big ? [16] : [8, 24];
    const prompts = await idPrompts(m.nVocab, lengths, 20261123);
    if (m.bos !== undefined) for (const p of prompts) p[0] = m.bos;
    const texts = m.texts ? TEXTS : [];
    const t0 = Date.now();
    const ref = await llamaRun(m.file, prompts, texts, nGreedy);
    const t1 = Date.now();
    const got = await oursRun(m.file, prompts, texts, nGreedy, backend);
    const t2 = Date.now();
    const cmp = [];
    for (let p = 0; p < prompts.length; p++) {
      for (let k = 0; k < prompts[p].length; k++) cmp.push(compareLogits(ref.runs[p].logits[k], got.runs[p].logits[k]));
    }
    const greedy = prompts.map((_, p) => {
      const a = ref.runs[p].greedy;
      const b = got.runs[p].greedy;
      let same = 0;
      while (same < a.length && a[same] === b[same]) same++;
      return { same, n: a.length };
    });
    const tokOk = texts.filter((_, i) => JSON.stringify(ref.tokens[i]) === JSON.stringify(got.tokens[i])).length;
    const row = {
      label: m.label,
      positions: cmp.length,
      maxAbs: Math.max(...cmp.map((c) => c.maxAbs)),
      meanKl: cmp.reduce((s, c) => s + c.kl, 0) / cmp.length,
      top1: cmp.filter((c) => c.top1).length,
      greedy,
      tokens: texts.length ? `${tokOk}/${texts.length}` : '-',
      tokenDiffs: texts.map((t, i) => (JSON.stringify(ref.tokens[i]) === JSON.stringify(got.tokens[i]) ? undefined : { text: t, llama: ref.tokens[i], ours: got.tokens[i] })).filter(Boolean),
      tLlama: (t1 - t0) / 1000,
      tOurs: (t2 - t1) / 1000,
    };
    if (m.dequantizedCheck) {
      // llama.cpp on an F32 copy of the same weights (dequantized by tsinfer): isolates the weights from
      // llama.cpp's quantized matmuls, which round the activations to 8 bits.
      const deq = await writeDequantizedCopy(m.file);
      const refDeq = await llamaRun(deq, prompts, [], nGreedy);
      rmSync(deq, { force: true });
      const c2 = [];
      for (let p = 0; p < prompts.length; p++) for (let k = 0; k < prompts[p].length; k++) c2.push(compareLogits(refDeq.runs[p].logits[k], got.runs[p].logits[k]));
      row.deq = {
        maxAbs: Math.max(...c2.map((c) => c.maxAbs)),
        meanKl: c2.reduce((s, c) => s + c.kl, 0) / c2.length,
        top1: c2.filter((c) => c.top1).length,
        greedy: prompts.map((_, p) => {
          const a = refDeq.runs[p].greedy;
          const b = got.runs[p].greedy;
          let same = 0;
          while (same < a.length && a[same] === b[same]) same++;
          return { same, n: a.length };
        }),
      };
    }
    rows.push(row);
    log(
      `infer ${m.label}: max|Δ| ${row.maxAbs.toExponential(2)}, mean KL ${row.meanKl.toExponential(2)}, top-1 ${row.top1}/${row.positions}, greedy ${greedy.map((g) => `${g.same}/${g.n}`).join(' ')}, tokens ${row.tokens}`,
    );
  }
  return rows;
}

/** An F32 copy of a GGUF model with every tensor dequantized by tsinfer (same metadata except general.file_type). */
async function writeDequantizedCopy(file) {
  const { openGGUF } = await import(path.join(ROOT, 'dist', 'gguf', 'reader.js'));
  const { writeGGUF, metadataOf, gv } = await import(path.join(ROOT, 'dist', 'gguf', 'writer.js'));
  const { dequantize } = await import(path.join(ROOT, 'dist', 'quant', 'index.js'));
  mkdirSync(OUT_DIR, { recursive: true });
  const out = path.join(OUT_DIR, `${path.basename(file, '.gguf')}.dequantized-f32.gguf`);
  const g = await openGGUF(file);
  try {
    const meta = metadataOf(g).map(([k, v]) => [k, k === 'general.file_type' ? gv.u32(0) : v]);
    const tensors = g.tensors.map((t) => ({
      name: t.name,
      typeId: 0,
      shape: t.shape,
      data: function* () {
        const f = dequantize(t.typeId, g.readTensor(t), t.nElements);
        yield new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
      },
    }));
    await writeGGUF(out, meta, tensors, { flags: 'w' });
  } finally {
    g.close();
  }
  return out;
}

// ------------------------------------------------------------------ report

function report(quant, infer, opts) {
  const { LLAMA_CPP_RELEASE } = opts;
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {}
  const L = [];
  L.push('# Conformance: tsinfer vs llama.cpp', '');
  L.push(
    `Generated by \`npm run conformance\` (conformance/run.mjs) on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, tsinfer commit ${commit}, against llama.cpp release ${LLAMA_CPP_RELEASE} (CPU build of @node-llama-cpp/linux-x64 3.22.1: llama_model_quantize through koffi, inference through node-llama-cpp with 1 thread, f16 KV cache, flash attention off). Fixture sets: ${opts.sets.join(', ')}.`,
    '',
  );
  if (quant) {
    L.push('## Quantizer: `tsinfer quantize` vs `llama_model_quantize` on the same F32 input', '');
    L.push(
      "Types: tensors whose type tsinfer chooses equal to llama.cpp's (same tensor order). Bytes: the whole output files compared (tsinfer's fixture files for Q8_0/Q4_0/Q4_K_M/Q6_K, a fresh `tsinfer quantize` output otherwise).",
      '',
    );
    L.push('| set | TYPE | types agree | bytes | llama.cpp type mix | file size |', '|---|---|---|---|---|---|');
    for (const r of quant) {
      if (r.error) {
        L.push(`| ${r.set} | ${r.type} | — | — | ${r.error} | |`);
        continue;
      }
      const mix = Object.entries(r.mix)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `${k}×${v}`)
        .join(' ');
      L.push(`| ${r.set} | ${r.type} | ${r.agree}/${r.tensors}${r.diffs.length ? ` (${r.diffs.join('; ')})` : ''} | ${r.bytes} | ${mix} | ${(r.size / 1048576).toFixed(1)} MiB |`);
    }
    L.push('');
  }
  if (infer) {
    L.push(`## Inference: ${opts.backend} backend vs llama.cpp`, '');
    L.push(
      `Token-id prompts (seeded random ids; stories260K's start with BOS), every position's logits compared: max |Δ| over all positions and the vocabulary, mean KL(P_llama.cpp ‖ P_tsinfer) of the softmax per position, top-1 agreement. Greedy: ${opts.nGreedy} tokens by argmax after each prompt (EOS ignored); "k/n" = the first k tokens are equal. Tokens: \`tokenize(text, add_special=false, parse_special=false)\` of ${TEXTS.length} texts equal.`,
      '',
    );
    L.push('| model | positions | max abs Δ logit | mean KL | top-1 | greedy continuations | token ids |', '|---|---|---|---|---|---|---|');
    for (const r of infer) {
      L.push(
        `| ${r.label} | ${r.positions} | ${r.maxAbs.toExponential(2)} | ${r.meanKl.toExponential(2)} | ${r.top1}/${r.positions} | ${r.greedy.map((g) => `${g.same}/${g.n}`).join(', ')} | ${r.tokens} |`,
      );
    }
    L.push('');
    const deq = infer.filter((r) => r.deq);
    if (deq.length) {
      L.push(
        "The same tsinfer runs against llama.cpp on an F32 copy of each quantized file (weights dequantized by tsinfer, so llama.cpp computes in float32 as on the F32 fixture): what remains against the quantized file itself is llama.cpp's quantized matmuls, which round the activations to 8 bits (Q8_0/Q8_K) before the dot products.",
        '',
      );
      L.push('| model (weights dequantized) | max abs Δ logit | mean KL | top-1 | greedy continuations |', '|---|---|---|---|---|');
      for (const r of deq)
        L.push(`| ${r.label} | ${r.deq.maxAbs.toExponential(2)} | ${r.deq.meanKl.toExponential(2)} | ${r.deq.top1}/${r.positions} | ${r.deq.greedy.map((g) => `${g.same}/${g.n}`).join(', ')} |`);
      L.push('');
    }
    const diffs = infer.flatMap((r) => r.tokenDiffs.map((d) => `- ${r.label}: ${JSON.stringify(d.text)}: llama.cpp ${JSON.stringify(d.llama)}, tsinfer ${JSON.stringify(d.ours)}`));
    if (diffs.length) L.push('Token id differences:', '', ...diffs, '');
  }
  if (opts.notes) L.push(opts.notes, '');
  return L.join('\n');
}

/** Splits markdown at "## " headings (the text before the first heading is one piece). */
function sections(md) {
  return md.split(/(?=^## )/m);
}

async function main(argv) {
  const opts = { sets: ['tiny'], quant: true, infer: true, nGreedy: 64, allTypesBytes: false, backend: 'reference', out: path.join(ROOT, 'CONFORMANCE.md') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--sets') opts.sets = argv[++i].split(',').filter(Boolean);
    else if (a === '--no-quant') opts.quant = false;
    else if (a === '--no-infer') opts.infer = false;
    else if (a === '--greedy') opts.nGreedy = Number(argv[++i]);
    else if (a === '--all-types-bytes') opts.allTypesBytes = true;
    else if (a === '--out') opts.out = path.resolve(argv[++i]);
    else if (a === '--backend') opts.backend = argv[++i];
    else if (a === '--types') opts.types = argv[++i].split(',').map((t) => t.toUpperCase());
    else if (a === '--no-stories') opts.stories = false;
    else {
      console.error(`conformance: unknown argument "${a}"`);
      return 2;
    }
  }
  ensureInstalled();
  const { ensureFixtures } = await import(path.join(ROOT, 'scripts', 'fixtures.mjs'));
  await ensureFixtures({ sets: opts.sets, log: (m) => console.log(m) });
  const { LLAMA_CPP_RELEASE } = await import('./lib/llama-ffi.mjs');
  const quant = opts.quant ? await quantConformance(opts.sets, opts.allTypesBytes, console.log) : undefined;
  const infer = opts.infer ? await inferConformance(opts.sets, opts.nGreedy, console.log, { backend: opts.backend, types: opts.types, stories: opts.stories !== false }) : undefined;
  const notesFile = path.join(HERE, 'NOTES.md');
  const notes = existsSync(notesFile) ? readFileSync(notesFile, 'utf8') : undefined;
  let text = report(quant, infer, { ...opts, LLAMA_CPP_RELEASE, notes });
  // Sections this run did not produce (--no-quant / --no-infer, the other backend's inference
  // section, sections written by other scripts such as scripts/agreement.mjs) are carried over from
  // the existing report: quantizer first, then inference, then the rest, the notes last.
  if (existsSync(opts.out)) {
    const heading = (x) => x.split('\n', 1)[0];
    const cur = sections(text);
    const have = new Set(cur.map(heading));
    const kept = sections(readFileSync(opts.out, 'utf8')).filter((x) => x.startsWith('## ') && !have.has(heading(x)));
    const head = cur.filter((x) => !x.startsWith('## '));
    const rank = (x) => (x.startsWith('## Quantizer') ? 0 : x.startsWith('## Inference') ? 1 : x.startsWith('## Notes') ? 3 : 2);
    const body = [...cur.filter((x) => x.startsWith('## ')), ...kept].map((x) => (x.endsWith('\n\n') ? x : `${x.trimEnd()}\n\n`));
    text = [...head, ...body.sort((a, b) => rank(a) - rank(b))].join('').trimEnd() + '\n';
  }
  writeFileSync(opts.out, text);
  console.log(`wrote ${path.relative(process.cwd(), opts.out)}`);
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (c) => process.exit(c),
    (e) => {
      console.error(e?.stack ?? e);
      process.exit(1);
    },
  );
}
