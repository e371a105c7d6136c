/**
 * Tools and tool messages through the shared tool-capable templates (Qwen2.5, Llama 3.1, Mistral
 * Nemo) equal Hugging Face's apply_chat_template(messages, tools=…, add_generation_prompt=True).
 * The expected strings are derived by hand from each template's text and Python's json.dumps
 * (`tojson`: ", " and ": " separators, `indent=4` putting every list item on its own line),
 * as the plain chat template tests are. The conversations are sent the way an OpenAI client
 * sends them (arguments as JSON text) through the chat pipeline's templateMessages.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { templateMessages } from '../../src/generate/chat.js';
import { renderChatTemplate } from '../../src/tokenizer/chat.js';
import { TokenizerError } from '../../src/tokenizer/errors.js';
import { sharedPath } from '../helpers/shared.js';

const tpl = (f: string) => readFileSync(sharedPath('templates', `${f}.jinja`), 'utf8');
const QWEN = tpl('Qwen-Qwen2.5-7B-Instruct');
const LLAMA = tpl('meta-llama-Llama-3.1-8B-Instruct');
const MISTRAL = tpl('mistralai-Mistral-Nemo-Instruct-2407');

const weather = {
  type: 'function',
  function: { name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
};
const time = { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: { zone: { type: 'integer' } } } } };
const WEATHER_JSON =
  '{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}';
const TIME_JSON = '{"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"zone": {"type": "integer"}}}}}';
const WEATHER_INDENT4 =
  '{\n    "type": "function",\n    "function": {\n        "name": "get_weather",\n        "description": "Weather of a city",\n        "parameters": {\n' +
  '            "type": "object",\n            "properties": {\n                "city": {\n                    "type": "string"\n                }\n            },\n' +
  '            "required": [\n                "city"\n            ]\n        }\n    }\n}';

const call = (id: string, city: string) => ({ id, type: 'function', function: { name: 'get_weather', arguments: `{"city": "${city}"}` } });

/** One call, its result, the generation prompt. */
const single = [
  { role: 'user', content: 'Weather in Paris?' },
  { role: 'assistant', content: null, tool_calls: [call('abcdefghi', 'Paris')] },
  { role: 'tool', tool_call_id: 'abcdefghi', content: 'sunny' },
];
/** A system message, text and two calls in one turn, two results, an answer, a new question. */
const parallel = [
  { role: 'system', content: 'Be brief.' },
  { role: 'user', content: 'Weather in Paris and Rome?' },
  { role: 'assistant', content: 'Checking.', tool_calls: [call('abcdefghi', 'Paris'), call('jklmnopqr', 'Rome')] },
  { role: 'tool', tool_call_id: 'abcdefghi', content: 'sunny' },
  { role: 'tool', tool_call_id: 'jklmnopqr', content: 'rain' },
  { role: 'assistant', content: 'Paris is sunny, Rome rainy.' },
  { role: 'user', content: 'Thanks!' },
];

const render = (template: string, messages: object[], tools: object[], tokens: { bosToken?: string; eosToken?: string } = {}) =>
  renderChatTemplate(template, templateMessages(messages.map((m) => ({ ...m, content: (m as { content: string | null }).content ?? '' })) as never), {
    addGenerationPrompt: true,
    variables: { tools },
    ...tokens,
  });

const QWEN_TOOLS = (system: string, tools: string[]) =>
  `<|im_start|>system\n${system}\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n` +
  `You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n${tools.join('\n')}\n</tools>\n\n` +
  'For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n';

describe('Qwen2.5', () => {
  it('one call and its result', () => {
    expect(render(QWEN, single, [weather])).toBe(
      QWEN_TOOLS('You are Qwen, created by Alibaba Cloud. You are a helpful assistant.', [WEATHER_JSON]) +
        '<|im_start|>user\nWeather in Paris?<|im_end|>\n<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>\n' +
        '<|im_start|>user\n<tool_response>\nsunny\n</tool_response><|im_end|>\n<|im_start|>assistant\n',
    );
  });

  it('system message, text and two calls, two results in one user turn, an answer, a new question', () => {
    expect(render(QWEN, parallel, [weather, time])).toBe(
      QWEN_TOOLS('Be brief.', [WEATHER_JSON, TIME_JSON]) +
        '<|im_start|>user\nWeather in Paris and Rome?<|im_end|>\n' +
        '<|im_start|>assistant\nChecking.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n</tool_call><|im_end|>\n' +
        '<|im_start|>user\n<tool_response>\nsunny\n</tool_response>\n<tool_response>\nrain\n</tool_response><|im_end|>\n' +
        '<|im_start|>assistant\nParis is sunny, Rome rainy.<|im_end|>\n<|im_start|>user\nThanks!<|im_end|>\n<|im_start|>assistant\n',
    );
  });
});

