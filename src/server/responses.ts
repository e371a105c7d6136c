/**
 * POST /v1/responses, OpenAI's Responses API, on the chat pipeline: the request is read into a
 * chat completions body (`responsesRequest`), generated and parsed exactly as
 * /v1/chat/completions is, and the assistant message and its streamed deltas are written as a
 * Response object and its events (`ResponsesWriter`).
 *
 * REQUEST. `input` (a string, or items: messages with text content, `function_call`,
 * `function_call_output`; `reasoning` items are dropped), `instructions` (a system message
 * first), `tools` (function tools), `tool_choice`, `parallel_tool_calls`, `max_output_tokens`,
 * `temperature`, `top_p`, `text.format` (json_object / json_schema), `stream`, and llama-server's
 * sampling and reasoning fields as in chat completions. The server stores nothing: a
 * `previous_response_id`, a `conversation`, `background` or `item_reference` input is a 400 that
 * says to send the whole conversation in `input`; other tool types, image or file content are a
 * 400 naming them. `reasoning.effort`, `store`, `include`, `metadata` and `truncation` are
 * accepted and have no effect (`metadata` is echoed).
 *
 * STREAM. response.created, response.in_progress; per output item (reasoning, message,
 * function_call, in the order generated) response.output_item.added, then
 * response.reasoning_text.delta / response.content_part.added + response.output_text.delta /
 * response.function_call_arguments.delta, their .done events and response.output_item.done;
 * last response.completed (or response.incomplete at max_output_tokens). Events carry
 * `sequence_number`; the stream has no `[DONE]`.
 */
import { randomBytes } from 'node:crypto';
import type { AssistantMessage, ChatDelta, ChatPlan } from '../generate/chat.js';
import { badRequest } from './errors.js';
import { kind, optBool, optNumber, optObject, optString, type Body } from './params.js';
import type { SlotResult } from './slots.js';

export interface ResponsesRequest {
  /** The same request as a chat completions body. */
  chatBody: Body;
  /** Fields echoed in the Response object. */
  echo: Body;
}

const rid = (prefix: string) => `${prefix}_${randomBytes(12).toString('hex')}`;

/** Chat completions fields passed through as they are (llama-server's extras included). */
const PASSED = [
  'temperature',
  'top_p',
  'top_k',
  'min_p',
  'seed',
  'stop',
  'repeat_penalty',
  'repeat_last_n',
  'presence_penalty',
  'frequency_penalty',
  'ignore_eos',
  'cache_prompt',
  'grammar',
  'json_schema',
  'parallel_tool_calls',
  'stream',
  'reasoning_format',
  'chat_template_kwargs',
  'reasoning_budget_tokens',
  'thinking_budget_tokens',
];

/** Text of a message's content: a string or text parts. */
function textContent(content: unknown, where: string): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) throw badRequest(`'${where}' must be a string or an array of text parts, got ${kind(content)}`);
  return content
    .map((p: unknown, j) => {
      const part = p as Body | null;
      if (part === null || typeof part !== 'object') throw badRequest(`'${where}[${j}]' must be an object, got ${kind(p)}`);
      if (part.type === 'input_text' || part.type === 'output_text' || part.type === 'text') {
        if (typeof part.text !== 'string') throw badRequest(`'${where}[${j}].text' must be a string`);
        return part.text;
      }
      if (part.type === 'refusal' && typeof part.refusal === 'string') return part.refusal;
      throw badRequest(`'${where}[${j}].type' ${JSON.stringify(part.type)} is not supported: only text content (input_text, output_text)`);
    })
    .join('');
}

