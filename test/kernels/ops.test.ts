/**
 * The op test table, in the style of llama.cpp's test-backend-ops: every row
 * is (op × weight type × shape × tokens × position × KV cache type). Each row
 * becomes a small Program over an in-memory GGUF file, run through the
 * `Backend` interface (init with the program and file, forward steps) on every
 * available backend: the reference backend is the oracle; wasm always (2
 * threads on the rows marked so, where the work is split as in a model); webgpu, on the
 * rows marked gpu (device and pipeline set-up per case is slow), when there is an adapter
 * (under CI=true or TSINFER_REQUIRE_WEBGPU=1 a missing adapter fails). Data is
 * random (seed printed; TSINFER_SEED repeats it).
 *
 * A program starts with an F32 embedding lookup (the op list's input on every
 * backend), runs the op under test (plus whatever produces its other inputs)
 * and ends by copying the rows into the logits buffer. A row with position P
 * first runs a P-token step (filling the KV cache), then the T-token step; the
 * logits of both are compared. Each op states its tolerance: error_i / scale_i
 * <= tol, where scale_i is the op's error scale (below). A new op adds a
 * builder to BUILD and rows to ROWS; a new backend adds an entry to BACKENDS.
 */
import { describe, expect, it } from 'vitest';
import { GGMLType, ggmlType } from '../../src/gguf/types.js';
import { dequantize } from '../../src/quant/index.js';
import { parseGGUFBytes, type GGUFFile } from '../../src/gguf/reader.js';
import { layoutGGUF } from '../../src/gguf/writer.js';
import type { Backend } from '../../src/kernels/backend.js';
import { ReferenceBackend } from '../../src/kernels/reference/backend.js';
import { ATTN_SPLIT_FROM, WasmBackend } from '../../src/kernels/wasm/backend.js';
import { WebGPUBackend } from '../../src/kernels/webgpu/backend.js';
import type { BufferDecl, KvCacheType, Op, Program } from '../../src/model/program.js';
import { HAVE_WEBGPU, randomTensor, requireAdapterUnderCI, seededRandom, type FakeTensor } from './webgpu-helpers.js';

type Rand = ReturnType<typeof seededRandom>;

interface Row {
  op: keyof typeof BUILD;
  /** Weight type of the op's matrix or table (F32 where the op has none). */
  type: string;
  /** The op's shape: [cols, rows] of its matrix, [width] of its rows, or [nHeads, nKvHeads, headDim] / [nHeads, headDim, ropeDim]. */
  shape: number[];
  tokens: number;
  pos: number;
  kv: KvCacheType;
  /** wasm compute threads: 2 on the rows whose work the interpreter splits across threads (worker start-up costs ~0.1 s). */
  threads: 1 | 2;
  /**
   * Also run on WebGPU. Each WebGPU case creates a device and compiles its pipelines (seconds on
   * SwiftShader), so the GPU runs a subset: every op, every weight type, one- and multi-token steps.
   */
  gpu: boolean;
  /**
   * A variant of the op (a field of its record, not a new op): matmul 'bias'; rmsnorm 'heads' (per-head
   * groups of shape[1]); rope 'neox', 'scaled' (linear scaling and frequency factors) and 'yarn'; attention 'window'.
   */
  variant?: 'bias' | 'heads' | 'neox' | 'scaled' | 'yarn' | 'window';
}

/** A built case: the program, its tensors, and each output element's error scale. */
interface Built {
  program: Program;
  tensors: FakeTensor[];
  /** Error scale of output row element i of a step, from the step's input rows x (T x width of the table). */
  scale: (want: Float64Array, x: Float32Array, T: number) => Float64Array;
  /** Largest allowed error / scale. */
  tol: number;
  /** Tokens of the vocabulary (rows of the embedding table). */
  vocab: number;
  /** Width of the embedding rows. */
  width: number;
}

const VOCAB = 24;
const EPS = 1e-5;

