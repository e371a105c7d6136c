/**
 * tool_choice required and named over seeds on a random-weight SmolLM2 fixture (49k BPE
 * vocabulary, whose tokens often hold several JSON characters) with the Qwen2.5 template: every
 * answer is a call whose arguments validate against the tool's schema; streamed, the argument
 * fragments add up to the same arguments, in chat completions and in /v1/responses.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/model/model.js';
import { REPO_ROOT, sharedPath } from '../helpers/shared.js';
import { start } from './helpers.js';

const SMOLLM = path.join(REPO_ROOT, 'fixtures', 'generated', 'smollm2-135m-1l-q8_0.gguf');

describe.skipIf(!existsSync(SMOLLM) && !process.env.CI)('tools on SmolLM2 1-layer', () => {
  it('required and named: calls validate over seeds; streamed fragments add up to them (chat and responses)', async () => {
    const model = await loadModel(SMOLLM, { contextLength: 1024, backend: 'wasm', threads: 1 });
    const { server, url } = await start(model, { chatTemplate: readFileSync(sharedPath('templates', 'Qwen-Qwen2.5-7B-Instruct.jinja'), 'utf8'), parallel: 1 });
    try {
      const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const parameters = {
        type: 'object',
        properties: { city: { enum: ['Paris', 'Rome'] }, days: { type: 'integer', minimum: 1, maximum: 7 } },
        required: ['city', 'days'],
        additionalProperties: false,
      };
      const validate = new Ajv2020.default({ strict: false }).compile(parameters);
      for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
        const r = await client.chat.completions.create({
          model: 'm',
          messages: [{ role: 'user', content: 'Forecast for Paris?' }],
          tools: [{ type: 'function', function: { name: 'forecast', parameters } }],
          tool_choice: 'required',
          parallel_tool_calls: false,
          seed,
          temperature: 1,
          max_tokens: 120,
        });
        const c = r.choices[0]!;
        expect(c.finish_reason, JSON.stringify(c.message)).toBe('tool_calls');
        const call = c.message.tool_calls![0]!;
        if (call.type !== 'function') throw new Error('not a function call');
        expect(call.function.name).toBe('forecast');
        expect(validate(JSON.parse(call.function.arguments))).toBe(true);
      }
      const tools = [
        { type: 'function' as const, function: { name: 'forecast', parameters } },
        { type: 'function' as const, function: { name: 'noop', parameters: { type: 'object' } } },
      ];
      for (const seed of [11, 12, 13]) {
        const req = {
          model: 'm',
          messages: [{ role: 'user' as const, content: 'Forecast?' }],
          tools,
          tool_choice: { type: 'function' as const, function: { name: 'forecast' } },
          seed,
          temperature: 1,
          max_tokens: 120,
        };
        const r = await client.chat.completions.create({ ...req, parallel_tool_calls: false });
        const call = r.choices[0]!.message.tool_calls![0]!;
        if (call.type !== 'function') throw new Error('not a function call');
        expect(call.function.name).toBe('forecast');
        expect(validate(JSON.parse(call.function.arguments))).toBe(true);
        let args = '';
        for await (const ch of await client.chat.completions.create({ ...req, parallel_tool_calls: false, stream: true })) {
          for (const d of ch.choices[0]?.delta.tool_calls ?? []) args += d.function?.arguments ?? '';
        }
        expect(args).toBe(call.function.arguments);
        // The same through /v1/responses, streamed.
        const resp = await client.responses
          .stream({
            model: 'm',
            input: 'Forecast?',
            tools: tools.map((t) => ({ type: 'function' as const, name: t.function.name, parameters: t.function.parameters, strict: true })),
            tool_choice: { type: 'function', name: 'forecast' },
            parallel_tool_calls: false,
            temperature: 1,
            max_output_tokens: 120,
            seed,
          } as never)
          .finalResponse();
        const item = resp.output.find((o) => o.type === 'function_call');
        if (item?.type !== 'function_call') throw new Error(`no call: ${JSON.stringify(resp.output)}`);
        expect(item.arguments).toBe(call.function.arguments);
      }
    } finally {
      await server.close();
      await model.dispose();
    }
  }, 240_000);
});
