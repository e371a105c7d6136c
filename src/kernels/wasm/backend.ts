/**
 * The WASM backend: AssemblyScript SIMD128 kernels (./assembly) running the
 * model's op list inside WebAssembly, on every compute thread in lockstep over
 * one shared WebAssembly.Memory.
 *
 * At init the host plans the whole memory (control block, op list, rope table,
 * activations, quantized activations, KV cache, norm vectors, weights), reads
 * every weight from the file straight into its place in the memory with
 * positioned reads, and compiles the op list into fixed 16-word records. Per
 * step JavaScript writes the embedding rows (dequantized with the reference
 * dequantizer) and the step parameters, wakes the workers and runs thread 0's
 * share; it copies the logits out at the end.
 *
 * Matmuls quantize their activations as llama.cpp's CPU backend does: to
 * 32-element 8-bit blocks (Q8A, see assembly/ops.ts) for Q4_0/Q4_1/Q5_0/Q5_1/
 * Q8_0 weights and to Q8_K for the K-quants; F32 and F16 weights take the f32
 * activations. A quantized copy is made once per buffer version and shared by
 * every matmul that reads it (q, k and v read one copy of h).
 */
import { GGMLType, ggmlType, ggmlTypeName, rowBytes } from '../../gguf/types.js';
import type { GGUFTensorInfo } from '../../gguf/reader.js';
import { dequantize, dequantizeRow } from '../../quant/index.js';
import { ModelError } from '../../model/errors.js';
import { opBuffers, type Op, type Program, type Step } from '../../model/program.js';
import { ropeKey, ropeTable } from '../../model/rope.js';
import { geluTableF16 } from '../reference/ops.js';
import { checkStep, type Backend, type BackendInit, type OpProfile } from '../backend.js';
import { instantiate, loadWasmBuild, WA, writeF16Table, type WasmBuild, type WasmExports, type WasmMemory } from './loader.js';
import { ThreadPool } from './pool.js';
import { BLOCK_LAYOUTS, blockOffsets, INTERNAL_TYPE_IDS, Q8A_EXTRA_BYTES } from './layout.js';
import { CONTROL_BYTES, CONTROL_POOL, controlLayout, encodeOp, OP_FLAGS, OP_WORDS, type OpName, type OpRecord } from './schema.js';
import { platform } from '../../platform/index.js';

export interface WasmBackendOptions {
  /** Compute threads including the main thread; default the core count. */
  threads?: number;
  /** Time every op on every thread (`tsinfer bench --profile`); costs two clock reads per op. */
  profile?: boolean;
  /**
   * One-pass flash attention (online softmax, f32 weights). Default false:
   * llama.cpp's non-flash numerics (softmax weights rounded to half precision
   * with an f16 cache), which the shared llama.cpp reference logits were made with.
   */
  flashAttention?: boolean;
  /**
   * Decode attention split across threads from this many positions on (scores, softmax and Σ w·V as
   * three phases of many tasks each, bit-identical to the one-task-per-KV-head kernel); 0 never.
   * Default ATTN_SPLIT_FROM (TSINFER_ATTN_SPLIT overrides).
   */
  attentionSplit?: number;
  /**
   * Storage of an f16 KV cache: 'f16' as binary16 (llama.cpp's layout), 'f32' as f32 slots holding the
   * same binary16 values (twice the memory; attention reads them without converting, same results),
   * 'auto' (default) f32 while the whole cache stored so stays within KV_WIDE_MAX_BYTES.
   * TSINFER_KV_STORAGE overrides the default.
   */
  kvStorage?: 'f16' | 'f32' | 'auto';
  /**
   * Expand Q5_0 and Q5_1 matrices at load (default true; TSINFER_EXPAND_Q5=0 turns it off): one byte per
   * weight instead of five bits, the same results bit for bit, at 34 (Q5_1: 36) instead of 22 (24) bytes
   * per 32 weights. They are what llama.cpp's Q4_K_M (Q5_K_M) files hold for matrices whose width is not a
   * multiple of 256 (SmolLM2's 576 and 960, Qwen2.5-0.5B's 896, Gemma-3-270M's 640), and their kernels
   * unpack the fifth bits at about 1.5x Q8_0's cost per weight (BENCHMARKS.md). true picks the form per
   * type: 'bytes' (the backend's Q5_0U / Q5_1U: q as an unsigned byte, for the relaxed int8 dot) where the
   * relaxed kernels run the type, else Q8_0 blocks holding q - 16 for Q5_0 and the file's blocks for Q5_1;
   * 'bytes' or 'q8_0' (Q5_0 only) asks for one (TSINFER_EXPAND_Q5=bytes|q8_0).
   */
  expandQ5?: boolean | 'bytes' | 'q8_0';
}

const PAGE = 65536;
const MAX_PAGES = 65536;
const ALIGN = 64;
/** Byte offsets of the control block's words (schema.ts). */
const C = controlLayout();
/** Bytes per work counter (one cache line, so a thread's own counter is not shared). */
export const COUNTER_BYTES = 64;
/**
 * Weight bytes per matmul work chunk. Each thread streams through its own
 * contiguous region chunk by chunk; 64 KiB decoded 135M Q8_0 faster at 2
 * threads than 16 KiB or 128 KiB (BENCHMARKS.md).
 */
const MATMUL_CHUNK_BYTES = 65536;

/** Query rows per attention task in prompt steps (each K/V row converted once for the tile's rows x group heads). */
const ATTN_ROWS = 4;
/**
 * Positions from which a decode step's attention runs split across threads. Below it the three
 * phases' two extra barriers cost more than the one-task-per-KV-head kernel loses.
 */
