import { unsupportedFeatures, type BackendName } from '../kernels/index.js';
import type { Program } from './program.js';

/**
 * The backend to load a program on: the one asked for (whose init refuses, with a
 * ModelError naming them, ops it does not implement), else the default, unless the
 * default lacks something the program needs: then the reference backend, with a
 * one-line notice.
 */
export function backendFor(program: Program, requested: BackendName | undefined, fallback: BackendName, notice: (message: string) => void = (m) => console.warn(m)): BackendName {
  if (requested) return requested;
  const missing = unsupportedFeatures(fallback, program);
  if (missing.length === 0) return fallback;
  notice(`tsinfer: the ${fallback} backend does not implement ${missing.join(', ')} yet; using the reference backend`);
  return 'reference';
}
