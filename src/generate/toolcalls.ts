/**
 * Tool calls parsed out of a model's text, in the formats real chat templates teach:
 *
 *   hermes       Hermes / Qwen2.5 / Qwen3: `<tool_call>\n{"name": …, "arguments": {…}}\n</tool_call>`, repeated
 *   llama3       Llama 3.x: a bare `{"name": …, "parameters": {…}}` (or `"type": "function"` beside it),
 *                calls separated by `;`, or `<|python_tag|>` before JSON or a `tool.call(k="v", …)` builtin call
 *   mistral      Mistral / Nemo: `[TOOL_CALLS][{"name": …, "arguments": {…}, "id": "…"}]`, or the newer
 *                `[TOOL_CALLS]name[ARGS]{…}` per call
 *   functionary  functionary v3.2 `>>>name\n{…}` (`>>>all\n` is text) and v3.1 `<function=name>{…}</function>`
 *   command-r    Command R7B `<|START_ACTION|>[{"tool_call_id", "tool_name", "parameters"}]<|END_ACTION|>`
 *                (text in `<|START_RESPONSE|>…<|END_RESPONSE|>`), and Command R+ `Action: ```json [...]````
 *   generic      llama.cpp's generic shape `{"tool_calls": [{"name", "arguments"}]}` / `{"response": "…"}`,
 *                or one bare `{"name", "arguments"|"parameters"}` object
 *
 * The format is picked from the chat template (`toolCallFormat`); every format falls back to the
 * generic one. Nothing here throws on model output: text that does not parse as the format's calls
 * (bad JSON, a call without a name, unclosed markers with garbage) is returned as plain content
 * with no calls.
 */

export type ToolCallFormat = 'hermes' | 'llama3' | 'mistral' | 'functionary' | 'command-r' | 'generic';

export interface ParsedToolCall {
  name: string;
  /** The arguments as JSON text (an object). */
  arguments: string;
  /** The id the model wrote (Mistral, Command R), if any. */
  id?: string;
}

export interface ParsedToolOutput {
  /** The text outside the calls (the whole text when no call was parsed). */
  content: string;
  toolCalls: ParsedToolCall[];
}

/** The tool-call format a chat template teaches, from markers in its text. */
export function toolCallFormat(template: string | undefined): ToolCallFormat {
  const t = template ?? '';
  if (t.includes('<tool_call>')) return 'hermes';
  if (t.includes('[TOOL_CALLS]')) return 'mistral';
  if (t.includes('>>>all') || t.includes('<function=')) return 'functionary';
  if (t.includes('<|START_ACTION|>') || (t.includes('<|CHATBOT_TOKEN|>') && t.includes('Action:'))) return 'command-r';
  if (t.includes('<|python_tag|>') || t.includes('<|start_header_id|>ipython') || (t.includes('<|start_header_id|>') && t.includes('"parameters"'))) return 'llama3';
  return 'generic';
}

const plain = (text: string): ParsedToolOutput => ({ content: text, toolCalls: [] });

function parseJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** A call object `{name, arguments | parameters}` (arguments an object or JSON text of one); undefined when it is not one. */
export function callFromObject(v: unknown, keys: { name?: string; args?: string[]; id?: string } = {}): ParsedToolCall | undefined {
  if (!isObject(v) || (v.type !== undefined && v.type !== 'function')) return undefined;
  const fn = isObject(v.function) ? v.function : v; // OpenAI's {type, function: {name, arguments}}
  const name = fn[keys.name ?? 'name'];
  if (typeof name !== 'string' || name === '') return undefined;
  let args: unknown = {};
  for (const k of keys.args ?? ['arguments', 'parameters']) {
    if (fn[k] !== undefined) {
      args = fn[k];
      break;
    }
  }
  if (typeof args === 'string') args = parseJson(args);
  if (!isObject(args)) return undefined;
  const id = v[keys.id ?? 'id'];
  return { name, arguments: JSON.stringify(args), ...(typeof id === 'string' || typeof id === 'number' ? { id: String(id) } : {}) };
}

