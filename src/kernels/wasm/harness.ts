/**
 * A WASM memory with N compute threads for running single kernels outside a
 * model: kernel benches (bench/kernels.mjs) and threaded kernel tests. It runs
 * a one-op list through the same interpreter, chunking and barrier as the
 * backend.
 */
import { instantiate, loadWasmBuild, WA, writeF16Table, type WasmExports, type WasmMemory } from './loader.js';
import { ThreadPool } from './pool.js';
import { activationRowBytes, barrierSpinUs, COUNTER_BYTES, matmulChunkRows } from './backend.js';
import { CONTROL_BYTES, CONTROL_POOL, controlLayout, encodeOp, OP_WORDS } from './schema.js';

const C = controlLayout();

export class KernelHarness {
  readonly exp: WasmExports;
  readonly memory: WasmMemory;
  private pool: ThreadPool | undefined;
  /** Next free byte (kernel benches reset it to `base` to reuse the memory). */
  top: number;
  /** First byte after the harness's own control block and tables. */
  readonly base: number;
  private ctl: number;
  private ops: number;
  private counters: number;

  private constructor(
    readonly threads: number,
    pages: number,
  ) {
    this.memory = new WA.Memory({ initial: pages, maximum: pages, shared: true });
    this.exp = instantiate(loadWasmBuild(), this.memory);
    writeF16Table(this.memory, this.exp);
    this.top = this.exp.heapBase();
    this.ctl = this.alloc(CONTROL_BYTES);
    this.ops = this.alloc(OP_WORDS * 4);
    this.counters = this.alloc(COUNTER_BYTES * threads);
    const scratch = this.alloc(64 * threads);
    const c = new Int32Array(this.memory.buffer, this.ctl, CONTROL_BYTES / 4);
    c[C.nOps / 4] = 1;
    c[C.ops / 4] = this.ops;
    c[C.counters / 4] = this.counters;
    c[C.scratch / 4] = scratch;
    c[C.scratchStride / 4] = 64;
    c[C.spinUs / 4] = barrierSpinUs();
    this.base = this.top;
  }

  /** A harness over `bytes` of memory with `threads` compute threads (main included). */
  static async create(threads: number, bytes: number): Promise<KernelHarness> {
    const h = new KernelHarness(threads, Math.ceil((bytes + (1 << 20)) / 65536));
    if (threads > 1) h.pool = await ThreadPool.start(loadWasmBuild(), h.memory, h.ctl, threads, h.ctl + CONTROL_POOL, 20000);
    return h;
  }

  alloc(bytes: number): number {
    const p = this.top;
    this.top = Math.ceil((this.top + bytes) / 64) * 64;
    if (this.top > this.memory.buffer.byteLength) throw new RangeError(`harness memory exhausted (${this.top} > ${this.memory.buffer.byteLength})`);
    return p;
  }

  bytes(p: number, n: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, p, n);
  }
  floats(p: number, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, p, n);
  }

  /** out[t][j] = W[j] · x̂[t] for every row j, split across the threads in chunks as the backend does. */
  matmul(typeId: number, w: number, rowBytes: number, xq: number, cols: number, out: number, rows: number, tokens: number): void {
    const fmt = this.exp.activationFormat(typeId);
    const chunk = matmulChunkRows(rowBytes);
    encodeOp(new DataView(this.memory.buffer), this.ops, 'matmul', {
      flags: 0,
      chunk,
      type: typeId,
      w,
      rowBytes,
      x: xq,
      xRowBytes: activationRowBytes(fmt, cols),
      out,
      rows,
      cols,
      bias: 0,
    });
    const c = new Int32Array(this.memory.buffer, this.ctl, CONTROL_BYTES / 4);
    c[C.tokens / 4] = tokens;
    c[C.outputs / 4] = tokens;
    c[C.pos / 4] = 0;
    Atomics.store(c, C.abort / 4, 0);
    new Int32Array(this.memory.buffer, this.counters, (COUNTER_BYTES * this.threads) / 4).fill(0);
    this.pool?.go();
    if (this.exp.run(this.ctl, 0, this.threads) !== 0) throw new Error('harness step failed');
  }

  async dispose(): Promise<void> {
    await this.pool?.stop();
    this.pool = undefined;
  }
}
