/** `tsinfer bench` and `tsinfer info` as users run them (built by `npm test`'s pretest). Speeds are not asserted here. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, sharedPath } from '../helpers/shared.js';
import { ceilingKey, type Ceilings, type ThreadCeilings } from '../../src/cli/ceilings.js';

const BIN = path.join(REPO_ROOT, 'bin', 'tsinfer.js');
const MODEL = sharedPath('models', 'stories260K.gguf');

/**
 * A ceilings cache file for thread counts 1 and 2 with round made-up figures, so the fractions
 * `tsinfer bench` prints are checkable and no test spends seconds measuring the machine
 * (test/cli/ceilings.test.ts measures for real).
 */
const row = (threads: number): ThreadCeilings => ({
  threads,
  dramReadGBps: 10 * threads,
  dramReadTwoStreamsGBps: 12 * threads,
  cacheReadGBps: 50 * threads,
  f32GMACs: 8 * threads,
  f32SubnormalGMACs: 8 * threads,
  i8GMACs: 16 * threads,
  i8RelaxedGMACs: 20 * threads,
});
const CACHE = path.join(mkdtempSync(path.join(tmpdir(), 'tsinfer-ceilings-')), 'ceilings.json');
const fake: Ceilings = {
  key: ceilingKey(),
  date: '2026-01-01T00:00:00.000Z',
  cpu: 'test CPU',
  cores: 2,
  node: process.version,
  dramBytes: 1 << 30,
  cacheBytes: 256 << 10,
  loadAverage: [0, 0, 0],
  repetitions: 1,
  byThreads: [row(1), row(2)],
};
writeFileSync(CACHE, JSON.stringify(fake));

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, TSINFER_CEILINGS_CACHE: CACHE } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('tsinfer bench', () => {
  it('--json prints exactly one object with pp and tg results, each as a fraction of the ceilings too', () => {
    const r = run('bench', '-m', MODEL, '-p', '16', '-n', '8', '-r', '2', '-t', '2', '--json');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const o = JSON.parse(lines[0]!);
    expect(Object.keys(o)).toEqual(['model', 'backend', 'threads', 'build', 'kernelVariants', 'kvCache', 'results', 'ceilings']);
    expect(o.kvCache).toMatch(/^f16, stored as (binary16|f32 slots)/);
    expect(o.kernelVariants).toMatch(/^relaxed: .*; baseline: .* \(/);
    expect(o).toMatchObject({ backend: 'wasm', threads: 2 });
    expect(o.build).toMatch(/simd/);
    expect(o.results.map((x: { test: string }) => x.test)).toEqual(['pp16', 'tg8']);
    for (const x of o.results) {
      expect(x.tokensPerSecond).toBeGreaterThan(0);
      expect(x.stddev).toBeGreaterThanOrEqual(0);
      expect(x.threads).toBe(2);
    }
    const [pp, tg] = o.results;
    expect(tg.gbPerSecond).toBeGreaterThan(0);
    expect(pp.gbPerSecond).toBeUndefined();
    // the cached 2-thread ceilings: DRAM read 20 GB/s; stories260K is F32, so pp is set against the f32 peak (16 GMAC/s)
    expect(tg.ofDramRead).toBeCloseTo(tg.gbPerSecond / 20, 12);
    expect(pp.ofMacPeak).toBeCloseTo(pp.gmacPerSecond / 16, 12);
    // GMAC/s = tok/s x the matmul weights' element count per token
    expect(pp.gmacPerSecond / pp.tokensPerSecond).toBeCloseTo(tg.gbPerSecond / tg.tokensPerSecond / 4, 12);
    expect(o.ceilings).toMatchObject({ cpu: 'test CPU', byThreads: [row(2)] });
  });

  it('comma lists run every combination, one row each, as llama-bench does', () => {
    const r = run('bench', '-m', MODEL, '-t', '1,2', '-p', '8,16', '-n', '4', '-r', '1', '--json');
    expect(r.code).toBe(0);
    const o = JSON.parse(r.stdout);
    expect(o.threads).toEqual([1, 2]);
    expect(o.results.map((x: { test: string; threads: number }) => `${x.threads} ${x.test}`)).toEqual(['1 pp8', '1 pp16', '1 tg4', '2 pp8', '2 pp16', '2 tg4']);
    const t1 = o.results.find((x: { test: string; threads: number }) => x.threads === 1 && x.test === 'tg4');
    expect(t1.ofDramRead).toBeCloseTo(t1.gbPerSecond / 10, 12);
    const table = run('bench', '-m', MODEL, '-t', '1,2', '-p', '0', '-n', '2,4', '-r', '1');
    expect(table.code).toBe(0);
    const rows = table.stdout.split('\n').filter((l) => /stories260K\.gguf/.test(l));
    expect(
      rows.map((l) =>
        l
          .match(/\s(\d)\s+(tg\d)\s/)!
          .slice(1)
          .join(' '),
      ),
    ).toEqual(['1 tg2', '1 tg4', '2 tg2', '2 tg4']);
    for (const l of rows) expect(l).toMatch(/\d+ % of DRAM read$/);
    expect(table.stdout).toMatch(/ceilings \(test CPU, measured 2026-01-01T00:00\): 1 thread: DRAM read 10\.0 GB\/s/);
  });

  it('-d runs the tests at a context depth (llama-bench names); --ceilings off reports no fractions', () => {
    const r = run('bench', '-m', MODEL, '-t', '1', '-p', '4', '-n', '4', '-d', '0,20', '-r', '1', '--ceilings', 'off', '--json');
    expect(r.code).toBe(0);
    const o = JSON.parse(r.stdout);
    expect(o.results.map((x: { test: string }) => x.test)).toEqual(['pp4', 'tg4', 'pp4 @ d20', 'tg4 @ d20']);
    expect(o.results.map((x: { depth: number }) => x.depth)).toEqual([0, 0, 20, 20]);
    expect(o.ceilings).toBeUndefined();
    for (const x of o.results) {
      expect(x.ofDramRead).toBeUndefined();
      expect(x.ofMacPeak).toBeUndefined();
    }
  });

  it('-p 0 skips the prompt test; the table names model, backend, threads and test', () => {
    const r = run('bench', '-m', MODEL, '-p', '0', '-n', '4', '-r', '1', '-t', '1');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/model\s+size\s+params\s+backend\s+threads\s+test\s+t\/s\s+GB\/s/);
    expect(r.stdout).toMatch(/stories260K\.gguf.*wasm.*\s1\s+tg4\s/);
    expect(r.stdout).not.toMatch(/pp\d/);
  });

  it('--profile times every op kind on every thread during tg', () => {
    const r = run('bench', '-m', MODEL, '-p', '0', '-n', '8', '-r', '1', '-t', '2', '--profile', '--json');
    expect(r.code).toBe(0);
    const o = JSON.parse(r.stdout);
    const rows = o.profile as Array<{ op: string; count: number; work: number[]; wait: number[] }>;
    // stories260K: 5 layers, so each per-layer matmul appears 5 times per step, folded into one row
    expect(rows.find((x) => x.op === 'matmul blk.*.ffn_up.weight')).toMatchObject({ count: 5 });
    expect(rows.map((x) => x.op)).toEqual(expect.arrayContaining(['attention', 'matmul output.weight']));
    for (const x of rows) {
      expect(x.work).toHaveLength(2);
      expect(x.wait).toHaveLength(2);
    }
    const work = rows.reduce((s, x) => s + x.work[0]! + x.work[1]!, 0);
    expect(work).toBeGreaterThan(0);
    const table = run('bench', '-m', MODEL, '-p', '0', '-n', '4', '-r', '1', '-t', '1', '--profile');
    expect(table.stdout).toMatch(/per decode token \(tg\), by op:\nop\s+per step\s+work µs t0\s+wait µs t0/);
  });
  it('the reference backend runs too', () => {
    const r = run('bench', '-m', MODEL, '-p', '4', '-n', '0', '-r', '1', '--backend', 'reference', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).results.map((x: { test: string }) => x.test)).toEqual(['pp4']);
  });

  it('user errors: missing model, bad backend, bad numbers', () => {
    for (const args of [
      ['bench'],
      ['bench', '-m', MODEL, '--backend', 'cuda'],
      ['bench', '-m', MODEL, '-p', '-3'],
      ['bench', '-m', MODEL, '-t', 'x'],
      ['bench', '-m', MODEL, '-t', '1,x'],
      ['bench', '-m', MODEL, '-p', '8,'],
      ['bench', '-m', MODEL, '--ceilings', 'maybe'],
    ]) {
      const r = run(...args);
      expect(r.code).toBe(2);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    expect(run('bench', '-m', '/nonexistent.gguf', '-n', '1').code).toBe(1);
  });
});

describe('tsinfer info', () => {
  it('names the WASM build, relaxed-SIMD status and threads', () => {
    const r = run('info', '--json');
    expect(r.code).toBe(0);
    const o = JSON.parse(r.stdout);
    expect(o.defaultBackend).toBe('wasm');
    expect(o.wasm.available).toBe(true);
    // Node 20 (V8 11.3) runs the relaxed-SIMD build once the loader sets its flag and the self-test passes
    expect(o.wasm.build).toMatch(/^relaxed-simd: SIMD128 \+ threads, int8 dot products in relaxed SIMD/);
    expect(o.wasm.relaxedSimd).toMatch(/^in use: self-test passed/);
    // which kernel variant each weight type runs (variants.ts)
    expect(o.wasm.kernelVariants).toMatch(/^relaxed: .*; baseline: .* \((measured|forced)/);
    expect(o.wasm.threads).toBeGreaterThanOrEqual(1);
    const t = run('info');
    expect(t.stdout).toMatch(/wasm build/);
  });
});
