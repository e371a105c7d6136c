/**
 * Log-probabilities of generated tokens, as OpenAI's `logprobs` / `top_logprobs` give them:
 * from the model's full softmax over the raw logits of the step, before the sampler chain
 * (no repetition penalties, temperature, top-k/top-p/min-p truncation). llama.cpp's server
 * reports the probabilities after its sampler chain unless asked for the raw ones; tsinfer
 * always reports the model's distribution, so they do not depend on the sampling settings.
 */

export interface TokenLogprob {
  readonly tokenId: number;
  /** ln p(token) under the model's softmax. */
  readonly logprob: number;
}

export interface GeneratedTokenLogprob extends TokenLogprob {
  /** The topLogprobs most likely tokens of the step, best first (ties: lower id first); empty when not asked. */
  readonly top: TokenLogprob[];
}

/** Largest number of alternatives per token one may ask for. */
export const MAX_TOP_LOGPROBS = 100;

export function validateLogprobOptions(o: { logprobs?: boolean; topLogprobs?: number }): void {
  if (o.logprobs !== undefined && typeof o.logprobs !== 'boolean') throw new TypeError('logprobs must be a boolean');
  const n = o.topLogprobs;
  if (n !== undefined && (!Number.isInteger(n) || n < 0 || n > MAX_TOP_LOGPROBS)) {
    throw new RangeError(`topLogprobs must be an integer from 0 to ${MAX_TOP_LOGPROBS}, got ${n}`);
  }
}

/** Whether the options ask for log-probabilities (topLogprobs > 0 implies logprobs). */
export function wantsLogprobs(o: { logprobs?: boolean; topLogprobs?: number }): boolean {
  return o.logprobs === true || (o.topLogprobs ?? 0) > 0;
}

/** ln Σ exp(row), max-subtracted, summed in double. */
export function logSumExp(row: Float32Array): number {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i]! > max) max = row[i]!;
  if (max === -Infinity) return -Infinity;
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i]! - max);
  return max + Math.log(sum);
}

/** The chosen token's log-probability and the `top` best alternatives of one logits row. */
export function tokenLogprob(row: Float32Array, chosen: number, top: number): GeneratedTokenLogprob {
  const lse = logSumExp(row);
  const best: number[] = [];
  if (top > 0) {
    // Keep the `top` largest by insertion into a small sorted list (top is at most MAX_TOP_LOGPROBS).
    for (let i = 0; i < row.length; i++) {
      const v = row[i]!;
      if (!(v === v)) continue;
      if (best.length === top && v <= row[best[top - 1]!]!) continue;
      let k = best.length < top ? best.length : top - 1;
      while (k > 0 && row[best[k - 1]!]! < v) k--;
      best.splice(k, 0, i);
      if (best.length > top) best.pop();
    }
  }
  return { tokenId: chosen, logprob: row[chosen]! - lse, top: best.map((id) => ({ tokenId: id, logprob: row[id]! - lse })) };
}
