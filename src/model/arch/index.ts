/**
 * The architecture registry: `general.architecture` → its keys, tensors and op
 * list. Model.load, the CLI and bench ask here; adding an architecture is one
 * file in this folder plus its entry below (and its tests).
 */
import type { GGUFFile, GGUFTensorInfo } from '../../gguf/reader.js';
import { ModelError } from '../errors.js';
import type { KvCacheType, Program } from '../program.js';
import { checkTensors, type Hyperparameters } from './common.js';
import { gemma3 } from './gemma3.js';
import { llama } from './llama.js';
import { phi3 } from './phi3.js';
import { qwen2 } from './qwen2.js';
import { qwen3 } from './qwen3.js';
import type { Architecture } from './types.js';

export type { Architecture } from './types.js';
export type { Hyperparameters } from './common.js';

const REGISTRY: readonly Architecture[] = [llama, qwen2, qwen3, gemma3, phi3];

export const SUPPORTED_ARCHITECTURES: readonly string[] = REGISTRY.map((a) => a.name);

/** The architecture of a file; ModelError names an unknown one and the supported list. */
export function architectureOf(file: GGUFFile): Architecture {
  let name: string | undefined;
  try {
    name = file.getString('general.architecture');
  } catch (e) {
    throw new ModelError(`metadata key general.architecture: ${(e as Error).message}`);
  }
  if (name === undefined) throw new ModelError('missing metadata key general.architecture');
  return architectureNamed(name);
}

/** The registered architecture of that name; ModelError names an unknown one and the supported list. */
export function architectureNamed(name: string): Architecture {
  const arch = REGISTRY.find((a) => a.name === name);
  if (!arch) throw new ModelError(`unsupported architecture "${name}" (supported: ${SUPPORTED_ARCHITECTURES.join(', ')})`);
  return arch;
}

/** Everything a loader needs from a file: hyperparameters, the tensors read, and the op list. */
export interface ModelPlan {
  readonly arch: Architecture;
  readonly hyperparameters: Hyperparameters;
  readonly tensors: GGUFTensorInfo[];
  readonly program: Program;
}

/** Reads and checks a file's architecture, hyperparameters and tensors, and builds its op list. */
export function planModel(file: GGUFFile, kvCacheType: KvCacheType = 'f16'): ModelPlan {
  const arch = architectureOf(file);
  const hyperparameters = arch.hyperparameters(file);
  const tensors = checkTensors(file, arch.tensors(hyperparameters));
  return { arch, hyperparameters, tensors, program: arch.program(hyperparameters, kvCacheType) };
}
