/**
 * RoPE, llama.cpp "normal" mode: the pair (x[2i], x[2i+1]) of every head,
 * 2i < ropeDim, is rotated by the angle of (position, i). cos/sin come from a
 * table computed on the host exactly as the reference computes them (float32
 * theta stepped by base^(-2/ropeDim), Math.cos/Math.sin rounded to float32),
 * so no GPU transcendental of a large angle is involved.
 *
 * Workgroup: 64 invocations, one per (row, head, pair). Grid: x (+ y * 65535 * 64).
 * Bindings: 0 uniform P, 1 uniform Step, 2 x: array<f32> (rows × nHeads*headDim, in place),
 *           3 cs: array<vec2<f32>> (context × ropeDim/2: cos, sin).
 */
import { STEP_WGSL } from './common.js';
import { rowsWGSL } from './rows.js';

/** perRow: positions from the rows buffer at binding 4 (multi-sequence steps, ./rows.ts). */
export function ropeWGSL(perRow = false): string {
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
  let o = r * p.nHeads * p.headDim + h * p.headDim + 2u * i;
  let x0 = x[o];
  let x1 = x[o + 1u];
  x[o] = x0 * a.x - x1 * a.y;
  x[o + 1u] = x0 * a.y + x1 * a.x;
}`;
}

/** cos/sin per (position, pair), as the reference rope computes them. */
export function ropeTable(contextLength: number, ropeDim: number, base: number): Float32Array {
  const f = Math.fround;
  const half = ropeDim / 2;
  const out = new Float32Array(contextLength * half * 2);
  const thetaScale = f(Math.pow(base, -2 / ropeDim));
  for (let pos = 0; pos < contextLength; pos++) {
    let theta = f(pos);
    for (let i = 0; i < half; i++) {
      out[(pos * half + i) * 2] = Math.cos(theta);
      out[(pos * half + i) * 2 + 1] = Math.sin(theta);
      theta = f(theta * thetaScale);
    }
  }
  return out;
}