function randomF32(n: number, r: Rand, s = 1): Float32Array {
  return Float32Array.from({ length: n }, () => r.normal() * s);
}
const f32Bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** The program around the op: x = embed(tokens), ops, then gather_outputs of `last` into the logits. */
function program(width: number, buffers: BufferDecl[], ops: Op[], last: string, lastWidth: number, weights: string[], kv = { type: 'f32' as KvCacheType, layers: 1, width: 8 }): Program {
  return {
    buffers: [{ name: 'x', width, rows: 'tokens' }, ...buffers, { name: 'logits', width: lastWidth, rows: 'outputs' }],
    ops: [{ op: 'embed', table: 'tok_embd', out: 'x' }, ...ops, { op: 'gather_outputs', x: last, out: 'logits' }],
    kv,
    logits: 'logits',
    weights: ['tok_embd', ...weights],
  };
}
const table = (width: number, r: Rand): FakeTensor => ({ name: 'tok_embd', typeId: GGMLType.F32, shape: [width, VOCAB], bytes: f32Bytes(randomF32(width * VOCAB, r)) });
/** Max |want| of each row, as every element's scale. */
const rowMax = (width: number) => (want: Float64Array) => {
  const s = new Float64Array(want.length);
  for (let r = 0; r < want.length / width; r++) {
    let m = 1e-30;
    for (let i = 0; i < width; i++) m = Math.max(m, Math.abs(want[r * width + i]!));
    s.fill(m, r * width, (r + 1) * width);
  }
  return s;
};

/** Activation quantization of the fast matmuls: Q8A (d rounded to f16) for 32-element types, Q8_K for the K-quants. */
function actQuantBound(typeId: number): number {
  if (typeId === GGMLType.F32 || typeId === GGMLType.F16) return 0;
  return ggmlType(typeId)!.blockSize === 256 ? 1.01 / 254 : 0.0045;
}

