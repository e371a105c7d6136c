// Non-matmul kernels: activation quantizers (Q8A for the 32-element legacy
// types, Q8_K for the K-quants), RMSNorm, RoPE, KV store, flash attention,
// residual add, SiLU·mul and the float dot products. Every function works on
// a range of rows (or tasks) so the interpreter can split it across threads.
import { f16, f16x4hi, f16x4lo, hsumF32, kv, lanePerm, roundF16, toF16 } from './util';
import { Q8A_BYTES, Q8A_D, Q8A_QS, Q8A_S, Q8A_EXTRA_BYTES, Q8_K_BSUMS, Q8_K_BYTES, Q8_K_D, Q8_K_QS } from './generated/layout';

// expV's coefficients and other float constants (util.ts kv: read from memory, not rebuilt in every loop)
const KE_HI = memory.data<f32>([88.72283, 88.72283, 88.72283, 88.72283], 16);
const KE_LO = memory.data<f32>([-87.33654, -87.33654, -87.33654, -87.33654], 16);
const KE_MAGIC = memory.data<f32>([12582912, 12582912, 12582912, 12582912], 16);
const KE_LOG2E = memory.data<f32>([1.442695041, 1.442695041, 1.442695041, 1.442695041], 16);
const KE_LN2_HI = memory.data<f32>([0.693359375, 0.693359375, 0.693359375, 0.693359375], 16);
const KE_LN2_LO = memory.data<f32>([-2.12194440e-4, -2.12194440e-4, -2.12194440e-4, -2.12194440e-4], 16);
const KE_P0 = memory.data<f32>([1.9875691500e-4, 1.9875691500e-4, 1.9875691500e-4, 1.9875691500e-4], 16);
const KE_P1 = memory.data<f32>([1.3981999507e-3, 1.3981999507e-3, 1.3981999507e-3, 1.3981999507e-3], 16);
const KE_P2 = memory.data<f32>([8.3334519073e-3, 8.3334519073e-3, 8.3334519073e-3, 8.3334519073e-3], 16);
const KE_P3 = memory.data<f32>([4.1665795894e-2, 4.1665795894e-2, 4.1665795894e-2, 4.1665795894e-2], 16);
const KE_P4 = memory.data<f32>([1.6666665459e-1, 1.6666665459e-1, 1.6666665459e-1, 1.6666665459e-1], 16);
const KE_P5 = memory.data<f32>([5.0000001201e-1, 5.0000001201e-1, 5.0000001201e-1, 5.0000001201e-1], 16);
const KF_ONE = memory.data<f32>([1, 1, 1, 1], 16);
const KF_INF = memory.data<f32>([Infinity, Infinity, Infinity, Infinity], 16);
const KF_HALF = memory.data<f32>([0.5, 0.5, 0.5, 0.5], 16);
const KI_127 = memory.data<u32>([127, 127, 127, 127], 16);
const KI_SIGN = memory.data<u32>([0x80000000, 0x80000000, 0x80000000, 0x80000000], 16);
const KI_ABS = memory.data<u32>([0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff], 16);
const KI_FFF = memory.data<u32>([0xfff, 0xfff, 0xfff, 0xfff], 16);
const KI_ONE = memory.data<u32>([1, 1, 1, 1], 16);
const KI_MANT13 = memory.data<u32>([0xffffe000, 0xffffe000, 0xffffe000, 0xffffe000], 16);
const KI_F16_MIN = memory.data<u32>([0x38800000, 0x38800000, 0x38800000, 0x38800000], 16);
const KI_F16_OVER = memory.data<u32>([0x477ff000, 0x477ff000, 0x477ff000, 0x477ff000], 16);
const KI_INF = memory.data<u32>([0x7f800000, 0x7f800000, 0x7f800000, 0x7f800000], 16);
const KI_QNAN = memory.data<u32>([0x7fc00000, 0x7fc00000, 0x7fc00000, 0x7fc00000], 16);

/**
 * The nearest integers (ties to even) of four floats below 2^22 in magnitude, as i32 lanes: adding
 * 1.5 · 2^23 rounds them and leaves the integer in the low mantissa bits (the same values as
 * trunc_sat(nearest(x)), which V8 builds from several instructions each).
 */
// @ts-ignore: decorator
@inline function nearestI32(x: v128): v128 {
  const magic = kv(KE_MAGIC);
  return i32x4.sub(f32x4.add(x, magic), magic);
}

/**
 * Q8A, this backend's activation block for the legacy types (layout in ../layout.ts):
 *   f32 d; f32 s; i8 q[32]
 * d = amax / 127 rounded to half precision and s = d * sum(q) rounded to half
 * precision, as in ggml's block_q8_0 / block_q8_1 (whose d and s are fp16);
 * q = round-to-nearest-even(x / d) as ggml's AVX quantize_row_q8_0/q8_1.
 * A row of nb blocks is followed by every block's extras (Q8A_EXTRA_BYTES each, layout.ts): its q as
 * i16, its q in lanePerm order and their pair sums (the relaxed kernels').
 */
export function quantizeQ8A(x: usize, dst: usize, n: i32): void {
  quantizeQ8ABlocks(x, dst, n >> 5, 0, n >> 5);
}

/** Blocks [b0, b1) of quantizeQ8A's row of nb blocks (x and dst: the row's start). */
export function quantizeQ8ABlocks(x: usize, dst: usize, nb: i32, b0: i32, b1: i32): void {
  for (let b = b0; b < b1; b++) {
    const xb = x + (<usize>b << 7);
    const db = dst + <usize>b * Q8A_BYTES;
    const wb = dst + <usize>nb * Q8A_BYTES + <usize>b * Q8A_EXTRA_BYTES;
    let m = f32x4.abs(v128.load(xb));
    for (let i: usize = 16; i < 128; i += 16) m = f32x4.max(m, f32x4.abs(v128.load(xb + i)));
    const amax = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
    const d: f32 = amax / 127;
    const id = f32x4.splat(d != 0 ? <f32>1 / d : 0);
    let sum = i32x4.splat(0);
    let pairs = i32x4.splat(0);
    for (let i: usize = 0; i < 2; i++) {
      const p = xb + (i << 6);
      const a = nearestI32(f32x4.mul(v128.load(p), id));
      const b2 = nearestI32(f32x4.mul(v128.load(p, 16), id));
      const c = nearestI32(f32x4.mul(v128.load(p, 32), id));
      const e = nearestI32(f32x4.mul(v128.load(p, 48), id));
      sum = i32x4.add(sum, i32x4.add(i32x4.add(a, b2), i32x4.add(c, e)));
      const lo = i16x8.narrow_i32x4_s(a, b2);
      const hi = i16x8.narrow_i32x4_s(c, e);
      const q = i8x16.narrow_i16x8_s(lo, hi);
      v128.store(db + Q8A_QS + (i << 4), q);
      v128.store(wb + (i << 5), lo); v128.store(wb + (i << 5), hi, 16);
      // the relaxed kernels' operands, written by both builds so the layout does not depend on the build
      const qp = lanePerm(q);
      v128.store(wb + 64 + (i << 4), qp);
      pairs = i16x8.add(pairs, i16x8.extadd_pairwise_i8x16_s(qp));
    }
    v128.store(wb + 96, pairs);
    const s = i32x4.extract_lane(sum, 0) + i32x4.extract_lane(sum, 1) + i32x4.extract_lane(sum, 2) + i32x4.extract_lane(sum, 3);
    // d and d*s to half precision together (roundF16x4: roundF16's bits, without two calls)
    const ds = roundF16x4(f32x4.replace_lane(f32x4.splat(d), 1, d * <f32>s));
    store<f32>(db + Q8A_D, f32x4.extract_lane(ds, 0));
    store<f32>(db + Q8A_S, f32x4.extract_lane(ds, 1));
  }
}

