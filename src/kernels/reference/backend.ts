/**
 * The reference backend: interprets the op list directly with the kernels in
 * ./ops.ts. Weights stay in their file encoding and are dequantized a row at
 * a time; the KV cache and activations are float32.
 */
import { GGMLType, rowBytes } from '../../gguf/types.js';
import { dequantize } from '../../quant/index.js';
import type { Program, Step } from '../../model/program.js';
import { ropeKey, ropeTable } from '../../model/rope.js';
import { checkStep, type Backend, type BackendInit } from '../backend.js';
import * as k from './ops.js';
import { platform } from '../../platform/index.js';

export class ReferenceBackend implements Backend {
  readonly name = 'reference' as const;
  readonly maxSequences = 256;
  private program!: Program;
  private weights = new Map<string, k.WeightMatrix>();
  /** Weights read as vectors (norms), dequantized once. */
  private vectors = new Map<string, Float32Array>();
  private buffers = new Map<string, Float32Array>();
  private widths = new Map<string, number>();
  private perToken = new Set<string>();
  private kCache: Float32Array[] = [];
  private vCache: Float32Array[] = [];
  private scratch = new Float32Array(0);
  /** Rope tables (model/rope.ts) by ropeKey. */
  private ropeTables = new Map<string, Float32Array>();
  private contextLength = 0;
  private maxBatch = 0;
  private sequences = 1;
  private weightBytes = 0;

  async init({ file, program, contextLength, maxBatch, sequences = 1, onProgress }: BackendInit): Promise<void> {
    if (!Number.isInteger(sequences) || sequences < 1 || sequences > this.maxSequences) throw new RangeError(`sequences must be 1 to ${this.maxSequences}, got ${sequences}`);
    this.sequences = sequences;
    this.program = program;
    this.contextLength = contextLength;
    this.maxBatch = maxBatch;
    const tensors = program.weights.map((name) => {
      const t = file.tensor(name);
      if (!t) throw new Error(`program reads tensor ${name}, which the file does not have`);
      return t;
    });
    const total = tensors.reduce((s, t) => s + t.nBytes, 0);
    let loaded = 0;
    let maxCols = 0;
    for (const t of tensors) {
      const bytes = file.readTensor(t);
      loaded += t.nBytes;
      const cols = t.shape[0]!;
      const outRows = t.nElements / cols;
      if (t.shape.length === 1 || outRows === 1) {
        this.vectors.set(t.name, t.typeId === GGMLType.F32 ? new Float32Array(bytes.buffer, bytes.byteOffset, t.nElements) : dequantize(t.typeId, bytes, t.nElements));
      } else {
        this.weights.set(t.name, { typeId: t.typeId, bytes, cols, outRows, rowBytes: rowBytes(t.type, cols) });
        maxCols = Math.max(maxCols, cols);
      }
      onProgress?.({ loadedBytes: loaded, totalBytes: total, tensor: t.name });
      // Let progress callbacks and signals run between tensors.
      await platform.yieldToEventLoop();
    }
    this.weightBytes = total;
    this.scratch = new Float32Array(maxCols);
    for (const b of program.buffers) {
      this.buffers.set(b.name, new Float32Array(b.width * maxBatch));
      this.widths.set(b.name, b.width);
      if (b.rows === 'tokens') this.perToken.add(b.name);
    }
    for (const op of program.ops) {
      if (op.op === 'rope' && !this.ropeTables.has(ropeKey(op.freqs))) this.ropeTables.set(ropeKey(op.freqs), ropeTable(op.freqs, contextLength));
    }
    for (let l = 0; l < program.kv.layers; l++) {
      this.kCache.push(new Float32Array(sequences * contextLength * program.kv.width));
      this.vCache.push(new Float32Array(sequences * contextLength * program.kv.width));
    }
  }

  private buf(name: string): Float32Array {
    const b = this.buffers.get(name);
    if (!b) throw new Error(`op list names unknown buffer ${name}`);
    return b;
  }
  private weight(name: string): k.WeightMatrix {
    const w = this.weights.get(name);
    if (!w) throw new Error(`op list names unknown matrix ${name}`);
    return w;
  }
  private vector(name: string): Float32Array {
    const w = this.vectors.get(name);
    if (!w) throw new Error(`op list names unknown vector ${name}`);
    return w;
  }

  /** The KV cache of `layer` for sequence `seq` (its own region of contextLength positions). */
  private cacheOf(layer: number, seq: number): [Float32Array, Float32Array] {
    const n = this.contextLength * this.program.kv.width;
    return [this.kCache[layer]!.subarray(seq * n, (seq + 1) * n), this.vCache[layer]!.subarray(seq * n, (seq + 1) * n)];
  }

