/**
 * A reasoning budget, as llama.cpp's `--reasoning-budget`: the tokens generated inside a think
 * block (`<think>` … `</think>`) are counted, and when the budget is spent the block is closed by
 * forcing the tokens of `message + "</think>"`, one per step, instead of sampling; the answer
 * follows. A block the model closes itself ends the count; a new `<think>` starts a new one.
 *
 *   idle      watching the text for the start tag (or `open`: the prompt already opened it)
 *   counting  tokens inside the block; at 0 left → forcing (after a character cut in the middle
 *             of its UTF-8 bytes is finished, at most 3 more tokens)
 *   forcing   the forced tokens, then idle
 *
 * Tags are matched on the generated text, not on token ids, so a model that spells `</think>`
 * in several tokens is seen closing its block.
 */

export interface ReasoningBudgetOptions {
  /** Tokens of thinking allowed; 0 closes the block at once. */
  tokens: number;
  /** Text put before the end tag when the budget runs out (llama-server's --reasoning-budget-message). */
  message?: string;
  /** Default `<think>`. */
  start?: string;
  /** Default `</think>`. */
  end?: string;
  /** The prompt ends inside the block (the chat template opened it): counting starts at once. */
  open?: boolean;
}

export function validateReasoningBudget(o: ReasoningBudgetOptions | undefined): void {
  if (o === undefined) return;
  if (o === null || typeof o !== 'object') throw new RangeError('reasoningBudget must be an object { tokens, message?, start?, end?, open? }');
  if (!Number.isSafeInteger(o.tokens) || o.tokens < 0) throw new RangeError(`reasoningBudget.tokens must be a non-negative integer, got ${o.tokens}`);
  for (const k of ['message', 'start', 'end'] as const) {
    if (o[k] !== undefined && typeof o[k] !== 'string') throw new RangeError(`reasoningBudget.${k} must be a string`);
  }
  if (o.start === '' || o.end === '') throw new RangeError('reasoningBudget.start and .end must not be empty');
}

export class ReasoningBudget {
  private state: 'idle' | 'counting' | 'forcing' = 'idle';
  private remaining = 0;
  private waited = 0;
  private tail = '';
  private forcedAt = 0;
  private readonly start: string;
  private readonly end: string;

  /** `forced`: the token ids of `message + end`. */
  constructor(
    private readonly opts: ReasoningBudgetOptions,
    private readonly forced: readonly number[],
  ) {
    this.start = opts.start ?? '<think>';
    this.end = opts.end ?? '</think>';
    if (opts.open) this.arm();
  }

  private arm(): void {
    this.state = 'counting';
    this.remaining = this.opts.tokens;
    this.waited = 0;
    if (this.remaining <= 0) this.force();
  }

  private force(): void {
    this.state = this.forced.length > 0 ? 'forcing' : 'idle';
    this.forcedAt = 0;
    this.tail = '';
  }

  /** The token this step must be, or undefined to sample. */
  next(): number | undefined {
    return this.state === 'forcing' ? this.forced[this.forcedAt] : undefined;
  }

  /** After each generated token: its text (empty for a partial character or a control token). */
  accept(piece: string): void {
    if (this.state === 'forcing') {
      if (++this.forcedAt >= this.forced.length) this.state = 'idle';
      return;
    }
    this.tail += piece;
    if (this.state === 'idle') {
      const at = this.tail.indexOf(this.start);
      if (at < 0) {
        this.tail = this.tail.slice(-this.start.length);
        return;
      }
      this.tail = this.tail.slice(at + this.start.length);
      this.arm();
      return;
    }
    // Counting.
    const at = this.tail.indexOf(this.end);
    if (at >= 0) {
      this.state = 'idle';
      this.tail = this.tail.slice(at + this.end.length);
      return;
    }
    this.tail = this.tail.slice(-this.end.length);
    if (this.remaining > 0) this.remaining--;
    if (this.remaining > 0) return;
    // Spent: finish a character whose bytes are not all out yet (an empty piece), then close.
    if (piece === '' && this.waited++ < 3) return;
    this.force();
  }
}
