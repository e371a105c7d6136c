import type { GenerationResult } from './generate.js';

/**
 * Generation was cancelled: its AbortSignal fired, or the model was disposed while the stream was open.
 *
 * `partial` is the result as far as generation got (text, token ids, stats, finishReason `'abort'`)
 * when the abort came after the prompt was evaluated; it is undefined when generation had not started
 * (the signal was already aborted, or the model was disposed before the stream took it).
 */
export class AbortError extends Error {
  override readonly name = 'AbortError';
  constructor(
    message = 'generation aborted',
    readonly partial?: GenerationResult,
  ) {
    super(message);
  }
}
