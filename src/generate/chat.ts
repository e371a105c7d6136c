/**
 * Chat with tools and reasoning: one pipeline for `Model.chat`, the server's
 * /v1/chat/completions and its /v1/responses.
 *
 * OPTIONS. `tools` (OpenAI function tools), `toolChoice` ("auto" | "none" | "required" | a named
 * function), `parallelToolCalls`, `reasoningFormat` (llama-server's: "none" keeps `<think>` in
 * the content; "auto" / "deepseek" move it into `reasoning_content`), `templateVariables`
 * (chat_template_kwargs, e.g. `enable_thinking`) and `reasoningBudget` (llama-server's
 * `--reasoning-budget`: -1 unlimited, 0 no thinking, N tokens of thinking at most).
 *
 *   none      the tools are not rendered and the output is not parsed: plain content.
 *   auto      the tools are rendered through the model's template; calls are parsed from its text
 *             in the template's format (toolcalls.ts).
 *   required  the output is constrained by a JSON Schema built from the tools' parameter schemas:
 *   / named   `[{"name", "arguments"}, …]` (one call or more when parallel) or one `{"name",
 *             "arguments"}`; the arguments always validate. Never relaxed to auto.
 *
 * OUTPUT. `ChatOutput` turns generated text, as it streams, into OpenAI deltas:
 * `reasoning_content`, `content` and `tool_calls` (id and name first, then `arguments`
 * fragments as they are generated); the same class gives the whole assistant message.
 *
 * Bad options are a RangeError whose message names the OpenAI field (`'tools[0].type'`, …): the
 * server answers them with a 400.
 */
import type { ChatMessage } from '../tokenizer/chat.js';
import { encodeChat } from '../tokenizer/chat.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { CallStreamer, parseToolCalls, mayStartToolCall, toolCallFormat, toolCallMarker, type ParsedToolCall, type ToolCallFormat } from './toolcalls.js';
import type { ReasoningBudgetOptions } from './reasoning-budget.js';
import { GenerationStream, type GenerationChunk, type GenerationResult } from './generate.js';

/** An OpenAI function tool. */
export interface ToolSpec {
  type: 'function';
  function: { name: string; description?: string; parameters?: Record<string, unknown>; [key: string]: unknown };
}

export type ToolChoice = 'auto' | 'none' | 'required' | { type?: 'function'; function: { name: string } };

export type ReasoningFormat = 'none' | 'auto' | 'deepseek' | 'deepseek-legacy';

export interface ChatToolOptions {
  tools?: readonly ToolSpec[];
  /** Default "auto" with tools, "none" without. */
  toolChoice?: ToolChoice;
  /** Several calls in one answer (default true). */
  parallelToolCalls?: boolean;
  /** Default "auto": `<think>…</think>` goes into `reasoning_content`. */
  reasoningFormat?: ReasoningFormat;
  /** More template variables (chat_template_kwargs: enable_thinking, date_string, …). */
  templateVariables?: Record<string, unknown>;
  /**
   * Tokens of thinking at most (llama-server's --reasoning-budget): -1 (default) unlimited; 0
   * no thinking (`enable_thinking` false unless the variables set it, and a `<think>` the
   * template opens is closed at once); N > 0 closes the think block after N tokens of it. The
   * generate() form `{ tokens, message }` is taken too (its tags and `open` are the chat's).
   */
  reasoningBudget?: number | ReasoningBudgetOptions;
  /** Text put before the forced `</think>` when the budget runs out (llama-server's --reasoning-budget-message). */
  reasoningBudgetMessage?: string;
}

export interface ToolDef {
  name: string;
  description?: string;
  parameters: Record<string, unknown>;
}

/** What a chat request resolved to: the tools, the choice, the call format, reasoning. */
export interface ChatPlan {
  /** The tools, as given; empty when none or tool_choice is none. */
  tools: ToolSpec[];
  defs: ToolDef[];
  choice: 'auto' | 'none' | 'required' | { name: string };
  parallel: boolean;
  format: ToolCallFormat;
  /** Move `<think>…</think>` into reasoning_content. */
  reasoning: boolean;
  /** Template variables (the given ones, and `tools`). */
  variables: Record<string, unknown>;
  reasoningBudget: number;
  reasoningBudgetMessage: string;
}

