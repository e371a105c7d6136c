/**
 * Quantized matrix-vector / matrix-matrix product:  Y[t][off + r] = W[r] · X[t]
 * for the rows r of one part of a weight (a tensor larger than a binding is
 * split into parts of whole rows, one dispatch each).
 *
 * Workgroup: 64 invocations for one weight row and up to TT = 8 token rows.
 * Each invocation reads 32-element chunks c = lid, lid + 64, … of the row
 * straight from the GGUF blocks (`chunk`, per type, see quant.ts), dots each
 * with the TT activation rows (the weight chunk is read once for all of
 * them), and the workgroup sums the partials (subgroupAdd + workgroup memory,
 * or a tree in workgroup memory without subgroups).
 * Grid: x + y * nx = weight row (nx <= 65535), z = block of TT token rows.
 *
 * Bindings: 0 uniform P, 1 uniform Step, 2 W: array<u32> (weight bytes),
 *           3 X: array<vec4<f32>> (rows × cols/4), 4 Y: array<f32> (rows × outStride).
 */
import { BYTES_WGSL, STEP_WGSL, enableSubgroups, reduceSumWGSL, sgArgs, sgParams } from './common.js';
import { chunkWGSL } from './quant.js';

export const MATMUL_WG = 64;
export const MATMUL_TT = 8;

export function matmulWGSL(typeId: number, subgroups: boolean): string {
  const WG = MATMUL_WG;
  const TT = MATMUL_TT;
  return /* wgsl */ `${enableSubgroups(subgroups)}
struct P { rows: u32, cols: u32, rowBytes: u32, nChunks: u32, outStride: u32, outOffset: u32, xKind: u32, nx: u32 }
@group(0) @binding(0) var<uniform> p: P;
${STEP_WGSL}
@group(0) @binding(2) var<storage, read> W: array<u32>;
@group(0) @binding(3) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;
${BYTES_WGSL}
${chunkWGSL(typeId)}
${reduceSumWGSL(WG, subgroups)}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32${sgParams(subgroups)}) {
  let r = wid.x + wid.y * p.nx;
  let nrows = rows_of(p.xKind);
  let t0 = wid.z * ${TT}u;
  let nt = min(${TT}u, nrows - min(nrows, t0));
  let cols4 = p.cols / 4u;
  var acc: array<f32, ${TT}>;
  if (r < p.rows) {
    let rb = r * p.rowBytes;
    for (var c = lid; c < p.nChunks; c += ${WG}u) {
      let ch = chunk(rb, c);
      let nv = min(8u, cols4 - c * 8u);
      for (var t = 0u; t < nt; t += 1u) {
        let xo = (t0 + t) * cols4 + c * 8u;
        var s = 0.0;
        for (var i = 0u; i < nv; i += 1u) { s += dot(ch[i], X[xo + i]); }
        acc[t] += s;
      }
    }
  }
  for (var t = 0u; t < ${TT}u; t += 1u) {
    if (t >= nt) { break; }
    let total = wg_sum(acc[t], lid, ${sgArgs(subgroups)});
    if (lid == 0u && r < p.rows) { Y[(t0 + t) * p.outStride + p.outOffset + r] = total; }
  }
}`;
}

/** The uniform P of one matmul part. */
export function matmulParams(rows: number, cols: number, rowBytes: number, outStride: number, outOffset: number, xKind: number, nx: number): Uint32Array {
  return Uint32Array.of(rows, cols, rowBytes, Math.ceil(cols / 32), outStride, outOffset, xKind, nx);
}
