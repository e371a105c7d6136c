/** The Node implementation of the platform seam (./types.ts). */
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ByteSource } from '../gguf/source.js';
import type { Platform, PlatformWorker } from './types.js';

/**
 * Reads of more than DIRECT_BYTES go through a reused buffer of this size. read() straight into fresh memory left
 * its pages to be faulted in again at first use (on the Linux VM this project is measured on, ~5 µs a page:
 * the first decode step of SmolLM2-135M Q8_0 took 200 ms instead of 13, 360M 525 instead of 35), while a
 * read into a small reused buffer and a copy loads as fast (136 MiB in ~410 ms) and leaves the pages mapped.
 */
const BOUNCE_BYTES = 1 << 20;
/** Reads up to this many bytes go straight into their destination. */
const DIRECT_BYTES = 1 << 16;

/** Positioned reads over a file: the weights go from here into their final home (through BOUNCE_BYTES). */
export class FileSource implements ByteSource {
  readonly size: number;
  readonly path: string;
  private fd: number;
  private bounce: Uint8Array | undefined;
  constructor(file: string | URL) {
    this.path = typeof file === 'string' ? file : fileURLToPath(file);
    this.fd = openSync(this.path, 'r');
    try {
      this.size = fstatSync(this.fd).size;
    } catch (e) {
      closeSync(this.fd);
      throw e;
    }
  }
  readInto(position: number, dst: Uint8Array): number {
    let done = 0;
    if (dst.length > DIRECT_BYTES) {
      const b = (this.bounce ??= new Uint8Array(BOUNCE_BYTES));
      while (done < dst.length) {
        const n = readSync(this.fd, b, 0, Math.min(BOUNCE_BYTES, dst.length - done), position + done);
        if (n === 0) break;
        dst.set(n === BOUNCE_BYTES ? b : b.subarray(0, n), done);
        done += n;
      }
      return done;
    }
    while (done < dst.length) {
      const n = readSync(this.fd, dst, done, dst.length - done, position + done);
      if (n === 0) break;
      done += n;
    }
    return done;
  }
  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
    this.bounce = undefined;
  }
}

const RELAXED_FLAG = '--experimental-wasm-relaxed-simd';

/** Sets V8's relaxed-SIMD flag (process-wide; a no-op where relaxed SIMD is on by default). */
function enableRelaxedSimd(): true | string {
  // node:v8 is reached synchronously through getBuiltinModule (Node ≥ 20.16), so this module imports no more than it needs.
  if (typeof (process as { getBuiltinModule?: unknown }).getBuiltinModule !== 'function') return `${RELAXED_FLAG}: this Node has no process.getBuiltinModule (before 20.16) to set it`;
  const set = v8Flags();
  if (!set) return `${RELAXED_FLAG}: V8's flags cannot be set here (no node:v8 setFlagsFromString, or not Node itself)`;
  try {
    set(RELAXED_FLAG);
    return true;
  } catch (e) {
    return `${RELAXED_FLAG}: setting it failed: ${e instanceof Error ? e.message : String(e)}`;
  }
}

/**
 * V8's flag setter (node:v8 through getBuiltinModule, Node >= 20.16), or undefined. Only in Node itself, whose V8
 * keeps its flags writable for this call: Electron's and NW.js's V8 freeze them and abort on a late write, and
 * Bun and Deno run the node condition of the package too.
 */
function v8Flags(): ((flags: string) => void) | undefined {
  const proc = process as { getBuiltinModule?: (id: string) => unknown; versions: Record<string, string | undefined> };
  if (['electron', 'nw', 'node-webkit', 'bun', 'deno'].some((k) => proc.versions[k] !== undefined)) return undefined;
  try {
    const v8 = proc.getBuiltinModule?.('node:v8') as { setFlagsFromString?: (flags: string) => void } | undefined;
    return typeof v8?.setFlagsFromString === 'function' ? v8.setFlagsFromString.bind(v8) : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the command line (or NODE_OPTIONS) sets V8's WebAssembly tiering flags itself. */
function tieringFlagsGiven(): boolean {
  const args = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  return args.some((a) => /^--(no[-_])?(liftoff|wasm[-_]lazy[-_]compilation)\b/.test(a));
}

/**
 * compileOptimized (types.ts): V8 compiles a module's functions lazily, at first call, with its baseline
 * compiler (Liftoff), and tiers hot ones up to TurboFan in the background. Our kernels then ran at about
 * 0.7x for their first seconds (decode of SmolLM2-135M: 80-90 tok/s, then 115 once tiered up). Compiling
 * the whole module with TurboFan up front takes ~80 ms once per process; the flags go back to V8's
 * defaults right after, so other modules of the process compile as they would have.
 */
function compileOptimized<T>(compile: () => T): T {
  const set = v8Flags();
  if (!set || tieringFlagsGiven()) return compile();
  set('--no-wasm-lazy-compilation --no-liftoff');
  try {
    return compile();
  } finally {
    set('--wasm-lazy-compilation --liftoff');
  }
}

function startWorker(body: string, data: unknown): PlatformWorker {
  const source = `const { parentPort, workerData } = require('node:worker_threads');\n${body}`;
  const w = new Worker(source, { eval: true, workerData: data });
  w.unref();
  return {
    onMessage: (cb) => void w.on('message', cb),
    onError: (cb) => void w.on('error', cb),
    terminate: async () => void (await w.terminate()),
  };
}

/** ~/.cache/tsinfer/NAME (or under $XDG_CACHE_HOME), the directory src/cli/ceilings.ts keeps its cache in. */
function cachePath(name: string): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'tsinfer', name);
}

export const platform: Platform = {
  name: 'node',
  openFile: (path) => new FileSource(path),
  startWorker,
  canBlock: true,
  cores: () => Math.max(1, availableParallelism()),
  env: (name) => process.env[name],
  enableRelaxedSimd,
  compileOptimized,
  yieldToEventLoop: () => new Promise<void>((r) => setImmediate(r)),
  machineId: () => `${cpus()[0]?.model ?? 'unknown CPU'}, ${availableParallelism()} cores, V8 ${process.versions.v8}`,
  readCache(name) {
    try {
      return readFileSync(cachePath(name), 'utf8');
    } catch {
      return undefined;
    }
  },
  writeCache(name, text) {
    try {
      mkdirSync(dirname(cachePath(name)), { recursive: true });
      writeFileSync(cachePath(name), text);
    } catch {
      // only a speed-up
    }
  },
};
