/**
 * `tsinfer chat` end to end (bin/tsinfer.js, built dist/): one-shot, interactive over piped
 * stdin (history kept across turns, end of input exits), Ctrl-C stopping a reply, one-line errors.
 * stories260K has no chat template, so the tests pass one with --chat-template-file.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/model/model.js';
import { REPO_ROOT, sharedPath } from '../helpers/shared.js';

const BIN = path.join(REPO_ROOT, 'bin', 'tsinfer.js');
const MODEL = sharedPath('models', 'stories260K.gguf');
const TEMPLATE = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}";
let templateFile = '';
let model: Model;

beforeAll(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tsinfer-chat-'));
  templateFile = path.join(dir, 'chat.jinja');
  writeFileSync(templateFile, TEMPLATE);
  model = await loadModel(MODEL);
});
afterAll(async () => {
  await model?.dispose();
});

function run(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('tsinfer chat', () => {
  it('one-shot -p prints the reply model.chat gives', async () => {
    const r = run(['chat', '-m', MODEL, '--chat-template-file', templateFile, '--system', 'Tell a story.', '-p', 'Once upon a time', '--temp', '0', '-n', '24']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const want = await model.chat(
      [
        { role: 'system', content: 'Tell a story.' },
        { role: 'user', content: 'Once upon a time' },
      ],
      { template: TEMPLATE, temperature: 0, maxTokens: 24 },
    ).result;
    expect(want.text.length).toBeGreaterThan(0);
    expect(r.stdout).toBe(want.text + '\n');
  });

  it('interactive over piped stdin: keeps the history, exits at end of input', async () => {
    const r = run(['chat', '-m', MODEL, '--chat-template-file', templateFile, '--temp', '0', '-n', '12', '--print-prompt'], 'Tom had a dog.\n\nThe dog ran.\n');
    expect(r.code).toBe(0);
    const first = await model.chat([{ role: 'user', content: 'Tom had a dog.' }], { template: TEMPLATE, temperature: 0, maxTokens: 12 }).result;
    const second = await model.chat(
      [
        { role: 'user', content: 'Tom had a dog.' },
        { role: 'assistant', content: first.text },
        { role: 'user', content: 'The dog ran.' },
      ],
      { template: TEMPLATE, temperature: 0, maxTokens: 12 },
    ).result;
    expect(r.stdout).toBe(first.text + '\n' + second.text + '\n');
    // The second prompt holds the first turn (the empty line was skipped).
    expect(r.stderr).toBe('user: Tom had a dog.\nassistant:\n' + `user: Tom had a dog.\nassistant: ${first.text}\nuser: The dog ran.\nassistant:\n`);
  });

  it('Ctrl-C stops the reply being written and the chat goes on', async () => {
    const child = spawn(process.execPath, [BIN, 'chat', '-m', MODEL, '--chat-template-file', templateFile, '--temp', '0', '-n', '3000', '-c', '4096', '--ignore-eos'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '',
      stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const t0 = Date.now();
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        if (stdout.length > 0) resolve();
      });
      child.stdin.write('Once upon a time\n');
    });
    child.kill('SIGINT');
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (stderr.includes('(interrupted)')) {
          clearInterval(check);
          resolve();
        }
      }, 20);
    });
    child.stdin.end();
    const code = await done;
    expect(code).toBe(0);
    // 3000 tokens take well over 10 s here; the interrupted reply ended long before.
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(stdout.endsWith('\n')).toBe(true);
  }, 60_000);

  it('a signal while waiting for piped input ends the chat (exit 130)', async () => {
    const child = spawn(process.execPath, [BIN, 'chat', '-m', MODEL, '--chat-template-file', templateFile, '--temp', '0', '-n', '4'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    // The reply (4 tokens) is over when its final newline came and nothing followed for a while.
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        clearTimeout(timer);
        if (stdout.endsWith('\n')) timer = setTimeout(resolve, 500);
      });
      child.stdin.write('Hi\n');
    });
    child.kill('SIGINT');
    expect(await done).toBe(130);
  }, 60_000);

  it('errors are one line: no template, bad flags', () => {
    const noTemplate = run(['chat', '-m', MODEL, '-p', 'hi']);
    expect(noTemplate.code).toBe(1);
    expect(noTemplate.stderr).toMatch(/^tsinfer: TokenizerError: .*has no chat template.*\n$/);
    const noModel = run(['chat', '-p', 'hi']);
    expect(noModel.code).toBe(2);
    expect(noModel.stderr.split('\n')[0]).toBe('tsinfer: chat needs a model: -m FILE');
    const badTemplate = run(['chat', '-m', MODEL, '--chat-template', '{% for %}', '-p', 'hi']);
    expect(badTemplate.code).toBe(1);
    expect(badTemplate.stderr).toMatch(/^tsinfer: TokenizerError: chat template does not parse/);
    expect(badTemplate.stderr.trim().split('\n')).toHaveLength(1);
  });
});