  async forward(step: Step): Promise<Float32Array> {
    const { T, nOut } = checkStep(step, { maxBatch: this.maxBatch, contextLength: this.contextLength, sequences: this.sequences });
    const rows = step.rows;
    const seq = step.seq ?? 0;
    const f16 = this.program.kv.type === 'f16';
    const rowsOf = (name: string) => (this.perToken.has(name) ? T : nOut);
    // Multi-sequence steps run rope, the KV store and attention one row at a time, each at its own position in its own sequence.
    const perRow = (width: number, fn: (row: (b: Float32Array) => Float32Array, pos: number, seq: number) => void) => {
      for (let t = 0; t < T; t++) fn((b) => b.subarray(t * width, (t + 1) * width), rows!.positions[t]!, rows!.seqs[t]!);
    };
    for (const op of this.program.ops) {
      switch (op.op) {
        case 'embed':
          k.embed(this.buf(op.out), this.weight(op.table), step.tokens);
          break;
        case 'rmsnorm': {
          // Per-head norms: each group of groupWidth values is a row of its own.
          const width = this.widths.get(op.x)!;
          const g = op.groupWidth ?? width;
          k.rmsnorm(this.buf(op.out), this.buf(op.x), this.vector(op.weight), (rowsOf(op.x) * width) / g, g, op.eps);
          break;
        }
        case 'matmul':
          k.matmul(this.buf(op.out), this.buf(op.x), this.weight(op.weight), rowsOf(op.x), this.scratch, op.bias ? this.vector(op.bias) : undefined);
          break;
        case 'rope':
          {
            const tab = this.ropeTables.get(ropeKey(op.freqs))!;
            if (!rows) k.rope(this.buf(op.x), T, step.pos, op.nHeads, op.headDim, op.ropeDim, tab, op.mode);
            else perRow(this.widths.get(op.x)!, (row, pos) => k.rope(row(this.buf(op.x)), 1, pos, op.nHeads, op.headDim, op.ropeDim, tab, op.mode));
          }
          break;
        case 'kv_store': {
          const w = this.program.kv.width;
          if (!rows) k.kvStore(...this.cacheOf(op.layer, seq), this.buf(op.k), this.buf(op.v), T, step.pos, w, f16);
          else perRow(w, (row, pos, s) => k.kvStore(...this.cacheOf(op.layer, s), row(this.buf(op.k)), row(this.buf(op.v)), 1, pos, w, f16));
          break;
        }
        case 'attention': {
          const attend = (out: Float32Array, q: Float32Array, n: number, pos: number, s: number) =>
            k.attention(out, q, ...this.cacheOf(op.layer, s), n, pos, op.nHeads, op.nKvHeads, op.headDim, op.scale, f16, op.window);
          if (!rows) attend(this.buf(op.out), this.buf(op.q), T, step.pos, seq);
          else perRow(op.nHeads * op.headDim, (row, pos, s) => attend(row(this.buf(op.out)), row(this.buf(op.q)), 1, pos, s));
          break;
        }
        case 'add':
          k.add(this.buf(op.out), this.buf(op.a), this.buf(op.b), rowsOf(op.a) * this.widths.get(op.a)!);
          break;
        case 'silu_mul':
          k.siluMul(this.buf(op.out), this.buf(op.gate), this.buf(op.up), rowsOf(op.gate) * this.widths.get(op.gate)!);
          break;
        case 'gelu_mul':
          k.geluMul(this.buf(op.out), this.buf(op.gate), this.buf(op.up), rowsOf(op.gate) * this.widths.get(op.gate)!);
          break;
        case 'scale':
          k.scale(this.buf(op.out), this.buf(op.x), op.scale, rowsOf(op.x) * this.widths.get(op.x)!);
          break;
        case 'softcap':
          k.softcap(this.buf(op.x), op.cap, rowsOf(op.x) * this.widths.get(op.x)!);
          break;
        case 'slice':
          k.slice(this.buf(op.out), this.buf(op.x), rowsOf(op.x), this.widths.get(op.x)!, op.offset, this.widths.get(op.out)!);
          break;
        case 'gather_outputs': {
          const w = this.widths.get(op.x)!;
          const x = this.buf(op.x);
          const out = this.buf(op.out);
          if (rows) {
            rows.outputs.forEach((t, i) => {
              out.set(x.subarray(t * w, (t + 1) * w), i * w);
            });
          } else out.set(x.subarray((T - nOut) * w, T * w));
          break;
        }
        default: {
          const never: never = op;
          throw new Error(`the reference backend has no kernel for op ${(never as { op: string }).op}`);
        }
      }
    }
    return this.buf(this.program.logits).subarray(0, nOut * this.widths.get(this.program.logits)!);
  }

  describe(): Record<string, string | number> {
    const kvBytes = this.kCache.length * 2 * this.sequences * this.contextLength * this.program.kv.width * 4;
    // The reference backend keeps f16 cache values in float32 storage.
    return { backend: 'reference', threads: 1, sequences: this.sequences, kvCacheType: this.program.kv.type, weightBytes: this.weightBytes, kvCacheBytes: kvBytes };
  }

  dispose(): void {
    this.weights.clear();
    this.vectors.clear();
    this.buffers.clear();
    this.kCache = [];
    this.vCache = [];
  }
}
