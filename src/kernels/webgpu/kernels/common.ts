/**
 * WGSL shared by every kernel: the per-step uniform, byte access into weights
 * bound as `array<u32>` (GGUF blocks as they are in the file, unaligned fields
 * assembled from two words), and exact f32 -> f16 rounding.
 */

/**
 * The per-step uniform (binding 1 of every kernel), rewritten before each
 * submit: tokens in the batch, position of the first, output rows, first
 * output row. `rows(kind)` is the row count of a buffer whose rows are
 * `tokens` (kind 0) or `outputs` (kind 1).
 */
export const STEP_WGSL = /* wgsl */ `
struct Step { T: u32, pos: u32, nOut: u32, first: u32 }
@group(0) @binding(1) var<uniform> st: Step;
fn rows_of(kind: u32) -> u32 { return select(st.T, st.nOut, kind == 1u); }
`;

/**
 * Byte reads from a weight binding named W (array<u32>). 16-bit fields are at
 * even offsets in every ggml block. With `f16` (the shader-f16 path, needs
 * `enable f16;`), f16 fields are read as native halves instead of through
 * unpack2x16float.
 */
export function bytesWGSL(f16: boolean): string {
  return BYTES_COMMON + (f16 ? 'fn rd_f16(b: u32) -> f32 { return f32(bitcast<vec2<f16>>(W[b >> 2u])[(b >> 1u) & 1u]); }\n' : 'fn rd_f16(b: u32) -> f32 { return unpack2x16float(rd_u16(b)).x; }\n');
}
const BYTES_COMMON = /* wgsl */ `
fn rd_u8(b: u32) -> u32 { return (W[b >> 2u] >> ((b & 3u) * 8u)) & 0xffu; }
fn rd_u16(b: u32) -> u32 { return (W[b >> 2u] >> ((b & 2u) * 8u)) & 0xffffu; }
fn rd_u32(b: u32) -> u32 {
  let s = (b & 3u) * 8u;
  let lo = W[b >> 2u];
  if (s == 0u) { return lo; }
  return (lo >> s) | (W[(b >> 2u) + 1u] << (32u - s));
}
/** Four signed bytes of a word as floats. */
fn i8x4(w: u32) -> vec4<f32> {
  let v = bitcast<i32>(w);
  return vec4<f32>(f32(extractBits(v, 0u, 8u)), f32(extractBits(v, 8u, 8u)), f32(extractBits(v, 16u, 8u)), f32(extractBits(v, 24u, 8u)));
}
/** Four unsigned bytes of a word. */
fn u8x4(w: u32) -> vec4<u32> { return vec4<u32>(w & 0xffu, (w >> 8u) & 0xffu, (w >> 16u) & 0xffu, w >> 24u); }
`;

/** f32 -> binary16 bits, round to nearest even (as src/quant/float.ts f32ToF16); no dependence on pack2x16float's rounding. */
export const F16_WGSL = /* wgsl */ `
fn f32_to_f16_bits(x: f32) -> u32 {
  let u = bitcast<u32>(x);
  let sgn = (u >> 16u) & 0x8000u;
  let ex = (u >> 23u) & 0xffu;
  let mant = u & 0x7fffffu;
  if (ex == 0xffu) { return sgn | 0x7c00u | select(0u, 0x200u, mant != 0u); }
  let e = i32(ex) - 112;
  if (e >= 31) { return sgn | 0x7c00u; }
  if (e <= 0) {
    if (e < -10) { return sgn; }
    let m = mant | 0x800000u;
    let shift = u32(14 - e);
    var h = m >> shift;
    let rem = m & ((1u << shift) - 1u);
    let halfway = 1u << (shift - 1u);
    if (rem > halfway || (rem == halfway && (h & 1u) != 0u)) { h += 1u; }
    return sgn | h;
  }
  var h = (u32(e) << 10u) | (mant >> 13u);
  let rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u) != 0u)) { h += 1u; }
  return sgn | h;
}
fn round_f16(x: f32) -> f32 { return unpack2x16float(f32_to_f16_bits(x)).x; }
`;

/** `enable f16;` when the shader-f16 path is compiled (must open the module). */
export function enableF16(on: boolean): string {
  return on ? 'enable f16;\n' : '';
}

/** `enable subgroups;` when the subgroup path is compiled. */
export function enableSubgroups(on: boolean): string {
  return on ? 'enable subgroups;\n' : '';
}

/**
 * Sum of `v` over a workgroup of WG invocations into red[0] (for every
 * invocation after the call). Subgroup path: subgroupAdd, then one partial per
 * subgroup (subgroup k = invocations [k*size, (k+1)*size), as Dawn lays them
 * out; the tests check it). Without subgroups: a tree in workgroup memory.
 * Must be called in uniform control flow. Declares `red`.
 */
export function reduceSumWGSL(wg: number, subgroups: boolean): string {
  if (subgroups) {
    return /* wgsl */ `
var<workgroup> red: array<f32, ${wg}>;
fn wg_sum(v: f32, lid: u32, sgid: u32, sgsize: u32) -> f32 {
  let s = subgroupAdd(v);
  if (sgid == 0u) { red[lid / sgsize] = s; }
  workgroupBarrier();
  var t = 0.0;
  for (var i = 0u; i < (${wg}u + sgsize - 1u) / sgsize; i += 1u) { t += red[i]; }
  workgroupBarrier();
  return t;
}`;
  }
  return /* wgsl */ `
var<workgroup> red: array<f32, ${wg}>;
fn wg_sum(v: f32, lid: u32, sgid: u32, sgsize: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${wg / 2}u; s > 0u; s >>= 1u) {
    if (lid < s) { red[lid] += red[lid + s]; }
    workgroupBarrier();
  }
  let t = red[0];
  workgroupBarrier();
  return t;
}`;
}

/** Builtin parameters of an entry point that reduces: subgroup ids only on the subgroup path. */
export function sgParams(subgroups: boolean): string {
  return subgroups ? ', @builtin(subgroup_invocation_id) sgid: u32, @builtin(subgroup_size) sgsize: u32' : '';
}
/** Arguments for wg_sum's subgroup parameters on the path without subgroups. */
export function sgArgs(subgroups: boolean): string {
  return subgroups ? 'sgid, sgsize' : '0u, 1u';
}
