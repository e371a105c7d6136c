/**
 * Greedy sampling on the GPU: the index of the largest logit of the last
 * output row (ties -> lowest index, NaN ignored, as generate/sampling.ts;
 * 0xffffffff when every logit is NaN),
 * written as one u32 so only 4 bytes are read back per token.
 *
 * Workgroup: 256 invocations, one workgroup. Grid: 1.
 * Bindings: 0 uniform P { vocab, bits of -inf }, 1 uniform Step, 2 logits: array<f32> (nOut × vocab), 3 result: array<u32>.
 */
import { STEP_WGSL } from './common.js';

export const ARGMAX_WG = 256;

export function argmaxWGSL(): string {
  const WG = ARGMAX_WG;
  return /* wgsl */ `
struct P { vocab: u32, negInf: u32, p2: u32, p3: u32 }
@group(0) @binding(0) var<uniform> p: P;
${STEP_WGSL}
@group(0) @binding(2) var<storage, read> logits: array<f32>;
@group(0) @binding(3) var<storage, read_write> result: array<u32>;
var<workgroup> bv: array<f32, ${WG}>;
var<workgroup> bi: array<u32, ${WG}>;

fn better(v: f32, i: u32, w: f32, j: u32) -> bool {
  // v beats w: larger, or equal with a lower index (comparisons with NaN are false: a NaN never wins).
  return v > w || (v == w && i < j);
}

@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32) {
  let o = (st.nOut - 1u) * p.vocab;
  var v = bitcast<f32>(p.negInf);  // -inf, from the uniform: WGSL constants cannot be infinite
  var vi = 0xffffffffu;
  for (var i = lid; i < p.vocab; i += ${WG}u) {
    let x = logits[o + i];
    if (better(x, i, v, vi)) { v = x; vi = i; }
  }
  bv[lid] = v;
  bi[lid] = vi;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s >>= 1u) {
    if (lid < s && better(bv[lid + s], bi[lid + s], bv[lid], bi[lid])) { bv[lid] = bv[lid + s]; bi[lid] = bi[lid + s]; }
    workgroupBarrier();
  }
  if (lid == 0u) { result[0] = bi[0]; }
}`;
}