/** ggml's quantize_row_q8_K: scale from the element of largest magnitude (its sign kept), q = nearest(-127/max * x). */
export function quantizeQ8K(x: usize, dst: usize, n: i32): void {
  quantizeQ8KBlocks(x, dst, 0, n >> 8);
}

/** Blocks [b0, b1) of quantizeQ8K's row (x and dst: the row's start). */
export function quantizeQ8KBlocks(x: usize, dst: usize, b0: i32, b1: i32): void {
  for (let b = b0; b < b1; b++) {
    const xb = x + (<usize>b << 10);
    const db = dst + <usize>b * Q8_K_BYTES;
    let amax: f32 = 0;
    let mx: f32 = 0;
    for (let j: usize = 0; j < 256; j++) {
      const v = load<f32>(xb + (j << 2));
      const av = abs(v);
      if (av > amax) { amax = av; mx = v; }
    }
    if (amax == 0) {
      store<f32>(db + Q8_K_D, 0);
      memory.fill(db + Q8_K_QS, 0, Q8_K_BYTES - Q8_K_QS);
      continue;
    }
    const iscale: f32 = -127 / mx;
    const is = f32x4.splat(iscale);
    const lim = kv(KI_127);
    for (let j: usize = 0; j < 256; j += 16) {
      const p = xb + (j << 2);
      const a = i32x4.min_s(nearestI32(f32x4.mul(v128.load(p), is)), lim);
      const b2 = i32x4.min_s(nearestI32(f32x4.mul(v128.load(p, 16), is)), lim);
      const c = i32x4.min_s(nearestI32(f32x4.mul(v128.load(p, 32), is)), lim);
      const e = i32x4.min_s(nearestI32(f32x4.mul(v128.load(p, 48), is)), lim);
      const s = i32x4.add(i32x4.add(a, b2), i32x4.add(c, e));
      store<i16>(db + Q8_K_BSUMS + (j >> 3), <i16>(i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1) + i32x4.extract_lane(s, 2) + i32x4.extract_lane(s, 3)));
      v128.store(db + Q8_K_QS + j, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(a, b2), i16x8.narrow_i32x4_s(c, e)));
    }
    store<f32>(db + Q8_K_D, <f32>1 / iscale);
  }
}

/** F32 weights · f32 activations (four accumulators). */
export function dotF32(w: usize, x: usize, n: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const o = <usize>i << 2;
    a0 = f32x4.add(a0, f32x4.mul(v128.load(w + o), v128.load(x + o)));
    a1 = f32x4.add(a1, f32x4.mul(v128.load(w + o, 16), v128.load(x + o, 16)));
    a2 = f32x4.add(a2, f32x4.mul(v128.load(w + o, 32), v128.load(x + o, 32)));
    a3 = f32x4.add(a3, f32x4.mul(v128.load(w + o, 48), v128.load(x + o, 48)));
  }
  let s = hsumF32(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  for (; i < n; i++) s += load<f32>(w + (<usize>i << 2)) * load<f32>(x + (<usize>i << 2));
  return s;
}

/** F16 weights · f32 activations (weights widened to f32; ggml instead rounds x to f16). */
export function dotF16(w: usize, x: usize, n: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const h = v128.load(w + (<usize>i << 1));
    const o = <usize>i << 2;
    a0 = f32x4.add(a0, f32x4.mul(f16x4lo(h), v128.load(x + o)));
    a1 = f32x4.add(a1, f32x4.mul(f16x4hi(h), v128.load(x + o, 16)));
  }
  let s = hsumF32(f32x4.add(a0, a1));
  for (; i < n; i++) s += f16(load<u16>(w + (<usize>i << 1))) * load<f32>(x + (<usize>i << 2));
  return s;
}

/** out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * w, sum of squares in f64 as ggml's rms_norm. */
export function rmsnorm(x: usize, w: usize, out: usize, width: i32, eps: f64, r0: i32, r1: i32): void {
  let r = r0;
  // two rows at a time: each row's sum of squares is a chain of float64 adds in element order (ggml's),
  // bound by the add's latency; two rows' chains run side by side
  for (; r + 2 <= r1; r += 2) {
    const xa = x + <usize>r * <usize>width * 4, xb = xa + <usize>width * 4;
    let sa: f64 = 0, sb: f64 = 0;
    for (let i = 0; i < width; i++) {
      const va = load<f32>(xa + (<usize>i << 2)), vb = load<f32>(xb + (<usize>i << 2));
      sa += <f64>(va * va);
      sb += <f64>(vb * vb);
    }
    rmsScale(xa, w, out + <usize>r * <usize>width * 4, width, rmsFactor(sa, width, eps));
    rmsScale(xb, w, out + <usize>(r + 1) * <usize>width * 4, width, rmsFactor(sb, width, eps));
  }
  if (r < r1) {
    const xr = x + <usize>r * <usize>width * 4;
    let ss: f64 = 0;
    for (let i = 0; i < width; i++) {
      const v = load<f32>(xr + (<usize>i << 2));
      ss += <f64>(v * v);
    }
    rmsScale(xr, w, out + <usize>r * <usize>width * 4, width, rmsFactor(ss, width, eps));
  }
}

/** 1 / sqrt(mean + eps) from a row's sum of squares, with ggml's roundings. */
// @ts-ignore: decorator
@inline function rmsFactor(ss: f64, width: i32, eps: f64): f32 {
  return <f32>(1 / <f64>(<f32>Math.sqrt(<f64>(<f32>(<f64>(<f32>(ss / width)) + eps)))));
}

/** out[i] = (x[i] * scale) * w[i], four at a time (the same two roundings per element). */
// @ts-ignore: decorator
@inline function rmsScale(xr: usize, w: usize, orow: usize, width: i32, scale: f32): void {
  const sv = f32x4.splat(scale);
  let i = 0;
  for (; i + 4 <= width; i += 4) {
    const o = <usize>i << 2;
    v128.store(orow + o, f32x4.mul(f32x4.mul(v128.load(xr + o), sv), v128.load(w + o)));
  }
  for (; i < width; i++) {
    const o = <usize>i << 2;
    store<f32>(orow + o, (load<f32>(xr + o) * scale) * load<f32>(w + o));
  }
}

/**
 * RoPE on tasks [t0, t1) of (row, head); tab holds (cos, sin) for every
 * position and pair index (the host copies model/rope.ts's table). Normal
 * mode rotates the pairs (x[2i], x[2i+1]); neox the pairs (x[i], x[i + ropeDim/2]).
 */
