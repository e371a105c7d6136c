import type { Backend, BackendName } from './backend.js';
import { ReferenceBackend } from './reference/backend.js';
import { WebGPUBackend, webgpuUnsupported, type WebGPUBackendOptions } from './webgpu/backend.js';
import { WasmBackend, wasmUnsupported, type WasmBackendOptions } from './wasm/backend.js';
import type { Program } from '../model/program.js';
import { wasmAvailable } from './wasm/loader.js';

export const BACKENDS: readonly BackendName[] = ['reference', 'wasm', 'webgpu'];

/** Options some backends take (wasm: compute threads; webgpu: subgroups, matmul layout, split-KV decode). */
export type BackendOptions = WasmBackendOptions & WebGPUBackendOptions;

/** The backend loadModel uses when none is named: 'wasm' where the engine runs it (Node ≥ 20), else 'reference'. */
export function defaultBackend(): BackendName {
  return wasmAvailable() ? 'wasm' : 'reference';
}

/** A new, uninitialised backend of the given kind. WASM and WebGPU arrive with their own issues. */
export function createBackend(name: BackendName, options: BackendOptions = {}): Backend {
  switch (name) {
    case 'reference':
      return new ReferenceBackend();
    case 'wasm':
      return new WasmBackend(options);
    case 'webgpu':
      // Dawn (the optional `webgpu` package) or navigator.gpu is loaded by init().
      return new WebGPUBackend(options);
    default:
      throw new Error(`backend "${name}" is not available yet (available: ${BACKENDS.join(', ')})`);
  }
}

/** Ops and op features of a program the backend does not implement (empty: it runs the program). */
export function unsupportedFeatures(name: BackendName, program: Program): string[] {
  return name === 'wasm' ? wasmUnsupported(program) : name === 'webgpu' ? webgpuUnsupported(program) : [];
}

export type { Backend, BackendName, LoadProgress } from './backend.js';
