export { TokenizerError, type TokenizerErrorCode } from './errors.js';
export { NO_TOKEN, TokenType, vocabFromMetadata, type SpmVocab } from './vocab.js';
export { TokenAttr } from './special.js';
export { SpmTokenizer } from './spm.js';
export { BpeTokenizer, bpeVocabFromMetadata, type BpeOptions, type BpeVocab } from './bpe.js';
export { PreTokenizer, preTokenizerSpec, PRE_TOKENIZER_NAMES, UNSUPPORTED_PRE_TOKENIZERS, type PreTokenizerSpec } from './pretokenize.js';
export type { DecodeOptions, EncodeOptions, EncodeSegment, PieceOptions, Tokenizer } from './tokenizer.js';
export { StreamDecoder, type PieceSource, type StreamDecoderOptions } from './stream.js';