export const ATTN_SPLIT_FROM = 128;
function attentionSplitFrom(opt: number | undefined): number {
  const v = platform.env('TSINFER_ATTN_SPLIT');
  const n = opt ?? (v === undefined || v === '' ? ATTN_SPLIT_FROM : Number(v));
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`the attention split threshold (attentionSplit, TSINFER_ATTN_SPLIT) must be a non-negative integer, got ${opt ?? v}`);
  return n;
}
/**
 * Largest KV cache (all layers, sequences and positions) stored with f32 slots for an f16 cache under
 * kvStorage 'auto'. At 1500 positions (AMD EPYC Zen 5) decode ran faster with them: SmolLM2-135M Q8_0 1.09x
 * at 2 threads and 1.02-1.10x at 1, 360M Q8_0 1.06-1.10x at both (attention no longer converts binary16;
 * BENCHMARKS.md). The cost is twice the cache's memory, so only caches up to 512 MiB take it (135M up to
 * 11.6k positions, 360M up to 3.2k; was 256 MiB, which left 360M at 1644 positions, 269 MB, on binary16).
 */
export const KV_WIDE_MAX_BYTES = 512 * 2 ** 20;
function kvStorageOption(opt: 'f16' | 'f32' | 'auto' | undefined): 'f16' | 'f32' | 'auto' {
  const v = opt ?? (platform.env('TSINFER_KV_STORAGE') || 'auto');
  if (v !== 'f16' && v !== 'f32' && v !== 'auto') throw new RangeError(`the KV cache storage (kvStorage, TSINFER_KV_STORAGE) must be f16, f32 or auto, got ${v}`);
  return v;
}
function expandQ5Option(opt: boolean | 'bytes' | 'q8_0' | undefined): boolean | 'bytes' | 'q8_0' {
  if (opt !== undefined) return opt;
  const v = platform.env('TSINFER_EXPAND_Q5');
  if (v === undefined || v === '' || v === '1') return true;
  if (v === '0') return false;
  if (v === 'bytes' || v === 'q8_0') return v;
  throw new RangeError(`TSINFER_EXPAND_Q5 must be 0, 1, bytes or q8_0, got "${v}"`);
}
/**
 * Blocks per call of the module's expandQ5 at load: a call runs to its end in the code it started with, and
 * the first calls run in V8's baseline tier (about 18x slower than its optimized code on 1M blocks, Zen 5).
 */
const EXPAND_BLOCKS = 4096;
/** Largest per-thread attention scratch (the tile's scores over the whole context) before falling back to one row per task. */
const ATTN_SCRATCH_MAX = 16 << 20;

/**
 * Microseconds a thread spins in a barrier before blocking (TSINFER_SPIN_US overrides), measured with
 * the clock rather than counted in iterations, so it means the same on every CPU. About what the
 * former 20 000-iteration spin lasted; long spins cost a loaded machine dearly (BENCHMARKS.md).
 */
export const BARRIER_SPIN_US = 20;
export function barrierSpinUs(): number {
  const v = platform.env('TSINFER_SPIN_US');
  if (v === undefined || v === '') return BARRIER_SPIN_US;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 1e6) throw new RangeError(`TSINFER_SPIN_US must be an integer number of microseconds in [0, 1e6], got "${v}"`);
  return n;
}

/** Rows per matmul work chunk for rows of `rowBytes` bytes. */
export function matmulChunkRows(rowBytes: number): number {
  return Math.max(4, Math.min(4096, Math.floor(MATMUL_CHUNK_BYTES / rowBytes)));
}
const { OUTPUTS: F_OUTPUTS, NOBARRIER: F_NOBARRIER, REPLICATE: F_REPLICATE } = OP_FLAGS;

/** One compiled op record: the op's schema name and its fields. */
type OpRec = { [K in OpName]: { op: K; f: OpRecord<K> } }[OpName];
const rec = <K extends OpName>(op: K, f: OpRecord<K>) => ({ op, f }) as OpRec;

/** Ops of the program list the wasm backend runs. */
const WASM_OPS: readonly string[] = [
  'embed',
  'rmsnorm',
  'matmul',
  'rope',
  'kv_store',
  'attention',
  'add',
  'silu_mul',
  'gelu_mul',
  'scale',
  'softcap',
  'slice',
  'gather_outputs',
] satisfies readonly Op['op'][];

/**
 * Ops and op features of the program the wasm backend does not implement: every op of every
 * architecture in model/arch/ runs; what is left is an op it does not know and attention
 * heads whose size is not a multiple of 8 (its attention kernel works eight values at a time).
 */
export function wasmUnsupported(program: Program): string[] {
  const missing = new Set<string>();
  for (const o of program.ops) {
    if (!WASM_OPS.includes(o.op)) missing.add(`op ${o.op}`);
    else if (o.op === 'attention' && o.headDim % 8 !== 0) missing.add(`attention with a head size of ${o.headDim} (not a multiple of 8)`);
  }
  return [...missing];
}

type OpOf<K extends Op['op']> = Extract<Op, { op: K }>;
/** Quantize a buffer's rows into an activation format for the matmuls that read it. */
interface QuantOp {
  op: 'quant';
  x: string;
  fmt: number;
}
/** Fused ops: x += b then x's RMSNorm; RoPE of k then the KV store. */
interface AddNormOp {
  op: 'add_norm';
  add: OpOf<'add'>;
  norm: OpOf<'rmsnorm'>;
}
interface RopeStoreOp {
  op: 'rope_store';
  rope: OpOf<'rope'>;
  store: OpOf<'kv_store'>;
}
interface Entry {
  op: Op | QuantOp | AddNormOp | RopeStoreOp;
  reads: string[];
  writes: string[];
  /** A quantization of this (row-wise) op's output, done row by row in the same op. */
  quantAfter?: QuantOp;
  /** Quantize op a matmul reads next: replicated on every thread when small. */
  replicate?: boolean;
}
/** Activation formats (assembly: activationFormat). */
const FMT_F32 = 0,
  FMT_Q8A = 1,
  FMT_Q8K = 2;
