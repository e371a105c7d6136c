/**
 * The machine's own ceilings as WASM SIMD128 sees them, so that a kernel's
 * GB/s or a prompt's tok/s mean the same thing on any CPU: read GB/s from DRAM
 * (a buffer far beyond the last-level cache) and from cache (an L2-sized buffer
 * read over and over), and the f32 and int8 multiply-accumulate peaks, at each
 * thread count (worker_threads over one shared memory, all threads at once).
 *
 * The kernels are AssemblyScript (bench/ceilings/ceilings.ts), compiled here
 * with the installed `assemblyscript` package (a development dependency: an
 * installed copy of the package without it reports the ceilings as
 * unavailable). `tsinfer bench` and bench/*.mjs read them through
 * `loadCeilings`, which keeps them in a cache file per CPU model, core count
 * and Node version, one row per thread count measured.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, homedir, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { platform } from '../platform/index.js';

/** Ceilings at one thread count. Bandwidths in GB/s (1e9 bytes), peaks in GMAC/s (1e9 multiply-adds). */
export interface ThreadCeilings {
  threads: number;
  /** f32x4 loads streaming a buffer far beyond the last-level cache, one sequential stream per thread. */
  dramReadGBps: number;
  /** The same with two far-apart streams walked together per thread. */
  dramReadTwoStreamsGBps: number;
  /** f32x4 loads over an L2-sized buffer per thread, read again and again. */
  cacheReadGBps: number;
  /** f32x4.mul + f32x4.add, weights from L1, a 4 x 2 register tile. */
  f32GMACs: number;
  /**
   * The same with subnormal weights and products (a diagnostic, not a ceiling: WASM has no
   * flush-to-zero, and some cores take a microcode assist for every subnormal result).
   */
  f32SubnormalGMACs: number;
  /** i8 weights sign-extended to i16 and multiplied by i32x4.dot_i16x8_s (the kernels' baseline int8 dot). */
  i8GMACs: number;
  /** i16x8.relaxed_dot_i8x16_i7x16_s + pairwise widening; absent when the engine does not validate relaxed SIMD. */
  i8RelaxedGMACs?: number;
}

export interface Ceilings {
  key: string;
  date: string;
  cpu: string;
  cores: number;
  node: string;
  /** Bytes of the DRAM buffer (all threads together) and of each thread's cache buffer. */
  dramBytes: number;
  cacheBytes: number;
  loadAverage: number[];
  /** Each figure is the best of `repetitions` (a ceiling, not a typical value). */
  repetitions: number;
  byThreads: ThreadCeilings[];
}

export interface CeilingOptions {
  threads?: number[];
  /** DRAM buffer bytes, all threads together (default 1 GiB: several times any current L3). */
  dramBytes?: number;
  /** Per-thread cache buffer bytes (default 256 KiB: inside L2 on current x86 and Arm cores). */
  cacheBytes?: number;
  repetitions?: number;
  /** Loop iterations of each MAC peak measurement (default 20 million). */
  macIterations?: number;
  /** Progress lines (default none). */
  log?: (line: string) => void;
}

