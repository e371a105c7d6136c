/**
 * `createServer(model, opts)`: an OpenAI-compatible HTTP server on node:http with llama-server's
 * extra endpoints, over the slot scheduler in slots.ts (which owns the model).
 *
 *   POST /v1/chat/completions, /v1/completions   OpenAI shapes; SSE streaming ending in `data: [DONE]`
 *   POST /v1/responses                           OpenAI's Responses API on the chat pipeline (responses.ts)
 *   POST /completion, /infill                     llama-server's native shapes
 *   POST /tokenize, /detokenize
 *   GET  /v1/models, /health, /props, /slots, /metrics (Prometheus text), / (the chat page)
 *
 * `parallel` slots are decoded together, one forward pass per step for all of them, when the
 * model holds a KV cache sequence per slot (loadModel's `sequences`; see slots.ts).
 */
import { timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { AbortError } from '../generate/errors.js';
import type { FinishReason, GenerationChunk } from '../generate/generate.js';
import { GrammarError, JsonSchemaError } from '../generate/grammar/errors.js';
import type { GeneratedTokenLogprob } from '../generate/logprobs.js';
import { DEFAULT_SAMPLING_OPTIONS } from '../generate/sampling.js';
import type { Pooling } from '../model/embed.js';
import { ContextOverflowError } from '../model/errors.js';
import { TokenizerError } from '../tokenizer/errors.js';
import { ApiError, badRequest, errorBody } from './errors.js';
import { embeddingsResponse, type EmbeddingModel } from './embeddings.js';
import { infillPrompt } from './infill.js';
import { chatLogprobs, completionLogprobs, nativeLogprobs, textLogprobs } from './logprobs.js';
import { chatMessages, generationParams, optBool, optString, parseBody, tokenArray, type Body, type GenerationParams } from './params.js';
import { Scheduler, type ServedModel, type SlotResult } from './slots.js';
import { prepareChat, type AssistantMessage, type ChatDelta, type ChatOutput } from '../generate/chat.js';
import { chatToolOptions } from './tools.js';
import { responsesRequest, ResponsesWriter } from './responses.js';

export interface ServerOptions {
  /** Requests admitted at once (slots); default 4. Decoded together when the model has `sequences` >= parallel: see slots.ts. */
  parallel?: number;
  /** Requests that may wait for a slot; more get a 503. Default 32. */
  queueSize?: number;
  /** When set, every endpoint but /health, /v1/models and the chat page needs `Authorization: Bearer KEY`. */
  apiKey?: string;
  /** A Jinja chat template used instead of the model's `tokenizer.chat_template`. */
  chatTemplate?: string;
  /** Largest request body in bytes; default 4 MiB. */
  maxBodyBytes?: number;
  /** The model id in /v1/models and responses; default the file name. */
  alias?: string;
  /**
   * The model was loaded with `{ embeddings: true }`: /v1/embeddings answers and the completion
   * endpoints are refused (as llama-server's --embeddings).
   */
  embeddings?: boolean;
  /** Pooling of /v1/embeddings (default: the file's `<arch>.pooling_type`). */
  pooling?: Pooling;
  /** Prompt tokens per forward step of the model, llama-server's n_batch (for /metrics and how /infill splits the context); default 512, the model's default. */
  batchSize?: number;
  /** Tokens of thinking per answer unless a request says (llama-server's --reasoning-budget): -1 unlimited (default), 0 none. */
  reasoningBudget?: number;
  /** Text put before the forced `</think>` when the budget runs out (--reasoning-budget-message). */
  reasoningBudgetMessage?: string;
}

interface Loaded {
  model: ServedModel;
  scheduler: Scheduler;
  template: string | undefined;
  alias: string;
  created: number;
}

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };
const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'authorization, content-type, x-api-key',
  'access-control-allow-methods': 'GET, POST, OPTIONS',
};
const PUBLIC = new Set(['/', '/index.html', '/health', '/v1/health', '/models', '/v1/models']);

let chatPage: Buffer | undefined;
/** The chat page: src/server/chat.html, next to this module or (from dist/) in the package's src/. */
function readChatPage(): Buffer {
  if (chatPage) return chatPage;
  const here = path.dirname(new URL(import.meta.url).pathname);
  for (const p of [path.join(here, 'chat.html'), path.join(here, '..', '..', 'src', 'server', 'chat.html')]) {
    try {
      return (chatPage = readFileSync(p));
    } catch {
      /* next candidate */
    }
  }
  throw new ApiError('not_found_error', 'the chat page (src/server/chat.html) is missing from this installation');
}

