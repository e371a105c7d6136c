/**
 * Quantized matrix-vector / matrix-matrix product:  Y[t][off + r] = W[r] · X[t]
 * for the rows r of one part of a weight (a tensor larger than a binding is
 * split into parts of whole rows, one dispatch each).
 *
 * Workgroup: 64 invocations = RPW rows × TPR invocations per row (TPR a power
 * of two chosen per weight: 64 or fewer on GPUs, 1 on CPU adapters where
 * barriers are expensive). Invocation `lane` of a row reads the 32-element
 * chunks c = lane, lane + TPR, … straight from the GGUF blocks (`chunk`, per
 * type, see quant.ts) and dots each with up to TT = 8 activation rows (the
 * weight chunk is read once for all of them). The TPR partials of a row are
 * summed with subgroupAdd + workgroup memory (TPR = 64, subgroup path) or a
 * tree in workgroup memory; TPR = 1 needs no reduction.
 * Grid: x + y * nx = block of RPW weight rows (nx <= 65535), z = block of TT token rows.
 *
 * Bindings: 0 uniform P, 1 uniform Step, 2 W: array<u32> (weight bytes),
 *           3 X: array<vec4<f32>> (rows × cols/4), 4 Y: array<f32> (rows × outStride).
 */
import { STEP_WGSL, bytesWGSL, enableF16, enableSubgroups, reduceSumWGSL, sgArgs, sgParams } from './common.js';
import { chunkWGSL } from './quant.js';

export const MATMUL_WG = 64;
export const MATMUL_TT = 8;

/** Threads per row: all 64 for long rows, the largest power of two <= chunks per row for short ones; 1 on CPU adapters. */
export function matmulThreadsPerRow(cols: number, cpuAdapter: boolean): number {
  if (cpuAdapter) return 1;
  const chunks = Math.ceil(cols / 32);
  let t = 1;
  while (t * 2 <= Math.min(chunks, MATMUL_WG)) t *= 2;
  return t;
}

function reduceAndStore(tpr: number, subgroups: boolean): { decl: string; code: string } {
  const WG = MATMUL_WG;
  const TT = MATMUL_TT;
  const store = 'Y[(t0 + t) * p.outStride + p.outOffset + r]';
  if (tpr === 1) {
    return { decl: '', code: `if (r < p.rows) { for (var t = 0u; t < nt; t += 1u) { ${store} = acc[t]; } }` };
  }
  if (tpr === WG) {
    return {
      decl: reduceSumWGSL(WG, subgroups),
      code: `for (var t = 0u; t < ${TT}u; t += 1u) {
    if (t >= nt) { break; }
    let total = wg_sum(acc[t], lid, ${sgArgs(subgroups)});
    if (lid == 0u && r < p.rows) { ${store} = total; }
  }`,
    };
  }
  // Segmented tree: the RPW rows of the workgroup are reduced together, log2(TPR) barriers in all.
  return {
    decl: `var<workgroup> seg: array<f32, ${WG * TT}>;`,
    code: `for (var t = 0u; t < ${TT}u; t += 1u) { seg[t * ${WG}u + lid] = acc[t]; }
  workgroupBarrier();
  for (var s = ${tpr / 2}u; s > 0u; s >>= 1u) {
    if (lane < s) { for (var t = 0u; t < nt; t += 1u) { seg[t * ${WG}u + lid] += seg[t * ${WG}u + lid + s]; } }
    workgroupBarrier();
  }
  if (lane == 0u && r < p.rows) { for (var t = 0u; t < nt; t += 1u) { ${store} = seg[t * ${WG}u + lid]; } }`,
  };
}

export function matmulWGSL(typeId: number, subgroups: boolean, tpr: number, f16 = false): string {
  const WG = MATMUL_WG;
  const TT = MATMUL_TT;
  if (!(tpr >= 1 && tpr <= WG && (tpr & (tpr - 1)) === 0)) throw new Error(`matmul: ${tpr} threads per row is not a power of two <= ${WG}`);
  const sg = subgroups && tpr === WG;
  const { decl, code } = reduceAndStore(tpr, sg);
  return /* wgsl */ `${enableF16(f16)}${enableSubgroups(sg)}
struct P { rows: u32, cols: u32, rowBytes: u32, nChunks: u32, outStride: u32, outOffset: u32, xKind: u32, nx: u32 }
@group(0) @binding(0) var<uniform> p: P;
${STEP_WGSL}
@group(0) @binding(2) var<storage, read> W: array<u32>;
@group(0) @binding(3) var<storage, read> X: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> Y: array<f32>;
${bytesWGSL(f16)}
${chunkWGSL(typeId, f16)}
${decl}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32${sgParams(sg)}) {
  let lane = lid % ${tpr}u;
  let r = (wid.x + wid.y * p.nx) * ${WG / tpr}u + lid / ${tpr}u;
  let nrows = rows_of(p.xKind);
  let t0 = wid.z * ${TT}u;
  let nt = min(${TT}u, nrows - min(nrows, t0));
  let cols4 = p.cols / 4u;
  var acc: array<f32, ${TT}>;
  if (r < p.rows) {
    let rb = r * p.rowBytes;
    for (var c = lane; c < p.nChunks; c += ${tpr}u) {
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
  ${code}
}`;
}

/** The uniform P of one matmul part. */
export function matmulParams(rows: number, cols: number, rowBytes: number, outStride: number, outOffset: number, xKind: number, nx: number): Uint32Array {
  return Uint32Array.of(rows, cols, rowBytes, Math.ceil(cols / 32), outStride, outOffset, xKind, nx);
}
