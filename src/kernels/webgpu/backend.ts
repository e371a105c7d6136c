/**
 * The WebGPU backend: compiles the model's op list (model/program.ts) once
 * into a list of recorded commands (pipeline, bind group, grid as a function
 * of the step's token and output counts) and replays it for each step inside
 * one command encoder: one queue submit per step. Weights keep their GGUF
 * encoding in GPU memory (uploaded from the file in chunks with writeBuffer;
 * tensors larger than a storage binding are split into parts of whole rows);
 * the KV cache and all activations stay on the GPU. `forwardArgmax` samples
 * greedily on the GPU and reads back the 4-byte token id only.
 * With `sequences` > 1 the cache holds a region of contextLength positions per
 * sequence, and steps with rows (or of a sequence other than 0) replace rope,
 * the KV store, attention and the output copy by per-row kernels reading a rows
 * buffer uploaded with the step (./kernels/rows.ts); still one submit per step.
 *
 * Kernels: ./kernels/*.ts (one WGSL kernel per file, layout documented there).
 */
/// <reference types="@webgpu/types" />
import { GGMLType, rowBytes as rowBytesOf } from '../../gguf/types.js';
import type { GGUFTensorInfo } from '../../gguf/reader.js';
import { dequantize } from '../../quant/index.js';
import type { Op, Program, Step } from '../../model/program.js';
import { ModelError } from '../../model/errors.js';
import { ropeKey, ropeTable } from '../../model/rope.js';
import { checkStep, type Backend, type BackendInit } from '../backend.js';
import { MAP_READ_MODE, Usage, createGPUContext, destroyGPUContext, type DeviceOptions, type GPUContext } from './device.js';
import { TOPK_MAX, topkWGSL } from './kernels/topk.js';
import { ATTENTION_MAX_HEAD_DIM, attentionWGSL } from './kernels/attention.js';
import { SPLIT, attentionDecodeWGSL, type DecodePass } from './kernels/attention-decode.js';
import { attentionPrefillWGSL, prefillTiles } from './kernels/attention-prefill.js';
import { ELEMENTWISE_WG, elementwiseParams, elementwiseWGSL, type ElementwiseKind } from './kernels/elementwise.js';
import { geluTableF16 } from '../reference/ops.js';
import { embedWGSL } from './kernels/embed.js';
import { MATMUL_TT, MATMUL_WG, matmulParams, matmulThreadsPerRow, matmulWGSL } from './kernels/matmul.js';
import { checkColumns } from './kernels/quant.js';
import { rmsnormWGSL } from './kernels/rmsnorm.js';
import { ropeWGSL } from './kernels/rope.js';
import { GATHER_WG, ROW_WORDS, gatherRowsWGSL, rowsRecord } from './kernels/rows.js';

export interface WebGPUBackendOptions extends DeviceOptions {
  /**
   * Invocations per weight row in the matmul (power of two <= 64). Default: 1 on
   * CPU adapters (SwiftShader, llvmpipe: barriers are costly there), else up to 64.
   */
  readonly matmulThreadsPerRow?: number;
  /** Decode attention split over the KV range (3 dispatches per layer; default true). False: one workgroup per head. */
  readonly splitKv?: boolean;
  /** Prompt batches: query tiles against K/V tiles in workgroup memory (default true). False: one workgroup per (row, head). */
  readonly prefillTiles?: boolean;
  /**
   * Rows of the `outputs` buffers (default 32): a step asking for more logits rows
   * (allLogits over a long batch) runs the output head in chunks of this many rows
   * within its one submit, so the logits buffer stays small for large vocabularies.
   */
  readonly maxOutputRows?: number;
  /** Largest weight binding in bytes (default: the device's maxStorageBufferBindingSize); lower it to exercise split tensors. */
  readonly maxBindingBytes?: number;
}

/** Work counted by the backend since init (per token: take differences). */
export type WebGPUCounters = {
  /** Forward steps run. */
  steps: number;
  /** Queue submits. */
  submits: number;
  /** Compute dispatches recorded. */
  dispatches: number;
  /** Bytes copied from the GPU to the CPU (logits or the sampled token id). */
  bytesReadBack: number;
  /** Bytes written to the GPU per step (token ids + the step uniform), weights excluded. */
  bytesWritten: number;
};

interface ActBuf {
  readonly buf: GPUBuffer;
  readonly width: number;
  /** 0: one row per token, 1: one row per output. */
  readonly kind: 0 | 1;
}

interface WeightPart {
  readonly buf: GPUBuffer;
  readonly rowStart: number;
  readonly rowCount: number;
}

interface WeightMatrix {
  readonly info: GGUFTensorInfo;
  readonly typeId: number;
  readonly cols: number;
  readonly rows: number;
  readonly rowBytes: number;
  readonly parts: WeightPart[];
}

/** Workgroups of a dispatch for a step of T tokens at position pos with nOut output rows (0 skips it). */
type Grid = (T: number, nOut: number, pos: number) => [number, number, number];

/**
 * A recorded command; `only` restricts it to single-sequence steps or to steps with
 * per-row positions and sequences (multi-sequence steps, and single-sequence steps of a sequence other than 0).
 */
type Command = (
  | { readonly kind: 'dispatch'; readonly label: string; readonly pipeline: GPUComputePipeline; readonly bindGroup: GPUBindGroup; readonly grid: Grid }
  | { readonly kind: 'copy'; readonly src: GPUBuffer; readonly dst: GPUBuffer; readonly width: number }
) & { readonly only?: 'single' | 'rows' };

const UPLOAD_CHUNK = 4 << 20;
const align4 = (n: number) => Math.ceil(n / 4) * 4;

/**
 * The bind group layout of a kernel, read from its `@group(0) @binding(n) var<…>`
 * declarations (an explicit layout keeps bindings a kernel does not touch, e.g. the step uniform).
 */
function bindingLayout(src: string): GPUBindGroupLayoutEntry[] {
  const entries: GPUBindGroupLayoutEntry[] = [];
  for (const m of src.matchAll(/@group\(0\)\s*@binding\((\d+)\)\s*var<([a-z_, ]+)>/g)) {
    const space = m[2]!.replace(/\s/g, '');
    const type: GPUBufferBindingType = space === 'uniform' ? 'uniform' : space === 'storage,read_write' ? 'storage' : 'read-only-storage';
    entries.push({ binding: Number(m[1]), visibility: 0x4 /* COMPUTE */, buffer: { type } });
  }
  return entries.sort((a, b) => a.binding - b.binding);
}

