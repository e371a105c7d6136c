/** Command-line flags shared by `generate` and `chat`: model loading, sampling and reply length, as llama.cpp spells them. */
import type { GenerateOptions } from '../generate/generate.js';
import { validateSamplingOptions } from '../generate/sampling.js';
import { BACKENDS, type BackendName } from '../kernels/index.js';
import type { LoadModelOptions, Model } from '../model/model.js';
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
  'presence-penalty': { type: 'string' },
  'frequency-penalty': { type: 'string' },
  seed: { type: 'string', short: 's' },
  'ignore-eos': { type: 'boolean' },
  ...GRAMMAR_FLAGS,
  'context-shift': { type: 'boolean' },
  keep: { type: 'string' },
} as const;

/** The sampling flags in the help texts of generate and chat. */
export const SAMPLING_USAGE = `  -n, --n-predict N       tokens to generate (default -1: until end of text, or the context is full
                          unless --context-shift; -2: until the context is full, never shifting)
      --temp T            temperature (default 0.8; 0 = greedy)
      --top-k K           (default 40; 0 = off)
      --top-p P           (default 0.95; 1 = off)
      --min-p P           (default 0.05; 0 = off)
      --repeat-penalty R  (default 1.0 = off; must be > 0)
      --repeat-last-n N   tokens the penalties look back over (default 64; 0 = off, -1 = all)
      --presence-penalty P   subtracted once from tokens in that window (default 0 = off)
      --frequency-penalty F  subtracted per occurrence in that window (default 0 = off)
  -s, --seed S            sampling seed (default -1: random)
      --ignore-eos        keep generating past end of text
      --context-shift     when the context fills, drop the oldest half after --keep and go on (default: stop)
      --keep N            prompt tokens a context shift keeps, BOS not counted (default 0; -1 = the whole prompt)`;

type FlagValues = { [K in keyof typeof SAMPLING_FLAGS]?: (typeof SAMPLING_FLAGS)[K]['type'] extends 'boolean' ? boolean : string };

/** The flag of each library sampling option, for messages. */
const FLAG_OF: Record<string, string> = {
  temperature: '--temp',
  topK: '--top-k',
  topP: '--top-p',
  minP: '--min-p',
  repeatPenalty: '--repeat-penalty',
  repeatLastN: '--repeat-last-n',
  presencePenalty: '--presence-penalty',
  frequencyPenalty: '--frequency-penalty',
  seed: '--seed',
};

/** Generation options from the parsed sampling flags (UsageError naming the flag for a bad value, before anything runs). */
export function samplingOptions(values: FlagValues): GenerateOptions {
  const nPredict = num(values['n-predict'], '--n-predict', { integer: true, min: -2 });
  const opts: GenerateOptions = {
    maxTokens: nPredict === undefined || nPredict < 0 ? undefined : nPredict,
    temperature: num(values.temp, '--temp'),
    topK: num(values['top-k'], '--top-k', { integer: true }),
    topP: num(values['top-p'], '--top-p'),
    minP: num(values['min-p'], '--min-p'),
    repeatPenalty: num(values['repeat-penalty'], '--repeat-penalty'),
    repeatLastN: num(values['repeat-last-n'], '--repeat-last-n', { integer: true }),
    presencePenalty: num(values['presence-penalty'], '--presence-penalty'),
    frequencyPenalty: num(values['frequency-penalty'], '--frequency-penalty'),
    seed: num(values.seed, '--seed', { integer: true, min: -1, max: 0xffffffff }),
    ignoreEos: values['ignore-eos'],
    ...grammarOptions(values),
    // llama.cpp's -n -2 stops when the context is full even with --context-shift.
    contextShift: values['context-shift'] && nPredict !== -2,
    nKeep: num(values.keep, '--keep', { integer: true, min: -1 }),
  };
  if (opts.nKeep !== undefined && !values['context-shift']) throw new UsageError('--keep applies to --context-shift, which is not given');
  try {
    validateSamplingOptions(opts);
  } catch (e) {
    // The library's rule, with the flag's name instead of the option's.
    const msg = (e as Error).message.replace(/^sampling option (\w+)/, (_, k: string) => FLAG_OF[k] ?? k);
    throw new UsageError(msg);
  }
  return opts;
}

/** parseArgs option specs of how generate tokenizes its prompt. */
export const PROMPT_FLAGS = {
  'no-bos': { type: 'boolean' },
  'parse-special': { type: 'boolean' },
} as const;

export const PROMPT_USAGE = `      --no-bos            do not add BOS/EOS to the prompt as the vocabulary asks
      --parse-special     match special-token texts in the prompt (default: plain text)`;

/** Prompt tokenization options (addSpecial, parseSpecial) from the parsed prompt flags. */
export function promptOptions(values: { 'no-bos'?: boolean; 'parse-special'?: boolean }): GenerateOptions {
  return { addSpecial: !values['no-bos'], parseSpecial: values['parse-special'] === true };
}

/** parseArgs option specs of the model-loading flags. */
export const LOAD_FLAGS = {
  'ctx-size': { type: 'string', short: 'c' },
  'cache-type': { type: 'string' },
  backend: { type: 'string' },
  threads: { type: 'string', short: 't' },
  'flash-attn': { type: 'boolean' },
} as const;

/** The loading flags in the help texts of generate and chat. */
export const LOAD_USAGE = `  -c, --ctx-size N        context length (default: the model's, at most 4096; a warning beyond the trained one)
      --cache-type T      KV cache type: f16 (default) or f32
      --backend NAME      ${BACKENDS.join(', ')} (default wasm in Node, falling back to reference for a model it cannot run)
  -t, --threads N         compute threads of the wasm backend (default: the core count)
      --flash-attn        wasm: one-pass flash attention instead of llama.cpp's non-flash numerics`;

/** Load options from the parsed loading flags (UsageError naming the flag for a bad value). */
export function loadOptions(values: { 'ctx-size'?: string; 'cache-type'?: string; backend?: string; threads?: string; 'flash-attn'?: boolean }): LoadModelOptions {
  const cacheType = values['cache-type'] ?? 'f16';
  if (cacheType !== 'f16' && cacheType !== 'f32') throw new UsageError(`--cache-type must be f16 or f32, got "${cacheType}"`);
  const backend = values.backend as BackendName | undefined;
  if (backend !== undefined && !BACKENDS.includes(backend)) throw new UsageError(`--backend must be one of ${BACKENDS.join(', ')}, got "${values.backend}"`);
  if (values['flash-attn'] && backend !== undefined && backend !== 'wasm') throw new UsageError(`--flash-attn is an option of the wasm backend, not of ${backend}`);
  return {
    backend,
    threads: num(values.threads, '--threads', { integer: true, min: 1, max: 256 }),
    contextLength: num(values['ctx-size'], '--ctx-size', { integer: true, min: 1 }),
    kvCacheType: cacheType,
    flashAttention: values['flash-attn'] || undefined,
    onWarning: (m) => process.stderr.write(`tsinfer: warning: ${m}\n`),
  };
}

/** llama.cpp's warning for a context longer than the one the model was trained on. */
export function warnContextLength(model: Model): void {
  const trained = model.info.hyperparameters.contextLength;
  if (model.info.contextLength > trained) {
    process.stderr.write(`tsinfer: warning: model was trained on only ${trained} context tokens (${model.info.contextLength} specified)\n`);
  }
}
