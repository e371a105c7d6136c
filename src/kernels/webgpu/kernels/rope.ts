/**
 * RoPE: the pair (x[2i], x[2i+1]) (llama.cpp's "normal" mode) or (x[i], x[i + ropeDim/2])
 * ("neox" mode) of every head, i < ropeDim/2, is rotated by the angle of (position, i). cos/sin come from the
 * rope table of model/rope.ts (the reference backend's), uploaded once, so no
 * GPU transcendental of a large angle is involved.
 *
 * Workgroup: 64 invocations, one per (row, head, pair). Grid: x (+ y * 65535 * 64).
 * Bindings: 0 uniform P, 1 uniform Step, 2 x: array<f32> (rows × nHeads*headDim, in place),
 *           3 cs: array<vec2<f32>> (context × ropeDim/2: cos, sin).
 */
import { STEP_WGSL } from './common.js';
import { rowsWGSL } from './rows.js';

/** neox: pairs (x[i], x[i + half]); perRow: positions from the rows buffer at binding 4 (multi-sequence steps, ./rows.ts). */
export function ropeWGSL(neox = false, perRow = false): string {
  const [o, o2] = neox ? ['h * p.headDim + i', 'o + p.half'] : ['h * p.headDim + 2u * i', 'o + 1u'];
  return /* wgsl */ `
struct P { nHeads: u32, headDim: u32, half: u32, xKind: u32 }
@group(0) @binding(0) var<uniform> p: P;
${STEP_WGSL}
@group(0) @binding(2) var<storage, read_write> x: array<f32>;
@group(0) @binding(3) var<storage, read> cs: array<vec2<f32>>;
${rowsWGSL(perRow ? 4 : undefined)}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let k = gid.x + gid.y * 65535u * 64u;
  let perRow = p.nHeads * p.half;
  if (k >= rows_of(p.xKind) * perRow) { return; }
  let r = k / perRow;
  let h = (k % perRow) / p.half;
  let i = k % p.half;
  let a = cs[row_pos(r) * p.half + i];
  let o = r * p.nHeads * p.headDim + ${o};
  let o2 = ${o2};
  let x0 = x[o];
  let x1 = x[o2];
  x[o] = x0 * a.x - x1 * a.y;
  x[o2] = x0 * a.y + x1 * a.x;
}`;
}
