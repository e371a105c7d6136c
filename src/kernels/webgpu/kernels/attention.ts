/**
 * Causal attention with grouped KV heads over the layer's KV cache; the query
 * row t of the batch (position pos + t; per-row variant: its own position in its
 * own sequence's region of the cache, ./rows.ts) attends to positions 0 .. pos + t, or
 * the last p.window of them on sliding-window layers (window > 0).
 * Numerics follow the reference (src/kernels/reference/ops.ts): with an f16
 * cache, q and the normalised softmax weights are rounded to f16.
 *
 * Because the weights are rounded *after* normalisation, the kernel makes two
 * passes over K: (1) online max / sum of exp per invocation, merged across the
 * workgroup; (2) tiles of 64 positions: each invocation computes one weight
 * into workgroup memory, then every invocation accumulates its head
 * dimensions d = lid, lid + 64, … over the tile's V rows. No score buffer.
 *
 * Workgroup: 64 invocations for one (query row, head); headDim <= 256.
 * Grid: x = head, y = query row of the batch.
 * Bindings: 0 uniform P, 1 uniform Step, 2 q: array<f32> (T × nHeads*headDim),
 *           3 kc, 4 vc: array<f16>, array<u32> (f16 pairs) or array<f32>, 5 out: array<f32> (like q).
 */
import { F16_WGSL, STEP_WGSL, enableF16 } from './common.js';
import { rowsWGSL } from './rows.js';

export const ATTENTION_WG = 64;
export const ATTENTION_MAX_HEAD_DIM = 256;

/**
 * Bindings 3 (K) and 4 (V) of a layer's cache, with k_at / v_at readers and
 * rnd (f16 rounding or identity). An f16 cache is `array<f16>` on the
 * shader-f16 path (`native`; the module must `enable f16;`), otherwise f16
 * pairs packed in u32; an f32 cache is `array<f32>`. Same bytes either way.
 */
export function kvCacheWGSL(f16: boolean, native = false): string {
  if (f16 && native) {
    return `@group(0) @binding(3) var<storage, read> kc: array<f16>;
@group(0) @binding(4) var<storage, read> vc: array<f16>;
fn k_at(i: u32) -> f32 { return f32(kc[i]); }
fn v_at(i: u32) -> f32 { return f32(vc[i]); }
fn rnd(x: f32) -> f32 { return round_f16(x); }
${F16_WGSL}`;
  }
  return f16
    ? `@group(0) @binding(3) var<storage, read> kc: array<u32>;
@group(0) @binding(4) var<storage, read> vc: array<u32>;
fn k_at(i: u32) -> f32 { return unpack2x16float(kc[i >> 1u])[i & 1u]; }
fn v_at(i: u32) -> f32 { return unpack2x16float(vc[i >> 1u])[i & 1u]; }
fn rnd(x: f32) -> f32 { return round_f16(x); }
${F16_WGSL}`
    : `@group(0) @binding(3) var<storage, read> kc: array<f32>;
@group(0) @binding(4) var<storage, read> vc: array<f32>;
fn k_at(i: u32) -> f32 { return kc[i]; }
fn v_at(i: u32) -> f32 { return vc[i]; }
fn rnd(x: f32) -> f32 { return x; }`;
}

/** score(pos, ko): q (in workgroup memory qs) · K row pos at head offset ko, times the scale. */
export const SCORE_WGSL = /* wgsl */ `
fn score(pos: u32, ko: u32) -> f32 {
  let kb = pos * p.kvWidth + ko;
  var s = 0.0;
  for (var i = 0u; i < p.headDim; i += 1u) { s += qs[i] * k_at(kb + i); }
  return s * p.scale;
}`;

/** perRow: each query row at its own position in its own sequence's cache region (rows buffer at binding 6, ./rows.ts). */
export function attentionWGSL(f16: boolean, native = false, perRow = false): string {
  const WG = ATTENTION_WG;
  const per = ATTENTION_MAX_HEAD_DIM / WG;
  const cacheDecl = kvCacheWGSL(f16, native);
  return /* wgsl */ `${enableF16(f16 && native)}
struct P { nHeads: u32, group: u32, headDim: u32, kvWidth: u32, scale: f32, p1: u32, window: u32, p3: u32 }
@group(0) @binding(0) var<uniform> p: P;
${STEP_WGSL}
@group(0) @binding(2) var<storage, read> q: array<f32>;
${cacheDecl}
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
${rowsWGSL(perRow ? 6 : undefined)}

var<workgroup> qs: array<f32, ${ATTENTION_MAX_HEAD_DIM}>;
var<workgroup> wsh: array<f32, ${WG}>;
var<workgroup> mred: array<f32, ${WG}>;
var<workgroup> lred: array<f32, ${WG}>;
${SCORE_WGSL}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let t = wid.y;
  let n = row_pos(t) + 1u;
  // Sliding window: positions lo .. n - 1.
  let lo = select(0u, n - p.window, p.window > 0u && n > p.window);
  let ko = row_base(t) * p.kvWidth + (h / p.group) * p.headDim;
  let qo = (t * p.nHeads + h) * p.headDim;
  for (var d = lid; d < p.headDim; d += ${WG}u) { qs[d] = rnd(q[qo + d]); }
  workgroupBarrier();

  var m = -1e30;
  var l = 0.0;
  for (var j = lo + lid; j < n; j += ${WG}u) {
    let s = score(j, ko);
    let m2 = max(m, s);
    l = l * exp(m - m2) + exp(s - m2);
    m = m2;
  }
  mred[lid] = m;
  lred[lid] = l;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let ma = mred[lid];
      let mb = mred[lid + s];
      let mm = max(ma, mb);
      lred[lid] = lred[lid] * exp(ma - mm) + lred[lid + s] * exp(mb - mm);
      mred[lid] = mm;
    }
    workgroupBarrier();
  }
  let M = mred[0];
  let L = lred[0];

  var acc: array<f32, ${per}>;
  for (var base = lo; base < n; base += ${WG}u) {
    let j = base + lid;
    var wv = 0.0;
    if (j < n) { wv = rnd(exp(score(j, ko) - M) / L); }
    wsh[lid] = wv;
    workgroupBarrier();
    let cnt = min(${WG}u, n - base);
    for (var k = 0u; k < ${per}u; k += 1u) {
      let d = lid + k * ${WG}u;
      if (d < p.headDim) {
        var a = 0.0;
        for (var jj = 0u; jj < cnt; jj += 1u) { a += wsh[jj] * v_at((base + jj) * p.kvWidth + ko + d); }
        acc[k] += a;
      }
    }
    workgroupBarrier();
  }
  for (var k = 0u; k < ${per}u; k += 1u) {
    let d = lid + k * ${WG}u;
    if (d < p.headDim) { out[qo + d] = acc[k]; }
  }
}`;
}
