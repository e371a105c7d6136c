import type { GGUFFile } from '../../gguf/reader.js';
import type { KvCacheType, Program } from '../program.js';
import type { Hyperparameters, TensorSpec } from './common.js';

/** One architecture (`general.architecture`): its keys, its tensors, its op list. */
export interface Architecture {
  readonly name: string;
  /** Reads and checks the hyperparameters; ModelError names the key at fault. */
  hyperparameters(file: GGUFFile): Hyperparameters;
  /** Every tensor the model reads (and may read) with its GGUF shape. */
  tensors(hp: Hyperparameters): TensorSpec;
  /** The per-step op list. */
  program(hp: Hyperparameters, kvCacheType: KvCacheType): Program;
}
