/** Tool-call parsing on crafted model outputs for every format, malformed ones included (plain content, never a throw). */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CallStreamer, JsonCanonicalizer, parseToolCalls, toolCallFormat, type StreamedCallFormat, type ToolCallFormat } from '../../src/generate/toolcalls.js';
import { sharedPath } from '../helpers/shared.js';

const call = (name: string, args: unknown, id?: string) => ({ name, arguments: JSON.stringify(args), ...(id !== undefined && { id }) });

describe('format from the template', () => {
  it('picks the format of the shared tool-capable templates', () => {
    const tpl = (f: string) => readFileSync(sharedPath('templates', `${f}.jinja`), 'utf8');
    expect(toolCallFormat(tpl('Qwen-Qwen2.5-7B-Instruct'))).toBe('hermes');
    expect(toolCallFormat(tpl('meta-llama-Llama-3.1-8B-Instruct'))).toBe('llama3');
    expect(toolCallFormat(tpl('mistralai-Mistral-Nemo-Instruct-2407'))).toBe('mistral');
    expect(toolCallFormat(tpl('HuggingFaceTB-SmolLM2-Instruct'))).toBe('generic');
    expect(toolCallFormat('{{ ">>>all\\n" }}')).toBe('functionary');
    expect(toolCallFormat('<|START_ACTION|>')).toBe('command-r');
  });
});