function callsFrom(list: unknown, keys?: Parameters<typeof callFromObject>[1]): ParsedToolCall[] | undefined {
  const items = Array.isArray(list) ? list : [list];
  if (items.length === 0) return undefined;
  const calls: ParsedToolCall[] = [];
  for (const it of items) {
    const c = callFromObject(it, keys);
    if (!c) return undefined;
    calls.push(c);
  }
  return calls;
}

/**
 * The longest JSON value at the start of `s` (after spaces): its value and where it ends, or
 * undefined. Scans brackets and strings, then JSON.parse decides.
 */
export function leadingJson(s: string, from = 0): { value: unknown; end: number } | undefined {
  let i = from;
  while (i < s.length && /\s/.test(s[i]!)) i++;
  const open = s[i];
  if (open !== '{' && open !== '[') return undefined;
  let depth = 0;
  let inString = false;
  for (let j = i; j < s.length; j++) {
    const c = s[j]!;
    if (inString) {
      if (c === '\\') j++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) {
        const value = parseJson(s.slice(i, j + 1));
        return value === undefined ? undefined : { value, end: j + 1 };
      }
    }
  }
  return undefined;
}

const joinText = (...parts: string[]) =>
  parts
    .map((p) => p.trim())
    .filter((p) => p !== '')
    .join('\n');

function hermes(text: string): ParsedToolOutput | undefined {
  const open = '<tool_call>';
  const close = '</tool_call>';
  if (!text.includes(open)) return undefined;
  const calls: ParsedToolCall[] = [];
  const outside: string[] = [];
  let at = 0;
  for (;;) {
    const start = text.indexOf(open, at);
    if (start < 0) break;
    outside.push(text.slice(at, start));
    const json = leadingJson(text, start + open.length);
    if (!json) return undefined;
    const call = callFromObject(json.value);
    if (!call) return undefined;
    calls.push(call);
    let rest = json.end;
    while (rest < text.length && /\s/.test(text[rest]!)) rest++;
    if (text.startsWith(close, rest)) rest += close.length;
    else if (text.slice(rest).trim() !== '') return undefined; // only the last call may lack its closing tag
    at = rest;
  }
  outside.push(text.slice(at));
  return { content: joinText(...outside), toolCalls: calls };
}

/** Python-style keyword arguments `k="v", n=3` (values as JSON literals); undefined when not that. */
function keywordArgs(s: string): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  let i = 0;
  while (i < s.length) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*/.exec(s.slice(i));
    if (!m) return s.slice(i).trim() === '' ? out : undefined;
    i += m[0].length;
    const rest = s.slice(i);
    const str = /^"(?:[^"\\]|\\.)*"/.exec(rest) ?? /^'(?:[^'\\]|\\.)*'/.exec(rest);
    let value: unknown;
    if (str) {
      value = str[0].startsWith("'") ? str[0].slice(1, -1).replace(/\\'/g, "'") : parseJson(str[0]);
      i += str[0].length;
    } else {
      const json = leadingJson(s, i);
      if (json) {
        value = json.value;
        i = json.end;
      } else {
        const lit = /^(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|True|False|None|null)/.exec(rest);
        if (!lit) return undefined;
        value = lit[0] === 'True' ? true : lit[0] === 'False' ? false : lit[0] === 'None' ? null : JSON.parse(lit[0]);
        i += lit[0].length;
      }
    }
    if (value === undefined) return undefined;
    out[m[1]!] = value;
    const comma = /^\s*,?/.exec(s.slice(i))!;
    i += comma[0].length;
  }
  return out;
}