/** Q8A block (layout.ts): f32 d, f32 s, 32 int8; a row's blocks are followed by their q again as i16. */
const Q8A_BYTES = blockOffsets('Q8A').bytes;

const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;

export function defaultThreads(): number {
  return platform.cores();
}

/** Bytes of one row of `width` activations in format fmt. */
export function activationRowBytes(fmt: number, width: number): number {
  if (fmt === FMT_Q8A) return (width / BLOCK_LAYOUTS.Q8A.elements) * (Q8A_BYTES + Q8A_EXTRA_BYTES);
  if (fmt === FMT_Q8K) return rowBytes(ggmlType(GGMLType.Q8_K)!, width);
  return width * 4;
}

interface Matrix {
  info: GGUFTensorInfo;
  /** The type id its blocks are stored as: the file's, or an expanded Q5_0 / Q5_1 matrix's form (Q8_0, or layout.ts's Q5_0U / Q5_1U). */
  type: number;
  ptr: number;
  cols: number;
  rows: number;
  rowBytes: number;
}

/** Simple bump planner over the linear memory. */
class Planner {
  top: number;
  readonly parts: Record<string, number> = {};
  constructor(base: number) {
    this.top = align(base);
  }
  take(bytes: number, part: string): number {
    const p = this.top;
    this.top = align(this.top + bytes);
    this.parts[part] = (this.parts[part] ?? 0) + bytes;
    return p;
  }
}

export class WasmBackend implements Backend {
  readonly name = 'wasm' as const;
  readonly maxSequences = 64;
  private readonly threads: number;
  private readonly flash: boolean;
  private readonly attnSplit: number;
  private readonly kvStorage: 'f16' | 'f32' | 'auto';
  private readonly expandQ5: boolean | 'bytes' | 'q8_0';
  /** Q5_0 / Q5_1 matrices stored expanded, in which forms, and the bytes that added. */
  private expanded = { tensors: 0, extraBytes: 0, forms: new Set<string>() };
  /** An f16 cache stored as f32 slots (kvStorage). */
  private kvWide = false;
  private build!: WasmBuild;
  private memory!: WasmMemory;
  private exp!: WasmExports;
  private pool: ThreadPool | undefined;
  private program!: Program;
  private contextLength = 0;
  private maxBatch = 0;
  private sequences = 1;
  /** Bytes of one sequence's region in a layer's K (or V) cache. */
  private seqBytes = 0;
  /** Multi-sequence steps: per-token (position, cache offset) and the output rows. */
  private rowTab = 0;
  private outRows = 0;
  private ctl = 0;
  private counters = 0;
  private nOps = 0;
  private bufPtr = new Map<string, number>();
  private bufWidth = new Map<string, number>();
  private perToken = new Set<string>();
  private matrices = new Map<string, Matrix>();
  private vectors = new Map<string, number>();
  /** The embedding lookup, when the host does it (a table type the WASM dequantizers lack). */
  private embedOp: { table: string; out: string } | undefined;
  private embedTableName = '';
  /** The step's token ids, read by the WASM embedding op. */
  private ids = 0;
  private logitsOut = new Float32Array(0);
  private plan: Record<string, number> = {};
  private totalBytes = 0;
  private weightBytes = 0;
  private barriers = 0;
  private attnRows = 1;
  /** ggml's GELU table in the memory (0: no gelu_mul). */
  private geluTab = 0;
  private prof = 0;
  private readonly profiling: boolean;
  private opLabels: string[] = [];

  constructor(opts: WasmBackendOptions = {}) {
    const t = opts.threads ?? defaultThreads();
    if (!Number.isInteger(t) || t < 1) throw new RangeError(`threads must be a positive integer, got ${opts.threads}`);
    this.threads = t;
    this.profiling = opts.profile ?? false;
    this.flash = opts.flashAttention ?? false;
    this.attnSplit = attentionSplitFrom(opts.attentionSplit);
    this.kvStorage = kvStorageOption(opts.kvStorage);
    this.expandQ5 = expandQ5Option(opts.expandQ5);
  }

