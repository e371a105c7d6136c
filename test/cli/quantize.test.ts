import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openGGUF } from '../../src/gguf/reader.js';
import { REPO_ROOT, sharedPath } from '../helpers/shared.js';

const BIN = path.join(REPO_ROOT, 'bin', 'tsinfer.js');
const STORIES = sharedPath('models', 'stories260K.gguf');
const dir = mkdtempSync(path.join(tmpdir(), 'tsinfer-quantize-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, 'quantize', ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/**
 * sha256 of llama.cpp's own output (llama_model_quantize of release v0.5.0,
 * the libllama in @node-llama-cpp/linux-x64 3.22.1) for stories260K.gguf.
 */
const LLAMA_CPP_SHA256: Record<string, string> = {
  Q8_0: 'ff8701a45da28293b7af11a695ab33575b692e9b109a2eae6238c906c31415da',
  Q4_K_M: '7f61512f1889080c73b2afd3ac7fdfe55a368e83570b20e5019829adfa734a2a',
  Q4_0: 'fd93abd9957992763c863e7e3f30934baf1e7a2e31b6c911a720cd109daed40d',
  Q6_K: '137d1fbe834a43bc20cc1e04a9459af61953a7579baeedba17590faacfb13104',
  F16: '4cd29bbe9cb3b735750837816a43c3dd4b473dbd658e8612816f7c4d3926ac21',
  Q3_K_M: '1b8cf84b50f0676d7580c30d76ab0f80f337f782824b7f312de674c521bcf79d',
};

describe('tsinfer quantize', () => {
  it.each(Object.entries(LLAMA_CPP_SHA256))('writes the same bytes as llama.cpp for stories260K %s', async (type, sha) => {
    const out = path.join(dir, `stories-${type}.gguf`);
    const r = run(STORIES, out, type, '--quiet');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/BPW/);
    expect(sha256(out)).toBe(sha);
    const g = await openGGUF(out);
    try {
      expect(g.getNumber('general.file_type')).toBeGreaterThan(0);
      expect(g.getNumber('general.quantization_version')).toBe(2);
    } finally {
      g.close();
    }
    rmSync(out);
  });

  it.each(['1', '2', '3'])('writes the same bytes with --threads %s', (n) => {
    const out = path.join(dir, `threads-${n}.gguf`);
    const r = run(STORIES, out, 'Q4_K_M', '--threads', n, '--quiet');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`, ${n} threads?\\n`));
    expect(sha256(out)).toBe(LLAMA_CPP_SHA256.Q4_K_M);
    rmSync(out);
  });

  it('prints progress and a summary', () => {
    const out = path.join(dir, 'progress.gguf');
    const r = run(STORIES, out, 'q8_0');
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/\[ {2}48\/48\] blk\.4\.ffn_up\.weight F32 -> Q8_0/);
    expect(r.stderr).toMatch(/ffn_down\.weight F32 -> F16 \(fallback from Q8_0\)/);
    expect(r.stdout).toMatch(/model size: 1\.12 MiB \(32\.00 BPW\) -> 356\.\d KiB \(9\.97 BPW\)/);
    rmSync(out);
  });

  it('refuses an existing output without --force and keeps it; replaces it with --force', () => {
    const out = path.join(dir, 'exists.gguf');
    writeFileSync(out, 'keep me');
    const r = run(STORIES, out, 'Q8_0');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`tsinfer: output ${out} already exists (use --force to replace it)\n`);
    expect(readFileSync(out, 'utf8')).toBe('keep me');
    const f = run(STORIES, out, 'Q8_0', '--force', '--quiet');
    expect(f.code).toBe(0);
    expect(sha256(out)).toBe(LLAMA_CPP_SHA256.Q8_0);
    rmSync(out);
  });

  it('never overwrites its input, even with --force', () => {
    const input = path.join(dir, 'input.gguf');
    copyFileSync(STORIES, input);
    const r = run(input, path.join(dir, '.', 'input.gguf'), 'Q8_0', '--force');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^tsinfer: output .* is the input file; choose another path\n$/);
    expect(sha256(input)).toBe(sha256(STORIES));
    rmSync(input);
  });

  it('rejects an unknown TYPE with a usage error', () => {
    const out = path.join(dir, 'x.gguf');
    const r = run(STORIES, out, 'Q4_K_X');
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toMatch(/unknown quantization type "Q4_K_X" \(one of: Q4_0, .*Q4_K_M/);
    expect(existsSync(out)).toBe(false);
  });

  it('rejects a missing argument with a usage error', () => {
    const r = run(STORIES, path.join(dir, 'x.gguf'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/quantize needs IN\.gguf OUT\.gguf TYPE/);
  });

  it.each([
    [
      'a non-GGUF file',
      () => {
        const p = path.join(dir, 'not.gguf');
        writeFileSync(p, 'hello, this is not a model');
        return p;
      },
      /not a GGUF file/,
    ],
    [
      'a truncated GGUF file',
      () => {
        const p = path.join(dir, 'trunc.gguf');
        writeFileSync(p, readFileSync(STORIES).subarray(0, 600_000));
        return p;
      },
      /lies (outside the file|past the end of the file)/,
    ],
    ['a missing file', () => path.join(dir, 'missing.gguf'), /cannot open .*ENOENT/],
  ])('fails on %s with one line and no output', (_what, make, message) => {
    const input = make();
    const out = path.join(dir, 'out.gguf');
    const before = readdirSync(dir);
    const r = run(input, out, 'Q4_K_M');
    expect(r.code).toBe(1);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(message);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(before.sort());
    if (existsSync(input)) rmSync(input);
  });

  it('fails on an unwritable destination with one line and no file', () => {
    const notDir = path.join(dir, 'plain-file');
    writeFileSync(notDir, '');
    const r = run(STORIES, path.join(notDir, 'out.gguf'), 'Q8_0');
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`tsinfer: cannot write ${path.join(notDir, 'out.gguf')}: ENOTDIR\n`);
    rmSync(notDir);
  });

  it('removes the unfinished output when interrupted (SIGINT)', async () => {
    // A big enough input that the write is still going when the signal comes: stories260K's
    // tensors repeated is not possible, so build one with many tensors via the writer.
    const { writeGGUF, gv } = await import('../../src/gguf/writer.js');
    const sub = mkdtempSync(path.join(dir, 'sigint-'));
    const big = path.join(sub, 'big-f32.gguf');
    const rows = 4096;
    const tensors = Array.from({ length: 24 }, (_, i) => ({
      name: `blk.${i}.ffn_up.weight`,
      typeId: 0,
      shape: [1024, rows],
      data: function* () {
        const chunk = new Float32Array(1024 * 256);
        for (let r = 0; r < rows; r += 256) {
          for (let j = 0; j < chunk.length; j++) chunk[j] = Math.sin(j * 0.001 + r + i);
          yield new Uint8Array(chunk.buffer);
        }
      },
    }));
    await writeGGUF(
      big,
      [
        ['general.architecture', gv.string('llama')],
        ['llama.block_count', gv.u32(24)],
      ],
      tensors,
    );
    const out = path.join(sub, 'interrupted.gguf');
    const child = spawn(process.execPath, [BIN, 'quantize', big, out, 'Q4_K_M']);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      // interrupt once the first tensor is done: the output is half written
      if (/\[ {3}1\/24\]/.test(stderr) && !child.killed) child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).toMatch(/quantization stopped after \d+ of 24 tensors; no output written/);
    expect(code).toBe(130);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(sub)).toEqual(['big-f32.gguf']); // no temporary file left either
    rmSync(big);
  }, 120_000);
});