function llama3(text: string): ParsedToolOutput | undefined {
  const tag = '<|python_tag|>';
  const t = text.indexOf(tag);
  const before = t >= 0 ? text.slice(0, t) : '';
  const body = (t >= 0 ? text.slice(t + tag.length) : text).trim();
  if (t >= 0) {
    const builtin = /^([A-Za-z_][A-Za-z0-9_]*)\.call\(([\s\S]*)\)\s*$/.exec(body);
    if (builtin) {
      const args = keywordArgs(builtin[2]!);
      return args ? { content: before.trim(), toolCalls: [{ name: builtin[1]!, arguments: JSON.stringify(args) }] } : undefined;
    }
  } else if (!body.startsWith('{')) return undefined;
  // One or more objects, separated by ';' (or nothing but spaces).
  const calls: ParsedToolCall[] = [];
  let at = 0;
  while (at < body.length) {
    const json = leadingJson(body, at);
    if (!json) return undefined;
    const call = callFromObject(json.value, { args: ['parameters', 'arguments'] });
    if (!call) return undefined;
    calls.push(call);
    at = json.end;
    const sep = /^\s*;?\s*/.exec(body.slice(at))!;
    at += sep[0].length;
  }
  return calls.length > 0 ? { content: before.trim(), toolCalls: calls } : undefined;
}

function mistral(text: string): ParsedToolOutput | undefined {
  const tag = '[TOOL_CALLS]';
  const t = text.indexOf(tag);
  if (t < 0) return undefined;
  const before = text.slice(0, t);
  const after = text.slice(t + tag.length);
  const json = leadingJson(after);
  if (json) {
    const calls = callsFrom(json.value);
    return calls && after.slice(json.end).trim() === '' ? { content: before.trim(), toolCalls: calls } : undefined;
  }
  // `[TOOL_CALLS]name[ARGS]{…}` (repeated, each after its own [TOOL_CALLS]).
  const calls: ParsedToolCall[] = [];
  for (const part of after.split(tag)) {
    const m = /^\s*([A-Za-z0-9_.-]+)\s*\[ARGS\]/.exec(part);
    if (!m) return undefined;
    const args = leadingJson(part, m[0].length);
    if (!args || !isObject(args.value) || part.slice(args.end).trim() !== '') return undefined;
    calls.push({ name: m[1]!, arguments: JSON.stringify(args.value) });
  }
  return { content: before.trim(), toolCalls: calls };
}

function functionary(text: string): ParsedToolOutput | undefined {
  if (text.includes('<function=')) {
    const calls: ParsedToolCall[] = [];
    const outside: string[] = [];
    let at = 0;
    for (;;) {
      const start = text.indexOf('<function=', at);
      if (start < 0) break;
      outside.push(text.slice(at, start));
      const m = /^<function=([^>\s]+)>/.exec(text.slice(start));
      if (!m) return undefined;
      const json = leadingJson(text, start + m[0].length);
      if (!json || !isObject(json.value)) return undefined;
      calls.push({ name: m[1]!, arguments: JSON.stringify(json.value) });
      at = json.end;
      const close = /^\s*<\/function>/.exec(text.slice(at));
      if (close) at += close[0].length;
    }
    outside.push(text.slice(at));
    return { content: joinText(...outside), toolCalls: calls };
  }
  if (!text.includes('>>>')) return undefined;
  const calls: ParsedToolCall[] = [];
  const content: string[] = [];
  // v3.2: the first segment may lack its `>>>` (the template's generation prompt ends with it).
  const segments = text.split('>>>');
  for (const [i, seg] of segments.entries()) {
    if (i === 0 && seg.trim() === '') continue;
    const nl = seg.indexOf('\n');
    const name = (nl < 0 ? seg : seg.slice(0, nl)).trim();
    const body = nl < 0 ? '' : seg.slice(nl + 1);
    if (name === 'all') {
      content.push(body);
      continue;
    }
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) return undefined;
    const json = leadingJson(body);
    if (!json || !isObject(json.value) || body.slice(json.end).trim() !== '') return undefined;
    calls.push({ name, arguments: JSON.stringify(json.value) });
  }
  return calls.length > 0 ? { content: joinText(...content), toolCalls: calls } : undefined;
}

