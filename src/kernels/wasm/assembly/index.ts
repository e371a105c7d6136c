// The WASM backend's module: kernels plus the op-list interpreter that every
// thread runs in lockstep over one shared memory. The host (../backend.ts)
// plans all memory, encodes the op list and writes the step parameters; this
// module allocates nothing.
import { activationFormat as fmt, dequantRow, matmul } from './generated/matmul';
import { add, argmax, attention, attentionScratch, kvStore, quantizeQ8A, quantizeQ8K, rmsnorm, rope, siluMul } from './ops';
import { f16, f16x4hi, f16x4lo, roundF16, setF16Table, toF16 } from './util';

export { quantizeQ8A, quantizeQ8K, rmsnorm, rope, kvStore, attention, attentionScratch, add, siluMul, matmul, argmax, dequantRow };

/** Every instance calls this once: tab is the host's binary16 -> f32 table (65536 floats). */
export function init(tab: usize): void {
  setF16Table(tab);
}
/** First byte the host may use. */
export function heapBase(): usize {
  return (__heap_base + 63) & ~<usize>63;
}
/** ggml type id -> activation format the matmul wants (0 f32, 1 Q8A, 2 Q8_K), -1 = unsupported. */
export function activationFormat(type: i32): i32 {
  return fmt(type);
}
export function f16ToF32(h: u32): f32 {
  return f16(h);
}
/** n (a multiple of 8) finite binary16 values at src -> f32 at dst, eight at a time: the KV cache's and F16 weights' conversion. */
export function halvesToF32(src: usize, dst: usize, n: i32): void {
  for (let i = 0; i < n; i += 8) {
    const h = v128.load(src + (<usize>i << 1));
    v128.store(dst + (<usize>i << 2), f16x4lo(h));
    v128.store(dst + (<usize>i << 2), f16x4hi(h), 16);
  }
}
export function f32ToF16(x: f32): u32 {
  return toF16(x);
}
export function roundToF16(x: f32): f32 {
  return roundF16(x);
}

// ---- control block (i32 words at ctl) -----------------------------------------
const C_COUNT = 0; // barrier arrivals
const C_GEN = 4; // barrier generation
const C_WAITERS = 8; // threads blocked in atomic.wait
const C_ABORT = 12; // set when a thread failed: everyone leaves
const C_TOKENS = 16;
const C_OUTPUTS = 20;
const C_POS = 24;
const C_NOPS = 28;
const C_OPS = 32;
const C_COUNTERS = 36;
const C_SCRATCH = 40;
const C_SCRATCH_STRIDE = 44;
const C_SPIN = 48; // spins before waiting
const C_PROF = 52; // 0, or the per-thread profile: [nth][nOps] x (f64 work ms, f64 barrier ms)

// @ts-ignore: decorator
@external("env", "now") declare function now(): f64;

export const OP_WORDS = 16;
const OP_RMSNORM = 1;
const OP_QUANT = 2;
const OP_MATMUL = 3;
const OP_ROPE = 4;
const OP_KVSTORE = 5;
const OP_ATTN = 6;
const OP_ADD = 7;
const OP_SILUMUL = 8;
const OP_GATHER = 9;
/** x += b, then RMSNorm of x into out (row-wise; the residual add and the next norm in one pass). */
const OP_ADD_NORM = 10;
/** RoPE of k's rows, then both k and v rows into the cache. */
const OP_ROPE_STORE = 11;
/** Embedding lookup: row ids[t] of the table, dequantized, for every token t of the step. */
const OP_EMBED = 12;
/** Flag in word 1: no barrier after this op (the next op reads none of its output). */
const F_NOBARRIER = 2;
/** Quantize op feeding a matmul: when small (decode), every thread quantizes all rows itself and no barrier follows. */
const F_REPLICATE = 4;
const REPLICATE_MAX = 16384;

/** Quantizes rows [r0, r1) of x (width floats each) into dst (rb bytes per row) in format fmt (1 Q8A, 2 Q8_K). */
function quantRows(x: usize, width: i32, dst: usize, fmt: i32, rb: usize, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    if (fmt == 1) quantizeQ8A(x + <usize>r * <usize>width * 4, dst + <usize>r * rb, width);
    else quantizeQ8K(x + <usize>r * <usize>width * 4, dst + <usize>r * rb, width);
  }
}