/** Builders, one per op under test. */
const BUILD = {
  /**
   * embed of a table of `type`: out = dequantized rows. Scale: max |row|; tol 1e-6 (the reference
   * dequantizers' bits in wasm; a GPU may round a scale product differently).
   */
  embed(row: Row, r: Rand): Built {
    const [width] = row.shape as [number];
    const typeId = typeIdOf(row.type);
    const bytes = typeId === GGMLType.BF16 ? bf16Table(width * VOCAB, r) : randomTensor(typeId, width, VOCAB, r.rand, r.normal);
    return {
      program: program(width, [], [], 'x', width, []),
      tensors: [{ name: 'tok_embd', typeId, shape: [width, VOCAB], bytes }],
      scale: rowMax(width),
      tol: 1e-6,
      vocab: VOCAB,
      width,
    };
  },
  /**
   * matmul: y = W x. Scale: Σ|w_i|·amax(x's block of i)·c + 1e-5·Σ|w_i x_i|, with c the activation
   * quantization the fast kernels use (as llama.cpp's CPU backend: 0.0045 for Q8A, whose d is rounded to
   * half precision; 1.01/254 for Q8_K; 0 for F32/F16 weights); tol 1.
   */
  matmul(row: Row, r: Rand): Built {
    const [cols, rows] = row.shape as [number, number];
    const typeId = typeIdOf(row.type);
    const bytes = randomTensor(typeId, cols, rows, r.rand, r.normal);
    const w = dequantize(typeId, bytes, cols * rows);
    const block = ggmlType(typeId)!.blockSize === 256 ? 256 : 32;
    const c = actQuantBound(typeId);
    const bias = row.variant === 'bias' ? randomF32(rows, r) : undefined;
    return {
      program: program(cols, [{ name: 'y', width: rows, rows: 'tokens' }], [{ op: 'matmul', weight: 'w', x: 'x', out: 'y', ...(bias ? { bias: 'b' } : {}) }], 'y', rows, bias ? ['w', 'b'] : ['w']),
      tensors: [table(cols, r), { name: 'w', typeId, shape: [cols, rows], bytes }, ...(bias ? [{ name: 'b', typeId: GGMLType.F32, shape: [rows], bytes: f32Bytes(bias) }] : [])],
      scale: (_want, x, T) => {
        const s = new Float64Array(T * rows);
        for (let t = 0; t < T; t++) {
          const amax = new Float64Array(cols / block);
          for (let i = 0; i < cols; i++) amax[Math.floor(i / block)] = Math.max(amax[Math.floor(i / block)]!, Math.abs(x[t * cols + i]!));
          for (let j = 0; j < rows; j++) {
            let q = 0,
              a = 0;
            for (let i = 0; i < cols; i++) {
              q += Math.abs(w[j * cols + i]!) * amax[Math.floor(i / block)]!;
              a += Math.abs(w[j * cols + i]! * x[t * cols + i]!);
            }
            s[t * rows + j] = q * c + 1e-5 * a + (bias ? 1e-6 * Math.abs(bias[j]!) : 0) + 1e-30;
          }
        }
        return s;
      },
      tol: 1,
      vocab: VOCAB,
      width: cols,
    };
  },
  /** rmsnorm with an F32 weight ('heads': per-head norms over groups of shape[1] values). Scale: max |row|; tol 1e-6. */
  rmsnorm(row: Row, r: Rand): Built {
    const [width, group] = row.shape as [number, number?];
    const g = row.variant === 'heads' ? group! : width;
    return {
      program: program(
        width,
        [{ name: 'h', width, rows: 'tokens' }],
        [{ op: 'rmsnorm', x: 'x', weight: 'nw', eps: EPS, out: 'h', ...(row.variant === 'heads' ? { groupWidth: g } : {}) }],
        'h',
        width,
        ['nw'],
      ),
      tensors: [table(width, r), { name: 'nw', typeId: GGMLType.F32, shape: [g], bytes: f32Bytes(randomF32(g, r)) }],
      scale: rowMax(width),
      tol: 1e-6,
      vocab: VOCAB,
      width,
    };
  },
  /**
   * rope of nHeads heads at the rows' positions: normal mode; 'neox' and 'scaled' with linear scaling (factor 4)
   * and frequency factors (as Llama 3's rope_freqs), 'neox' in NeoX mode; 'yarn' with YaRN (factor 4) and attn_factor
   * 1.25. Scale: max |row|; tol 1e-5 (a GPU's cos/sin).
   */
  rope(row: Row, r: Rand): Built {
    const [nHeads, headDim, ropeDim] = row.shape as [number, number, number];
    const width = nHeads * headDim;
    const scaled = row.variant === 'neox' || row.variant === 'scaled';
    const freqs = scaled
      ? { dim: ropeDim, base: 500000, freqScale: 0.25, factors: Float32Array.from({ length: ropeDim / 2 }, () => 1 + Math.floor(r.rand() * 8)) }
      : row.variant === 'yarn'
        ? { dim: ropeDim, base: 1e6, freqScale: 0.25, attnFactor: 1.25, yarn: { extFactor: 1, betaFast: 32, betaSlow: 1, origContext: 32 } }
        : { dim: ropeDim, base: 10000, freqScale: 1 };
    return {
      program: program(width, [], [{ op: 'rope', x: 'x', nHeads, headDim, ropeDim, base: freqs.base, mode: row.variant === 'neox' ? 'neox' : 'normal', freqs }], 'x', width, []),
      tensors: [table(width, r)],
      scale: rowMax(width),
      tol: 1e-5,
      vocab: VOCAB,
      width,
    };
  },
  /**
   * kv_store + attention (GQA) with q, k, v from F32 matmuls of x. Scale: max |row| of the output;
   * tol 2e-3 with an f16 cache (q and the softmax weights rounded to half precision as llama.cpp,
   * where a sum order can flip one rounding), 1e-5 with f32.
   */
  attention(row: Row, r: Rand): Built {
    const [nHeads, nKvHeads, headDim] = row.shape as [number, number, number];
    const width = 64;
    const qw = nHeads * headDim,
      kvw = nKvHeads * headDim;
    const mat = (name: string, rows: number): FakeTensor => ({ name, typeId: GGMLType.F32, shape: [width, rows], bytes: f32Bytes(randomF32(width * rows, r, 0.2)) });
    return {
      program: program(
        width,
        [
          { name: 'q', width: qw, rows: 'tokens' },
          { name: 'k', width: kvw, rows: 'tokens' },
          { name: 'v', width: kvw, rows: 'tokens' },
          { name: 'a', width: qw, rows: 'tokens' },
        ],
        [
          { op: 'matmul', weight: 'wq', x: 'x', out: 'q' },
          { op: 'matmul', weight: 'wk', x: 'x', out: 'k' },
          { op: 'matmul', weight: 'wv', x: 'x', out: 'v' },
          { op: 'kv_store', layer: 0, k: 'k', v: 'v' },
          { op: 'attention', layer: 0, q: 'q', out: 'a', nHeads, nKvHeads, headDim, scale: 1 / Math.sqrt(headDim), ...(row.variant === 'window' ? { window: 5 } : {}) },
        ],
        'a',
        qw,
        ['wq', 'wk', 'wv'],
        { type: row.kv, layers: 1, width: kvw },
      ),
      tensors: [table(width, r), mat('wq', qw), mat('wk', kvw), mat('wv', kvw)],
      scale: rowMax(qw),
      tol: row.kv === 'f16' ? 2e-3 : 1e-5,
      vocab: VOCAB,
      width,
    };
  },
  /** add: x + rmsnorm(x) (the norm gives the second operand). Scale: max |row|; tol 1e-6. */
  add(row: Row, r: Rand): Built {
    const [width] = row.shape as [number];
    return {
      program: program(
        width,
        [{ name: 'h', width, rows: 'tokens' }],
        [
          { op: 'rmsnorm', x: 'x', weight: 'nw', eps: EPS, out: 'h' },
          { op: 'add', a: 'x', b: 'h', out: 'x' },
        ],
        'x',
        width,
        ['nw'],
      ),
      tensors: [table(width, r), { name: 'nw', typeId: GGMLType.F32, shape: [width], bytes: f32Bytes(randomF32(width, r)) }],
      scale: rowMax(width),
      tol: 1e-6,
      vocab: VOCAB,
      width,
    };
  },
  /** silu_mul: silu(x) * rmsnorm(x). Scale: max |row|; tol 1e-6 (vectorised e^x, a few ulp as ggml's). */
  silu_mul(row: Row, r: Rand): Built {
    const [width] = row.shape as [number];
    return {
      program: program(
        width,
        [
          { name: 'h', width, rows: 'tokens' },
          { name: 's', width, rows: 'tokens' },
        ],
        [
          { op: 'rmsnorm', x: 'x', weight: 'nw', eps: EPS, out: 'h' },
          { op: 'silu_mul', gate: 'x', up: 'h', out: 's' },
        ],
        's',
        width,
        ['nw'],
      ),
      tensors: [table(width, r), { name: 'nw', typeId: GGMLType.F32, shape: [width], bytes: f32Bytes(randomF32(width, r)) }],
      scale: rowMax(width),
      tol: 1e-6,
      vocab: VOCAB,
      width,
    };
  },
  /**
   * gelu_mul: gelu(4x) * rmsnorm(x) (the scale spreads the gate over ggml's table and past |g| = 10).
   * Scale: max |row|; tol 1e-6 (ggml's binary16 table, the same bits on every backend).
   */
  gelu_mul(row: Row, r: Rand): Built {
    const [width] = row.shape as [number];
    return {
      program: program(
        width,
        [
          { name: 'g', width, rows: 'tokens' },
          { name: 'h', width, rows: 'tokens' },
          { name: 's', width, rows: 'tokens' },
        ],
        [
          { op: 'scale', x: 'x', scale: 4, out: 'g' },
          { op: 'rmsnorm', x: 'x', weight: 'nw', eps: EPS, out: 'h' },
          { op: 'gelu_mul', gate: 'g', up: 'h', out: 's' },
        ],
        's',
        width,
        ['nw'],
      ),
      tensors: [table(width, r), { name: 'nw', typeId: GGMLType.F32, shape: [width], bytes: f32Bytes(randomF32(width, r)) }],
      scale: rowMax(width),
      tol: 1e-6,
      vocab: VOCAB,
      width,
    };
  },
  /** scale: x * 0.37 in place. Scale: max |row|; tol 1e-7 (one f32 product). */
  scale(row: Row, r: Rand): Built {
    const [width] = row.shape as [number];
    return {
      program: program(width, [], [{ op: 'scale', x: 'x', scale: 0.37, out: 'x' }], 'x', width, []),
      tensors: [table(width, r)],
      scale: rowMax(width),
      tol: 1e-7,
      vocab: VOCAB,
      width,
    };
  },
  /** softcap: 15 tanh(30x / 15) (the scale makes part of it saturate). Scale: max |row|; tol 1e-6 (tanh). */
  softcap(row: Row, r: Rand): Built {
    const [width] = row.shape as [number];
    return {
      program: program(
        width,
        [{ name: 'y', width, rows: 'outputs' }],
        [
          { op: 'scale', x: 'x', scale: 30, out: 'x' },
          { op: 'gather_outputs', x: 'x', out: 'y' },
          { op: 'softcap', x: 'y', cap: 15 },
        ],
        'y',
        width,
        [],
      ),
      tensors: [table(width, r)],
      scale: rowMax(width),
      tol: 1e-6,
      vocab: VOCAB,
      width,
    };
  },
  /** slice: columns [shape[1], shape[1] + shape[2]) of x. Exact (tol 0). */
  slice(row: Row, r: Rand): Built {
    const [width, offset, w] = row.shape as [number, number, number];
    return {
      program: program(width, [{ name: 'y', width: w, rows: 'tokens' }], [{ op: 'slice', x: 'x', offset, out: 'y' }], 'y', w, []),
      tensors: [table(width, r)],
      scale: () => new Float64Array(w * 64).fill(1),
      tol: 0,
      vocab: VOCAB,
      width,
    };
  },
};