export function rope(x: usize, nHeads: i32, headDim: i32, ropeDim: i32, tab: usize, neox: bool, pos0: i32, t0: i32, t1: i32): void {
  const half = ropeDim >> 1;
  // byte offsets of pair i's first element and of its partner
  const step: usize = neox ? 4 : 8;
  const other: usize = neox ? <usize>half << 2 : 4;
  for (let t = t0; t < t1; t++) {
    const r = t / nHeads;
    const h = t - r * nHeads;
    const base = x + (<usize>(r * nHeads + h) * <usize>headDim << 2);
    const tb = tab + (<usize>(pos0 + r) * <usize>half << 3);
    for (let i = 0; i < half; i++) {
      const c = load<f32>(tb + (<usize>i << 3));
      const s = load<f32>(tb + (<usize>i << 3), 4);
      const p = base + <usize>i * step;
      const a = load<f32>(p);
      const b = load<f32>(p + other);
      store<f32>(p, a * c - b * s);
      store<f32>(p + other, a * s + b * c);
    }
  }
}

/** out[t][j] += bias[j] (f32) for weight rows j in [j0, j1) of every token row t < T; rows = out's width. */
export function addBias(out: usize, bias: usize, rows: i32, T: i32, j0: i32, j1: i32): void {
  for (let t = 0; t < T; t++) {
    const o = out + (<usize>t * <usize>rows << 2);
    for (let j = j0; j < j1; j++) {
      const p = o + (<usize>j << 2);
      store<f32>(p, load<f32>(p) + load<f32>(bias + (<usize>j << 2)));
    }
  }
}

/**
 * Copies rows [r0, r1) of k and v into the cache at pos0 + r: as binary16 (f16cache), as f32 holding the
 * binary16 values (half without f16cache: the same values, read without conversion), or as they are.
 */
export function kvStore(k: usize, v: usize, kc: usize, vc: usize, width: i32, f16cache: bool, half: bool, pos0: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const src = <usize>r * <usize>width;
    const dst = <usize>(pos0 + r) * <usize>width;
    if (f16cache) {
      for (let i = 0; i < width; i++) {
        const si = (src + i) << 2;
        const di = (dst + i) << 1;
        store<u16>(kc + di, <u16>toF16(load<f32>(k + si)));
        store<u16>(vc + di, <u16>toF16(load<f32>(v + si)));
      }
    } else if (half) {
      let i = 0;
      for (; i + 4 <= width; i += 4) {
        const si = (src + <usize>i) << 2;
        const di = (dst + <usize>i) << 2;
        v128.store(kc + di, roundF16x4(v128.load(k + si)));
        v128.store(vc + di, roundF16x4(v128.load(v + si)));
      }
      for (; i < width; i++) {
        const si = (src + <usize>i) << 2;
        const di = (dst + <usize>i) << 2;
        store<f32>(kc + di, roundF16(load<f32>(k + si)));
        store<f32>(vc + di, roundF16(load<f32>(v + si)));
      }
    } else {
      memory.copy(kc + (dst << 2), k + (src << 2), <usize>width << 2);
      memory.copy(vc + (dst << 2), v + (src << 2), <usize>width << 2);
    }
  }
}

/** q · K[row] over headDim (f16 or f32 cache row at kc, element offset row). */
// @ts-ignore: decorator
@inline function scoreAt(qh: usize, kc: usize, row: usize, hd: usize, f16cache: bool): f32 {
  let s4 = f32x4.splat(0);
  if (f16cache) {
    const kp = kc + (row << 1);
    for (let i: usize = 0; i < hd; i += 8) {
      const hv = v128.load(kp + (i << 1));
      s4 = f32x4.add(s4, f32x4.mul(f16x4lo(hv), v128.load(qh + (i << 2))));
      s4 = f32x4.add(s4, f32x4.mul(f16x4hi(hv), v128.load(qh + (i << 2), 16)));
    }
  } else {
    s4 = dot4F32(qh, kc + (row << 2), hd);
  }
  return hsumF32(s4);
}

/** Lane sums of a[i] * b[i] over hd floats, 4 at a time in order. */
// @ts-ignore: decorator
@inline function dot4F32(a: usize, b: usize, hd: usize): v128 {
  let s4 = f32x4.splat(0);
  for (let i: usize = 0; i < hd; i += 4) s4 = f32x4.add(s4, f32x4.mul(v128.load(b + (i << 2)), v128.load(a + (i << 2))));
  return s4;
}

/** acc += wgt * V[row] over headDim. */
// @ts-ignore: decorator
@inline function accumulateV(acc: usize, vc: usize, row: usize, hd: usize, wgt: f32, f16cache: bool): void {
  const wv = f32x4.splat(wgt);
  if (f16cache) {
    const vp = vc + (row << 1);
    for (let i: usize = 0; i < hd; i += 8) {
      const hv = v128.load(vp + (i << 1));
      const a = acc + (i << 2);
      v128.store(a, f32x4.add(v128.load(a), f32x4.mul(f16x4lo(hv), wv)));
      v128.store(a, f32x4.add(v128.load(a, 16), f32x4.mul(f16x4hi(hv), wv)), 16);
    }
  } else {
    accumulateF32(acc, vc + (row << 2), hd, wv);
  }
}

/** acc[i] += v[i] * w over hd floats. */
// @ts-ignore: decorator
@inline function accumulateF32(acc: usize, v: usize, hd: usize, wv: v128): void {
  for (let i: usize = 0; i < hd; i += 4) {
    const a = acc + (i << 2);
    v128.store(a, f32x4.add(v128.load(a), f32x4.mul(v128.load(v + (i << 2)), wv)));
  }
}

/** Cache row `row` as f32: f16 rows are converted into buf, f32 rows are used in place. */
// @ts-ignore: decorator
@inline function cacheRow(c: usize, row: usize, hd: usize, f16cache: bool, buf: usize): usize {
  if (!f16cache) return c + (row << 2);
  const src = c + (row << 1);
  for (let i: usize = 0; i < hd; i += 8) {
    const hv = v128.load(src + (i << 1));
    v128.store(buf + (i << 2), f16x4lo(hv));
    v128.store(buf + (i << 2), f16x4hi(hv), 16);
  }
  return buf;
}

/**
 * Cache rows row, row + stride, ... (four) as f32: f16 rows converted into buf, one after another, f32 rows
 * read in place. Returns the first row's address; the rows are rows4Step() bytes apart.
 */
// @ts-ignore: decorator
@inline function cacheRows4(c: usize, row: usize, stride: usize, hd: usize, f16cache: bool, buf: usize): usize {
  if (!f16cache) return c + (row << 2);
  for (let j: usize = 0; j < 4; j++) cacheRow(c, row + j * stride, hd, true, buf + ((j * hd) << 2));
  return buf;
}
/** Bytes between the rows cacheRows4 gives. */
// @ts-ignore: decorator
@inline function rows4Step(stride: usize, hd: usize, f16cache: bool): usize {
  return f16cache ? hd << 2 : stride << 2;
}

/**
 * The scaled scores q·k of one query (qp) with the four cache rows as f32 at k0, k0 + ks, ... (cacheRows4)
 * into sp[0..3]: four independent sums, each over hd in steps of four lanes, then the lane sum.
 */
