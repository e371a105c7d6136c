/**
 * Compute threads for the WASM backend: workers (platform.startWorker) that each instantiate
 * the module over the one shared memory and run the op list when the host
 * bumps a start counter. The main thread is thread 0 and computes too.
 *
 * Control words (i32 indices into memory, owned by the pool): START (bumped
 * once per step), QUIT. Workers spin briefly on START, then block in
 * Atomics.wait, so idle workers cost nothing.
 */
import type { WasmBuild, WasmMemory } from './loader.js';
import { platform, type PlatformWorker } from '../../platform/index.js';

/** The worker's whole program (a script with workerData and parentPort in scope: platform.startWorker). */
const WORKER_SOURCE = `
const { module, memory, ctl, tid, nth, startIdx, quitIdx, spin, relaxedTypes } = workerData;
(function main() {
let exp;
try {
  exp = new WebAssembly.Instance(module, { env: { memory, now: () => performance.now(), abort() { throw new Error('wasm abort'); } } }).exports;
  if (relaxedTypes !== undefined) exp.setRelaxedTypes(relaxedTypes);
} catch (e) {
  parentPort.postMessage({ error: String(e && e.stack || e) });
  return;
}
const i32 = new Int32Array(memory.buffer);
let seen = Atomics.load(i32, startIdx);
parentPort.postMessage({ ready: true });
for (;;) {
  for (let i = 0; i < spin && Atomics.load(i32, startIdx) === seen; i++);
  while (Atomics.load(i32, startIdx) === seen) Atomics.wait(i32, startIdx, seen);
  seen = Atomics.load(i32, startIdx);
  if (Atomics.load(i32, quitIdx) !== 0) break;
  try {
    exp.run(ctl, tid, nth);
  } catch (e) {
    exp.abort(ctl);
    parentPort.postMessage({ error: String(e && e.stack || e) });
  }
}
})();
`;

export class ThreadPool {
  private workers: PlatformWorker[] = [];
  private i32: Int32Array;
  error: string | undefined;

  private constructor(
    memory: WasmMemory,
    private readonly startIdx: number,
    private readonly quitIdx: number,
  ) {
    this.i32 = new Int32Array(memory.buffer);
  }

  /** Starts nth - 1 workers and resolves when every one has instantiated the module. */
  static async start(build: WasmBuild, memory: WasmMemory, ctl: number, nth: number, poolWords: number, spin: number): Promise<ThreadPool> {
    const startIdx = poolWords >> 2;
    const quitIdx = startIdx + 1;
    const pool = new ThreadPool(memory, startIdx, quitIdx);
    const ready: Promise<void>[] = [];
    for (let tid = 1; tid < nth; tid++) {
      const worker = platform.startWorker(WORKER_SOURCE, { module: build.module, memory, ctl, tid, nth, startIdx, quitIdx, spin, relaxedTypes: build.relaxedTypes });
      pool.workers.push(worker);
      ready.push(
        new Promise<void>((resolve, reject) => {
          worker.onMessage((msg) => {
            const m = msg as { ready?: boolean; error?: string };
            if (m.ready) resolve();
            if (m.error) {
              pool.error = m.error;
              reject(new Error(`WASM worker ${tid} failed: ${m.error}`));
            }
          });
          worker.onError((e) => {
            pool.error = String(e);
            reject(e);
          });
        }),
      );
    }
    try {
      await Promise.all(ready);
    } catch (e) {
      await pool.stop();
      throw e;
    }
    return pool;
  }

  get size(): number {
    return this.workers.length + 1;
  }

  /** Wakes the workers for one step (they read the step from the control block). */
  go(): void {
    if (this.workers.length === 0) return;
    Atomics.add(this.i32, this.startIdx, 1);
    Atomics.notify(this.i32, this.startIdx);
  }

  async stop(): Promise<void> {
    Atomics.store(this.i32, this.quitIdx, 1);
    Atomics.add(this.i32, this.startIdx, 1);
    Atomics.notify(this.i32, this.startIdx);
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers = [];
  }
}
