/**
 * The seam between the engine and the runtime it runs on. Everything that
 * differs between Node and a browser (reading a file by path, starting a
 * worker, the core count, environment variables, V8 flags) is behind this
 * interface, implemented once per platform: ./node.ts and ./browser.ts.
 * Library code imports `platform` from ./index.ts; the browser bundle
 * (scripts/build-browser.mjs) swaps ./node.ts for ./browser.ts.
 */
import type { ByteSource } from '../gguf/source.js';

/** A worker started by the platform; messages are whatever the worker body posts. */
export interface PlatformWorker {
  onMessage(cb: (message: unknown) => void): void;
  onError(cb: (error: unknown) => void): void;
  terminate(): Promise<void>;
}

export interface Platform {
  readonly name: 'node' | 'browser';
  /** Positioned reads over a file named by a path or a file: URL (Node only; browsers throw). */
  openFile(path: string | URL): ByteSource;
  /**
   * Starts a worker that runs `body`: a classic script in which `workerData` (a
   * structured clone of `data`) and `parentPort.postMessage(message)` are in
   * scope. The worker does not keep the process alive (Node: unref).
   */
  startWorker(body: string, data: unknown): PlatformWorker;
  /**
   * Whether this thread may block in Atomics.wait (false on a browser page's main thread, where
   * the WASM barrier must spin instead).
   */
  readonly canBlock: boolean;
  /** Logical cores this process may use (1 when unknown). */
  cores(): number;
  /** An environment variable (Node's process.env; browsers have none). */
  env(name: string): string | undefined;
  /**
   * Turns on the engine's relaxed-SIMD support where it is behind a flag (V8 11.3 in
   * Node 20: --experimental-wasm-relaxed-simd). True when set, else why not.
   */
  enableRelaxedSimd(): true | string;
  /**
   * Runs `compile` (a WebAssembly.Module constructor call) with the engine told to compile every function
   * with its optimizing compiler up front, where it can be told (Node: V8's --no-wasm-lazy-compilation and
   * --no-liftoff for the call, then back, unless the command line sets either); elsewhere plain. Lazily
   * compiled and tiered up on the fly, the kernels ran their first seconds of work in baseline code.
   */
  compileOptimized<T>(compile: () => T): T;
  /** Resolves after pending I/O and timers have had a turn (Node: setImmediate; browsers: a MessageChannel task). */
  yieldToEventLoop(): Promise<void>;
  /** Names this CPU and engine, for caches of measurements (Node: CPU model, cores, V8 version). */
  machineId(): string;
  /** A small cached text by name (Node: $XDG_CACHE_HOME or ~/.cache/tsinfer/NAME; browsers: none). */
  readCache(name: string): string | undefined;
  /** Stores a small cached text by name; failures are ignored (the cache is only a speed-up). */
  writeCache(name: string, text: string): void;
}

/** Bytes of a base64 string (atob exists in browsers and in Node ≥ 16). */
export function base64Bytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