// @ts-ignore: decorator
@inline function scores4(qp: usize, k0: usize, ks: usize, hd: usize, scale: f32, sp: usize): void {
  const k1 = k0 + ks, k2 = k0 + 2 * ks, k3 = k0 + 3 * ks;
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  for (let i: usize = 0; i < hd; i += 4) {
    const qv = v128.load(qp + (i << 2));
    s0 = f32x4.add(s0, f32x4.mul(v128.load(k0 + (i << 2)), qv));
    s1 = f32x4.add(s1, f32x4.mul(v128.load(k1 + (i << 2)), qv));
    s2 = f32x4.add(s2, f32x4.mul(v128.load(k2 + (i << 2)), qv));
    s3 = f32x4.add(s3, f32x4.mul(v128.load(k3 + (i << 2)), qv));
  }
  v128.store(sp, f32x4.mul(hsum4(s0, s1, s2, s3), f32x4.splat(scale)));
}

/** scores4 for two queries (qp, qp2) into sp and sp2: each converted row loaded once for both. */
// @ts-ignore: decorator
@inline function scores4x2(qp: usize, qp2: usize, k0: usize, ks: usize, hd: usize, scale: f32, sp: usize, sp2: usize): void {
  const k1 = k0 + ks, k2 = k0 + 2 * ks, k3 = k0 + 3 * ks;
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  let u0 = f32x4.splat(0), u1 = f32x4.splat(0), u2 = f32x4.splat(0), u3 = f32x4.splat(0);
  for (let i: usize = 0; i < hd; i += 4) {
    const qv = v128.load(qp + (i << 2));
    const qw = v128.load(qp2 + (i << 2));
    const a = v128.load(k0 + (i << 2)), b = v128.load(k1 + (i << 2));
    s0 = f32x4.add(s0, f32x4.mul(a, qv));
    u0 = f32x4.add(u0, f32x4.mul(a, qw));
    s1 = f32x4.add(s1, f32x4.mul(b, qv));
    u1 = f32x4.add(u1, f32x4.mul(b, qw));
    const c = v128.load(k2 + (i << 2)), d = v128.load(k3 + (i << 2));
    s2 = f32x4.add(s2, f32x4.mul(c, qv));
    u2 = f32x4.add(u2, f32x4.mul(c, qw));
    s3 = f32x4.add(s3, f32x4.mul(d, qv));
    u3 = f32x4.add(u3, f32x4.mul(d, qw));
  }
  const sv = f32x4.splat(scale);
  v128.store(sp, f32x4.mul(hsum4(s0, s1, s2, s3), sv));
  v128.store(sp2, f32x4.mul(hsum4(u0, u1, u2, u3), sv));
}

/** The lane sums of four vectors, hsumF32's (l0 + l1) + (l2 + l3) of each, as one vector. */
// @ts-ignore: decorator
@inline function hsum4(s0: v128, s1: v128, s2: v128, s3: v128): v128 {
  const a = f32x4.add(v128.shuffle<f32>(s0, s1, 0, 2, 4, 6), v128.shuffle<f32>(s0, s1, 1, 3, 5, 7));
  const b = f32x4.add(v128.shuffle<f32>(s2, s3, 0, 2, 4, 6), v128.shuffle<f32>(s2, s3, 1, 3, 5, 7));
  return f32x4.add(v128.shuffle<f32>(a, b, 0, 2, 4, 6), v128.shuffle<f32>(a, b, 1, 3, 5, 7));
}

/** Bytes of per-thread scratch attention() needs for `rowsPerTask` rows of `group` heads over `ctx` positions. */
export function attentionScratch(rowsPerTask: i32, group: i32, headDim: i32, ctx: i32): usize {
  const nq = <usize>rowsPerTask * <usize>group;
  return (nq * 2 * <usize>headDim + 4 * <usize>headDim + nq * <usize>ctx) << 2;
}

/**
 * Causal attention for tasks [t0, t1) of T query rows. A task is a tile of
 * up to `rowsPerTask` consecutive rows times one KV head, i.e. all `group`
 * query heads that share it (GQA): each K and V cache row is converted from
 * f16 once per task and used by every query of the tile, instead of once per
 * query. With an f16 cache q is rounded to half precision first, as ggml does.
 *
 * flash = false (default): llama.cpp's non-flash numerics: each query's
 * scores go to scratch (one row per query of the tile, never a score matrix
 * of the whole prompt), softmax, each weight rounded to half precision when
 * the cache is f16, then Σ w·V in position order.
 * flash = true: one pass over positions per query with a running max and sum
 * (online softmax); scores, weights and the V accumulator are f32.
 * headDim must be a multiple of 8; scratch holds attentionScratch() bytes.
 */
