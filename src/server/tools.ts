/**
 * Tools and reasoning in /v1/chat/completions.
 *
 * REQUEST. `tools` (OpenAI function tools), `tool_choice` ("auto" | "none" | "required" |
 * {type: "function", function: {name}}), `parallel_tool_calls`, llama-server's `reasoning_format`
 * ("none" keeps `<think>` in the content; "auto" / "deepseek" move it into `reasoning_content`)
 * and `chat_template_kwargs` (template variables, e.g. `enable_thinking`).
 *
 *   none      the tools are not rendered and the output is not parsed: plain content.
 *   auto      the tools are rendered through the model's template; calls are parsed from its text
 *             in the template's format (generate/toolcalls.ts).
 *   required  the output is constrained by a JSON Schema built from the tools' parameter schemas:
 *   / named   `[{"name", "arguments"}, …]` (one call or more when parallel) or one `{"name",
 *             "arguments"}`; the arguments always validate. Never relaxed to auto.
 *
 * RESPONSE. `ChatOutput` turns generated text, as it streams, into OpenAI deltas:
 * `reasoning_content`, `content` and `tool_calls` (id, name, then the arguments); the same class
 * gives the non-streamed message. In auto mode, text streams as content up to a call marker of
 * the format (text that may begin one is held back); from the marker on, the text is held and
 * parsed at the end, and calls are sent whole (not argument fragments as tokens arrive).
 */
import { randomBytes } from 'node:crypto';
import type { ChatMessage } from '../tokenizer/chat.js';
import { parseToolCalls, mayStartToolCall, toolCallFormat, toolCallMarker, type ParsedToolCall, type ToolCallFormat } from '../generate/toolcalls.js';
import { badRequest } from './errors.js';
import { kind, optBool, optObject, optString, type Body } from './params.js';

export interface ToolDef {
  name: string;
  description?: string;
  parameters: Record<string, unknown>;
}

export interface ChatRequestExtras {
  /** The tools, as sent; empty when none or tool_choice is none. */
  tools: Body[];
  defs: ToolDef[];
  choice: 'auto' | 'none' | 'required' | { name: string };
  parallel: boolean;
  format: ToolCallFormat;
  /** Move `<think>…</think>` into reasoning_content. */
  reasoning: boolean;
  /** Extra template variables (chat_template_kwargs, tools). */
  variables: Record<string, unknown>;
}

export function chatExtras(body: Body, template: string | undefined): ChatRequestExtras {
  const tools = body.tools ?? [];
  if (!Array.isArray(tools)) throw badRequest(`'tools' must be an array, got ${kind(tools)}`);
  const defs = tools.map((t: unknown, i): ToolDef => {
    const tool = t as Body | null;
    if (tool === null || typeof tool !== 'object' || Array.isArray(tool)) throw badRequest(`'tools[${i}]' must be an object, got ${kind(t)}`);
    if (tool.type !== 'function') throw badRequest(`'tools[${i}].type' must be "function", got ${JSON.stringify(tool.type)}`);
    const fn = optObject(tool, 'function');
    if (!fn) throw badRequest(`'tools[${i}].function' is required`);
    const name = optString(fn, 'name');
    if (!name || !/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw badRequest(`'tools[${i}].function.name' must be 1-64 letters, digits, '_', '.' or '-', got ${JSON.stringify(fn.name)}`);
    const parameters = optObject(fn, 'parameters') ?? { type: 'object', properties: {} };
    return { name, description: optString(fn, 'description'), parameters };
  });
  const names = new Set<string>();
  for (const d of defs) {
    if (names.has(d.name)) throw badRequest(`two tools are named ${JSON.stringify(d.name)}`);
    names.add(d.name);
  }
  let choice: ChatRequestExtras['choice'] = defs.length > 0 ? 'auto' : 'none';
  const tc = body.tool_choice;
  if (tc === 'auto' || tc === 'none' || tc === 'required') choice = tc;
  else if (tc !== undefined && tc !== null) {
    const fn = typeof tc === 'object' && !Array.isArray(tc) ? optObject(tc as Body, 'function') : undefined;
    const name = fn ? optString(fn, 'name') : undefined;
    if (name === undefined) throw badRequest(`'tool_choice' must be "auto", "none", "required" or {type: "function", function: {name}}, got ${JSON.stringify(tc)}`);
    if (!names.has(name)) throw badRequest(`'tool_choice' names the function ${JSON.stringify(name)}, which is not in 'tools'`);
    choice = { name };
  }
  if (choice !== 'none' && defs.length === 0) throw badRequest(`'tool_choice' is ${JSON.stringify(choice === 'auto' || choice === 'required' ? choice : 'a function')} but no 'tools' are given`);
  const rf = optString(body, 'reasoning_format') ?? 'auto';
  if (!['none', 'auto', 'deepseek', 'deepseek-legacy'].includes(rf)) throw badRequest(`'reasoning_format' must be "none", "auto" or "deepseek", got ${JSON.stringify(rf)}`);
  const kwargs = optObject(body, 'chat_template_kwargs') ?? {};
  return {
    tools: choice === 'none' ? [] : (tools as Body[]),
    defs: choice === 'none' ? [] : defs,
    choice,
    parallel: optBool(body, 'parallel_tool_calls') ?? true,
    format: toolCallFormat(template),
    reasoning: rf !== 'none',
    variables: { ...kwargs, ...(choice !== 'none' && { tools }) },
  };
}

/** A copy of `schema` whose `$ref`s to its own root ("#…") point to `base` ("#/$defs/…") instead. */
function rebaseRefs(schema: unknown, base: string): unknown {
  if (Array.isArray(schema)) return schema.map((v) => rebaseRefs(v, base));
  if (schema === null || typeof schema !== 'object') return schema;
  return Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, k === '$ref' && typeof v === 'string' && v.startsWith('#') ? base + v.slice(1) : rebaseRefs(v, base)]));
}

