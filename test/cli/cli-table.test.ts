/**
 * The `tsinfer` command's exit codes and messages, one row per call: 2 for a usage error (reported
 * before anything else is printed), 1 for every other failure, 0 with --help on every command.
 * Rows run main() in this process with stdout and stderr captured (a new node per row costs seconds
 * on a loaded machine); rows marked `spawn` run `node bin/tsinfer.js …` as users do (dist/ is built
 * by `npm test`'s pretest).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { REPO_ROOT, sharedPath } from '../helpers/shared.js';
import { headSize4Model } from '../helpers/tiny-models.js';

const BIN = path.join(REPO_ROOT, 'bin', 'tsinfer.js');
const M = sharedPath('models', 'stories260K.gguf');
const VOCAB = sharedPath('vocab', 'ggml-vocab-llama-spm.gguf');
const TEXT = sharedPath('text', 'tinystories-validation-head.txt');
const HS4 = await headSize4Model();
const DIR = mkdtempSync(path.join(tmpdir(), 'tsinfer-cli-table-'));
const NUL_FILE = path.join(DIR, 'nul.txt');
writeFileSync(NUL_FILE, 'a\0b');
const LONG = 'Once upon a time there was a little girl named Lily who liked to play';

interface Row {
  argv: string[];
  code: number;
  /** A fragment stderr must contain ('' = stderr must be empty). */
  stderr: string | RegExp;
  /** What stdout must contain or be (a function for more), default: anything. */
  stdout?: string | RegExp | ((s: string) => void);
  stdin?: string;
  /** Run the installed command in a new process (rows with stdin always do). */
  spawn?: boolean;
}

/** main() with process.stdout / process.stderr writes captured; a throw is what bin/tsinfer.js reports as exit 1. */
async function runInProcess(argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const text = (c: string | Uint8Array) => (typeof c === 'string' ? c : Buffer.from(c).toString('utf8'));
  let stdout = '';
  let stderr = '';
  const { write: outWrite } = process.stdout;
  const { write: errWrite } = process.stderr;
  process.stdout.write = ((c: string | Uint8Array) => {
    stdout += text(c);
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => {
    stderr += text(c);
    return true;
  }) as typeof process.stderr.write;
  try {
    return { code: await main(argv), stdout, stderr };
  } catch (e) {
    return { code: 1, stdout, stderr: stderr + `tsinfer: internal error: ${(e as Error).stack}` };
  } finally {
    process.stdout.write = outWrite;
    process.stderr.write = errWrite;
  }
}

function run(argv: string[], stdin?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [BIN, ...argv], { stdio: ['pipe', 'pipe', 'pipe'], timeout: 60_000 });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code, stdout, stderr }));
    p.stdin.end(stdin ?? '');
  });
}

const usageError = (argv: string[], stderr: string | RegExp): Row => ({ argv, code: 2, stderr, stdout: '' });
const HELP_COMMANDS = ['generate', 'chat', 'inspect', 'tokenize', 'info', 'bench', 'quantize'];

