/**
 * Per-type WGSL that reads 32-element chunks of a weight row straight from
 * the GGUF blocks (no dequantized copy in GPU memory). Every matmul and the
 * embedding lookup are generated from one template around
 *
 *   fn chunk(rb: u32, c: u32) -> array<vec4<f32>, 8>
 *
 * which returns elements 32c .. 32c+31 of the row starting at byte rb of the
 * weight binding W (array<u32>). Block sizes and bytes per block come from the
 * ggml type table; field offsets are ggml's block structs (see src/quant/).
 * Legacy types share one template (scale, optional min, optional fifth bit);
 * each K-quant has its own layout.
 */
import { GGMLType, ggmlType } from '../../../gguf/types.js';

/** Types the WebGPU matmul and embedding kernels read. */
export const WEBGPU_TYPES: readonly number[] = [
  GGMLType.F32,
  GGMLType.F16,
  GGMLType.Q4_0,
  GGMLType.Q4_1,
  GGMLType.Q5_0,
  GGMLType.Q5_1,
  GGMLType.Q8_0,
  GGMLType.Q2_K,
  GGMLType.Q3_K,
  GGMLType.Q4_K,
  GGMLType.Q5_K,
  GGMLType.Q6_K,
];

function size(id: number): number {
  return ggmlType(id)!.typeSize;
}

/**
 * Q4_0, Q4_1, Q5_0, Q5_1: { f16 d; [f16 m;] [u8 qh[4];] u8 qs[16] }, element
 * e < 16 in the low nibble of qs[e], e >= 16 in the high nibble of qs[e - 16],
 * fifth bit e of qh; y = (q - bias) * d  or  y = q * d + m.
 */
function legacyChunk(id: number, hasMin: boolean, hasHigh: boolean): string {
  const qh = hasMin ? 4 : 2;
  const qs = qh + (hasHigh ? 4 : 0);
  const bias = hasHigh ? 16 : 8;
  return /* wgsl */ `
fn chunk(rb: u32, c: u32) -> array<vec4<f32>, 8> {
  let bb = rb + c * ${size(id)}u;
  let d = rd_f16(bb);
  ${hasMin ? 'let m = rd_f16(bb + 2u);' : ''}
  ${hasHigh ? `let qh = rd_u32(bb + ${qh}u);` : ''}
  var out: array<vec4<f32>, 8>;
  for (var i = 0u; i < 8u; i += 1u) {
    let e0 = i * 4u;
    let w = rd_u32(bb + ${qs}u + (e0 & 15u));
    let sh = (e0 >> 4u) * 4u;
    var q = vec4<u32>(w >> sh, w >> (sh + 8u), w >> (sh + 16u), w >> (sh + 24u)) & vec4<u32>(15u);
    ${hasHigh ? 'q |= ((vec4<u32>(qh) >> (vec4<u32>(e0) + vec4<u32>(0u, 1u, 2u, 3u))) & vec4<u32>(1u)) << vec4<u32>(4u);' : ''}
    ${hasMin ? 'out[i] = vec4<f32>(q) * d + m;' : `out[i] = (vec4<f32>(q) - ${bias}.0) * d;`}
  }
  return out;
}`;
}

/** Q8_0: { f16 d; i8 qs[32] }, y = q * d. */
const q8_0 = /* wgsl */ `
fn chunk(rb: u32, c: u32) -> array<vec4<f32>, 8> {
  let bb = rb + c * ${size(GGMLType.Q8_0)}u;
  let d = rd_f16(bb);
  var out: array<vec4<f32>, 8>;
  for (var i = 0u; i < 8u; i += 1u) { out[i] = i8x4(rd_u32(bb + 2u + i * 4u)) * d; }
  return out;
}`;

const f32 = /* wgsl */ `
fn chunk(rb: u32, c: u32) -> array<vec4<f32>, 8> {
  let w0 = (rb >> 2u) + c * 32u;
  var out: array<vec4<f32>, 8>;
  for (var i = 0u; i < 8u; i += 1u) {
    let o = w0 + i * 4u;
    out[i] = bitcast<vec4<f32>>(vec4<u32>(W[o], W[o + 1u], W[o + 2u], W[o + 3u]));
  }
  return out;
}`;

/** F16 rows (4-byte aligned: cols is a multiple of 4): unpack2x16float, or four native halves per two words on the shader-f16 path. */
function f16Chunk(native: boolean): string {
  const read = native ? 'vec4<f32>(bitcast<vec4<f16>>(vec2<u32>(W[w0 + 2u * i], W[w0 + 2u * i + 1u])))' : 'vec4<f32>(unpack2x16float(W[w0 + 2u * i]), unpack2x16float(W[w0 + 2u * i + 1u]))';
  return /* wgsl */ `
fn chunk(rb: u32, c: u32) -> array<vec4<f32>, 8> {
  let w0 = (rb >> 2u) + c * 16u;
  var out: array<vec4<f32>, 8>;
  for (var i = 0u; i < 8u; i += 1u) { out[i] = ${read}; }
  return out;
}`;
}

