#!/usr/bin/env node
/**
 * `npm run conformance:arch`: every architecture of model/arch/ against llama.cpp
 * (the libllama of conformance/, as conformance/run.mjs) on the seeded fixtures of
 * scripts/arch-fixtures.mjs: per-position logits of token-id prompts (max |Δ|, mean
 * KL, top-1) and a 64-token greedy continuation, on each backend asked for.
 *
 *   node conformance/arch.mjs [--sets qwen2-1l,gemma3,...] [--backends reference,webgpu|none]
 *                             [--types F32,Q8_0,Q4_K_M] [--greedy 64]
 *                             [--store test/fixtures/arch-llama-cpp.json] [--out CONFORMANCE.md]
 *
 * --types runs each set's files of those types (F32 by default; a set has the quantized types
 * its entry in scripts/arch-fixtures.mjs lists, the others are skipped).
 *
 * --store writes llama.cpp's side of the 1-layer sets (prompts, the top logits of every
 * position, the greedy continuation) to a small JSON that CI's tests compare against
 * without llama.cpp (test/model/arch-conformance.test.ts).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compareLogits, ensureInstalled, idPrompts, llamaRun, oursRun } from './run.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const TOP = 16;

function topK(logits, k) {
  const idx = Array.from(logits.keys())
    .sort((a, b) => logits[b] - logits[a] || a - b)
    .slice(0, k);
  return { ids: idx, logits: idx.map((i) => logits[i]) };
}

async function main(argv) {
  const { ARCH_SETS, DEFAULT_ARCH_SETS, archFixturePath, ensureArchFixtures } = await import(path.join(ROOT, 'scripts', 'arch-fixtures.mjs'));
  const opts = { sets: DEFAULT_ARCH_SETS, backends: ['reference'], types: ['F32'], nGreedy: 64, store: undefined, out: path.join(ROOT, 'CONFORMANCE.md') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--sets') opts.sets = argv[++i].split(',').filter(Boolean);
    else if (a === '--backends') opts.backends = argv[++i].split(',').filter((b) => b && b !== 'none');
    else if (a === '--types')
      opts.types = argv[++i]
        .split(',')
        .filter(Boolean)
        .map((t) => t.toUpperCase());
    else if (a === '--greedy') opts.nGreedy = Number(argv[++i]);
    else if (a === '--store') opts.store = path.resolve(argv[++i]);
    else if (a === '--out') opts.out = path.resolve(argv[++i]);
    else throw new Error(`conformance/arch: unknown argument "${a}"`);
  }
  ensureInstalled();
  await ensureArchFixtures({ sets: opts.sets, log: console.log });
  const { LLAMA_CPP_RELEASE } = await import('./lib/llama-ffi.mjs');
  const { openGGUF } = await import(path.join(ROOT, 'dist', 'gguf', 'reader.js'));
  const rows = [];
  const stored = {};
  const runs = opts.sets.flatMap((set) => opts.types.filter((t) => t === 'F32' || ARCH_SETS[set].types.includes(t)).map((type) => ({ set, type })));
  for (const { set, type } of runs) {
    const s = ARCH_SETS[set];
    const file = archFixturePath(set, type);
    const g = await openGGUF(file);
    const nVocab = g.getArray('tokenizer.ggml.tokens').length;
    g.close();
    const prompts = await idPrompts(nVocab, [8, 24], 20261206);
    const t0 = Date.now();
    const ref = await llamaRun(file, prompts, [], opts.nGreedy);
    const tLlama = (Date.now() - t0) / 1000;
    if (opts.store && set.endsWith('-1l') && type === 'F32') {
      stored[set] = {
        file: path.basename(file),
        seed: s.seed,
        prompts,
        runs: ref.runs.map((r) => ({ top: r.logits.map((l) => topK(l, TOP)), greedy: r.greedy })),
      };
      await writeStore(opts, stored, LLAMA_CPP_RELEASE);
    }
    for (const backend of opts.backends) {
      const t1 = Date.now();
      let got;
      try {
        got = await oursRun(file, prompts, [], opts.nGreedy, backend);
      } catch (e) {
        rows.push({ set, arch: s.arch, backend, error: e.message });
        console.log(`${set} ${backend}: ${e.message}`);
        continue;
      }
      const cmp = [];
      prompts.forEach((p, i) => {
        p.forEach((_, k) => {
          cmp.push(compareLogits(ref.runs[i].logits[k], got.runs[i].logits[k]));
        });
      });
      const greedy = prompts.map((_, i) => {
        const a = ref.runs[i].greedy;
        const b = got.runs[i].greedy;
        let same = 0;
        while (same < a.length && a[same] === b[same]) same++;
        return `${same}/${a.length}`;
      });
      const row = {
        set,
        arch: s.arch,
        backend,
        file: path.basename(file),
        positions: cmp.length,
        maxAbs: Math.max(...cmp.map((c) => c.maxAbs)),
        meanKl: cmp.reduce((x, c) => x + c.kl, 0) / cmp.length,
        top1: cmp.filter((c) => c.top1).length,
        greedy,
        tLlama,
        tOurs: (Date.now() - t1) / 1000,
      };
      rows.push(row);
      if (opts.out) writeSection(opts.out, rows, LLAMA_CPP_RELEASE, opts.nGreedy);
      console.log(
        `${set} ${backend}: max|Δ| ${row.maxAbs.toExponential(2)}, mean KL ${row.meanKl.toExponential(2)}, top-1 ${row.top1}/${row.positions}, greedy ${greedy.join(' ')} (${row.tOurs.toFixed(0)} s; llama.cpp ${tLlama.toFixed(0)} s)`,
      );
    }
  }
  if (opts.out && rows.length) writeSection(opts.out, rows, LLAMA_CPP_RELEASE, opts.nGreedy);
}

/** Writes llama.cpp's side of the 1-layer sets done so far (merged into the file's other sets). */
async function writeStore(opts, stored, release) {
  let commit = 'unknown';
  try {
    const { execFileSync } = await import('node:child_process');
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {}
  const prev = existsSync(opts.store) ? JSON.parse(readFileSync(opts.store, 'utf8')).sets : {};
  writeFileSync(
    opts.store,
    JSON.stringify({
      provenance: `llama.cpp release ${release} (CPU build of @node-llama-cpp/linux-x64, 1 thread, f16 KV cache, flash attention off, context 512) on the F32 fixtures of scripts/arch-fixtures.mjs, by conformance/arch.mjs --store at tsinfer commit ${commit}, ${new Date().toISOString().slice(0, 10)}. top: the ${TOP} largest logits of every prompt position (ids, values); greedy: ${opts.nGreedy} argmax tokens after the prompt (EOS ignored).`,
      sets: { ...prev, ...stored },
    }) + '\n',
  );
  console.log(`wrote ${path.relative(process.cwd(), opts.store)}`);
}

const HEADING = '## Architectures: tsinfer vs llama.cpp on seeded random-weight fixtures';

function writeSection(out, rows, release, nGreedy) {
  const L = [HEADING, ''];
  L.push(
    `Generated by \`node conformance/arch.mjs\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC against llama.cpp release ${release} (same build and settings as above). Fixtures: scripts/arch-fixtures.mjs (real widths, fewer layers; stand-in vocabularies for Qwen and Gemma, see there). Two token-id prompts (8 and 24 seeded random ids), every position's logits compared; greedy: ${nGreedy} argmax tokens after each prompt, "k/n" = the first k equal.`,
    '',
  );
  L.push('| fixture | architecture | backend | positions | max abs Δ logit | mean KL | top-1 | greedy continuations |', '|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    if (r.error) L.push(`| ${r.set} | ${r.arch} | ${r.backend} | — | — | — | — | refused: ${r.error} |`);
    else L.push(`| ${r.file} | ${r.arch} | ${r.backend} | ${r.positions} | ${r.maxAbs.toExponential(2)} | ${r.meanKl.toExponential(2)} | ${r.top1}/${r.positions} | ${r.greedy.join(', ')} |`);
  }
  const section = L.join('\n') + '\n\n';
  let text = existsSync(out) ? readFileSync(out, 'utf8') : '# Conformance: tsinfer vs llama.cpp\n\n';
  const start = text.indexOf(HEADING);
  if (start >= 0) {
    const next = text.indexOf('\n## ', start + HEADING.length);
    text = text.slice(0, start) + section + (next >= 0 ? text.slice(next + 1) : '');
  } else {
    const notes = text.indexOf('\n## Notes');
    text = notes >= 0 ? text.slice(0, notes + 1) + section + text.slice(notes + 1) : text.trimEnd() + '\n\n' + section;
  }
  writeFileSync(out, text.trimEnd() + '\n');
  console.log(`wrote ${path.relative(process.cwd(), out)}`);
}

main(process.argv.slice(2)).then(
  () => process.exit(0),
  (e) => {
    console.error(e?.stack ?? e);
    process.exit(1);
  },
);
