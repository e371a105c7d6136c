/**
 * Reference kernels: plain TypeScript, float32 storage, float64 accumulation.
 * Slow and obviously right; every fast kernel is tested against these.
 * Matrices are row-major; `rows` is the number of token rows.
 */
import { dequantizeRow, roundToF16 } from '../../quant/index.js';
import { f16ToF32, f32ToF16 } from '../../quant/float.js';
import { ropeTable } from '../../model/rope.js';

/** A weight matrix as stored in the file: `outRows` rows of `cols` elements of ggml type `typeId`. */
export interface WeightMatrix {
  readonly typeId: number;
  readonly bytes: Uint8Array;
  readonly cols: number;
  readonly outRows: number;
  readonly rowBytes: number;
}

/** Dequantizes row `r` of a weight matrix into dst[0..cols). */
export function weightRow(w: WeightMatrix, r: number, dst: Float32Array): Float32Array {
  dequantizeRow(w.typeId, w.bytes.subarray(r * w.rowBytes, (r + 1) * w.rowBytes), dst, w.cols);
  return dst;
}

/** out[t] = row tokens[t] of the embedding table. */
export function embed(out: Float32Array, table: WeightMatrix, tokens: Int32Array): void {
  for (let t = 0; t < tokens.length; t++) {
    const id = tokens[t]!;
    if (id < 0 || id >= table.outRows) throw new RangeError(`token id ${id} is outside the vocabulary of ${table.outRows}`);
    weightRow(table, id, out.subarray(t * table.cols, (t + 1) * table.cols));
  }
}

/**
 * out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w. The sum of squares is float64;
 * the scale and the two products are rounded to float32 as ggml's rms_norm
 * followed by its mul do.
 */
export function rmsnorm(out: Float32Array, x: Float32Array, w: Float32Array, rows: number, width: number, eps: number): void {
  const f = Math.fround;
  for (let r = 0; r < rows; r++) {
    const o = r * width;
    let ss = 0;
    for (let i = 0; i < width; i++) ss += f(x[o + i]! * x[o + i]!);
    const scale = f(1 / f(Math.sqrt(f(f(ss / width) + eps))));
    for (let i = 0; i < width; i++) out[o + i] = f(x[o + i]! * scale) * w[i]!;
  }
}

/** out[r][j] = sum_i W[j][i] * x[r][i] (+ bias[j], added in float32 as ggml's add does); each weight row is dequantized once for all token rows. */
export function matmul(out: Float32Array, x: Float32Array, w: WeightMatrix, rows: number, scratch: Float32Array, bias?: Float32Array): void {
  const { cols, outRows } = w;
  const row = scratch.subarray(0, cols);
  for (let j = 0; j < outRows; j++) {
    weightRow(w, j, row);
    for (let r = 0; r < rows; r++) {
      const xo = r * cols;
      let s = 0;
      for (let i = 0; i < cols; i++) s += row[i]! * x[xo + i]!;
      out[r * outRows + j] = s;
      if (bias) out[r * outRows + j] = Math.fround(out[r * outRows + j]!) + bias[j]!;
    }
  }
}

/**
 * RoPE of the first ropeDim dims of every head, row r at position pos0 + r, with the angles'
 * cos/sin from the rope table (model/rope.ts: (pos * ropeDim/2 + i) * 2 -> cos, sin).
 * 'normal' (llama.cpp's default) rotates the pairs (x[2i], x[2i+1]); 'neox' the pairs
 * (x[i], x[i + ropeDim/2]). Products are float32 as in ggml.
 */
export function rope(x: Float32Array, rows: number, pos0: number, nHeads: number, headDim: number, ropeDim: number, tableOrBase: Float32Array | number, mode: 'normal' | 'neox' = 'normal'): void {
  const f = Math.fround;
  // A number is the plain rope's base: its table (model/rope.ts) up to the last row's position.
  const table = typeof tableOrBase === 'number' ? ropeTable({ dim: ropeDim, base: tableOrBase, freqScale: 1 }, pos0 + rows) : tableOrBase;
  const width = nHeads * headDim;
  const half = ropeDim / 2;
  const [step, other] = mode === 'neox' ? [1, half] : [2, 1];
  for (let r = 0; r < rows; r++) {
    const t = (pos0 + r) * half * 2;
    for (let i = 0; i < half; i++) {
      const c = table[t + 2 * i]!;
      const s = table[t + 2 * i + 1]!;
      for (let h = 0; h < nHeads; h++) {
        const o = r * width + h * headDim + i * step;
        const a = x[o]!;
        const b = x[o + other]!;
        x[o] = f(a * c) - f(b * s);
        x[o + other] = f(a * s) + f(b * c);
      }
    }
  }
}

/** Copies the rows of k and v into the layer's cache at positions pos0…, rounded to half precision for an f16 cache. */
export function kvStore(kCache: Float32Array, vCache: Float32Array, k: Float32Array, v: Float32Array, rows: number, pos0: number, width: number, f16: boolean): void {
  const n = rows * width;
  const o = pos0 * width;
  for (let i = 0; i < n; i++) {
    kCache[o + i] = f16 ? roundToF16(k[i]!) : k[i]!;
    vCache[o + i] = f16 ? roundToF16(v[i]!) : v[i]!;
  }
}