/** get_scale_min_k4 of Q4_K / Q5_K: (scale, min) of sub-block j from the 12 bytes at s. */
const scaleMinK4 = /* wgsl */ `
fn scale_min_k4(s: u32, j: u32) -> vec2<f32> {
  if (j < 4u) { return vec2<f32>(f32(rd_u8(s + j) & 63u), f32(rd_u8(s + j + 4u) & 63u)); }
  let sc = (rd_u8(s + j + 4u) & 15u) | ((rd_u8(s + j - 4u) >> 6u) << 4u);
  let mn = (rd_u8(s + j + 4u) >> 4u) | ((rd_u8(s + j) >> 6u) << 4u);
  return vec2<f32>(f32(sc), f32(mn));
}`;

/** Q4_K: { f16 d; f16 dmin; u8 scales[12]; u8 qs[128] }; sub-block j: qs[32*(j/2) + l], low nibble if j even; y = (d*sc)*q - dmin*m. */
const q4_k = /* wgsl */ `${scaleMinK4}
fn chunk(rb: u32, c: u32) -> array<vec4<f32>, 8> {
  let bb = rb + (c >> 3u) * ${size(GGMLType.Q4_K)}u;
  let j = c & 7u;
  let sm = scale_min_k4(bb + 4u, j);
  let d1 = rd_f16(bb) * sm.x;
  let m1 = rd_f16(bb + 2u) * sm.y;
  let qs = bb + 16u + 32u * (j >> 1u);
  let sh = (j & 1u) * 4u;
  var out: array<vec4<f32>, 8>;
  for (var i = 0u; i < 8u; i += 1u) {
    let q = (u8x4(rd_u32(qs + i * 4u)) >> vec4<u32>(sh)) & vec4<u32>(15u);
    out[i] = d1 * vec4<f32>(q) - m1;
  }
  return out;
}`;

/** Q5_K: { f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128] }: Q4_K plus bit j of qh[l]. */
const q5_k = /* wgsl */ `${scaleMinK4}
fn chunk(rb: u32, c: u32) -> array<vec4<f32>, 8> {
  let bb = rb + (c >> 3u) * ${size(GGMLType.Q5_K)}u;
  let j = c & 7u;
  let sm = scale_min_k4(bb + 4u, j);
  let d1 = rd_f16(bb) * sm.x;
  let m1 = rd_f16(bb + 2u) * sm.y;
  let qs = bb + 48u + 32u * (j >> 1u);
  let sh = (j & 1u) * 4u;
  var out: array<vec4<f32>, 8>;
  for (var i = 0u; i < 8u; i += 1u) {
    let lo = (u8x4(rd_u32(qs + i * 4u)) >> vec4<u32>(sh)) & vec4<u32>(15u);
    let hi = (u8x4(rd_u32(bb + 16u + i * 4u)) >> vec4<u32>(j)) & vec4<u32>(1u);
    out[i] = d1 * vec4<f32>(lo + hi * 16u) - m1;
  }
  return out;
}`;

/**
 * Q6_K: { u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d }. Chunk j: half h = j/4,
 * group g = j%4; element l: low 4 bits from ql[64h + 32(g&1) + l] (high nibble
 * if g >= 2), top 2 bits from bits 2g of qh[32h + l], scale scales[8h + l/16 + 2g];
 * y = (d*scale)*(q - 32).
 */
const q6_k = /* wgsl */ `
fn chunk(rb: u32, c: u32) -> array<vec4<f32>, 8> {
  let bb = rb + (c >> 3u) * ${size(GGMLType.Q6_K)}u;
  let j = c & 7u;
  let h = j >> 2u;
  let g = j & 3u;
  let d = rd_f16(bb + 208u);
  let ql = bb + 64u * h + 32u * (g & 1u);
  let qh = bb + 128u + 32u * h;
  let sh = (g >> 1u) * 4u;
  var out: array<vec4<f32>, 8>;
  for (var i = 0u; i < 8u; i += 1u) {
    let sc = f32(extractBits(bitcast<i32>(rd_u8(bb + 192u + 8u * h + (i >> 2u) + 2u * g)), 0u, 8u));
    let lo = (u8x4(rd_u32(ql + i * 4u)) >> vec4<u32>(sh)) & vec4<u32>(15u);
    let hi = (u8x4(rd_u32(qh + i * 4u)) >> vec4<u32>(2u * g)) & vec4<u32>(3u);
    out[i] = (d * sc) * (vec4<f32>(lo | (hi << vec4<u32>(4u))) - 32.0);
  }
  return out;
}`;

