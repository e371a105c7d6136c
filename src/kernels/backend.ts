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
  readonly onProgress?: (p: LoadProgress) => void;
}

/**
 * What every backend implements. A backend owns the weights (loaded once into
 * their final home), the KV cache and the activations, and runs the model's
 * op list one step at a time.
 */
export interface Backend {
  readonly name: BackendName;
  /** Loads the program's weights from the file and plans buffers. Called once. */
  init(init: BackendInit): Promise<void>;
  /**
   * Runs one step and returns the logits: one row of nVocab floats per output
   * (the last token, or every token when step.allLogits). The array may be
   * reused by the next call; copy it to keep it.
   */
  forward(step: Step): Promise<Float32Array>;
  /**
   * Optional: runs one step like forward() and returns the greedy token, the
   * argmax of the last output row's logits (ties -> lowest id), computed where
   * the logits are: the WebGPU backend reads back only the 4-byte id. The
   * generate loop uses it when sampling is plain greedy (temperature <= 0, no
   * penalties).
   */
  forwardArgmax?(step: Step): Promise<number>;
  /**
   * Optional: runs one step like forward() and returns the k largest logits of
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
