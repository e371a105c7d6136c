/** One-shot generation: load, generate, dispose (public as `generate`). */
import { GenerationStream, type GenerateOptions } from '../generate/generate.js';
import type { ModelSource } from '../gguf/open.js';
import { loadModel, Model } from './model.js';

/**
 * One-shot generation: `generate({ model: 'file.gguf' | url | blob | bytes | loadedModel, prompt, ...options })`.
 * Streams like `model.generate`; when given a path, the model is loaded first and disposed at the end.
 */
export function generate(args: { model: ModelSource | Model; prompt: string | number[] } & GenerateOptions): GenerationStream {
  const { model, prompt, ...opts } = args;
  if (model instanceof Model) return model.generate(prompt, opts);
  const path = model;
  // Load lazily inside the stream so errors surface through iteration / result.
  async function* run() {
    const m = await loadModel(path);
    try {
      const s = m.generate(prompt, opts);
      for await (const chunk of s) yield chunk;
      return await s.result;
    } finally {
      await m.dispose();
    }
  }
  return new GenerationStream(run());
}
