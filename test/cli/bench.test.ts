/** `tsinfer bench` and `tsinfer info` as users run them (built by `npm test`'s pretest). Speeds are not asserted here. */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, sharedPath } from '../helpers/shared.js';

const BIN = path.join(REPO_ROOT, 'bin', 'tsinfer.js');
const MODEL = sharedPath('models', 'stories260K.gguf');

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('tsinfer bench', () => {
  it('--json prints exactly one object with pp and tg results', () => {
    const r = run('bench', '-m', MODEL, '-p', '16', '-n', '8', '-r', '2', '-t', '2', '--json');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const o = JSON.parse(lines[0]!);
    expect(Object.keys(o)).toEqual(['model', 'backend', 'threads', 'build', 'results']);
    expect(o).toMatchObject({ backend: 'wasm', threads: 2 });
    expect(o.build).toMatch(/simd/);
    expect(o.results.map((x: { test: string }) => x.test)).toEqual(['pp16', 'tg8']);
    for (const x of o.results) {
      expect(x.tokensPerSecond).toBeGreaterThan(0);
      expect(x.stddev).toBeGreaterThanOrEqual(0);
    }
    expect(o.results[1].gbPerSecond).toBeGreaterThan(0);
    expect(o.results[0].gbPerSecond).toBeUndefined();
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
    for (const args of [['bench'], ['bench', '-m', MODEL, '--backend', 'cuda'], ['bench', '-m', MODEL, '-p', '-3'], ['bench', '-m', MODEL, '-t', 'x']]) {
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
    expect(o.wasm.threads).toBeGreaterThanOrEqual(1);
    const t = run('info');
    expect(t.stdout).toMatch(/wasm build/);
  });
});
