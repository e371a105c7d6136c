/**
 * Reference kernels: plain TypeScript, float32 storage, float64 accumulation.
 * Slow and obviously right; every fast kernel is tested against these.
 * Matrices are row-major; `rows` is the number of token rows.
 */
import { dequantizeRow, roundToF16 } from '../../quant/index.js';

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

/** out[r][j] = sum_i W[j][i] * x[r][i]; each weight row is dequantized once for all token rows. */
export function matmul(out: Float32Array, x: Float32Array, w: WeightMatrix, rows: number, scratch: Float32Array): void {
  const { cols, outRows } = w;
  const row = scratch.subarray(0, cols);
  for (let j = 0; j < outRows; j++) {
    weightRow(w, j, row);
    for (let r = 0; r < rows; r++) {
      const xo = r * cols;
      let s = 0;
      for (let i = 0; i < cols; i++) s += row[i]! * x[xo + i]!;
      out[r * outRows + j] = s;
    }
  }
}

/**
 * RoPE, llama.cpp "normal" mode: within each head, the pair (x[2i], x[2i+1])
 * for 2i < ropeDim is rotated by pos * base^(-2i / ropeDim). Row r is at
 * position pos0 + r. Angles, sines and products are float32 as in ggml.
 */
export function rope(x: Float32Array, rows: number, pos0: number, nHeads: number, headDim: number, ropeDim: number, base: number): void {
  const f = Math.fround;
  const width = nHeads * headDim;
  const thetaScale = f(Math.pow(base, -2 / ropeDim));
  for (let r = 0; r < rows; r++) {
    let theta = f(pos0 + r);
    for (let i = 0; i < ropeDim; i += 2) {
      const c = f(Math.cos(theta));
      const s = f(Math.sin(theta));
      for (let h = 0; h < nHeads; h++) {
        const o = r * width + h * headDim + i;
        const a = x[o]!;
        const b = x[o + 1]!;
        x[o] = f(a * c) - f(b * s);
        x[o + 1] = f(a * s) + f(b * c);
      }
      theta = f(theta * thetaScale);
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
  out: Float32Array, q: Float32Array, kCache: Float32Array, vCache: Float32Array,
  rows: number, pos0: number, nHeads: number, nKvHeads: number, headDim: number, scale: number, f16: boolean,
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
    for (let h = 0; h < nHeads; h++) {
      const qo = r * qWidth + h * headDim;
      const ko = Math.floor(h / group) * headDim;
      for (let i = 0; i < headDim; i++) qh[i] = round(q[qo + i]!);
      let max = -Infinity;
      for (let p = 0; p < n; p++) {
        let s = 0;
        const kp = p * kvWidth + ko;
        for (let i = 0; i < headDim; i++) s += qh[i]! * kCache[kp + i]!;
        s *= scale;
        scores[p] = s;
        if (s > max) max = s;
      }
      let sum = 0;
      for (let p = 0; p < n; p++) {
        scores[p] = Math.exp(scores[p]! - max);
        sum += scores[p]!;
      }
      acc.fill(0);
      for (let p = 0; p < n; p++) {
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
