/**
 * RMSNorm: out[r] = (x[r] * 1/sqrt(mean(x[r]^2) + eps)) * w.
 *
 * Workgroup: 256 invocations per row (strided sum of squares, workgroup sum
 * with or without subgroups). Grid: x = row (rows of kind xKind).
 * Bindings: 0 uniform P, 1 uniform Step, 2 x: array<f32>, 3 w: array<f32>, 4 out: array<f32>.
 */
import { STEP_WGSL, enableSubgroups, reduceSumWGSL, sgArgs, sgParams } from './common.js';

export const RMSNORM_WG = 256;

export function rmsnormWGSL(subgroups: boolean): string {
  const WG = RMSNORM_WG;
  return /* wgsl */ `${enableSubgroups(subgroups)}
struct P { width: u32, xKind: u32, eps: f32, pad: u32 }
@group(0) @binding(0) var<uniform> p: P;
${STEP_WGSL}
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read> w: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
${reduceSumWGSL(WG, subgroups)}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32${sgParams(subgroups)}) {
  let r = wid.x;
  let o = r * p.width;
  var ss = 0.0;
  for (var i = lid; i < p.width; i += ${WG}u) { let v = x[o + i]; ss += v * v; }
  let total = wg_sum(ss, lid, ${sgArgs(subgroups)});
  let scale = 1.0 / sqrt(total / f32(p.width) + p.eps);
  for (var i = lid; i < p.width; i += ${WG}u) { out[o + i] = (x[o + i] * scale) * w[i]; }
}`;
}
