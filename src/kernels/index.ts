import type { Backend, BackendName } from './backend.js';
import type { WebGPUBackendOptions } from './webgpu/backend.js';
import type { WasmBackendOptions } from './wasm/backend.js';
import { ModelError } from '../model/errors.js';

export const BACKENDS: readonly BackendName[] = ['reference', 'wasm', 'webgpu'];

/** Options some backends take (wasm: compute threads; webgpu: subgroups, matmul layout, split-KV decode). */
export type BackendOptions = WasmBackendOptions & WebGPUBackendOptions;

/** The backend loadModel uses when none is named: 'wasm' where the engine runs it (SIMD128 and shared memory), else 'reference'. */
export async function defaultBackend(): Promise<BackendName> {
  const { wasmAvailable } = await import('./wasm/loader.js');
  return wasmAvailable() ? 'wasm' : 'reference';
}

/**
 * A new, uninitialised backend of the given kind. Each backend's code is imported on first use,
 * so a program (or a browser page) loads only the backends it runs.
 */
export async function createBackend(name: BackendName, options: BackendOptions = {}): Promise<Backend> {
  switch (name) {
    case 'reference':
      return new (await import('./reference/backend.js')).ReferenceBackend();
    case 'wasm':
      if (typeof SharedArrayBuffer === 'undefined') {
        // Browsers give shared memory only to cross-origin isolated pages.
        throw new ModelError(
          'the wasm backend needs SharedArrayBuffer, which this page does not have: serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp (demo/serve.mjs does), or use backend webgpu or reference',
        );
      }
      return new (await import('./wasm/backend.js')).WasmBackend(options);
    case 'webgpu':
      // Dawn (the optional `webgpu` package) or navigator.gpu is loaded by init().
      return new (await import('./webgpu/backend.js')).WebGPUBackend(options);
    default:
      throw new Error(`backend "${name}" is not available (available: ${BACKENDS.join(', ')})`);
  }
}

export type { Backend, BackendName, LoadProgress } from './backend.js';