/** Chat messages from `instructions` and `input`. */
function inputMessages(body: Body): Body[] {
  const messages: Body[] = [];
  const instructions = optString(body, 'instructions');
  if (instructions) messages.push({ role: 'system', content: instructions });
  const input = body.input;
  if (typeof input === 'string') {
    messages.push({ role: 'user', content: input });
    return messages;
  }
  if (input === undefined || input === null) throw badRequest("'input' is required");
  if (!Array.isArray(input)) throw badRequest(`'input' must be a string or an array of input items, got ${kind(input)}`);
  const callNames = new Map<string, string>();
  for (const [i, it] of input.entries()) {
    if (it === null || typeof it !== 'object' || Array.isArray(it)) throw badRequest(`'input[${i}]' must be an object, got ${kind(it)}`);
    const item = it as Body;
    const type = item.type ?? (item.role !== undefined ? 'message' : undefined);
    if (type === 'message') {
      const role = item.role;
      if (role !== 'user' && role !== 'system' && role !== 'developer' && role !== 'assistant') {
        throw badRequest(`'input[${i}].role' must be "user", "system", "developer" or "assistant", got ${JSON.stringify(role)}`);
      }
      messages.push({ role: role === 'developer' ? 'system' : role, content: textContent(item.content, `input[${i}].content`) });
    } else if (type === 'function_call') {
      const name = optString(item, 'name');
      const callId = optString(item, 'call_id');
      const args = item.arguments ?? '{}';
      if (!name) throw badRequest(`'input[${i}].name' is required`);
      if (!callId) throw badRequest(`'input[${i}].call_id' is required`);
      if (typeof args !== 'string') throw badRequest(`'input[${i}].arguments' must be a string of JSON, got ${kind(args)}`);
      callNames.set(callId, name);
      const call = { id: callId, type: 'function', function: { name, arguments: args } };
      // Consecutive calls (and calls after the assistant's text) are one assistant turn.
      const last = messages[messages.length - 1];
      if (last?.role === 'assistant') last.tool_calls = [...((last.tool_calls as unknown[] | undefined) ?? []), call];
      else messages.push({ role: 'assistant', content: '', tool_calls: [call] });
    } else if (type === 'function_call_output') {
      const callId = optString(item, 'call_id');
      if (!callId) throw badRequest(`'input[${i}].call_id' is required`);
      const output = textContent(item.output ?? '', `input[${i}].output`);
      const name = callNames.get(callId);
      messages.push({ role: 'tool', tool_call_id: callId, content: output, ...(name !== undefined && { name }) });
    } else if (type === 'reasoning') {
      // Earlier reasoning is not sent back to the model (the templates drop it too).
    } else if (type === 'item_reference') {
      throw badRequest(`'input[${i}]' is an item_reference: this server stores no items; send the items themselves`);
    } else {
      throw badRequest(`'input[${i}].type' ${JSON.stringify(type)} is not supported: input items are messages, function_call, function_call_output and reasoning`);
    }
  }
  if (messages.length === 0) throw badRequest("'input' must not be empty");
  return messages;
}

/** Responses tools `{type: "function", name, parameters}` → chat tools. */
function chatTools(body: Body): Body[] | undefined {
  const tools = body.tools;
  if (tools === undefined || tools === null) return undefined;
  if (!Array.isArray(tools)) throw badRequest(`'tools' must be an array, got ${kind(tools)}`);
  return tools.map((t: unknown, i) => {
    const tool = t as Body | null;
    if (tool === null || typeof tool !== 'object' || Array.isArray(tool)) throw badRequest(`'tools[${i}]' must be an object, got ${kind(t)}`);
    if (tool.type !== 'function') throw badRequest(`'tools[${i}].type' ${JSON.stringify(tool.type)} is not supported: only function tools`);
    if (typeof tool.name !== 'string') throw badRequest(`'tools[${i}].name' is required (a function tool is {type: "function", name, parameters})`);
    return { type: 'function', function: { name: tool.name, ...(tool.description != null && { description: tool.description }), ...(tool.parameters != null && { parameters: tool.parameters }) } };
  });
}

function chatToolChoice(tc: unknown): unknown {
  if (tc === undefined || tc === null || typeof tc === 'string') return tc;
  const o = tc as Body;
  if (typeof o === 'object' && !Array.isArray(o) && o.type === 'function' && typeof o.name === 'string') return { type: 'function', function: { name: o.name } };
  throw badRequest(`'tool_choice' must be "auto", "none", "required" or {type: "function", name}, got ${JSON.stringify(tc)}`);
}

/** `text.format` → response_format. */
function responseFormat(body: Body): Body | undefined {
  const text = optObject(body, 'text');
  const format = text ? optObject(text, 'format') : undefined;
  if (!format || format.type === 'text') return undefined;
  if (format.type === 'json_object') return { type: 'json_object' };
  if (format.type === 'json_schema') return { type: 'json_schema', json_schema: { name: format.name, schema: format.schema, strict: format.strict } };
  throw badRequest(`'text.format.type' must be "text", "json_object" or "json_schema", got ${JSON.stringify(format.type)}`);
}