describe('parsing', () => {
  const cases: [ToolCallFormat, string, { content: string; toolCalls: unknown[] }][] = [
    ['hermes', '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>', { content: '', toolCalls: [call('get_weather', { city: 'Paris' })] }],
    [
      'hermes',
      'Let me check.\n<tool_call>\n{"name": "a", "arguments": {"x": 1}}\n</tool_call>\n<tool_call>\n{"name": "b", "arguments": {}}\n</tool_call>',
      { content: 'Let me check.', toolCalls: [call('a', { x: 1 }), call('b', {})] },
    ],
    ['hermes', '<tool_call>\n{"name": "a", "arguments": {"s": "}</tool_call>"}}', { content: '', toolCalls: [call('a', { s: '}</tool_call>' })] }],
    ['llama3', '{"name": "get_weather", "parameters": {"city": "Paris"}}', { content: '', toolCalls: [call('get_weather', { city: 'Paris' })] }],
    ['llama3', '{"type": "function", "name": "a", "parameters": {"x": 1}}; {"name": "b", "parameters": {}}', { content: '', toolCalls: [call('a', { x: 1 }), call('b', {})] }],
    ['llama3', '<|python_tag|>{"name": "a", "parameters": {"q": "x"}}', { content: '', toolCalls: [call('a', { q: 'x' })] }],
    ['llama3', '<|python_tag|>brave_search.call(query="weather in Paris", n=3)', { content: '', toolCalls: [call('brave_search', { query: 'weather in Paris', n: 3 })] }],
    [
      'mistral',
      '[TOOL_CALLS][{"name": "a", "arguments": {"x": 1}, "id": "abcdefghi"}, {"name": "b", "arguments": {"y": "z"}, "id": "123456789"}]',
      { content: '', toolCalls: [call('a', { x: 1 }, 'abcdefghi'), call('b', { y: 'z' }, '123456789')] },
    ],
    ['mistral', '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}', { content: '', toolCalls: [call('get_weather', { city: 'Paris' })] }],
    ['functionary', '>>>all\nSure.\n>>>get_weather\n{"city": "Paris"}', { content: 'Sure.', toolCalls: [call('get_weather', { city: 'Paris' })] }],
    ['functionary', 'get_weather\n{"city": "Paris"}>>>get_time\n{}', { content: '', toolCalls: [call('get_weather', { city: 'Paris' }), call('get_time', {})] }],
    ['functionary', 'Hi <function=a>{"x": 1}</function><function=b>{}</function>', { content: 'Hi', toolCalls: [call('a', { x: 1 }), call('b', {})] }],
    [
      'command-r',
      '<|START_THINKING|>I should look.<|END_THINKING|><|START_ACTION|>[{"tool_call_id": "0", "tool_name": "search", "parameters": {"q": "x"}}]<|END_ACTION|>',
      { content: '', toolCalls: [call('search', { q: 'x' }, '0')] },
    ],
    ['command-r', '<|START_RESPONSE|>Hello there.<|END_RESPONSE|>', { content: 'Hello there.', toolCalls: [] }],
    ['command-r', 'Plan: look it up.\nAction: ```json\n[{"tool_name": "search", "parameters": {"q": "x"}}]\n```', { content: 'Plan: look it up.', toolCalls: [call('search', { q: 'x' })] }],
    ['generic', '{"tool_calls": [{"name": "a", "arguments": {"x": 1}}]}', { content: '', toolCalls: [call('a', { x: 1 })] }],
    ['generic', '{"response": "Just text."}', { content: 'Just text.', toolCalls: [] }],
    ['generic', '{"name": "a", "arguments": "{\\"x\\": 2}"}', { content: '', toolCalls: [call('a', { x: 2 })] }],
    // Any format falls back to the generic shape.
    ['hermes', '{"name": "a", "arguments": {}}', { content: '', toolCalls: [call('a', {})] }],
  ];
  it.each(cases)('%s: %s', (format, text, want) => {
    expect(parseToolCalls(text, format)).toEqual(want);
  });

  const malformed: [ToolCallFormat, string][] = [
    ['hermes', '<tool_call>\n{"name": "a", "arguments": {"x": 1}\n</tool_call>'],
    ['hermes', '<tool_call>\n{"arguments": {"x": 1}}\n</tool_call>'],
    ['hermes', '<tool_call>\n{"name": "a", "arguments": [1]}\n</tool_call>'],
    ['hermes', '<tool_call>\n{"name": "a", "arguments": {}} trailing garbage'],
    ['hermes', '<tool_call>'],
    ['llama3', '{"name": "a", "parameters": {"x": 1}'],
    ['llama3', '{"type": "other", "name": "a", "parameters": {}}'],
    ['llama3', '<|python_tag|>brave_search.call(query=)'],
    ['llama3', 'The answer is {"name": 3}'],
    ['mistral', '[TOOL_CALLS][{"name": "a", "arguments": {"x": 1}'],
    ['mistral', '[TOOL_CALLS][{"arguments": {}}]'],
    ['mistral', '[TOOL_CALLS]a[ARGS]{"x": '],
    ['functionary', '>>>get weather\n{"a": 1}'],
    ['functionary', '>>>a\nnot json'],
    ['functionary', '<function=a>{"x": </function>'],
    ['command-r', '<|START_ACTION|>[{"tool_name": "a", "parameters": {]<|END_ACTION|>'],
    ['command-r', 'Action: ```json\n[{"parameters": {}}]\n```'],
    ['generic', '{"tool_calls": [{"name": "a"}, 3]}'],
    ['generic', '{"name": "a", "arguments": "not json"}'],
    ['generic', '{{{{'],
    ['generic', '"\\'],
  ];
  it.each(malformed)('malformed %s output is plain content: %s', (format, text) => {
    expect(parseToolCalls(text, format)).toEqual({ content: text, toolCalls: [] });
  });

  it('plain text is content in every format', () => {
    for (const f of ['hermes', 'llama3', 'mistral', 'functionary', 'command-r', 'generic'] as const) {
      expect(parseToolCalls('Once upon a time, a cat.', f)).toEqual({ content: 'Once upon a time, a cat.', toolCalls: [] });
    }
  });
});

