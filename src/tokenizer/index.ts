export { TokenizerError, type TokenizerErrorCode } from './errors.js';
export { NO_TOKEN, TokenType, vocabFromMetadata, type SpmVocab } from './vocab.js';
export { TokenAttr } from './special.js';
export { SpmTokenizer } from './spm.js';
export { BPE_MODELS, BpeTokenizer, bpeVocabFromMetadata, type BpeModel, type BpeOptions, type BpeVocab } from './bpe.js';
export { WpmTokenizer, wpmVocabFromMetadata, type WpmVocab } from './wpm.js';
export { PreTokenizer, preTokenizerSpec, PRE_TOKENIZER_NAMES, type PreTokenizerSpec } from './pretokenize.js';
export type { DecodeOptions, EncodeOptions, EncodeSegment, PieceOptions, Tokenizer } from './tokenizer.js';
export { StreamDecoder, type PieceSource, type StreamDecoderOptions } from './stream.js';
