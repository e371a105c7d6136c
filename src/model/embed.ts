/**
 * Embeddings as llama.cpp's embedding mode computes them: the final hidden state after
 * output_norm (what would be multiplied by the output matrix), per position, pooled over
 * the text (mean, first token "cls", last token) or not at all, optionally L2-normalised
 * (llama-embedding's default, --embd-normalize 2).
 *
 * The backends are not changed: the model's op list is cut before its last matmul, so the
 * buffer they return is the normed hidden state (width n_embd) instead of the logits.
 */
import type { GGUFFile } from '../gguf/reader.js';
import { ModelError } from './errors.js';
import type { Program } from './program.js';

export type Pooling = 'none' | 'mean' | 'cls' | 'last';
export const POOLINGS: readonly Pooling[] = ['none', 'mean', 'cls', 'last'];

export interface EmbedOptions {
  /** Default: the file's `<arch>.pooling_type`; 'none' when it has none (as llama.cpp). */
  pooling?: Pooling;
  /** Divide each vector by its Euclidean norm (default true, as llama-embedding). */
  normalize?: boolean;
  /** Add BOS/EOS as the vocabulary asks (default true). */
  addSpecial?: boolean;
}

/** The program whose output buffer is the input of the logits matmul: the hidden state after output_norm. */
export function hiddenStateProgram(program: Program): Program {
  const i = program.ops.findIndex((o) => 'out' in o && o.out === program.logits);
  const last = program.ops[i];
  if (i !== program.ops.length - 1 || !last || last.op !== 'matmul') throw new ModelError("the model's op list does not end with the output matmul; embeddings cannot be taken from it");
  const ops = program.ops.slice(0, i);
  const weights = program.weights.filter((w) => ops.some((o) => ('weight' in o && o.weight === w) || ('table' in o && o.table === w)));
  return { ...program, ops, weights, logits: last.x, buffers: program.buffers.filter((b) => b.name !== program.logits) };
}

/** llama.cpp's enum llama_pooling_type, as `<arch>.pooling_type` stores it. */
const GGUF_POOLING: Record<number, Pooling | 'rank'> = { 0: 'none', 1: 'mean', 2: 'cls', 3: 'last', 4: 'rank' };

/** The pooling a file asks for; 'none' when it does not say. */
export function filePooling(file: GGUFFile, architecture: string): Pooling {
  const key = `${architecture}.pooling_type`;
  const v = file.getNumber(key);
  if (v === undefined) return 'none';
  const p = GGUF_POOLING[v];
  if (p === undefined) throw new ModelError(`metadata key ${key} is ${v}, not a pooling type llama.cpp defines (0-4)`);
  if (p === 'rank') throw new ModelError(`metadata key ${key} asks for rank pooling (a reranker's classification head), which tsinfer does not implement`);
  return p;
}

export function checkPooling(p: unknown): Pooling {
  if (!(POOLINGS as readonly unknown[]).includes(p)) throw new RangeError(`pooling must be one of ${POOLINGS.join(', ')}, got ${String(p)}`);
  return p as Pooling;
}

/**
 * Pools per-position hidden states (positions × dim, row-major) into one vector, or keeps
 * them all ('none'); normalises each resulting row when asked (a zero row stays zero).
 */
export function pool(hidden: Float32Array, positions: number, dim: number, pooling: Pooling, normalize: boolean): Float32Array {
  let out: Float32Array;
  if (pooling === 'none') out = hidden.slice(0, positions * dim);
  else if (pooling === 'cls') out = hidden.slice(0, dim);
  else if (pooling === 'last') out = hidden.slice((positions - 1) * dim, positions * dim);
  else {
    const acc = new Float64Array(dim);
    for (let p = 0; p < positions; p++) for (let d = 0; d < dim; d++) acc[d]! += hidden[p * dim + d]!;
    out = Float32Array.from(acc, (x) => x / positions);
  }
  if (normalize) {
    for (let r = 0; r < out.length; r += dim) {
      let ss = 0;
      for (let d = 0; d < dim; d++) ss += out[r + d]! * out[r + d]!;
      const inv = ss > 0 ? 1 / Math.sqrt(ss) : 0;
      for (let d = 0; d < dim; d++) out[r + d]! *= inv;
    }
  }
  return out;
}
