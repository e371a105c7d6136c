#!/usr/bin/env node
/**
 * Load time and peak RSS of the wasm backend on one file (run it in its own process):
 *   node bench/load.mjs FILE [-t THREADS] [-c CTX]
 * Prints one JSON line: { file, fileBytes, loadMs, firstTokenMs, peakRssBytes, rssOverFileBytes, backend }.
 * Peak RSS is the process's maxRSS (getrusage) after loading and one decode step.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values, positionals } = parseArgs({ allowPositionals: true, options: { threads: { type: 'string', short: 't' }, ctx: { type: 'string', short: 'c', default: '512' } } });
const file = positionals[0];
const { loadModel } = await import(path.join(ROOT, 'dist', 'index.js'));
const t0 = performance.now();
const m = await loadModel(file, { backend: 'wasm', contextLength: Number(values.ctx), threads: values.threads ? Number(values.threads) : undefined });
const loadMs = performance.now() - t0;
const t1 = performance.now();
await m.complete([1], { temperature: 0, maxTokens: 1 });
const firstTokenMs = performance.now() - t1;
const peak = process.resourceUsage().maxRSS * 1024;
const fileBytes = statSync(file).size;
console.log(
  JSON.stringify({
    file: path.basename(file),
    fileBytes,
    loadMs: Math.round(loadMs),
    firstTokenMs: Math.round(firstTokenMs),
    peakRssBytes: peak,
    rssOverFileBytes: peak - fileBytes,
    backend: m.info.backend,
  }),
);
await m.dispose();