/**
 * Causal multi-head attention with grouped KV heads. Row r (position pos0 + r)
 * attends to cache positions 0..pos0 + r. Scores, softmax and the weighted
 * sum are computed in float64, in two passes over the cache. With an f16
 * cache, q and the softmax weights are rounded to half precision first, as
 * ggml's F16 matrix products do.
 */
export function attention(
  out: Float32Array,
  q: Float32Array,
  kCache: Float32Array,
  vCache: Float32Array,
  rows: number,
  pos0: number,
  nHeads: number,
  nKvHeads: number,
  headDim: number,
  scale: number,
  f16: boolean,
  window = 0,
): void {
  const round = f16 ? roundToF16 : (x: number) => x;
  const qh = new Float64Array(headDim);
  const qWidth = nHeads * headDim;
  const kvWidth = nKvHeads * headDim;
  const group = nHeads / nKvHeads;
  const scores = new Float64Array(pos0 + rows);
  const acc = new Float64Array(headDim);
  for (let r = 0; r < rows; r++) {
    const n = pos0 + r + 1;
    // Sliding window: the row at position n - 1 sees positions n - window .. n - 1.
    const p0 = window > 0 ? Math.max(0, n - window) : 0;
    for (let h = 0; h < nHeads; h++) {
      const qo = r * qWidth + h * headDim;
      const ko = Math.floor(h / group) * headDim;
      for (let i = 0; i < headDim; i++) qh[i] = round(q[qo + i]!);
      let max = -Infinity;
      for (let p = p0; p < n; p++) {
        let s = 0;
        const kp = p * kvWidth + ko;
        for (let i = 0; i < headDim; i++) s += qh[i]! * kCache[kp + i]!;
        s *= scale;
        scores[p] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let p = p0; p < n; p++) {
        scores[p] = Math.exp(scores[p]! - max);
        sum += scores[p]!;
      }
      acc.fill(0);
      for (let p = p0; p < n; p++) {
        const wgt = round(scores[p]! / sum);
        const vp = p * kvWidth + ko;
        for (let i = 0; i < headDim; i++) acc[i] += wgt * vCache[vp + i]!;
      }
      for (let i = 0; i < headDim; i++) out[qo + i] = acc[i]!;
    }
  }
}

export function add(out: Float32Array, a: Float32Array, b: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) out[i] = a[i]! + b[i]!;
}

/** out = silu(gate) * up, silu(g) = g / (1 + e^-g) */
export function siluMul(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i]!;
    out[i] = Math.fround(g / (1 + Math.exp(-g))) * up[i]!;
  }
}

const SQRT_2_OVER_PI = Math.fround(0.7978845608028654);
const GELU_COEF_A = Math.fround(0.044715);

/** GELU, tanh approximation, in float32 as ggml_gelu_f32. */
function geluF32(x: number): number {
  const f = Math.fround;
  const inner = f(f(SQRT_2_OVER_PI * x) * f(1 + f(f(GELU_COEF_A * x) * x)));
  return f(f(0.5 * x) * f(1 + f(Math.tanh(inner))));
}

let geluTable: Float32Array | undefined;
/** ggml's table: GELU of every half-precision value (indexed by its bits), rounded to half precision. */
export function geluTableF16(): Float32Array {
  if (!geluTable) {
    geluTable = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) geluTable[i] = roundToF16(geluF32(f16ToF32(i)));
  }
  return geluTable;
}
function geluF16(x: number): number {
  return geluTableF16()[f32ToF16(x)]!;
}

/**
 * out = gelu(gate) * up as ggml's CPU geglu: |g| < 10 rounds g to half precision and takes
 * the tabulated half-precision GELU; g <= -10 gives 0, g >= 10 gives g.
 */
export function geluMul(out: Float32Array, gate: Float32Array, up: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const g = gate[i]!;
    const a = g <= -10 ? 0 : g >= 10 ? g : geluF16(g);
    out[i] = a * up[i]!;
  }
}

/** out = x * s in float32. */
export function scale(out: Float32Array, x: Float32Array, s: number, n: number): void {
  const sf = Math.fround(s);
  for (let i = 0; i < n; i++) out[i] = x[i]! * sf;
}

/** x = cap * tanh(x / cap), each step in float32 (ggml: scale, tanh, scale). */
export function softcap(x: Float32Array, cap: number, n: number): void {
  const f = Math.fround;
  const c = f(cap);
  const inv = f(1 / c);
  for (let i = 0; i < n; i++) x[i] = f(Math.tanh(f(x[i]! * inv))) * c;
}

/** out[r] = x[r][offset .. offset + outWidth). */
export function slice(out: Float32Array, x: Float32Array, rows: number, width: number, offset: number, outWidth: number): void {
  for (let r = 0; r < rows; r++) out.set(x.subarray(r * width + offset, r * width + offset + outWidth), r * outWidth);
}
