/**
 * The reference backend: interprets the op list directly with the kernels in
 * ./ops.ts. Weights stay in their file encoding and are dequantized a row at
 * a time; the KV cache and activations are float32.
 */
import { GGMLType, rowBytes } from '../../gguf/types.js';
import { dequantize } from '../../quant/index.js';
import type { Program, Step } from '../../model/program.js';
import { ropeKey, ropeTable } from '../../model/rope.js';
import type { Backend, BackendInit } from '../backend.js';
import * as k from './ops.js';

export class ReferenceBackend implements Backend {
  readonly name = 'reference' as const;
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
  private weightBytes = 0;

  async init({ file, program, contextLength, maxBatch, onProgress }: BackendInit): Promise<void> {
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
      await new Promise<void>((r) => setImmediate(r));
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
      this.kCache.push(new Float32Array(contextLength * program.kv.width));
      this.vCache.push(new Float32Array(contextLength * program.kv.width));
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

  async forward(step: Step): Promise<Float32Array> {
    const T = step.tokens.length;
    if (T < 1 || T > this.maxBatch) throw new RangeError(`a step carries 1 to ${this.maxBatch} tokens, got ${T}`);
    if (step.pos < 0 || step.pos + T > this.contextLength) throw new RangeError(`positions ${step.pos}..${step.pos + T - 1} are outside the context of ${this.contextLength}`);
    const nOut = step.allLogits ? T : 1;
    const rowsOf = (name: string) => (this.perToken.has(name) ? T : nOut);
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
          k.rope(this.buf(op.x), rowsOf(op.x), step.pos, op.nHeads, op.headDim, op.ropeDim, this.ropeTables.get(ropeKey(op.freqs))!, op.mode);
          break;
        case 'kv_store':
          k.kvStore(this.kCache[op.layer]!, this.vCache[op.layer]!, this.buf(op.k), this.buf(op.v), T, step.pos, this.program.kv.width, this.program.kv.type === 'f16');
          break;
        case 'attention':
          k.attention(this.buf(op.out), this.buf(op.q), this.kCache[op.layer]!, this.vCache[op.layer]!, T, step.pos, op.nHeads, op.nKvHeads, op.headDim, op.scale, this.program.kv.type === 'f16', op.window);
          break;
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
          const first = T - nOut;
          this.buf(op.out).set(this.buf(op.x).subarray(first * w, T * w));
          break;
        }
        default: { const never: never = op; throw new Error(`the reference backend has no kernel for op ${(never as { op: string }).op}`); }
      }
    }
    return this.buf(this.program.logits).subarray(0, nOut * this.widths.get(this.program.logits)!);
  }

  describe(): Record<string, string | number> {
    const kvBytes = this.kCache.length * 2 * this.contextLength * this.program.kv.width * 4;
    // The reference backend keeps f16 cache values in float32 storage.
    return { backend: 'reference', threads: 1, kvCacheType: this.program.kv.type, weightBytes: this.weightBytes, kvCacheBytes: kvBytes };
  }

  dispose(): void {
    this.weights.clear();
    this.vectors.clear();
    this.buffers.clear();
    this.kCache = [];
    this.vCache = [];
  }
}
