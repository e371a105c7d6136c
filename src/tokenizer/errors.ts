/** Codes for every way a tokenizer can refuse a vocabulary or an input. */
export type TokenizerErrorCode =
  /** A required vocabulary key is absent (e.g. `tokenizer.ggml.tokens`). */
  | 'MISSING_KEY'
  /** A key is present but has the wrong type or shape. */
  | 'BAD_VALUE'
  /** `tokenizer.ggml.model` names a tokenizer this code does not implement. */
  | 'UNSUPPORTED_MODEL'
  /** `tokenizer.ggml.pre` names a pre-tokenizer that is unknown or not implemented. */
  | 'UNSUPPORTED_PRE_TOKENIZER'
  /** Two tokens share the same text. */
  | 'DUPLICATE_TOKEN'
  /** `add_bos`/`add_eos` is set but the token id is not. */
  | 'MISSING_SPECIAL_TOKEN'
  /** A token id outside `[0, vocabSize)`. */
  | 'BAD_TOKEN_ID'
  /** A byte with neither a `<0xXX>` token nor a one-character token nor an unknown token. */
  | 'NO_BYTE_TOKEN'
  /** A chat template that does not parse. */
  | 'BAD_TEMPLATE'
  /** A chat template that failed while rendering (including its own raise_exception). */
  | 'TEMPLATE_ERROR'
  /** Chat was asked of a model without `tokenizer.chat_template` and no template was given. */
  | 'NO_CHAT_TEMPLATE';

/** Any failure to build a tokenizer from a vocabulary, or to encode/decode with it. */
export class TokenizerError extends Error {
  override readonly name = 'TokenizerError';
  constructor(
    readonly code: TokenizerErrorCode,
    message: string,
    /** The metadata key or token involved, when there is one. */
    readonly key?: string,
  ) {
    super(message);
  }
}
