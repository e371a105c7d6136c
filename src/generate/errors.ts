/** Generation was cancelled through an AbortSignal. `partial` holds what was generated until then. */
export class AbortError extends Error {
  override readonly name = 'AbortError';
  constructor(message = 'generation aborted', readonly partial?: unknown) {
    super(message);
  }
}