/** Reads a Responses request into a chat completions body; a 400 for what is not supported. */
export function responsesRequest(body: Body): ResponsesRequest {
  if (body.previous_response_id !== undefined && body.previous_response_id !== null) {
    throw badRequest("'previous_response_id' is not supported: this server stores no responses; send the whole conversation in 'input'");
  }
  if (body.conversation !== undefined && body.conversation !== null) throw badRequest("'conversation' is not supported: this server stores no conversations; send the whole conversation in 'input'");
  if (optBool(body, 'background')) throw badRequest("'background' is not supported: this server answers while the request is open");
  if (body.prompt !== undefined && body.prompt !== null) throw badRequest("'prompt' (a stored prompt template) is not supported: send 'instructions' and 'input'");
  const top = optNumber(body, 'top_logprobs', { integer: true, min: 0 });
  if (top) throw badRequest("'top_logprobs' is not supported on /v1/responses: use /v1/chat/completions");
  const chatBody: Body = { messages: inputMessages(body) };
  for (const k of PASSED) if (body[k] !== undefined) chatBody[k] = body[k];
  const tools = chatTools(body);
  if (tools) chatBody.tools = tools;
  if (body.tool_choice !== undefined) chatBody.tool_choice = chatToolChoice(body.tool_choice);
  const max = optNumber(body, 'max_output_tokens', { integer: true, min: 1 });
  if (max !== undefined) chatBody.max_tokens = max;
  const rf = responseFormat(body);
  if (rf) chatBody.response_format = rf;
  const echo: Body = {
    instructions: body.instructions ?? null,
    max_output_tokens: max ?? null,
    temperature: body.temperature ?? null,
    top_p: body.top_p ?? null,
    tool_choice: body.tool_choice ?? (tools && tools.length > 0 ? 'auto' : 'none'),
    tools: body.tools ?? [],
    text: { format: optObject(optObject(body, 'text') ?? {}, 'format') ?? { type: 'text' } },
    metadata: optObject(body, 'metadata') ?? {},
  };
  return { chatBody, echo };
}

type Event = { type: string; [key: string]: unknown };
type Item = Body & { type: 'reasoning' | 'message' | 'function_call'; id: string };

/** Writes one Response: its object, or its events from the chat deltas as they come. */
export class ResponsesWriter {
  private readonly id = rid('resp');
  private readonly created = Math.floor(Date.now() / 1000);
  private seq = 0;
  private readonly items: Item[] = [];
  /** The open reasoning or message item (text accumulated). */
  private open: { item: Item; index: number; text: string } | undefined;
  /** Function call items by call index: output index and arguments so far. */
  private readonly calls = new Map<number, { item: Item; index: number; args: string }>();

  constructor(
    private readonly req: ResponsesRequest,
    private readonly model: string,
    private readonly plan: ChatPlan,
  ) {}

  private response(status: string, output: Item[], r?: SlotResult): Body {
    const incomplete = status === 'incomplete';
    return {
      id: this.id,
      object: 'response',
      created_at: this.created,
      status,
      background: false,
      error: null,
      incomplete_details: incomplete ? { reason: 'max_output_tokens' } : null,
      model: this.model,
      output,
      parallel_tool_calls: this.plan.parallel,
      previous_response_id: null,
      reasoning: { effort: null, summary: null },
      store: false,
      truncation: 'disabled',
      ...this.req.echo,
      usage: r
        ? {
            input_tokens: r.stats.promptTokens,
            input_tokens_details: { cached_tokens: r.cachedTokens },
            output_tokens: r.stats.generatedTokens,
            total_tokens: r.stats.promptTokens + r.stats.generatedTokens,
          }
        : null,
    };
  }

  private status(r: SlotResult): 'completed' | 'incomplete' {
    return r.finishReason === 'length' || r.finishReason === 'context' ? 'incomplete' : 'completed';
  }

  private ev(type: string, fields: Body): Event {
    return { type, sequence_number: this.seq++, ...fields };
  }

  /** The non-streamed Response. */
  body(r: SlotResult, m: AssistantMessage): Body {
    const output: Item[] = [];
    if (m.reasoning_content) output.push(reasoningItem(rid('rs'), m.reasoning_content, 'completed'));
    if (m.content) output.push(messageItem(rid('msg'), m.content, 'completed'));
    for (const c of m.tool_calls ?? []) output.push(callItem(c.id, c.function.name, c.function.arguments, 'completed'));
    return this.response(this.status(r), output, r);
  }

  start(): Event[] {
    const r = this.response('in_progress', []);
    return [this.ev('response.created', { response: r }), this.ev('response.in_progress', { response: r })];
  }