/** The few WebAssembly API pieces used here (the compile target has no DOM typings). */
interface WasmModule {
  readonly __module?: never;
}
interface WasmMemory {
  readonly buffer: SharedArrayBuffer | ArrayBuffer;
}
const WA = (
  globalThis as unknown as {
    WebAssembly: {
      validate(bytes: Uint8Array): boolean;
      Module: new (bytes: Uint8Array) => WasmModule;
      Memory: new (d: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
      Instance: new (m: WasmModule, imports: object) => { exports: unknown };
    };
  }
).WebAssembly;

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The AssemblyScript source of the ceiling kernels. */
export const CEILINGS_SOURCE = path.join(ROOT, 'bench', 'ceilings', 'ceilings.ts');

// ---- compiling AssemblyScript for the benches ------------------------------------

interface Asc {
  main(args: string[], opts: { writeFile: (name: string, contents: Uint8Array | string) => void }): Promise<{ error: Error | null; stderr: { toString(): string } }>;
}

/**
 * Compiles an AssemblyScript file to a WASM module with SIMD128 + threads, shared imported memory
 * (env.memory) and the stub runtime; `relaxed` adds relaxed SIMD (ASC_FEATURE_RELAXED_SIMD is then
 * true in the source). Returns undefined when the engine does not validate the result.
 */
export async function compileAssemblyScript(file: string, relaxed = false): Promise<WasmModule | undefined> {
  let asc: Asc;
  try {
    asc = ((await import('assemblyscript/asc' as string)) as { default: Asc }).default;
  } catch (e) {
    throw new Error(`the ceilings benchmark needs the assemblyscript package (a development dependency): ${e instanceof Error ? e.message : String(e)}`);
  }
  if (!existsSync(file)) throw new Error(`AssemblyScript source not found: ${file}`);
  const files: Record<string, Uint8Array | string> = {};
  const { error, stderr } = await asc.main(
    [
      file,
      '-o',
      'out.wasm',
      '-O3',
      '--noAssert',
      '--runtime',
      'stub',
      '--enable',
      relaxed ? 'simd,threads,relaxed-simd' : 'simd,threads',
      '--importMemory',
      '--sharedMemory',
      '--initialMemory',
      '1',
      '--maximumMemory',
      '65536',
      '--use',
      'abort=',
    ],
    {
      writeFile: (name, contents) => {
        files[name] = contents;
      },
    },
  );
  if (error) throw new Error(`asc ${path.basename(file)}: ${error.message}\n${stderr.toString()}`);
  const bytes = files['out.wasm'] as Uint8Array;
  // the relaxed build needs V8's flag on Node 20 (platform: the loader's own setter); where it cannot be set it does not validate
  if (relaxed) platform.enableRelaxedSimd();
  if (!WA.validate(bytes)) {
    if (relaxed) return undefined;
    throw new Error(`this engine does not validate ${path.basename(file)} (needs SIMD128 and threads)`);
  }
  // optimized up front, as the engine's own module (loader.ts): lazily compiled, the first runs measured baseline code
  return platform.compileOptimized(() => new WA.Module(bytes));
}

// ---- running one function on N threads at once --------------------------------------

/** Control words: [0] generation, [1] threads done, [2] function index, [3..] arguments per thread. */
const CTL_WORDS = 64;
const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const { readFileSync } = require('node:fs');
const cpuNs = () => { try { return Number(readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ')[0]); } catch { return NaN; } };
const { module, memory, ctl, times, tid, names } = workerData;
const inst = new WebAssembly.Instance(module, { env: { memory, abort() { throw new Error('abort'); } } });
const c = new Int32Array(memory.buffer, ctl, ${CTL_WORDS});
const t = new Float64Array(memory.buffer, times, 64);
let gen = 0;
parentPort.postMessage('ready');
for (;;) {
  Atomics.wait(c, 0, gen);
  gen = Atomics.load(c, 0);
  const fi = c[2];
  if (fi < 0) break;
  const a = 3 + tid * 4;
  const c0 = cpuNs();
  const t0 = performance.now();
  const r = inst.exports[names[fi]](c[a] >>> 0, c[a + 1] >>> 0, c[a + 2]);
  t[tid] = performance.now() - t0;
  t[16 + tid] = (cpuNs() - c0) / 1e6;
  t[32 + tid] = Number(r);
  Atomics.add(c, 1, 1);
  Atomics.notify(c, 1);
}
`;

/** Nanoseconds the calling thread has spent on a CPU (Linux), NaN elsewhere. */
function threadCpuNs(): number {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ')[0]);
  } catch {
    return NaN;
  }
}

/**
 * A shared WASM memory with `threads` instances of one module (the main thread's and one per
 * worker); `run` calls one exported function f(a, b, c) on every thread at the same moment and
 * returns each thread's milliseconds. Arguments are u32 (pointers, sizes) and i32.
 */
export class WasmThreads {
  readonly memory: WasmMemory;
  readonly exports: Record<string, (...a: number[]) => number>;
  private top: number;
  private readonly ctl: number;
  private readonly times: number;
  private workers: Worker[] = [];

  private constructor(
    readonly module: WasmModule,
    readonly threads: number,
    bytes: number,
    private readonly names: string[],
  ) {
    const pages = Math.ceil((bytes + (1 << 20)) / 65536);
    this.memory = new WA.Memory({ initial: pages, maximum: pages, shared: true });
    const inst = new WA.Instance(module, {
      env: {
        memory: this.memory,
        abort: () => {
          throw new Error('abort');
        },
      },
    });
    this.exports = inst.exports as unknown as Record<string, (...a: number[]) => number>;
    this.top = this.exports.heapBase!();
    this.ctl = this.alloc(CTL_WORDS * 4);
    this.times = this.alloc(64 * 8);
  }

  /** `bytes` of memory for the caller (alloc) besides the control words; `names`: the functions run may call. */
  static async create(module: WasmModule, threads: number, bytes: number, names: string[]): Promise<WasmThreads> {
    if (threads < 1 || threads > 16) throw new RangeError(`threads must be 1..16, got ${threads}`);
    const w = new WasmThreads(module, threads, bytes, names);
    for (let tid = 1; tid < threads; tid++) {
      const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { module, memory: w.memory, ctl: w.ctl, times: w.times, tid, names } });
      await new Promise<void>((resolve, reject) => {
        worker.once('message', () => resolve());
        worker.once('error', reject);
      });
      w.workers.push(worker);
    }
    return w;
  }

  /** 64-byte aligned bytes of the shared memory. */
  alloc(bytes: number): number {
    const p = this.top;
    this.top = Math.ceil((p + bytes) / 64) * 64;
    if (this.top > this.memory.buffer.byteLength) throw new RangeError(`WasmThreads memory exhausted (${this.top} > ${this.memory.buffer.byteLength})`);
    return p;
  }

  /**
   * Calls names[fn](...args(tid)) on every thread at once; each thread's wall-clock ms, its ms on a
   * CPU (from /proc/thread-self/schedstat; NaN where there is none: time-sliced away by other
   * processes on a loaded machine, a thread's wall time exceeds its CPU time) and result.
   */
  run(fn: string, args: (tid: number) => [number, number, number]): { ms: number[]; cpuMs: number[]; results: number[] } {
    const fi = this.names.indexOf(fn);
    if (fi < 0) throw new Error(`WasmThreads: ${fn} is not among ${this.names.join(', ')}`);
    const c = new Int32Array(this.memory.buffer, this.ctl, CTL_WORDS);
    const t = new Float64Array(this.memory.buffer, this.times, 64);
    for (let tid = 0; tid < this.threads; tid++) {
      const a = args(tid);
      c[3 + tid * 4] = a[0] | 0;
      c[4 + tid * 4] = a[1] | 0;
      c[5 + tid * 4] = a[2] | 0;
    }
    c[2] = fi;
    Atomics.store(c, 1, 0);
    Atomics.add(c, 0, 1);
    Atomics.notify(c, 0);
    const a0 = args(0);
    const c0 = threadCpuNs();
    const t0 = performance.now();
    const r = this.exports[fn]!(a0[0] >>> 0, a0[1] >>> 0, a0[2]);
    t[0] = performance.now() - t0;
    t[16] = (threadCpuNs() - c0) / 1e6;
    t[32] = r;
    while (Atomics.load(c, 1) < this.threads - 1) Atomics.wait(c, 1, Atomics.load(c, 1), 1000);
    return { ms: Array.from(t.subarray(0, this.threads)), cpuMs: Array.from(t.subarray(16, 16 + this.threads)), results: Array.from(t.subarray(32, 32 + this.threads)) };
  }

  async dispose(): Promise<void> {
    const c = new Int32Array(this.memory.buffer, this.ctl, CTL_WORDS);
    c[2] = -1;
    Atomics.add(c, 0, 1);
    Atomics.notify(c, 0);
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers = [];
  }
}

// ---- the ceilings ---------------------------------------------------------------------

const NAMES = ['readF32', 'readF32Two', 'macF32', 'macI8', 'macI8Relaxed'];
/** MACs per loop iteration of macF32 / macI8 / macI8Relaxed (bench/ceilings/ceilings.ts). */
const MACS_PER_ITER = { macF32: 32, macI8: 64, macI8Relaxed: 64 } as const;

/** Measures the ceilings at each thread count (a few seconds; more with a bigger DRAM buffer). */
export async function measureCeilings(o: CeilingOptions = {}): Promise<Ceilings> {
  const threadList = [...new Set(o.threads ?? [1, Math.min(2, availableParallelism())])].sort((a, b) => a - b);
  const dramBytes = o.dramBytes ?? 1 << 30;
  const cacheBytes = o.cacheBytes ?? 256 << 10;
  const reps = o.repetitions ?? 5;
  const log = o.log ?? (() => {});
  const base = await compileAssemblyScript(CEILINGS_SOURCE, false);
  const relaxed = await compileAssemblyScript(CEILINGS_SOURCE, true);
  const byThreads: ThreadCeilings[] = [];
  for (const n of threadList) {
    const row: ThreadCeilings = { threads: n, dramReadGBps: 0, dramReadTwoStreamsGBps: 0, cacheReadGBps: 0, f32GMACs: 0, f32SubnormalGMACs: 0, i8GMACs: 0 };
    const per = Math.floor(dramBytes / n / 4096) * 4096;
    const w = await WasmThreads.create(base!, n, per * n + (cacheBytes + 8192) * n, NAMES);
    try {
      const dram = w.alloc(per * n);
      // touch every page (first-touch faults must not be timed) with values that are normal floats
      new Float32Array(w.memory.buffer, dram, (per * n) / 4).fill(1.5);
      const cache = Array.from({ length: n }, () => w.alloc(cacheBytes + 4096));
      for (const p of cache) new Float32Array(w.memory.buffer, p, (cacheBytes + 4096) / 4).fill(0.25);
      /** Best total rate over reps: units done by all threads / the slowest thread's time. */
      const best = (fn: string, args: (tid: number) => [number, number, number], units: number) => {
        let top = 0;
        for (let r = 0; r < reps; r++) {
          const { ms } = w.run(fn, args);
          top = Math.max(top, (units * n) / (Math.max(...ms) / 1000));
        }
        return top;
      };
      w.run('readF32', (tid) => [dram + tid * per, per, 1]); // warm-up
      row.dramReadGBps = best('readF32', (tid) => [dram + tid * per, per, 1], per) / 1e9;
      row.dramReadTwoStreamsGBps = best('readF32Two', (tid) => [dram + tid * per, per, 1], per) / 1e9;
      const cacheReps = Math.max(1, Math.round((256 << 20) / cacheBytes));
      row.cacheReadGBps = best('readF32', (tid) => [cache[tid]!, cacheBytes, cacheReps], cacheBytes * cacheReps) / 1e9;
      const iters = o.macIterations ?? 20_000_000;
      row.f32GMACs = best('macF32', (tid) => [cache[tid]!, iters, 1], iters * MACS_PER_ITER.macF32) / 1e9;
      row.i8GMACs = best('macI8', (tid) => [cache[tid]!, iters, 3], iters * MACS_PER_ITER.macI8) / 1e9;
      for (const p of cache) new Float32Array(w.memory.buffer, p, 1024).fill(1e-39);
      const sub = iters / 10;
      row.f32SubnormalGMACs = best('macF32', (tid) => [cache[tid]!, sub, 1], sub * MACS_PER_ITER.macF32) / 1e9;
    } finally {
      await w.dispose();
    }
    if (relaxed) {
      const wr = await WasmThreads.create(relaxed, n, (cacheBytes + 8192) * n, NAMES);
      try {
        const cache = Array.from({ length: n }, () => wr.alloc(cacheBytes + 4096));
        for (const p of cache) new Uint8Array(wr.memory.buffer, p, cacheBytes).fill(3);
        const iters = o.macIterations ?? 20_000_000;
        let top = 0;
        for (let r = 0; r < reps; r++) {
          const { ms } = wr.run('macI8Relaxed', (tid) => [cache[tid]!, iters, 3]);
          top = Math.max(top, (iters * MACS_PER_ITER.macI8Relaxed * n) / (Math.max(...ms) / 1000));
        }
        row.i8RelaxedGMACs = top / 1e9;
      } finally {
        await wr.dispose();
      }
    }
    log(formatCeilingRow(row));
    byThreads.push(row);
  }
  return {
    key: ceilingKey(),
    date: new Date().toISOString(),
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: availableParallelism(),
    node: process.version,
    dramBytes,
    cacheBytes,
    loadAverage: loadavg(),
    repetitions: reps,
    byThreads,
  };
}

/** What the cached ceilings must match: CPU model, core count, Node (V8) version. */
export function ceilingKey(): string {
  return JSON.stringify({ cpu: cpus()[0]?.model ?? 'unknown', cores: availableParallelism(), node: process.version });
}

/** The cache file: TSINFER_CEILINGS_CACHE, else $XDG_CACHE_HOME/tsinfer/ceilings.json (~/.cache by default). */
export function ceilingsCachePath(): string {
  const env = process.env.TSINFER_CEILINGS_CACHE;
  if (env) return env;
  return path.join(process.env.XDG_CACHE_HOME || path.join(homedir(), '.cache'), 'tsinfer', 'ceilings.json');
}

export type CeilingMode = 'cache' | 'fresh' | 'off';

/** The thread counts a measurement covers for a request: 1 always, plus those asked for. */
const wanted = (threads: number[]) => [...new Set([1, ...threads])].sort((a, b) => a - b);

/** The cache file's measurement for this CPU, core count and Node, if there is one. */
function readCache(): Ceilings | undefined {
  const file = ceilingsCachePath();
  if (!existsSync(file)) return undefined;
  try {
    const c = JSON.parse(readFileSync(file, 'utf8')) as Ceilings;
    return c.key === ceilingKey() && Array.isArray(c.byThreads) ? c : undefined;
  } catch {
    return undefined; // unreadable cache: measure again
  }
}

/** Whether loadCeilings would answer from the cache file (it holds every one of these thread counts). */
export function ceilingsCached(threads: number[]): boolean {
  const c = readCache();
  return c !== undefined && wanted(threads).every((n) => c.byThreads.some((r) => r.threads === n));
}

/** Writes a measurement to the cache file, keeping the cached rows of thread counts it did not measure. */
export function writeCeilingsCache(c: Ceilings): void {
  const old = readCache();
  const rows = [...(old?.byThreads.filter((r) => !c.byThreads.some((x) => x.threads === r.threads)) ?? []), ...c.byThreads].sort((a, b) => a.threads - b.threads);
  try {
    mkdirSync(path.dirname(ceilingsCachePath()), { recursive: true });
    writeFileSync(ceilingsCachePath(), JSON.stringify({ ...c, byThreads: rows }, null, 2));
  } catch {
    // a read-only cache directory only costs a new measurement next time
  }
}

/**
 * The ceilings for these thread counts (and 1): from the cache file when it holds them for this
 * CPU, core count and Node version (mode 'cache'), else measured now and merged into it.
 * Mode 'off' returns undefined.
 */
export async function loadCeilings(threads: number[], mode: CeilingMode = 'cache', o: CeilingOptions = {}): Promise<Ceilings | undefined> {
  if (mode === 'off') return undefined;
  if (mode === 'cache' && ceilingsCached(threads)) return readCache();
  writeCeilingsCache(await measureCeilings({ ...o, threads: wanted(threads) }));
  return readCache();
}

/** The ceilings measured at `threads` threads, if any. */
export function ceilingAt(c: Ceilings | undefined, threads: number): ThreadCeilings | undefined {
  return c?.byThreads.find((r) => r.threads === threads);
}

export function formatCeilingRow(r: ThreadCeilings): string {
  return `${r.threads} thread${r.threads > 1 ? 's' : ''}: DRAM read ${r.dramReadGBps.toFixed(1)} GB/s (two streams per thread ${r.dramReadTwoStreamsGBps.toFixed(1)}), cache read ${r.cacheReadGBps.toFixed(1)} GB/s, f32 ${r.f32GMACs.toFixed(1)} GMAC/s (subnormal ${r.f32SubnormalGMACs.toFixed(2)}), int8 ${r.i8GMACs.toFixed(1)} GMAC/s${r.i8RelaxedGMACs === undefined ? '' : ` (relaxed dot ${r.i8RelaxedGMACs.toFixed(1)})`}`;
}

/** A markdown table of the ceilings. */
export function ceilingsTable(c: Ceilings): string {
  const head =
    '| threads | DRAM read GB/s | DRAM, 2 streams/thread GB/s | cache (L2) read GB/s | f32 GMAC/s | f32 GMAC/s, subnormal | int8 GMAC/s (i16 dot) | int8 GMAC/s (relaxed dot) |\n|---:|---:|---:|---:|---:|---:|---:|---:|';
  const f = (x: number | undefined) => (x === undefined ? '–' : x.toFixed(1));
  return [
    head,
    ...c.byThreads.map(
      (r) =>
        `| ${r.threads} | ${f(r.dramReadGBps)} | ${f(r.dramReadTwoStreamsGBps)} | ${f(r.cacheReadGBps)} | ${f(r.f32GMACs)} | ${f(r.f32SubnormalGMACs)} | ${f(r.i8GMACs)} | ${f(r.i8RelaxedGMACs)} |`,
    ),
  ].join('\n');
}
