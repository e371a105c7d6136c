/** The model cannot be built from this file: unsupported architecture, missing or mis-shaped tensor, bad hyperparameter. */
export class ModelError extends Error {
  override readonly name = 'ModelError';
}

/** The prompt (plus what was asked to be generated) does not fit in the context window. */
export class ContextOverflowError extends Error {
  override readonly name = 'ContextOverflowError';
  constructor(
    readonly needed: number,
    readonly contextLength: number,
    message?: string,
  ) {
    super(message ?? `prompt needs ${needed} tokens but the context holds ${contextLength}`);
  }
}
