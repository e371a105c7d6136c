export { TokenizerError, type TokenizerErrorCode } from './errors.js';
export { NO_TOKEN, TokenType, vocabFromMetadata, type SpmVocab } from './vocab.js';
export { TokenAttr } from './special.js';
export { SpmTokenizer, type DecodeOptions, type EncodeOptions, type PieceOptions } from './spm.js';
export { StreamDecoder, type PieceSource, type StreamDecoderOptions } from './stream.js';