const ROWS: Row[] = [
  // usage errors: exit 2, one message, nothing on stdout
  usageError(['generate'], 'generate needs a model: -m FILE'),
  usageError(['generate', '-m', M, '--bogus'], "Unknown option '--bogus' (text that starts with '-' goes after '--', as in: -- '--bogus')"),
  { ...usageError(['generate', '-m', M, '--bogus'], "Unknown option '--bogus' (text"), spawn: true },
  usageError(['generate', '-m', M, '-p', 'Once', '--repeat-penalty', '0'], '--repeat-penalty must be a finite number > 0'),
  usageError(['generate', '-m', M, '-p', 'Once', '--top-p', '2'], '--top-p must be a number in [0, 1]'),
  usageError(['generate', '-m', M, '--temp', 'hot'], '--temp expects a number, got "hot"'),
  usageError(['generate', '-m', M, '-n', '-3'], '--n-predict must be at least -2, got -3'),
  usageError(['generate', '-m', M, '-s', '-2'], '--seed must be at least -1, got -2'),
  usageError(['generate', '-m', M, '--keep', '4'], '--keep applies to --context-shift'),
  usageError(['generate', '-m', M, '--context-shift', '--keep', '-3'], '--keep must be at least -1'),
  usageError(['generate', '-m', M, '--backend', 'cuda'], '--backend must be one of reference, wasm, webgpu, got "cuda"'),
  usageError(['generate', '-m', M, '--backend', 'reference', '--flash-attn'], '--flash-attn is an option of the wasm backend, not of reference'),
  usageError(['generate', '-m', M, 'extra'], 'unexpected argument "extra"'),
  usageError(['generate', '-m'], "option '-m, --model' needs a value"),
  usageError(['generate', '-m', M, '-p', '--temp'], "option '-p' needs a value (a value that starts with '-' is written --prompt=-VALUE)"),
  usageError(['generate', '-m', M, '-p', 'x', '-f', NUL_FILE], 'give the prompt with -p or -f, not both'),
  usageError(['chat', '-m', M, '--bogus'], "Unknown option '--bogus'"),
  usageError(['chat', '-m', M, '--presence-penalty', 'x'], '--presence-penalty expects a number'),
  usageError(['inspect'], 'inspect needs a file'),
  usageError(['tokenize', '-m', M, 'a', 'b'], 'tokenize takes one TEXT argument'),
  usageError(['tokenize', '-m', M, '--stdin', 'x'], 'give the text one way'),
  usageError(['tokenize', '-m', M, '-f', path.join(DIR, 'missing.txt')], 'cannot read'),
  usageError(['tokenize', 'x'], 'tokenize needs a vocabulary or model file'),
  usageError(['info', 'extra'], 'unexpected argument "extra"'),
  usageError(['bench', '--bogus'], "Unknown option '--bogus'"),
  usageError(['quantize', 'a.gguf'], 'quantize needs IN.gguf OUT.gguf TYPE'),
  usageError(['frobnicate'], 'unknown command "frobnicate"'),
  { argv: [], code: 2, stderr: '', stdout: /^usage: tsinfer <command>/ },
  // the usage hint names the command's own help
  usageError(['tokenize'], 'run "tsinfer tokenize --help" for usage'),
  // --help and -h on every command: exit 0, the command's usage on stdout
  ...HELP_COMMANDS.flatMap((c): Row[] => [
    { argv: [c, '--help'], code: 0, stderr: '', stdout: /usage|options/ },
    { argv: [c, 'x', '-h'], code: 0, stderr: '', stdout: /usage|options/ },
  ]),
  { argv: ['help'], code: 0, stderr: '', stdout: /tsinfer <command> --help/ },
  // failures that are not usage errors: exit 1, one line
  { argv: ['generate', '-m', path.join(DIR, 'missing.gguf')], code: 1, stderr: /cannot open .*ENOENT/, stdout: '' },
  { argv: ['generate', '-m', path.join(DIR, 'missing.gguf')], code: 1, stderr: /cannot open .*ENOENT/, stdout: '', spawn: true },
  { argv: ['generate', '-m', M, '-p', LONG, '-c', '8'], code: 1, stderr: /ContextOverflowError: the prompt has \d+ tokens; the context holds 8/, stdout: '' },
  { argv: ['generate', '-m', VOCAB], code: 1, stderr: 'ModelError: missing tensor token_embd.weight', stdout: '' },
  { argv: ['generate', '-m', HS4, '--backend', 'wasm'], code: 1, stderr: 'ModelError: the wasm backend does not implement attention with a head size of 4 (not a multiple of 8)', stdout: '' },
  { argv: ['inspect', TEXT], code: 1, stderr: 'GGUFError: not a GGUF file' },
  { argv: ['tokenize', '-m', TEXT, 'x'], code: 1, stderr: 'GGUFError' },
  { argv: ['chat', '-m', M, '-p', 'hi'], code: 1, stderr: 'has no chat template' },
  // llama.cpp's habits that work
  { argv: ['generate', '-m', M, '-p', 'Once', '-n', '-1', '-s', '-1', '-c', '24', '--temp', '0'], code: 0, stderr: 'finish: context', stdout: /^Once upon a time/ },
  {
    argv: ['generate', '-m', M, '-p', 'Once', '-n', '-2', '-c', '24', '--context-shift', '--temp', '0', '--ignore-eos', '--json'],
    code: 0,
    stderr: '',
    stdout: (s) => expect(JSON.parse(s)).toMatchObject({ finishReason: 'context' }),
  },
  { argv: ['generate', '-m', M, '-p', 'Once', '-n', '3', '-c', '4096', '--temp', '0'], code: 0, stderr: 'tsinfer: warning: model was trained on only 2048 context tokens (4096 specified)' },
  { argv: ['generate', '-m', HS4, '-p', 'Once', '-n', '4', '--temp', '0'], code: 0, stderr: /warning: the default wasm backend cannot run this model \(.*\); using the reference backend/ },
  {
    argv: ['generate', '-m', M, '-p', 'Once', '-n', '60', '-c', '24', '--context-shift', '--keep', '1', '--ignore-eos', '--temp', '0', '--json'],
    code: 0,
    stderr: '',
    stdout: (s) => expect(JSON.parse(s)).toMatchObject({ finishReason: 'length', tokens: expect.arrayContaining([]) as unknown, stats: { generatedTokens: 60 } }),
  },
  {
    argv: ['generate', '-m', M, '-p', 'Once', '-n', '30', '--temp', '0', '--presence-penalty', '100', '--frequency-penalty', '1', '--repeat-last-n', '-1', '--json'],
    code: 0,
    stderr: '',
    // A presence penalty of 100 over the whole history: no generated token repeats.
    stdout: (s) => {
      const t = (JSON.parse(s) as { tokens: number[] }).tokens;
      expect(new Set(t).size).toBe(t.length);
    },
  },
  { argv: ['generate', '-m', M, '-p', 'Once', '--no-bos', '-n', '2', '--json'], code: 0, stderr: '', stdout: (s) => expect(JSON.parse(s).promptTokens).toEqual([403]) },
  { argv: ['generate', '-m', M, '-p', '<s>Once', '--parse-special', '-n', '2', '--json'], code: 0, stderr: '', stdout: (s) => expect(JSON.parse(s).promptTokens).toEqual([1, 1, 403]) },
  { argv: ['tokenize', '-m', M, '--', '-foo'], code: 0, stderr: '', stdout: '[1,410,464,431,347]\n' },
  { argv: ['tokenize', '-m', M, '-p', '-foo'], code: 0, stderr: '', stdout: '[1,410,464,431,347]\n' },
  { argv: ['tokenize', '-m', M, '--', '--'], code: 0, stderr: '', stdout: '[1,410,464,464]\n' },
  { argv: ['tokenize', '-m', M, '-f', NUL_FILE, '--show-pieces'], code: 0, stderr: '', stdout: "     1 -> '<s>'\n   261 -> ' a'\n     3 -> '\\x00'\n   430 -> 'b'\n" },
  { argv: ['tokenize', '-m', M, '--stdin', '--no-bos', '--show-count'], stdin: 'Once upon a time', code: 0, stderr: '', stdout: '[403,407,261,378]\nTotal number of tokens: 4\n' },
  {
    argv: ['info'],
    code: 0,
    stderr: '',
    stdout: (s) => {
      expect(s).toMatch(/^node {2,}v\d+/);
      expect(s).toMatch(/\nwebgpu {2,}(available: |not available: )/);
    },
  },
];

describe('tsinfer exit codes and messages', () => {
  it.each(ROWS.map((r) => [r.argv.map((a) => (a.length > 40 ? '…' + a.slice(-30) : a)).join(' ') || '(no arguments)', r] as const))('%s', async (_, row) => {
    const r = row.spawn || row.stdin !== undefined ? await run(row.argv, row.stdin) : await runInProcess(row.argv);
    expect(r.code, r.stderr).toBe(row.code);
    if (row.stderr === '') expect(r.stderr).toBe('');
    else if (typeof row.stderr === 'string') expect(r.stderr).toContain(row.stderr);
    else expect(r.stderr).toMatch(row.stderr);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    if (row.code !== 0 && row.stderr !== '') expect(r.stderr.trim().split('\n').length).toBeLessThanOrEqual(2);
    if (typeof row.stdout === 'string') expect(r.stdout).toBe(row.stdout);
    else if (row.stdout instanceof RegExp) expect(r.stdout).toMatch(row.stdout);
    else row.stdout?.(r.stdout);
  });
});
