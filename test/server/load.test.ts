/**
 * A bounded load test on loopback: 200 requests, 8 at a time, against 4 slots: greedy
 * completions and chats (plain and streamed) whose answers are checked against the library,
 * clients that disconnect mid-stream, malformed bodies. It ends with every well-formed request
 * answered correctly, none hung (each has a deadline), the slots free, the heap back to its
 * starting level within 10 %, and the server healthy. Stops by itself well within a minute.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/model/model.js';
import type { TsinferServer } from '../../src/server/server.js';
import { start, STORIES, TEMPLATE } from './helpers.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const N = 200;
const CONCURRENCY = 8;
const WARMUP = 40;
const PROMPTS = ['Once upon a time', 'The little dog', 'Lily and Ben went to the park', 'One day, a big bird', 'Tom had a red ball', 'The sun was'];
const MAX = [6, 12, 20];
const MALFORMED = ['{"prompt": "x",', '[]', '{"prompt": 5}', '{"prompt": "x", "temperature": "hot"}', '{"messages": "hi"}', '{"prompt": "x", "stop": [1]}', '{"prompt": "x", "max_tokens": -5}', ''];

let model: Model;
let server: TsinferServer;
let url: string;
const want = new Map<string, string>();

/** Deterministic pseudo-random numbers, so a failure can be replayed. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

beforeAll(async () => {
  model = await loadModel(STORIES, { contextLength: 256, sequences: 4 });
  for (const p of PROMPTS) {
    for (const max of MAX) {
      want.set(`text|${p}|${max}`, (await model.complete(p, { temperature: 0, maxTokens: max })).text);
      want.set(`chat|${p}|${max}`, (await model.chat([{ role: 'user', content: p }], { template: TEMPLATE, temperature: 0, maxTokens: max }).result).text);
    }
  }
  ({ server, url } = await start(model, { chatTemplate: TEMPLATE, parallel: 4, queueSize: 64 }));
});

afterAll(async () => {
  await server?.close();
  await model?.dispose();
});

async function readSse(r: Response, stopAfter = Infinity): Promise<{ text: string; done: boolean; chunks: number }> {
  const reader = r.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  let text = '';
  let chunks = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return { text, done: false, chunks };
    buf += dec.decode(value, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (!ev.startsWith('data: ')) continue;
      const data = ev.slice(6);
      if (data === '[DONE]') return { text, done: true, chunks };
      const j = JSON.parse(data);
      if (j.error) throw new Error(`stream error: ${j.error.message}`);
      const c = j.choices?.[0];
      text += c?.delta?.content ?? c?.text ?? '';
      if (++chunks >= stopAfter) {
        await reader.cancel();
        return { text, done: false, chunks };
      }
    }
  }
}

it(`${N} requests, ${CONCURRENCY} at a time: all well-formed ones answered correctly, nothing hung, memory and health back`, async () => {
  const random = rng(12345);
  let counts = { ok: 0, malformed: 0, disconnected: 0 };
  const failures: string[] = [];

  /** One request with a 30 s deadline: a hung request fails the test instead of hanging it. */
  async function one(i: number): Promise<void> {
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new Error('no answer within 30 s')), 30_000);
    try {
      await request(i, deadline);
    } finally {
      clearTimeout(timer);
    }
  }

  async function request(i: number, deadline: AbortController): Promise<void> {
    const kind = random();
    const prompt = PROMPTS[Math.floor(random() * PROMPTS.length)]!;
    const max = MAX[Math.floor(random() * MAX.length)]!;
    const stream = random() < 0.5;
    const chat = random() < 0.5;
    const signal = deadline.signal;
    const path = chat ? '/v1/chat/completions' : '/v1/completions';
    const body = { ...(chat ? { messages: [{ role: 'user', content: prompt }] } : { prompt }), max_tokens: max, temperature: 0, stream };
    if (kind < 0.12) {
      const r = await fetch(`${url}${path}`, { method: 'POST', body: MALFORMED[i % MALFORMED.length]!, signal });
      const j = (await r.json()) as { error?: { type: string } };
      if (r.status !== 400 || j.error?.type !== 'invalid_request_error') failures.push(`#${i} malformed: ${r.status} ${JSON.stringify(j)}`);
      counts.malformed++;
      return;
    }
    if (kind < 0.3) {
      // Disconnect: after a few streamed chunks, or at a random moment (even before the answer).
      // The client aborts the deadline's controller itself, with its own reason.
      const leave = () => deadline.abort('disconnect');
      try {
        if (random() < 0.5) setTimeout(leave, Math.floor(random() * 30));
        const r = await fetch(`${url}${path}`, { method: 'POST', body: JSON.stringify({ ...body, max_tokens: 200, ignore_eos: true, stream: true }), signal });
        await readSse(r, 1 + Math.floor(random() * 4));
      } catch (e) {
        if (signal.reason !== 'disconnect') failures.push(`#${i} disconnect: ${(e as Error).message}`);
      }
      leave();
      counts.disconnected++;
      return;
    }
    const key = `${chat ? 'chat' : 'text'}|${prompt}|${max}`;
    try {
      const r = await fetch(`${url}${path}`, { method: 'POST', body: JSON.stringify(body), signal });
      if (r.status !== 200) {
        failures.push(`#${i} ${key}: status ${r.status} ${await r.text()}`);
        return;
      }
      let text: string;
      if (stream) {
        const s = await readSse(r);
        if (!s.done) failures.push(`#${i} ${key}: stream ended without [DONE]`);
        text = s.text;
      } else {
        const j = (await r.json()) as { choices: { text?: string; message?: { content: string } }[] };
        text = j.choices[0]!.message?.content ?? j.choices[0]!.text!;
      }
      if (text !== want.get(key)) failures.push(`#${i} ${key}: got ${JSON.stringify(text)}, want ${JSON.stringify(want.get(key))}`);
      else counts.ok++;
    } catch (e) {
      failures.push(`#${i} ${key}: ${(e as Error).message}`);
    }
  }

  const run = async (n: number) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < n) await one(next++);
      }),
    );
  };
  // Warm up with the same mix (lazy allocations: JIT, sampler buffers, template compilation,
  // client and server sockets), then take the baseline.
  await run(WARMUP);
  counts = { ok: 0, malformed: 0, disconnected: 0 };
  gc();
  const heap0 = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  await run(N);
  const seconds = (performance.now() - t0) / 1000;
  console.log(`load: ${N} requests in ${seconds.toFixed(1)} s: ${JSON.stringify(counts)}; metrics ${JSON.stringify(server.scheduler!.metrics)}`);
  expect(failures).toEqual([]);
  expect(counts.ok + counts.malformed + counts.disconnected).toBe(N);
  expect(counts.disconnected).toBeGreaterThan(10);
  expect(counts.malformed).toBeGreaterThan(10);

  // Every slot is free again, the queue is empty, and the server answers.
  await expect.poll(() => server.scheduler!.busy + server.scheduler!.queued, { timeout: 10_000 }).toBe(0);
  expect((await fetch(`${url}/health`)).status).toBe(200);
  const check = await fetch(`${url}/v1/completions`, { method: 'POST', body: JSON.stringify({ prompt: PROMPTS[0], max_tokens: MAX[2], temperature: 0 }) });
  expect(((await check.json()) as { choices: { text: string }[] }).choices[0]!.text).toBe(want.get(`text|${PROMPTS[0]}|${MAX[2]}`));

  // Memory: back to the baseline within 10 % once garbage is collected.
  let heap1 = Infinity;
  for (let k = 0; k < 5 && heap1 > heap0 * 1.1; k++) {
    await new Promise((r) => setTimeout(r, 100));
    gc();
    heap1 = process.memoryUsage().heapUsed;
  }
  console.log(`heap: ${(heap0 / 2 ** 20).toFixed(1)} MiB before, ${(heap1 / 2 ** 20).toFixed(1)} MiB after`);
  expect(heap1).toBeLessThan(heap0 * 1.1);
  expect(heap1).toBeGreaterThan(heap0 * 0.9);
}, 90_000);