  async init({ file, program, contextLength, maxBatch, sequences = 1, onProgress }: BackendInit): Promise<void> {
    if (!Number.isInteger(sequences) || sequences < 1 || sequences > this.maxSequences) throw new RangeError(`sequences must be 1 to ${this.maxSequences}, got ${sequences}`);
    this.sequences = sequences;
    const missing = wasmUnsupported(program);
    if (missing.length) throw new ModelError(`the wasm backend does not implement ${missing.join(', ')} yet (the reference backend does)`);
    this.program = program;
    this.contextLength = contextLength;
    this.maxBatch = maxBatch;
    this.build = loadWasmBuild();
    // A throwaway instance over a small memory tells us where the module's static data ends and which types have kernels.
    const probe = instantiate(this.build, new WA.Memory({ initial: 1, maximum: MAX_PAGES, shared: true }));
    const plan = new Planner(probe.heapBase());

    // -- weights: matrices stay in their file encoding, vectors (norms) become f32
    const tensors = program.weights.map((name) => {
      const t = file.tensor(name);
      if (!t) throw new Error(`program reads tensor ${name}, which the file does not have`);
      return t;
    });
    const isVector = (t: GGUFTensorInfo) => t.shape.length === 1 || t.nElements / t.shape[0]! === 1;
    const matmulWeights = new Set(program.ops.flatMap((o) => (o.op === 'matmul' ? [o.weight] : [])));
    for (const t of tensors) {
      if (isVector(t) || !matmulWeights.has(t.name)) continue;
      if (probe.activationFormat(t.typeId) < 0) throw new ModelError(`tensor ${t.name} has type ${ggmlTypeName(t.typeId)}, which the wasm backend has no matmul kernel for`);
    }

    this.ctl = plan.take(CONTROL_BYTES, 'control');
    // -- op list (compiled below; its size is known from the program)
    const compiled = this.compileOps(program, (w) => probe.activationFormat(file.tensor(w)!.typeId)).length;
    const opsPtr = plan.take(compiled * OP_WORDS * 4, 'ops');
    // work counters: one per op and thread, each on its own cache line
    this.counters = plan.take(compiled * this.threads * COUNTER_BYTES, 'ops');
    this.ids = plan.take(maxBatch * 4, 'ops');
    this.rowTab = plan.take(maxBatch * 8, 'ops');
    this.outRows = plan.take(maxBatch * 4, 'ops');
    if (this.profiling) this.prof = plan.take(compiled * 16 * this.threads, 'profile');
    // attention: row tiles of ATTN_ROWS query rows (1 when the tile's scores would not fit ATTN_SCRATCH_MAX)
    const attnOps = program.ops.flatMap((o) => (o.op === 'attention' ? [o] : []));
    const scratchFor = (rows: number) => Math.max(64, ...attnOps.map((o) => probe.attentionScratch(rows, o.nHeads / o.nKvHeads, o.headDim, contextLength)));
    this.attnRows = maxBatch > 1 && scratchFor(ATTN_ROWS) <= ATTN_SCRATCH_MAX ? ATTN_ROWS : 1;
    const scratchStride = align(scratchFor(this.attnRows));
    const scratch = plan.take(scratchStride * this.threads, 'scratch');
    // the split decode attention's scores: one row of contextLength floats per query head, shared by the threads
    const attnScores = attnOps.length && this.attnSplit > 0 ? plan.take(Math.max(...attnOps.map((o) => o.nHeads)) * contextLength * 4, 'scratch') : 0;
    // rope tables (model/rope.ts), one per distinct table the rope ops use
    const ropeTabs = new Map<string, number>();
    for (const o of program.ops) {
      if (o.op !== 'rope') continue;
      if (o.ropeDim !== o.freqs.dim) throw new Error(`rope op: ropeDim ${o.ropeDim} differs from its table's dimension ${o.freqs.dim}`);
      const key = ropeKey(o.freqs);
      if (!ropeTabs.has(key)) ropeTabs.set(key, plan.take(contextLength * (o.freqs.dim / 2) * 8, 'rope'));
    }
    // ggml's GELU table (binary16 results as f32, 65536 floats), when a gelu_mul reads it
    this.geluTab = program.ops.some((o) => o.op === 'gelu_mul') ? plan.take(65536 * 4, 'tables') : 0;
    for (const b of program.buffers) {
      this.bufPtr.set(b.name, plan.take(b.width * maxBatch * 4, 'activations'));
      this.bufWidth.set(b.name, b.width);
      if (b.rows === 'tokens') this.perToken.add(b.name);
    }
    const f16Bytes = program.kv.layers * 2 * sequences * contextLength * program.kv.width * 2;
    this.kvWide = program.kv.type === 'f16' && (this.kvStorage === 'f32' || (this.kvStorage === 'auto' && 2 * f16Bytes <= KV_WIDE_MAX_BYTES));
    const kvElem = program.kv.type === 'f16' && !this.kvWide ? 2 : 4;
    // each layer's K and V: one region of contextLength positions per sequence
    this.seqBytes = contextLength * program.kv.width * kvElem;
    const kv: { k: number; v: number }[] = [];
    for (let l = 0; l < program.kv.layers; l++) {
      kv.push({ k: plan.take(sequences * this.seqBytes, 'kv'), v: plan.take(sequences * this.seqBytes, 'kv') });
    }
    // quantized activation buffers, one per (buffer, format) a matmul reads
    const quantBufs = new Map<string, number>();
    for (const o of program.ops) {
      if (o.op !== 'matmul') continue;
      const t = file.tensor(o.weight)!;
      const fmt = probe.activationFormat(t.typeId);
      const key = `${o.x}:${fmt}`;
      if (fmt !== FMT_F32 && !quantBufs.has(key)) quantBufs.set(key, plan.take(activationRowBytes(fmt, this.bufWidth.get(o.x)!) * maxBatch, 'quantized activations'));
    }
    // the expanded forms: one byte per weight where the relaxed kernels run the type, else Q8_0 blocks (Q5_0)
    const relaxedRuns = (type: number) => this.build.relaxedTypes !== undefined && ((this.build.relaxedTypes >>> type) & 1) === 1;
    const formOf = (type: number): number | undefined => {
      if (type !== GGMLType.Q5_0 && type !== GGMLType.Q5_1) return undefined;
      const want = this.expandQ5 === true ? (relaxedRuns(type) ? 'bytes' : 'q8_0') : this.expandQ5;
      if (want === 'bytes') return type === GGMLType.Q5_0 ? INTERNAL_TYPE_IDS.Q5_0U : INTERNAL_TYPE_IDS.Q5_1U;
      return want === 'q8_0' && type === GGMLType.Q5_0 ? GGMLType.Q8_0 : undefined;
    };
    for (const t of tensors) {
      if (isVector(t)) {
        this.vectors.set(t.name, plan.take(t.nElements * 4, 'norms'));
      } else {
        const cols = t.shape[0]!;
        const rows = t.nElements / cols;
        const form = formOf(t.typeId);
        const type = form ?? t.typeId;
        const rb = form === undefined ? rowBytes(t.type, cols) : (cols / 32) * blockOffsets(form === INTERNAL_TYPE_IDS.Q5_1U ? 'Q5_1U' : 'Q5_0U').bytes;
        if (form !== undefined) {
          this.expanded.tensors++;
          this.expanded.extraBytes += rows * rb - t.nBytes;
          this.expanded.forms.add(`${t.type.name} as ${form === GGMLType.Q8_0 ? 'Q8_0' : 'one unsigned byte per weight'}`);
        }
        this.matrices.set(t.name, { info: t, type, ptr: plan.take(rows * rb + 16, 'weights'), cols, rows, rowBytes: rb });
      }
    }
    const total = plan.top;
    const pages = Math.ceil(total / PAGE);
    this.plan = plan.parts;
    this.totalBytes = total;
    if (pages > MAX_PAGES) {
      const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
      const parts = Object.entries(plan.parts)
        .map(([k, v]) => `${k} ${mib(v)}`)
        .join(', ');
      throw new ModelError(`the wasm backend needs ${mib(total)} of WebAssembly memory (${parts}), more than the 4 GiB wasm32 limit; use a smaller contextLength or batchSize, or another backend`);
    }
    this.memory = new WA.Memory({ initial: pages, maximum: pages, shared: true });
    this.exp = instantiate(this.build, this.memory);
    writeF16Table(this.memory, this.exp);
    const buf = this.memory.buffer;

    // -- load weights straight into memory
    const totalW = tensors.reduce((s, t) => s + t.nBytes, 0);
    let loaded = 0;
    for (const t of tensors) {
      const m = this.matrices.get(t.name);
      if (m && m.type !== t.typeId) {
        // Q5_0 / Q5_1 expanded: the file's blocks read into the end of the matrix's space, expanded forward in
        // place by the module (expandQ5; layout.ts expandQ5Reference is its reference, tests compare)
        // in calls of EXPAND_BLOCKS blocks, in order (so still forward)
        const size = m.rows * m.rowBytes;
        const src = m.ptr + size - t.nBytes;
        file.readTensorInto(t, new Uint8Array(buf, src, t.nBytes));
        const nb = t.nElements / 32;
        const from = t.nBytes / nb;
        const to = size / nb;
        for (let b = 0; b < nb; b += EXPAND_BLOCKS) this.exp.expandQ5(m.type, m.ptr + b * to, src + b * from, Math.min(EXPAND_BLOCKS, nb - b));
      } else if (m) {
        file.readTensorInto(t, new Uint8Array(buf, m.ptr, t.nBytes));
      } else {
        const f = t.typeId === GGMLType.F32 ? file.readTensor(t) : undefined;
        const v = f ? new Float32Array(f.buffer, f.byteOffset, t.nElements) : dequantize(t.typeId, file.readTensor(t), t.nElements);
        new Float32Array(buf, this.vectors.get(t.name)!, t.nElements).set(v);
      }
      loaded += t.nBytes;
      onProgress?.({ loadedBytes: loaded, totalBytes: totalW, tensor: t.name });
      await platform.yieldToEventLoop();
    }
    this.weightBytes = totalW;

    // -- rope tables: the one table every backend uses (model/rope.ts)
    const filled = new Set<string>();
    for (const o of program.ops) {
      if (o.op !== 'rope') continue;
      const key = ropeKey(o.freqs);
      if (filled.has(key)) continue;
      filled.add(key);
      new Float32Array(buf, ropeTabs.get(key)!, contextLength * o.freqs.dim).set(ropeTable(o.freqs, contextLength));
    }
    if (this.geluTab) new Float32Array(buf, this.geluTab, 65536).set(geluTableF16());

    // -- op list
    const records = this.compile(program, file, quantBufs, ropeTabs, kv);
    if (records.length !== compiled) throw new Error(`op list compiled to ${records.length} records, planned ${compiled}`);
    const view = new DataView(buf);
    records.forEach((r, i) => {
      encodeOp(view, opsPtr + i * OP_WORDS * 4, r.op, r.f as never);
    });
    this.nOps = compiled;
    this.barriers = records.filter((r) => (r.f.flags & F_NOBARRIER) === 0).length;
    const ctl = new Int32Array(buf, this.ctl, CONTROL_BYTES / 4);
    ctl[C.nOps / 4] = compiled;
    ctl[C.ops / 4] = opsPtr;
    ctl[C.counters / 4] = this.counters;
    ctl[C.scratch / 4] = scratch;
    ctl[C.scratchStride / 4] = scratchStride;
    // Where this thread may not block (a browser page's main thread), barriers only spin.
    ctl[C.spinUs / 4] = platform.canBlock ? barrierSpinUs() : 0x7fffffff;
    ctl[C.prof / 4] = this.prof;
    ctl[C.attnSplit / 4] = attnScores ? Math.max(1, this.attnSplit) : 0;
    ctl[C.attnScores / 4] = attnScores;
    ctl[C.attnStride / 4] = contextLength;
    if (this.threads > 1) this.pool = await ThreadPool.start(this.build, this.memory, this.ctl, this.threads, this.ctl + CONTROL_POOL, 20000);
  }

