/**
 * Request bodies: the fields of the OpenAI API and llama-server read with their types checked.
 * Unknown fields are ignored; `null` counts as absent (clients send it for "default"); a field
 * of the wrong type or out of range is a 400 naming it.
 */
import type { GenerateOptions } from '../generate/generate.js';
import type { ChatMessage } from '../tokenizer/chat.js';
import { badRequest } from './errors.js';

export type Body = Record<string, unknown>;

function kind(v: unknown): string {
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

/** A parameter llama-server has and this server does not yet: a 400 rather than a silently missing field. */
const notYet = (name: string) => badRequest(`'${name}' is not supported yet: the engine does not return token probabilities`);

/** Generation parameters shared by every completion endpoint. */
export interface GenerationParams {
  /** Tokens to generate at most (undefined: until the end of the context). */
  maxTokens: number | undefined;
  options: GenerateOptions;
  stream: boolean;
  /** stream_options.include_usage: a last chunk with the usage. */
  includeUsage: boolean;
}

/**
 * max_tokens / max_completion_tokens / n_predict (-1 = no limit), temperature, top_p, top_k,
 * min_p, repeat_penalty, repeat_last_n, presence_penalty, frequency_penalty, seed, stop (a
 * string or an array), ignore_eos, cache_prompt, stream and stream_options.
 */
export function generationParams(body: Body): GenerationParams {
  // TODO(logprobs): the engine does not return token probabilities yet. Asking for them is an
  // error rather than a silently missing field; map them here once generate() yields logprobs.
  if (body.logprobs !== undefined && body.logprobs !== null && body.logprobs !== false) {
    if (typeof body.logprobs !== 'boolean' && typeof body.logprobs !== 'number') throw badRequest(`'logprobs' must be a boolean, got ${kind(body.logprobs)}`);
    if (body.logprobs !== 0) throw notYet('logprobs');
  }
  if ((optNumber(body, 'top_logprobs', { integer: true, min: 0 }) ?? 0) > 0) throw notYet('top_logprobs');
  if ((optNumber(body, 'n_probs', { integer: true, min: 0 }) ?? 0) > 0) throw notYet('n_probs');
  // TODO(grammar): constrained sampling is being added to generate(); until the server maps these
  // to it, a request for constrained output is refused rather than answered unconstrained.
  for (const name of ['grammar', 'json_schema']) {
    if (body[name] !== undefined && body[name] !== null && body[name] !== '') throw badRequest(`'${name}' is not supported yet: this server cannot constrain the output`);
  }
  const format = optObject(body, 'response_format');
  if (format && format.type !== undefined && format.type !== 'text') {
    throw badRequest(`'response_format' of type ${JSON.stringify(format.type)} is not supported yet: this server cannot constrain the output (only "text")`);
  }
  if (Array.isArray(body.tools) && body.tools.length > 0) throw badRequest("'tools' are not supported yet: this server does not parse tool calls");
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
  };
  return {
    maxTokens,
    options,
    stream: optBool(body, 'stream') ?? false,
    includeUsage: streamOptions ? (optBool(streamOptions, 'include_usage') ?? false) : false,
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