function commandR(text: string): ParsedToolOutput | undefined {
  const keys = { name: 'tool_name', args: ['parameters', 'arguments'], id: 'tool_call_id' };
  const action = /<\|START_ACTION\|>([\s\S]*?)(?:<\|END_ACTION\|>|$)/.exec(text);
  const response = /<\|START_RESPONSE\|>([\s\S]*?)(?:<\|END_RESPONSE\|>|$)/.exec(text);
  if (action) {
    const json = leadingJson(action[1]!);
    const calls = json && action[1]!.slice(json.end).trim() === '' ? callsFrom(json.value, keys) : undefined;
    if (!calls) return undefined;
    return { content: response ? response[1]!.trim() : '', toolCalls: calls };
  }
  if (response) return { content: response[1]!.trim(), toolCalls: [] };
  // Command R+: Action: ```json [ {tool_name, parameters} ] ```
  const plus = /Action:\s*```(?:json)?\s*([\s\S]*?)```/.exec(text);
  if (plus) {
    const v = parseJson(plus[1]!.trim());
    const calls = v !== undefined ? callsFrom(v, keys) : undefined;
    return calls ? { content: text.slice(0, plus.index).trim(), toolCalls: calls } : undefined;
  }
  return undefined;
}

function generic(text: string): ParsedToolOutput | undefined {
  const json = leadingJson(text);
  if (!json || text.slice(json.end).trim() !== '') return undefined;
  const v = json.value;
  if (isObject(v) && Array.isArray(v.tool_calls)) {
    const calls = callsFrom(v.tool_calls);
    return calls ? { content: typeof v.content === 'string' ? v.content : '', toolCalls: calls } : undefined;
  }
  if (isObject(v) && v.tool_call !== undefined) {
    const calls = callsFrom(v.tool_call);
    return calls ? { content: '', toolCalls: calls } : undefined;
  }
  if (isObject(v) && typeof v.response === 'string' && Object.keys(v).length === 1) return { content: v.response, toolCalls: [] };
  const calls = callsFrom(v);
  return calls ? { content: '', toolCalls: calls } : undefined;
}

const PARSERS: Record<ToolCallFormat, (text: string) => ParsedToolOutput | undefined> = {
  hermes,
  llama3,
  mistral,
  functionary,
  'command-r': commandR,
  generic,
};

/** The calls in a model's text and the text around them; plain content when nothing parses. Never throws. */
export function parseToolCalls(text: string, format: ToolCallFormat): ParsedToolOutput {
  try {
    return PARSERS[format](text) ?? (format !== 'generic' ? generic(text) : undefined) ?? plain(text);
  } catch {
    return plain(text);
  }
}

/**
 * Whether `text` could still become the start of a call in this format: streamed text is held
 * back while this is true, and sent as content once it is false.
 */
export function mayStartToolCall(text: string, format: ToolCallFormat): boolean {
  const t = text.trimStart();
  if (t === '') return true;
  const markers: Record<ToolCallFormat, string[]> = {
    hermes: ['<tool_call>', '{'],
    llama3: ['<|python_tag|>', '{'],
    mistral: ['[TOOL_CALLS]', '['],
    functionary: ['>>>', '<function='],
    'command-r': ['<|START_ACTION|>', '<|START_THINKING|>', '<|START_RESPONSE|>', 'Action:'],
    generic: ['{'],
  };
  return markers[format].some((m) => t.startsWith(m) || m.startsWith(t) || text.includes(m));
}

/** Markers that begin a call after some text, per format (the generic format's calls are the whole output). */
const MID_MARKERS: Record<ToolCallFormat, string[]> = {
  hermes: ['<tool_call>'],
  llama3: ['<|python_tag|>'],
  mistral: ['[TOOL_CALLS]'],
  functionary: ['>>>', '<function='],
  'command-r': ['<|START_ACTION|>', 'Action:'],
  generic: [],
};

