/**
 * The browser implementation of the platform seam (./types.ts): module-free
 * Web APIs only. Workers are classic workers from a Blob URL; the WASM thread
 * pool needs SharedArrayBuffer, i.e. a cross-origin isolated page (COOP
 * same-origin + COEP require-corp), else the engine runs one thread.
 */
import type { ByteSource } from '../gguf/source.js';
import type { Platform, PlatformWorker } from './types.js';

/** The parts of the DOM worker API used here (the project's lib has no DOM types). */
interface WebWorker {
  postMessage(m: unknown): void;
  terminate(): void;
  onmessage: ((e: { data: unknown }) => void) | null;
  onerror: ((e: unknown) => void) | null;
}
interface WebGlobals {
  Worker: new (url: string, opts?: { name?: string }) => WebWorker;
  Blob: typeof Blob;
  URL: { createObjectURL(b: Blob): string; revokeObjectURL(u: string): void };
  navigator?: { hardwareConcurrency?: number };
}
const web = globalThis as unknown as WebGlobals;

function startWorker(body: string, data: unknown): PlatformWorker {
  // The first message carries workerData; the body then runs as it would in a Node worker.
  const source = `self.onmessage = (e) => {\n  self.onmessage = null;\n  const workerData = e.data;\n  const parentPort = { postMessage: (m) => self.postMessage(m) };\n${body}\n};`;
  const url = web.URL.createObjectURL(new web.Blob([source], { type: 'text/javascript' }));
  const w = new web.Worker(url, { name: 'tsinfer-wasm' });
  let onMessage: (m: unknown) => void = () => {};
  let onError: (e: unknown) => void = () => {};
  let revoked = false;
  w.onmessage = (e) => {
    // Revoked once the worker runs (the script has been fetched by then).
    if (!revoked) web.URL.revokeObjectURL(url);
    revoked = true;
    onMessage(e.data);
  };
  w.onerror = (e) => onError(e instanceof Error ? e : new Error(String((e as { message?: string }).message ?? 'worker error')));
  w.postMessage(data);
  return {
    onMessage: (cb) => void (onMessage = cb),
    onError: (cb) => void (onError = cb),
    terminate: async () => w.terminate(),
  };
}

/** A macrotask without setTimeout's 4 ms clamp: one MessageChannel, resolvers in order. */
const waiting: (() => void)[] = [];
let channel: { port1: { onmessage: (() => void) | null }; port2: { postMessage(m: unknown): void } } | undefined;
function yieldToEventLoop(): Promise<void> {
  if (!channel) {
    channel = new (globalThis as unknown as { MessageChannel: new () => NonNullable<typeof channel> }).MessageChannel();
    channel.port1.onmessage = () => waiting.shift()?.();
  }
  return new Promise<void>((r) => {
    waiting.push(r);
    channel!.port2.postMessage(0);
  });
}

export const platform: Platform = {
  name: 'browser',
  openFile(path: string | URL): ByteSource {
    throw new Error(`cannot open "${String(path)}" by path in a browser: pass a URL, a Blob/File or a Uint8Array`);
  },
  startWorker,
  // Atomics.wait throws on a page's main thread; dedicated workers (no document) may block.
  canBlock: typeof (globalThis as { document?: unknown }).document === 'undefined',
  cores: () => Math.max(1, web.navigator?.hardwareConcurrency ?? 1),
  env: () => undefined,
  enableRelaxedSimd: () => 'not needed or not possible in a browser (no engine flags)',
  compileOptimized: (compile) => compile(),
  yieldToEventLoop,
  machineId: () => (web.navigator as { userAgent?: string } | undefined)?.userAgent ?? 'unknown browser',
  readCache: () => undefined,
  writeCache: () => undefined,
};