/** x/y split of a 1-D workgroup count over the 65535 per-dimension limit. */
function grid1d(workgroups: number): [number, number, number] {
  if (workgroups <= 65535) return [workgroups, 1, 1];
  return [65535, Math.ceil(workgroups / 65535), 1];
}

const WEBGPU_OPS = ['embed', 'rmsnorm', 'matmul', 'rope', 'kv_store', 'attention', 'add', 'silu_mul', 'gelu_mul', 'scale', 'softcap', 'slice', 'gather_outputs'];

/** Ops of the program the WebGPU backend does not implement (empty: it runs the program). */
export function webgpuUnsupported(program: Program): string[] {
  return [...new Set(program.ops.filter((o) => !WEBGPU_OPS.includes(o.op)).map((o) => `op ${o.op}`))];
}

export class WebGPUBackend implements Backend {
  readonly name = 'webgpu' as const;
  /** Multi-sequence steps run rope, the KV store, attention and the output gather per row (./kernels/rows.ts). */
  readonly maxSequences = 256;
  private sequences = 1;
  /** Per-row records of a step with rows (./kernels/rows.ts); allocated when sequences > 1. */
  private rowsBuf: GPUBuffer | undefined;
  private ctx!: GPUContext;
  private device!: GPUDevice;
  private program!: Program;
  private contextLength = 0;
  private maxBatch = 0;
  private fileSize = 0;
  private readonly pipelines = new Map<string, Promise<GPUComputePipeline>>();
  private readonly acts = new Map<string, ActBuf>();
  private readonly matrices = new Map<string, WeightMatrix>();
  private readonly vectors = new Map<string, GPUBuffer>();
  private readonly ropeTables = new Map<string, GPUBuffer>();
  private geluTable: GPUBuffer | undefined;
  private kCache: GPUBuffer[] = [];
  private splitScratch: { stats: GPUBuffer; part: GPUBuffer } | undefined;
  /** Rows of the `outputs` buffers; index of the first command of the output head (the gather), -1 if none. */
  private outRows = 1;
  private headStart = -1;
  private hasOutputs = false;
  private stepsStaging!: GPUBuffer;
  private vCache: GPUBuffer[] = [];
  private stepBuf!: GPUBuffer;
  private tokensBuf!: GPUBuffer;
  private resultBuf!: GPUBuffer;
  private readResult!: GPUBuffer;
  private readLogits: GPUBuffer | undefined;
  private commands: Command[] = [];
  private argmaxCmd!: Command;
  private topkCmd!: Command;
  private topkParams!: GPUBuffer;
  private topkResult!: GPUBuffer;
  private readTopk!: GPUBuffer;
  private readonly allBuffers: GPUBuffer[] = [];
  private gpuBytes = 0;
  private weightGpuBytes = 0;
  private kvBytes = 0;
  private vocab = 0;
  private hasEmbed = false;
  private embedRows = 0;
  private readonly counters: WebGPUCounters = { steps: 0, submits: 0, dispatches: 0, bytesReadBack: 0, bytesWritten: 0 };
  private busy = false;

  constructor(private readonly options: WebGPUBackendOptions = {}) {}

  // ---- setup -------------------------------------------------------------

  private createBuffer(size: number, usage: number, label: string): GPUBuffer {
    const buf = this.device.createBuffer({ size: Math.max(16, align4(size)), usage, label });
    this.allBuffers.push(buf);
    this.gpuBytes += buf.size;
    return buf;
  }

  private pipeline(key: string, code: () => string): Promise<GPUComputePipeline> {
    let p = this.pipelines.get(key);
    if (!p) {
      const src = code();
      const module = this.device.createShaderModule({ code: src, label: key });
      const layout = this.device.createPipelineLayout({ bindGroupLayouts: [this.device.createBindGroupLayout({ entries: bindingLayout(src), label: key })] });
      p = this.device.createComputePipelineAsync({ layout, compute: { module, entryPoint: 'main' }, label: key }).catch(async (e: unknown) => {
        const info = await module.getCompilationInfo?.();
        const msgs = info?.messages.map((m) => `${m.lineNum}:${m.linePos} ${m.message}`).join('\n') ?? '';
        throw new Error(`WebGPU pipeline ${key} failed: ${(e as Error).message}\n${msgs}`);
      });
      this.pipelines.set(key, p);
    }
    return p;
  }

  private uniform(data: ArrayBufferView, label: string): GPUBuffer {
    const buf = this.createBuffer(Math.ceil(data.byteLength / 16) * 16, Usage.UNIFORM | Usage.COPY_DST, label);
    this.device.queue.writeBuffer(buf, 0, data.buffer, data.byteOffset, data.byteLength);
    return buf;
  }

  /** Bind group of buffers[i] at binding i (null: a binding the kernel does not declare). */
  private bind(pipeline: GPUComputePipeline, buffers: (GPUBuffer | null)[], label: string): GPUBindGroup {
    return this.device.createBindGroup({
      label,
      layout: pipeline.getBindGroupLayout(0),
      entries: buffers.flatMap((buffer, binding) => (buffer ? [{ binding, resource: { buffer } }] : [])),
    });
  }

  async init(init: BackendInit): Promise<void> {
    const sequences = init.sequences ?? 1;
    if (!Number.isInteger(sequences) || sequences < 1 || sequences > this.maxSequences) throw new RangeError(`sequences must be 1 to ${this.maxSequences}, got ${sequences}`);
    try {
      await this.setup(init);
    } catch (e) {
      // Free what was allocated (and the device) when the model cannot be set up.
      this.dispose();
      throw e;
    }
  }

  private async setup({ file, program, contextLength, maxBatch, sequences = 1, onProgress }: BackendInit): Promise<void> {
    const missing = webgpuUnsupported(program);
    if (missing.length) throw new ModelError(`the webgpu backend does not implement ${missing.join(', ')} yet (the reference backend does)`);
    this.program = program;
    this.sequences = sequences;
    this.contextLength = contextLength;
    this.maxBatch = maxBatch;
    this.fileSize = file.size;
    this.ctx = await createGPUContext(this.options);
    this.device = this.ctx.device;
    const limits = this.device.limits;
    const maxBinding = Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize, this.options.maxBindingBytes ?? Infinity);