/**
 * Q2_K: { u8 scales[16]; u8 qs[64]; f16 d; f16 dmin }. Chunk j: half h = j/4,
 * shift 2(j%4); element l from bits of qs[32h + l]; sub-block scale byte
 * scales[8h + 2(j%4) + l/16] (low nibble scale, high nibble min);
 * y = (d*sc)*q - dmin*m.
 */
const q2_k = /* wgsl */ `
fn chunk(rb: u32, c: u32) -> array<vec4<f32>, 8> {
  let bb = rb + (c >> 3u) * ${size(GGMLType.Q2_K)}u;
  let j = c & 7u;
  let h = j >> 2u;
  let shift = 2u * (j & 3u);
  let d = rd_f16(bb + 80u);
  let dmin = rd_f16(bb + 82u);
  var out: array<vec4<f32>, 8>;
  for (var i = 0u; i < 8u; i += 1u) {
    let sc = rd_u8(bb + 8u * h + 2u * (j & 3u) + (i >> 2u));
    let q = (u8x4(rd_u32(bb + 16u + 32u * h + i * 4u)) >> vec4<u32>(shift)) & vec4<u32>(3u);
    out[i] = (d * f32(sc & 15u)) * vec4<f32>(q) - dmin * f32(sc >> 4u);
  }
  return out;
}`;

/**
 * Q3_K: { u8 hmask[32]; u8 qs[64]; u8 scales[12]; f16 d }. Chunk j: half h,
 * shift 2(j%4) into qs[32h + l]; high bit j of hmask[l] (clear: subtract 4);
 * six-bit scale is = 8h + 2(j%4) + l/16 packed as in src/quant/kquants.ts,
 * minus 32; y = (d*scale)*q.
 */
const q3_k = /* wgsl */ `
fn chunk(rb: u32, c: u32) -> array<vec4<f32>, 8> {
  let bb = rb + (c >> 3u) * ${size(GGMLType.Q3_K)}u;
  let j = c & 7u;
  let h = j >> 2u;
  let shift = 2u * (j & 3u);
  let d = rd_f16(bb + 108u);
  var out: array<vec4<f32>, 8>;
  for (var i = 0u; i < 8u; i += 1u) {
    let is = 8u * h + 2u * (j & 3u) + (i >> 2u);
    let low = select(rd_u8(bb + 96u + is - 8u) >> 4u, rd_u8(bb + 96u + is) & 15u, is < 8u);
    let high = (rd_u8(bb + 104u + (is & 3u)) >> (2u * (is >> 2u))) & 3u;
    let sc = f32(i32(low | (high << 4u)) - 32);
    let q = (u8x4(rd_u32(bb + 32u + 32u * h + i * 4u)) >> vec4<u32>(shift)) & vec4<u32>(3u);
    let hm = (u8x4(rd_u32(bb + i * 4u)) >> vec4<u32>(j)) & vec4<u32>(1u);
    out[i] = (d * sc) * (vec4<f32>(q) - 4.0 * (1.0 - vec4<f32>(hm)));
  }
  return out;
}`;

/**
 * WGSL defining `chunk` for a ggml type; throws for a type the WebGPU backend
 * cannot read. `f16`: the shader-f16 path (F16 rows read as native halves; the
 * f16 block scales go through bytesWGSL(true)'s rd_f16).
 */
export function chunkWGSL(typeId: number, f16 = false): string {
  switch (typeId) {
    case GGMLType.F32:
      return f32;
    case GGMLType.F16:
      return f16Chunk(f16);
    case GGMLType.Q4_0:
      return legacyChunk(typeId, false, false);
    case GGMLType.Q4_1:
      return legacyChunk(typeId, true, false);
    case GGMLType.Q5_0:
      return legacyChunk(typeId, false, true);
    case GGMLType.Q5_1:
      return legacyChunk(typeId, true, true);
    case GGMLType.Q8_0:
      return q8_0;
    case GGMLType.Q2_K:
      return q2_k;
    case GGMLType.Q3_K:
      return q3_k;
    case GGMLType.Q4_K:
      return q4_k;
    case GGMLType.Q5_K:
      return q5_k;
    case GGMLType.Q6_K:
      return q6_k;
    default:
      throw new Error(`the WebGPU backend cannot read ggml type ${ggmlType(typeId)?.name ?? typeId} yet`);
  }
}

/** Columns of a row the chunk kernels can read: whole blocks, and a multiple of 4 (vec4 activations). */
export function checkColumns(typeId: number, cols: number, what: string): void {
  const t = ggmlType(typeId)!;
  if (cols % t.blockSize !== 0 || cols % 4 !== 0) {
    throw new Error(`${what}: rows of ${cols} ${t.name} elements are not whole blocks / a multiple of 4`);
  }
}