/** OpenAI's finish_reason: the end of the context counts as the length limit, as in llama-server. */
function finishReason(r: FinishReason): 'stop' | 'length' {
  return r === 'eos' || r === 'stop' ? 'stop' : 'length';
}

/** finish_reason "tool_calls" when the answer is calls. */
function chatFinish(r: SlotResult, output: ChatOutput | undefined): string {
  const f = finishReason(r.finishReason);
  return f === 'stop' && output && output.toolCalls.length > 0 ? 'tool_calls' : f;
}

/** The non-streamed assistant message: the text split into reasoning, content and tool calls. */
function chatMessage(text: string, output: ChatOutput | undefined): AssistantMessage {
  if (!output) return { role: 'assistant', content: text };
  output.push(text);
  output.end();
  return output.message();
}

/** llama-server's `timings`. */
function timings(r: SlotResult): Record<string, number> {
  const s = r.stats;
  const predictedMs = s.decodeMs;
  return {
    cache_n: r.cachedTokens,
    prompt_n: s.promptTokensEvaluated,
    prompt_ms: s.prefillMs,
    prompt_per_token_ms: s.promptTokensEvaluated > 0 ? s.prefillMs / s.promptTokensEvaluated : 0,
    prompt_per_second: s.prefillTokensPerSecond,
    predicted_n: s.generatedTokens,
    predicted_ms: predictedMs,
    predicted_per_token_ms: s.generatedTokens > 0 ? predictedMs / s.generatedTokens : 0,
    predicted_per_second: predictedMs > 0 ? (s.generatedTokens * 1000) / predictedMs : 0,
  };
}

function usage(r: SlotResult): Record<string, unknown> {
  const completion = r.stats.generatedTokens;
  const prompt = r.stats.promptTokens;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: r.cachedTokens } };
}

type Format = 'chat' | 'text' | 'native';

export class TsinferServer {
  readonly http: http.Server;
  /** Resolves when the model is loaded and the server answers requests. */
  readonly ready: Promise<void>;
  private loaded: Loaded | undefined;
  private loadError: unknown;
  private stopping = false;
  private readonly inflight = new Set<AbortController>();
  private idle: Promise<void> = Promise.resolve();
  private resolveIdle: (() => void) | undefined;
  private readonly apiKey: Buffer | undefined;
  private readonly maxBody: number;

  constructor(
    model: ServedModel | Promise<ServedModel>,
    readonly opts: ServerOptions = {},
  ) {
    this.apiKey = opts.apiKey !== undefined ? Buffer.from(opts.apiKey) : undefined;
    this.maxBody = opts.maxBodyBytes ?? 4 << 20;
    const parallel = opts.parallel ?? 4;
    const queueSize = opts.queueSize ?? 32;
    // Check the numbers now rather than after the model has loaded.
    Scheduler.check({ parallel, queueSize });
    const rb = opts.reasoningBudget;
    if (rb !== undefined && !(Number.isInteger(rb) && rb >= -1)) throw new RangeError(`reasoningBudget must be -1 (unlimited), 0 (no thinking) or a positive integer, got ${rb}`);
    this.http = http.createServer((req, res) => void this.handle(req, res));
    this.ready = Promise.resolve(model).then(
      (m) => {
        this.loaded = {
          model: m,
          scheduler: new Scheduler(m, { parallel, queueSize, maxBatch: opts.batchSize ?? 512 }),
          template: opts.chatTemplate ?? m.chatTemplate,
          alias: opts.alias ?? path.basename(m.info.path),
          created: Math.floor(Date.now() / 1000),
        };
      },
      (e) => {
        this.loadError = e;
        throw e;
      },
    );
    this.ready.catch(() => {});
  }

  /** Starts listening (default 127.0.0.1:8080; port 0 picks a free one); resolves with the base URL. */
  listen(port = 8080, host = '127.0.0.1'): Promise<string> {
    return new Promise((ok, fail) => {
      this.http.once('error', fail);
      this.http.listen(port, host, () => {
        this.http.off('error', fail);
        ok(this.url);
      });
    });
  }