    // Weights: check every type and shape before allocating anything.
    const tensors = program.weights.map((name) => {
      const t = file.tensor(name);
      if (!t) throw new Error(`program reads tensor ${name}, which the file does not have`);
      const cols = t.shape[0]!;
      const rows = t.nElements / cols;
      if (!(t.shape.length === 1 || rows === 1)) checkColumns(t.typeId, cols, `tensor ${name}`);
      return t;
    });
    const total = tensors.reduce((s, t) => s + t.nBytes, 0);
    let loaded = 0;
    let sinceSync = 0;
    const staging = new Uint8Array(UPLOAD_CHUNK);
    for (const t of tensors) {
      const cols = t.shape[0]!;
      const rows = t.nElements / cols;
      if (t.shape.length === 1 || rows === 1) {
        // Norm weights: tiny vectors, kept as float32.
        const bytes = file.readTensor(t);
        const f = t.typeId === GGMLType.F32 ? new Float32Array(bytes.buffer, bytes.byteOffset, t.nElements) : dequantize(t.typeId, bytes, t.nElements);
        const buf = this.createBuffer(f.byteLength, Usage.STORAGE | Usage.COPY_DST, t.name);
        this.device.queue.writeBuffer(buf, 0, f.buffer, f.byteOffset, f.byteLength);
        this.vectors.set(t.name, buf);
        this.weightGpuBytes += buf.size;
      } else {
        const rb = rowBytesOf(t.type, cols);
        const perPart = Math.floor(maxBinding / rb);
        if (perPart < 1) throw new Error(`tensor ${t.name}: one row (${rb} bytes) exceeds the largest storage binding (${maxBinding})`);
        const parts: WeightPart[] = [];
        for (let rowStart = 0; rowStart < rows; rowStart += perPart) {
          const rowCount = Math.min(perPart, rows - rowStart);
          const nBytes = rowCount * rb;
          const buf = this.createBuffer(nBytes, Usage.STORAGE | Usage.COPY_DST, `${t.name}[${rowStart}..]`);
          this.weightGpuBytes += buf.size;
          for (let off = 0; off < nBytes; off += UPLOAD_CHUNK) {
            const n = Math.min(UPLOAD_CHUNK, nBytes - off);
            const got = file.source.readInto(t.fileOffset + rowStart * rb + off, staging.subarray(0, n));
            if (got !== n) throw new Error(`short read of tensor ${t.name}: ${got} of ${n} bytes at ${t.fileOffset + rowStart * rb + off}`);
            this.device.queue.writeBuffer(buf, off, staging.buffer, 0, align4(n));
            sinceSync += n;
            if (sinceSync >= 64 << 20) {
              // Let Dawn release its staging memory before queueing more.
              await this.device.queue.onSubmittedWorkDone();
              sinceSync = 0;
            }
          }
          parts.push({ buf, rowStart, rowCount });
        }
        this.matrices.set(t.name, { info: t, typeId: t.typeId, cols, rows, rowBytes: rb, parts });
      }
      loaded += t.nBytes;
      onProgress?.({ loadedBytes: loaded, totalBytes: total, tensor: t.name });
    }

    const act = Usage.STORAGE | Usage.COPY_SRC | Usage.COPY_DST;
    this.outRows = Math.min(maxBatch, this.options.maxOutputRows ?? 32);
    this.hasOutputs = program.buffers.some((b) => b.rows === 'outputs');
    for (const b of program.buffers) {
      const rows = b.rows === 'tokens' ? maxBatch : this.outRows;
      this.acts.set(b.name, { buf: this.createBuffer(b.width * rows * 4, act, b.name), width: b.width, kind: b.rows === 'tokens' ? 0 : 1 });
    }
    this.stepsStaging = this.createBuffer(Math.ceil(maxBatch / this.outRows) * 16, Usage.COPY_SRC | Usage.COPY_DST, 'steps');
    const kvw = program.kv.width;
    const f16 = program.kv.type === 'f16';
    if (f16 && kvw % 2 !== 0) throw new Error(`an f16 KV cache needs an even row width, got ${kvw}`);
    const kvLayerBytes = sequences * contextLength * kvw * (f16 ? 2 : 4);
    if (kvLayerBytes > maxBinding)
      throw new RangeError(
        `the KV cache of one layer (${sequences} sequences x ${contextLength} positions x ${kvw}) takes ${kvLayerBytes} bytes, more than the largest storage binding (${maxBinding})`,
      );
    for (let l = 0; l < program.kv.layers; l++) {
      this.kCache.push(this.createBuffer(kvLayerBytes, Usage.STORAGE, `k_cache.${l}`));
      this.vCache.push(this.createBuffer(kvLayerBytes, Usage.STORAGE, `v_cache.${l}`));
      this.kvBytes += 2 * align4(kvLayerBytes);
    }
    this.stepBuf = this.createBuffer(16, Usage.UNIFORM | Usage.COPY_DST, 'step');
    this.tokensBuf = this.createBuffer(maxBatch * 4, Usage.STORAGE | Usage.COPY_DST, 'tokens');
    if (sequences > 1) this.rowsBuf = this.createBuffer(maxBatch * ROW_WORDS * 4, Usage.STORAGE | Usage.COPY_DST, 'rows');
    this.resultBuf = this.createBuffer(16, Usage.STORAGE | Usage.COPY_SRC, 'sampled');
    this.readResult = this.createBuffer(16, Usage.MAP_READ | Usage.COPY_DST, 'sampled.read');

