/**
 * Causal attention for a batch of query rows (prompt processing): a tile of QT
 * query rows of one head against tiles of KT cache positions staged in
 * workgroup memory, so each K/V row is read once per query tile instead of
 * once per query row. Numerics as attention.ts (f16 cache: q and the
 * normalised softmax weights rounded to f16), hence two sweeps over K:
 *   1. scores of the tile (QT × KT, from q and K in workgroup memory) folded
 *      into a running max / sum per query row;
 *   2. the scores again, weights exp(s - max) / sum (rounded), times the V tile,
 *      accumulated per (query row, head dimension).
 *
 * Sizes: QT = min(16, 1024 / headDim) query rows and KT = min(64, 2048 / headDim)
 * positions per tile (<= 4 KiB of q, 8 KiB of K or V, 4 KiB of scores), fixed per pipeline.
 * Workgroup: 64 invocations. Grid: x = head, y = tile of QT query rows.
 * Bindings: 0 uniform P, 1 uniform Step, 2 q: array<f32> (T × nHeads*headDim),
 *           3 kc, 4 vc: the cache as in attention.ts, 5 out: array<f32> (like q).
 */
import { STEP_WGSL, enableF16 } from './common.js';
import { kvCacheWGSL } from './attention.js';

export function prefillTiles(headDim: number): { qt: number; kt: number } {
  return { qt: Math.min(16, Math.max(1, Math.floor(1024 / headDim))), kt: Math.min(64, Math.max(1, Math.floor(2048 / headDim))) };
}

export function attentionPrefillWGSL(f16: boolean, headDim: number, native = false): string {
  const { qt: QT, kt: KT } = prefillTiles(headDim);
  const D = headDim;
  const accPer = Math.ceil((QT * D) / 64);
  return /* wgsl */ `${enableF16(f16 && native)}
struct P { nHeads: u32, group: u32, headDim: u32, kvWidth: u32, scale: f32, p1: u32, window: u32, p3: u32 }
@group(0) @binding(0) var<uniform> p: P;
${STEP_WGSL}
@group(0) @binding(2) var<storage, read> q: array<f32>;
${kvCacheWGSL(f16, native)}
@group(0) @binding(5) var<storage, read_write> out: array<f32>;

const QT = ${QT}u;
const KT = ${KT}u;
const D = ${D}u;
var<workgroup> qs: array<f32, ${QT * D}>;
var<workgroup> kv: array<f32, ${KT * D}>;
var<workgroup> sc: array<f32, ${QT * KT}>;
var<workgroup> rowM: array<f32, ${QT}>;
var<workgroup> rowL: array<f32, ${QT}>;

/** Stages K (or V) rows base .. base + KT - 1 of the head at ko into kv (zeros past nMax). */
fn load_tile(base: u32, nMax: u32, ko: u32, lid: u32, values: bool) {
  for (var i = lid; i < KT * D; i += 64u) {
    let j = base + i / D;
    var v = 0.0;
    if (j < nMax) {
      let idx = j * p.kvWidth + ko + i % D;
      if (values) { v = v_at(idx); } else { v = k_at(idx); }
    }
    kv[i] = v;
  }
}

/** Score i of the tile (query row i / KT, position base + i % KT); -1e30 where the row may not look. */
fn tile_score(i: u32, base: u32, nq: u32, t0: u32) -> f32 {
  let r = i / KT;
  let j = base + i % KT;
  if (r >= nq || j > st.pos + t0 + r || (p.window > 0u && j + p.window <= st.pos + t0 + r)) { return -1e30; }
  var a = 0.0;
  for (var d = 0u; d < D; d += 1u) { a += qs[r * D + d] * kv[(i % KT) * D + d]; }
  return a * p.scale;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let t0 = wid.y * QT;
  let nq = min(QT, st.T - t0);
  let ko = (h / p.group) * D;
  // Positions any row of the tile may see: 0 .. pos + t0 + nq - 1.
  let nMax = st.pos + t0 + nq;
  for (var i = lid; i < QT * D; i += 64u) {
    let r = i / D;
    var v = 0.0;
    if (r < nq) { v = rnd(q[((t0 + r) * p.nHeads + h) * D + i % D]); }
    qs[i] = v;
  }
  if (lid < QT) { rowM[lid] = -1e30; rowL[lid] = 0.0; }
  workgroupBarrier();

  // Sweep 1: running max and sum of exp per query row.
  for (var base = 0u; base < nMax; base += KT) {
    load_tile(base, nMax, ko, lid, false);
    workgroupBarrier();
    for (var i = lid; i < QT * KT; i += 64u) { sc[i] = tile_score(i, base, nq, t0); }
    workgroupBarrier();
    if (lid < nq) {
      var m = rowM[lid];
      var l = rowL[lid];
      for (var c = 0u; c < KT; c += 1u) {
        let s = sc[lid * KT + c];
        if (s > -1e29) {
          let m2 = max(m, s);
          l = l * exp(m - m2) + exp(s - m2);
          m = m2;
        }
      }
      rowM[lid] = m;
      rowL[lid] = l;
    }
    workgroupBarrier();
  }

  // Sweep 2: weights (rounded as the reference), times V.
  var acc: array<f32, ${accPer}>;
  for (var base = 0u; base < nMax; base += KT) {
    load_tile(base, nMax, ko, lid, false);
    workgroupBarrier();
    for (var i = lid; i < QT * KT; i += 64u) {
      let s = tile_score(i, base, nq, t0);
      let r = i / KT;
      var w = 0.0;
      if (s > -1e29) { w = rnd(exp(s - rowM[r]) / rowL[r]); }
      sc[i] = w;
    }
    workgroupBarrier();
    load_tile(base, nMax, ko, lid, true);
    workgroupBarrier();
    for (var k = 0u; k < ${accPer}u; k += 1u) {
      let e = lid + k * 64u;
      if (e < QT * D) {
        let r = e / D;
        let d = e % D;
        var a = 0.0;
        for (var c = 0u; c < KT; c += 1u) { a += sc[r * KT + c] * kv[c * D + d]; }
        acc[k] += a;
      }
    }
    workgroupBarrier();
  }
  for (var k = 0u; k < ${accPer}u; k += 1u) {
    let e = lid + k * 64u;
    if (e < QT * D) {
      let r = e / D;
      if (r < nq) { out[((t0 + r) * p.nHeads + h) * D + e % D] = acc[k]; }
    }
  }
}`;
}
