/** The `tsinfer` command as users run it: `node bin/tsinfer.js …` (built by `npm test`'s pretest). */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, readSharedJson, sharedPath } from '../helpers/shared.js';

const BIN = path.join(REPO_ROOT, 'bin', 'tsinfer.js');
const MODEL = sharedPath('models', 'stories260K.gguf');

function run(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A user error: non-zero exit, a short message on stderr, no stack trace. */
function expectUserError(r: ReturnType<typeof run>, pattern: RegExp, code = 1) {
  expect(r.code).toBe(code);
  expect(r.stderr).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stderr.trim().split('\n').length).toBeLessThanOrEqual(2);
}

describe('tsinfer generate', () => {
  it('greedy 200 tokens from an empty prompt print llama2.c expected story', () => {
    const r = run('generate', '-m', MODEL, '-p', '', '-n', '200', '--temp', '0');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(readFileSync(sharedPath('models', 'stories260K-greedy-200steps.expected.txt'), 'utf8'));
    expect(r.stderr).toMatch(/generated: 200 tokens/);
  });

  it('echoes the prompt then streams the continuation; --no-display-prompt leaves it out', () => {
    const ref = readSharedJson<{ prompt: string; continuationText: string }[]>('reference', 'stories260K-greedy.json')[0]!;
    const r = run('generate', '-m', MODEL, '-p', ref.prompt, '-n', '64', '--temp', '0');
    expect(r.stdout).toBe(ref.prompt + ref.continuationText);
    const q = run('generate', '-m', MODEL, '-p', ref.prompt, '-n', '64', '--temp', '0', '--no-display-prompt');
    expect(q.stdout).toBe(ref.continuationText);
  });

  it('--json prints exactly one object', () => {
    const r = run('generate', '-m', MODEL, '-p', 'The little dog', '-n', '12', '--temp', '0', '--json');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.length).toBe(1);
    const o = JSON.parse(lines[0]!);
    expect(o.tokens).toHaveLength(12);
    expect(o.promptTokens).toEqual([1, 291, 376, 400, 428]);
    expect(typeof o.text).toBe('string');
    expect(o.stats.generatedTokens).toBe(12);
  });

  it('sampling flags with a seed are reproducible', () => {
    const args = ['generate', '-m', MODEL, '-p', 'Lily', '-n', '24', '--temp', '0.9', '--top-k', '20', '--top-p', '0.9', '--min-p', '0.02', '--repeat-penalty', '1.1', '--seed', '7', '--json'];
    const a = JSON.parse(run(...args).stdout);
    const b = JSON.parse(run(...args).stdout);
    expect(a.tokens).toEqual(b.tokens);
  });

  it('reads the prompt from a file with -f', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tsinfer-cli-'));
    const f = path.join(dir, 'prompt.txt');
    writeFileSync(f, 'Once upon a time');
    const r = run('generate', '-m', MODEL, '-f', f, '-n', '5', '--temp', '0', '--json');
    expect(JSON.parse(r.stdout).promptTokens).toEqual([1, 403, 407, 261, 378]);
  });

  it('a closed pipe ends the command quietly (… | head)', () => {
    const r = spawnSync('sh', ['-c', `"${process.execPath}" "${BIN}" generate -m "${MODEL}" -p Once -n 400 --ignore-eos | head -c 20`], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stdout).toHaveLength(20);
    expect(r.stderr).not.toMatch(/EPIPE|at /);
  });

  it('user errors are one line and exit non-zero', () => {
    expectUserError(run('generate', '-p', 'x'), /needs a model/, 2);
    expectUserError(run('generate', '-m', '/nonexistent/model.gguf'), /cannot open .*ENOENT/);
    expectUserError(run('generate', '-m', MODEL, '--temp', 'hot'), /--temp expects a number/, 2);
    expectUserError(run('generate', '-m', MODEL, '--bogus'), /Unknown option '--bogus'/, 2);
    expectUserError(run('generate', '-m', sharedPath('text', 'tinystories-validation-head.txt')), /GGUFError: not a GGUF file/);
    expectUserError(run('generate', '-m', sharedPath('vocab', 'ggml-vocab-llama-spm.gguf')), /ModelError: missing tensor token_embd\.weight/);
    expectUserError(run('frobnicate'), /unknown command "frobnicate"/, 2);
  });
});

describe('tsinfer inspect', () => {
  it('prints metadata and the tensor table', () => {
    const r = run('inspect', MODEL);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/GGUF v3/);
    expect(r.stdout).toMatch(/llama\.embedding_length\s+u32\s+64/);
    expect(r.stdout).toMatch(/tokenizer\.ggml\.tokens\s+array\s+\[512 × string\]/);
    expect(r.stdout).toMatch(/blk\.4\.ffn_down\.weight\s+F32\s+\[172, 64\]/);
  });

  it('--json gives metadata and tensors', () => {
    const o = JSON.parse(run('inspect', MODEL, '--json').stdout);
    expect(o.metadata['general.architecture']).toBe('llama');
    expect(o.tensors).toHaveLength(48);
    expect(o.tensors[0]).toMatchObject({ name: 'token_embd.weight', type: 'F32', shape: [64, 512] });
  });
});

describe('tsinfer tokenize', () => {
  it('prints ids as JSON, on models and on vocabulary-only files', () => {
    expect(JSON.parse(run('tokenize', '-m', MODEL, 'Once upon a time').stdout)).toEqual([1, 403, 407, 261, 378]);
    expect(JSON.parse(run('tokenize', '-m', MODEL, '--no-bos', 'Once upon a time').stdout)).toEqual([403, 407, 261, 378]);
    const vocab = sharedPath('vocab', 'ggml-vocab-llama-spm.gguf');
    expect(JSON.parse(run('tokenize', '-m', vocab, '--no-bos', 'Hello world').stdout)).toEqual([15043, 3186]);
    // Special-token text is plain text unless --parse-special.
    const plain = JSON.parse(run('tokenize', '-m', vocab, '--no-bos', '<s>').stdout);
    const special = JSON.parse(run('tokenize', '-m', vocab, '--no-bos', '--parse-special', '<s>').stdout);
    expect(special).toEqual([1]);
    expect(plain).not.toEqual([1]);
  });
});