// Prefetch while waiting. Globals are per instance, and every thread has its
// own instance: this thread's cursor into the weights of its region of the
// next matmul, read ahead while it waits at a barrier, so the region's first
// lines are in cache (L2, or L3 when evicted) when the matmul starts and DRAM
// keeps streaming through the barriers and the small ops between matmuls.
let pfCur: usize = 0;
let pfEnd: usize = 0;
let pfOp: usize = 0;
let pfSink: u32 = 0;
/** Bytes read ahead per op at most (L2 is 0.5-2 MiB per core on current CPUs). */
const PF_MAX: usize = 256 << 10;
/** Ops looked ahead for the next matmul. */
const PF_LOOKAHEAD = 8;

/** Points the prefetch cursor at this thread's region of the first matmul among ops (i, i + PF_LOOKAHEAD]. */
function aimPrefetch(ops: usize, i: i32, nOps: i32, tid: i32, nth: i32): void {
  for (let j = i + 1; j < min(nOps, i + 1 + PF_LOOKAHEAD); j++) {
    const op = ops + <usize>j * (OP_WORDS << 2);
    if (w(op, 0) != OP_MATMUL) continue;
    if (op == pfOp) return;
    const chunk = w(op, 2);
    const rows = w(op, 9);
    const nChunks = (rows + chunk - 1) / chunk;
    const r0 = <i32>(<i64>nChunks * tid / nth) * chunk;
    const r1 = min(rows, <i32>(<i64>nChunks * (tid + 1) / nth) * chunk);
    const rb = p(op, 5);
    pfOp = op;
    pfCur = p(op, 4) + <usize>r0 * rb;
    pfEnd = min(p(op, 4) + <usize>r1 * rb, pfCur + PF_MAX);
    return;
  }
}

/** Reads up to 1 KiB ahead (one byte per cache line), never past the region's end. */
// @ts-ignore: decorator
@inline function prefetchStep(): void {
  const end = min(pfEnd, pfCur + 1024);
  let a: u32 = 0;
  for (let q = pfCur; q < end; q += 64) a += load<u8>(q);
  pfSink += a;
  pfCur = end;
}

/** Sense-counting barrier: spin on the generation word (reading ahead while it waits), then block in atomic.wait. Returns false when aborted. */
function barrier(ctl: usize, nth: i32): bool {
  if (nth == 1) return true;
  const gen = atomic.load<i32>(ctl + C_GEN);
  if (atomic.add<i32>(ctl + C_COUNT, 1) == nth - 1) {
    atomic.store<i32>(ctl + C_COUNT, 0);
    atomic.add<i32>(ctl + C_GEN, 1);
    if (atomic.load<i32>(ctl + C_WAITERS) > 0) atomic.notify(ctl + C_GEN, nth);
    return atomic.load<i32>(ctl + C_ABORT) == 0;
  }
  const spin = atomic.load<i32>(ctl + C_SPIN);
  for (let i = 0; i < spin; i++) {
    if (atomic.load<i32>(ctl + C_GEN) != gen) return atomic.load<i32>(ctl + C_ABORT) == 0;
    if (pfCur < pfEnd) prefetchStep();
  }
  atomic.add<i32>(ctl + C_WAITERS, 1);
  while (atomic.load<i32>(ctl + C_GEN) == gen) {
    if (atomic.load<i32>(ctl + C_ABORT) != 0) break;
    atomic.wait<i32>(ctl + C_GEN, gen, 100_000_000); // 100 ms, then re-check the abort flag
  }
  atomic.sub<i32>(ctl + C_WAITERS, 1);
  return atomic.load<i32>(ctl + C_ABORT) == 0;
}

// @ts-ignore: decorator
@inline function w(op: usize, i: i32): i32 {
  return load<i32>(op + (<usize>i << 2));
}
// @ts-ignore: decorator
@inline function p(op: usize, i: i32): usize {
  return <usize>load<u32>(op + (<usize>i << 2));
}

/** Bytes per work counter: one cache line each (see ../backend.ts). */
const COUNTER_SHIFT = 6;

