/**
 * Tools and reasoning in /v1/chat/completions with the openai client, on stories260K with
 * tool-capable templates (Qwen2.5 = Hermes, Llama 3.1, Mistral Nemo): required / named
 * tool_choice always give calls whose arguments validate (grammar from the tools' schemas),
 * streamed tool_calls deltas, a round trip (call, tool result, final answer), the renders of
 * tools and tool messages, and the streamed splitting of <think> and calls (ChatOutput).
 */
import { readFileSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020.js';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/model/model.js';
import type { TsinferServer } from '../../src/server/server.js';
import type { ToolCallDelta } from '../../src/generate/chat.js';
import { ChatOutput, chatExtras, type ChatDelta } from '../../src/server/tools.js';
import { renderChatTemplate } from '../../src/tokenizer/chat.js';
import { sharedPath } from '../helpers/shared.js';
import { post, start, STORIES } from './helpers.js';

const tpl = (f: string) => readFileSync(sharedPath('templates', `${f}.jinja`), 'utf8');
const QWEN = tpl('Qwen-Qwen2.5-7B-Instruct');
const LLAMA = tpl('meta-llama-Llama-3.1-8B-Instruct');
const MISTRAL = tpl('mistralai-Mistral-Nemo-Instruct-2407');

let model: Model;
const servers: TsinferServer[] = [];
const clients: Record<string, OpenAI> = {};
let qwenUrl = '';

beforeAll(async () => {
  model = await loadModel(STORIES, { contextLength: 2048 });
  for (const [name, template] of [
    ['qwen', QWEN],
    ['llama', LLAMA],
    ['mistral', MISTRAL],
  ] as const) {
    const { server, url } = await start(model, { chatTemplate: template, parallel: 1 });
    servers.push(server);
    clients[name] = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
    if (name === 'qwen') qwenUrl = url;
  }
});

afterAll(async () => {
  for (const s of servers) await s.close();
  await model?.dispose();
});

const weather = {
  type: 'function' as const,
  function: {
    name: 'get_weather',
    description: 'Weather of a city',
    parameters: { type: 'object', properties: { city: { enum: ['Paris', 'Rome'] }, celsius: { type: 'boolean' } }, required: ['city', 'celsius'], additionalProperties: false },
  },
};
const time = {
  type: 'function' as const,
  function: { name: 'get_time', parameters: { type: 'object', properties: { zone: { type: 'integer', minimum: -12, maximum: 12 } }, required: ['zone'], additionalProperties: false } },
};
const tools = [weather, time];
const ajv = new Ajv2020.default({ strict: false });
const validators = Object.fromEntries(tools.map((t) => [t.function.name, ajv.compile(t.function.parameters)]));
const user = [{ role: 'user' as const, content: 'What is the weather in Paris?' }];

describe('tool_choice required / named', () => {
  it('required: every seed gives calls whose arguments validate, on each template', async () => {
    for (const name of ['qwen', 'llama', 'mistral']) {
      for (const seed of [1, 2, 3]) {
        const r = await clients[name]!.chat.completions.create({ model: 'm', messages: user, tools, tool_choice: 'required', parallel_tool_calls: false, seed, temperature: 1, max_tokens: 200 });
        const c = r.choices[0]!;
        expect(c.finish_reason, `${name} seed ${seed}: ${JSON.stringify(c.message)}`).toBe('tool_calls');
        expect(c.message.tool_calls).toHaveLength(1);
        const call = c.message.tool_calls![0]!;
        if (call.type !== 'function') throw new Error('not a function call');
        expect(validators[call.function.name]!(JSON.parse(call.function.arguments))).toBe(true);
        expect(call.id).toMatch(name === 'mistral' ? /^[A-Za-z0-9]{9}$/ : /^call_/);
        expect(c.message.content).toBeNull();
      }
    }
  });

  it('a named function is always that function', async () => {
    for (const seed of [4, 5, 6]) {
      const r = await clients.qwen!.chat.completions.create({
        model: 'm',
        messages: user,
        tools,
        tool_choice: { type: 'function', function: { name: 'get_time' } },
        parallel_tool_calls: false,
        seed,
        temperature: 1,
        max_tokens: 300,
      });
      const calls = r.choices[0]!.message.tool_calls ?? [];
      expect(calls.length, JSON.stringify(r.choices[0])).toBeGreaterThan(0);
      for (const c of calls) {
        if (c.type !== 'function') throw new Error('not a function call');
        expect(c.function.name).toBe('get_time');
        expect(validators.get_time!(JSON.parse(c.function.arguments))).toBe(true);
      }
    }
  });

  it('tool schemas with their own $defs / $ref (as pydantic writes them) constrain and validate', async () => {
    const params = {
      $defs: {
        Unit: { enum: ['C', 'F'] },
        Place: { type: 'object', properties: { city: { enum: ['Oslo', 'Lima'] }, unit: { $ref: '#/$defs/Unit' } }, required: ['city', 'unit'], additionalProperties: false },
      },
      type: 'object',
      properties: { place: { $ref: '#/$defs/Place' } },
      required: ['place'],
      additionalProperties: false,
    };
    const validate = ajv.compile(params);
    const tool = { type: 'function' as const, function: { name: 'forecast', parameters: params } };
    for (const seed of [1, 2]) {
      const r = await clients.qwen!.chat.completions.create({
        model: 'm',
        messages: user,
        tools: [tool, time],
        tool_choice: { type: 'function', function: { name: 'forecast' } },
        parallel_tool_calls: false,
        seed,
        temperature: 1,
        max_tokens: 200,
      });
      const call = r.choices[0]!.message.tool_calls![0]!;
      if (call.type !== 'function') throw new Error('not a function call');
      expect(validate(JSON.parse(call.function.arguments)), call.function.arguments).toBe(true);
    }
  });

  it('streamed: tool_calls deltas (id and name, then argument fragments) add up to the non-streamed calls', async () => {
    const req = { model: 'm', messages: user, tools, tool_choice: 'required' as const, parallel_tool_calls: false, seed: 7, temperature: 1, max_tokens: 200 };
    const plain = await clients.llama!.chat.completions.create(req);
    const s = await clients.llama!.chat.completions.create({ ...req, stream: true });
    const calls: { id?: string; name?: string; args: string }[] = [];
    let finish: string | null = null;
    let fragments = 0;
    for await (const ch of s) {
      for (const d of ch.choices[0]?.delta.tool_calls ?? []) {
        if (d.function?.arguments) fragments++;
        calls[d.index] ??= { args: '' };
        if (d.id) calls[d.index]!.id = d.id;
        if (d.function?.name) calls[d.index]!.name = d.function.name;
        calls[d.index]!.args += d.function?.arguments ?? '';
      }
      finish = ch.choices[0]?.finish_reason ?? finish;
    }
    expect(finish).toBe('tool_calls');
    const want = plain.choices[0]!.message.tool_calls!.map((c) => (c.type === 'function' ? { name: c.function.name, args: c.function.arguments } : {}));
    expect(calls.map((c) => ({ name: c.name, args: c.args }))).toEqual(want);
    expect(calls[0]!.id).toMatch(/^call_/);
    // The arguments came in fragments as they were generated, after a first delta with the id and name.
    expect(fragments).toBeGreaterThan(1);
  });

  it('round trip: call, tool result, final answer (streamed and not), on each template', async () => {
    for (const name of ['qwen', 'llama', 'mistral']) {
      const client = clients[name]!;
      const first = await client.chat.completions.create({
        model: 'm',
        messages: user,
        tools,
        tool_choice: { type: 'function', function: { name: 'get_weather' } },
        parallel_tool_calls: false,
        seed: 2,
        max_tokens: 200,
      });
      const call = first.choices[0]!.message.tool_calls![0]!;
      const messages = [...user, first.choices[0]!.message, { role: 'tool' as const, tool_call_id: call.id, content: 'sunny, 24 degrees' }];
      const final = await client.chat.completions.create({ model: 'm', messages, tools, seed: 2, temperature: 0, max_tokens: 12 });
      expect(final.choices[0]!.finish_reason).not.toBe('tool_calls');
      expect(typeof final.choices[0]!.message.content).toBe('string');
      // The tool's result is in the prompt: it is longer than the same turn without it.
      const without = await client.chat.completions.create({ model: 'm', messages: messages.slice(0, 2), tools, temperature: 0, max_tokens: 1 });
      expect(final.usage!.prompt_tokens).toBeGreaterThan(without.usage!.prompt_tokens);
      const s = await client.chat.completions.create({ model: 'm', messages, tools, seed: 2, temperature: 0, max_tokens: 12, stream: true });
      let text = '';
      for await (const ch of s) text += ch.choices[0]?.delta.content ?? '';
      expect(text).toBe(final.choices[0]!.message.content);
    }
  });

  it('bad tools and tool_choice are a 400 naming the field', async () => {
    const cases: [unknown, RegExp][] = [
      [{ tools: [{ type: 'retrieval' }] }, /'tools\[0\].type'/],
      [{ tools: [weather], tool_choice: { type: 'function', function: { name: 'nope' } } }, /not in 'tools'/],
      [{ tool_choice: 'required' }, /no 'tools'/],
      [{ tools: [weather], tool_choice: 'always' }, /'tool_choice' must be/],
      [{ tools: [weather], tool_choice: 'required', response_format: { type: 'json_object' } }, /cannot be combined/],
      [{ tools: [weather, weather] }, /two tools/],
      [{ reasoning_format: 'xml' }, /'reasoning_format'/],
    ];
    for (const [extra, msg] of cases) {
      const r = await post(`${qwenUrl}/v1/chat/completions`, { messages: user, ...(extra as object) });
      expect([r.status, r.json.error.message]).toEqual([400, expect.stringMatching(msg)]);
    }
  });
});

describe('renders of tools and tool messages', () => {
  // Expected strings derived by hand from each template's text (the same way as the chat template tests).
  const tool = { type: 'function', function: { name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } };
  const msgs = [
    { role: 'user', content: 'Weather in Paris?' },
    { role: 'assistant', content: '', tool_calls: [{ id: 'abcdefghi', type: 'function', function: { name: 'get_weather', arguments: { city: 'Paris' } } }] },
    { role: 'tool', tool_call_id: 'abcdefghi', content: 'sunny' },
  ];
  const render = (t: string) => renderChatTemplate(t, msgs, { addGenerationPrompt: true, variables: { tools: [tool] } });
  const toolJson =
    '{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}';

  it('Qwen2.5', () => {
    expect(render(QWEN)).toBe(
      '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n' +
        `You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n${toolJson}\n</tools>\n\n` +
        'For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n' +
        '<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>\n' +
        '<|im_start|>user\n<tool_response>\nsunny\n</tool_response><|im_end|>\n<|im_start|>assistant\n',
    );
  });

  it('Mistral Nemo', () => {
    expect(render(MISTRAL)).toBe(
      `[AVAILABLE_TOOLS][${toolJson}][/AVAILABLE_TOOLS][INST]Weather in Paris?[/INST]` +
        '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "abcdefghi"}][TOOL_RESULTS]{"content": sunny, "call_id": "abcdefghi"}[/TOOL_RESULTS]',
    );
  });

  it('Llama 3.1 (tools in the first user message, the result as an ipython turn)', () => {
    const out = render(LLAMA);
    expect(out.startsWith('<|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>')).toBe(true);
    expect(out).toContain('Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.Do not use variables.\n\n{\n    "type": "function",\n');
    expect(
      out.endsWith(
        'Weather in Paris?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n{"name": "get_weather", "parameters": {"city": "Paris"}}<|eot_id|><|start_header_id|>ipython<|end_header_id|>\n\n"sunny"<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
      ),
    ).toBe(true);
  });
});

describe('ChatOutput: reasoning and calls from streamed text', () => {
  const run = (x: ReturnType<typeof chatExtras>, text: string, thinkingOpen = false, step = 1) => {
    const out = new ChatOutput(x, thinkingOpen);
    const deltas: ChatDelta[] = [];
    for (let i = 0; i < text.length; i += step) deltas.push(...out.push(text.slice(i, i + step)));
    deltas.push(...out.end());
    const sum = { reasoning: '', content: '', calls: 0 };
    for (const d of deltas) {
      if ('reasoning_content' in d) sum.reasoning += d.reasoning_content;
      if ('content' in d) sum.content += d.content;
      if ('tool_calls' in d && (d.tool_calls[0] as { id?: string }).id) sum.calls++;
    }
    return { out, sum };
  };
  const plainX = (body: object = {}, template = QWEN) => chatExtras(body as never, template);

  it('<think>…</think> goes to reasoning_content, the rest to content (Qwen3 style), piece by piece', () => {
    for (const step of [1, 3, 100]) {
      const { out, sum } = run(plainX(), '<think>\nThe user wants a story.\n</think>\n\nOnce upon a time.', false, step);
      expect(sum).toEqual({ reasoning: 'The user wants a story.\n', content: 'Once upon a time.', calls: 0 });
      expect(out.message()).toEqual({ role: 'assistant', content: 'Once upon a time.', reasoning_content: 'The user wants a story.\n' });
    }
    // The template opened <think> itself: the output starts inside it.
    expect(run(plainX(), 'Hmm.</think>Hello.', true).sum).toEqual({ reasoning: 'Hmm.', content: 'Hello.', calls: 0 });
    // reasoning_format none keeps it in the content.
    expect(run(plainX({ reasoning_format: 'none' }), '<think>a</think>b').sum).toEqual({ reasoning: '', content: '<think>a</think>b', calls: 0 });
    // Cut off while thinking: all reasoning. No think at all: all content.
    expect(run(plainX(), '<think>still going').sum).toEqual({ reasoning: 'still going', content: '', calls: 0 });
    expect(run(plainX(), 'Just <think>text').sum).toEqual({ reasoning: '', content: 'Just <think>text', calls: 0 });
  });

  it('auto: Hermes calls after reasoning become tool_calls; plain text streams as content', () => {
    const x = plainX({ tools: [weather] });
    const text =
      '<think>Need weather.</think>\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome", "celsius": true}}\n</tool_call>\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "celsius": false}}\n</tool_call>';
    const { out, sum } = run(x, text);
    expect(sum).toEqual({ reasoning: 'Need weather.', content: '', calls: 2 });
    expect(out.toolCalls.map((c) => JSON.parse(c.function.arguments))).toEqual([
      { city: 'Rome', celsius: true },
      { city: 'Paris', celsius: false },
    ]);
    expect(run(plainX({ tools: [weather], parallel_tool_calls: false }), text).sum.calls).toBe(1);
    const prose = run(x, 'It is sunny.');
    expect(prose.sum).toEqual({ reasoning: '', content: 'It is sunny.', calls: 0 });
    // A call after streamed text: the text streams, the call is parsed at the end, piece by piece or whole.
    for (const step of [1, 4, 1000]) {
      const mid = run(x, 'Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome", "celsius": true}}\n</tool_call>', false, step);
      expect(mid.sum.calls).toBe(1);
      expect(mid.out.message().content).toBe('Let me check.');
      // A '<' that begins no marker is sent once it is known (here at the end).
      expect(run(x, 'if a <', false, step).sum).toEqual({ reasoning: '', content: 'if a <', calls: 0 });
    }
    // Malformed call text is content.
    // (A call whose head streamed before the text broke off was sent as a call start; the message has the text as content and no call.)
    const cut = '<tool_call>\n{"name": "get_weather", "arguments": {';
    expect(run(x, cut).out.message()).toEqual({ role: 'assistant', content: cut });
    expect(run(x, cut, false, 1000).out.message()).toEqual({ role: 'assistant', content: cut });
    // tool_choice none: never parsed.
    expect(run(plainX({ tools: [weather], tool_choice: 'none' }), '<tool_call>\n{"name": "get_weather", "arguments": {}}\n</tool_call>').sum.calls).toBe(0);
  });

  it('auto: call arguments stream in fragments after a delta with the id and name (Hermes, Llama 3), adding up to the message', () => {
    for (const [template, text] of [
      [QWEN, 'Sure.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome", "celsius": true}}\n</tool_call>'],
      [LLAMA, '{"name": "get_weather", "parameters": {"city": "Rome", "celsius": true}}'],
    ] as const) {
      const out = new ChatOutput(plainX({ tools: [weather] }, template));
      const deltas: ChatDelta[] = [];
      for (const ch of text) deltas.push(...out.push(ch));
      const beforeEnd = deltas.length;
      deltas.push(...out.end());
      const calls = deltas.filter((d): d is { tool_calls: ToolCallDelta[] } => 'tool_calls' in d).map((d) => d.tool_calls[0]!);
      expect(calls[0]).toMatchObject({ index: 0, id: expect.stringMatching(/^call_/), function: { name: 'get_weather', arguments: '' } });
      expect(
        calls
          .slice(1)
          .map((c) => c.function.arguments)
          .join(''),
      ).toBe('{"city":"Rome","celsius":true}');
      expect(calls.length).toBeGreaterThan(5);
      // All of it was told before the end.
      expect(deltas.slice(beforeEnd).filter((d) => 'tool_calls' in d)).toEqual([]);
      expect(out.message().tool_calls).toEqual([{ id: calls[0]!.id, type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome","celsius":true}' } }]);
    }
  });

  it('Command-R: a thinking block before the action is neither content nor streamed as such; the call is parsed', () => {
    const x = plainX({ tools: [weather] }, '<|START_ACTION|>');
    const text = '<|START_THINKING|>I should look.<|END_THINKING|><|START_ACTION|>[{"tool_call_id": "0", "tool_name": "get_weather", "parameters": {"city": "Rome"}}]<|END_ACTION|>';
    for (const step of [1, 5, 1000]) {
      const { out, sum } = run(x, text, false, step);
      expect(sum).toEqual({ reasoning: '', content: '', calls: 1 });
      expect(out.message().tool_calls![0]!.function).toEqual({ name: 'get_weather', arguments: '{"city":"Rome"}' });
    }
  });

  it('Mistral and Llama 3 formats from their templates', () => {
    expect(run(plainX({ tools: [weather] }, MISTRAL), '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Rome"}, "id": "a1b2c3d4e"}]').out.toolCalls).toEqual([
      { id: 'a1b2c3d4e', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
    ]);
    expect(run(plainX({ tools: [weather] }, LLAMA), '{"name": "get_weather", "parameters": {"city": "Rome"}}').sum.calls).toBe(1);
  });
});

describe('reasoning through the server (Qwen3-style template)', () => {
  // Opens <think> in the generation prompt unless enable_thinking is false (then an empty think block).
  const THINK = `{%- for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{%- endfor %}{%- if add_generation_prompt %}<|im_start|>assistant\n{%- if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{%- else %}<think>\n{%- endif %}{%- endif %}`;
  it('output after an opened <think> is reasoning_content; enable_thinking false or reasoning_format none give content', async () => {
    const { server, url } = await start(model, { chatTemplate: THINK, parallel: 1 });
    try {
      const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const req = { model: 'm', messages: user, max_tokens: 8, temperature: 0 };
      const thinking = await client.chat.completions.create(req);
      const msg = thinking.choices[0]!.message as { content: string | null; reasoning_content?: string };
      expect(msg.reasoning_content?.length).toBeGreaterThan(0);
      expect(msg.content).toBe('');
      const raw = await client.chat.completions.create({ ...req, reasoning_format: 'none' } as never);
      expect(raw.choices[0]!.message.content).toBe(msg.reasoning_content);
      const off = await client.chat.completions.create({ ...req, chat_template_kwargs: { enable_thinking: false } } as never);
      expect((off.choices[0]!.message as { reasoning_content?: string }).reasoning_content).toBeUndefined();
      expect(off.usage!.prompt_tokens).toBeGreaterThan(thinking.usage!.prompt_tokens);
      // Constrained output is the answer itself, even after an opened <think>.
      const json = await client.chat.completions.create({
        ...req,
        max_tokens: 60,
        seed: 1,
        temperature: 1,
        response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { enum: ['yes', 'no'] } } },
      });
      expect(JSON.parse(json.choices[0]!.message.content!)).toMatch(/^(yes|no)$/);
      const s = await client.chat.completions.create({ ...req, stream: true });
      let streamed = '';
      for await (const ch of s) streamed += (ch.choices[0]?.delta as { reasoning_content?: string } | undefined)?.reasoning_content ?? '';
      expect(streamed).toBe(msg.reasoning_content);
    } finally {
      await server.close();
    }
  });
});