export function attention(
  q: usize, out: usize, kc: usize, vc: usize, nHeads: i32, nKv: i32, headDim: i32, scale: f32, f16cache: bool, half: bool, flash: bool, window: i32,
  pos0: i32, T: i32, rowsPerTask: i32, scratch: usize, t0: i32, t1: i32,
): void {
  const group = nHeads / nKv;
  const kvw = <usize>(nKv * headDim);
  const qw = <usize>(nHeads * headDim);
  const hd = <usize>headDim;
  const nqMax = <usize>rowsPerTask * <usize>group;
  const qs = scratch; // the tile's queries (rounded), nq x hd
  const acc = qs + ((nqMax * hd) << 2); // their outputs, nq x hd
  const buf = acc + ((nqMax * hd) << 2); // four converted cache rows
  const scores = buf + (hd << 4); // nq x n
  for (let t = t0; t < t1; t++) {
    const tile = t / nKv;
    const g = t - tile * nKv;
    const r0 = tile * rowsPerTask;
    const r1 = min(T, r0 + rowsPerTask);
    const ko = <usize>g * hd;
    const nq = (r1 - r0) * group;
    const n = pos0 + r1; // positions the tile's last row sees
    // sliding window: no row of the tile sees a position before its first row's window
    const pLo = window > 0 ? max(0, pos0 + r0 + 1 - window) : 0;
    for (let qi = 0; qi < nq; qi++) {
      const r = r0 + qi / group;
      const h = g * group + qi % group;
      const src = q + ((<usize>r * qw + <usize>h * hd) << 2);
      const dst = qs + ((<usize>qi * hd) << 2);
      const ap = acc + ((<usize>qi * hd) << 2);
      for (let i: usize = 0; i < hd << 2; i += 16) {
        const v = v128.load(src + i);
        v128.store(dst + i, half ? roundF16x4(v) : v);
        v128.store(ap + i, f32x4.splat(0));
      }
    }
    if (flash) {
      for (let qi = 0; qi < nq; qi++) {
        const r = r0 + qi / group;
        const nr = pos0 + r + 1;
        flashQuery(qs + ((<usize>qi * hd) << 2), acc + ((<usize>qi * hd) << 2), kc, vc, ko, kvw, hd, window > 0 ? max(0, nr - window) : 0, nr, scale, f16cache);
      }
    } else {
      // scores: rows p..p+3 of K converted once, then every query of the tile that sees them,
      // four positions per pass over the query (the same sums, in the same order, as one at a time)
      let p = pLo;
      for (; p + 4 <= n; p += 4) {
        const k0 = cacheRows4(kc, <usize>p * kvw + ko, kvw, hd, f16cache, buf);
        const ks = rows4Step(kvw, hd, f16cache);
        const k1 = k0 + ks, k2 = k0 + 2 * ks;
        for (let qi = max(0, p - pos0 - r0) * group; qi < nq; qi++) {
          const qp = qs + ((<usize>qi * hd) << 2);
          const sp = scores + ((<usize>qi * <usize>n + <usize>p) << 2);
          const nr = pos0 + r0 + qi / group + 1;
          if (nr >= p + 4) {
            // later queries see at least as far: two at a time while both do (each row loaded once for both)
            if (qi + 1 < nq) {
              scores4x2(qp, qp + (hd << 2), k0, ks, hd, scale, sp, sp + (<usize>n << 2));
              qi++;
            } else {
              scores4(qp, k0, ks, hd, scale, sp);
            }
          } else {
            for (let j = 0; j < nr - p; j++) store<f32>(sp + (<usize>j << 2), hsumF32(dot4F32(qp, j == 0 ? k0 : j == 1 ? k1 : k2, hd)) * scale);
          }
        }
      }
      for (; p < n; p++) {
        const kr = cacheRow(kc, <usize>p * kvw + ko, hd, f16cache, buf);
        for (let qi = max(0, p - pos0 - r0) * group; qi < nq; qi++) {
          store<f32>(scores + ((<usize>qi * <usize>n + <usize>p) << 2), hsumF32(dot4F32(qs + ((<usize>qi * hd) << 2), kr, hd)) * scale);
        }
      }
      for (let qi = 0; qi < nq; qi++) {
        const nr = pos0 + r0 + qi / group + 1;
        const sc = scores + ((<usize>qi * <usize>n) << 2);
        // sliding window: this row gives weight 0 to the positions in [pLo, p0) (scored for the tile, not for it)
        const p0 = window > 0 ? max(0, nr - window) : 0;
        for (let p = pLo; p < p0; p++) store<f32>(sc + (<usize>p << 2), 0);
        softmaxRow(sc, p0, nr, half);
      }
      // Σ w·V: rows p..p+3 of V converted once; each accumulator vector stays in a register for
      // the four positions (acc + w0·V0 + w1·V1 + ... in position order, as one at a time)
      for (p = pLo; p + 4 <= n; p += 4) {
        const v0 = cacheRows4(vc, <usize>p * kvw + ko, kvw, hd, f16cache, buf);
        const vs = rows4Step(kvw, hd, f16cache);
        const v1 = v0 + vs, v2 = v0 + 2 * vs, v3 = v0 + 3 * vs;
        for (let qi = max(0, p - pos0 - r0) * group; qi < nq; qi++) {
          const ap = acc + ((<usize>qi * hd) << 2);
          const sp = scores + ((<usize>qi * <usize>n + <usize>p) << 2);
          const nr = pos0 + r0 + qi / group + 1;
          if (nr >= p + 4 && qi + 1 < nq) {
            // two queries per pass (the next one sees at least as far), each converted row loaded once for both
            const sq = sp + (<usize>n << 2), aq = ap + (hd << 2);
            const w0 = v128.load32_splat(sp), w1 = v128.load32_splat(sp + 4), w2 = v128.load32_splat(sp + 8), w3 = v128.load32_splat(sp + 12);
            const y0 = v128.load32_splat(sq), y1 = v128.load32_splat(sq + 4), y2 = v128.load32_splat(sq + 8), y3 = v128.load32_splat(sq + 12);
            for (let i: usize = 0; i < hd; i += 4) {
              const o = i << 2;
              const e0 = v128.load(v0 + o), e1 = v128.load(v1 + o), e2 = v128.load(v2 + o), e3 = v128.load(v3 + o);
              let a = v128.load(ap + o);
              let c = v128.load(aq + o);
              a = f32x4.add(a, f32x4.mul(e0, w0));
              c = f32x4.add(c, f32x4.mul(e0, y0));
              a = f32x4.add(a, f32x4.mul(e1, w1));
              c = f32x4.add(c, f32x4.mul(e1, y1));
              a = f32x4.add(a, f32x4.mul(e2, w2));
              c = f32x4.add(c, f32x4.mul(e2, y2));
              a = f32x4.add(a, f32x4.mul(e3, w3));
              c = f32x4.add(c, f32x4.mul(e3, y3));
              v128.store(ap + o, a);
              v128.store(aq + o, c);
            }
            qi++;
          } else if (nr >= p + 4) {
            const w0 = f32x4.splat(load<f32>(sp)), w1 = f32x4.splat(load<f32>(sp, 4));
            const w2 = f32x4.splat(load<f32>(sp, 8)), w3 = f32x4.splat(load<f32>(sp, 12));
            for (let i: usize = 0; i < hd; i += 4) {
              const o = i << 2;
              let a = v128.load(ap + o);
              a = f32x4.add(a, f32x4.mul(v128.load(v0 + o), w0));
              a = f32x4.add(a, f32x4.mul(v128.load(v1 + o), w1));
              a = f32x4.add(a, f32x4.mul(v128.load(v2 + o), w2));
              a = f32x4.add(a, f32x4.mul(v128.load(v3 + o), w3));
              v128.store(ap + o, a);
            }
          } else {
            for (let j = 0; j < nr - p; j++) accumulateF32(ap, j == 0 ? v0 : j == 1 ? v1 : v2, hd, f32x4.splat(load<f32>(sp + (<usize>j << 2))));
          }
        }
      }
      for (; p < n; p++) {
        const vr = cacheRow(vc, <usize>p * kvw + ko, hd, f16cache, buf);
        for (let qi = max(0, p - pos0 - r0) * group; qi < nq; qi++) {
          accumulateF32(acc + ((<usize>qi * hd) << 2), vr, hd, f32x4.splat(load<f32>(scores + ((<usize>qi * <usize>n + <usize>p) << 2))));
        }
      }
    }
    for (let qi = 0; qi < nq; qi++) {
      const r = r0 + qi / group;
      const h = g * group + qi % group;
      memory.copy(out + ((<usize>r * qw + <usize>h * hd) << 2), acc + ((<usize>qi * hd) << 2), hd << 2);
    }
  }
}

/**
 * One query's softmax over its scores at sc[p0 .. nr) in place: the max, then e^(s - max) four at a time
 * with the vector e^x (≤ 2 ulp), summed in position order, then each times 1/sum, rounded to half
 * precision with an f16 cache (llama.cpp's non-flash numerics). Prompt tiles and the split decode share it.
 */
function softmaxRow(sc: usize, p0: i32, nr: i32, half: bool): void {
  expRow(sc, p0, nr, rowMax(sc, p0, nr));
  let sum: f32 = 0;
  for (let p = p0; p < nr; p++) sum += load<f32>(sc + (<usize>p << 2));
  normalizeRow(sc, p0, nr, <f32>1 / sum, half);
}