  /** The program's ops in execution order with the quantize steps the matmuls need, as abstract records. */
  private compileOps(program: Program, fmtOf: (weight: string) => number): Entry[] {
    const out: Entry[] = [];
    const fresh = new Set<string>();
    const write = (b: string) => {
      for (const k of [...fresh]) if (k.startsWith(`${b}:`)) fresh.delete(k);
    };
    program.ops.forEach((o, i) => {
      switch (o.op) {
        case 'embed':
          if (i !== 0) throw new Error('the wasm backend needs the embedding lookup as the first op');
          this.embedTableName = o.table;
          // rows of every type with a matmul kernel are dequantized in WASM; other types (IQ4_NL, BF16, ...) on the host
          if (fmtOf(o.table) >= 0) out.push({ op: o, reads: [], writes: [o.out] });
          else this.embedOp = { table: o.table, out: o.out };
          write(o.out);
          return;
        case 'matmul': {
          const fmt = fmtOf(o.weight);
          const key = `${o.x}:${fmt}`;
          let xsrc = o.x;
          if (fmt !== FMT_F32) {
            xsrc = `q:${key}`;
            if (!fresh.has(key)) {
              out.push({ op: { op: 'quant', x: o.x, fmt }, reads: [o.x], writes: [xsrc] });
              fresh.add(key);
            }
          }
          out.push({ op: o, reads: [xsrc], writes: [o.out] });
          write(o.out);
          return;
        }
        default: {
          const { reads, writes } = opBuffers(o);
          out.push({ op: o, reads: [...reads], writes: [...writes] });
          for (const b of writes) write(b);
        }
      }
    });
    return this.fuse(out);
  }