  private close(): Event[] {
    const o = this.open;
    if (!o) return [];
    this.open = undefined;
    const at = { item_id: o.item.id, output_index: o.index, content_index: 0 };
    if (o.item.type === 'reasoning') {
      const done = reasoningItem(o.item.id, o.text, 'completed');
      this.items[o.index] = done;
      return [
        this.ev('response.reasoning_text.done', { ...at, text: o.text }),
        this.ev('response.content_part.done', { ...at, part: { type: 'reasoning_text', text: o.text } }),
        this.ev('response.output_item.done', { output_index: o.index, item: done }),
      ];
    }
    const done = messageItem(o.item.id, o.text, 'completed');
    this.items[o.index] = done;
    return [
      this.ev('response.output_text.done', { ...at, text: o.text, logprobs: [] }),
      this.ev('response.content_part.done', { ...at, part: outputText(o.text) }),
      this.ev('response.output_item.done', { output_index: o.index, item: done }),
    ];
  }

  /** Opens a reasoning or message item unless that kind is open. */
  private openText(type: 'reasoning' | 'message'): Event[] {
    if (this.open?.item.type === type) return [];
    const out = this.close();
    const index = this.items.length;
    const item = type === 'reasoning' ? { ...reasoningItem(rid('rs'), '', 'in_progress'), content: [] } : { ...messageItem(rid('msg'), '', 'in_progress'), content: [] };
    this.items.push(item as Item);
    this.open = { item: item as Item, index, text: '' };
    const at = { item_id: item.id, output_index: index, content_index: 0 };
    out.push(this.ev('response.output_item.added', { output_index: index, item }));
    out.push(this.ev('response.content_part.added', { ...at, part: type === 'reasoning' ? { type: 'reasoning_text', text: '' } : outputText('') }));
    return out;
  }

  deltas(deltas: ChatDelta[]): Event[] {
    const out: Event[] = [];
    for (const d of deltas) {
      if ('reasoning_content' in d) {
        out.push(...this.openText('reasoning'));
        this.open!.text += d.reasoning_content;
        out.push(this.ev('response.reasoning_text.delta', { item_id: this.open!.item.id, output_index: this.open!.index, content_index: 0, delta: d.reasoning_content }));
      } else if ('content' in d) {
        out.push(...this.openText('message'));
        this.open!.text += d.content;
        out.push(this.ev('response.output_text.delta', { item_id: this.open!.item.id, output_index: this.open!.index, content_index: 0, delta: d.content, logprobs: [] }));
      } else {
        for (const t of d.tool_calls) {
          let call = this.calls.get(t.index);
          if (!call) {
            if (t.id === undefined) continue;
            out.push(...this.close());
            const item = callItem(t.id, t.function.name ?? '', '', 'in_progress');
            call = { item, index: this.items.length, args: '' };
            this.items.push(item);
            this.calls.set(t.index, call);
            out.push(this.ev('response.output_item.added', { output_index: call.index, item }));
          }
          if (t.function.arguments) {
            call.args += t.function.arguments;
            out.push(this.ev('response.function_call_arguments.delta', { item_id: call.item.id, output_index: call.index, delta: t.function.arguments }));
          }
        }
      }
    }
    return out;
  }

  /** The closing events: open items done, then response.completed (or .incomplete). */
  finish(r: SlotResult, m: AssistantMessage): Event[] {
    const out = this.close();
    for (const [i, c] of this.calls) {
      const final = m.tool_calls?.[i];
      const kept = final !== undefined && final.function.name === c.item.name;
      const args = kept ? final.function.arguments : c.args;
      // A call whose head streamed but which is not in the answer (cut off, or malformed) is incomplete.
      const done = callItem(c.item.call_id as string, c.item.name as string, args, kept ? 'completed' : 'incomplete', c.item.id);
      this.items[c.index] = done;
      out.push(this.ev('response.function_call_arguments.done', { item_id: c.item.id, output_index: c.index, name: c.item.name, arguments: args }));
      out.push(this.ev('response.output_item.done', { output_index: c.index, item: done }));
    }
    const status = this.status(r);
    out.push(this.ev(status === 'completed' ? 'response.completed' : 'response.incomplete', { response: this.response(status, this.items, r) }));
    return out;
  }
}

const outputText = (text: string) => ({ type: 'output_text', text, annotations: [], logprobs: [] });

function reasoningItem(id: string, text: string, status: string): Item {
  return { type: 'reasoning', id, summary: [], content: [{ type: 'reasoning_text', text }], status };
}

function messageItem(id: string, text: string, status: string): Item {
  return { type: 'message', id, role: 'assistant', status, content: [outputText(text)] };
}

function callItem(callId: string, name: string, args: string, status: string, id = `fc_${callId.replace(/^call_/, '')}`): Item {
  return { type: 'function_call', id, call_id: callId, name, arguments: args, status };
}