/** The largest score of sc[p0 .. nr). */
// @ts-ignore: decorator
@inline function rowMax(sc: usize, p0: i32, nr: i32): f32 {
  // pmax is one instruction where max orders NaN and -0 with several: the maximum is the same value (a NaN
  // score makes every weight NaN either way, and e^(s - ±0) is the same for every s); two independent
  // running maxima halve the loop's dependency chain
  let m4 = f32x4.splat(-Infinity), n4 = f32x4.splat(-Infinity);
  let p = p0;
  for (; p + 8 <= nr; p += 8) {
    m4 = f32x4.pmax(m4, v128.load(sc + (<usize>p << 2)));
    n4 = f32x4.pmax(n4, v128.load(sc + (<usize>p << 2), 16));
  }
  m4 = f32x4.pmax(m4, n4);
  for (; p + 4 <= nr; p += 4) m4 = f32x4.pmax(m4, v128.load(sc + (<usize>p << 2)));
  let mx: f32 = max(max(f32x4.extract_lane(m4, 0), f32x4.extract_lane(m4, 1)), max(f32x4.extract_lane(m4, 2), f32x4.extract_lane(m4, 3)));
  for (; p < nr; p++) mx = max(mx, load<f32>(sc + (<usize>p << 2)));
  return mx;
}

/**
 * sc[p] = e^(sc[p] - mx) over [p0, nr) in place, four at a time with the vector e^x, the tail one lane at a
 * time with the same function. No sums here: the loop stays free of the sums' dependency chain (and of
 * the registers it needed, whose spills made it slow); the callers add the stored values in position order.
 */
// @ts-ignore: decorator
@inline function expRow(sc: usize, p0: i32, nr: i32, mx: f32): void {
  const mv = f32x4.splat(mx);
  let p = p0;
  for (; p + 8 <= nr; p += 8) {
    // two independent vectors per pass: e^x is a long chain of dependent operations
    const a = expV(f32x4.sub(v128.load(sc + (<usize>p << 2)), mv));
    const b = expV(f32x4.sub(v128.load(sc + (<usize>p << 2), 16), mv));
    v128.store(sc + (<usize>p << 2), a);
    v128.store(sc + (<usize>p << 2), b, 16);
  }
  for (; p + 4 <= nr; p += 4) v128.store(sc + (<usize>p << 2), expV(f32x4.sub(v128.load(sc + (<usize>p << 2)), mv)));
  for (; p < nr; p++) store<f32>(sc + (<usize>p << 2), f32x4.extract_lane(expV(f32x4.splat(load<f32>(sc + (<usize>p << 2)) - mx)), 0));
}

/**
 * Four floats rounded to the nearest binary16 value, ties to even: lane for lane the same bits as
 * roundF16 (checked for every f32 bit pattern), NaN becoming the quiet NaN with its sign.
 */
// @ts-ignore: decorator
@inline export function roundF16x4(x: v128): v128 {
  const sign = v128.and(x, kv(KI_SIGN));
  const a = v128.and(x, kv(KI_ABS));
  // binary16 normals (|x| >= 2^-14): round the f32 mantissa at bit 13, a carry moving into the exponent
  const nrm = v128.and(i32x4.add(i32x4.add(a, kv(KI_FFF)), v128.and(i32x4.shr_u(a, 13), kv(KI_ONE))), kv(KI_MANT13));
  // below 2^-14: to a multiple of 2^-24 (the binary16 subnormal step), adding and removing 0.5 whose f32 ulp it is
  const half = kv(KF_HALF);
  const sub = f32x4.sub(f32x4.add(a, half), half);
  let r = v128.bitselect(sub, nrm, i32x4.lt_s(a, kv(KI_F16_MIN)));
  // from halfway between 65504 and 65536 up (and infinity): infinity; NaN: the quiet NaN
  const inf = kv(KI_INF);
  r = v128.bitselect(inf, r, i32x4.ge_s(a, kv(KI_F16_OVER)));
  r = v128.bitselect(kv(KI_QNAN), r, i32x4.gt_s(a, inf));
  return v128.or(r, sign);
}

/** n floats at src rounded to binary16 values (roundF16x4) into dst (n a multiple of 4). */
export function roundHalves(src: usize, dst: usize, n: i32): void {
  for (let i = 0; i < n; i += 4) v128.store(dst + (<usize>i << 2), roundF16x4(v128.load(src + (<usize>i << 2))));
}

// Decode attention split across threads. A one-token step has one task per KV head in attention(),
// too few for the threads (3 on SmolLM2-135M); the split runs it in three phases with a barrier
// between them, each with enough tasks: scores of every query head over blocks of positions, the
// softmax of each query head, and Σ w·V over strips of eight columns. Every score, weight and output
// element is computed with the same operations in the same order as attention() computes it, so the
// results are bit-identical to it.

/** Positions per task of attnScores. */
export const ATTN_BLOCK = 128;

/** Tasks of phase `phase` (0 scores, 1 softmax, 2 values) for a token at position n - 1 seeing [pLo, n). */
export function attnSplitTasks(phase: i32, nHeads: i32, nKv: i32, headDim: i32, pLo: i32, n: i32): i32 {
  if (phase == 0) return nKv * ((n - pLo + ATTN_BLOCK - 1) / ATTN_BLOCK);
  if (phase == 1) return nHeads;
  return nKv * (headDim >> 3) * ((nHeads / nKv + 3) >> 2);
}

/**
 * Phase 0: tasks [t0, t1) of (KV head, block of ATTN_BLOCK positions): the scaled scores q·K of the
 * KV head's query heads at the block's positions into S (query head h's row at S + h * sStride floats).
 * scratch: the group's queries (rounded to half precision with an f16 cache) and four converted rows.
 */
export function attnScores(
  q: usize, kc: usize, nHeads: i32, nKv: i32, headDim: i32, scale: f32, f16cache: bool, half: bool, pLo: i32, n: i32, S: usize, sStride: i32, scratch: usize, t0: i32, t1: i32,
): void {
  const group = nHeads / nKv;
  const hd = <usize>headDim;
  const kvw = <usize>nKv * hd;
  const nb = (n - pLo + ATTN_BLOCK - 1) / ATTN_BLOCK;
  const qs = scratch;
  const buf = qs + ((<usize>group * hd) << 2);
  for (let t = t0; t < t1; t++) {
    const g = t / nb;
    const pa = pLo + (t - g * nb) * ATTN_BLOCK;
    const pb = min(n, pa + ATTN_BLOCK);
    const ko = <usize>g * hd;
    const qg = q + ((<usize>g * <usize>group * hd) << 2);
    if (half) roundHalves(qg, qs, group * headDim);
    else memory.copy(qs, qg, (<usize>group * hd) << 2);
    const sg = S + ((<usize>g * <usize>group * <usize>sStride) << 2);
    let p = pa;
    for (; p + 4 <= pb; p += 4) {
      const k0 = cacheRows4(kc, <usize>p * kvw + ko, kvw, hd, f16cache, buf);
      const ks = rows4Step(kvw, hd, f16cache);
      let qi = 0;
      for (; qi + 2 <= group; qi += 2) {
        const sp = sg + ((<usize>qi * <usize>sStride + <usize>p) << 2);
        scores4x2(qs + ((<usize>qi * hd) << 2), qs + ((<usize>(qi + 1) * hd) << 2), k0, ks, hd, scale, sp, sp + (<usize>sStride << 2));
      }
      if (qi < group) scores4(qs + ((<usize>qi * hd) << 2), k0, ks, hd, scale, sg + ((<usize>qi * <usize>sStride + <usize>p) << 2));
    }
    for (; p < pb; p++) {
      const kr = cacheRow(kc, <usize>p * kvw + ko, hd, f16cache, buf);
      for (let qi = 0; qi < group; qi++) {
        store<f32>(sg + ((<usize>qi * <usize>sStride + <usize>p) << 2), hsumF32(dot4F32(qs + ((<usize>qi * hd) << 2), kr, hd)) * scale);
      }
    }
  }
}

