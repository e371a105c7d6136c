// The WASM backend's module: kernels plus the op-list interpreter that every
// thread runs in lockstep over one shared memory. The host (../backend.ts)
// plans all memory, encodes the op list and writes the step parameters; this
// module allocates nothing.
import { activationFormat as fmt, dequantRow, expandQ5, FMT_Q8A, matmul } from './matmul';
export { getRelaxedTypes, setRelaxedTypes } from './matmul';
import {
  Add, AddNorm, Attention, C_ABORT, C_ATTN_SCORES, C_ATTN_SPLIT, C_ATTN_STRIDE, C_BAD_OP, C_COUNT, C_COUNTERS, C_GEN, C_KV_OFF, C_N_OPS, C_OPS, C_OUT_ROWS, C_OUTPUTS, C_POS, C_ROWS, C_PROF, C_SCRATCH,
  C_SCRATCH_STRIDE, C_SPIN_US, C_TOKENS, C_WAITERS, Embed, F_NOBARRIER, F_OUTPUTS, F_REPLICATE, GatherOutputs, KvStore, Matmul,
  OP_ADD, OP_ADD_NORM, OP_ATTENTION, OP_BYTES, OP_EMBED, OP_GATHER_OUTPUTS, OP_KV_STORE, OP_MATMUL, OP_QUANT, OP_RMSNORM, OP_ROPE,
  OP_ROPE_STORE, OP_SILU_MUL, opChunk, opCode, opFlags, Quant, Rmsnorm, Rope, RopeStore, SiluMul,
  GeluMul, OP_GELU_MUL, OP_SCALE, OP_SLICE, OP_SOFTCAP, Scale, Slice, Softcap,
} from './generated/schema';
import {
  add, addBias, argmax, attention, attentionScratch, attnScores, attnSoftmax, attnSplitTasks, attnValues, geluMul, kvStore, quantizeQ8A, quantizeQ8ABlocks, quantizeQ8K, quantizeQ8KBlocks, rmsnorm, rope, scaleF32, siluMul, softcap,
} from './ops';
import { f16, F16_TABLE_AT, F16_TABLE_BYTES, f16x4hi, f16x4lo, roundF16, toF16, trap } from './util';

export { roundHalves, attnScores, attnSoftmax, attnValues, attnSplitTasks } from './ops';
export { quantizeQ8A, quantizeQ8K, rmsnorm, rope, kvStore, attention, attentionScratch, add, siluMul, geluMul, scaleF32, softcap, matmul, argmax, dequantRow, expandQ5 };

/** Where the host writes the binary16 -> f32 table (65536 floats, loader.ts writeF16Table) before the kernels run. */
export function f16Table(): usize {
  if (__heap_base > F16_TABLE_AT) trap('the static data reaches the f16 table (util.ts F16_TABLE_AT)');
  return F16_TABLE_AT;
}
/** First byte the host may use: after the static data and the f16 table. */
export function heapBase(): usize {
  return f16Table() + F16_TABLE_BYTES;
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

// The control block's words (C_*), the op codes (OP_*), flags (F_*) and every
// op field's accessor (Matmul.rows(op), ...) come from ../schema.ts through
// ./generated/schema.ts.

// @ts-ignore: decorator
@external("env", "now") declare function now(): f64;

const REPLICATE_MAX = 16384;

/** Quantizes rows [r0, r1) of x (width floats each) into dst (rb bytes per row) in format fmt (1 Q8A, 2 Q8_K). */
function quantRows(x: usize, width: i32, dst: usize, fmt: i32, rb: usize, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    if (fmt == FMT_Q8A) quantizeQ8A(x + <usize>r * <usize>width * 4, dst + <usize>r * rb, width);
    else quantizeQ8K(x + <usize>r * <usize>width * 4, dst + <usize>r * rb, width);
  }
}

/** Elements per quantization block of an activation format (Q8A 32, Q8_K 256). */
// @ts-ignore: decorator
@inline function quantBlock(fmt: i32): i32 {
  return fmt == FMT_Q8A ? 32 : 256;
}

