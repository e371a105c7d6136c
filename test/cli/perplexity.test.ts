/**
 * `tsinfer perplexity` on stories260K over the TinyStories text at -c 256 against llama.cpp's
 * figures (test/fixtures/llama-perplexity.json, written by conformance/perplexity.mjs from
 * llama.cpp's logits with the same chunking), on every backend; KL divergence against a saved
 * base (itself: 0; the Q8_0 file: llama.cpp's mean KL within 5 %).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/index.js';
import { REPO_ROOT, sharedPath } from '../helpers/shared.js';
import { HAVE_WEBGPU, requireAdapterUnderCI } from '../kernels/webgpu-helpers.js';

const BIN = path.join(REPO_ROOT, 'bin', 'tsinfer.js');
const STORIES = sharedPath('models', 'stories260K.gguf');
const TEXT = sharedPath('text', 'tinystories-validation-head.txt');
const dir = mkdtempSync(path.join(tmpdir(), 'tsinfer-ppl-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Figures {
  ppl: number;
  pplError: number;
  chunkPpl: number[];
  kl?: { mean: number; sameTop: number };
}
const LLAMA = JSON.parse(readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'llama-perplexity.json'), 'utf8')) as {
  contextLength: number;
  chunks: number;
  tokensEqual: boolean;
  types: { type: string; llama: Figures }[];
};
const llama = (type: string) => LLAMA.types.find((t) => t.type === type)!.llama;
const C = String(LLAMA.contextLength);
const CHUNKS = String(LLAMA.chunks);

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, 'perplexity', ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const relDiff = (a: number, b: number) => Math.abs(a / b - 1);

requireAdapterUnderCI();

describe('tsinfer perplexity equals llama.cpp on stories260K (-c 256)', () => {
  it('the fixture was computed on the same tokens', () => {
    expect(LLAMA.tokensEqual).toBe(true);
    expect(LLAMA.contextLength).toBe(256);
  });

  it.each(['reference', 'wasm'])('%s backend: PPL within 0.1 %% of llama.cpp, every running figure too', (backend) => {
    const r = run('-m', STORIES, '-f', TEXT, '-c', C, '--chunks', CHUNKS, '--backend', backend, '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { ppl: number; pplError: number; chunkPpl: number[]; chunks: number; scoredTokens: number; backend: string };
    expect(j.backend).toBe(backend);
    expect(j.chunks).toBe(LLAMA.chunks);
    expect(j.scoredTokens).toBe(LLAMA.chunks * 127);
    expect(relDiff(j.ppl, llama('F32').ppl)).toBeLessThan(1e-3);
    expect(relDiff(j.pplError, llama('F32').pplError)).toBeLessThan(1e-2);
    j.chunkPpl.forEach((p, i) => {
      expect(relDiff(p, llama('F32').chunkPpl[i]!)).toBeLessThan(1e-3);
    });
  });

  // One chunk: SwiftShader (no GPU) evaluates ~20 tokens/s here.
  it.runIf(HAVE_WEBGPU)('webgpu backend: PPL within 0.1 % of llama.cpp (first chunk)', { timeout: 180_000 }, async () => {
    const m = await loadModel(STORIES, { backend: 'webgpu', contextLength: 256 });
    try {
      const r = await m.perplexity(readFileSync(TEXT, 'utf8').replace(/\n$/, ''), { contextLength: 256, chunks: 1 });
      expect(r.chunkPpl).toHaveLength(1);
      r.chunkPpl.forEach((p, i) => {
        expect(relDiff(p, llama('F32').chunkPpl[i]!)).toBeLessThan(1e-3);
      });
    } finally {
      await m.dispose();
    }
  });

  it("prints llama-perplexity's running line and final estimate", () => {
    const r = run('-m', STORIES, '-f', TEXT, '-c', C, '--chunks', '3', '--backend', 'wasm');
    expect(r.code).toBe(0);
    const want = llama('F32')
      .chunkPpl.slice(0, 3)
      .map((p, i) => `[${i + 1}]${p.toFixed(4)},`)
      .join('');
    // running figures equal llama.cpp's to the 4 printed decimals (or the last one off by rounding)
    const got = r.stdout.split('\n')[0]!;
    expect(got).toMatch(/^(\[\d\]\d\.\d{4},){3}$/);
    got.match(/\](\d\.\d{4})/g)!.forEach((s, i) => {
      expect(Math.abs(Number(s.slice(1)) - Number(want.match(/\](\d\.\d{4})/g)![i]!.slice(1)))).toBeLessThanOrEqual(1.5e-4);
    });
    expect(r.stdout).toMatch(/^Final estimate: PPL = \d\.\d{4} \+\/- 0\.\d{5}$/m);
    expect(r.stderr).toMatch(/perplexity: 3 chunks, n_ctx=256, batch_size=256, 393018 tokens in the text/);
  });

  it('batches within a chunk do not change the figure (-b 100)', () => {
    const r = run('-m', STORIES, '-f', TEXT, '-c', C, '--chunks', '2', '-b', '100', '--backend', 'wasm', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { chunkPpl: number[]; batchSize: number };
    expect(j.batchSize).toBe(100);
    j.chunkPpl.forEach((p, i) => {
      expect(relDiff(p, llama('F32').chunkPpl[i]!)).toBeLessThan(1e-3);
    });
  });
});

describe('KL divergence (llama.cpp base file format)', () => {
  const base = path.join(dir, 'stories-f32.kld');
  it('saves the base, and the same file against it has KL 0 and top-1 100 %', () => {
    let r = run('-m', STORIES, '-f', TEXT, '-c', C, '--chunks', CHUNKS, '--backend', 'wasm', '--kl-divergence-base', base, '--json');
    expect(r.code).toBe(0);
    expect(readFileSync(base).subarray(0, 8).toString()).toBe('_logits_');
    r = run('-m', STORIES, '--kl-divergence-base', base, '--kl-divergence', '--backend', 'wasm', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const k = JSON.parse(r.stdout) as { kl: { mean: number[]; max: number }; sameTop: number[]; ppl: number[]; pplBase: number[]; count: number };
    expect(k.count).toBe(LLAMA.chunks * 127);
    // exactly 0 up to the 16/65535 steps the base is stored in
    expect(Math.abs(k.kl.mean[0]!)).toBeLessThan(1e-5);
    expect(k.kl.max).toBeLessThan(1e-4);
    expect(k.sameTop[0]).toBe(1);
    expect(relDiff(k.ppl[0]!, llama('F32').ppl)).toBeLessThan(1e-3);
    expect(relDiff(k.pplBase[0]!, k.ppl[0]!)).toBeLessThan(1e-4);
  });

  it("the Q8_0 file's mean KL against F32 is llama.cpp's within 5 % (wasm: activations rounded to 8 bits as there)", () => {
    const q8 = path.join(dir, 'stories-q8_0.gguf');
    const q = spawnSync(process.execPath, [BIN, 'quantize', STORIES, q8, 'Q8_0', '--quiet'], { encoding: 'utf8' });
    expect(q.status).toBe(0);
    const r = run('-m', q8, '--kl-divergence-base', base, '--kl-divergence', '--backend', 'wasm');
    expect(r.code).toBe(0);
    const mean = Number(r.stdout.match(/^Mean {4}KLD: +([\d.]+) ±/m)![1]);
    expect(r.stdout).toMatch(/^Same top p: +\d+\.\d{3} ± +\d\.\d{3} %$/m);
    // llama.cpp's running line per chunk, then its summary
    expect(r.stdout).toMatch(/^chunk +PPL +ln\(PPL\(Q\)\/PPL\(base\)\) +KL Divergence +Δp RMS +Same top p$/m);
    expect(r.stdout.match(/^ +\d+ +\d\.\d{4} ± +\d\.\d{4} +-?\d\.\d{5} ± +\d\.\d{5} +\d\.\d{5} ± +\d\.\d{5} +\d+\.\d{3} ± +\d\.\d{3} % +\d+\.\d{3} ± +\d\.\d{3} %$/gm)).toHaveLength(LLAMA.chunks);
    expect(r.stdout).toMatch(/^Mean PPL\(Q\)-PPL\(base\) +: +-?\d\.\d{6} ±/m);
    expect(relDiff(mean, llama('Q8_0').kl!.mean)).toBeLessThan(0.05);
  });

  it('refuses a base file that is not one, and a text too short, with one line', () => {
    const junk = path.join(dir, 'junk.kld');
    writeFileSync(junk, 'not a base file at all, really');
    let r = run('-m', STORIES, '--kl-divergence-base', junk, '--kl-divergence');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ScoringError: .*junk\.kld is not a llama\.cpp log-probabilities file/);
    const short = path.join(dir, 'short.txt');
    writeFileSync(short, 'Once upon a time there was a cat.');
    r = run('-m', STORIES, '-f', short, '-c', '64');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/tokenizes to \d+ tokens; perplexity with a context of 64 needs at least 128/);
    r = run('-m', STORIES);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/needs a text: -f FILE/);
  });
});
