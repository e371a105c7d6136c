/** Shared by the tokenizer tests: seeds, a small PRNG, the shared vocabularies. */

/** A seed from TOKENIZER_SEED (to repeat a run) or the clock; tests print it. */
export function seedFor(salt: number): number {
  const env = process.env.TOKENIZER_SEED;
  return env !== undefined ? Number(env) >>> 0 : (Date.now() ^ salt) >>> 0;
}

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The byte-level BPE vocabularies under ../shared (each with .inp/.out vectors). */
export const BPE_VOCABS = [
  'vocab/ggml-vocab-gpt-2.gguf',
  'vocab/ggml-vocab-starcoder.gguf',
  'vocab/ggml-vocab-llama-bpe.gguf',
  'vocab/ggml-vocab-deepseek-coder.gguf',
  'vocab/smollm2/smollm2-vocab.gguf',
];
/** The SentencePiece ones. */
export const SPM_VOCABS = ['vocab/ggml-vocab-llama-spm.gguf', 'vocab/ggml-vocab-phi-3.gguf'];
