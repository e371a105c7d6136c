/**
 * Quantizing a whole GGUF model, as llama.cpp's llama_model_quantize does
 * without an importance matrix: the same tensor order, the same per-tensor
 * types (src/quant/filetype.ts), the same metadata changes
 * (general.quantization_version and general.file_type re-set at the end), the
 * same bytes (src/quant/quantize.ts).
 *
 * Streaming: each tensor is read in slabs of rows, converted to float32 and
 * quantized slab by slab into the output with positioned writes; nothing
 * holds a whole model. The output is written to a temporary file next to the
 * destination and renamed into place at the end, so an error or an abort
 * never leaves a partial file under the destination's name.
 */
import { existsSync, realpathSync, renameSync, statSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { GGUFError } from '../gguf/errors.js';
import { openGGUF, type GGUFFile, type GGUFTensorInfo } from '../gguf/reader.js';
import { ggmlType, ggmlTypeName, rowBytes } from '../gguf/types.js';
import { gv, metadataOf, tensorChunks, writeGGUF, type GGUFLayout, type GGUFWriteValue } from '../gguf/writer.js';
import { dequantizeRow, isDequantizable } from './dequant.js';
import { FILE_TYPES, fileTypeByName, isQuantizedType, llamaTensorOrder, planTensorTypes, type FileType, type TensorPlan } from './filetype.js';
import { Worker } from 'node:worker_threads';
import { quantizeChunk, isQuantizable } from './quantize.js';
import type { QuantizeJob } from './quantize-worker.js';

/** ggml's GGML_QNT_VERSION, written as general.quantization_version. */
export const GGML_QNT_VERSION = 2;

export type QuantizeErrorCode = 'BAD_TYPE' | 'SAME_FILE' | 'EXISTS' | 'UNSUPPORTED' | 'IO' | 'ABORTED';

/** A quantization that cannot be done (or was stopped): a code and a one-line message. */
export class QuantizeError extends Error {
  override readonly name = 'QuantizeError';
  constructor(
    readonly code: QuantizeErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface QuantizeProgress {
  /** 1-based index of the tensor just finished, and the tensor count. */
  readonly index: number;
  readonly count: number;
  readonly plan: TensorPlan;
  readonly bytesIn: number;
  readonly bytesOut: number;
}

export interface QuantizeModelOptions {
  /** Replace an existing output file (never the input). */
  force?: boolean;
  /** Allow converting already-quantized tensors (dequantized to f32 first), like llama-quantize --allow-requantize. */
  allowRequantize?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: QuantizeProgress) => void;
  /** Called before the first tensor with the whole plan. */
  onPlan?: (plan: readonly TensorPlan[]) => void;
  /** Worker threads for quantizing (default 1: the calling thread). The bytes do not depend on it. */
  threads?: number;
}

export interface QuantizeSummary {
  readonly fileType: FileType;
  readonly tensors: readonly TensorPlan[];
  /** Tensor data bytes before and after (as llama.cpp reports them). */
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly elements: number;
  readonly fileBytesIn: number;
  readonly fileBytesOut: number;
  /** Tensors whose row length forced a fallback type. */
  readonly fallbacks: number;
}

/** The names `tsinfer quantize` accepts as TYPE. */
export function quantizeTypeNames(): string[] {
  return FILE_TYPES.map((f) => f.name);
}

function archInfo(file: GGUFFile): { arch: string; nLayer: number; nHead: number; nHeadKv: number; nExpert: number } {
  const arch = file.getString('general.architecture');
  if (!arch) throw new QuantizeError('UNSUPPORTED', `${file.path ?? 'input'} has no general.architecture: not a model file`);
  const num = (key: string, dflt?: number): number => {
    const v = file.metadata.get(key);
    if (v === undefined) {
      if (dflt !== undefined) return dflt;
      throw new QuantizeError('UNSUPPORTED', `${file.path ?? 'input'} lacks metadata key ${key}`);
    }
    if (typeof v.value === 'number') return v.value;
    // per-layer arrays (some architectures): llama.cpp uses the first layer's value for these counts
    if (ArrayBuffer.isView(v.value) && (v.value as ArrayLike<number>).length > 0) return Number((v.value as ArrayLike<number>)[0]);
    throw new QuantizeError('UNSUPPORTED', `metadata key ${key} is not a number`);
  };
  const nHead = num(`${arch}.attention.head_count`, 0);
  return {
    arch,
    nLayer: num(`${arch}.block_count`),
    nHead,
    nHeadKv: num(`${arch}.attention.head_count_kv`, nHead),
    nExpert: num(`${arch}.expert_count`, 0),
  };
}

/** The metadata llama.cpp writes: the input's, minus split keys, with quantization_version and file_type (re)set last. */
function outputMetadata(file: GGUFFile, fileType: FileType): [string, GGUFWriteValue][] {
  const drop = new Set(['general.quantization_version', 'general.file_type', 'split.no', 'split.count', 'split.tensors.count']);
  const out = metadataOf(file).filter(([k]) => !drop.has(k));
  out.push(['general.quantization_version', gv.u32(GGML_QNT_VERSION)]);
  out.push(['general.file_type', gv.u32(fileType.ftype)]);
  return out;
}

/** Rows per slab: about 16 MiB of float32 at most, at least one row. */
function slabRows(nPerRow: number, nRows: number): number {
  return Math.max(1, Math.min(nRows, Math.floor((16 << 20) / 4 / nPerRow)));
}

/** Float32 rows of a tensor (converted from F16/BF16/quantized), slab by slab. */
function* floatSlabs(file: GGUFFile, t: GGUFTensorInfo): Generator<{ rows: number; data: Float32Array }> {
  const nPerRow = t.shape[0]!;
  const nRows = t.nElements / nPerRow;
  const rb = rowBytes(t.type, nPerRow);
  const per = slabRows(nPerRow, nRows);
  const raw = new Uint8Array(per * rb + 8);
  const f32 = new Float32Array(per * nPerRow);
  for (let r = 0; r < nRows; r += per) {
    const rows = Math.min(per, nRows - r);
    const n = rows * nPerRow;
    const bytes = raw.subarray(0, rows * rb);
    const got = file.source.readInto(t.fileOffset + r * rb, bytes);
    if (got !== bytes.length) throw new GGUFError('TRUNCATED', `short read of tensor ${t.name}`, t.fileOffset + r * rb + got, file.path);
    dequantizeRow(t.typeId, bytes, f32, n);
    yield { rows, data: f32.subarray(0, n) };
  }
}

/** The quantized bytes of one tensor, slab by slab (one output buffer reused). */
function* quantizedChunks(file: GGUFFile, t: GGUFTensorInfo, to: number): Generator<Uint8Array> {
  const nPerRow = t.shape[0]!;
  const info = ggmlType(to)!;
  const rb = rowBytes(info, nPerRow);
  const out = new Uint8Array(slabRows(nPerRow, t.nElements / nPerRow) * rb);
  for (const { rows, data } of floatSlabs(file, t)) {
    const n = quantizeChunk(to, data, out, rows, nPerRow);
    yield out.subarray(0, n);
  }
}

/** Worker threads that quantize row ranges of a slab in shared memory (--threads N). */
class QuantizePool {
  private workers: Worker[] = [];
  private nextId = 0;
  private pending = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();

  constructor(readonly size: number) {
    for (let i = 0; i < size; i++) {
      const w = new Worker(new URL('./quantize-worker.js', import.meta.url));
      w.on('message', (m: { id: number; error?: string }) => {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.error) p?.reject(new Error(m.error));
        else p?.resolve();
      });
      w.on('error', (e) => {
        for (const p of this.pending.values()) p.reject(e);
        this.pending.clear();
      });
      this.workers.push(w);
    }
  }

  /** Quantizes `rows` rows of src into dst, split evenly over the workers. */
  async run(typeId: number, src: SharedArrayBuffer, dst: SharedArrayBuffer, rows: number, nPerRow: number, rowBytesOut: number): Promise<void> {
    const per = Math.ceil(rows / this.size);
    const jobs: Promise<void>[] = [];
    for (let i = 0, row = 0; row < rows; i++, row += per) {
      const job: QuantizeJob = { id: this.nextId++, typeId, src, dst, row, rows: Math.min(per, rows - row), nPerRow, rowBytes: rowBytesOut };
      jobs.push(new Promise<void>((resolve, reject) => this.pending.set(job.id, { resolve, reject })));
      this.workers[i]!.postMessage(job);
    }
    await Promise.all(jobs);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** quantizedChunks over a worker pool: the main thread reads and converts, the workers quantize. */
async function* quantizedChunksParallel(file: GGUFFile, t: GGUFTensorInfo, to: number, pool: QuantizePool): AsyncGenerator<Uint8Array> {
  const nPerRow = t.shape[0]!;
  const rb = rowBytes(ggmlType(to)!, nPerRow);
  const per = slabRows(nPerRow, t.nElements / nPerRow);
  const src = new SharedArrayBuffer(per * nPerRow * 4);
  const dst = new SharedArrayBuffer(per * rb);
  const srcF32 = new Float32Array(src);
  const out = new Uint8Array(dst);
  for (const { rows, data } of floatSlabs(file, t)) {
    srcF32.set(data);
    await pool.run(to, src, dst, rows, nPerRow, rb);
    yield out.subarray(0, rows * rb);
  }
}

function sameFile(a: string, b: string): boolean {
  try {
    if (realpathSync(a) === realpathSync(b)) return true;
    const sa = statSync(a);
    const sb = statSync(b);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}

function errnoText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err?.code ?? err?.message ?? String(e);
}

/**
 * Quantizes the GGUF model at `input` to `output` with llama.cpp's mix for
 * `typeName` (Q4_K_M, Q8_0, F16, ...). Throws QuantizeError (bad type, output
 * is the input, output exists without force, unsupported tensor types, I/O,
 * abort) or GGUFError (the input is not a valid GGUF file); in every error
 * case no file is left at `output` (an existing one is kept untouched).
 */
export async function quantizeModel(input: string, output: string, typeName: string, opts: QuantizeModelOptions = {}): Promise<QuantizeSummary> {
  const fileType = fileTypeByName(typeName);
  if (!fileType) throw new QuantizeError('BAD_TYPE', `unknown quantization type "${typeName}" (one of: ${quantizeTypeNames().join(', ')})`);
  if (path.resolve(input) === path.resolve(output) || (existsSync(output) && sameFile(input, output))) {
    throw new QuantizeError('SAME_FILE', `output ${output} is the input file; choose another path`);
  }
  if (existsSync(output) && !opts.force) throw new QuantizeError('EXISTS', `output ${output} already exists (use --force to replace it)`);

  const file = await openGGUF(input);
  try {
    const model = archInfo(file);
    const ordered = llamaTensorOrder(file.tensors);
    const plan = planTensorTypes(ordered, fileType, model);
    for (let i = 0; i < plan.length; i++) {
      const p = plan[i]!;
      if (p.from === p.to) continue;
      if (!isQuantizable(p.to)) throw new QuantizeError('UNSUPPORTED', `tensor ${p.name}: cannot write type ${ggmlTypeName(p.to)}`);
      if (!isDequantizable(p.from)) throw new QuantizeError('UNSUPPORTED', `tensor ${p.name}: cannot read type ${ggmlTypeName(p.from)}`);
      if (isQuantizedType(p.from) && !opts.allowRequantize) {
        throw new QuantizeError('UNSUPPORTED', `tensor ${p.name} is already ${ggmlTypeName(p.from)}: requantizing is disabled (use --allow-requantize)`);
      }
    }
    opts.onPlan?.(plan);

    const dir = path.dirname(path.resolve(output));
    const tmp = path.join(dir, `.${path.basename(output)}.${process.pid}-${Math.random().toString(36).slice(2, 8)}.tmp`);
    let bytesIn = 0;
    let bytesOut = 0;
    let done = 0;
    const threads = Math.max(1, Math.floor(opts.threads ?? 1));
    const pool = threads > 1 ? new QuantizePool(threads) : undefined;
    const tensors = ordered.map((t, i) => {
      const p = plan[i]!;
      return {
        name: t.name,
        typeId: p.to,
        shape: t.shape,
        data: (): Iterable<Uint8Array> | AsyncIterable<Uint8Array> =>
          p.from === p.to ? tensorChunks(file, t.name) : pool ? quantizedChunksParallel(file, t, p.to, pool) : quantizedChunks(file, t, p.to),
        bytesIn: t.nBytes,
      };
    });
    let layout: GGUFLayout;
    try {
      layout = await writeGGUF(tmp, outputMetadata(file, fileType), tensors, {
        signal: opts.signal,
        flags: 'w',
        onProgress: (index, count) => {
          const t = tensors[index - 1]!;
          bytesIn += t.bytesIn;
          bytesOut += (t.shape.reduce((a, b) => a * b, 1) / ggmlType(t.typeId)!.blockSize) * ggmlType(t.typeId)!.typeSize;
          done = index;
          opts.onProgress?.({ index, count, plan: plan[index - 1]!, bytesIn, bytesOut });
        },
      });
      renameSync(tmp, output);
    } catch (e) {
      try {
        unlinkSync(tmp);
      } catch {
        // never created, or already gone
      }
      if (opts.signal?.aborted) throw new QuantizeError('ABORTED', `quantization stopped after ${done} of ${tensors.length} tensors; no output written`);
      if (e instanceof QuantizeError || e instanceof GGUFError) throw e;
      const code = errnoText(e);
      if (/^E[A-Z]+$/.test(code)) throw new QuantizeError('IO', `cannot write ${output}: ${code}`);
      throw e;
    } finally {
      await pool?.close();
    }
    return {
      fileType,
      tensors: plan,
      bytesIn,
      bytesOut,
      elements: file.tensors.reduce((a, t) => a + t.nElements, 0),
      fileBytesIn: file.size,
      fileBytesOut: layout.fileSize,
      fallbacks: plan.filter((p) => p.fallbackFrom !== undefined).length,
    };
  } finally {
    file.close();
  }
}

/** Type name → tensor count of a plan's output, e.g. { F32: 61, Q5_0: 180, Q6_K: 31 }. */
export function typeMix(plan: readonly TensorPlan[]): Record<string, number> {
  const mix: Record<string, number> = {};
  for (const p of plan) mix[ggmlTypeName(p.to)] = (mix[ggmlTypeName(p.to)] ?? 0) + 1;
  return mix;
}