function typeIdOf(name: string): number {
  const id = (GGMLType as Record<string, number>)[name];
  if (id === undefined) throw new Error(`unknown type ${name}`);
  return id;
}
function bf16Table(n: number, r: Rand): Uint8Array {
  const out = new Uint16Array(n);
  const f = new Float32Array(1),
    u = new Uint32Array(f.buffer);
  for (let i = 0; i < n; i++) {
    f[0] = r.normal();
    out[i] = u[0]! >>> 16;
  }
  return new Uint8Array(out.buffer);
}

const QUANT = ['Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K'];
const row = (op: Row['op'], type: string, shape: number[], o: Partial<Omit<Row, 'op' | 'type' | 'shape'>> = {}): Row => ({
  op,
  type,
  shape,
  tokens: 1,
  pos: 0,
  kv: 'f32',
  threads: 1,
  gpu: true,
  ...o,
});
const cols = (t: string) => (ggmlType(typeIdOf(t))!.blockSize === 256 ? 512 : 96);

/** The table. */
const ROWS: Row[] = [
  // (webgpu-kernels.test.ts checks the GPU embedding of every type; here a few, to bound the GPU set-up time)
  ...['F32', 'F16', ...QUANT].map((t) => row('embed', t, [cols(t)], { tokens: 3, gpu: ['F16', 'Q4_0', 'Q5_1', 'Q4_K', 'Q6_K'].includes(t) })),
  // the WebGPU backend has no BF16 reader (it is an error naming the type there)
  row('embed', 'BF16', [64], { tokens: 2, gpu: false }),
  ...['F32', 'F16', ...QUANT].flatMap((t, i) => [row('matmul', t, [cols(t), 33], { gpu: i % 2 === 0 }), row('matmul', t, [cols(t), 19], { tokens: 6, gpu: i % 2 === 1 })]),
  row('matmul', 'Q8_0', [576, 129], { tokens: 5, threads: 2, gpu: false }),
  row('matmul', 'Q4_K', [768, 65], { tokens: 9, threads: 2, gpu: false }),
  row('matmul', 'Q6_K', [256, 40], { threads: 2, gpu: false }),
  // the matmul tiles' edges (2 rows x 4 tokens): odd row counts, token counts around 4
  ...['Q8_0', 'Q4_1', 'Q5_0', 'Q2_K', 'Q4_K', 'Q6_K'].flatMap((t, i) => [
    row('matmul', t, [cols(t), 5 + 2 * i], { tokens: 2 + (i % 2), gpu: false }),
    row('matmul', t, [cols(t), 3], { tokens: 5, gpu: false }),
  ]),
  row('rmsnorm', 'F32', [576]),
  row('rmsnorm', 'F32', [96], { tokens: 7, threads: 2 }),
  row('rope', 'F32', [3, 64, 64], { pos: 37 }),
  row('rope', 'F32', [2, 32, 16], { tokens: 5, gpu: false }),
  row('rope', 'F32', [4, 16, 16], { tokens: 3, pos: 60, gpu: false }),
  ...(['f32', 'f16'] as KvCacheType[]).flatMap((kv) => [
    row('attention', 'F32', [4, 2, 32], { kv, gpu: false }),
    row('attention', 'F32', [4, 2, 32], { pos: 11, kv, gpu: kv === 'f32' }),
    row('attention', 'F32', [6, 2, 64], { tokens: 7, kv, threads: 2, gpu: false }),
    row('attention', 'F32', [6, 3, 16], { tokens: 5, pos: 9, kv, gpu: kv === 'f16' }),
    row('attention', 'F32', [2, 2, 64], { tokens: 6, pos: 40, kv, gpu: false }),
    // decode over long contexts: the wasm backend splits attention across threads from ATTN_SPLIT_FROM
    // positions on (at the threshold, one past a block of positions, many blocks, group sizes 1, 5 and 8)
    row('attention', 'F32', [6, 2, 64], { pos: ATTN_SPLIT_FROM - 1, kv, threads: 2, gpu: false }),
    row('attention', 'F32', [6, 2, 64], { pos: ATTN_SPLIT_FROM, kv, threads: 2, gpu: false }),
    row('attention', 'F32', [9, 3, 64], { pos: 700, kv, threads: 2, gpu: false }),
    row('attention', 'F32', [8, 1, 32], { pos: 300, kv, threads: 2, gpu: false }),
    row('attention', 'F32', [10, 2, 16], { pos: 255, kv, threads: 2, gpu: false }),
    row('attention', 'F32', [2, 2, 8], { pos: 200, kv, gpu: false }),
  ]),
  row('add', 'F32', [576], { tokens: 3, threads: 2 }),
  row('add', 'F32', [40], { gpu: false }),
  row('silu_mul', 'F32', [576], { tokens: 3 }),
  row('silu_mul', 'F32', [1536], { threads: 2, gpu: false }),
  // the ops and variants of the architectures beyond Llama (model/arch/)
  row('matmul', 'F32', [96, 33], { variant: 'bias', tokens: 3 }),
  row('matmul', 'Q8_0', [576, 129], { variant: 'bias', tokens: 5, threads: 2, gpu: false }),
  row('matmul', 'Q4_K', [512, 19], { variant: 'bias', gpu: false }),
  row('rmsnorm', 'F32', [512, 128], { variant: 'heads', tokens: 3 }),
  row('rmsnorm', 'F32', [256, 64], { variant: 'heads', tokens: 5, threads: 2, gpu: false }),
  row('rope', 'F32', [3, 64, 64], { variant: 'neox', tokens: 2, pos: 37 }),
  row('rope', 'F32', [2, 32, 16], { variant: 'neox', tokens: 5, gpu: false }),
  row('rope', 'F32', [4, 16, 16], { variant: 'scaled', tokens: 3, pos: 40, gpu: false }),
  row('rope', 'F32', [3, 64, 64], { variant: 'yarn', tokens: 3, pos: 40, gpu: false }),
  ...(['f32', 'f16'] as KvCacheType[]).flatMap((kv) => [
    row('attention', 'F32', [4, 2, 32], { variant: 'window', tokens: 3, pos: 11, kv, gpu: kv === 'f16' }),
    row('attention', 'F32', [6, 2, 64], { variant: 'window', tokens: 9, kv, threads: 2, gpu: false }),
    row('attention', 'F32', [6, 2, 64], { variant: 'window', pos: 300, kv, threads: 2, gpu: false }),
  ]),
  row('gelu_mul', 'F32', [576], { tokens: 3 }),
  row('gelu_mul', 'F32', [1536], { threads: 2, gpu: false }),
  row('scale', 'F32', [576], { tokens: 2 }),
  row('scale', 'F32', [1536], { threads: 2, gpu: false }),
  row('softcap', 'F32', [640], { tokens: 3 }),
  row('slice', 'F32', [288, 96, 128], { tokens: 3 }),
  row('slice', 'F32', [96, 0, 32], { tokens: 4, threads: 2, gpu: false }),
];

