/**
 * `tsinfer serve` as users run it (bin/tsinfer.js on the built dist/): the listening line,
 * a request, and SIGTERM / SIGINT during a streamed reply: the stream ends, the process exits 0.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { expect, it } from 'vitest';
import { REPO_ROOT, sharedPath } from '../helpers/shared.js';
import { STORIES } from './helpers.js';

const BIN = path.join(REPO_ROOT, 'bin', 'tsinfer.js');
const TEMPLATE_FILE = sharedPath('templates', 'HuggingFaceTB-SmolLM2-Instruct.jinja');

function serve(args: string[]): Promise<{ child: ChildProcess; url: string; stderr: () => string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [BIN, 'serve', '-m', STORIES, '--port', '0', '-c', '4096', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((ok) => child.on('exit', (code) => ok(code)));
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`no listening line; stderr: ${err}`)), 30_000);
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /^listening on (http:\/\/127\.0\.0\.1:\d+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        ok({ child, url: m[1]!, stderr: () => err, exited });
      }
    });
    void exited.then((code) => fail(new Error(`serve exited with ${code}: ${err}`)));
  });
}

it('usage errors are one line', () => {
  const r = spawnSync(process.execPath, [BIN, 'serve', '-m', STORIES, '--port', 'abc'], { encoding: 'utf8', timeout: 30_000 });
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(/--port expects a number, got "abc"/);
});

it('--reasoning-budget takes -1, 0 or a number of tokens', () => {
  const r = spawnSync(process.execPath, [BIN, 'serve', '-m', STORIES, '--reasoning-budget', '-2'], { encoding: 'utf8', timeout: 30_000 });
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(/--reasoning-budget must be at least -1, got -2/);
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  it(`${signal} during a streamed reply ends the stream and the process exits 0`, async () => {
    const { child, url, stderr, exited } = await serve(['--chat-template-file', TEMPLATE_FILE]);
    try {
      const health = await fetch(`${url}/health`);
      expect(health.status).toBe(200);
      const r = await fetch(`${url}/v1/chat/completions`, {
        method: 'POST',
        body: JSON.stringify({ messages: [{ role: 'user', content: 'Hello' }], max_tokens: 4000, ignore_eos: true, stream: true }),
      });
      expect(r.status).toBe(200);
      const reader = r.body!.getReader();
      await reader.read();
      child.kill(signal);
      let text = '';
      const decoder = new TextDecoder();
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) break;
        text += decoder.decode(value);
      }
      // The stream ends (cut short), nowhere near the 4000 tokens asked for.
      expect(text.split('data: ').length).toBeLessThan(3000);
      expect(await exited).toBe(0);
      expect(stderr()).toMatch(new RegExp(`${signal}: cancelling requests in flight`));
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);
}

it('--embeddings serves /v1/embeddings and refuses completions', async () => {
  const { child, url, exited } = await serve(['--embeddings', '--pooling', 'mean', '-np', '1']);
  try {
    const r = await fetch(`${url}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ input: 'Once upon a time', encoding_format: 'float' }) });
    const body = (await r.json()) as { data: { embedding: number[] }[] };
    expect(r.status).toBe(200);
    expect(body.data[0]!.embedding.length).toBeGreaterThan(0);
    expect(Math.hypot(...body.data[0]!.embedding)).toBeCloseTo(1, 5);
    const c = await fetch(`${url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ prompt: 'x' }) });
    expect(c.status).toBe(501);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  } finally {
    child.kill('SIGKILL');
  }
}, 60_000);
