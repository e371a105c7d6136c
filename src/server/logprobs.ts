/**
 * Log-probabilities in the server's response shapes (the numbers come from generate()'s
 * `logprobs`, see generate/logprobs.ts: the model's softmax before the sampler chain).
 *
 *   chat         choices[].logprobs = { content: [{ token, logprob, bytes, top_logprobs: [...] }], refusal: null }
 *   completions  choices[].logprobs = { tokens, token_logprobs, top_logprobs: [{ token: logprob }], text_offset }
 *   native       completion_probabilities: [{ id, token, logprob, bytes, top_logprobs: [{ id, token, logprob, bytes }] }]
 */
import type { GeneratedTokenLogprob } from '../generate/logprobs.js';
import type { Tokenizer } from '../tokenizer/tokenizer.js';

type Tok = Pick<Tokenizer, 'tokenToPieceBytes' | 'isEog'>;

const utf8 = new TextDecoder('utf-8');

function piece(tok: Tok, id: number): { token: string; bytes: number[] } {
  const b = tok.tokenToPieceBytes(id, { special: true });
  return { token: utf8.decode(b), bytes: Array.from(b) };
}

/** The entries of the tokens that are part of the text: an end-of-generation token that ended it is not. */
export function textLogprobs(tok: Tok, lps: readonly GeneratedTokenLogprob[] | undefined): GeneratedTokenLogprob[] {
  if (!lps || lps.length === 0) return [];
  const last = lps[lps.length - 1]!;
  return tok.isEog(last.tokenId) ? lps.slice(0, -1) : [...lps];
}

export function chatLogprobs(tok: Tok, lps: readonly GeneratedTokenLogprob[]): Record<string, unknown> {
  return {
    content: lps.map((lp) => ({
      ...piece(tok, lp.tokenId),
      logprob: lp.logprob,
      top_logprobs: lp.top.map((t) => ({ ...piece(tok, t.tokenId), logprob: t.logprob })),
    })),
    refusal: null,
  };
}

/** The legacy completions shape; `offset` is the text length before the first of these tokens. */
export function completionLogprobs(tok: Tok, lps: readonly GeneratedTokenLogprob[], offset = 0): Record<string, unknown> {
  const tokens: string[] = [];
  const textOffset: number[] = [];
  let at = offset;
  for (const lp of lps) {
    const t = piece(tok, lp.tokenId).token;
    tokens.push(t);
    textOffset.push(at);
    at += t.length;
  }
  return {
    tokens,
    token_logprobs: lps.map((lp) => lp.logprob),
    top_logprobs: lps.map((lp) => Object.fromEntries(lp.top.map((t) => [piece(tok, t.tokenId).token, t.logprob]))),
    text_offset: textOffset,
  };
}

/** llama-server's `completion_probabilities`. */
export function nativeLogprobs(tok: Tok, lps: readonly GeneratedTokenLogprob[]): Record<string, unknown>[] {
  return lps.map((lp) => ({
    id: lp.tokenId,
    ...piece(tok, lp.tokenId),
    logprob: lp.logprob,
    top_logprobs: lp.top.map((t) => ({ id: t.tokenId, ...piece(tok, t.tokenId), logprob: t.logprob })),
  }));
}
