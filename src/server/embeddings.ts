/**
 * POST /v1/embeddings (OpenAI's shape) on model.embed: the server must hold a model loaded with
 * `{ embeddings: true }` (`tsinfer serve --embeddings`, as llama-server's --embeddings), which
 * then serves no completions.
 *
 *   input            a string or an array of strings (token-id inputs are refused with a 400)
 *   encoding_format  "float" (default) or "base64" (little-endian float32, as OpenAI)
 *   dimensions       refused unless equal to the model's width (no truncation)
 *
 * Pooling is the server's (`--pooling`, else the file's `<arch>.pooling_type`); pooling "none"
 * (one vector per token) is refused with a 400, as llama-server does on this endpoint.
 */
import type { Pooling } from '../model/embed.js';
import type { Model } from '../model/model.js';
import { badRequest } from './errors.js';
import { kind, optNumber, optString, type Body } from './params.js';

export type EmbeddingModel = Pick<Model, 'embed' | 'tokenizer' | 'info'>;

export async function embeddingsResponse(model: EmbeddingModel, body: Body, alias: string, pooling?: Pooling): Promise<Record<string, unknown>> {
  const input = body.input;
  let texts: string[];
  if (typeof input === 'string') texts = [input];
  else if (Array.isArray(input) && input.length > 0 && input.every((x) => typeof x === 'string')) texts = input as string[];
  else if (Array.isArray(input) && input.length > 0 && input.every((x) => typeof x === 'number' || Array.isArray(x))) {
    throw badRequest("'input' as token ids is not supported: send text");
  } else if (input === undefined || input === null) throw badRequest("'input' is required");
  else throw badRequest(`'input' must be a string or a non-empty array of strings, got ${kind(input)}`);
  const format = optString(body, 'encoding_format') ?? 'float';
  if (format !== 'float' && format !== 'base64') throw badRequest(`'encoding_format' must be "float" or "base64", got ${JSON.stringify(format)}`);
  const dim = model.info.hyperparameters.embeddingLength;
  const dims = optNumber(body, 'dimensions', { integer: true, min: 1 });
  if (dims !== undefined && dims !== dim) throw badRequest(`'dimensions' must be the model's embedding width ${dim} (vectors are not truncated), got ${dims}`);
  for (const [i, t] of texts.entries()) if (t === '') throw badRequest(`'input[${i}]' is empty`);
  const vectors = await model.embed(texts, { pooling });
  if (vectors.some((v) => v.length !== dim)) {
    throw badRequest("the model's pooling is 'none' (one vector per token), which /v1/embeddings cannot return: start the server with --pooling mean, cls or last");
  }
  const promptTokens = texts.reduce((n, t) => n + model.tokenizer.encode(t, { addSpecial: true, parseSpecial: false }).length, 0);
  return {
    object: 'list',
    data: vectors.map((v, index) => ({
      object: 'embedding',
      index,
      embedding: format === 'base64' ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') : Array.from(v),
    })),
    model: alias,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  };
}