/** Every backend the engine has; the reference is the oracle. */
const BACKENDS: { name: string; available: boolean; runs: (row: Row) => boolean; make: (row: Row) => Backend }[] = [
  { name: 'wasm', available: true, runs: () => true, make: (row) => new WasmBackend({ threads: row.threads }) },
  { name: 'webgpu', available: HAVE_WEBGPU, runs: (row) => row.gpu, make: () => new WebGPUBackend() },
];

/** A real GGUF file in memory (the library's writer layout, parsed back by its reader) holding the tensors. */
function ggufFile(tensors: FakeTensor[]): GGUFFile {
  const layout = layoutGGUF([], tensors);
  const bytes = new Uint8Array(layout.fileSize);
  bytes.set(layout.header);
  tensors.forEach((t, i) => {
    bytes.set(t.bytes, layout.dataOffset + layout.tensors[i]!.relativeOffset);
  });
  return parseGGUFBytes(bytes);
}

/** Runs the row's steps (a pos-token step first when pos > 0) and returns each step's logits. */
async function run(be: Backend, b: Built, row: Row, steps: Int32Array[]): Promise<Float32Array[]> {
  await be.init({ file: ggufFile(b.tensors), program: b.program, contextLength: Math.max(64, row.pos + row.tokens), maxBatch: Math.max(row.tokens, row.pos, 1) });
  try {
    let pos = 0;
    const out: Float32Array[] = [];
    for (const tokens of steps) {
      out.push((await be.forward({ tokens, pos, allLogits: true })).slice());
      pos += tokens.length;
    }
    return out;
  } finally {
    be.dispose();
  }
}

