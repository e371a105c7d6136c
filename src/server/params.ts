/**
 * Request bodies: the fields of the OpenAI API and llama-server read with their types checked.
 * Unknown fields are ignored; `null` counts as absent (clients send it for "default"); a field
 * of the wrong type or out of range is a 400 naming it.
 */
import type { GenerateOptions } from '../generate/generate.js';
import type { ChatMessage } from '../tokenizer/chat.js';
import { MAX_TOP_LOGPROBS } from '../generate/logprobs.js';
import { badRequest } from './errors.js';

export type Body = Record<string, unknown>;

export function kind(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

/** The parsed JSON body, which must be an object. */
export function parseBody(raw: string): Body {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (e) {
    throw badRequest(`the request body is not valid JSON: ${(e as Error).message}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw badRequest(`the request body must be a JSON object, got ${kind(v)}`);
  return v as Body;
}

export function optNumber(body: Body, name: string, rule: { integer?: boolean; min?: number; max?: number } = {}): number | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw badRequest(`'${name}' must be a number, got ${kind(v)}`);
  if (rule.integer && !Number.isSafeInteger(v)) throw badRequest(`'${name}' must be an integer, got ${v}`);
  if (rule.min !== undefined && v < rule.min) throw badRequest(`'${name}' must be at least ${rule.min}, got ${v}`);
  if (rule.max !== undefined && v > rule.max) throw badRequest(`'${name}' must be at most ${rule.max}, got ${v}`);
  return v;
}

export function optBool(body: Body, name: string): boolean | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw badRequest(`'${name}' must be a boolean, got ${kind(v)}`);
  return v;
}

export function optString(body: Body, name: string): string | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw badRequest(`'${name}' must be a string, got ${kind(v)}`);
  return v;
}

export function optObject(body: Body, name: string): Body | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw badRequest(`'${name}' must be an object, got ${kind(v)}`);
  return v as Body;
}

/** A list of token ids (integers in the vocabulary). */
export function tokenArray(v: unknown, name: string, vocabSize: number): number[] {
  if (!Array.isArray(v)) throw badRequest(`'${name}' must be an array of token ids, got ${kind(v)}`);
  for (const [i, id] of v.entries()) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw badRequest(`'${name}[${i}]' must be a token id in [0, ${vocabSize}), got ${JSON.stringify(id)}`);
    }
  }
  return v as number[];
}

function positive(body: Body, name: string): number | undefined {
  const v = optNumber(body, name);
  if (v !== undefined && !(v > 0)) throw badRequest(`'${name}' must be greater than 0 (1 disables it), got ${v}`);
  return v;
}

/** Generation parameters shared by every completion endpoint. */
export interface GenerationParams {
  /** Tokens to generate at most (undefined: until the end of the context). */
  maxTokens: number | undefined;
  options: GenerateOptions;
  stream: boolean;
  /** stream_options.include_usage: a last chunk with the usage. */
  includeUsage: boolean;
  /** Alternatives per token when log-probabilities are asked for (0: the chosen token's only); undefined when not asked. */
  logprobs: number | undefined;
}

/**
 * Log-probabilities: chat's `logprobs: true` with `top_logprobs: N`, the completions API's
 * `logprobs: N` (N alternatives per token), llama-server's `n_probs: N`. Undefined when none is
 * asked for, else the number of alternatives per token.
 */
function logprobParams(body: Body): number | undefined {
  const lp = body.logprobs;
  let asked = false;
  let top = 0;
  if (lp !== undefined && lp !== null) {
    if (typeof lp === 'boolean') asked = lp;
    else if (typeof lp === 'number') {
      top = optNumber(body, 'logprobs', { integer: true, min: 0, max: MAX_TOP_LOGPROBS })!;
      asked = true;
    } else throw badRequest(`'logprobs' must be a boolean or an integer, got ${kind(lp)}`);
  }
  const topLogprobs = optNumber(body, 'top_logprobs', { integer: true, min: 0, max: MAX_TOP_LOGPROBS });
  if (topLogprobs !== undefined) {
    if (topLogprobs > 0 && lp === false) throw badRequest("'top_logprobs' needs 'logprobs' to be true");
    top = Math.max(top, topLogprobs);
    asked ||= topLogprobs > 0;
  }
  const nProbs = optNumber(body, 'n_probs', { integer: true, min: 0, max: MAX_TOP_LOGPROBS });
  if (nProbs !== undefined && nProbs > 0) {
    top = Math.max(top, nProbs);
    asked = true;
  }
  return asked ? top : undefined;
}

/**
 * Constrained output: `response_format` {type: "json_object"} (any JSON object, or llama-server's
 * `schema` beside it) or {type: "json_schema", json_schema: {schema}}, and llama-server's `grammar`
 * (GBNF text) and `json_schema` fields. At most one of them per request.
 */
function constraintParams(body: Body): Pick<GenerateOptions, 'grammar' | 'jsonSchema'> {
  const found: [string, Pick<GenerateOptions, 'grammar' | 'jsonSchema'>][] = [];
  const grammar = optString(body, 'grammar');
  if (grammar !== undefined && grammar !== '') found.push(['grammar', { grammar }]);
  const schema = body.json_schema;
  if (schema !== undefined && schema !== null) {
    if (typeof schema !== 'object' && typeof schema !== 'boolean') throw badRequest(`'json_schema' must be a JSON Schema (an object), got ${kind(schema)}`);
    found.push(['json_schema', { jsonSchema: schema }]);
  }
  const format = optObject(body, 'response_format');
  if (format && format.type !== undefined && format.type !== null && format.type !== 'text') {
    if (format.type === 'json_object') {
      const s = format.schema;
      if (s !== undefined && s !== null && (typeof s !== 'object' || Array.isArray(s))) throw badRequest(`'response_format.schema' must be an object, got ${kind(s)}`);
      found.push(['response_format', { jsonSchema: s ?? { type: 'object' } }]);
    } else if (format.type === 'json_schema') {
      const js = optObject(format, 'json_schema');
      if (js === undefined) throw badRequest('\'response_format.json_schema\' is required when type is "json_schema"');
      const s = js.schema;
      if (s === undefined || s === null) throw badRequest("'response_format.json_schema.schema' is required");
      if (typeof s !== 'object' && typeof s !== 'boolean') throw badRequest(`'response_format.json_schema.schema' must be an object, got ${kind(s)}`);
      found.push(['response_format', { jsonSchema: s }]);
    } else {
      throw badRequest(`'response_format.type' must be "text", "json_object" or "json_schema", got ${JSON.stringify(format.type)}`);
    }
  }
  if (found.length > 1) throw badRequest(`give one of ${found.map(([n]) => `'${n}'`).join(' and ')}, not several: each constrains the output`);
  return found[0]?.[1] ?? {};
}

/**
 * max_tokens / max_completion_tokens / n_predict (-1 = no limit), temperature, top_p, top_k,
 * min_p, repeat_penalty, repeat_last_n, presence_penalty, frequency_penalty, seed, stop (a
 * string or an array), ignore_eos, cache_prompt, stream and stream_options.
 */
export function generationParams(body: Body): GenerationParams {
  const constraint = constraintParams(body);
  const logprobs = logprobParams(body);
  const n = optNumber(body, 'n', { integer: true });
  if (n !== undefined && n !== 1) throw badRequest(`only one choice per request is supported ('n' must be 1, got ${n})`);

  let maxTokens: number | undefined;
  for (const name of ['max_tokens', 'max_completion_tokens', 'n_predict']) {
    const v = optNumber(body, name, { integer: true, min: -1 });
    if (v !== undefined) {
      maxTokens = v < 0 ? undefined : v;
      break;
    }
  }
  let stop: string[] = [];
  const s = body.stop;
  if (typeof s === 'string') stop = [s];
  else if (Array.isArray(s)) {
    for (const [i, x] of s.entries()) if (typeof x !== 'string') throw badRequest(`'stop[${i}]' must be a string, got ${kind(x)}`);
    stop = s as string[];
  } else if (s !== undefined && s !== null) throw badRequest(`'stop' must be a string or an array of strings, got ${kind(s)}`);

  const streamOptions = optObject(body, 'stream_options');
  const seed = optNumber(body, 'seed', { integer: true, min: -1 });
  const options: GenerateOptions = {
    temperature: optNumber(body, 'temperature', { min: 0 }),
    topP: optNumber(body, 'top_p', { min: 0, max: 1 }),
    topK: optNumber(body, 'top_k', { integer: true }),
    minP: optNumber(body, 'min_p', { min: 0, max: 1 }),
    repeatPenalty: positive(body, 'repeat_penalty'),
    repeatLastN: optNumber(body, 'repeat_last_n', { integer: true, min: -1 }),
    presencePenalty: optNumber(body, 'presence_penalty'),
    frequencyPenalty: optNumber(body, 'frequency_penalty'),
    seed,
    stop,
    ignoreEos: optBool(body, 'ignore_eos'),
    cachePrompt: optBool(body, 'cache_prompt') ?? true,
    ...constraint,
    ...(logprobs !== undefined && { logprobs: true, topLogprobs: logprobs }),
  };
  return {
    maxTokens,
    options,
    stream: optBool(body, 'stream') ?? false,
    includeUsage: streamOptions ? (optBool(streamOptions, 'include_usage') ?? false) : false,
    logprobs,
  };
}

/** Chat messages: role and content (a string, null, or an array of text parts). */
export function chatMessages(body: Body): ChatMessage[] {
  const ms = body.messages;
  if (ms === undefined || ms === null) throw badRequest("'messages' is required");
  if (!Array.isArray(ms)) throw badRequest(`'messages' must be an array, got ${kind(ms)}`);
  if (ms.length === 0) throw badRequest("'messages' must not be empty");
  return ms.map((m: unknown, i): ChatMessage => {
    if (m === null || typeof m !== 'object' || Array.isArray(m)) throw badRequest(`'messages[${i}]' must be an object, got ${kind(m)}`);
    const { role, content, ...rest } = m as Body;
    if (typeof role !== 'string') throw badRequest(`'messages[${i}].role' must be a string, got ${kind(role)}`);
    let text: string;
    if (typeof content === 'string') text = content;
    else if (content === null || content === undefined) {
      if (role !== 'assistant') throw badRequest(`'messages[${i}].content' is required`);
      text = '';
    } else if (Array.isArray(content)) {
      text = content
        .map((p: unknown, j) => {
          const part = p as Body | null;
          if (part === null || typeof part !== 'object' || part.type !== 'text' || typeof part.text !== 'string') {
            throw badRequest(`'messages[${i}].content[${j}]' must be a text part { type: "text", text }; other content types are not supported`);
          }
          return part.text;
        })
        .join('');
    } else throw badRequest(`'messages[${i}].content' must be a string or an array of text parts, got ${kind(content)}`);
    return { ...rest, role, content: text };
  });
}
