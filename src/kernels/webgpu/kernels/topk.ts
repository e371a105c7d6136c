/**
 * Top-k on the GPU: the k largest logits of the last output row, best first
 * (ties -> lower id, NaN never chosen, as generate/sampling.ts), as k ids and
 * k float bit patterns, so a top-k sampler reads back 8k bytes instead of the
 * whole row. k rounds of a workgroup arg-max over the row, each restricted to
 * what ranks below the previous pick in the order (logit desc, id asc).
 * Greedy sampling is k = 1: the argmax id in result[0] (0xffffffff when every
 * logit is NaN), the only 4 bytes read back per token.
 *
 * Workgroup: 256 invocations, one workgroup. Grid: 1.
 * Bindings: 0 uniform P { vocab, k, bits of -inf }, 1 uniform Step,
 *           2 logits: array<f32> (nOut × vocab), 3 result: array<u32> (ids[k], then logit bits[k];
 *           id 0xffffffff past the end of a row shorter than k).
 */
import { STEP_WGSL } from './common.js';

export const TOPK_WG = 256;
export const TOPK_MAX = 64;

export function topkWGSL(): string {
  const WG = TOPK_WG;
  return /* wgsl */ `
struct P { vocab: u32, k: u32, negInf: u32, p3: u32 }
@group(0) @binding(0) var<uniform> p: P;
${STEP_WGSL}
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read_write> result: array<u32>;
var<workgroup> bv: array<f32, ${WG}>;
var<workgroup> bi: array<u32, ${WG}>;

fn better(v: f32, i: u32, w: f32, j: u32) -> bool { return v > w || (v == w && i < j); }

@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32) {
  let o = (st.nOut - 1u) * p.vocab;
  let negInf = bitcast<f32>(p.negInf);
  var lastV = negInf;
  var lastI = 0u;
  for (var r = 0u; r < p.k; r += 1u) {
    var v = negInf;
    var vi = 0xffffffffu;
    for (var i = lid; i < p.vocab; i += ${WG}u) {
      let x = logits[o + i];
      let below = r == 0u || x < lastV || (x == lastV && i > lastI);
      if (below && better(x, i, v, vi)) { v = x; vi = i; }
    }
    bv[lid] = v;
    bi[lid] = vi;
    workgroupBarrier();
    for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
      if (lid < s && better(bv[lid + s], bi[lid + s], bv[lid], bi[lid])) { bv[lid] = bv[lid + s]; bi[lid] = bi[lid + s]; }
      workgroupBarrier();
    }
    lastV = bv[0];
    lastI = bi[0];
    if (lid == 0u) { result[r] = lastI; result[p.k + r] = bitcast<u32>(lastV); }
    workgroupBarrier();
  }
}`;
}