    for (const op of program.ops) {
      if (op.op === 'gather_outputs' && this.headStart < 0) this.headStart = this.commands.length;
      this.commands.push(...(await this.compile(op)));
    }
    const logits = this.act(program.logits);
    this.vocab = logits.width;
    // Greedy sampling is top-k with k = 1 (result: id, then logit bits; only the id is read back).
    const tk = await this.pipeline('topk', topkWGSL);
    this.argmaxCmd = {
      kind: 'dispatch',
      label: 'argmax',
      pipeline: tk,
      bindGroup: this.bind(tk, [this.uniform(Uint32Array.of(logits.width, 1, 0xff800000, 0), 'argmax.p'), this.stepBuf, logits.buf, this.resultBuf], 'argmax'),
      grid: () => [1, 1, 1],
    };
    this.topkParams = this.createBuffer(16, Usage.UNIFORM | Usage.COPY_DST, 'topk.p');
    this.topkResult = this.createBuffer(TOPK_MAX * 8, Usage.STORAGE | Usage.COPY_SRC, 'topk');
    this.readTopk = this.createBuffer(TOPK_MAX * 8, Usage.MAP_READ | Usage.COPY_DST, 'topk.read');
    this.topkCmd = {
      kind: 'dispatch',
      label: 'topk',
      pipeline: tk,
      bindGroup: this.bind(tk, [this.topkParams, this.stepBuf, logits.buf, this.topkResult], 'topk'),
      grid: () => [1, 1, 1],
    };
    await this.device.queue.onSubmittedWorkDone();
    this.checkErrors();
  }

  private act(name: string): ActBuf {
    const b = this.acts.get(name);
    if (!b) throw new Error(`op list names unknown buffer ${name}`);
    return b;
  }
  private matrix(name: string): WeightMatrix {
    const w = this.matrices.get(name);
    if (!w) throw new Error(`op list names unknown matrix ${name}`);
    return w;
  }
  private vector(name: string): GPUBuffer {
    const w = this.vectors.get(name);
    if (!w) throw new Error(`op list names unknown vector ${name}`);
    return w;
  }

  private async elementwise(
    kind: ElementwiseKind,
    aliased: boolean,
    label: string,
    params: Uint32Array,
    buffers: (GPUBuffer | null)[],
    count: (T: number, nOut: number) => [number, number, number],
  ): Promise<Command> {
    const pl = await this.pipeline(`${kind}${aliased ? '.inplace' : ''}`, () => elementwiseWGSL(kind, aliased));
    return {
      kind: 'dispatch',
      label,
      pipeline: pl,
      bindGroup: this.bind(pl, [this.uniform(params, `${label}.p`), this.stepBuf, ...buffers], label),
      grid: (T, nOut) => grid1d(Math.ceil(count(T, nOut)[0] / ELEMENTWISE_WG)),
    };
  }

  /**
   * The commands of an op that reads positions: `single` as they are when the cache holds one
   * sequence; else those for single-sequence steps of sequence 0 and `perRow(rows buffer)` for
   * steps with rows.
   */
  private async withRows(single: Command[], perRow: (rows: GPUBuffer) => Promise<Command[]>): Promise<Command[]> {
    if (!this.rowsBuf) return single;
    return [...single.map((c) => ({ ...c, only: 'single' as const })), ...(await perRow(this.rowsBuf)).map((c) => ({ ...c, only: 'rows' as const }))];
  }

  /** The recorded commands of one op. */
  private async compile(op: Op): Promise<Command[]> {
    const sub = this.ctx.subgroups;
    const h = this.ctx.shaderF16;
    const rows = (b: ActBuf) => (T: number, nOut: number) => (b.kind === 0 ? T : nOut);
    switch (op.op) {
      case 'embed': {
        const w = this.matrix(op.table);
        const out = this.act(op.out);
        if (out.width !== w.cols) throw new Error(`embed: ${op.out} has width ${out.width}, table rows have ${w.cols}`);
        this.hasEmbed = true;
        this.embedRows = w.rows;
        const pl = await this.pipeline(`embed.${w.typeId}.${h}`, () => embedWGSL(w.typeId, h));
        return w.parts.map((part, i) => ({
          kind: 'dispatch',
          label: `embed ${op.table}[${i}]`,
          pipeline: pl,
          bindGroup: this.bind(pl, [this.uniform(Uint32Array.of(part.rowStart, part.rowCount, w.cols, w.rowBytes), 'embed.p'), this.stepBuf, part.buf, this.tokensBuf, out.buf], 'embed'),
          grid: (T) => [T, 1, 1],
        }));
      }
      case 'rmsnorm': {
        const x = this.act(op.x);
        const out = this.act(op.out);
        if (op.x === op.out) throw new Error('rmsnorm in place is not supported by the WebGPU backend');
        const pl = await this.pipeline(`rmsnorm.${sub}`, () => rmsnormWGSL(sub));
        // Per-head norms: each group of groupWidth values is normalised as a row of its own.
        const g = op.groupWidth ?? x.width;
        const p = new DataView(new ArrayBuffer(16));
        p.setUint32(0, g, true);
        p.setUint32(4, x.kind, true);
        p.setFloat32(8, op.eps, true);
        const r = rows(x);
        const groups = x.width / g;
        return [
          {
            kind: 'dispatch',
            label: `rmsnorm ${op.weight}`,
            pipeline: pl,
            bindGroup: this.bind(pl, [this.uniform(p, 'rmsnorm.p'), this.stepBuf, x.buf, this.vector(op.weight), out.buf], 'rmsnorm'),
            grid: (T, nOut) => grid1d(r(T, nOut) * groups),
          },
        ];
      }
      case 'matmul': {
        const w = this.matrix(op.weight);
        const x = this.act(op.x);
        const out = this.act(op.out);
        if (x.width !== w.cols || out.width !== w.rows) throw new Error(`matmul ${op.weight}: [${w.cols} x ${w.rows}] does not fit ${op.x} (${x.width}) -> ${op.out} (${out.width})`);
        const tpr = this.options.matmulThreadsPerRow ?? matmulThreadsPerRow(w.cols, this.ctx.cpuAdapter);
        const pl = await this.pipeline(`matmul.${w.typeId}.${sub}.${tpr}.${h}`, () => matmulWGSL(w.typeId, sub, tpr, h));
        const r = rows(x);
        const bias = op.bias
          ? [await this.elementwise('add_row', true, `bias ${op.bias}`, elementwiseParams(out.width, out.kind), [out.buf, this.vector(op.bias)], (T, nOut) => [r(T, nOut) * out.width, 1, 1])]
          : [];
        return w.parts
          .map((part, i): Command => {
            const groups = Math.ceil(part.rowCount / (MATMUL_WG / tpr));
            const nx = Math.min(groups, 65535);
            const ny = Math.ceil(groups / nx);
            const params = matmulParams(part.rowCount, w.cols, w.rowBytes, w.rows, part.rowStart, x.kind, nx);
            return {
              kind: 'dispatch' as const,
              label: `matmul ${op.weight}[${i}]`,
              pipeline: pl,
              bindGroup: this.bind(pl, [this.uniform(params, 'matmul.p'), this.stepBuf, part.buf, x.buf, out.buf], 'matmul'),
              grid: (T: number, nOut: number): [number, number, number] => [nx, ny, Math.ceil(r(T, nOut) / MATMUL_TT)],
            };
          })
          .concat(bias);
      }
      case 'rope': {
        const x = this.act(op.x);
        if (x.width !== op.nHeads * op.headDim) throw new Error(`rope: ${op.x} has width ${x.width}, not ${op.nHeads} x ${op.headDim}`);
        const key = ropeKey(op.freqs);
        let table = this.ropeTables.get(key);
        if (!table) {
          const data = ropeTable(op.freqs, this.contextLength);
          table = this.createBuffer(data.byteLength, Usage.STORAGE | Usage.COPY_DST, `rope ${op.ropeDim}/${op.base}`);
          this.device.queue.writeBuffer(table, 0, data.buffer, data.byteOffset, data.byteLength);
          this.ropeTables.set(key, table);
        }
        const pl = await this.pipeline(`rope.${op.mode}`, () => ropeWGSL(op.mode === 'neox'));
        const half = op.ropeDim / 2;
        const r = rows(x);
        const params = this.uniform(Uint32Array.of(op.nHeads, op.headDim, half, x.kind), 'rope.p');
        const grid: Grid = (T, nOut) => {
          const n = Math.ceil((r(T, nOut) * op.nHeads * half) / 64);
          return n <= 65535 ? [n, 1, 1] : [65535, Math.ceil(n / 65535), 1];
        };
        return this.withRows(
          [
            {
              kind: 'dispatch',
              label: `rope ${op.x}`,
              pipeline: pl,
              bindGroup: this.bind(pl, [params, this.stepBuf, x.buf, table], 'rope'),
              grid,
            },
          ],
          async (rowsBuf) => {
            const rpl = await this.pipeline(`rope.${op.mode}.rows`, () => ropeWGSL(op.mode === 'neox', true));
            return [{ kind: 'dispatch', label: `rope.rows ${op.x}`, pipeline: rpl, bindGroup: this.bind(rpl, [params, this.stepBuf, x.buf, table, rowsBuf], 'rope.rows'), grid }];
          },
        );
      }
      case 'kv_store': {
        const k = this.act(op.k);
        const v = this.act(op.v);
        const width = this.program.kv.width;
        if (k.width !== width || v.width !== width) throw new Error(`kv_store: ${op.k}/${op.v} are not ${width} wide`);
        const f16 = this.program.kv.type === 'f16';
        const kind = f16 ? (h ? 'kv_store_f16_native' : 'kv_store_f16') : 'kv_store_f32';
        const buffers = [k.buf, v.buf, this.kCache[op.layer]!, this.vCache[op.layer]!];
        const count = (T: number): [number, number, number] => [T * (f16 ? width / 2 : width), 1, 1];
        const single = await this.elementwise(kind, false, `kv_store ${op.layer}`, elementwiseParams(width, 0), buffers, count);
        return this.withRows([single], async (rowsBuf) => {
          const rpl = await this.pipeline(`${kind}.rows`, () => elementwiseWGSL(kind, false, true));
          const params = this.uniform(elementwiseParams(width, 0), `kv_store.rows ${op.layer}.p`);
          return [{ ...single, label: `kv_store.rows ${op.layer}`, pipeline: rpl, bindGroup: this.bind(rpl, [params, this.stepBuf, ...buffers, rowsBuf], 'kv_store.rows') }];
        });
      }
      case 'attention': {
        const q = this.act(op.q);
        const out = this.act(op.out);
        if (op.headDim > ATTENTION_MAX_HEAD_DIM) throw new Error(`attention: head size ${op.headDim} exceeds ${ATTENTION_MAX_HEAD_DIM}`);
        if (q.kind !== 0 || out.kind !== 0) throw new Error('attention reads and writes token rows');
        const f16 = this.program.kv.type === 'f16';
        const kvName = f16 ? (h ? 'f16.native' : 'f16') : 'f32';
        const pl = await this.pipeline(`attention.${kvName}`, () => attentionWGSL(f16, h));
        const p = new DataView(new ArrayBuffer(32));
        p.setUint32(0, op.nHeads, true);
        p.setUint32(4, op.nHeads / op.nKvHeads, true);
        p.setUint32(8, op.headDim, true);
        p.setUint32(12, this.program.kv.width, true);
        p.setFloat32(16, op.scale, true);
        const split = this.options.splitKv ?? true;
        const tiles = this.options.prefillTiles ?? true;
        const maxSplits = Math.ceil(this.contextLength / SPLIT);
        p.setUint32(20, maxSplits, true);
        p.setUint32(24, op.window ?? 0, true);
        const params = this.uniform(p, 'attention.p');
        const kc = this.kCache[op.layer]!;
        const vc = this.vCache[op.layer]!;
        const full: Command = {
          kind: 'dispatch',
          label: `attention ${op.layer}`,
          pipeline: pl,
          bindGroup: this.bind(pl, [params, this.stepBuf, q.buf, kc, vc, out.buf], 'attention'),
          // Decode steps (T = 1) go to the split path, prompt batches to the tiled kernel, when enabled.
          grid: (T) => ((split && T === 1) || (tiles && T > 1) ? [0, 0, 0] : [op.nHeads, T, 1]),
        };
        const cmds: Command[] = await this.withRows([full], async (rowsBuf) => {
          // Steps with rows: one workgroup per (row, head), each row over its own sequence's cache up to its position.
          const rpl = await this.pipeline(`attention.rows.${kvName}`, () => attentionWGSL(f16, h, true));
          return [
            {
              kind: 'dispatch',
              label: `attention.rows ${op.layer}`,
              pipeline: rpl,
              bindGroup: this.bind(rpl, [params, this.stepBuf, q.buf, kc, vc, out.buf, rowsBuf], 'attention.rows'),
              grid: (T) => [op.nHeads, T, 1],
            },
          ];
        });
        if (tiles) {
          const { qt } = prefillTiles(op.headDim);
          const ppl = await this.pipeline(`attention.prefill.${kvName}.${op.headDim}`, () => attentionPrefillWGSL(f16, op.headDim, h));
          cmds.push({
            only: 'single',
            kind: 'dispatch',
            label: `attention.prefill ${op.layer}`,
            pipeline: ppl,
            bindGroup: this.bind(ppl, [params, this.stepBuf, q.buf, kc, vc, out.buf], 'attention.prefill'),
            grid: (T) => (T > 1 ? [op.nHeads, Math.ceil(T / qt), 1] : [0, 0, 0]),
          });
        }
        if (!split) return cmds;
        // Scratch shared by every layer's decode attention (dispatches in a pass run in order).
        const statsBytes = op.nHeads * maxSplits * 8;
        const partBytes = op.nHeads * maxSplits * op.headDim * 4;
        if (!this.splitScratch || this.splitScratch.stats.size < statsBytes || this.splitScratch.part.size < partBytes) {
          this.splitScratch = {
            stats: this.createBuffer(statsBytes, Usage.STORAGE, 'attention.stats'),
            part: this.createBuffer(partBytes, Usage.STORAGE, 'attention.part'),
          };
        }
        const { stats, part } = this.splitScratch;
        const splits = (pos: number) => Math.ceil((pos + 1) / SPLIT);
        const passes: [DecodePass, (GPUBuffer | null)[], Grid][] = [
          ['stats', [params, this.stepBuf, q.buf, kc, vc, stats], (T, _n, pos) => (T === 1 ? [splits(pos), op.nHeads, 1] : [0, 0, 0])],
          ['values', [params, this.stepBuf, q.buf, kc, vc, stats, part], (T, _n, pos) => (T === 1 ? [splits(pos), op.nHeads, 1] : [0, 0, 0])],
          ['combine', [params, this.stepBuf, null, null, null, null, part, out.buf], (T) => (T === 1 ? [op.nHeads, 1, 1] : [0, 0, 0])],
        ];
        for (const [pass, buffers, grid] of passes) {
          const ppl = await this.pipeline(`attention.${pass}.${kvName}`, () => attentionDecodeWGSL(f16, pass, h));
          cmds.push({ only: 'single', kind: 'dispatch', label: `attention.${pass} ${op.layer}`, pipeline: ppl, bindGroup: this.bind(ppl, buffers, `attention.${pass}`), grid });
        }
        return cmds;
      }
      case 'add':
      case 'silu_mul': {
        let [aName, bName] = op.op === 'add' ? [op.a, op.b] : [op.gate, op.up];
        if (op.op === 'add' && op.out === bName && op.out !== aName) [aName, bName] = [bName, aName];
        if (op.out === bName) throw new Error(`${op.op}: an output aliasing its second input is not supported`);
        const a = this.act(aName);
        const b = this.act(bName);
        const out = this.act(op.out);
        const aliased = op.out === aName;
        const r = rows(a);
        return [
          await this.elementwise(op.op, aliased, `${op.op} ${op.out}`, elementwiseParams(a.width, a.kind), aliased ? [a.buf, b.buf] : [a.buf, b.buf, out.buf], (T, nOut) => [
            r(T, nOut) * a.width,
            1,
            1,
          ]),
        ];
      }
      case 'gelu_mul': {
        if (op.out === op.up && op.out !== op.gate) throw new Error('gelu_mul: an output aliasing up is not supported');
        const a = this.act(op.gate);
        const b = this.act(op.up);
        const out = this.act(op.out);
        const aliased = op.out === op.gate;
        if (!this.geluTable) {
          const t = geluTableF16();
          this.geluTable = this.createBuffer(t.byteLength, Usage.STORAGE | Usage.COPY_DST, 'gelu table');
          this.device.queue.writeBuffer(this.geluTable, 0, t.buffer, t.byteOffset, t.byteLength);
        }
        const r = rows(a);
        return [
          await this.elementwise('gelu_mul', aliased, `gelu_mul ${op.out}`, elementwiseParams(a.width, a.kind), [a.buf, b.buf, aliased ? null : out.buf, this.geluTable], (T, nOut) => [
            r(T, nOut) * a.width,
            1,
            1,
          ]),
        ];
      }
      case 'scale': {
        const a = this.act(op.x);
        const out = this.act(op.out);
        const aliased = op.out === op.x;
        const r = rows(a);
        return [
          await this.elementwise('scale', aliased, `scale ${op.out}`, elementwiseParams(a.width, a.kind, { f: op.scale }), aliased ? [a.buf] : [a.buf, null, out.buf], (T, nOut) => [
            r(T, nOut) * a.width,
            1,
            1,
          ]),
        ];
      }
      case 'softcap': {
        const a = this.act(op.x);
        const r = rows(a);
        return [await this.elementwise('softcap', true, `softcap ${op.x}`, elementwiseParams(a.width, a.kind, { f: 1 / op.cap, g: op.cap }), [a.buf], (T, nOut) => [r(T, nOut) * a.width, 1, 1])];
      }
      case 'slice': {
        const a = this.act(op.x);
        const out = this.act(op.out);
        if (op.offset + out.width > a.width || a.kind !== out.kind) throw new Error(`slice: ${op.out} (${out.width}) at ${op.offset} does not fit in ${op.x} (${a.width})`);
        const r = rows(a);
        return [
          await this.elementwise('slice', false, `slice ${op.out}`, elementwiseParams(out.width, out.kind, { srcWidth: a.width, offset: op.offset }), [a.buf, null, out.buf], (T, nOut) => [
            r(T, nOut) * out.width,
            1,
            1,
          ]),
        ];
      }
      case 'gather_outputs': {
        const x = this.act(op.x);
        const out = this.act(op.out);
        return this.withRows([{ kind: 'copy', src: x.buf, dst: out.buf, width: x.width }], async (rowsBuf) => {
          const gpl = await this.pipeline('gather.rows', gatherRowsWGSL);
          const params = this.uniform(Uint32Array.of(x.width, 0, 0, 0), 'gather.rows.p');
          return [
            {
              kind: 'dispatch',
              label: `gather.rows ${op.out}`,
              pipeline: gpl,
              bindGroup: this.bind(gpl, [params, this.stepBuf, x.buf, out.buf, rowsBuf], 'gather.rows'),
              grid: (_T, nOut) => grid1d(Math.ceil((nOut * x.width) / GATHER_WG)),
            },
          ];
        });
      }
      default: {
        const never: never = op;
        throw new Error(`the webgpu backend has no kernel for op ${(never as { op: string }).op}`);
      }
    }
  }

  // ---- running -------------------------------------------------------------

  private checkErrors(): void {
    if (this.ctx.errors.length) throw new Error(`WebGPU error: ${this.ctx.errors.splice(0).join('; ')}`);
  }

  /**
   * Validates the step, uploads token ids and the step uniforms, and records the
   * op list into an encoder: the body once, then the output head (from the
   * gather on) once per chunk of at most outRows output rows, the step uniform
   * switched between chunks by a copy; `afterChunk` records the read-out of
   * each chunk (first output row, rows).
   */
  private record(step: Step, extra: Command[], afterChunk?: (encoder: GPUCommandEncoder, row: number, rows: number) => void): { encoder: GPUCommandEncoder; T: number; nOut: number } {
    const { T, nOut } = checkStep(step, { maxBatch: this.maxBatch, contextLength: this.contextLength, sequences: this.sequences });
    if (this.hasEmbed) {
      for (const id of step.tokens) if (id < 0 || id >= this.embedRows) throw new RangeError(`token id ${id} is outside the vocabulary of ${this.embedRows}`);
    }
    // Steps with rows, and single-sequence steps of a sequence other than 0, run the per-row commands.
    const seq = step.seq ?? 0;
    const multi = !!step.rows || seq !== 0;
    const chunks: [number, number][] = [];
    if (this.headStart < 0) {
      // No output head to repeat: one pass (programs without outputs buffers do not care about nOut).
      if (this.hasOutputs && nOut > this.outRows) throw new RangeError(`this program has no output head to run in chunks: at most ${this.outRows} output rows per step`);
      chunks.push([0, nOut]);
    } else {
      for (let r = 0; r < nOut; r += this.outRows) chunks.push([r, Math.min(this.outRows, nOut - r)]);
    }
    const q = this.device.queue;
    const ids = new Uint32Array(step.tokens.buffer, step.tokens.byteOffset, T);
    q.writeBuffer(this.tokensBuf, 0, ids.buffer, ids.byteOffset, T * 4);
    if (multi) {
      const rows = step.rows ?? {
        positions: Int32Array.from({ length: T }, (_, t) => step.pos + t),
        seqs: new Int32Array(T).fill(seq),
        outputs: Int32Array.from({ length: nOut }, (_, i) => T - nOut + i),
      };
      const rec = rowsRecord(rows.positions, rows.seqs, rows.outputs, this.contextLength);
      q.writeBuffer(this.rowsBuf!, 0, rec.buffer, 0, rec.byteLength);
      this.counters.bytesWritten += rec.byteLength;
    }
    // First output row of the chunk: a token row (single-sequence steps) or an index into the rows' outputs.
    const first0 = multi ? 0 : T - nOut;
    const stepRecords = new Uint32Array(chunks.length * 4);
    chunks.forEach(([r, n], i) => {
      stepRecords.set([T, step.pos, n, first0 + r], i * 4);
    });
    q.writeBuffer(this.stepBuf, 0, stepRecords.buffer, 0, 16);
    if (chunks.length > 1) q.writeBuffer(this.stepsStaging, 0, stepRecords.buffer, 0, stepRecords.byteLength);
    this.counters.bytesWritten += T * 4 + 16 + (chunks.length > 1 ? stepRecords.byteLength : 0);
    const encoder = this.device.createCommandEncoder();
    let pass: GPUComputePassEncoder | undefined;
    const run = (cmds: Command[], n: number, first: number) => {
      for (const c of cmds) {
        if (c.only && (c.only === 'rows') !== multi) continue;
        if (c.kind === 'dispatch') {
          const [x, y, z] = c.grid(T, n, step.pos);
          if (x * y * z === 0) continue;
          pass ??= encoder.beginComputePass();
          pass.setPipeline(c.pipeline);
          pass.setBindGroup(0, c.bindGroup);
          pass.dispatchWorkgroups(x, y, z);
          this.counters.dispatches++;
        } else {
          pass?.end();
          pass = undefined;
          encoder.copyBufferToBuffer(c.src, first * c.width * 4, c.dst, 0, n * c.width * 4);
        }
      }
    };
    const head = this.headStart < 0 ? this.commands.length : this.headStart;
    run(this.commands.slice(0, head), chunks[0]![1], first0);
    chunks.forEach(([r, n], i) => {
      if (i > 0) {
        pass?.end();
        pass = undefined;
        encoder.copyBufferToBuffer(this.stepsStaging, i * 16, this.stepBuf, 0, 16);
      }
      run([...this.commands.slice(head), ...extra], n, first0 + r);
      if (afterChunk) {
        pass?.end();
        pass = undefined;
        afterChunk(encoder, r, n);
      }
    });
    pass?.end();
    this.counters.steps++;
    return { encoder, T, nOut };
  }

  private async exclusive<R>(f: () => Promise<R>): Promise<R> {
    if (this.busy) throw new Error('WebGPU backend: a step is already running (steps must be awaited one at a time)');
    this.busy = true;
    try {
      return await f();
    } finally {
      this.busy = false;
    }
  }

  async forward(step: Step): Promise<Float32Array> {
    return this.exclusive(async () => {
      const logits = this.act(this.program.logits);
      const rowBytes = logits.width * 4;
      const { T, nOut } = checkStep(step, { maxBatch: this.maxBatch, contextLength: this.contextLength, sequences: this.sequences });
      const rowsOut = logits.kind === 0 ? T : nOut;
      const bytes = rowsOut * rowBytes;
      if (!this.readLogits || this.readLogits.size < bytes) {
        if (this.readLogits) {
          this.gpuBytes -= this.readLogits.size;
          this.readLogits.destroy();
        }
        this.readLogits = this.device.createBuffer({ size: align4(bytes), usage: Usage.MAP_READ | Usage.COPY_DST, label: 'logits.read' });
        this.gpuBytes += this.readLogits.size;
      }
      const read = this.readLogits;
      const { encoder } = this.record(step, [], (enc, row, rows) => {
        // A logits buffer of token rows (test programs) is read whole after the one chunk.
        if (logits.kind === 1) enc.copyBufferToBuffer(logits.buf, 0, read, row * rowBytes, rows * rowBytes);
      });
      if (logits.kind === 0) encoder.copyBufferToBuffer(logits.buf, 0, read, 0, bytes);
      this.device.queue.submit([encoder.finish()]);
      this.counters.submits++;
      await this.readLogits.mapAsync(MAP_READ_MODE, 0, bytes);
      const out = new Float32Array(this.readLogits.getMappedRange(0, bytes).slice(0));
      this.readLogits.unmap();
      this.counters.bytesReadBack += bytes;
      this.checkErrors();
      return out;
    });
  }

  /**
   * Runs one step and returns the argmax of the last output row's logits
   * (ties -> lowest id), computed on the GPU: only the 4-byte id is read back.
   */
  async forwardArgmax(step: Step): Promise<number> {
    if (step.rows) throw new RangeError('forwardArgmax takes single-sequence steps only (use forward for a step with rows)');
    return this.exclusive(async () => {
      const { encoder } = this.record({ ...step, allLogits: false }, [this.argmaxCmd]);
      encoder.copyBufferToBuffer(this.resultBuf, 0, this.readResult, 0, 4);
      this.device.queue.submit([encoder.finish()]);
      this.counters.submits++;
      await this.readResult.mapAsync(MAP_READ_MODE, 0, 4);
      const id = new Uint32Array(this.readResult.getMappedRange(0, 4))[0]!;
      this.readResult.unmap();
      this.counters.bytesReadBack += 4;
      this.checkErrors();
      if (id >= this.vocab) throw new RangeError('all logits are NaN');
      return id;
    });
  }

  /** Most candidates forwardTopK returns. */
  readonly maxTopK = TOPK_MAX;

  /**
   * Runs one step and returns the k best (id, logit) pairs of the last output
   * row, best first (ties -> lower id), selected on the GPU: 8k bytes read back.
   */
  async forwardTopK(step: Step, k: number): Promise<{ ids: Int32Array; logits: Float32Array }> {
    if (!Number.isInteger(k) || k < 1 || k > TOPK_MAX) throw new RangeError(`top-k on the GPU takes 1 to ${TOPK_MAX} candidates, got ${k}`);
    if (step.rows) throw new RangeError('forwardTopK takes single-sequence steps only (use forward for a step with rows)');
    return this.exclusive(async () => {
      this.device.queue.writeBuffer(this.topkParams, 0, Uint32Array.of(this.vocab, k, 0xff800000, 0));
      this.counters.bytesWritten += 16;
      const { encoder } = this.record({ ...step, allLogits: false }, [this.topkCmd]);
      encoder.copyBufferToBuffer(this.topkResult, 0, this.readTopk, 0, k * 8);
      this.device.queue.submit([encoder.finish()]);
      this.counters.submits++;
      await this.readTopk.mapAsync(MAP_READ_MODE, 0, k * 8);
      const raw = this.readTopk.getMappedRange(0, k * 8).slice(0);
      this.readTopk.unmap();
      this.counters.bytesReadBack += k * 8;
      this.checkErrors();
      const ids = new Int32Array(raw, 0, k);
      const logits = new Float32Array(raw, k * 4, k);
      let n = 0;
      while (n < k && ids[n]! >>> 0 < this.vocab) n++;
      return { ids: ids.slice(0, n), logits: logits.slice(0, n) };
    });
  }

  /** Counters since init (copy). */
  getCounters(): WebGPUCounters {
    return { ...this.counters };
  }

  /** Bytes of weights the op list reads per decoded token (matrices once, embedding one row). */
  weightBytesPerToken(): number {
    let n = 0;
    for (const op of this.program.ops) {
      if (op.op === 'matmul') n += this.matrix(op.weight).info.nBytes;
      else if (op.op === 'embed') n += this.matrix(op.table).rowBytes;
      else if (op.op === 'rmsnorm') n += this.program.buffers.find((b) => b.name === op.x)!.width * 4;
    }
    return n;
  }

  describe(): Record<string, string | number> {
    return {
      backend: 'webgpu',
      adapter: this.ctx.adapterName + (this.ctx.cpuAdapter ? ' (CPU)' : ''),
      subgroups: this.ctx.subgroups ? 'yes' : 'no',
      shaderF16: this.ctx.shaderF16 ? 'yes' : this.ctx.adapterF16 ? 'off' : 'no',
      kvCacheType: this.program.kv.type,
      sequences: this.sequences,
      fileBytes: this.fileSize,
      gpuBytes: this.gpuBytes,
      weightGpuBytes: this.weightGpuBytes,
      kvCacheBytes: this.kvBytes,
      weightBytesPerToken: this.weightBytesPerToken(),
      pipelines: this.pipelines.size,
      commands: this.commands.length,
      ...this.counters,
    };
  }

  /** Test hook: writes rows of an activation buffer. */
  writeActivation(name: string, data: Float32Array): void {
    this.device.queue.writeBuffer(this.act(name).buf, 0, data.buffer, data.byteOffset, data.byteLength);
  }

  /** Test hook: reads an activation buffer (first `floats` values). */
  async readActivation(name: string, floats: number): Promise<Float32Array> {
    const b = this.act(name);
    const bytes = floats * 4;
    const read = this.device.createBuffer({ size: align4(bytes), usage: Usage.MAP_READ | Usage.COPY_DST });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(b.buf, 0, read, 0, bytes);
    this.device.queue.submit([enc.finish()]);
    await read.mapAsync(MAP_READ_MODE);
    const out = new Float32Array(read.getMappedRange().slice(0, bytes));
    read.destroy();
    return out;
  }

  dispose(): void {
    for (const b of this.allBuffers) b.destroy();
    this.allBuffers.length = 0;
    this.readLogits?.destroy();
    this.readLogits = undefined;
    if (this.ctx) destroyGPUContext(this.ctx);
  }
}
