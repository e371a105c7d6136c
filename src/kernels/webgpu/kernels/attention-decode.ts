/**
 * Split-KV attention for one query row (decode, flash-decoding style): the
 * positions 0 .. pos are cut into splits of 64, one workgroup per (split,
 * head), so long contexts spread over the GPU. Three passes keep the
 * reference numerics (softmax weights normalised *then* rounded to f16 with
 * an f16 cache, see attention.ts):
 *
 *   stats   (split, head): max and sum of exp of the split's 64 scores -> stats[head][split]
 *   values  (split, head): global max / sum merged from every split's stats; weights of
 *           the split's positions (rounded as the reference does), times V -> part[head][split][d]
 *   combine (head): out[head][d] = sum over splits of part[head][split][d]
 *
 * Workgroup: 64 invocations (one position of the split each; then one head dimension
 * each, d = lid, lid + 64, …). Grid: x = split (ceil((pos + 1) / 64)), y = head; combine: x = head.
 * Bindings: 0 uniform P, 1 uniform Step, 2 q: array<f32> (1 × nHeads*headDim),
 *           3 kc, 4 vc: array<f16>, array<u32> (f16 pairs) or array<f32>, 5 stats: array<vec2<f32>>,
 *           6 part: array<f32>, 7 out: array<f32> (combine only binds 0-1, 5-7 as listed there).
 */
import { STEP_WGSL, enableF16 } from './common.js';
import { SCORE_WGSL, kvCacheWGSL } from './attention.js';

export const SPLIT = 64;

export type DecodePass = 'stats' | 'values' | 'combine';

const HEADER = /* wgsl */ `
struct P { nHeads: u32, group: u32, headDim: u32, kvWidth: u32, scale: f32, maxSplits: u32, window: u32, p3: u32 }
@group(0) @binding(0) var<uniform> p: P;
${STEP_WGSL}`;

export function attentionDecodeWGSL(f16: boolean, pass: DecodePass, native = false): string {
  if (pass === 'combine') {
    return /* wgsl */ `${HEADER}
@group(0) @binding(6) var<storage, read> part: array<f32>;
@group(0) @binding(7) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let nSplits = (st.pos + ${SPLIT}u) / ${SPLIT}u;
  for (var d = lid; d < p.headDim; d += 64u) {
    var a = 0.0;
    for (var s = 0u; s < nSplits; s += 1u) { a += part[(h * p.maxSplits + s) * p.headDim + d]; }
    out[h * p.headDim + d] = a;
  }
}`;
  }
  const common = /* wgsl */ `${enableF16(f16 && native)}${HEADER}
@group(0) @binding(2) var<storage, read> q: array<f32>;
${kvCacheWGSL(f16, native)}
var<workgroup> qs: array<f32, 256>;
var<workgroup> wm: array<f32, 64>;
var<workgroup> wl: array<f32, 64>;

${SCORE_WGSL}`;
  const prologue = /* wgsl */ `
  let s = wid.x;
  let h = wid.y;
  let n = st.pos + 1u;
  // Sliding window: positions lo .. n - 1 (splits below lo contribute nothing).
  let lo = select(0u, n - p.window, p.window > 0u && n > p.window);
  let ko = (h / p.group) * p.headDim;
  for (var d = lid; d < p.headDim; d += 64u) { qs[d] = rnd(q[h * p.headDim + d]); }
  workgroupBarrier();
  let j = s * ${SPLIT}u + lid;`;
  if (pass === 'stats') {
    return /* wgsl */ `${common}
@group(0) @binding(5) var<storage, read_write> stats: array<vec2<f32>>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  ${prologue}
  var m = -1e30;
  var l = 0.0;
  if (j < n && j >= lo) { m = score(j, ko); l = 1.0; }
  wm[lid] = m;
  wl[lid] = l;
  workgroupBarrier();
  for (var k = 32u; k > 0u; k >>= 1u) {
    if (lid < k) {
      let ma = wm[lid];
      let mb = wm[lid + k];
      let mm = max(ma, mb);
      wl[lid] = wl[lid] * exp(ma - mm) + wl[lid + k] * exp(mb - mm);
      wm[lid] = mm;
    }
    workgroupBarrier();
  }
  if (lid == 0u) { stats[h * p.maxSplits + s] = vec2<f32>(wm[0], wl[0]); }
}`;
  }
  return /* wgsl */ `${common}
@group(0) @binding(5) var<storage, read> stats: array<vec2<f32>>;
@group(0) @binding(6) var<storage, read_write> part: array<f32>;
var<workgroup> wsh: array<f32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  ${prologue}
  let nSplits = (n + ${SPLIT - 1}u) / ${SPLIT}u;
  var M = -1e30;
  for (var t = 0u; t < nSplits; t += 1u) { M = max(M, stats[h * p.maxSplits + t].x); }
  var L = 0.0;
  for (var t = 0u; t < nSplits; t += 1u) { let st2 = stats[h * p.maxSplits + t]; L += st2.y * exp(st2.x - M); }
  var w = 0.0;
  if (j < n && j >= lo) { w = rnd(exp(score(j, ko) - M) / L); }
  wsh[lid] = w;
  workgroupBarrier();
  let cnt = min(${SPLIT}u, n - s * ${SPLIT}u);
  for (var d = lid; d < p.headDim; d += 64u) {
    var a = 0.0;
    for (var jj = 0u; jj < cnt; jj += 1u) { a += wsh[jj] * v_at((s * ${SPLIT}u + jj) * p.kvWidth + ko + d); }
    part[(h * p.maxSplits + s) * p.headDim + d] = a;
  }
}`;
}