  get url(): string {
    const a = this.http.address() as AddressInfo | null;
    if (!a) throw new Error('the server is not listening');
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}`;
  }

  get scheduler(): Scheduler | undefined {
    return this.loaded?.scheduler;
  }

  /**
   * Stops accepting connections, cancels the requests in flight (their clients get what was
   * generated so far, or an error) and resolves when they have ended. The model is not disposed.
   */
  async close(): Promise<void> {
    this.stopping = true;
    const closed = new Promise<void>((ok) => this.http.close(() => ok()));
    for (const c of this.inflight) c.abort();
    this.loaded?.scheduler.cancelWaiting();
    await this.idle;
    // Keep-alive sockets become idle once their last response is flushed; a socket still busy
    // after 2 s is cut.
    const sweep = setInterval(() => this.http.closeIdleConnections(), 20);
    const force = setTimeout(() => this.http.closeAllConnections(), 2000);
    this.http.closeIdleConnections();
    await closed;
    clearInterval(sweep);
    clearTimeout(force);
  }

  private track(c: AbortController): () => void {
    if (this.inflight.size === 0) this.idle = new Promise((ok) => (this.resolveIdle = ok));
    this.inflight.add(c);
    return () => {
      this.inflight.delete(c);
      if (this.inflight.size === 0) this.resolveIdle?.();
    };
  }

  private send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = JSON_HEADERS): void {
    if (res.headersSent) return;
    const data = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
    // After a body over the limit, the rest of it is not read: the connection is closed.
    const close: Record<string, string> = status === 413 ? { connection: 'close' } : {};
    res.writeHead(status, { ...CORS, ...headers, ...close, 'content-length': String(Buffer.byteLength(data)) });
    res.end(data);
  }

  private sendError(res: http.ServerResponse, e: unknown): void {
    const err = this.toApiError(e);
    if (res.headersSent) {
      // Mid-stream: an SSE error event, then the end of the stream.
      if (!res.writableEnded) res.end(`data: ${JSON.stringify(errorBody(err))}\n\n`);
      return;
    }
    this.send(res, err.status, errorBody(err));
  }

  private toApiError(e: unknown): ApiError {
    if (e instanceof ApiError) return e;
    if (e instanceof ContextOverflowError) return badRequest(e.message);
    // A grammar or JSON Schema of the request that cannot be parsed or converted.
    if (e instanceof GrammarError || e instanceof JsonSchemaError) return badRequest(e.message);
    if (e instanceof TokenizerError) {
      // A template's raise_exception is about the messages sent; a broken template is the server's.
      return e.code === 'TEMPLATE_ERROR' ? badRequest(e.message) : new ApiError('server_error', e.message);
    }
    // Option checks of generate() and the sampler (the request's values).
    if (e instanceof RangeError) return badRequest(e.message);
    if (e instanceof AbortError) return new ApiError('unavailable_error', 'the request was cancelled (the server is shutting down)');
    return new ApiError('server_error', e instanceof Error ? `${e.name}: ${e.message}` : String(e));
  }

  private authorized(req: http.IncomingMessage): boolean {
    if (!this.apiKey) return true;
    const h = req.headers.authorization;
    const given = h?.startsWith('Bearer ') ? h.slice(7) : (req.headers['x-api-key'] as string | undefined);
    if (given === undefined) return false;
    const b = Buffer.from(given);
    return b.length === this.apiKey.length && timingSafeEqual(b, this.apiKey);
  }

  private readBody(req: http.IncomingMessage): Promise<string> {
    const declared = Number(req.headers['content-length'] ?? 0);
    const tooLarge = () => new ApiError('invalid_request_error', `the request body is larger than the limit of ${this.maxBody} bytes`, 413);
    if (declared > this.maxBody) return Promise.reject(tooLarge());
    return new Promise((ok, fail) => {
      const parts: Buffer[] = [];
      let n = 0;
      req.on('data', (b: Buffer) => {
        n += b.length;
        if (n > this.maxBody) {
          req.removeAllListeners('data');
          req.pause();
          fail(tooLarge());
          return;
        }
        parts.push(b);
      });
      req.on('end', () => ok(Buffer.concat(parts).toString('utf8')));
      req.on('error', fail);
      req.on('aborted', () => fail(new AbortError('the client closed the connection')));
    });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const route = `${req.method} ${url.pathname}`;
      if (req.method === 'OPTIONS') {
        res.writeHead(204, CORS).end();
        return;
      }
      if (!PUBLIC.has(url.pathname) && !this.authorized(req)) {
        throw new ApiError('authentication_error', 'invalid or missing API key (send "Authorization: Bearer KEY")');
      }
      if (route === 'GET /' || route === 'GET /index.html') {
        this.send(res, 200, readChatPage(), { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-cache' });
        return;
      }
      if (this.stopping) throw new ApiError('unavailable_error', 'the server is shutting down');
      const loaded = this.loaded;
      if (!loaded) {
        if (this.loadError !== undefined) throw new ApiError('server_error', `the model failed to load: ${(this.loadError as Error).message ?? this.loadError}`);
        throw new ApiError('unavailable_error', 'Loading model');
      }
      switch (route) {
        case 'GET /health':
        case 'GET /v1/health':
          return this.send(res, 200, { status: 'ok' });
        case 'GET /models':
        case 'GET /v1/models':
          return this.send(res, 200, this.models(loaded));
        case 'GET /props':
          return this.send(res, 200, this.props(loaded));
        case 'GET /slots':
          return this.send(res, 200, this.slotsInfo(loaded));
        case 'GET /metrics':
          return this.send(res, 200, this.metricsText(loaded), { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      }
      if (req.method !== 'POST') throw new ApiError('not_found_error', `no route for ${req.method} ${url.pathname}`);
      if (url.pathname === '/v1/embeddings' || url.pathname === '/embeddings') {
        const body = parseBody(await this.readBody(req));
        if (!this.opts.embeddings || typeof loaded.model.embed !== 'function') {
          throw new ApiError('not_supported_error', 'this server does not serve embeddings: start it with --embeddings (a model loaded for embeddings)');
        }
        return this.send(res, 200, await embeddingsResponse(loaded.model as EmbeddingModel, body, loaded.alias, this.opts.pooling));
      }
      if (this.opts.embeddings && url.pathname !== '/tokenize' && url.pathname !== '/detokenize') {
        throw new ApiError('not_supported_error', `this server was started with --embeddings: ${url.pathname} is not served (only /v1/embeddings)`);
      }
      switch (url.pathname) {
        case '/tokenize':
        case '/detokenize': {
          const body = parseBody(await this.readBody(req));
          return this.send(res, 200, url.pathname === '/tokenize' ? this.tokenize(loaded, body) : this.detokenize(loaded, body));
        }
        case '/v1/chat/completions':
        case '/chat/completions':
        case '/v1/responses':
        case '/responses': {
          const raw = parseBody(await this.readBody(req));
          // A Responses request is read into the chat completions shape: one pipeline for both.
          const responses = url.pathname.endsWith('/responses') ? responsesRequest(raw) : undefined;
          const body = responses?.chatBody ?? raw;
          const messages = chatMessages(body);
          const params = generationParams(body);
          if (loaded.template === undefined) {
            throw badRequest(`${loaded.alias} has no chat template (tokenizer.chat_template): start the server with --chat-template-file, or use /v1/completions`);
          }
          const constrained = params.options.grammar !== undefined || params.options.jsonSchema !== undefined;
          const chat = prepareChat(loaded.model.tokenizer, loaded.template, messages, { ...chatToolOptions(body, this.opts), constrained });
          if (chat.jsonSchema !== undefined) params.options.jsonSchema = chat.jsonSchema;
          if (chat.reasoningBudget !== undefined) params.options.reasoningBudget = chat.reasoningBudget;
          const writer = responses && new ResponsesWriter(responses, loaded.alias, chat.plan);
          return await this.complete(res, loaded, chat.prompt, params, 'chat', chat.output(), writer);
        }
        case '/v1/completions':
        case '/completions':
        case '/completion': {
          const body = parseBody(await this.readBody(req));
          const prompt = this.completionPrompt(loaded, body);
          return await this.complete(res, loaded, prompt, generationParams(body), url.pathname === '/completion' ? 'native' : 'text');
        }
        case '/infill': {
          const body = parseBody(await this.readBody(req));
          const params = generationParams(body);
          const prompt = infillPrompt(loaded.model.tokenizer, body, {
            contextLength: loaded.model.info.contextLength,
            batchSize: Math.min(this.opts.batchSize ?? 512, loaded.model.info.contextLength),
            maxTokens: params.maxTokens,
          });
          return await this.complete(res, loaded, prompt, params, 'native');
        }
      }
      throw new ApiError('not_found_error', `no route for ${req.method} ${url.pathname}`);
    } catch (e) {
      this.sendError(res, e);
    }
  }

  private completionPrompt(loaded: Loaded, body: Body): number[] {
    const p = body.prompt ?? body.content;
    const tok = loaded.model.tokenizer;
    if (typeof p === 'string') return tok.encode(p, { addSpecial: true, parseSpecial: true });
    if (Array.isArray(p)) {
      if (p.length > 0 && p.every((x) => typeof x === 'string')) {
        if (p.length !== 1) throw badRequest(`'prompt' holds ${p.length} prompts; send one prompt per request`);
        return tok.encode(p[0] as string, { addSpecial: true, parseSpecial: true });
      }
      if (p.length > 0 && Array.isArray(p[0])) throw badRequest(`'prompt' holds several token arrays; send one prompt per request`);
      const ids = tokenArray(p, 'prompt', loaded.model.info.hyperparameters.vocabSize);
      if (ids.length === 0) throw badRequest("'prompt' is empty");
      return [...ids];
    }
    if (p === undefined || p === null) throw badRequest("'prompt' is required");
    throw badRequest(`'prompt' must be a string or an array of token ids, got ${Array.isArray(p) ? 'array' : typeof p}`);
  }

  /** Runs one completion through the scheduler and answers in the endpoint's format, streamed or not. */
  private async complete(res: http.ServerResponse, loaded: Loaded, prompt: number[], params: GenerationParams, format: Format, output?: ChatOutput, responses?: ResponsesWriter): Promise<void> {
    const ctx = loaded.model.info.contextLength;
    if (prompt.length >= ctx) {
      throw badRequest(`the prompt has ${prompt.length} tokens and the context holds ${ctx}: it must be shorter than the context to leave room for an answer`);
    }
    // max_tokens is clamped to what the context has room for.
    const maxTokens = Math.min(params.maxTokens ?? Infinity, ctx - prompt.length);
    const controller = new AbortController();
    const untrack = this.track(controller);
    let finished = false;
    res.on('close', () => {
      if (!finished) controller.abort();
    });
    const id = `${format === 'chat' ? 'chatcmpl' : 'cmpl'}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 10)}`;
    const created = Math.floor(Date.now() / 1000);
    const model = loaded.alias;
    const object = format === 'chat' ? 'chat.completion' : 'text_completion';
    const sse = (data: unknown) => {
      if (!res.writableEnded) res.write(`data: ${JSON.stringify(data)}\n\n`);
    };
    // The Responses API's named events.
    const events = (list: { type: string }[]) => {
      for (const e of list) if (!res.writableEnded) res.write(`event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
    };
    const tok = loaded.model.tokenizer;
    const wantLogprobs = params.logprobs !== undefined;
    let streamedText = 0; // characters sent so far (the completions shape's text_offset)
    const chunk = (fields: Record<string, unknown>, finish: string | null, lps?: GeneratedTokenLogprob[]) => {
      const lp = wantLogprobs && lps ? (format === 'chat' ? chatLogprobs(tok, lps) : completionLogprobs(tok, lps, streamedText)) : null;
      return format === 'chat'
        ? { id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta: fields, logprobs: lp, finish_reason: finish }] }
        : { id, object, created, model, choices: [{ index: 0, text: (fields.content as string | undefined) ?? '', logprobs: lp, finish_reason: finish }] };
    };
    try {
      let onChunk: ((c: GenerationChunk) => void) | undefined;
      let sendDeltas: (deltas: ChatDelta[]) => void = () => {};
      const submitted = loaded.scheduler.submit({
        prompt,
        options: { ...params.options, maxTokens },
        signal: controller.signal,
        onChunk: (c) => onChunk?.(c),
      });
      if (params.stream) {
        res.writeHead(200, { ...CORS, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' });
        res.flushHeaders();
        if (responses) events(responses.start());
        else if (format === 'chat') sse(chunk({ role: 'assistant', content: null }, null));
        // A token whose text is held back (an unfinished UTF-8 sequence or stop string, or text
        // that may begin a tool call) has its log-probability sent with the next chunk that carries text.
        let held: GeneratedTokenLogprob[] = [];
        sendDeltas = (deltas: ChatDelta[]) => {
          if (responses) return events(responses.deltas(deltas));
          for (const d of deltas) {
            sse(chunk(d, null, held));
            held = [];
          }
        };
        onChunk = (c) => {
          if (c.logprobs) held.push(c.logprobs);
          if (!c.text) return;
          if (output) return sendDeltas(output.push(c.text));
          const lps = held;
          held = [];
          if (format === 'native') {
            sse({ content: c.text, tokens: c.tokenId >= 0 ? [c.tokenId] : [], stop: false, id_slot: -1, ...(wantLogprobs && { completion_probabilities: nativeLogprobs(tok, lps) }) });
          } else sse(chunk({ content: c.text }, null, lps));
          streamedText += c.text.length;
        };
      }
      const r = await submitted;
      finished = true;
      if (params.stream) {
        if (format === 'native') sse(this.nativeBody(loaded, r, '', prompt));
        else if (responses) {
          sendDeltas(output!.end());
          events(responses.finish(r, output!.message()));
        } else {
          if (output) sendDeltas(output.end());
          sse({ ...chunk({}, chatFinish(r, output)), timings: timings(r) });
          if (params.includeUsage) sse({ id, object: format === 'chat' ? 'chat.completion.chunk' : object, created, model, choices: [], usage: usage(r) });
          res.write('data: [DONE]\n\n');
        }
        res.end();
        return;
      }
      const lps = textLogprobs(tok, r.logprobs);
      if (format === 'native') {
        return this.send(res, 200, { ...this.nativeBody(loaded, r, r.text, prompt), ...(wantLogprobs && { completion_probabilities: nativeLogprobs(tok, lps) }) });
      }
      if (responses) return this.send(res, 200, responses.body(r, chatMessage(r.text, output)));
      const choice =
        format === 'chat'
          ? { index: 0, message: chatMessage(r.text, output), logprobs: wantLogprobs ? chatLogprobs(tok, lps) : null, finish_reason: chatFinish(r, output) }
          : { index: 0, text: r.text, logprobs: wantLogprobs ? completionLogprobs(tok, lps) : null, finish_reason: finishReason(r.finishReason) };
      this.send(res, 200, { id, object, created, model, system_fingerprint: 'tsinfer', choices: [choice], usage: usage(r), timings: timings(r) });
    } catch (e) {
      finished = true;
      if (controller.signal.aborted && res.destroyed) return; // the client left: nobody to answer
      this.sendError(res, e);
    } finally {
      untrack();
    }
  }

  /** llama-server's /completion and /infill result. */
  private nativeBody(loaded: Loaded, r: SlotResult, content: string, prompt: number[]): Record<string, unknown> {
    return {
      content,
      tokens: content ? r.tokens : [],
      id_slot: r.slotId,
      stop: true,
      model: loaded.alias,
      tokens_predicted: r.stats.generatedTokens,
      tokens_evaluated: prompt.length,
      tokens_cached: r.cachedTokens,
      truncated: false,
      stop_type: r.finishReason === 'eos' ? 'eos' : r.finishReason === 'stop' ? 'word' : 'limit',
      timings: timings(r),
    };
  }

  private models(loaded: Loaded): unknown {
    const info = loaded.model.info;
    return {
      object: 'list',
      data: [
        {
          id: loaded.alias,
          object: 'model',
          created: loaded.created,
          owned_by: 'tsinfer',
          meta: { n_ctx_train: info.hyperparameters.contextLength, n_ctx: info.contextLength, n_vocab: info.hyperparameters.vocabSize, n_params: info.parameters, size: info.fileBytes },
        },
      ],
    };
  }

  private props(loaded: Loaded): unknown {
    const tok = loaded.model.tokenizer;
    const d = DEFAULT_SAMPLING_OPTIONS;
    return {
      default_generation_settings: {
        n_ctx: loaded.model.info.contextLength,
        params: {
          n_predict: -1,
          temperature: d.temperature,
          top_k: d.topK,
          top_p: d.topP,
          min_p: d.minP,
          repeat_penalty: d.repeatPenalty,
          repeat_last_n: d.repeatLastN,
          presence_penalty: d.presencePenalty,
          frequency_penalty: d.frequencyPenalty,
          seed: -1,
        },
      },
      total_slots: loaded.scheduler.slots.length,
      slots_time_shared: true,
      model_path: loaded.model.info.path,
      model_alias: loaded.alias,
      chat_template: loaded.template ?? '',
      bos_token: tok.bosId >= 0 ? tok.tokenText(tok.bosId) : '',
      eos_token: tok.eosId >= 0 ? tok.tokenText(tok.eosId) : '',
      build_info: 'tsinfer',
      backend: loaded.model.info.backend,
    };
  }

  private slotsInfo(loaded: Loaded): unknown {
    const sch = loaded.scheduler;
    return sch.slots.map((s) => ({
      id: s.id,
      id_task: s.pending?.taskId ?? -1,
      n_ctx: loaded.model.info.contextLength,
      is_processing: s.pending !== undefined,
      is_running: s.running,
      holds_kv_cache: sch.holdsCache(s),
      n_tokens: s.tokens.length,
      n_prompt_tokens: s.pending ? s.promptTokens : 0,
      next_token: { has_next_token: s.running, n_decoded: s.decoded },
    }));
  }

  private metricsText(loaded: Loaded): string {
    const m = loaded.scheduler.metrics;
    const sch = loaded.scheduler;
    const rows: [string, 'counter' | 'gauge', string, number][] = [
      ['llamacpp:prompt_tokens_total', 'counter', 'Prompt tokens evaluated.', m.promptTokensTotal],
      ['llamacpp:prompt_seconds_total', 'counter', 'Prompt evaluation time.', m.promptSecondsTotal],
      ['llamacpp:tokens_predicted_total', 'counter', 'Tokens generated.', m.tokensPredictedTotal],
      ['llamacpp:tokens_predicted_seconds_total', 'counter', 'Generation time.', m.predictedSecondsTotal],
      ['llamacpp:n_decode_total', 'counter', 'Forward steps run.', m.decodeTotal],
      ['llamacpp:prompt_tokens_seconds', 'gauge', 'Average prompt throughput in tokens/s.', m.promptSecondsTotal > 0 ? m.promptTokensTotal / m.promptSecondsTotal : 0],
      ['llamacpp:predicted_tokens_seconds', 'gauge', 'Average generation throughput in tokens/s.', m.predictedSecondsTotal > 0 ? m.tokensPredictedTotal / m.predictedSecondsTotal : 0],
      ['llamacpp:requests_processing', 'gauge', 'Requests holding a slot.', sch.busy],
      ['llamacpp:requests_deferred', 'gauge', 'Requests waiting for a slot.', sch.queued],
      ['tsinfer:requests_total', 'counter', 'Completion requests admitted.', m.requestsTotal],
      ['tsinfer:requests_failed_total', 'counter', 'Completion requests that failed in the engine.', m.requestsFailed],
      ['tsinfer:requests_cancelled_total', 'counter', 'Completion requests cancelled (client gone, shutdown).', m.requestsCancelled],
      ['tsinfer:requests_rejected_total', 'counter', 'Completion requests refused with 503 (queue full).', m.requestsRejected],
    ];
    return rows.map(([name, type, help, v]) => `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${v}\n`).join('');
  }

  private tokenize(loaded: Loaded, body: Body): unknown {
    const content = optString(body, 'content');
    if (content === undefined) throw badRequest("'content' is required");
    const tok = loaded.model.tokenizer;
    const ids = tok.encode(content, { addSpecial: optBool(body, 'add_special') ?? false, parseSpecial: optBool(body, 'parse_special') ?? true });
    if (optBool(body, 'with_pieces')) return { tokens: ids.map((id) => ({ id, piece: tok.tokenToPiece(id, { special: true }) })) };
    return { tokens: ids };
  }

  private detokenize(loaded: Loaded, body: Body): unknown {
    const ids = tokenArray(body.tokens ?? [], 'tokens', loaded.model.info.hyperparameters.vocabSize);
    return { content: loaded.model.tokenizer.decode(ids) };
  }
}

/**
 * An OpenAI-compatible server for a model (or a promise of one: until it resolves /health
 * answers 503). Call `listen()` to start it and `close()` to stop it; the caller owns the model.
 */
export function createServer(model: ServedModel | Promise<ServedModel>, opts: ServerOptions = {}): TsinferServer {
  return new TsinferServer(model, opts);
}
