/**
 * The library's chat with tools and reasoning (`model.chat(messages, { tools, toolChoice, … })`,
 * generate/chat.ts) on stories260K: calls that validate, the same answer as the server's (one
 * pipeline), deltas that add up to the message, reasoning_content, and the reasoning budget
 * (the think block closed by forced tokens after N tokens of it).
 */
import { readFileSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020.js';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChatDelta } from '../../src/generate/chat.js';
import { GenerationStream } from '../../src/generate/generate.js';
import { ReasoningBudget } from '../../src/generate/reasoning-budget.js';
import { loadModel, type Model } from '../../src/model/model.js';
import { sharedPath } from '../helpers/shared.js';
import { post, start, STORIES } from '../server/helpers.js';

const tpl = (f: string) => readFileSync(sharedPath('templates', `${f}.jinja`), 'utf8');
const QWEN = tpl('Qwen-Qwen2.5-7B-Instruct');
const LLAMA = tpl('meta-llama-Llama-3.1-8B-Instruct');
// Opens <think> in the generation prompt whatever enable_thinking says.
const ALWAYS_THINK = `{%- for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{%- endfor %}{%- if add_generation_prompt %}<|im_start|>assistant\n<think>\n{%- endif %}`;
// Opens it unless enable_thinking is false (Qwen3 style).
const QWEN3ISH = `{%- for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{%- endfor %}{%- if add_generation_prompt %}<|im_start|>assistant\n{%- if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{%- else %}<think>\n{%- endif %}{%- endif %}`;

let model: Model;
beforeAll(async () => {
  model = await loadModel(STORIES, { contextLength: 2048 });
});
afterAll(async () => {
  await model?.dispose();
});

const parameters = { type: 'object', properties: { city: { enum: ['Paris', 'Rome'] }, days: { type: 'integer', minimum: 1, maximum: 5 } }, required: ['city', 'days'], additionalProperties: false };
const tools = [{ type: 'function' as const, function: { name: 'forecast', description: 'Forecast', parameters } }];
const validate = new Ajv2020.default({ strict: false }).compile(parameters);
const user = [{ role: 'user', content: 'Forecast for Paris?' }];

/** Sums deltas into a message-like record. */
function sum(deltas: ChatDelta[]) {
  const out = { reasoning: '', content: '', calls: [] as { id?: string; name?: string; arguments: string }[] };
  for (const d of deltas) {
    if ('reasoning_content' in d) out.reasoning += d.reasoning_content;
    else if ('content' in d) out.content += d.content;
    else
      for (const t of d.tool_calls) {
        out.calls[t.index] ??= { arguments: '' };
        if (t.id) out.calls[t.index]!.id = t.id;
        if (t.function.name) out.calls[t.index]!.name = t.function.name;
        out.calls[t.index]!.arguments += t.function.arguments;
      }
  }
  return out;
}

describe('model.chat with tools', () => {
  it('required: the message has a call that validates, on Hermes and Llama 3 templates, over seeds; deltas add up to it', async () => {
    for (const template of [QWEN, LLAMA]) {
      for (const seed of [1, 2, 3]) {
        const opts = { template, tools, toolChoice: 'required' as const, parallelToolCalls: false, seed, temperature: 1, maxTokens: 120 };
        const m = await model.chat(user, opts).message;
        expect(m.content).toBeNull();
        expect(m.tool_calls).toHaveLength(1);
        const call = m.tool_calls![0]!;
        expect(call.function.name).toBe('forecast');
        expect(validate(JSON.parse(call.function.arguments))).toBe(true);
        const stream = model.chat(user, opts);
        const deltas: ChatDelta[] = [];
        for await (const d of stream.deltas()) deltas.push(d);
        const s = sum(deltas);
        expect(s.calls.map((c) => ({ name: c.name, arguments: c.arguments }))).toEqual([{ name: 'forecast', arguments: call.function.arguments }]);
        // Streamed as fragments, not one piece.
        expect(deltas.filter((d) => 'tool_calls' in d && d.tool_calls[0]!.function.arguments !== '').length).toBeGreaterThan(1);
        // The stream's message is the one its deltas told.
        expect((await stream.message).tool_calls![0]!.id).toBe(s.calls[0]!.id);
      }
    }
  });

  it('the stream is a GenerationStream: its chunks spell the text; the message is there after iterating them too', async () => {
    const opts = { template: QWEN, tools, toolChoice: 'required' as const, parallelToolCalls: false, seed: 9, temperature: 1, maxTokens: 120 };
    const stream = model.chat(user, opts);
    expect(stream).toBeInstanceOf(GenerationStream);
    let text = '';
    for await (const c of stream) text += c.text;
    expect(text).toBe((await stream.result).text);
    const m = await stream.message;
    expect(m.tool_calls!.map((c) => c.function)).toEqual((await model.chat(user, opts).message).tool_calls!.map((c) => c.function));
  });

  it('the same answer as the server for the same request (one pipeline)', async () => {
    const { server, url } = await start(model, { chatTemplate: QWEN, parallel: 1 });
    try {
      const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
      for (const seed of [4, 5]) {
        const r = await client.chat.completions.create({
          model: 'm',
          messages: [{ role: 'user', content: 'Forecast for Paris?' }],
          tools,
          tool_choice: { type: 'function', function: { name: 'forecast' } },
          parallel_tool_calls: false,
          seed,
          temperature: 1,
          max_tokens: 120,
        });
        const m = await model.chat(user, { template: QWEN, tools, toolChoice: { type: 'function', function: { name: 'forecast' } }, parallelToolCalls: false, seed, temperature: 1, maxTokens: 120 })
          .message;
        const want = r.choices[0]!.message.tool_calls!.map((c) => (c.type === 'function' ? c.function : undefined));
        expect(m.tool_calls!.map((c) => c.function)).toEqual(want);
      }
    } finally {
      await server.close();
    }
  });

  it('a round trip: the call and its result go back through the template', async () => {
    const first = await model.chat(user, { template: QWEN, tools, toolChoice: 'required', parallelToolCalls: false, seed: 1, temperature: 1, maxTokens: 120 }).message;
    const call = first.tool_calls![0]!;
    const messages = [...user, { ...first, content: first.content ?? '' }, { role: 'tool', tool_call_id: call.id, content: 'rain' }];
    const answer = await model.chat(messages, { template: QWEN, tools, temperature: 0, maxTokens: 8 }).message;
    expect(answer.tool_calls).toBeUndefined();
    expect(typeof answer.content).toBe('string');
    const r = await model.chat(messages, { template: QWEN, tools, temperature: 0, maxTokens: 8 }).result;
    expect(model.detokenize(r.promptTokens)).toContain('<tool_response>\nrain\n</tool_response>');
  });

  it('bad tool options are a RangeError naming the field', () => {
    expect(() => model.chat(user, { template: QWEN, tools: [{ type: 'retrieval' } as never] })).toThrow(/'tools\[0\].type'/);
    expect(() => model.chat(user, { template: QWEN, toolChoice: 'required' })).toThrow(/no 'tools'/);
    expect(() => model.chat(user, { template: QWEN, tools, toolChoice: 'required', jsonSchema: { type: 'object' } })).toThrow(/cannot be combined/);
    expect(() => model.chat(user, { template: QWEN, reasoningBudget: -2 })).toThrow(RangeError);
  });
});

describe('reasoning', () => {
  it('a think block the template opens is reasoning_content', async () => {
    const m = await model.chat(user, { template: ALWAYS_THINK, temperature: 0, maxTokens: 8 }).message;
    expect(m.reasoning_content?.length).toBeGreaterThan(0);
    expect(m.content).toBe('');
    const raw = await model.chat(user, { template: ALWAYS_THINK, temperature: 0, maxTokens: 8, reasoningFormat: 'none' }).message;
    expect(raw.content).toBe(m.reasoning_content);
  });

  it('budget N: N tokens of thinking, then "</think>" forced, then the answer; the first N tokens are the unbounded ones', async () => {
    const forced = model.tokenize('</think>', { addSpecial: false, parseSpecial: true });
    for (const [seed, n] of [
      [1, 3],
      [2, 5],
    ] as const) {
      const free = await model.chat(user, { template: ALWAYS_THINK, seed, temperature: 1, maxTokens: 20 }).result;
      const stream = model.chat(user, { template: ALWAYS_THINK, seed, temperature: 1, maxTokens: 20, reasoningBudget: n });
      const r = await stream.result;
      expect(r.tokens.slice(0, n)).toEqual(free.tokens.slice(0, n));
      expect(r.tokens.slice(n, n + forced.length)).toEqual(forced);
      const m = await stream.message;
      // (SentencePiece puts a space before the forced tag, as llama.cpp's tokenizer does.)
      expect(m.reasoning_content!.trim()).toBe(model.detokenize(r.tokens.slice(0, n)).trim());
      expect(r.text.length).toBeGreaterThan(m.reasoning_content!.length + '</think>'.length);
    }
    // With a message before the tag.
    const msg = ' Enough.';
    const r = await model.chat(user, { template: ALWAYS_THINK, seed: 3, temperature: 1, maxTokens: 20, reasoningBudget: 2, reasoningBudgetMessage: msg }).result;
    expect(r.tokens.slice(2, 2 + model.tokenize(`${msg}</think>`, { addSpecial: false, parseSpecial: true }).length)).toEqual(
      model.tokenize(`${msg}</think>`, { addSpecial: false, parseSpecial: true }),
    );
  });

  it('budget 0: enable_thinking false where the template reads it, else the opened block is closed at once', async () => {
    const off = await model.chat(user, { template: QWEN3ISH, temperature: 0, maxTokens: 6, reasoningBudget: 0 }).result;
    expect(model.detokenize(off.promptTokens)).toMatch(/<think>\n\n<\/think>$/);
    const forced = model.tokenize('</think>', { addSpecial: false, parseSpecial: true });
    const stream = model.chat(user, { template: ALWAYS_THINK, temperature: 0, maxTokens: 12, reasoningBudget: 0 });
    const r = await stream.result;
    expect(r.tokens.slice(0, forced.length)).toEqual(forced);
    const m = await stream.message;
    expect(m.reasoning_content).toBeUndefined();
    expect(m.content!.length).toBeGreaterThan(0);
  });

  it('through the server: reasoning_budget_tokens per request, --reasoning-budget as the default, bad values a 400', async () => {
    const { server, url } = await start(model, { chatTemplate: ALWAYS_THINK, parallel: 1, reasoningBudget: 2 });
    try {
      const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const req = { model: 'm', messages: [{ role: 'user' as const, content: 'Forecast for Paris?' }], seed: 1, temperature: 1, max_tokens: 20 };
      const lib = (n: number) => model.chat(user, { template: ALWAYS_THINK, seed: 1, temperature: 1, maxTokens: 20, reasoningBudget: n }).message;
      const dflt = (await client.chat.completions.create(req)).choices[0]!.message as { content: string; reasoning_content?: string };
      expect(dflt).toMatchObject(await lib(2));
      const own = (await client.chat.completions.create({ ...req, reasoning_budget_tokens: 4 } as never)).choices[0]!.message;
      expect(own).toMatchObject(await lib(4));
      const r = await post(`${url}/v1/chat/completions`, { ...req, reasoning_budget_tokens: -2 });
      expect([r.status, r.json.error.message]).toEqual([400, expect.stringMatching(/'reasoning_budget_tokens' must be at least -1/)]);
    } finally {
      await server.close();
    }
  });

  it('ReasoningBudget: counts inside the block only, stops at a natural close, forces at the budget, re-arms on a new block', () => {
    const b = new ReasoningBudget({ tokens: 2 }, [7, 8]);
    const run = (pieces: string[]) =>
      pieces.map((p) => {
        const f = b.next();
        b.accept(f !== undefined ? `<${f}>` : p);
        return f;
      });
    // Before <think>: nothing counted. Inside: 2 tokens, then 7 and 8 forced.
    expect(run(['a', '<th', 'ink>', 'x', 'y', 'z', 'z', 'after'])).toEqual([undefined, undefined, undefined, undefined, undefined, 7, 8, undefined]);
    // A new block that closes itself within the budget: nothing forced.
    expect(run(['<think>', 'q', '</think>', 'r', 's'])).toEqual([undefined, undefined, undefined, undefined, undefined]);
    // A character cut between tokens (empty pieces) is finished before forcing.
    expect(run(['<think>', 'x', '', '', 'é', 'w'])).toEqual([undefined, undefined, undefined, undefined, undefined, 7]);
    // Open from the prompt with budget 0: forced from the first step.
    const open = new ReasoningBudget({ tokens: 0, open: true }, [5]);
    expect(open.next()).toBe(5);
  });
});
