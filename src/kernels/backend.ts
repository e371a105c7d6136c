import type { GGUFFile } from '../gguf/reader.js';
import type { Program, Step } from '../model/program.js';

export type BackendName = 'reference' | 'wasm' | 'webgpu';

export interface LoadProgress {
  /**
   * Set by loadModel: 'download' while a URL or Blob is read (bytes of the file; totalBytes 0 when
   * unknown, tensor ''), then 'weights' while the weights go to the backend (bytes of weights).
   */
  readonly stage?: 'download' | 'weights';
  /** Bytes loaded so far and in all. */
  readonly loadedBytes: number;
  readonly totalBytes: number;
  readonly tensor: string;
}

export interface BackendInit {
  readonly file: GGUFFile;
  readonly program: Program;
  /** Positions the KV cache holds. */
  readonly contextLength: number;
  /** Most tokens one step may carry. */
  readonly maxBatch: number;
  /** Sequences the KV cache holds, each its own region of contextLength positions (default 1). */
  readonly sequences?: number;
  readonly onProgress?: (p: LoadProgress) => void;
}

/**
 * What every backend implements. A backend owns the weights (loaded once into
 * their final home), the KV cache and the activations, and runs the model's
 * op list one step at a time.
 */
export interface Backend {
  readonly name: BackendName;
  /**
   * Most sequences this backend's KV cache can hold (init's `sequences` is at most this), and
   * whether it runs multi-sequence steps (Step.rows). A backend without them serves one
   * sequence, and the model serialises its generations.
   */
  readonly maxSequences: number;
  /** Loads the program's weights from the file and plans buffers. Called once. */
  init(init: BackendInit): Promise<void>;
  /**
   * Runs one step and returns the logits: one row of nVocab floats per output
   * (the last token, or every token when step.allLogits; step.rows.outputs in a
   * multi-sequence step). The array may be
   * reused by the next call; copy it to keep it.
   */
  forward(step: Step): Promise<Float32Array>;
  /**
   * Optional, single-sequence steps only: runs one step like forward() and returns the greedy token, the
   * argmax of the last output row's logits (ties -> lowest id), computed where
   * the logits are: the WebGPU backend reads back only the 4-byte id. The
   * generate loop uses it when sampling is plain greedy (temperature <= 0, no
   * penalties).
   */
  forwardArgmax?(step: Step): Promise<number>;
  /**
   * Optional, single-sequence steps only: runs one step like forward() and returns the k largest logits of
   * the last output row with their ids, best first (ties -> lower id), k <= maxTopK.
   * The generate loop uses it for top-k sampling without penalties (WebGPU: 8k
   * bytes read back instead of the whole row).
   */
  forwardTopK?(step: Step, k: number): Promise<{ ids: Int32Array; logits: Float32Array }>;
  readonly maxTopK?: number;
  /** Optional: work counted since init (e.g. WebGPU submits, dispatches, bytes read back), for bench. */
  getCounters?(): Record<string, number>;
  /** Optional: milliseconds per op and thread since init (work inside the op, wait in the barrier after it), when profiling was asked for. */
  profile?(): OpProfile[] | undefined;
  /** Human-readable details for `tsinfer info` / bench (build, threads, memory). */
  describe(): Record<string, string | number>;
  dispose(): void;
}

/** Time one op of the op list took since init, per compute thread, in milliseconds. */
export interface OpProfile {
  op: string;
  work: number[];
  wait: number[];
}

/** The shape of a step checked against a backend's limits. */
export interface StepShape {
  /** Tokens of the step. */
  readonly T: number;
  /** Logit rows it returns. */
  readonly nOut: number;
}

/**
 * Checks a step against the cache (contextLength positions × sequences) and the batch size;
 * a RangeError names what is out of range. Every backend calls it before touching memory.
 */
export function checkStep(step: Step, limits: { maxBatch: number; contextLength: number; sequences: number }): StepShape {
  const T = step.tokens.length;
  if (T < 1 || T > limits.maxBatch) throw new RangeError(`a step carries 1 to ${limits.maxBatch} tokens, got ${T}`);
  const rows = step.rows;
  if (!rows) {
    const seq = step.seq ?? 0;
    if (!Number.isInteger(seq) || seq < 0 || seq >= limits.sequences) throw new RangeError(`sequence ${seq} is outside the ${limits.sequences} the cache holds`);
    if (step.pos < 0 || step.pos + T > limits.contextLength) throw new RangeError(`positions ${step.pos}..${step.pos + T - 1} are outside the context of ${limits.contextLength}`);
    return { T, nOut: step.allLogits ? T : 1 };
  }
  if (rows.seqs.length !== T || rows.positions.length !== T) throw new RangeError(`a multi-sequence step of ${T} tokens has ${rows.seqs.length} sequence ids and ${rows.positions.length} positions`);
  for (let t = 0; t < T; t++) {
    const s = rows.seqs[t]!;
    const p = rows.positions[t]!;
    if (s < 0 || s >= limits.sequences) throw new RangeError(`token ${t}: sequence ${s} is outside the ${limits.sequences} the cache holds`);
    if (p < 0 || p >= limits.contextLength) throw new RangeError(`token ${t}: position ${p} is outside the context of ${limits.contextLength}`);
  }
  const nOut = rows.outputs.length;
  if (nOut < 1 || nOut > T) throw new RangeError(`a multi-sequence step of ${T} tokens asks for ${nOut} logit rows`);
  for (const o of rows.outputs) if (o < 0 || o >= T) throw new RangeError(`output row ${o} is not a token of the step (0..${T - 1})`);
  return { T, nOut };
}
