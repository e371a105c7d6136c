/**
 * The prompt of llama-server's /infill (fill in the middle), laid out as llama-server lays it:
 *
 *   [extra chunks] [BOS] FIM_PRE prefix prompt FIM_SUF suffix FIM_MID
 *
 * where each `input_extra` chunk is `FIM_SEP filename\n text` (or, without a FIM_SEP token, a
 * "\n\n--- snippet ---\n\n" separator then the text), followed by `FIM_SEP filename\n` when the
 * vocabulary has FIM_SEP. The prefix keeps its last 3/4 of a batch of tokens, the suffix its
 * first batch/4 - (2 + prompt) tokens, and the extra context the last
 * n_ctx - n_batch - 2 * n_predict tokens, as llama-server picks them. (llama-server's
 * `--spm-infill` order, suffix before prefix, is not offered.)
 */
import type { Tokenizer } from '../tokenizer/tokenizer.js';
import { badRequest } from './errors.js';
import { optString, type Body } from './params.js';

export function infillPrompt(tok: Tokenizer, body: Body, opts: { contextLength: number; batchSize: number; maxTokens: number | undefined }): number[] {
  const { fimPreId: pre, fimSufId: suf, fimMidId: mid, fimSepId: sep } = tok.specialIds;
  if (pre < 0 || suf < 0 || mid < 0) {
    const missing = [pre < 0 && 'fim_pre', suf < 0 && 'fim_suf', mid < 0 && 'fim_mid'].filter(Boolean).join(', ');
    throw badRequest(`this model has no fill-in-the-middle tokens (${missing} missing: tokenizer.ggml.*_token_id, and no token with a known FIM text), so /infill cannot be used`);
  }
  const plain = (text: string) => tok.encode(text, { addSpecial: false, parseSpecial: false });
  const prefixText = optString(body, 'input_prefix') ?? '';
  const suffixText = optString(body, 'input_suffix') ?? '';
  const promptText = optString(body, 'prompt') ?? '';

  const extra: number[] = [];
  const chunks = body.input_extra ?? [];
  if (!Array.isArray(chunks)) throw badRequest(`'input_extra' must be an array of { filename, text }`);
  for (const [i, c] of chunks.entries()) {
    if (c === null || typeof c !== 'object' || Array.isArray(c)) throw badRequest(`'input_extra[${i}]' must be an object { filename, text }`);
    const text = optString(c as Body, 'text') ?? '';
    const filename = optString(c as Body, 'filename') ?? 'tmp';
    if (sep >= 0) extra.push(sep, ...plain(filename + '\n'));
    else extra.push(...plain('\n\n--- snippet ---\n\n'));
    extra.push(...plain(text));
  }
  if (sep >= 0) extra.push(sep, ...plain('filename\n'));

  const prompt = plain(promptText);
  let prefix = plain(prefixText);
  let suffix = plain(suffixText);
  const nBatch = opts.batchSize;
  const nPredict = opts.maxTokens ?? -1;
  const takePrefix = Math.min(prefix.length, 3 * Math.floor(nBatch / 4));
  const takeSuffix = Math.min(suffix.length, Math.max(0, Math.floor(nBatch / 4) - (2 + prompt.length)));
  const takeExtra = Math.min(Math.max(0, opts.contextLength - nBatch - 2 * nPredict), extra.length);
  prefix = prefix.slice(prefix.length - takePrefix);
  suffix = suffix.slice(0, takeSuffix);

  const out = extra.slice(extra.length - takeExtra);
  if (tok.addBos && tok.bosId >= 0) out.push(tok.bosId);
  out.push(pre, ...prefix, ...prompt, suf, ...suffix, mid);
  return out;
}