/** Phase 1: the softmax of query heads [t0, t1) over their scores at [pLo, n) (softmaxRow). */
export function attnSoftmax(S: usize, sStride: i32, half: bool, pLo: i32, n: i32, t0: i32, t1: i32): void {
  let h = t0;
  for (; h + 2 <= t1; h += 2) softmaxRows2(S + ((<usize>h * <usize>sStride) << 2), S + ((<usize>(h + 1) * <usize>sStride) << 2), pLo, n, half);
  if (h < t1) softmaxRow(S + ((<usize>h * <usize>sStride) << 2), pLo, n, half);
}

/**
 * softmaxRow of two rows: each row's operations are softmaxRow's, in its order; the two position-ordered
 * sums are independent chains the core runs side by side.
 */
function softmaxRows2(sa: usize, sb: usize, p0: i32, nr: i32, half: bool): void {
  expRow(sa, p0, nr, rowMax(sa, p0, nr));
  expRow(sb, p0, nr, rowMax(sb, p0, nr));
  let suma: f32 = 0, sumb: f32 = 0;
  for (let p = p0; p < nr; p++) {
    suma += load<f32>(sa + (<usize>p << 2));
    sumb += load<f32>(sb + (<usize>p << 2));
  }
  normalizeRow(sa, p0, nr, <f32>1 / suma, half);
  normalizeRow(sb, p0, nr, <f32>1 / sumb, half);
}

/** sc[p] *= inv over [p0, nr), rounded to half precision with an f16 cache. */
// @ts-ignore: decorator
@inline function normalizeRow(sc: usize, p0: i32, nr: i32, inv: f32, half: bool): void {
  const iv = f32x4.splat(inv);
  let p = p0;
  for (; p + 4 <= nr; p += 4) {
    const wv = f32x4.mul(v128.load(sc + (<usize>p << 2)), iv);
    v128.store(sc + (<usize>p << 2), half ? roundF16x4(wv) : wv);
  }
  for (; p < nr; p++) {
    const wv = load<f32>(sc + (<usize>p << 2)) * inv;
    store<f32>(sc + (<usize>p << 2), half ? f32x4.extract_lane(roundF16x4(f32x4.splat(wv)), 0) : wv);
  }
}

/**
 * Phase 2: tasks [t0, t1) of (KV head, strip of eight columns, up to four of its query heads): out = Σ w·V
 * over positions [pLo, n) in position order, the accumulators in registers.
 */
export function attnValues(
  S: usize, sStride: i32, vc: usize, out: usize, nHeads: i32, nKv: i32, headDim: i32, f16cache: bool, pLo: i32, n: i32, t0: i32, t1: i32,
): void {
  const group = nHeads / nKv;
  const hd = <usize>headDim;
  const kvw = <usize>nKv * hd;
  const strips = headDim >> 3;
  const subs = (group + 3) >> 2;
  for (let t = t0; t < t1; t++) {
    const g = t / (strips * subs);
    const r = t - g * strips * subs;
    const st = r / subs;
    const u = r - st * subs;
    const h0 = g * group + u * 4;
    const col = <usize>g * hd + (<usize>st << 3);
    const w0 = S + ((<usize>h0 * <usize>sStride + <usize>pLo) << 2);
    const v0 = vc + ((<usize>pLo * kvw + col) << (f16cache ? 1 : 2));
    const o = out + ((<usize>h0 * hd + (<usize>st << 3)) << 2);
    // the query count as a constant in each copy, so the loop has no branches on it
    switch (min(4, group - u * 4)) {
      case 1: valuesStrip(1, w0, sStride, v0, kvw, f16cache, n - pLo, o, hd); break;
      case 2: valuesStrip(2, w0, sStride, v0, kvw, f16cache, n - pLo, o, hd); break;
      case 3: valuesStrip(3, w0, sStride, v0, kvw, f16cache, n - pLo, o, hd); break;
      default: valuesStrip(4, w0, sStride, v0, kvw, f16cache, n - pLo, o, hd);
    }
  }
}

/**
 * Σ w·V of nq query heads (weights at w, rows sStride floats apart) over count positions of one strip of
 * eight V columns (at v, rows kvw values apart) into o (rows hd floats apart).
 */
// @ts-ignore: decorator
@inline function valuesStrip(nq: i32, w: usize, sStride: i32, v: usize, kvw: usize, f16cache: bool, count: i32, o: usize, hd: usize): void {
  const rowStep = <usize>sStride << 2;
  const vStep = kvw << (f16cache ? 1 : 2);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let a4 = f32x4.splat(0), a5 = f32x4.splat(0), a6 = f32x4.splat(0), a7 = f32x4.splat(0);
  const wEnd = w + (<usize>count << 2);
  for (; w < wEnd; w += 4) {
    let lo: v128, hi: v128;
    if (f16cache) {
      const hv = v128.load(v);
      lo = f16x4lo(hv);
      hi = f16x4hi(hv);
    } else {
      lo = v128.load(v);
      hi = v128.load(v, 16);
    }
    v += vStep;
    const x0 = v128.load32_splat(w);
    a0 = f32x4.add(a0, f32x4.mul(lo, x0));
    a1 = f32x4.add(a1, f32x4.mul(hi, x0));
    if (nq > 1) {
      const x1 = v128.load32_splat(w + rowStep);
      a2 = f32x4.add(a2, f32x4.mul(lo, x1));
      a3 = f32x4.add(a3, f32x4.mul(hi, x1));
    }
    if (nq > 2) {
      const x2 = v128.load32_splat(w + 2 * rowStep);
      a4 = f32x4.add(a4, f32x4.mul(lo, x2));
      a5 = f32x4.add(a5, f32x4.mul(hi, x2));
    }
    if (nq > 3) {
      const x3 = v128.load32_splat(w + 3 * rowStep);
      a6 = f32x4.add(a6, f32x4.mul(lo, x3));
      a7 = f32x4.add(a7, f32x4.mul(hi, x3));
    }
  }
  const ostep = hd << 2;
  v128.store(o, a0);
  v128.store(o, a1, 16);
  if (nq > 1) {
    v128.store(o + ostep, a2);
    v128.store(o + ostep, a3, 16);
  }
  if (nq > 2) {
    v128.store(o + 2 * ostep, a4);
    v128.store(o + 2 * ostep, a5, 16);
  }
  if (nq > 3) {
    v128.store(o + 3 * ostep, a6);
    v128.store(o + 3 * ostep, a7, 16);
  }
}

