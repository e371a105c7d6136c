/** Command-line flags shared by `generate` and `chat`: model loading, sampling and reply length, as llama.cpp spells them. */
import type { GenerateOptions } from '../generate/generate.js';
import { BACKENDS, type BackendName } from '../kernels/index.js';
import type { LoadModelOptions } from '../model/model.js';
import { num, UsageError } from './args.js';
import { GRAMMAR_FLAGS, grammarOptions } from './grammar-flags.js';

/** parseArgs option specs of the sampling flags. */
export const SAMPLING_FLAGS = {
  'n-predict': { type: 'string', short: 'n' },
  temp: { type: 'string' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  'min-p': { type: 'string' },
  'repeat-penalty': { type: 'string' },
  'repeat-last-n': { type: 'string' },
  seed: { type: 'string', short: 's' },
  'ignore-eos': { type: 'boolean' },
  ...GRAMMAR_FLAGS,
} as const;

type FlagValues = { [K in keyof typeof SAMPLING_FLAGS]?: (typeof SAMPLING_FLAGS)[K]['type'] extends 'boolean' ? boolean : string };

/** Generation options from the parsed sampling flags (UsageError naming the flag for a bad value). */
export function samplingOptions(values: FlagValues): GenerateOptions {
  const nPredict = num(values['n-predict'], '--n-predict', { integer: true, min: -1 });
  return {
    maxTokens: nPredict === undefined || nPredict < 0 ? undefined : nPredict,
    temperature: num(values.temp, '--temp', { min: 0 }),
    topK: num(values['top-k'], '--top-k', { integer: true, min: 0 }),
    topP: num(values['top-p'], '--top-p', { min: 0, max: 1 }),
    minP: num(values['min-p'], '--min-p', { min: 0, max: 1 }),
    repeatPenalty: num(values['repeat-penalty'], '--repeat-penalty', { min: 0 }),
    repeatLastN: num(values['repeat-last-n'], '--repeat-last-n', { integer: true, min: -1 }),
    seed: num(values.seed, '--seed', { integer: true, min: 0, max: 0xffffffff }),
    ignoreEos: values['ignore-eos'],
    ...grammarOptions(values),
  };
}

/** parseArgs option specs of the model-loading flags. */
export const LOAD_FLAGS = {
  'ctx-size': { type: 'string', short: 'c' },
  'cache-type': { type: 'string' },
  backend: { type: 'string' },
  threads: { type: 'string', short: 't' },
} as const;

/** Load options from the parsed loading flags (UsageError naming the flag for a bad value). */
export function loadOptions(values: { 'ctx-size'?: string; 'cache-type'?: string; backend?: string; threads?: string }): LoadModelOptions {
  const cacheType = values['cache-type'] ?? 'f16';
  if (cacheType !== 'f16' && cacheType !== 'f32') throw new UsageError(`--cache-type must be f16 or f32, got "${cacheType}"`);
  const backend = values.backend as BackendName | undefined;
  if (backend !== undefined && !BACKENDS.includes(backend)) throw new UsageError(`--backend must be one of ${BACKENDS.join(', ')}, got "${values.backend}"`);
  return {
    backend,
    threads: num(values.threads, '--threads', { integer: true, min: 1, max: 256 }),
    contextLength: num(values['ctx-size'], '--ctx-size', { integer: true, min: 1 }),
    kvCacheType: cacheType,
  };
}
