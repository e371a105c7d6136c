/**
 * tool_choice required over seeds on a random-weight SmolLM2 fixture (49k BPE vocabulary) with
 * the Qwen2.5 template: every answer is a call whose arguments validate against the tool's schema.
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
  it('required: calls validate over seeds', async () => {
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
    } finally {
      await server.close();
      await model.dispose();
    }
  }, 120_000);
});
