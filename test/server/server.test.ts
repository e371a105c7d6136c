/**
 * `createServer` against the official `openai` client and raw HTTP on 127.0.0.1 (ephemeral
 * ports), on stories260K with SmolLM2's chat template: answers equal the library's, streaming,
 * the prompt cache, the error shapes, limits, auth, loading state, cancellation and engine failures.
 */
import { tmpdir } from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/model/model.js';
import { openGGUF } from '../../src/gguf/reader.js';
import { gv, metadataOf, tensorChunks, writeGGUF } from '../../src/gguf/writer.js';
import type { TsinferServer } from '../../src/server/server.js';
import { post, start, STORIES, TEMPLATE, wrap } from './helpers.js';

const CTX = 256;
let model: Model;
let server: TsinferServer;
let url: string;
let client: OpenAI;
const ctl: { delayMs?: number; failAfter?: number } = {};

beforeAll(async () => {
  model = await loadModel(STORIES, { contextLength: CTX, sequences: 2 });
  ({ server, url } = await start(wrap(model, ctl), { chatTemplate: TEMPLATE, parallel: 2, queueSize: 1, maxBodyBytes: 64 << 10 }));
  client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

afterAll(async () => {
  await server?.close();
  await model?.dispose();
});

const greedy = { temperature: 0 } as const;

describe('OpenAI API through the openai client', () => {
  it('lists the model', async () => {
    const list = await client.models.list();
    expect(list.data.map((m) => m.id)).toEqual(['stories260K.gguf']);
  });

  it('chat completion: greedy answer equals model.chat() on the same messages, with usage and timings', async () => {
    const messages = [{ role: 'user' as const, content: 'Tell me a story about a cat.' }];
    const want = await model.chat(messages, { template: TEMPLATE, temperature: 0, maxTokens: 24 }).result;
    const r = await client.chat.completions.create({ model: 'any', messages, max_tokens: 24, ...greedy });
    expect(r.object).toBe('chat.completion');
    expect(r.choices[0]!.message.role).toBe('assistant');
    expect(r.choices[0]!.message.content).toBe(want.text);
    expect(r.choices[0]!.finish_reason).toBe(want.finishReason === 'length' ? 'length' : 'stop');
    expect(r.usage).toMatchObject({ prompt_tokens: want.promptTokens.length, completion_tokens: want.tokens.length, total_tokens: want.promptTokens.length + want.tokens.length });
    const timings = (r as unknown as { timings: Record<string, number> }).timings;
    expect(timings.predicted_n).toBe(want.tokens.length);
    expect(timings.prompt_n + timings.cache_n).toBe(want.promptTokens.length);
    expect(timings.predicted_per_second).toBeGreaterThan(0);
  });

  it('streamed chat: role first, deltas add up to the plain answer, finish_reason, usage chunk, [DONE]', async () => {
    const messages = [
      { role: 'system' as const, content: 'You are kind.' },
      { role: 'user' as const, content: 'Once upon a time' },
    ];
    const plain = await client.chat.completions.create({ model: 'm', messages, max_tokens: 20, ...greedy });
    const stream = await client.chat.completions.create({ model: 'm', messages, max_tokens: 20, ...greedy, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let role: string | undefined;
    let finish: string | null | undefined;
    let usage: OpenAI.CompletionUsage | undefined | null;
    let chunks = 0;
    for await (const c of stream) {
      chunks++;
      if (c.choices[0]?.delta.role) role = c.choices[0].delta.role;
      text += c.choices[0]?.delta.content ?? '';
      if (c.choices[0]?.finish_reason) finish = c.choices[0].finish_reason;
      if (c.usage) usage = c.usage;
    }
    expect(role).toBe('assistant');
    expect(chunks).toBeGreaterThan(3);
    expect(text).toBe(plain.choices[0]!.message.content);
    expect(finish).toBe(plain.choices[0]!.finish_reason);
    expect(usage?.completion_tokens).toBe(plain.usage!.completion_tokens);
    // Raw stream: the last event is [DONE].
    const raw = await fetch(`${url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ messages, max_tokens: 3, stream: true }) });
    expect(raw.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect((await raw.text()).trimEnd().endsWith('data: [DONE]')).toBe(true);
  });

  it('completions: string and token-array prompts equal model.complete()', async () => {
    const prompt = 'Once upon a time, there was a little dog';
    const want = await model.complete(prompt, { temperature: 0, maxTokens: 30 });
    const r = await client.completions.create({ model: 'm', prompt, max_tokens: 30, ...greedy });
    expect(r.object).toBe('text_completion');
    expect(r.choices[0]!.text).toBe(want.text);
    const ids = model.tokenize(prompt);
    const r2 = await client.completions.create({ model: 'm', prompt: ids, max_tokens: 30, ...greedy });
    expect(r2.choices[0]!.text).toBe(want.text);
    // Streamed, with llama-server's n_predict spelling through a raw request.
    const s = await client.completions.create({ model: 'm', prompt, max_tokens: 30, ...greedy, stream: true });
    let text = '';
    for await (const c of s) text += c.choices[0]?.text ?? '';
    expect(text).toBe(want.text);
    const native = await post(`${url}/completion`, { prompt, n_predict: 30, temperature: 0 });
    expect(native.status).toBe(200);
    expect(native.json.content).toBe(want.text);
    expect(native.json.tokens_predicted).toBe(want.tokens.length);
  });

  it('a second chat turn reports the first turn as cached prompt tokens', async () => {
    const first = [{ role: 'user' as const, content: 'Where does the little bird live?' }];
    const r1 = await client.chat.completions.create({ model: 'm', messages: first, max_tokens: 12, ...greedy });
    const reply = r1.choices[0]!.message.content!;
    const second = [...first, { role: 'assistant' as const, content: reply }, { role: 'user' as const, content: 'And then?' }];
    const r2 = await client.chat.completions.create({ model: 'm', messages: second, max_tokens: 12, ...greedy });
    const cached = r2.usage!.prompt_tokens_details!.cached_tokens!;
    expect(cached).toBeGreaterThanOrEqual(r1.usage!.prompt_tokens);
    expect(cached).toBeLessThan(r2.usage!.prompt_tokens);
    // The answer is the same as without the cache.
    const r3 = await client.chat.completions.create({ model: 'm', messages: second, max_tokens: 12, ...greedy, cache_prompt: false } as never);
    expect((r3 as OpenAI.ChatCompletion).usage!.prompt_tokens_details!.cached_tokens).toBe(0);
    expect((r3 as OpenAI.ChatCompletion).choices[0]!.message.content).toBe(r2.choices[0]!.message.content);
  });

  it('unknown fields are ignored; sampling parameters are accepted', async () => {
    const r = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'Hi' }],
      max_tokens: 5,
      temperature: 0.7,
      top_p: 0.9,
      seed: 42,
      presence_penalty: 0.5,
      frequency_penalty: 0.2,
      stop: ['\n\n', 'The end'],
      user: 'someone',
      // @ts-expect-error llama-server's fields and an unknown one
      top_k: 20,
      min_p: 0.1,
      repeat_penalty: 1.1,
      something_new: { x: 1 },
    });
    expect(r.choices[0]!.message.content).toBeTypeOf('string');
    // Same seed, same answer.
    const body = { messages: [{ role: 'user', content: 'Hi' }], max_tokens: 10, temperature: 1, seed: 7 };
    expect((await post(`${url}/v1/chat/completions`, body)).json.choices[0].message.content).toBe((await post(`${url}/v1/chat/completions`, body)).json.choices[0].message.content);
  });
});

describe('errors', () => {
  const expectError = async (p: Promise<unknown>, status: number, message: RegExp) => {
    const e = (await p.then(
      () => undefined,
      (x: unknown) => x,
    )) as InstanceType<typeof OpenAI.APIError>;
    expect(e, 'the request should fail').toBeInstanceOf(OpenAI.APIError);
    expect(e.status).toBe(status);
    expect(e.message).toMatch(message);
  };

  it('wrong types are a 400 in the OpenAI error shape', async () => {
    await expectError(client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], temperature: 'hot' as never }), 400, /'temperature' must be a number/);
    await expectError(client.chat.completions.create({ model: 'm', messages: 'hello' as never }), 400, /'messages' must be an array/);
    await expectError(client.completions.create({ model: 'm', prompt: 'x', stop: [1, 2] as never }), 400, /'stop\[0\]' must be a string/);
    await expectError(client.completions.create({ model: 'm', prompt: [1, 99999] }), 400, /prompt\[1\]/);
    await expectError(client.completions.create({ model: 'm', prompt: 'x', max_tokens: 1.5 }), 400, /max_tokens/);
    const r = await post(`${url}/v1/completions`, { prompt: 'x', top_p: 2 });
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ error: { code: 400, message: expect.stringMatching(/'top_p' must be at most 1/), type: 'invalid_request_error' } });
    const bad = await post(`${url}/v1/completions`, '{"prompt": "x",');
    expect(bad.status).toBe(400);
    expect(bad.json.error.message).toMatch(/not valid JSON/);
    expect((await post(`${url}/v1/completions`, '[1,2]')).json.error.message).toMatch(/must be a JSON object/);
  });

  it('n > 1 is refused; an empty tools list and response_format text are plain requests', async () => {
    await expectError(client.completions.create({ model: 'm', prompt: 'x', n: 2 }), 400, /only one choice/);
    const plain = await client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], max_tokens: 2, response_format: { type: 'text' }, tools: [] });
    expect(plain.choices).toHaveLength(1);
  });

  it('a prompt longer than the context is a 400 naming both numbers; max_tokens is clamped to the context', async () => {
    const long = Array.from({ length: 300 }, () => 403);
    await expectError(client.completions.create({ model: 'm', prompt: long }), 400, /300 tokens.*context holds 256/);
    const prompt = Array.from({ length: 240 }, (_, i) => 403 + (i % 5));
    const r = await client.completions.create({ model: 'm', prompt, max_tokens: 100000, ...greedy, ignore_eos: true } as never);
    expect((r as OpenAI.Completion).usage!.completion_tokens).toBe(CTX - 240);
    expect((r as OpenAI.Completion).choices[0]!.finish_reason).toBe('length');
  });

  it('unknown route is 404, a body over the limit is 413, infill without FIM tokens is a clear 400', async () => {
    expect((await post(`${url}/v1/nothing`, { input: 'x' })).status).toBe(404);
    const big = await post(`${url}/v1/completions`, { prompt: 'x'.repeat(70 << 10) });
    expect(big.status).toBe(413);
    expect(big.json.error.message).toMatch(/larger than the limit of 65536 bytes/);
    const infill = await post(`${url}/infill`, { input_prefix: 'def f(', input_suffix: ')' });
    expect(infill.status).toBe(400);
    expect(infill.json.error.message).toMatch(/no fill-in-the-middle tokens \(fim_pre, fim_suf, fim_mid missing/);
  });

  it('an engine error fails that request only', async () => {
    ctl.failAfter = 3;
    const r = await post(`${url}/v1/completions`, { prompt: 'Once', max_tokens: 10 });
    expect(r.status).toBe(500);
    expect(r.json.error).toMatchObject({ type: 'server_error', message: expect.stringMatching(/simulated engine failure/) });
    ctl.failAfter = 2;
    const s = await fetch(`${url}/v1/completions`, { method: 'POST', body: JSON.stringify({ prompt: 'Once', max_tokens: 10, stream: true }) });
    expect(s.status).toBe(200);
    expect(await s.text()).toMatch(/data: \{"error":\{"code":500,.*simulated engine failure/);
    const ok = await client.completions.create({ model: 'm', prompt: 'Once', max_tokens: 4 });
    expect(ok.choices[0]!.text.length).toBeGreaterThan(0);
    expect((await fetch(`${url}/health`)).status).toBe(200);
  });
});

describe('slots, queue, cancellation', () => {
  it('a client that disconnects mid-stream stops its generation and frees its slot', async () => {
    ctl.delayMs = 20;
    try {
      const before = server.scheduler!.metrics.requestsCancelled;
      const ac = new AbortController();
      const prompt = 'Once upon a time there was a little girl named Lily';
      const r = await fetch(`${url}/v1/completions`, { method: 'POST', signal: ac.signal, body: JSON.stringify({ prompt, max_tokens: 200, ignore_eos: true, stream: true }) });
      const reader = r.body!.getReader();
      await reader.read();
      await reader.read();
      ac.abort();
      await expect.poll(() => server.scheduler!.metrics.requestsCancelled, { timeout: 5000 }).toBe(before + 1);
      const slots = (await (await fetch(`${url}/slots`)).json()) as { is_processing: boolean; next_token: { n_decoded: number } }[];
      expect(slots.every((s) => !s.is_processing)).toBe(true);
      expect(Math.max(...slots.map((s) => s.next_token.n_decoded))).toBeLessThan(100);
      // The KV cache survives the cancellation: the same prompt again is all cached but its last token.
      ctl.delayMs = 0;
      const again = await client.completions.create({ model: 'm', prompt, max_tokens: 2 });
      expect(again.usage!.prompt_tokens_details!.cached_tokens).toBe(again.usage!.prompt_tokens - 1);
    } finally {
      ctl.delayMs = 0;
    }
  });

  it('requests beyond the slots wait in the queue; beyond the queue they get 503', async () => {
    ctl.delayMs = 10;
    try {
      // 2 slots + 1 queue place: three long streams are admitted, the fourth is refused.
      const acs = [0, 1, 2].map(() => new AbortController());
      const body = JSON.stringify({ prompt: 'Once', max_tokens: 500, ignore_eos: true, stream: true });
      const admitted = await Promise.all(acs.map((ac) => fetch(`${url}/v1/completions`, { method: 'POST', body, signal: ac.signal })));
      await expect.poll(() => server.scheduler!.queued).toBe(1);
      const slots = (await (await fetch(`${url}/slots`)).json()) as { is_processing: boolean; is_running: boolean }[];
      expect(slots.filter((s) => s.is_processing)).toHaveLength(2);
      expect(slots.filter((s) => s.is_running)).toHaveLength(2); // decoded together
      const refused = await post(`${url}/v1/completions`, { prompt: 'Once', max_tokens: 5 });
      expect(refused.status).toBe(503);
      expect(refused.json.error.type).toBe('unavailable_error');
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toMatch(/^llamacpp:requests_deferred 1$/m);
      expect(metrics).toMatch(/^llamacpp:requests_processing 2$/m);
      for (const ac of acs) ac.abort();
      for (const r of admitted) await r.body?.cancel().catch(() => {});
      await expect.poll(() => server.scheduler!.busy + server.scheduler!.queued, { timeout: 5000 }).toBe(0);
    } finally {
      ctl.delayMs = 0;
    }
    expect((await client.completions.create({ model: 'm', prompt: 'Once', max_tokens: 3 })).choices).toHaveLength(1);
  });
});

describe('other endpoints', () => {
  it('tokenize / detokenize, props, metrics', async () => {
    const t = await post(`${url}/tokenize`, { content: 'Once upon a time' });
    expect(t.json.tokens).toEqual(model.tokenize('Once upon a time', { addSpecial: false }));
    const d = await post(`${url}/detokenize`, { tokens: t.json.tokens });
    expect(d.json.content.trim()).toBe('Once upon a time');
    const pieces = await post(`${url}/tokenize`, { content: 'Once', with_pieces: true, add_special: true });
    expect(pieces.json.tokens[0]).toEqual({ id: 1, piece: '<s>' });
    const props = (await (await fetch(`${url}/props`)).json()) as { total_slots: number; default_generation_settings: { n_ctx: number }; chat_template: string };
    expect(props.total_slots).toBe(2);
    expect(props.default_generation_settings.n_ctx).toBe(CTX);
    expect(props.chat_template).toBe(TEMPLATE);
    const m = await fetch(`${url}/metrics`);
    expect(m.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await m.text()).toMatch(/^# TYPE llamacpp:tokens_predicted_total counter\nllamacpp:tokens_predicted_total [1-9]\d*$/m);
    const page = await fetch(`${url}/`);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toMatch(/<title>tsinfer chat<\/title>/);
  });
});

describe('loading, auth, infill', () => {
  it('/health is 503 while the model loads, then 200', async () => {
    let resolve!: (m: Model) => void;
    const s = await start(new Promise<Model>((r) => (resolve = r)));
    try {
      const h = await fetch(`${s.url}/health`);
      expect(h.status).toBe(503);
      expect(await h.json()).toEqual({ error: { code: 503, message: 'Loading model', type: 'unavailable_error' } });
      expect((await post(`${s.url}/v1/completions`, { prompt: 'x' })).status).toBe(503);
      resolve(model);
      await s.server.ready;
      expect(await (await fetch(`${s.url}/health`)).json()).toEqual({ status: 'ok' });
    } finally {
      await s.server.close();
    }
  });

  it('--api-key: 401 without the Bearer key, 200 with it; /health stays open', async () => {
    const s = await start(model, { apiKey: 'sekrit' });
    try {
      const bad = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
      const e = await bad.models.list().then(
        () => undefined,
        (x: unknown) => x,
      );
      expect(e).toBeUndefined(); // /v1/models is public, as in llama-server
      const e2 = (await bad.completions.create({ model: 'm', prompt: 'x', max_tokens: 1 }).then(
        () => undefined,
        (x: unknown) => x,
      )) as InstanceType<typeof OpenAI.APIError>;
      expect(e2).toBeInstanceOf(OpenAI.AuthenticationError);
      expect(e2.status).toBe(401);
      expect((await post(`${s.url}/v1/completions`, { prompt: 'x', max_tokens: 1 })).status).toBe(401);
      const good = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'sekrit', maxRetries: 0 });
      expect((await good.completions.create({ model: 'm', prompt: 'x', max_tokens: 2 })).choices).toHaveLength(1);
      expect((await fetch(`${s.url}/health`)).status).toBe(200);
    } finally {
      await s.server.close();
    }
  });

  it('/infill lays out [BOS] FIM_PRE prefix FIM_SUF suffix FIM_MID as llama-server does, and generates from it', async () => {
    // stories260K with FIM token ids added to its metadata (ids of ordinary tokens: the layout is what is tested).
    const dir = mkdtempSync(path.join(tmpdir(), 'tsinfer-fim-'));
    const file = path.join(dir, 'fim.gguf');
    const src = await openGGUF(STORIES);
    try {
      const meta = [
        ...metadataOf(src),
        ['tokenizer.ggml.fim_pre_token_id', gv.u32(300)],
        ['tokenizer.ggml.fim_suf_token_id', gv.u32(301)],
        ['tokenizer.ggml.fim_mid_token_id', gv.u32(302)],
      ] as ReturnType<typeof metadataOf>;
      await writeGGUF(
        file,
        meta,
        src.tensors.map((t) => ({ name: t.name, typeId: t.typeId, shape: t.shape, data: () => tensorChunks(src, t.name) })),
      );
    } finally {
      src.close();
    }
    const fim = await loadModel(file, { contextLength: 1024 });
    const s = await start(fim);
    try {
      const tok = fim.tokenizer;
      const plain = (t: string) => tok.encode(t, { addSpecial: false });
      const want = [tok.bosId, 300, ...plain('Once upon'), ...plain(' a'), 301, ...plain(' there was'), 302];
      const expected = await fim.complete(want, { temperature: 0, maxTokens: 8 });
      const r = await post(`${s.url}/infill`, { input_prefix: 'Once upon', prompt: ' a', input_suffix: ' there was', n_predict: 8, temperature: 0 });
      expect(r.status).toBe(200);
      expect(r.json.tokens_evaluated).toBe(want.length);
      expect(r.json.content).toBe(expected.text);
      expect(r.json.stop).toBe(true);
      expect(r.json.timings.predicted_n).toBe(expected.tokens.length);
      // Extra context (no FIM_SEP token in this vocabulary: a snippet separator, then the text) goes
      // first, within n_ctx - n_batch - 2 * n_predict = 1024 - 512 - 16 tokens.
      const extra = [...plain('\n\n--- snippet ---\n\n'), ...plain('Lily had a cat.')];
      const r2 = await post(`${s.url}/infill`, {
        input_extra: [{ filename: 'a.txt', text: 'Lily had a cat.' }],
        input_prefix: 'Once upon',
        prompt: ' a',
        input_suffix: ' there was',
        n_predict: 8,
        temperature: 0,
      });
      expect(r2.json.tokens_evaluated).toBe(extra.length + want.length);
      expect(r2.json.content).toBe((await fim.complete([...extra, ...want], { temperature: 0, maxTokens: 8 })).text);
      expect((await post(`${s.url}/infill`, { input_extra: 'x' })).json.error.message).toMatch(/'input_extra' must be an array/);
    } finally {
      await s.server.close();
      await fim.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
