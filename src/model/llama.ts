/**
 * Compatibility exports: the Llama architecture now lives in model/arch/llama.ts and
 * the registry in model/arch/index.ts (use planModel for any architecture).
 */
import type { GGUFFile, GGUFTensorInfo } from '../gguf/reader.js';
import { architectureNamed, architectureOf } from './arch/index.js';
import { checkTensors, type Hyperparameters } from './arch/common.js';
import type { KvCacheType, Program } from './program.js';

export { SUPPORTED_ARCHITECTURES } from './arch/index.js';
export type LlamaHyperparameters = Hyperparameters;

/** Hyperparameters of any supported architecture (ModelError for others). */
export function llamaHyperparameters(file: GGUFFile): Hyperparameters {
  return architectureOf(file).hyperparameters(file);
}

export function checkLlamaTensors(file: GGUFFile, hp: Hyperparameters): GGUFTensorInfo[] {
  return checkTensors(file, architectureOf(file).tensors(hp));
}

/** The op list of the architecture named in hp. */
export function buildLlamaProgram(hp: Hyperparameters, kvCacheType: KvCacheType = 'f16'): Program {
  return architectureNamed(hp.architecture).program(hp, kvCacheType);
}