  /**
   * Fewer barriers per layer: the residual add with the next RMSNorm, the
   * quantization of a row-wise op's output into that op, RoPE of k with the KV
   * store; a quantize that feeds a matmul is replicated on every thread when small.
   */
  private fuse(list: Entry[]): Entry[] {
    const out: Entry[] = [];
    const rowsOf = (b: string) => this.perToken.has(b);
    // ops whose output rows a following quantize may be fused into (not per-head norms: their work items are heads)
    const output = (e: Entry): string | undefined =>
      (e.op.op === 'rmsnorm' && e.op.groupWidth === undefined) || e.op.op === 'silu_mul' || e.op.op === 'gelu_mul' ? e.op.out : e.op.op === 'add_norm' ? e.op.norm.out : undefined;
    for (let i = 0; i < list.length; i++) {
      const e = list[i]!;
      const n = list[i + 1];
      if (e.op.op === 'add' && n?.op.op === 'rmsnorm' && n.op.groupWidth === undefined && e.op.out === e.op.a && n.op.x === e.op.out && rowsOf(e.op.a) === rowsOf(n.op.out)) {
        out.push({ op: { op: 'add_norm', add: e.op, norm: n.op }, reads: [e.op.a, e.op.b], writes: [e.op.a, n.op.out] });
        i++;
        continue;
      }
      if (e.op.op === 'rope' && n?.op.op === 'kv_store' && n.op.k === e.op.x) {
        out.push({ op: { op: 'rope_store', rope: e.op, store: n.op }, reads: [n.op.k, n.op.v], writes: [n.op.k, `kv${n.op.layer}`] });
        i++;
        continue;
      }
      if (e.op.op === 'quant') {
        const prev = out[out.length - 1];
        if (prev && !prev.quantAfter && output(prev) === e.op.x) {
          prev.quantAfter = e.op;
          prev.writes.push(...e.writes);
          continue;
        }
        if (n?.op.op === 'matmul') e.replicate = true;
      }
      out.push(e);
    }
    return out;
  }