/**
 * Runs the whole op list as thread `tid` of `nth`. The chunks of each op are
 * split into nth contiguous regions, one per thread, each with its own atomic
 * counter (the host zeroes the counters before each step). A thread works
 * through its own region front to back, so its weight reads stay one
 * sequential stream the hardware prefetcher can follow (chunks dealt out
 * round-robin across threads cost a third of the decode speed at 2 threads),
 * then takes the chunks still left in the other regions, so a thread slowed
 * by another process does less of the work.
 * Returns 0, or 1 when another thread aborted.
 */
export function run(ctl: usize, tid: i32, nth: i32): i32 {
  const T = atomic.load<i32>(ctl + C_TOKENS);
  const nOut = atomic.load<i32>(ctl + C_OUTPUTS);
  const pos0 = atomic.load<i32>(ctl + C_POS);
  const nOps = atomic.load<i32>(ctl + C_NOPS);
  const ops = <usize>atomic.load<u32>(ctl + C_OPS);
  const counters = <usize>atomic.load<u32>(ctl + C_COUNTERS);
  const scratch = <usize>atomic.load<u32>(ctl + C_SCRATCH) + <usize>tid * <usize>atomic.load<u32>(ctl + C_SCRATCH_STRIDE);
  const prof = <usize>atomic.load<u32>(ctl + C_PROF);
  const profRow = prof + <usize>tid * <usize>nOps * 16;
  let t0: f64 = prof != 0 ? now() : 0;
  for (let i = 0; i < nOps; i++) {
    const op = ops + <usize>i * (OP_WORDS << 2);
    const code = w(op, 0);
    const flags = w(op, 1);
    const rows = (flags & 1) != 0 ? nOut : T;
    let total = 0;
    let chunk = w(op, 2);
    switch (code) {
      case OP_RMSNORM: case OP_QUANT: case OP_ADD_NORM: total = rows; break;
      case OP_ROPE_STORE: total = T; break;
      case OP_MATMUL:
        total = w(op, 9);
        // prompt steps are compute-bound: rows of the chunk times up to 16 tokens of work, so
        // smaller chunks keep the threads' shares even (one 64 KiB chunk of a pp512 step is ~3 ms)
        if (T > 1) chunk = max(4, chunk / min(T, 16));
        break;
      case OP_ROPE: total = rows * w(op, 4); break;
      case OP_KVSTORE: total = T; break;
      case OP_ATTN: total = (T + w(op, 13) - 1) / w(op, 13) * w(op, 8); break; // row tiles x KV heads
      case OP_ADD: total = rows * w(op, 6); break;
      case OP_SILUMUL: total = w(op, 13) != 0 ? rows : rows * w(op, 6); break;
      case OP_GATHER: total = 1; break;
      case OP_EMBED: total = T; break;
      default: unreachable();
    }
    if (code == OP_QUANT && (flags & F_REPLICATE) != 0 && rows * w(op, 5) <= REPLICATE_MAX) {
      quantRows(p(op, 3), w(op, 5), p(op, 4), w(op, 6), p(op, 7), 0, rows);
      if (prof != 0) {
        const t1 = now();
        store<f64>(profRow + (<usize>i << 4), load<f64>(profRow + (<usize>i << 4)) + (t1 - t0));
        t0 = t1;
      }
      continue; // every thread has the whole quantized input: the matmul may start without a barrier
    }
    if (chunk <= 0) {
      chunk = total / (nth * 4);
      if (code == OP_ADD || (code == OP_SILUMUL && w(op, 13) == 0)) chunk = max(1024, (chunk + 3) & ~3);
      if (chunk < 1) chunk = 1;
    }
    const nChunks = (total + chunk - 1) / chunk;
    for (let k = 0; k < nth; k++) {
    const owner = (tid + k) % nth;
    const c0 = <i32>(<i64>nChunks * owner / nth);
    const c1 = <i32>(<i64>nChunks * (owner + 1) / nth);
    const ctr = counters + ((<usize>i * <usize>nth + <usize>owner) << COUNTER_SHIFT);
    for (;;) {
      const c = c0 + atomic.add<i32>(ctr, 1);
      if (c >= c1) break;
      const s = c * chunk;
      const e = min(total, s + chunk);
      switch (code) {
        case OP_RMSNORM:
          rmsnorm(p(op, 3), p(op, 4), p(op, 5), w(op, 6), load<f64>(op, 32), s, e);
          if (w(op, 13) != 0) quantRows(p(op, 5), w(op, 6), p(op, 12), w(op, 13), p(op, 14), s, e);
          break;
        case OP_ADD_NORM: {
          const width = w(op, 6);
          add(p(op, 3), p(op, 4), p(op, 3), s * width, e * width);
          rmsnorm(p(op, 3), p(op, 5), p(op, 7), width, load<f64>(op, 32), s, e);
          if (w(op, 13) != 0) quantRows(p(op, 7), width, p(op, 12), w(op, 13), p(op, 14), s, e);
          break;
        }
        case OP_QUANT: quantRows(p(op, 3), w(op, 5), p(op, 4), w(op, 6), p(op, 7), s, e); break;
        case OP_ROPE_STORE: {
          const nKv = w(op, 9);
          rope(p(op, 3), nKv, w(op, 10), w(op, 11), p(op, 12), pos0, s * nKv, e * nKv);
          kvStore(p(op, 3), p(op, 4), p(op, 5), p(op, 6), w(op, 7), w(op, 8) != 0, pos0, s, e);
          break;
        }
        case OP_MATMUL: matmul(w(op, 3), p(op, 4), p(op, 5), p(op, 6), p(op, 7), p(op, 8), w(op, 9), w(op, 10), rows, s, e); break;
        case OP_ROPE: rope(p(op, 3), w(op, 4), w(op, 5), w(op, 6), p(op, 7), pos0, s, e); break;
        case OP_KVSTORE: kvStore(p(op, 3), p(op, 4), p(op, 5), p(op, 6), w(op, 7), w(op, 8) != 0, pos0, s, e); break;
        case OP_ATTN: attention(p(op, 3), p(op, 4), p(op, 5), p(op, 6), w(op, 7), w(op, 8), w(op, 9), load<f32>(op, 40), w(op, 11) != 0, w(op, 12) != 0, pos0, T, w(op, 13), scratch, s, e); break;
        case OP_ADD: add(p(op, 3), p(op, 4), p(op, 5), s, e); break;
        case OP_SILUMUL:
          if (w(op, 13) != 0) {
            const width = w(op, 6);
            siluMul(p(op, 3), p(op, 4), p(op, 5), s * width, e * width);
            quantRows(p(op, 5), width, p(op, 12), w(op, 13), p(op, 14), s, e);
          } else {
            siluMul(p(op, 3), p(op, 4), p(op, 5), s, e);
          }
          break;
        case OP_EMBED: {
          const width = w(op, 8);
          for (let t = s; t < e; t++) {
            const id = <usize>load<i32>(p(op, 6) + (<usize>t << 2));
            dequantRow(w(op, 5), p(op, 3) + id * p(op, 4), p(op, 7) + ((<usize>t * <usize>width) << 2), width);
          }
          break;
        }
        case OP_GATHER: {
          const width = <usize>w(op, 5);
          memory.copy(p(op, 4), p(op, 3) + <usize>(T - nOut) * width * 4, <usize>nOut * width * 4);
          break;
        }
      }
    }
    }
    if (prof != 0) {
      const t1 = now();
      store<f64>(profRow + (<usize>i << 4), load<f64>(profRow + (<usize>i << 4)) + (t1 - t0));
      t0 = t1;
    }
    if ((flags & F_NOBARRIER) == 0) {
      if (T == 1) aimPrefetch(ops, i, nOps, tid, nth); // decode: weight streaming is the limit
      if (!barrier(ctl, nth)) return 1;
    }
    if (prof != 0) {
      const t1 = now();
      store<f64>(profRow + (<usize>i << 4) + 8, load<f64>(profRow + (<usize>i << 4) + 8) + (t1 - t0));
      t0 = t1;
    }
  }
  return 0;
}

/** Marks the step as failed so threads waiting in the barrier leave. */
export function abort(ctl: usize): void {
  atomic.store<i32>(ctl + C_ABORT, 1);
  atomic.add<i32>(ctl + C_GEN, 1);
  atomic.notify(ctl + C_GEN, 64);
}