/**
 * The JSON Schema a required or named tool_choice constrains the output to, or undefined. Each
 * tool's parameters go into `$defs` with their own references rebased, so schemas with `$defs`
 * (as pydantic writes them) keep resolving.
 */
export function forcedCallSchema(x: ChatRequestExtras): Record<string, unknown> | undefined {
  if (x.choice === 'auto' || x.choice === 'none') return undefined;
  const named = x.choice;
  const defs = typeof named === 'object' ? x.defs.filter((d) => d.name === named.name) : x.defs;
  const $defs: Record<string, unknown> = {};
  const calls = defs.map((d, i) => {
    $defs[`tool${i}`] = rebaseRefs(d.parameters, `#/$defs/tool${i}`);
    return {
      type: 'object',
      properties: { name: { const: d.name }, arguments: { $ref: `#/$defs/tool${i}` } },
      required: ['name', 'arguments'],
      additionalProperties: false,
    };
  });
  const one = calls.length === 1 ? calls[0]! : { anyOf: calls };
  return { $defs, ...(x.parallel ? { type: 'array', items: one, minItems: 1 } : one) };
}

/**
 * Messages for the template: an assistant's tool_calls with their `arguments` JSON text parsed
 * into objects (the templates render them with `tojson`, as Hugging Face's do).
 */
export function templateMessages(messages: ChatMessage[]): ChatMessage[] {
  return messages.map((m, i) => {
    const calls = m.tool_calls;
    if (calls === undefined || calls === null) return m;
    if (!Array.isArray(calls)) throw badRequest(`'messages[${i}].tool_calls' must be an array`);
    return {
      ...m,
      tool_calls: calls.map((c: unknown, j) => {
        const fn = (c as Body | null)?.function as Body | undefined;
        if (!fn || typeof fn.name !== 'string') throw badRequest(`'messages[${i}].tool_calls[${j}].function.name' is required`);
        let args: unknown = fn.arguments ?? {};
        if (typeof args === 'string') {
          try {
            args = JSON.parse(args === '' ? '{}' : args);
          } catch {
            throw badRequest(`'messages[${i}].tool_calls[${j}].function.arguments' is not valid JSON`);
          }
        }
        return { ...(c as Body), function: { ...fn, arguments: args } };
      }),
    };
  });
}

export interface OpenAIToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** A new call id: 9 letters and digits for Mistral's templates (which check the length), `call_…` otherwise. */
function callId(format: ToolCallFormat): string {
  const r = Array.from(randomBytes(9), (b) => ALNUM[b % ALNUM.length]).join('');
  return format === 'mistral' ? r : `call_${r}`;
}

const THINK_OPEN = '<think>';
const THINK_CLOSE = '</think>';

/** The length of the longest suffix of `s` that is a proper prefix of `marker`. */
function partialSuffix(s: string, marker: string): number {
  for (let n = Math.min(marker.length - 1, s.length); n > 0; n--) if (s.endsWith(marker.slice(0, n))) return n;
  return 0;
}

export type ChatDelta = { reasoning_content: string } | { content: string } | { tool_calls: Record<string, unknown>[] };

/**
 * Generated text → deltas. `push` each piece as it comes and send what it returns; `end` gives
 * the rest (held-back text, parsed calls). `message()` is the whole answer afterwards.
 */
