/**
 * The forward pass as data: a list of ops over named buffers, built once per
 * model by model/llama.ts and compiled by each backend.
 *
 * Every activation buffer is a matrix of `rows × width` float32, row-major.
 * Its row count is decided per step: `tokens` buffers have one row per token
 * of the batch, `outputs` buffers one row per token whose logits are wanted
 * (the last token when generating, all tokens when scoring a prompt).
 * Weights are named by their GGUF tensor name.
 */

export type RowSpace = 'tokens' | 'outputs';

export interface BufferDecl {
  readonly name: string;
  readonly width: number;
  readonly rows: RowSpace;
}

export type Op =
  /** out[t] = dequantized row tokens[t] of `table` (shape [width, nVocab]). */
  | { readonly op: 'embed'; readonly table: string; readonly out: string }
  /** out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight */
  | { readonly op: 'rmsnorm'; readonly x: string; readonly weight: string; readonly eps: number; readonly out: string }
  /** out[r] = W · x[r], W of GGUF shape [cols, outRows] (each of its outRows rows has `cols` elements). */
  | { readonly op: 'matmul'; readonly weight: string; readonly x: string; readonly out: string }
  /** Rotates adjacent pairs (llama.cpp "normal" mode) of the first ropeDim dims of every head, at the row's position. */
  | { readonly op: 'rope'; readonly x: string; readonly nHeads: number; readonly headDim: number; readonly ropeDim: number; readonly base: number }
  /** Writes rows of k and v into layer `layer` of the KV cache at the rows' positions. */
  | { readonly op: 'kv_store'; readonly layer: number; readonly k: string; readonly v: string }
  /** Causal attention of q's rows over the cache of `layer` up to each row's position; GQA: head h reads KV head floor(h / (nHeads / nKvHeads)). */
  | { readonly op: 'attention'; readonly layer: number; readonly q: string; readonly out: string; readonly nHeads: number; readonly nKvHeads: number; readonly headDim: number; readonly scale: number }
  /** out = a + b (element-wise; out may alias a). */
  | { readonly op: 'add'; readonly a: string; readonly b: string; readonly out: string }
  /** out = silu(gate) * up */
  | { readonly op: 'silu_mul'; readonly gate: string; readonly up: string; readonly out: string }
  /** Copies the output rows of a `tokens` buffer into an `outputs` buffer. */
  | { readonly op: 'gather_outputs'; readonly x: string; readonly out: string };

/**
 * KV cache element type. 'f16' (llama.cpp's default) stores K and V rounded to
 * half precision, and attention then works as ggml's F16 matmuls do: q and the
 * softmax weights are rounded to half precision before their dot products.
 */
export type KvCacheType = 'f16' | 'f32';

export interface KvCacheDecl {
  readonly type: KvCacheType;
  readonly layers: number;
  /** Floats per position per layer, for K and for V each (nKvHeads * headDim). */
  readonly width: number;
}

export interface Program {
  readonly buffers: readonly BufferDecl[];
  readonly ops: readonly Op[];
  readonly kv: KvCacheDecl;
  /** The `outputs` buffer holding the logits. */
  readonly logits: string;
  /** Names of every weight the ops read. */
  readonly weights: readonly string[];
}

/**
 * One forward step. A single-sequence step (no `rows`) carries `tokens` of sequence `seq` at
 * positions pos, pos+1, … and wants the logits of the last token or of all. A multi-sequence
 * step gives each token its own sequence and position in `rows` and lists the tokens whose
 * logits are wanted: matmuls and norms run once over all rows (weights read once), rope, the
 * KV store and attention per row over that row's sequence.
 */
export interface Step {
  readonly tokens: Int32Array;
  /** Single-sequence step: position of the first token. Ignored with `rows`. */
  readonly pos: number;
  /** Single-sequence step: logits for every token instead of the last. Ignored with `rows`. */
  readonly allLogits: boolean;
  /** Single-sequence step: the sequence (KV cache region) it extends; default 0. */
  readonly seq?: number;
  /** Multi-sequence step: per-token sequences and positions, and which rows need logits. */
  readonly rows?: StepRows;
}

export interface StepRows {
  /** Sequence of each token (0 <= seq < the backend's sequences). */
  readonly seqs: Int32Array;
  /** Position of each token in its sequence. */
  readonly positions: Int32Array;
  /** Indices of the tokens whose logits are wanted, in the order the logit rows come back. */
  readonly outputs: Int32Array;
}
