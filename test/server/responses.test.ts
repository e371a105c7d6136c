/**
 * POST /v1/responses with the openai client (`client.responses.create`, plain and streamed, and
 * the client's `responses.stream` accumulator) on stories260K with the Qwen2.5 (Hermes) template:
 * text equal to chat completions' on the same conversation (one pipeline), a tool round trip
 * with input items, streamed events in order, reasoning items, and 400s for what is not served.
 */
import { readFileSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020.js';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/model/model.js';
import type { TsinferServer } from '../../src/server/server.js';
import { sharedPath } from '../helpers/shared.js';
import { post, start, STORIES } from './helpers.js';

const QWEN = readFileSync(sharedPath('templates', 'Qwen-Qwen2.5-7B-Instruct.jinja'), 'utf8');
// Opens <think> in the generation prompt (Qwen3 style).
const THINK = `{%- for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{%- endfor %}{%- if add_generation_prompt %}<|im_start|>assistant\n<think>\n{%- endif %}`;

let model: Model;
const servers: TsinferServer[] = [];
let client: OpenAI;
let thinkClient: OpenAI;
let url = '';

beforeAll(async () => {
  model = await loadModel(STORIES, { contextLength: 2048 });
  const a = await start(model, { chatTemplate: QWEN, parallel: 1 });
  const b = await start(model, { chatTemplate: THINK, parallel: 1 });
  servers.push(a.server, b.server);
  url = a.url;
  client = new OpenAI({ baseURL: `${a.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  thinkClient = new OpenAI({ baseURL: `${b.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

afterAll(async () => {
  for (const s of servers) await s.close();
  await model?.dispose();
});

const weather = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'Weather of a city',
  strict: true,
  parameters: { type: 'object', properties: { city: { enum: ['Paris', 'Rome'] }, days: { type: 'integer', minimum: 1, maximum: 5 } }, required: ['city', 'days'], additionalProperties: false },
};
const validate = new Ajv2020.default({ strict: false }).compile(weather.parameters);

describe('/v1/responses', () => {
  it('text: the same answer as chat completions, with instructions as the system message; streamed events add up to it', async () => {
    const r = await client.responses.create({ model: 'm', instructions: 'Be brief.', input: 'Tell me about a cat.', max_output_tokens: 16, temperature: 0 });
    const chat = await client.chat.completions.create({
      model: 'm',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Tell me about a cat.' },
      ],
      max_tokens: 16,
      temperature: 0,
    });
    expect(r.object).toBe('response');
    expect(r.id).toMatch(/^resp_/);
    expect(r.output_text).toBe(chat.choices[0]!.message.content);
    expect(r.output_text.length).toBeGreaterThan(0);
    expect(r.status).toBe(chat.choices[0]!.finish_reason === 'length' ? 'incomplete' : 'completed');
    if (r.status === 'incomplete') expect(r.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    expect(r.usage).toMatchObject({ input_tokens: chat.usage!.prompt_tokens, output_tokens: chat.usage!.completion_tokens });
    expect(r.instructions).toBe('Be brief.');
    expect(r.output).toHaveLength(1);
    expect(r.output[0]).toMatchObject({ type: 'message', role: 'assistant', status: 'completed' });

    const events: { type: string; sequence_number: number; delta?: string }[] = [];
    const s = await client.responses.create({ model: 'm', instructions: 'Be brief.', input: 'Tell me about a cat.', max_output_tokens: 16, temperature: 0, stream: true });
    for await (const e of s) events.push(e as never);
    const types = events.map((e) => e.type);
    expect(types.slice(0, 4)).toEqual(['response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added']);
    expect(types.slice(-4)).toEqual(['response.output_text.done', 'response.content_part.done', 'response.output_item.done', r.status === 'completed' ? 'response.completed' : 'response.incomplete']);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const text = events
      .filter((e) => e.type === 'response.output_text.delta')
      .map((e) => e.delta)
      .join('');
    expect(text).toBe(r.output_text);
    const last = events[events.length - 1] as unknown as { response: OpenAI.Responses.Response };
    expect(last.response.output[0]).toMatchObject({ type: 'message', content: [{ type: 'output_text', text: r.output_text }] });

    // The client's accumulator checks the order of the events and builds the same response.
    const stream = client.responses.stream({ model: 'm', instructions: 'Be brief.', input: 'Tell me about a cat.', max_output_tokens: 16, temperature: 0 });
    const final = await stream.finalResponse();
    expect(final.output_text).toBe(r.output_text);
  });

  it('tool round trip with input items: a named call validates, its output goes back, the answer is text (streamed and not)', async () => {
    for (const seed of [1, 2]) {
      const req = {
        model: 'm',
        input: [{ role: 'user' as const, content: 'Weather in Paris for 2 days?' }],
        tools: [weather],
        tool_choice: { type: 'function' as const, name: 'get_weather' },
        parallel_tool_calls: false,
        temperature: 1,
        seed,
        max_output_tokens: 120,
      };
      const first = await client.responses.create(req as never);
      const call = first.output.find((o) => o.type === 'function_call');
      if (call?.type !== 'function_call') throw new Error(`no call: ${JSON.stringify(first.output)}`);
      expect(call.name).toBe('get_weather');
      expect(validate(JSON.parse(call.arguments))).toBe(true);
      expect(call.call_id).toMatch(/^call_/);
      expect(first.output_text).toBe('');

      // The same request streamed: the call's argument fragments add up to the same arguments.
      const s = await client.responses.create({ ...req, stream: true } as never);
      let args = '';
      let fragments = 0;
      let done: { arguments: string; name: string } | undefined;
      let added: { name?: string } | undefined;
      for await (const e of s as unknown as AsyncIterable<{ type: string; delta: string; item: { type: string; name?: string }; arguments: string; name: string }>) {
        if (e.type === 'response.output_item.added' && e.item.type === 'function_call') added = e.item;
        if (e.type === 'response.function_call_arguments.delta') {
          args += e.delta;
          fragments++;
        }
        if (e.type === 'response.function_call_arguments.done') done = e;
      }
      expect(added?.name).toBe('get_weather');
      expect(args).toBe(call.arguments);
      expect(done).toMatchObject({ arguments: call.arguments, name: 'get_weather' });
      expect(fragments).toBeGreaterThan(1);

      const input = [
        { role: 'user' as const, content: 'Weather in Paris for 2 days?' },
        { type: 'function_call' as const, call_id: call.call_id, name: call.name, arguments: call.arguments },
        { type: 'function_call_output' as const, call_id: call.call_id, output: 'sunny, 24 degrees' },
      ];
      const final = await client.responses.create({ model: 'm', input, tools: [weather], temperature: 0, max_output_tokens: 10 });
      expect(final.output.some((o) => o.type === 'function_call')).toBe(false);
      expect(final.output_text.length).toBeGreaterThan(0);
      // The call and its result are in the prompt.
      expect(final.usage!.input_tokens).toBeGreaterThan(first.usage!.input_tokens + 20);
      const streamed = await client.responses.stream({ model: 'm', input, tools: [weather], temperature: 0, max_output_tokens: 10 }).finalResponse();
      expect(streamed.output_text).toBe(final.output_text);
    }
  });

  it('round trip on the Llama 3.1 and Mistral Nemo templates (9-character call ids for Mistral), streamed and not', async () => {
    for (const name of ['Llama-3.1-8B-Instruct', 'Mistral-Nemo-Instruct-2407']) {
      const file = name.startsWith('Llama') ? 'meta-llama-Llama-3.1-8B-Instruct' : 'mistralai-Mistral-Nemo-Instruct-2407';
      const { server, url: u } = await start(model, { chatTemplate: readFileSync(sharedPath('templates', `${file}.jinja`), 'utf8'), parallel: 1 });
      try {
        const c = new OpenAI({ baseURL: `${u}/v1`, apiKey: 'unused', maxRetries: 0 });
        const req = { model: 'm', input: 'Weather in Rome?', tools: [weather], tool_choice: 'required' as const, parallel_tool_calls: false, temperature: 1, max_output_tokens: 120 };
        const first = await c.responses.create(req);
        const streamed = await c.responses.stream(req).finalResponse();
        for (const r of [first, streamed]) {
          const call = r.output.find((o) => o.type === 'function_call');
          if (call?.type !== 'function_call') throw new Error(`${name}: no call: ${JSON.stringify(r.output)}`);
          expect(validate(JSON.parse(call.arguments))).toBe(true);
          if (name.startsWith('Mistral')) expect(call.call_id).toMatch(/^[A-Za-z0-9]{9}$/);
          const input = [
            { role: 'user' as const, content: 'Weather in Rome?' },
            { type: 'function_call' as const, call_id: call.call_id, name: call.name, arguments: call.arguments },
            { type: 'function_call_output' as const, call_id: call.call_id, output: 'windy' },
          ];
          const final = await c.responses.create({ model: 'm', input, tools: [weather], temperature: 0, max_output_tokens: 8 });
          expect(
            final.output.some((o) => o.type === 'function_call'),
            name,
          ).toBe(false);
          expect(final.usage!.input_tokens).toBeGreaterThan(r.usage!.input_tokens);
        }
      } finally {
        await server.close();
      }
    }
  });

  it('required with parallel calls cut off by max_output_tokens: the complete calls, each validates (streamed the same)', async () => {
    // The tiny story model never closes the list: the calls before the cut are the answer.
    const req = { model: 'm', input: 'Weather?', tools: [weather], tool_choice: 'required' as const, temperature: 1, seed: 5, max_output_tokens: 150 };
    const r = await client.responses.create(req as never as OpenAI.Responses.ResponseCreateParamsNonStreaming);
    expect(r.status).toBe('incomplete');
    const calls = r.output.filter((o) => o.type === 'function_call');
    expect(r.output).toHaveLength(calls.length);
    expect(calls.length).toBeGreaterThan(1);
    for (const c of calls) if (c.type === 'function_call') expect(validate(JSON.parse(c.arguments))).toBe(true);
    const s = await client.responses.stream(req as never as OpenAI.Responses.ResponseCreateParamsStreaming).finalResponse();
    // The stream also told the head of the call that was cut: that item is incomplete.
    expect(s.output.slice(calls.length).map((o) => (o as { status?: string }).status)).toEqual(s.output.length > calls.length ? ['incomplete'] : []);
    expect(s.output.slice(0, calls.length).map((o) => (o.type === 'function_call' ? [o.name, o.arguments] : o.type))).toEqual(
      calls.map((o) => (o.type === 'function_call' ? [o.name, o.arguments] : o.type)),
    );
  });

  it('a think block opened by the template becomes a reasoning item (streamed the same)', async () => {
    const r = await thinkClient.responses.create({ model: 'm', input: 'Hi', max_output_tokens: 8, temperature: 0 });
    const item = r.output[0] as { type: string; content: { type: string; text: string }[] };
    expect(item.type).toBe('reasoning');
    expect(item.content[0]!.type).toBe('reasoning_text');
    const chat = await thinkClient.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 8, temperature: 0 });
    expect(item.content[0]!.text).toBe((chat.choices[0]!.message as { reasoning_content?: string }).reasoning_content);
    const s = await thinkClient.responses.stream({ model: 'm', input: 'Hi', max_output_tokens: 8, temperature: 0 }).finalResponse();
    expect(s.output).toEqual(r.output.map((o) => ({ ...o, id: expect.any(String) })));
  });

  it('what is not served is a 400 that says so', async () => {
    const cases: [object, RegExp][] = [
      [{ input: 'x', previous_response_id: 'resp_1' }, /'previous_response_id' is not supported.*whole conversation/],
      [{ input: 'x', conversation: 'conv_1' }, /'conversation' is not supported/],
      [{ input: 'x', background: true }, /'background'/],
      [{ input: 'x', tools: [{ type: 'web_search' }] }, /'tools\[0\].type' "web_search" is not supported/],
      [{ input: 'x', tools: [{ type: 'function', function: { name: 'chat_shape' } }] }, /'tools\[0\].name' is required/],
      [{ input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'http://x' }] }] }, /"input_image" is not supported/],
      [{ input: [{ type: 'item_reference', id: 'msg_1' }] }, /stores no items/],
      [{ input: [{ type: 'function_call_output' }] }, /'input\[0\].call_id' is required/],
      [{}, /'input' is required/],
      [{ input: 'x', tools: [weather], tool_choice: { type: 'function', name: 'nope' } }, /not in 'tools'/],
      [{ input: 'x', max_output_tokens: 0 }, /'max_output_tokens' must be at least 1/],
    ];
    for (const [body, msg] of cases) {
      const r = await post(`${url}/v1/responses`, body);
      expect([r.status, r.json?.error?.message]).toEqual([400, expect.stringMatching(msg)]);
    }
  });
});