export class ChatOutput {
  private phase: 'start' | 'think' | 'content';
  private pending = '';
  /** Content kept until the end (a call may be in it). */
  private held = '';
  private streaming = false; // content is being sent as it comes
  private inCall = false; // a call marker came after streamed text: the rest is held to the end
  reasoning = '';
  content = '';
  toolCalls: OpenAIToolCall[] = [];

  /** `thinkingOpen`: the prompt already ends inside `<think>` (the template opened it). */
  constructor(
    private readonly x: ChatRequestExtras,
    thinkingOpen = false,
  ) {
    this.phase = !x.reasoning ? 'content' : thinkingOpen ? 'think' : 'start';
  }

  private get forced(): boolean {
    return forcedCallSchema(this.x) !== undefined;
  }

  push(text: string): ChatDelta[] {
    this.pending += text;
    const out: ChatDelta[] = [];
    for (;;) {
      if (this.phase === 'start') {
        const t = this.pending.trimStart();
        if (t.startsWith(THINK_OPEN)) {
          this.pending = t.slice(THINK_OPEN.length);
          this.phase = 'think';
        } else if (t === '' || THINK_OPEN.startsWith(t)) return out;
        else this.phase = 'content';
      } else if (this.phase === 'think') {
        const close = this.pending.indexOf(THINK_CLOSE);
        const upto = close >= 0 ? close : this.pending.length - partialSuffix(this.pending, THINK_CLOSE);
        const r = this.reasoning === '' ? this.pending.slice(0, upto).trimStart() : this.pending.slice(0, upto);
        if (r) {
          this.reasoning += r;
          out.push({ reasoning_content: r });
        }
        if (close < 0) {
          this.pending = this.pending.slice(upto);
          return out;
        }
        this.pending = this.pending.slice(close + THINK_CLOSE.length).trimStart();
        this.phase = 'content';
      } else {
        // Spaces between the reasoning (or the start) and the answer are not content.
        const t = this.content === '' && this.held === '' ? this.pending.trimStart() : this.pending;
        this.pending = '';
        this.held += t;
        let send = '';
        if (this.x.choice === 'none') {
          send = this.held;
        } else if (!this.forced && !this.inCall) {
          // Hold text that may begin a call; once it cannot, stream it, but stop at a call marker.
          if (!this.streaming && !mayStartToolCall(this.held, this.x.format)) this.streaming = true;
          if (this.streaming) {
            const { at, hold } = toolCallMarker(this.held, this.x.format);
            const cut = at >= 0 ? at : this.held.length - hold;
            send = this.held.slice(0, cut);
            if (at >= 0) this.inCall = true;
          }
        }
        if (send) {
          this.held = this.held.slice(send.length);
          this.content += send;
          out.push({ content: send });
        }
        return out;
      }
    }
  }

  end(): ChatDelta[] {
    const out: ChatDelta[] = [];
    if (this.phase === 'start' || this.phase === 'think') {
      // A `<think>` never closed: what followed it is reasoning (cut off), unless it was not one.
      if (this.phase === 'think' && this.pending) {
        this.reasoning += this.pending;
        out.push({ reasoning_content: this.pending });
      } else if (this.pending) this.held += this.pending;
      this.pending = '';
    }
    const text = this.held.trim() === '' ? '' : this.held;
    this.held = '';
    let calls: ParsedToolCall[] = [];
    let content = text;
    if (text && this.forced) {
      // The grammar made it `[call, …]` or `call`.
      const parsed = parseToolCalls(this.x.parallel ? `{"tool_calls": ${text}}` : text, 'generic');
      calls = parsed.toolCalls;
      if (calls.length > 0) content = '';
    } else if (text && this.x.choice === 'auto') {
      const parsed = parseToolCalls(text, this.x.format);
      calls = parsed.toolCalls;
      content = parsed.content;
      if (!this.x.parallel && calls.length > 1) calls = calls.slice(0, 1);
    }
    if (content) {
      this.content += content;
      out.push({ content });
    }
    for (const [index, c] of calls.entries()) {
      const call: OpenAIToolCall = { id: c.id ?? callId(this.x.format), type: 'function', function: { name: c.name, arguments: c.arguments } };
      this.toolCalls.push(call);
      out.push({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: c.name, arguments: '' } }] });
      out.push({ tool_calls: [{ index, function: { arguments: c.arguments } }] });
    }
    return out;
  }

  /** The non-streamed assistant message. */
  message(): Record<string, unknown> {
    return {
      role: 'assistant',
      content: this.toolCalls.length === 0 ? this.content : this.content.trimEnd() || null,
      ...(this.reasoning !== '' && { reasoning_content: this.reasoning }),
      ...(this.toolCalls.length > 0 && { tool_calls: this.toolCalls }),
    };
  }
}