  private compile(program: Program, file: BackendInit['file'], quantBufs: Map<string, number>, ropeTabs: Map<string, number>, kv: { k: number; v: number }[]): OpRec[] {
    const fmtOf = (w: string) => this.exp.activationFormat(file.tensor(w)!.typeId);
    const list = this.compileOps(program, fmtOf);
    this.opLabels = list.map(({ op: o }) => (o.op === 'matmul' ? `matmul ${o.weight}` : o.op));
    const ptr = (b: string) => {
      const p = this.bufPtr.get(b);
      if (p === undefined) throw new Error(`op list names unknown buffer ${b}`);
      return p;
    };
    const vector = (name: string) => {
      const w = this.vectors.get(name);
      if (w === undefined) throw new Error(`op list names unknown vector ${name}`);
      return w;
    };
    /** A vector weight that must hold n floats. */
    const vectorOf = (name: string, n: number) => {
      const t = file.tensor(name);
      if (!t || t.nElements !== n) throw new ModelError(`tensor ${name} has ${t?.nElements ?? 0} values, expected ${n}`);
      return vector(name);
    };
    const matrix = (name: string) => {
      const m = this.matrices.get(name);
      if (!m) throw new Error(`op list names unknown matrix ${name}`);
      return m;
    };
    const outFlag = (b: string) => (this.perToken.has(b) ? 0 : F_OUTPUTS);
    const f16 = program.kv.type === 'f16';
    const wide = this.kvWide;
    const width = (b: string) => this.bufWidth.get(b)!;
    const ropeTab = (r: OpOf<'rope'>) => ropeTabs.get(ropeKey(r.freqs))!;
    /** The quantize-after fields of a row-wise op (qFmt 0: none). */
    const quantOut = (q: QuantOp | undefined) => (q ? { qOut: quantBufs.get(`${q.x}:${q.fmt}`)!, qFmt: q.fmt, qRowBytes: activationRowBytes(q.fmt, width(q.x)) } : { qOut: 0, qFmt: 0, qRowBytes: 0 });
    const recs = list.map(({ op: o, quantAfter, replicate }): OpRec => {
      switch (o.op) {
        case 'add_norm':
          return rec('add_norm', {
            flags: outFlag(o.add.a),
            chunk: 0,
            x: ptr(o.add.a),
            b: ptr(o.add.b),
            weight: vector(o.norm.weight),
            out: ptr(o.norm.out),
            width: width(o.add.a),
            eps: o.norm.eps,
            ...quantOut(quantAfter),
          });
        case 'rope_store': {
          const r = o.rope;
          const c = kv[o.store.layer]!;
          return rec('rope_store', {
            flags: 0,
            chunk: 0,
            k: ptr(o.store.k),
            v: ptr(o.store.v),
            kCache: c.k,
            vCache: c.v,
            width: program.kv.width,
            f16,
            wide,
            nHeads: r.nHeads,
            headDim: r.headDim,
            ropeDim: r.ropeDim,
            tab: ropeTab(r),
            neox: r.mode === 'neox',
          });
        }
        case 'quant':
          return rec('quant', {
            flags: outFlag(o.x) | (replicate ? F_REPLICATE : 0),
            chunk: 0,
            x: ptr(o.x),
            out: quantBufs.get(`${o.x}:${o.fmt}`)!,
            width: width(o.x),
            fmt: o.fmt,
            rowBytes: activationRowBytes(o.fmt, width(o.x)),
          });
        case 'matmul': {
          const m = matrix(o.weight);
          const fmt = fmtOf(o.weight);
          const w = width(o.x);
          if (w !== m.cols) throw new Error(`matmul ${o.weight}: input width ${w} != ${m.cols} columns`);
          return rec('matmul', {
            flags: outFlag(o.x),
            chunk: matmulChunkRows(m.rowBytes),
            type: m.type,
            w: m.ptr,
            rowBytes: m.rowBytes,
            x: fmt === FMT_F32 ? ptr(o.x) : quantBufs.get(`${o.x}:${fmt}`)!,
            xRowBytes: activationRowBytes(fmt, w),
            out: ptr(o.out),
            rows: m.rows,
            cols: m.cols,
            bias: o.bias ? vectorOf(o.bias, m.rows) : 0,
          });
        }
        case 'rmsnorm': {
          const g = o.groupWidth ?? width(o.x);
          if (width(o.x) % g !== 0) throw new Error(`rmsnorm ${o.weight}: group width ${g} does not divide the row width ${width(o.x)}`);
          return rec('rmsnorm', {
            flags: outFlag(o.x),
            chunk: 0,
            x: ptr(o.x),
            weight: vectorOf(o.weight, g),
            out: ptr(o.out),
            width: width(o.x),
            eps: o.eps,
            ...quantOut(quantAfter),
            groups: width(o.x) / g,
          });
        }
        case 'rope':
          return rec('rope', {
            flags: outFlag(o.x),
            chunk: 0,
            x: ptr(o.x),
            nHeads: o.nHeads,
            headDim: o.headDim,
            ropeDim: o.ropeDim,
            tab: ropeTab(o),
            neox: o.mode === 'neox',
          });
        case 'kv_store':
          return rec('kv_store', { flags: 0, chunk: 0, k: ptr(o.k), v: ptr(o.v), kCache: kv[o.layer]!.k, vCache: kv[o.layer]!.v, width: program.kv.width, f16, wide });
        case 'attention':
          if (o.headDim % 8 !== 0) throw new ModelError(`the wasm backend needs a head size that is a multiple of 8, got ${o.headDim}`);
          return rec('attention', {
            flags: 0,
            chunk: 1,
            q: ptr(o.q),
            out: ptr(o.out),
            kCache: kv[o.layer]!.k,
            vCache: kv[o.layer]!.v,
            nHeads: o.nHeads,
            nKvHeads: o.nKvHeads,
            headDim: o.headDim,
            scale: o.scale,
            f16,
            wide,
            flash: this.flash,
            rowsPerTask: this.attnRows,
            window: o.window ?? 0,
          });
        case 'add':
          return rec('add', { flags: outFlag(o.a), chunk: 0, a: ptr(o.a), b: ptr(o.b), out: ptr(o.out), width: width(o.a) });
        case 'silu_mul':
        case 'gelu_mul':
          // with its quantization fused, the work items are the rows' quantization blocks (so one row's
          // step spreads over the threads too), in the interpreter's chunks of a quarter of a thread's share
          return rec(o.op, {
            flags: outFlag(o.gate),
            chunk: 0,
            gate: ptr(o.gate),
            up: ptr(o.up),
            out: ptr(o.out),
            width: width(o.gate),
            ...(o.op === 'gelu_mul' ? { tab: this.geluTab } : {}),
            ...quantOut(quantAfter),
          });
        case 'embed': {
          const m = matrix(o.table);
          return rec('embed', { flags: 0, chunk: 0, table: m.ptr, rowBytes: m.rowBytes, type: m.type, ids: this.ids, out: ptr(o.out), width: m.cols });
        }
        case 'gather_outputs':
          return rec('gather_outputs', { flags: 0, chunk: 1, x: ptr(o.x), out: ptr(o.out), width: width(o.x) });
        case 'scale':
          return rec('scale', { flags: outFlag(o.x), chunk: 0, x: ptr(o.x), out: ptr(o.out), width: width(o.x), scale: o.scale });
        case 'softcap':
          return rec('softcap', { flags: outFlag(o.x), chunk: 0, x: ptr(o.x), width: width(o.x), cap: o.cap });
        case 'slice':
          if (o.offset < 0 || o.offset + width(o.out) > width(o.x)) throw new Error(`slice of ${o.x}: columns ${o.offset}..${o.offset + width(o.out)} outside its width ${width(o.x)}`);
          return rec('slice', { flags: outFlag(o.x), chunk: 0, x: ptr(o.x), out: ptr(o.out), width: width(o.x), offset: o.offset, outWidth: width(o.out) });
        default: {
          const never: never = o;
          throw new Error(`the wasm backend cannot run op ${(never as { op: string }).op}`);
        }
      }
    });
    // Barriers: an op may skip the barrier after it when the next op touches nothing the ops since the last barrier wrote or read.
    let groupW = new Set<string>();
    let groupR = new Set<string>();
    list.forEach((e, i) => {
      for (const b of e.writes) groupW.add(b);
      for (const b of e.reads) groupR.add(b);
      const next = list[i + 1];
      const independent = next !== undefined && !next.reads.some((b) => groupW.has(b)) && !next.writes.some((b) => groupW.has(b) || groupR.has(b));
      if (independent) recs[i]!.f.flags |= F_NOBARRIER;
      else if (!e.replicate) {
        // (after a replicated quantize the barrier may be skipped at run time: its reads and writes stay in the group)
        groupW = new Set();
        groupR = new Set();
      }
    });
    return recs;
  }

  async forward(step: Step): Promise<Float32Array> {
    const nOut = this.run(step);
    const width = this.bufWidth.get(this.program.logits)!;
    const n = nOut * width;
    if (this.logitsOut.length < n) this.logitsOut = new Float32Array(n);
    const out = this.logitsOut.subarray(0, n);
    out.set(new Float32Array(this.memory.buffer, this.bufPtr.get(this.program.logits)!, n));
    return out;
  }