/**
 * Tasks [t0, t1) of a gated activation (SiLU, or GELU with its table) that quantizes its output: task t is
 * block t % nbr of row t / nbr (nbr = width / quantBlock(fmt) blocks a row), so a one-row step spreads over
 * the threads too. For each run of blocks within a row: the activation of the run's elements, then its
 * blocks quantized.
 */
// @ts-ignore: decorator
@inline function gatedQuantTasks(gelu: bool, gate: usize, up: usize, tab: usize, out: usize, width: i32, qOut: usize, qFmt: i32, qRowBytes: usize, t0: i32, t1: i32): void {
  const qb = quantBlock(qFmt);
  const nbr = width / qb;
  let t = t0;
  while (t < t1) {
    const r = t / nbr;
    const b0 = t - r * nbr;
    const b1 = min(nbr, b0 + (t1 - t));
    if (gelu) geluMul(gate, up, out, tab, r * width + b0 * qb, r * width + b1 * qb);
    else siluMul(gate, up, out, r * width + b0 * qb, r * width + b1 * qb);
    const x = out + <usize>r * <usize>width * 4, dst = qOut + <usize>r * qRowBytes;
    if (qFmt == FMT_Q8A) quantizeQ8ABlocks(x, dst, nbr, b0, b1);
    else quantizeQ8KBlocks(x, dst, b0, b1);
    t += b1 - b0;
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
    const op = ops + <usize>j * OP_BYTES;
    if (opCode(op) != OP_MATMUL) continue;
    if (op == pfOp) return;
    const chunk = opChunk(op);
    const rows = Matmul.rows(op);
    const nChunks = (rows + chunk - 1) / chunk;
    const r0 = <i32>(<i64>nChunks * tid / nth) * chunk;
    const r1 = min(rows, <i32>(<i64>nChunks * (tid + 1) / nth) * chunk);
    const rb = Matmul.rowBytes(op);
    pfOp = op;
    pfCur = Matmul.w(op) + <usize>r0 * rb;
    pfEnd = min(Matmul.w(op) + <usize>r1 * rb, pfCur + PF_MAX);
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

/**
 * A pause for the spin loop (WebAssembly has no pause instruction): a short dependent chain of integer
 * multiplies, so a waiting thread issues few instructions and no SIMD work, leaving the core's shared
 * units to the thread it waits for (on SMT siblings) without giving up its time slice.
 */
let pauseState: u32 = 1;
// @ts-ignore: decorator
@inline function spinPause(): void {
  let x = pauseState;
  x = x * 0x9e3779b1 + 1; x = x * 0x9e3779b1 + 1; x = x * 0x9e3779b1 + 1; x = x * 0x9e3779b1 + 1;
  pauseState = x;
}

/** Spin iterations between clock reads in a barrier. */
const SPIN_CHECK = 256;

/**
 * Sense-counting barrier: spin on the generation word (reading ahead, else pausing) for up to the
 * control block's spinUs microseconds, measured with the clock, then block in atomic.wait.
 * Returns false when aborted.
 */
function barrier(ctl: usize, nth: i32): bool {
  if (nth == 1) return true;
  const gen = atomic.load<i32>(ctl + C_GEN);
  if (atomic.add<i32>(ctl + C_COUNT, 1) == nth - 1) {
    atomic.store<i32>(ctl + C_COUNT, 0);
    atomic.add<i32>(ctl + C_GEN, 1);
    if (atomic.load<i32>(ctl + C_WAITERS) > 0) atomic.notify(ctl + C_GEN, nth);
    return atomic.load<i32>(ctl + C_ABORT) == 0;
  }
  const budget = <f64>atomic.load<i32>(ctl + C_SPIN_US) / 1000;
  let start: f64 = -1;
  for (let i = 1; ; i++) {
    if (atomic.load<i32>(ctl + C_GEN) != gen) return atomic.load<i32>(ctl + C_ABORT) == 0;
    if (pfCur < pfEnd) prefetchStep();
    else spinPause();
    if (i % SPIN_CHECK == 0) {
      // the clock is read only in barriers that last (the first read starts the budget)
      const t = now();
      if (start < 0) start = t;
      else if (t - start >= budget) break;
    }
  }
  atomic.add<i32>(ctl + C_WAITERS, 1);
  while (atomic.load<i32>(ctl + C_GEN) == gen) {
    if (atomic.load<i32>(ctl + C_ABORT) != 0) break;
    atomic.wait<i32>(ctl + C_GEN, gen, 100_000_000); // 100 ms, then re-check the abort flag
  }
  atomic.sub<i32>(ctl + C_WAITERS, 1);
  return atomic.load<i32>(ctl + C_ABORT) == 0;
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
  // Multi-sequence step: (position, cache byte offset) per row; single: the sequence's cache offset.
  const rowTab = <usize>atomic.load<u32>(ctl + C_ROWS);
  const kvOff = <usize>atomic.load<u32>(ctl + C_KV_OFF);
  const nOps = atomic.load<i32>(ctl + C_N_OPS);
  const ops = <usize>atomic.load<u32>(ctl + C_OPS);
  const counters = <usize>atomic.load<u32>(ctl + C_COUNTERS);
  const scratch = <usize>atomic.load<u32>(ctl + C_SCRATCH) + <usize>tid * <usize>atomic.load<u32>(ctl + C_SCRATCH_STRIDE);
  const prof = <usize>atomic.load<u32>(ctl + C_PROF);
  const profRow = prof + <usize>tid * <usize>nOps * 16;
  const attnSplit = atomic.load<i32>(ctl + C_ATTN_SPLIT);
  const attnS = <usize>atomic.load<u32>(ctl + C_ATTN_SCORES);
  const attnStride = atomic.load<i32>(ctl + C_ATTN_STRIDE);
  let t0: f64 = prof != 0 ? now() : 0;
  for (let i = 0; i < nOps; i++) {
    const op = ops + <usize>i * OP_BYTES;
    const code = opCode(op);
    const flags = opFlags(op);
    const rows = (flags & F_OUTPUTS) != 0 ? nOut : T;
    let total = 0;
    let chunk = opChunk(op);
    // work items of the op (rows, tasks, elements), split into chunks below
    switch (code) {
      case OP_RMSNORM: total = rows * Rmsnorm.groups(op); break;
      case OP_QUANT: case OP_ADD_NORM: total = rows; break;
      case OP_ROPE_STORE: total = T; break;
      case OP_MATMUL:
        total = Matmul.rows(op);
        // prompt steps are compute-bound: rows of the chunk times up to 16 tokens of work, so
        // smaller chunks keep the threads' shares even (one 64 KiB chunk of a pp512 step is ~3 ms)
        if (T > 1) chunk = max(4, chunk / min(T, 16));
        break;
      case OP_ROPE: total = rows * Rope.nHeads(op); break;
      case OP_KV_STORE: total = T; break;
      case OP_ATTENTION: // row tiles x KV heads (multi-sequence: one row per tile)
        total = rowTab != 0 ? T * Attention.nKvHeads(op) : (T + Attention.rowsPerTask(op) - 1) / Attention.rowsPerTask(op) * Attention.nKvHeads(op);
        break;
      case OP_ADD: total = rows * Add.width(op); break;
      case OP_SILU_MUL: total = SiluMul.qFmt(op) != 0 ? rows * (SiluMul.width(op) / quantBlock(SiluMul.qFmt(op))) : rows * SiluMul.width(op); break;
      case OP_GELU_MUL: total = GeluMul.qFmt(op) != 0 ? rows * (GeluMul.width(op) / quantBlock(GeluMul.qFmt(op))) : rows * GeluMul.width(op); break;
      case OP_SCALE: total = rows * Scale.width(op); break;
      case OP_SOFTCAP: total = rows * Softcap.width(op); break;
      case OP_SLICE: total = rows; break;
      case OP_GATHER_OUTPUTS: total = 1; break;
      case OP_EMBED: total = T; break;
      default:
        atomic.store<i32>(ctl + C_BAD_OP, code);
        trap('unknown op code in the op list (see the control block word badOp)');
    }
    if (code == OP_QUANT && (flags & F_REPLICATE) != 0 && rows * Quant.width(op) <= REPLICATE_MAX) {
      quantRows(Quant.x(op), Quant.width(op), Quant.out(op), Quant.fmt(op), Quant.rowBytes(op), 0, rows);
      if (prof != 0) {
        const t1 = now();
        store<f64>(profRow + (<usize>i << 4), load<f64>(profRow + (<usize>i << 4)) + (t1 - t0));
        t0 = t1;
      }
      continue; // every thread has the whole quantized input: the matmul may start without a barrier
    }
    if (chunk <= 0) {
      chunk = total / (nth * 4);
      if (code == OP_ADD || code == OP_SCALE || code == OP_SOFTCAP || (code == OP_SILU_MUL && SiluMul.qFmt(op) == 0) || (code == OP_GELU_MUL && GeluMul.qFmt(op) == 0)) {
        chunk = max(1024, (chunk + 3) & ~3);
      }
      if (chunk < 1) chunk = 1;
    }
    // decode attention over many positions: three phases (scores, softmax, values) with barriers between
    // them, each split into tasks across the threads (ops.ts attnScores); the phases count work on
    // their own word of the op's counter lines
    let phases = 1;
    let aLo = 0;
    if (code == OP_ATTENTION && T == 1 && rowTab == 0 && attnSplit > 0 && pos0 + 1 >= attnSplit && !Attention.flash(op)) {
      phases = 3;
      const w = Attention.window(op);
      aLo = w > 0 ? max(0, pos0 + 1 - w) : 0;
    }
    for (let ph = 0; ph < phases; ph++) {
    if (phases > 1) {
      if (ph > 0 && !barrier(ctl, nth)) return 1;
      total = attnSplitTasks(ph, Attention.nHeads(op), Attention.nKvHeads(op), Attention.headDim(op), aLo, pos0 + 1);
      chunk = ph == 1 ? 2 : 1; // softmax: two heads per chunk, their sums side by side (attnSoftmax)
    }
    const nChunks = (total + chunk - 1) / chunk;
    for (let k = 0; k < nth; k++) {
    const owner = (tid + k) % nth;
    const c0 = <i32>(<i64>nChunks * owner / nth);
    const c1 = <i32>(<i64>nChunks * (owner + 1) / nth);
    const ctr = counters + ((<usize>i * <usize>nth + <usize>owner) << COUNTER_SHIFT) + (<usize>ph << 2);
    for (;;) {
      const c = c0 + atomic.add<i32>(ctr, 1);
      if (c >= c1) break;
      const s = c * chunk;
      const e = min(total, s + chunk);
      switch (code) {
        case OP_RMSNORM:
          // groups > 1: the work items are the rows' groups, each a row of width/groups values
          rmsnorm(Rmsnorm.x(op), Rmsnorm.weight(op), Rmsnorm.out(op), Rmsnorm.width(op) / Rmsnorm.groups(op), Rmsnorm.eps(op), s, e);
          if (Rmsnorm.qFmt(op) != 0) quantRows(Rmsnorm.out(op), Rmsnorm.width(op), Rmsnorm.qOut(op), Rmsnorm.qFmt(op), Rmsnorm.qRowBytes(op), s, e);
          break;
        case OP_ADD_NORM: {
          const width = AddNorm.width(op);
          add(AddNorm.x(op), AddNorm.b(op), AddNorm.x(op), s * width, e * width);
          rmsnorm(AddNorm.x(op), AddNorm.weight(op), AddNorm.out(op), width, AddNorm.eps(op), s, e);
          if (AddNorm.qFmt(op) != 0) quantRows(AddNorm.out(op), width, AddNorm.qOut(op), AddNorm.qFmt(op), AddNorm.qRowBytes(op), s, e);
          break;
        }
        case OP_QUANT: quantRows(Quant.x(op), Quant.width(op), Quant.out(op), Quant.fmt(op), Quant.rowBytes(op), s, e); break;
        case OP_ROPE_STORE: {
          const nKv = RopeStore.nHeads(op);
          if (rowTab == 0) {
            rope(RopeStore.k(op), nKv, RopeStore.headDim(op), RopeStore.ropeDim(op), RopeStore.tab(op), RopeStore.neox(op), pos0, s * nKv, e * nKv);
            kvStore(RopeStore.k(op), RopeStore.v(op), RopeStore.kCache(op) + kvOff, RopeStore.vCache(op) + kvOff, RopeStore.width(op), RopeStore.f16(op) && !RopeStore.wide(op), RopeStore.f16(op), pos0, s, e);
          } else {
            for (let t = s; t < e; t++) {
              const p = rowPos(rowTab, t) - t; // the kernels add the row index
              const off = rowOff(rowTab, t);
              rope(RopeStore.k(op), nKv, RopeStore.headDim(op), RopeStore.ropeDim(op), RopeStore.tab(op), RopeStore.neox(op), p, t * nKv, (t + 1) * nKv);
              kvStore(RopeStore.k(op), RopeStore.v(op), RopeStore.kCache(op) + off, RopeStore.vCache(op) + off, RopeStore.width(op), RopeStore.f16(op) && !RopeStore.wide(op), RopeStore.f16(op), p, t, t + 1);
            }
          }
          break;
        }
        case OP_MATMUL:
          matmul(Matmul.type(op), Matmul.w(op), Matmul.rowBytes(op), Matmul.x(op), Matmul.xRowBytes(op), Matmul.out(op), Matmul.rows(op), Matmul.cols(op), rows, s, e);
          if (Matmul.bias(op) != 0) addBias(Matmul.out(op), Matmul.bias(op), Matmul.rows(op), rows, s, e);
          break;
        case OP_ROPE:
          if (rowTab == 0) rope(Rope.x(op), Rope.nHeads(op), Rope.headDim(op), Rope.ropeDim(op), Rope.tab(op), Rope.neox(op), pos0, s, e);
          else {
            const nh = Rope.nHeads(op);
            for (let t = s; t < e; ) {
              const r = t / nh;
              const t1 = min(e, (r + 1) * nh);
              rope(Rope.x(op), nh, Rope.headDim(op), Rope.ropeDim(op), Rope.tab(op), Rope.neox(op), rowPos(rowTab, r) - r, t, t1);
              t = t1;
            }
          }
          break;
        case OP_KV_STORE:
          if (rowTab == 0) kvStore(KvStore.k(op), KvStore.v(op), KvStore.kCache(op) + kvOff, KvStore.vCache(op) + kvOff, KvStore.width(op), KvStore.f16(op) && !KvStore.wide(op), KvStore.f16(op), pos0, s, e);
          else {
            for (let t = s; t < e; t++) {
              const off = rowOff(rowTab, t);
              kvStore(KvStore.k(op), KvStore.v(op), KvStore.kCache(op) + off, KvStore.vCache(op) + off, KvStore.width(op), KvStore.f16(op) && !KvStore.wide(op), KvStore.f16(op), rowPos(rowTab, t) - t, t, t + 1);
            }
          }
          break;
        case OP_ATTENTION:
          if (phases > 1) {
            const nh = Attention.nHeads(op), nKv = Attention.nKvHeads(op), hd = Attention.headDim(op), half = Attention.f16(op), f16c = half && !Attention.wide(op);
            if (ph == 0) attnScores(Attention.q(op), Attention.kCache(op) + kvOff, nh, nKv, hd, Attention.scale(op), f16c, half, aLo, pos0 + 1, attnS, attnStride, scratch, s, e);
            else if (ph == 1) attnSoftmax(attnS, attnStride, half, aLo, pos0 + 1, s, e);
            else attnValues(attnS, attnStride, Attention.vCache(op) + kvOff, Attention.out(op), nh, nKv, hd, f16c, aLo, pos0 + 1, s, e);
          } else if (rowTab == 0) {
            attention(
              Attention.q(op), Attention.out(op), Attention.kCache(op) + kvOff, Attention.vCache(op) + kvOff, Attention.nHeads(op), Attention.nKvHeads(op),
              Attention.headDim(op), Attention.scale(op), Attention.f16(op) && !Attention.wide(op), Attention.f16(op), Attention.flash(op), Attention.window(op), pos0, T, Attention.rowsPerTask(op), scratch, s, e,
            );
          } else {
            // task = row x KV head: one query row at its own position over its own sequence's cache
            const nKv = Attention.nKvHeads(op);
            const rowBytes = <usize>(Attention.nHeads(op) * Attention.headDim(op)) << 2;
            for (let t = s; t < e; t++) {
              const r = t / nKv;
              const g = t - r * nKv;
              const off = rowOff(rowTab, r);
              attention(
                Attention.q(op) + <usize>r * rowBytes, Attention.out(op) + <usize>r * rowBytes, Attention.kCache(op) + off, Attention.vCache(op) + off,
                Attention.nHeads(op), nKv, Attention.headDim(op), Attention.scale(op), Attention.f16(op) && !Attention.wide(op), Attention.f16(op), Attention.flash(op), Attention.window(op), rowPos(rowTab, r), 1, 1, scratch, g, g + 1,
              );
            }
          }
          break;
        case OP_ADD: add(Add.a(op), Add.b(op), Add.out(op), s, e); break;
        case OP_SILU_MUL:
          if (SiluMul.qFmt(op) != 0) {
            gatedQuantTasks(false, SiluMul.gate(op), SiluMul.up(op), 0, SiluMul.out(op), SiluMul.width(op), SiluMul.qOut(op), SiluMul.qFmt(op), SiluMul.qRowBytes(op), s, e);
          } else {
            siluMul(SiluMul.gate(op), SiluMul.up(op), SiluMul.out(op), s, e);
          }
          break;
        case OP_GELU_MUL:
          if (GeluMul.qFmt(op) != 0) {
            gatedQuantTasks(true, GeluMul.gate(op), GeluMul.up(op), GeluMul.tab(op), GeluMul.out(op), GeluMul.width(op), GeluMul.qOut(op), GeluMul.qFmt(op), GeluMul.qRowBytes(op), s, e);
          } else {
            geluMul(GeluMul.gate(op), GeluMul.up(op), GeluMul.out(op), GeluMul.tab(op), s, e);
          }
          break;
        case OP_SCALE: scaleF32(Scale.x(op), Scale.out(op), Scale.scale(op), s, e); break;
        case OP_SOFTCAP: softcap(Softcap.x(op), Softcap.cap(op), s, e); break;
        case OP_SLICE: {
          const width = <usize>Slice.width(op);
          const ow = <usize>Slice.outWidth(op);
          for (let r = s; r < e; r++) memory.copy(Slice.out(op) + <usize>r * ow * 4, Slice.x(op) + (<usize>r * width + <usize>Slice.offset(op)) * 4, ow * 4);
          break;
        }
        case OP_EMBED: {
          const width = Embed.width(op);
          for (let t = s; t < e; t++) {
            const id = <usize>load<i32>(Embed.ids(op) + (<usize>t << 2));
            dequantRow(Embed.type(op), Embed.table(op) + id * Embed.rowBytes(op), Embed.out(op) + ((<usize>t * <usize>width) << 2), width);
          }
          break;
        }
        case OP_GATHER_OUTPUTS: {
          const width = <usize>GatherOutputs.width(op);
          const outRows = <usize>atomic.load<u32>(ctl + C_OUT_ROWS);
          if (rowTab != 0) {
            for (let o = 0; o < nOut; o++) {
              const r = <usize>load<i32>(outRows + (<usize>o << 2));
              memory.copy(GatherOutputs.out(op) + <usize>o * width * 4, GatherOutputs.x(op) + r * width * 4, width * 4);
            }
            break;
          }
          memory.copy(GatherOutputs.out(op), GatherOutputs.x(op) + <usize>(T - nOut) * width * 4, <usize>nOut * width * 4);
          break;
        }
        default: trap('unknown op code in the op list');
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

/** Position of row t of a multi-sequence step's row table. */
@inline function rowPos(tab: usize, t: i32): i32 {
  return load<i32>(tab + (<usize>t << 3));
}
/** Byte offset of row t's sequence in every layer's K and V cache. */
@inline function rowOff(tab: usize, t: i32): usize {
  return <usize>load<u32>(tab + (<usize>t << 3), 4);
}

/** Marks the step as failed so threads waiting in the barrier leave. */
export function abort(ctl: usize): void {
  atomic.store<i32>(ctl + C_ABORT, 1);
  atomic.add<i32>(ctl + C_GEN, 1);
  atomic.notify(ctl + C_GEN, 64);
}