describe('streaming calls (CallStreamer)', () => {
  /** Feeds the text `step` characters at a time; returns the calls told (name, arguments) and how many argument pieces came. */
  const stream = (format: StreamedCallFormat, text: string, step: number) => {
    const s = new CallStreamer(format);
    const calls: { name: string; arguments: string; ended: boolean }[] = [];
    let pieces = 0;
    for (let i = step; i < text.length + step; i += step) {
      for (const e of s.scan(text.slice(0, i))) {
        if (e.kind === 'head') calls.push({ name: e.name, arguments: '', ended: false });
        else if (e.kind === 'args') {
          calls[e.index]!.arguments += e.text;
          pieces++;
        } else calls[e.index]!.ended = true;
      }
    }
    return { calls, pieces };
  };
  const streamable: [StreamedCallFormat, ToolCallFormat, string][] = [
    ['hermes', 'hermes', 'Sure.\n<tool_call>\n{"name": "a", "arguments": {"x": 1, "s": "}</tool_call>"}}\n</tool_call>\n<tool_call>\n{"name": "b", "arguments": {}}\n</tool_call>'],
    ['llama3', 'llama3', '{"type": "function", "name": "a", "parameters": {"x": [1, 2.50, -3e2]}}; {"name": "b", "parameters": {"q": "\\u0041\\/\\n\\ud83d\\ude00 é"}}'],
    ['llama3', 'llama3', '<|python_tag|>{"name": "a", "parameters": {"q": "x"}}'],
    ['mistral', 'mistral', '[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}[TOOL_CALLS]get_time[ARGS]{ "zone" : 2 }'],
    ['functionary', 'functionary', '>>>get_weather\n{"city": "Paris"}>>>get_time\n{}'],
    ['functionary', 'functionary', '<function=a>{"x": 1}</function><function=b>{}</function>'],
    ['generic', 'generic', '{ "name" : "a" , "arguments" : { "x" : true, "y": null } }'],
    ['command-r', 'command-r', '<|START_ACTION|>[{"tool_call_id": "0", "tool_name": "search", "parameters": {"q": "x"}}, {"tool_call_id": "1", "tool_name": "b", "parameters": {}}]<|END_ACTION|>'],
  ];
  it.each(streamable)('%s: argument pieces add up to the parsed arguments, whatever the step', (sf, pf, text) => {
    const want = parseToolCalls(text, pf).toolCalls.map((c) => ({ name: c.name, arguments: c.arguments, ended: true }));
    expect(want.length).toBeGreaterThan(0);
    for (const step of [1, 2, 7, 10_000]) {
      const { calls, pieces } = stream(sf, text.slice(text.indexOf(text.match(/<tool_call>|\[TOOL_CALLS\]|>>>|<function=|\{|<\|python_tag\|>|<\|START_ACTION\|>/)![0])), step);
      expect(calls).toEqual(want);
      if (step === 1) expect(pieces).toBeGreaterThan(want.length); // fragments, not whole arguments
    }
  });

  it('forced (grammar) shapes: one call, or a list of them, spaces anywhere', () => {
    expect(stream('forced-one', '{ "name" :"a", "arguments" : {"k" : "v"} }', 1).calls).toEqual([{ name: 'a', arguments: '{"k":"v"}', ended: true }]);
    expect(stream('forced-array', '[ { "name" : "a" ,"arguments" : {"n": 1} } , {"name": "b", "arguments": {}}]', 3).calls).toEqual([
      { name: 'a', arguments: '{"n":1}', ended: true },
      { name: 'b', arguments: '{}', ended: true },
    ]);
    // Cut off: the last call's arguments are partial and it has not ended.
    expect(stream('forced-array', '[{"name": "a", "arguments": {"n": 1}}, {"name": "b", "arguments": {"n": 2', 1).calls).toEqual([
      { name: 'a', arguments: '{"n":1}', ended: true },
      { name: 'b', arguments: '{"n":', ended: false },
    ]);
  });

  it('what it cannot tell early is left to the final parse: arguments as a string, Mistral lists', () => {
    expect(stream('hermes', '<tool_call>\n{"name": "a", "arguments": "{\\"x\\": 1}"}\n</tool_call>', 1).calls).toEqual([]);
    expect(stream('mistral', '[TOOL_CALLS][{"name": "a", "arguments": {}, "id": "abcdefghi"}]', 1).calls).toEqual([]);
    // Not a call at all.
    expect(stream('generic', '{"answer": 42}', 1).calls).toEqual([]);
  });

  it('JsonCanonicalizer writes what JSON.stringify(JSON.parse(…)) writes, piece by piece', () => {
    const texts = [
      '{ "a" : [1, 2.50, -0, 1E3, 1e400], "b": "\\u0041\\/\\b\\u001f\\u00e9", "c": {"d": [true, false, null]}, "e": "\\ud83d\\ude00\\ud83d" }',
      '{"k": "\\"quoted\\" \\\\ back", "n": 12345678901234567890}',
      '[ ]',
    ];
    for (const t of texts) {
      for (const step of [1, 3, 1000]) {
        const c = new JsonCanonicalizer();
        let out = '';
        for (let i = 0; i < t.length; i += step) out += c.push(t.slice(i, i + step));
        expect(c.done).toBe(true);
        expect(out).toBe(JSON.stringify(JSON.parse(t)));
      }
    }
  });
});
