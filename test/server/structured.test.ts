/**
 * Constrained output and log-probabilities through the server: response_format json_object /
 * json_schema and llama-server's grammar / json_schema fields (outputs parse and validate),
 * logprobs / top_logprobs / completions' logprobs: N / n_probs (equal to model.chat /
 * model.complete's logprobs, streamed and not), on stories260K with SmolLM2's chat template.
 */
import Ajv2020 from 'ajv/dist/2020.js';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/model/model.js';
import type { TsinferServer } from '../../src/server/server.js';
import { post, start, STORIES, TEMPLATE } from './helpers.js';

let model: Model;
let server: TsinferServer;
let url: string;
let client: OpenAI;

beforeAll(async () => {
  model = await loadModel(STORIES, { contextLength: 256 });
  ({ server, url } = await start(model, { chatTemplate: TEMPLATE, parallel: 1 }));
  client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

afterAll(async () => {
  await server?.close();
  await model?.dispose();
});

const messages = [{ role: 'user' as const, content: 'Tell me about a cat.' }];
const schema = {
  type: 'object',
  properties: { color: { enum: ['red', 'green', 'blue'] }, happy: { type: 'boolean' }, legs: { type: 'integer', minimum: 0, maximum: 9 } },
  required: ['color', 'happy', 'legs'],
  additionalProperties: false,
};

describe('constrained output', () => {
  it('response_format json_schema: every answer parses and validates against the schema', async () => {
    const validate = new Ajv2020.default({ strict: false }).compile(schema);
    for (const seed of [1, 2, 3, 4]) {
      const r = await client.chat.completions.create({
        model: 'm',
        messages,
        max_tokens: 80,
        temperature: 1,
        seed,
        response_format: { type: 'json_schema', json_schema: { name: 'cat', schema, strict: true } },
      });
      const c = r.choices[0]!;
      expect(c.finish_reason, c.message.content ?? '').toBe('stop');
      const v = JSON.parse(c.message.content!);
      expect(validate(v), JSON.stringify(validate.errors)).toBe(true);
    }
  });

  it('json_object, grammar and json_schema fields constrain /v1/completions and /completion', async () => {
    const obj = await client.chat.completions.create({ model: 'm', messages, max_tokens: 120, temperature: 0.8, seed: 5, response_format: { type: 'json_object' } });
    const text = obj.choices[0]!.message.content!;
    expect(text.trimStart().startsWith('{')).toBe(true);
    if (obj.choices[0]!.finish_reason === 'stop') expect(typeof JSON.parse(text)).toBe('object');

    const g = await client.completions.create({ model: 'm', prompt: 'Once upon a time', max_tokens: 20, seed: 3, grammar: 'root ::= ("yes" | "no") " " [0-9]' } as never);
    expect(g.choices[0]!.text).toMatch(/^(yes|no) [0-9]$/);
    expect(g.choices[0]!.finish_reason).toBe('stop');

    const n = await post(`${url}/completion`, { prompt: 'Once upon a time', n_predict: 80, seed: 9, json_schema: schema });
    expect(n.status).toBe(200);
    expect(Object.keys(JSON.parse(n.json.content)).sort()).toEqual(['color', 'happy', 'legs']);

    const s = await client.chat.completions.create({ model: 'm', messages, max_tokens: 80, seed: 4, stream: true, response_format: { type: 'json_schema', json_schema: { name: 'cat', schema } } });
    let streamed = '';
    for await (const ch of s) streamed += ch.choices[0]?.delta.content ?? '';
    expect(Object.keys(JSON.parse(streamed)).sort()).toEqual(['color', 'happy', 'legs']);
  });

  it('bad constraints are a 400 naming the field', async () => {
    const e1 = await post(`${url}/v1/chat/completions`, { messages, response_format: { type: 'xml' } });
    expect([e1.status, e1.json.error.message]).toEqual([400, expect.stringMatching(/'response_format.type'/)]);
    const e2 = await post(`${url}/v1/chat/completions`, { messages, response_format: { type: 'json_schema' } });
    expect(e2.json.error.message).toMatch(/'response_format.json_schema' is required/);
    const e3 = await post(`${url}/completion`, { prompt: 'x', grammar: 'root ::= "a' });
    expect(e3.status).toBe(400);
    const e4 = await post(`${url}/completion`, { prompt: 'x', grammar: 'root ::= "a"', json_schema: { type: 'object' } });
    expect(e4.json.error.message).toMatch(/'grammar' and 'json_schema'/);
    const e5 = await post(`${url}/completion`, { prompt: 'x', json_schema: { type: 'frobnicate' } });
    expect(e5.status).toBe(400);
  });
});

describe('log-probabilities', () => {
  it('chat logprobs + top_logprobs equal model.chat() logprobs; tokens spell the content; streamed the same', async () => {
    const want = await model.chat(messages, { template: TEMPLATE, temperature: 0, maxTokens: 16, logprobs: true, topLogprobs: 3 }).result;
    const r = await client.chat.completions.create({ model: 'm', messages, max_tokens: 16, temperature: 0, logprobs: true, top_logprobs: 3 });
    const content = r.choices[0]!.logprobs!.content!;
    const wantLps = want.logprobs!.filter((lp) => !model.tokenizer.isEog(lp.tokenId));
    expect(content.map((c) => c.logprob)).toEqual(wantLps.map((lp) => lp.logprob));
    expect(content.map((c) => c.top_logprobs.map((t) => t.logprob))).toEqual(wantLps.map((lp) => lp.top.map((t) => t.logprob)));
    for (const c of content) {
      expect(c.top_logprobs).toHaveLength(3);
      expect(c.logprob).toBeLessThanOrEqual(0);
      expect(c.top_logprobs[0]!.logprob).toBeGreaterThanOrEqual(c.logprob); // greedy: the chosen one is the best
    }
    expect(Buffer.from(content.flatMap((c) => c.bytes!)).toString('utf8')).toBe(r.choices[0]!.message.content);

    const s = await client.chat.completions.create({ model: 'm', messages, max_tokens: 16, temperature: 0, logprobs: true, top_logprobs: 3, stream: true });
    const streamed: typeof content = [];
    for await (const ch of s) streamed.push(...(ch.choices[0]?.logprobs?.content ?? []));
    expect(streamed).toEqual(content);

    const none = await client.chat.completions.create({ model: 'm', messages, max_tokens: 4, temperature: 0 });
    expect(none.choices[0]!.logprobs).toBeNull();
  });

  it('completions logprobs: N and llama-server n_probs equal model.complete() logprobs', async () => {
    const want = await model.complete('Once upon a time', { temperature: 0, maxTokens: 12, logprobs: true, topLogprobs: 2 });
    const r = await client.completions.create({ model: 'm', prompt: 'Once upon a time', max_tokens: 12, temperature: 0, logprobs: 2 });
    const lp = r.choices[0]!.logprobs!;
    const wantLps = want.logprobs!.filter((x) => !model.tokenizer.isEog(x.tokenId));
    expect(lp.token_logprobs).toEqual(wantLps.map((x) => x.logprob));
    expect(lp.top_logprobs!.map((t) => Object.keys(t).length)).toEqual(wantLps.map((x) => new Set(x.top.map((t) => model.tokenizer.tokenToPiece(t.tokenId, { special: true }))).size));
    expect(lp.tokens!.join('')).toBe(r.choices[0]!.text);
    expect(lp.text_offset![0]).toBe(0);

    const n = await post(`${url}/completion`, { prompt: 'Once upon a time', n_predict: 12, temperature: 0, n_probs: 2 });
    const probs = n.json.completion_probabilities as { id: number; logprob: number; top_logprobs: { id: number }[] }[];
    expect(probs.map((p) => p.id)).toEqual(wantLps.map((x) => x.tokenId));
    expect(probs.map((p) => p.logprob)).toEqual(wantLps.map((x) => x.logprob));
    expect(probs.map((p) => p.top_logprobs.map((t) => t.id))).toEqual(wantLps.map((x) => x.top.map((t) => t.tokenId)));

    const e = await post(`${url}/v1/completions`, { prompt: 'x', logprobs: 101 });
    expect(e.status).toBe(400);
  });
});