const LLAMA_SYSTEM = (system: string) => `<|start_header_id|>system<|end_header_id|>\n\nEnvironment: ipython\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n${system}<|eot_id|>`;
const LLAMA_TOOLS_USER = (question: string) =>
  '<|start_header_id|>user<|end_header_id|>\n\nGiven the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.\n\n' +
  `Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.Do not use variables.\n\n${WEATHER_INDENT4}\n\n${question}<|eot_id|>`;

describe('Llama 3.1', () => {
  it('tools in the first user message (indent 4), the call as JSON with "parameters", the result as an ipython turn', () => {
    expect(render(LLAMA, single, [weather], { bosToken: '<|begin_of_text|>' })).toBe(
      `<|begin_of_text|>${LLAMA_SYSTEM('')}${LLAMA_TOOLS_USER('Weather in Paris?')}` +
        '<|start_header_id|>assistant<|end_header_id|>\n\n{"name": "get_weather", "parameters": {"city": "Paris"}}<|eot_id|>' +
        // A string result goes through tojson (a str is iterable in Jinja).
        '<|start_header_id|>ipython<|end_header_id|>\n\n"sunny"<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    );
  });

  it('with a system message and the turns after the result', () => {
    const messages = [{ role: 'system', content: 'Be brief.' }, ...single, { role: 'assistant', content: 'It is sunny.' }, { role: 'user', content: 'Thanks!' }];
    expect(render(LLAMA, messages, [weather])).toBe(
      `${LLAMA_SYSTEM('Be brief.')}${LLAMA_TOOLS_USER('Weather in Paris?')}` +
        '<|start_header_id|>assistant<|end_header_id|>\n\n{"name": "get_weather", "parameters": {"city": "Paris"}}<|eot_id|>' +
        '<|start_header_id|>ipython<|end_header_id|>\n\n"sunny"<|eot_id|>' +
        '<|start_header_id|>assistant<|end_header_id|>\n\nIt is sunny.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nThanks!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    );
  });

  it('two calls in one turn is the template\'s own error ("only supports single tool-calls")', () => {
    expect(() => render(LLAMA, parallel, [weather])).toThrow(TokenizerError);
    expect(() => render(LLAMA, parallel, [weather])).toThrow(/single tool-calls/);
  });
});

const MISTRAL_TOOLS =
  '[AVAILABLE_TOOLS][{"type": "function", "function": {"name": "get_weather", "description": "Weather of a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}';

describe('Mistral Nemo', () => {
  it('tools before the last user message, calls with their 9-character ids, results', () => {
    expect(render(MISTRAL, single, [weather], { bosToken: '<s>', eosToken: '</s>' })).toBe(
      `<s>${MISTRAL_TOOLS}][/AVAILABLE_TOOLS][INST]Weather in Paris?[/INST]` +
        '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "abcdefghi"}]</s>[TOOL_RESULTS]{"content": sunny, "call_id": "abcdefghi"}[/TOOL_RESULTS]',
    );
  });

  it('system message in the last user turn, two calls (the text beside them dropped), two results, an answer', () => {
    expect(render(MISTRAL, parallel, [weather, time], { bosToken: '<s>', eosToken: '</s>' })).toBe(
      '<s>[INST]Weather in Paris and Rome?[/INST]' +
        '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Paris"}, "id": "abcdefghi"}, {"name": "get_weather", "arguments": {"city": "Rome"}, "id": "jklmnopqr"}]</s>' +
        '[TOOL_RESULTS]{"content": sunny, "call_id": "abcdefghi"}[/TOOL_RESULTS][TOOL_RESULTS]{"content": rain, "call_id": "jklmnopqr"}[/TOOL_RESULTS]' +
        'Paris is sunny, Rome rainy.</s>' +
        `${MISTRAL_TOOLS}, {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"zone": {"type": "integer"}}}}}][/AVAILABLE_TOOLS]` +
        '[INST]Be brief.\n\nThanks![/INST]',
    );
  });

  it("a call id that is not 9 characters is the template's own error", () => {
    const bad = [single[0]!, { ...single[1]!, tool_calls: [call('call_1', 'Paris')] }, { ...single[2]!, tool_call_id: 'call_1' }];
    expect(() => render(MISTRAL, bad, [weather])).toThrow(/length 9/);
  });
});