const kind = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Checks the options and resolves them against the template. */
export function planChat(opts: ChatToolOptions, template: string | undefined): ChatPlan {
  const tools = opts.tools ?? [];
  if (!Array.isArray(tools)) throw new RangeError(`'tools' must be an array, got ${kind(tools)}`);
  const defs = tools.map((t: unknown, i): ToolDef => {
    if (!isObject(t)) throw new RangeError(`'tools[${i}]' must be an object, got ${kind(t)}`);
    if (t.type !== 'function') throw new RangeError(`'tools[${i}].type' must be "function", got ${JSON.stringify(t.type)}`);
    const fn = t.function;
    if (!isObject(fn)) throw new RangeError(`'tools[${i}].function' is required`);
    const name = fn.name;
    if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(name))
      throw new RangeError(`'tools[${i}].function.name' must be 1-64 letters, digits, '_', '.' or '-', got ${JSON.stringify(fn.name)}`);
    const p = fn.parameters;
    if (p !== undefined && p !== null && !isObject(p)) throw new RangeError(`'tools[${i}].function.parameters' must be an object (a JSON Schema), got ${kind(p)}`);
    if (fn.description !== undefined && fn.description !== null && typeof fn.description !== 'string') throw new RangeError(`'tools[${i}].function.description' must be a string`);
    return { name, description: (fn.description as string | undefined) ?? undefined, parameters: (p as Record<string, unknown> | undefined) ?? { type: 'object', properties: {} } };
  });
  const names = new Set<string>();
  for (const d of defs) {
    if (names.has(d.name)) throw new RangeError(`two tools are named ${JSON.stringify(d.name)}`);
    names.add(d.name);
  }
  let choice: ChatPlan['choice'] = defs.length > 0 ? 'auto' : 'none';
  const tc = opts.toolChoice;
  if (tc === 'auto' || tc === 'none' || tc === 'required') choice = tc;
  else if (tc !== undefined && tc !== null) {
    const name = isObject(tc) && isObject(tc.function) ? tc.function.name : undefined;
    if (typeof name !== 'string') throw new RangeError(`'tool_choice' must be "auto", "none", "required" or {type: "function", function: {name}}, got ${JSON.stringify(tc)}`);
    if (!names.has(name)) throw new RangeError(`'tool_choice' names the function ${JSON.stringify(name)}, which is not in 'tools'`);
    choice = { name };
  }
  if (choice !== 'none' && defs.length === 0) throw new RangeError(`'tool_choice' is ${JSON.stringify(choice === 'auto' || choice === 'required' ? choice : 'a function')} but no 'tools' are given`);
  const rf = opts.reasoningFormat ?? 'auto';
  if (!['none', 'auto', 'deepseek', 'deepseek-legacy'].includes(rf)) throw new RangeError(`'reasoning_format' must be "none", "auto" or "deepseek", got ${JSON.stringify(rf)}`);
  const rb = opts.reasoningBudget;
  const budget = typeof rb === 'object' && rb !== null ? rb.tokens : (rb ?? -1);
  if (!Number.isInteger(budget) || budget < -1) throw new RangeError(`'reasoning_budget' must be -1 (unlimited), 0 (no thinking) or a positive number of tokens, got ${budget}`);
  const variables: Record<string, unknown> = { ...(opts.templateVariables ?? {}) };
  // No thinking: ask the template not to open a think block (unless the caller said otherwise).
  if (budget === 0 && variables.enable_thinking === undefined) variables.enable_thinking = false;
  if (choice !== 'none') variables.tools = tools;
  return {
    tools: choice === 'none' ? [] : [...tools],
    defs: choice === 'none' ? [] : defs,
    choice,
    parallel: opts.parallelToolCalls ?? true,
    format: toolCallFormat(template),
    reasoning: rf !== 'none',
    variables,
    reasoningBudget: budget,
    reasoningBudgetMessage: opts.reasoningBudgetMessage ?? (typeof rb === 'object' && rb !== null ? rb.message : undefined) ?? '',
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
export function forcedCallSchema(x: ChatPlan): Record<string, unknown> | undefined {
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
export function templateMessages(messages: readonly ChatMessage[]): ChatMessage[] {
  return messages.map((m, i) => {
    const calls = m.tool_calls;
    if (calls === undefined || calls === null) return m;
    if (!Array.isArray(calls)) throw new RangeError(`'messages[${i}].tool_calls' must be an array`);
    return {
      ...m,
      tool_calls: calls.map((c: unknown, j) => {
        const fn = isObject(c) ? c.function : undefined;
        if (!isObject(fn) || typeof fn.name !== 'string') throw new RangeError(`'messages[${i}].tool_calls[${j}].function.name' is required`);
        let args: unknown = fn.arguments ?? {};
        if (typeof args === 'string') {
          try {
            args = JSON.parse(args === '' ? '{}' : args);
          } catch {
            throw new RangeError(`'messages[${i}].tool_calls[${j}].function.arguments' is not valid JSON`);
          }
        }
        return { ...(c as Record<string, unknown>), function: { ...fn, arguments: args } };
      }),
    };
  });
}

/** A chat ready to generate: its prompt, the constraint and budget for the generation, and its output parser. */
export interface PreparedChat {
  prompt: number[];
  plan: ChatPlan;
  /** The JSON Schema a required / named tool_choice puts on the output. */
  jsonSchema: Record<string, unknown> | undefined;
  /** The prompt ends inside `<think>` (the template opened it). */
  thinkingOpen: boolean;
  /** The generation's reasoning budget, when one applies. */
  reasoningBudget: ReasoningBudgetOptions | undefined;
  /** A new parser of the generated text. */
  output(): ChatOutput;
}

/**
 * Renders and tokenizes a conversation for the chat pipeline. `constrained`: the caller puts its
 * own grammar or schema on the output (then a forced tool_choice is an error, and there is no
 * reasoning to split off: constrained output is the answer from its first token).
 */
export function prepareChat(tok: Tokenizer, template: string, messages: readonly ChatMessage[], opts: ChatToolOptions & { constrained?: boolean; addSpecial?: boolean } = {}): PreparedChat {
  const plan = planChat(opts, template);
  const jsonSchema = forcedCallSchema(plan);
  if (jsonSchema !== undefined && opts.constrained) {
    throw new RangeError(`'tool_choice' ${JSON.stringify(plan.choice)} constrains the output to tool calls: it cannot be combined with 'response_format', 'grammar' or 'json_schema'`);
  }
  if (opts.constrained || jsonSchema !== undefined) plan.reasoning = false;
  const prompt = encodeChat(tok, template, templateMessages(messages), { addGenerationPrompt: true, variables: plan.variables, addSpecial: opts.addSpecial });
  const thinkingOpen = plan.reasoning && tok.decode(prompt.slice(-16), { special: true }).trimEnd().endsWith(THINK_OPEN);
  const budget =
    plan.reasoning && plan.reasoningBudget >= 0 ? { tokens: plan.reasoningBudget, message: plan.reasoningBudgetMessage, open: thinkingOpen, start: THINK_OPEN, end: THINK_CLOSE } : undefined;
  return { prompt, plan, jsonSchema, thinkingOpen, reasoningBudget: budget, output: () => new ChatOutput(plan, thinkingOpen) };
}

export interface OpenAIToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** The assistant's answer: content, reasoning and tool calls. */
export interface AssistantMessage {
  role: 'assistant';
  /** The text (null when the answer is only calls). */
  content: string | null;
  reasoning_content?: string;
  tool_calls?: OpenAIToolCall[];
}

const ALNUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** A new call id: 9 letters and digits for Mistral's templates (which check the length), `call_…` otherwise. */
function callId(format: ToolCallFormat): string {
  const bytes = crypto.getRandomValues(new Uint8Array(9));
  const r = Array.from(bytes, (b) => ALNUM[b % ALNUM.length]).join('');
  return format === 'mistral' ? r : `call_${r}`;
}

/** Formats whose calls are a bare JSON object at the start of the answer. */
const BARE_JSON_CALLS = new Set<ToolCallFormat>(['llama3', 'generic']);

const THINK_OPEN = '<think>';
const THINK_CLOSE = '</think>';

/** The length of the longest suffix of `s` that is a proper prefix of `marker`. */
function partialSuffix(s: string, marker: string): number {
  for (let n = Math.min(marker.length - 1, s.length); n > 0; n--) if (s.endsWith(marker.slice(0, n))) return n;
  return 0;
}

export type ToolCallDelta = { index: number; id?: string; type?: 'function'; function: { name?: string; arguments: string } };
export type ChatDelta = { reasoning_content: string } | { content: string } | { tool_calls: ToolCallDelta[] };

/**
 * Generated text → deltas. `push` each piece as it comes and send what it returns; `end` gives
 * the rest (held-back text, calls not streamed yet). `message()` is the whole answer afterwards.
 *
 * Calls stream as they are generated where the format allows it (CallStreamer in toolcalls.ts):
 * a first delta with the id and name, then `arguments` fragments (the model's JSON written as
 * JSON.stringify writes it, so the fragments add up to the parsed call's `arguments`). At the end the whole text is parsed again and that parse is
 * the answer; for well-formed output it equals what was streamed. Output that turns out
 * malformed after its call began streaming becomes content in the message (the deltas already
 * sent cannot be taken back).
 */
export class ChatOutput {
  private phase: 'start' | 'think' | 'content';
  private pending = '';
  /** Content kept until the end (a call may be in it). */
  private held = '';
  private streaming = false; // content is being sent as it comes
  /** The call text, from its first marker on (auto) or from the start (forced). */
  private callText: string | undefined;
  private streamer: CallStreamer | undefined;
  /** Calls streamed so far: id, name, arguments sent. */
  private streamed: { id: string; name: string; args: string; done: boolean }[] = [];
  reasoning = '';
  content = '';
  toolCalls: OpenAIToolCall[] = [];

  /** `thinkingOpen`: the prompt already ends inside `<think>` (the template opened it). */
  constructor(
    private readonly x: ChatPlan,
    thinkingOpen = false,
  ) {
    this.phase = !x.reasoning ? 'content' : thinkingOpen ? 'think' : 'start';
  }

  private get forced(): boolean {
    return this.x.choice !== 'auto' && this.x.choice !== 'none';
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
        const t = this.content === '' && this.held === '' && this.callText === undefined ? this.pending.trimStart() : this.pending;
        this.pending = '';
        if (this.callText !== undefined) {
          this.callText += t;
          out.push(...this.streamCalls());
          return out;
        }
        this.held += t;
        let send = '';
        if (this.x.choice === 'none') {
          send = this.held;
        } else if (this.forced) {
          // The grammar makes the whole output the calls.
          this.callText = this.held;
          this.held = '';
          out.push(...this.streamCalls());
          return out;
        } else {
          // Hold text that may begin a call; once it cannot, stream it, but stop at a call marker.
          if (!this.streaming && !mayStartToolCall(this.held, this.x.format)) this.streaming = true;
          if (!this.streaming && BARE_JSON_CALLS.has(this.x.format) && this.held.startsWith('{')) {
            // Formats whose call is a bare JSON object: stream it as a call (the end decides).
            this.callText = this.held;
            this.held = '';
            out.push(...this.streamCalls());
            return out;
          }
          const { at, hold } = toolCallMarker(this.held, this.x.format);
          if (at >= 0) {
            // Streamed text before a call marker is content. Held text before one (Command-R's
            // thinking block, say) stays with the call text: the final parse decides what it is.
            const keep = !this.streaming && this.held.slice(0, at).trim() !== '';
            send = keep ? '' : this.held.slice(0, at);
            this.content += send;
            if (send) out.push({ content: send });
            this.callText = this.held.slice(send.length);
            this.held = '';
            out.push(...this.streamCalls());
            return out;
          }
          if (this.streaming) send = this.held.slice(0, this.held.length - hold);
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

  /** Deltas for the calls in `callText` that can be told so far. */
  private streamCalls(): ChatDelta[] {
    this.streamer ??= new CallStreamer(this.forced ? (this.x.parallel ? 'forced-array' : 'forced-one') : this.x.format);
    const out: ChatDelta[] = [];
    for (const ev of this.streamer.scan(this.callText!)) {
      if (ev.kind === 'head') {
        if (!this.x.parallel && this.streamed.length >= 1) continue;
        const id = callId(this.x.format);
        this.streamed.push({ id, name: ev.name, args: '', done: false });
        out.push({ tool_calls: [{ index: this.streamed.length - 1, id, type: 'function', function: { name: ev.name, arguments: '' } }] });
      } else {
        const c = this.streamed[ev.index];
        if (!c || c.done) continue;
        if (ev.kind === 'args') {
          c.args += ev.text;
          out.push({ tool_calls: [{ index: ev.index, function: { arguments: ev.text } }] });
        } else c.done = true;
      }
    }
    return out;
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
    const whole = (this.held + (this.callText ?? '')).trim() === '' ? '' : this.held + (this.callText ?? '');
    this.held = '';
    let calls: ParsedToolCall[] = [];
    let content = whole;
    if (whole && this.forced) {
      // The grammar made it `[call, …]` or `call`.
      const parsed = parseToolCalls(this.x.parallel ? `{"tool_calls": ${whole}}` : whole, 'generic');
      calls = parsed.toolCalls;
      // Cut off (max_tokens) after some calls were complete: those calls.
      if (calls.length === 0) calls = this.streamed.filter((c) => c.done).map((c) => ({ name: c.name, arguments: c.args }));
      if (calls.length > 0) content = '';
    } else if (whole && this.x.choice === 'auto') {
      const parsed = parseToolCalls(whole, this.x.format);
      calls = parsed.toolCalls;
      content = parsed.content;
      if (!this.x.parallel && calls.length > 1) calls = calls.slice(0, 1);
    }
    if (content) {
      this.content += content;
      out.push({ content });
    }
    for (const [index, c] of calls.entries()) {
      const s = this.streamed[index];
      const id = s && s.name === c.name ? s.id : (c.id ?? callId(this.x.format));
      this.toolCalls.push({ id, type: 'function', function: { name: c.name, arguments: c.arguments } });
      if (s && s.name === c.name) {
        // Streamed: send what is missing of the arguments, if the streamed text is a prefix of them.
        if (c.arguments.startsWith(s.args) && c.arguments.length > s.args.length) out.push({ tool_calls: [{ index, function: { arguments: c.arguments.slice(s.args.length) } }] });
        continue;
      }
      if (s) continue; // a different call was streamed at this index: it cannot be taken back
      out.push({ tool_calls: [{ index, id, type: 'function', function: { name: c.name, arguments: '' } }] });
      out.push({ tool_calls: [{ index, function: { arguments: c.arguments } }] });
    }
    return out;
  }

  /** The assistant message. */
  message(): AssistantMessage {
    return {
      role: 'assistant',
      content: this.toolCalls.length === 0 ? this.content : this.content.trimEnd() || null,
      ...(this.reasoning !== '' && { reasoning_content: this.reasoning }),
      ...(this.toolCalls.length > 0 && { tool_calls: this.toolCalls }),
    };
  }
}

/** The chunks of `inner`, each also fed to `output`, whose deltas go into `queue`. */
async function* feed(inner: GenerationStream, output: ChatOutput, queue: ChatDelta[]): AsyncGenerator<GenerationChunk, GenerationResult> {
  for await (const c of inner) {
    queue.push(...output.push(c.text));
    yield c;
  }
  return await inner.result;
}

/**
 * `Model.chat`'s stream: a GenerationStream of the generation's chunks (iterate it, or await
 * `result`), plus the assistant message parsed from them (`message`: content,
 * reasoning_content, tool_calls) and, instead of the chunks, the same answer as OpenAI-style
 * deltas as it is generated (`deltas()`). Iterate one of the two, once.
 */
export class ChatStream extends GenerationStream {
  private readonly queue: ChatDelta[];
  private readonly output: ChatOutput;
  private ended: ChatDelta[] | undefined;

  constructor(inner: GenerationStream, output: ChatOutput) {
    const queue: ChatDelta[] = [];
    super(feed(inner, output, queue));
    this.queue = queue;
    this.output = output;
  }

  /** The answer as deltas: reasoning_content, content, tool_calls (id and name, then argument fragments). */
  async *deltas(): AsyncGenerator<ChatDelta> {
    for await (const _ of this) yield* this.queue.splice(0);
    yield* this.end();
  }

  private end(): ChatDelta[] {
    this.ended ??= this.output.end();
    return this.ended;
  }

  /** The assistant message, once generation ends (drives the generation if nobody iterates). */
  get message(): Promise<AssistantMessage> {
    return this.result.then(() => {
      this.end();
      return this.output.message();
    });
  }
}