  /** Greedy sampling inside WASM: the step, then the argmax of the last logits row (no copy of the row). */
  async forwardArgmax(step: Step): Promise<number> {
    if (step.rows) throw new RangeError('forwardArgmax takes single-sequence steps');
    const nOut = this.run({ ...step, allLogits: false });
    const width = this.bufWidth.get(this.program.logits)!;
    const id = this.exp.argmax(this.bufPtr.get(this.program.logits)! + (nOut - 1) * width * 4, width);
    if (id < 0) throw new RangeError('all logits are NaN');
    return id;
  }

  /** Runs one step on every thread; returns the number of logits rows written. */
  private run(step: Step): number {
    const { T, nOut } = checkStep(step, { maxBatch: this.maxBatch, contextLength: this.contextLength, sequences: this.sequences });
    if (this.pool?.error) throw new Error(`WASM worker failed: ${this.pool.error}`);
    const buf = this.memory.buffer;
    const table = this.matrices.get(this.embedTableName) ?? this.embedTable();
    const ids = new Int32Array(buf, this.ids, T);
    for (let t = 0; t < T; t++) {
      const id = step.tokens[t]!;
      if (!Number.isInteger(id) || id < 0 || id >= table.rows) throw new RangeError(`token id ${id} is outside the vocabulary of ${table.rows}`);
      ids[t] = id;
    }
    if (this.embedOp) {
      const out = this.bufPtr.get(this.embedOp.out)!;
      for (let t = 0; t < T; t++) {
        dequantizeRow(table.type, new Uint8Array(buf, table.ptr + ids[t]! * table.rowBytes, table.rowBytes), new Float32Array(buf, out + t * table.cols * 4, table.cols), table.cols);
      }
    }
    const ctl = new Int32Array(buf, this.ctl, CONTROL_BYTES / 4);
    ctl[C.tokens / 4] = T;
    ctl[C.outputs / 4] = nOut;
    const rows = step.rows;
    if (rows) {
      const tab = new Uint32Array(buf, this.rowTab, 2 * T);
      for (let t = 0; t < T; t++) {
        tab[2 * t] = rows.positions[t]!;
        tab[2 * t + 1] = rows.seqs[t]! * this.seqBytes;
      }
      new Int32Array(buf, this.outRows, nOut).set(rows.outputs);
    }
    ctl[C.pos / 4] = rows ? 0 : step.pos;
    ctl[C.kvOff / 4] = rows ? 0 : (step.seq ?? 0) * this.seqBytes;
    ctl[C.rows / 4] = rows ? this.rowTab : 0;
    ctl[C.outRows / 4] = rows ? this.outRows : 0;
    Atomics.store(ctl, C.abort / 4, 0);
    new Int32Array(buf, this.counters, (this.nOps * this.threads * COUNTER_BYTES) / 4).fill(0);
    this.pool?.go();
    let status: number;
    try {
      status = this.exp.run(this.ctl, 0, this.threads);
    } catch (e) {
      this.exp.abort(this.ctl); // release the workers waiting at a barrier
      const bad = ctl[C.badOp / 4];
      throw new Error(`WASM step failed: ${e instanceof Error ? e.message : String(e)}${bad ? ` (op code ${bad})` : ''}`);
    }
    if (status !== 0 || this.pool?.error) throw new Error(`WASM step failed${this.pool?.error ? `: ${this.pool.error}` : ''}`);
    return nOut;
  }

  /**
   * Time per op and thread since init (only with the profile option): work =
   * inside the op, wait = in the barrier after it, in milliseconds.
   */
  profile(): OpProfile[] | undefined {
    if (!this.prof) return undefined;
    const f = new Float64Array(this.memory.buffer, this.prof, this.nOps * 2 * this.threads);
    return this.opLabels.map((op, i) => ({
      op,
      work: Array.from({ length: this.threads }, (_, t) => f[(t * this.nOps + i) * 2]!),
      wait: Array.from({ length: this.threads }, (_, t) => f[(t * this.nOps + i) * 2 + 1]!),
    }));
  }

  private embedTable(): Matrix {
    throw new Error(`embedding table ${this.embedTableName} is not loaded`);
  }

  describe(): Record<string, string | number> {
    const mib = (n: number) => Math.round((n / 2 ** 20) * 10) / 10;
    return {
      backend: 'wasm',
      build: this.build ? `${this.build.name} (SIMD128 + threads)` : 'not loaded',
      buildNote: this.build?.note ?? '',
      threads: this.threads,
      ops: this.nOps,
      barriersPerStep: this.barriers,
      barrierSpinUs: this.threads > 1 ? barrierSpinUs() : 0,
      attention: this.flash ? 'flash (online softmax)' : 'llama.cpp non-flash numerics',
      attentionSplitFrom: this.flash || !this.attnSplit ? 'off' : this.attnSplit,
      kvCacheType: this.program?.kv.type ?? '',
      expandedQ5: this.expanded.tensors ? `${this.expanded.tensors} matrices expanded at load: ${[...this.expanded.forms].join(', ')} (+${mib(this.expanded.extraBytes)} MiB)` : 'none',
      kvStorage: this.program?.kv.type === 'f16' ? (this.kvWide ? 'f32 slots (binary16 values)' : 'binary16') : (this.program?.kv.type ?? ''),
      sequences: this.sequences,
      weightBytes: this.weightBytes,
      memoryMiB: mib(this.totalBytes),
      ...Object.fromEntries(Object.entries(this.plan).map(([k, v]) => [`${k}MiB`, mib(v)])),
    };
  }

  dispose(): void {
    const pool = this.pool;
    this.pool = undefined;
    void pool?.stop();
    this.matrices.clear();
    this.vectors.clear();
    this.bufPtr.clear();
  }
}