const label = (r: Row) =>
  `${r.op}${r.variant ? ` (${r.variant})` : ''} ${r.type} [${r.shape.join(', ')}] T=${r.tokens} pos=${r.pos}${r.op === 'attention' ? ` kv=${r.kv}` : ''} on ${[
    'reference',
    ...BACKENDS.filter((b) => b.available && b.runs(r)).map((b) => b.name + (b.name === 'wasm' ? `/${r.threads}t` : '')),
  ].join(', ')}`;

describe('op test table: every backend against the reference', () => {
  requireAdapterUnderCI();
  const r = seededRandom('op test table');
  it.each(ROWS.map((x) => [label(x), x] as const))('%s', async (_name, row) => {
    const built = BUILD[row.op](row, r);
    const steps = [...(row.pos > 0 ? [row.pos] : []), row.tokens].map((n) => Int32Array.from({ length: n }, () => Math.floor(r.rand() * built.vocab)));
    const tableF32 = dequantize(built.tensors[0]!.typeId, built.tensors[0]!.bytes, built.width * VOCAB);
    const want = await run(new ReferenceBackend(), built, row, steps);
    for (const b of BACKENDS.filter((x) => x.available && x.runs(row))) {
      const got = await run(b.make(row), built, row, steps);
      steps.forEach((tokens, s) => {
        const T = tokens.length;
        const x = new Float32Array(T * built.width);
        tokens.forEach((id, t) => {
          x.set(tableF32.subarray(id * built.width, (id + 1) * built.width), t * built.width);
        });
        const w = Float64Array.from(want[s]!);
        const scale = built.scale(w, x, T);
        let worst = 0,
          at = -1;
        for (let i = 0; i < w.length; i++) {
          const e = Math.abs(got[s]![i]! - w[i]!) / scale[i]!;
          if (!(e <= worst)) {
            worst = e;
            at = i;
            if (Number.isNaN(e)) break;
          }
        }
        expect(got[s]!.length, `${b.name} step ${s} length`).toBe(w.length);
        expect(worst, `${b.name} step ${s}: element ${at} got ${got[s]![at]}, reference ${w[at]} (error/scale ${worst}, tol ${built.tol})`).toBeLessThanOrEqual(built.tol);
      });
      // the split decode attention gives the same bits as one task per KV head
      if (b.name === 'wasm' && row.op === 'attention' && row.tokens === 1 && row.pos + 1 >= ATTN_SPLIT_FROM) {
        const whole = await run(new WasmBackend({ threads: row.threads, attentionSplit: 0 }), built, row, steps);
        expect(Buffer.from(got.at(-1)!.buffer).equals(Buffer.from(whole.at(-1)!.buffer)), 'split and one-task-per-head decode attention are bit-identical').toBe(true);
      }
      // Q5_0 / Q5_1 matrices as the file's blocks, expanded to Q8_0 blocks (Q5_0) and to one byte per weight give
      // the same bits (both builds and kernel variants of the bytes: wasm-relaxed.test.ts)
      if (b.name === 'wasm' && (row.op === 'matmul' || row.op === 'embed') && (row.type === 'Q5_0' || row.type === 'Q5_1')) {
        const forms = [false, 'q8_0', 'bytes'] as const;
        const outs: Float32Array[][] = [];
        for (const expandQ5 of forms) outs.push(await run(new WasmBackend({ threads: row.threads, expandQ5 }), built, row, steps));
        steps.forEach((_, s) => {
          for (let f = 1; f < forms.length; f++) {
            expect(Buffer.from(outs[0]![s]!.buffer).equals(Buffer.from(outs[f]![s]!.buffer)), `step ${s}: ${row.type} packed and expanded (${forms[f]}) are bit-identical`).toBe(true);
          }
        });
      }
      // an f16 cache stored as binary16 or as f32 slots holding the same values gives the same bits
      if (b.name === 'wasm' && row.op === 'attention' && row.kv === 'f16') {
        const [narrow, wide] = await Promise.all((['f16', 'f32'] as const).map((kvStorage) => run(new WasmBackend({ threads: row.threads, kvStorage }), built, row, steps)));
        steps.forEach((_, s) => {
          expect(Buffer.from(narrow[s]!.buffer).equals(Buffer.from(wide[s]!.buffer)), `step ${s}: binary16 and f32-slot storage of the f16 cache are bit-identical`).toBe(true);
        });
      }
    }
  });
  it('covers every op of the program contract (a new op must be listed here, or this file does not compile) and every wasm weight type', () => {
    const CONTRACT: Record<Op['op'], true> = {
      embed: true,
      rmsnorm: true,
      matmul: true,
      rope: true,
      kv_store: true,
      attention: true,
      add: true,
      silu_mul: true,
      gather_outputs: true,
      gelu_mul: true,
      scale: true,
      softcap: true,
      slice: true,
    };
    const r = seededRandom('op coverage');
    const used = new Set(ROWS.flatMap((x) => BUILD[x.op](x, r).program.ops.map((o) => o.op)));
    for (const op of Object.keys(CONTRACT)) expect(used.has(op as Op['op']), op).toBe(true);
    const types = new Set(ROWS.filter((x) => x.op === 'matmul').map((x) => x.type));
    for (const t of ['F32', 'F16', ...QUANT]) expect(types.has(t), t).toBe(true);
  });
});