/** One query's flash attention over positions [p0, n): running max and sum, acc = Σ softmax·V (normalised at the end). */
function flashQuery(qh: usize, acc: usize, kc: usize, vc: usize, ko: usize, kvw: usize, hd: usize, p0: i32, n: i32, scale: f32, f16cache: bool): void {
  let mx: f32 = -Infinity;
  let sum: f32 = 0;
  for (let p = p0; p < n; p++) {
    const row = <usize>p * kvw + ko;
    const s = scoreAt(qh, kc, row, hd, f16cache) * scale;
    let wgt: f32;
    if (s > mx) {
      const c = <f32>Math.exp(<f64>(mx - s));
      if (c != 1) {
        const cv = f32x4.splat(c);
        for (let i: usize = 0; i < hd; i += 4) v128.store(acc + (i << 2), f32x4.mul(v128.load(acc + (i << 2)), cv));
      }
      sum *= c;
      mx = s;
      wgt = 1;
    } else {
      wgt = <f32>Math.exp(<f64>(s - mx));
    }
    sum += wgt;
    accumulateV(acc, vc, row, hd, wgt, f16cache);
  }
  const inv = f32x4.splat(<f32>1 / sum);
  for (let i: usize = 0; i < hd; i += 4) v128.store(acc + (i << 2), f32x4.mul(v128.load(acc + (i << 2)), inv));
}

/** out[i] = a[i] + b[i] for i in [i0, i1). */
export function add(a: usize, b: usize, out: usize, i0: i32, i1: i32): void {
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

/**
 * e^x for four floats: Cody-Waite reduction x = n·ln2 + r (|r| <= ln2/2) and a
 * degree-6 polynomial for e^r (Cephes expf's coefficients), then 2^n from the
 * exponent bits. Within 2 ulp of the true value for |x| < 87; +Infinity above
 * 88.72, 0 below -87.3 (no subnormals). Like ggml's vectorised expf, it trades
 * correct rounding for speed.
 */
// @ts-ignore: decorator
@inline export function expV(x: v128): v128 {
  const hi = kv(KE_HI);
  // pmin/pmax (one instruction each; min/max order NaN and -0 at a cost): a NaN x stays NaN either way
  const xc = f32x4.pmax(f32x4.pmin(x, hi), kv(KE_LO));
  // round x·log2(e) to the nearest integer (ties to even) by adding 1.5 · 2^23: the sum's low mantissa
  // bits then hold that integer, so n comes out both as a float and, from the bits, as an i32
  const magic = kv(KE_MAGIC);
  const t = f32x4.add(f32x4.mul(xc, kv(KE_LOG2E)), magic);
  const n = f32x4.sub(t, magic);
  let r = f32x4.sub(xc, f32x4.mul(n, kv(KE_LN2_HI)));
  r = f32x4.sub(r, f32x4.mul(n, kv(KE_LN2_LO)));
  let p = kv(KE_P0);
  p = f32x4.add(f32x4.mul(p, r), kv(KE_P1));
  p = f32x4.add(f32x4.mul(p, r), kv(KE_P2));
  p = f32x4.add(f32x4.mul(p, r), kv(KE_P3));
  p = f32x4.add(f32x4.mul(p, r), kv(KE_P4));
  p = f32x4.add(f32x4.mul(p, r), kv(KE_P5));
  const y = f32x4.add(f32x4.add(f32x4.mul(f32x4.mul(p, r), r), r), kv(KF_ONE));
  // 2^n in two factors so n = 128 (x near the top) stays finite until the final product
  const ni = i32x4.sub(t, magic);
  const n1 = i32x4.shr_s(ni, 1);
  const n2 = i32x4.sub(ni, n1);
  const bias = kv(KI_127);
  const s1 = i32x4.shl(i32x4.add(n1, bias), 23), s2 = i32x4.shl(i32x4.add(n2, bias), 23);
  const e = f32x4.mul(f32x4.mul(y, s1), s2);
  return v128.bitselect(kv(KF_INF), e, f32x4.gt(x, hi));
}

/** silu(g)·u for four floats: g / (1 + e^-g) · u. */
// @ts-ignore: decorator
@inline function siluMulV(g: v128, u: v128): v128 {
  return f32x4.mul(f32x4.div(g, f32x4.add(kv(KF_ONE), expV(f32x4.neg(g)))), u);
}

/**
 * out[i] = silu(gate[i]) * up[i] with the vector e^x above (a few ulp from the
 * reference's float64 silu, as ggml's own vectorised silu is).
 */
export function siluMul(gate: usize, up: usize, out: usize, i0: i32, i1: i32): void {
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, siluMulV(v128.load(gate + o), v128.load(up + o)));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, f32x4.extract_lane(siluMulV(f32x4.splat(load<f32>(gate + o)), f32x4.splat(load<f32>(up + o))), 0));
  }
}

/**
 * out[i] = gelu(gate[i]) * up[i] as ggml's CPU geglu: tab[f16 bits of g] (ggml's table of binary16
 * GELU results, as f32) for |g| < 10, 0 for g <= -10, g for g >= 10.
 */
export function geluMul(gate: usize, up: usize, out: usize, tab: usize, i0: i32, i1: i32): void {
  for (let i = i0; i < i1; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(gate + o);
    const a: f32 = g <= -10 ? 0 : g >= 10 ? g : load<f32>(tab + (<usize>toF16(g) << 2));
    store<f32>(out + o, a * load<f32>(up + o));
  }
}

/** out[i] = x[i] * s for i in [i0, i1). */
export function scaleF32(x: usize, out: usize, s: f32, i0: i32, i1: i32): void {
  const sv = f32x4.splat(s);
  let i = i0;
  for (; i + 4 <= i1; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.mul(v128.load(x + o), sv));
  }
  for (; i < i1; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(x + o) * s);
  }
}

/** x[i] = cap * tanh(x[i] / cap) for i in [i0, i1), each step rounded to f32 (ggml: scale, tanh, scale). */
export function softcap(x: usize, cap: f32, i0: i32, i1: i32): void {
  const inv: f32 = <f32>1 / cap;
  for (let i = i0; i < i1; i++) {
    const o = <usize>i << 2;
    store<f32>(x + o, <f32>Math.tanh(<f64>(load<f32>(x + o) * inv)) * cap);
  }
}

/**
 * Index of the largest of x[0..n) (the first one on ties; NaN never wins), or
 * -1 when every value is NaN: the same answer as the generate loop's argmax.
 */
export function argmax(x: usize, n: i32): i32 {
  let mv = f32x4.splat(-Infinity);
  let i = 0;
  for (; i + 4 <= n; i += 4) mv = f32x4.pmax(mv, v128.load(x + (<usize>i << 2)));
  let m = f32x4.extract_lane(mv, 0);
  for (let l = 1; l < 4; l++) {
    const v = l == 1 ? f32x4.extract_lane(mv, 1) : l == 2 ? f32x4.extract_lane(mv, 2) : f32x4.extract_lane(mv, 3);
    if (v > m) m = v;
  }
  for (; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    if (v > m) m = v;
  }
  const mm = f32x4.splat(m);
  for (i = 0; i + 4 <= n; i += 4) {
    if (v128.any_true(f32x4.eq(v128.load(x + (<usize>i << 2)), mm))) break;
  }
  for (; i < n; i++) if (load<f32>(x + (<usize>i << 2)) == m) return i;
  return -1;
}
