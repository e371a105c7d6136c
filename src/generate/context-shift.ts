/**
 * Context shift, as llama.cpp's `--context-shift` (tools/main): when the next token would fill the
 * KV cache (n_past + 1 >= n_ctx), keep the first n_keep tokens, discard the oldest half of the
 * rest, n_discard = (n_past - n_keep) / 2, and go on generating.
 *
 * llama.cpp keeps the cached keys and values of the surviving tokens and re-rotates the keys in
 * place by -n_discard positions (a backend op). This engine instead re-evaluates the surviving
 * tokens at their new positions through the model, which works the same on every backend; the
 * cache afterwards is what evaluating the shortened sequence from scratch gives. The tokens kept
 * and dropped are llama.cpp's; the numbers differ from llama.cpp's by float rounding (keys rotated
 * once at the new position rather than rotated and then rotated back), and a shift costs one
 * prompt-style evaluation of about half the context.
 */

/** The tokens llama.cpp keeps: `nKeep` < 0 or beyond the prompt means the whole prompt; a leading BOS is kept on top of `nKeep`. */
export function keptTokens(nKeep: number, promptLength: number, leadingBos: boolean): number {
  if (nKeep < 0 || nKeep > promptLength) return promptLength;
  return Math.min(promptLength, nKeep + (leadingBos ? 1 : 0));
}

/** Whether the cache must shift before a step of `nTokens` at position `nPast` (llama.cpp's condition). */
export function needsShift(nPast: number, nTokens: number, contextLength: number): boolean {
  return nPast + nTokens >= contextLength;
}

/** Tokens to drop after the kept ones: half of the rest, rounded down (0: nothing can be dropped). */
export function tokensToDiscard(nPast: number, nKeep: number): number {
  return Math.max(0, Math.floor((nPast - nKeep) / 2));
}
