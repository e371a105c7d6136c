/**
 * The forward pass as data: a list of ops over named buffers, built once per
 * model by its architecture (model/arch/) and compiled by each backend.
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
  /**
   * out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight. With `groupWidth` (per-head norms, Qwen3/Gemma 3's
   * q/k norms) every run of groupWidth values of a row is normalised on its own with the same weight.
   */
  | { readonly op: 'rmsnorm'; readonly x: string; readonly weight: string; readonly eps: number; readonly out: string; readonly groupWidth?: number }
  /** out[r] = W · x[r] (+ bias), W of GGUF shape [cols, outRows] (each of its outRows rows has `cols` elements); bias a vector of outRows. */
  | { readonly op: 'matmul'; readonly weight: string; readonly x: string; readonly out: string; readonly bias?: string }
  /**
   * RoPE of the first ropeDim dims of every head at the row's position, with the angles of the
   * rope table `freqs` (model/rope.ts; ropeDim and base repeat freqs.dim and freqs.base).
   * 'normal' (llama.cpp's default) rotates adjacent pairs (x[2i], x[2i+1]); 'neox' rotates (x[i], x[i + ropeDim/2]).
   */
  | { readonly op: 'rope'; readonly x: string; readonly nHeads: number; readonly headDim: number; readonly ropeDim: number; readonly base: number; readonly mode: RopeMode; readonly freqs: RopeFreqs }
  /** Writes rows of k and v into layer `layer` of the KV cache at the rows' positions. */
  | { readonly op: 'kv_store'; readonly layer: number; readonly k: string; readonly v: string }
  /**
   * Causal attention of q's rows over the cache of `layer` up to each row's position; GQA: head h reads KV head
   * floor(h / (nHeads / nKvHeads)). With `window` (sliding-window layers), the row at position p sees only
   * positions p - window + 1 .. p (llama.cpp's LLAMA_SWA_TYPE_STANDARD mask).
   */
  | {
      readonly op: 'attention';
      readonly layer: number;
      readonly q: string;
      readonly out: string;
      readonly nHeads: number;
      readonly nKvHeads: number;
      readonly headDim: number;
      readonly scale: number;
      readonly window?: number;
    }
  /** out = a + b (element-wise; out may alias a). */
  | { readonly op: 'add'; readonly a: string; readonly b: string; readonly out: string }
  /** out = silu(gate) * up */
  | { readonly op: 'silu_mul'; readonly gate: string; readonly up: string; readonly out: string }
  /**
   * out = gelu(gate) * up, GELU's tanh approximation as ggml's CPU backend computes it: the input rounded
   * to f16 and looked up in a table of f16 results (|x| < 10; 0 below, x above).
   */
  | { readonly op: 'gelu_mul'; readonly gate: string; readonly up: string; readonly out: string }
  /** out = x * scale (element-wise, float32; out may alias x). */
  | { readonly op: 'scale'; readonly x: string; readonly scale: number; readonly out: string }
  /** x = cap * tanh(x / cap), in place (final logit soft-capping). */
  | { readonly op: 'softcap'; readonly x: string; readonly cap: number }
  /** out[r] = x[r][offset .. offset + width(out)): a column slice (fused QKV and gate-up tensors). */
  | { readonly op: 'slice'; readonly x: string; readonly offset: number; readonly out: string }
  /** Copies the output rows of a `tokens` buffer into an `outputs` buffer. */
  | { readonly op: 'gather_outputs'; readonly x: string; readonly out: string };

/**
 * The activation buffers an op reads and writes, for backends that order, fuse or plan the op list
 * (weights are not buffers; the KV cache of layer l is the buffer `kv<l>`).
 */
export function opBuffers(o: Op): { readonly reads: readonly string[]; readonly writes: readonly string[] } {
  switch (o.op) {
    case 'embed':
      return { reads: [], writes: [o.out] };
    case 'rmsnorm':
    case 'matmul':
    case 'scale':
    case 'slice':
    case 'gather_outputs':
      return { reads: [o.x], writes: [o.out] };
    case 'rope':
    case 'softcap':
      return { reads: [o.x], writes: [o.x] };
    case 'kv_store':
      return { reads: [o.k, o.v], writes: [`kv${o.layer}`] };
    case 'attention':
      return { reads: [o.q, `kv${o.layer}`], writes: [o.out] };
    case 'add':
      return { reads: [o.a, o.b], writes: [o.out] };
    case 'silu_mul':
    case 'gelu_mul':
      return { reads: [o.gate, o.up], writes: [o.out] };
    default: {
      const never: never = o;
      throw new Error(`unknown op ${(never as { op: string }).op}`);
    }
  }
}

export type RopeMode = 'normal' | 'neox';

/**
 * What a rope table is computed from (model/rope.ts): theta(pos, i) = freqScale * pos * base^(-2i/dim) / factors[i].
 * factors: llama.cpp's rope "freq factors" (Llama 3's rope_freqs.weight), dim/2 values.
 * attnFactor and yarn are ggml_rope_ext's attn_factor and ext_factor, beta_fast, beta_slow, n_ctx_orig.
 */
export interface RopeFreqs {
  readonly dim: number;
  readonly base: number;
  readonly freqScale: number;
  readonly factors?: Float32Array;
  /** cos and sin are multiplied by it (default 1); with yarn, also by 1 + 0.1 ln(1/freqScale). */
  readonly attnFactor?: number;
  /** YaRN (ext_factor ≠ 0): each pair's angle mixes the scaled and unscaled angle by a ramp over the correction dims. */
  readonly yarn?: YarnParams;
}

export interface YarnParams {
  readonly extFactor: number;
  readonly betaFast: number;
  readonly betaSlow: number;
  /** The context the model was trained on before scaling (rope.scaling.original_context_length). */
  readonly origContext: number;
}

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