/**
 * For streaming text that is not a call so far: where a call marker begins in `text` (`at`, -1
 * when none), else how many trailing characters could be the start of one (`hold`).
 */
export function toolCallMarker(text: string, format: ToolCallFormat): { at: number; hold: number } {
  let at = -1;
  for (const m of MID_MARKERS[format]) {
    const i = text.indexOf(m);
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  if (at >= 0) return { at, hold: 0 };
  let hold = 0;
  for (const m of MID_MARKERS[format]) {
    for (let n = Math.min(m.length - 1, text.length); n > hold; n--) {
      if (text.endsWith(m.slice(0, n))) {
        hold = n;
        break;
      }
    }
  }
  return { at, hold };
}

/**
 * The text of a JSON object or array → the same value as JSON.stringify(JSON.parse(text)) writes it, piece by piece as the
 * text arrives: spaces outside strings dropped, string escapes rewritten the way JSON.stringify
 * writes them (`\u0041` → `A`, `\/` → `/`), numbers as JavaScript prints them (`1.50` → `1.5`).
 * Object keys are kept in their order (a duplicated key is where the two can differ).
 */
export class JsonCanonicalizer {
  private depth = 0;
  private inString = false;
  private escape = ''; // an escape sequence being read
  private highSurrogate = ''; // a decoded high surrogate waiting for its pair
  private number = '';
  /** The value is complete. */
  done = false;
  /** Characters (UTF-16 units) of the last push that belong to the value: all of them unless it ended inside. */
  used = 0;

  private flushNumber(): string {
    if (!this.number) return '';
    const n = Number(this.number);
    this.number = '';
    return Number.isFinite(n) ? JSON.stringify(n) : 'null';
  }

  private stringChar(c: string): string {
    let out = '';
    if (this.highSurrogate) {
      const pair = this.highSurrogate + c;
      this.highSurrogate = '';
      const code = c.charCodeAt(0);
      if (c.length === 1 && code >= 0xdc00 && code <= 0xdfff) return JSON.stringify(pair).slice(1, -1);
      out = JSON.stringify(pair.slice(0, 1)).slice(1, -1);
    }
    const code = c.charCodeAt(0);
    if (c.length === 1 && code >= 0xd800 && code <= 0xdbff) {
      this.highSurrogate = c;
      return out;
    }
    return out + JSON.stringify(c).slice(1, -1);
  }

  /** Canonical text for the next piece of the value. */
  push(text: string): string {
    let out = '';
    this.used = 0;
    for (const c of text) {
      if (this.done) break;
      this.used += c.length;
      if (this.inString) {
        if (this.escape) {
          this.escape += c;
          if (this.escape.length === 2 && this.escape !== '\\u') {
            out += this.stringChar(JSON.parse(`"${this.escape}"`) as string);
            this.escape = '';
          } else if (this.escape.length === 6) {
            out += this.stringChar(String.fromCharCode(parseInt(this.escape.slice(2), 16)));
            this.escape = '';
          }
        } else if (c === '\\') this.escape = c;
        else if (c === '"') {
          if (this.highSurrogate) out += JSON.stringify(this.highSurrogate).slice(1, -1);
          this.highSurrogate = '';
          this.inString = false;
          out += c;
          if (this.depth === 0) this.done = true;
        } else out += this.stringChar(c);
        continue;
      }
      if (this.number ? /[-+0-9.eE]/.test(c) : /[-0-9]/.test(c)) {
        this.number += c;
        continue;
      }
      out += this.flushNumber();
      if (/\s/.test(c)) continue;
      out += c;
      if (c === '"') this.inString = true;
      else if (c === '{' || c === '[') this.depth++;
      else if (c === '}' || c === ']') {
        this.depth--;
        if (this.depth === 0) this.done = true;
      }
    }
    return out;
  }
}

/** The call formats CallStreamer knows, and the shapes of a forced (grammar-made) output. */
export type StreamedCallFormat = ToolCallFormat | 'forced-one' | 'forced-array';

const NAME = '"name"\\s*:\\s*"([A-Za-z0-9_.-]+)"\\s*,\\s*';
/**
 * Per format: what may come between two calls' arguments (the end of the previous call, then
 * separators), and the head of a call up to its arguments' first character. Mistral's JSON list
 * writes the id after the arguments: its calls are sent whole at the end.
 */
const STREAM_HEADS: Partial<Record<StreamedCallFormat, RegExp>> = {
  hermes: new RegExp(`^(?:\\s*\\}\\s*(?:</tool_call>)?)?\\s*<tool_call>\\s*\\{\\s*${NAME}"arguments"\\s*:\\s*(?=\\S)`),
  llama3: new RegExp(`^(?:\\s*\\}\\s*;?)?\\s*(?:<\\|python_tag\\|>)?\\s*\\{\\s*(?:"type"\\s*:\\s*"function"\\s*,\\s*)?${NAME}"parameters"\\s*:\\s*(?=\\S)`),
  mistral: /^\s*\[TOOL_CALLS\]\s*([A-Za-z0-9_.-]+)\s*\[ARGS\]\s*(?=\S)/,
  functionary: /^(?:\s*<\/function>)?\s*(?:>>>(?!all\n)([A-Za-z0-9_.-]+)\n|<function=([A-Za-z0-9_.-]+)>)\s*(?=\S)/,
  generic: new RegExp(`^\\s*\\{\\s*${NAME}"arguments"\\s*:\\s*(?=\\S)`),
  'command-r': /^(?:\s*\}\s*,)?\s*(?:<\|START_ACTION\|>\s*\[)?\s*\{\s*"tool_call_id"\s*:\s*"[^"\\]*"\s*,\s*"tool_name"\s*:\s*"([A-Za-z0-9_.-]+)"\s*,\s*"parameters"\s*:\s*(?=\S)/,
  'forced-one': new RegExp(`^\\s*\\{\\s*${NAME}"arguments"\\s*:\\s*(?=\\S)`),
  'forced-array': new RegExp(`^(?:\\s*\\}\\s*,)?\\s*\\[?\\s*\\{\\s*${NAME}"arguments"\\s*:\\s*(?=\\S)`),
};

export type CallStreamEvent = { kind: 'head'; name: string } | { kind: 'args'; index: number; text: string } | { kind: 'end'; index: number };

/**
 * Calls told as their text grows: `scan(text)` with the whole call text so far (it only grows)
 * gives a `head` (the name) when a call's head is complete, `args` pieces of its arguments
 * (canonical JSON, see JsonCanonicalizer) and `end` when they close. Only arguments that are a
 * JSON object are streamed; anything it does not recognize stops the streaming, and the final
 * parse (parseToolCalls) decides.
 */
export class CallStreamer {
  private pos = 0;
  private index = -1;
  private args: JsonCanonicalizer | undefined;
  private stopped = false;

  constructor(private readonly format: StreamedCallFormat) {
    if (!STREAM_HEADS[format]) this.stopped = true;
  }

  scan(text: string): CallStreamEvent[] {
    const out: CallStreamEvent[] = [];
    while (!this.stopped && this.pos < text.length) {
      if (this.args) {
        const piece = this.args.push(text.slice(this.pos));
        this.pos += this.args.used;
        if (piece) out.push({ kind: 'args', index: this.index, text: piece });
        if (!this.args.done) break;
        this.args = undefined;
        out.push({ kind: 'end', index: this.index });
        continue;
      }
      const m = STREAM_HEADS[this.format]!.exec(text.slice(this.pos));
      if (!m) break; // not (yet) a head: wait for more text, or the end decides
      if (text[this.pos + m[0].length] !== '{') {
        this.stopped = true; // arguments as a string or something else: parsed at the end
        break;
      }
      this.pos += m[0].length;
      this.index++;
      this.args = new JsonCanonicalizer();
      out.push({ kind: 'head', name: (m[1] ?? m[2])! });
    }
    return out;
  }
}
