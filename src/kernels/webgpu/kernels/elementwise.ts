/**
 * Element-wise ops over n = rows × width floats, one invocation per element
 * (per pair for the KV store). One template, three bodies:
 *   add       out = a + b            (out may alias a: bound once as read_write)
 *   add_row   out = a + b[i % width] (a matmul's bias; out may alias a)
 *   silu_mul  out = silu(a) * b      (silu(g) = g / (1 + e^-g); out may alias a)
 *   gelu_mul  out = gelu(a) * b      (ggml's CPU GELU: a rounded to f16 indexes a table of f16
 *                                     results, binding 5, built on the host; |a| >= 10: 0 or a)
 *   scale     out = a * p.f          (out may alias a)
 *   softcap   a = tanh(a * p.f) * p.g, in place (f = 1/cap, g = cap)
 *   slice     out[r][c] = a[r][p.offset + c] (a rows of p.srcWidth)
 *   kv_store  cache[slot(t)] = k[t] and v[t] (slot: pos + t, or per row ./rows.ts), as f32, as f16 pairs packed in u32,
 *             or as array<f16> (shader-f16 path: `kv_store_f16_native`); f16
 *             rounds to nearest even, like src/quant/float.ts, on every path
 *
 * Workgroup: 256. Grid: x + y * 65535 workgroups.
 * Bindings: 0 uniform P { width, kind, f, g, srcWidth, offset }, 1 uniform Step, then per body:
 *   add / add_row / silu_mul / gelu_mul: 2 a (read_write; also out when aliased), 3 b, 4 out (gelu_mul: 5 table)
 *   scale / softcap / slice: 2 a, 4 out (none when aliased)
 *   kv_store: 2 k, 3 v, 4 kc, 5 vc (6 rows when per-row)
 */
import { F16_WGSL, STEP_WGSL, enableF16 } from './common.js';
import { rowsWGSL } from './rows.js';

export type ElementwiseKind = 'add' | 'add_row' | 'silu_mul' | 'gelu_mul' | 'scale' | 'softcap' | 'slice' | 'kv_store_f16' | 'kv_store_f16_native' | 'kv_store_f32';

export const ELEMENTWISE_WG = 256;

/** k, v (f32 rows) and the layer's K and V cache as arrays of `elem`. */
function kvBindings(elem: 'f32' | 'u32' | 'f16', perRow: boolean): string {
  return `@group(0) @binding(2) var<storage, read> k: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> kc: array<${elem}>;
@group(0) @binding(5) var<storage, read_write> vc: array<${elem}>;
${rowsWGSL(perRow ? 6 : undefined)}
/** Cache row of token row t (its sequence's region, its position). */
fn slot(t: u32) -> u32 { return row_base(t) + row_pos(t); }`;
}

function body(kind: ElementwiseKind, aliased: boolean, perRow: boolean): { decl: string; per: string; n: string } {
  const outName = aliased ? 'a' : 'out';
  const ab = `@group(0) @binding(2) var<storage, read_write> a: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
${aliased ? '' : '@group(0) @binding(4) var<storage, read_write> out: array<f32>;'}`;
  // Ops of one input (scale, softcap, slice): no binding 3.
  const one = `@group(0) @binding(2) var<storage, read_write> a: array<f32>;
${aliased ? '' : '@group(0) @binding(4) var<storage, read_write> out: array<f32>;'}`;
  switch (kind) {
    case 'add':
      return { decl: ab, per: `${outName}[i] = a[i] + b[i];`, n: 'rows_of(p.kind) * p.width' };
    case 'add_row':
      return { decl: ab, per: `${outName}[i] = a[i] + b[i % p.width];`, n: 'rows_of(p.kind) * p.width' };
    case 'silu_mul':
      return { decl: ab, per: `let g = a[i]; ${outName}[i] = (g / (1.0 + exp(-g))) * b[i];`, n: 'rows_of(p.kind) * p.width' };
    case 'gelu_mul':
      return {
        decl: `${ab}
@group(0) @binding(5) var<storage, read> gelu: array<f32>;
${F16_WGSL}`,
        per: `let g = a[i]; var y = g; if (g <= -10.0) { y = 0.0; } else if (g < 10.0) { y = gelu[f32_to_f16_bits(g)]; } ${outName}[i] = y * b[i];`,
        n: 'rows_of(p.kind) * p.width',
      };
    case 'scale':
      return { decl: one, per: `${outName}[i] = a[i] * p.f;`, n: 'rows_of(p.kind) * p.width' };
    case 'softcap':
      return { decl: one, per: `a[i] = tanh(a[i] * p.f) * p.g;`, n: 'rows_of(p.kind) * p.width' };
    case 'slice':
      return { decl: one, per: `${outName}[i] = a[(i / p.width) * p.srcWidth + p.offset + i % p.width];`, n: 'rows_of(p.kind) * p.width' };
    case 'kv_store_f16':
      return {
        decl: `${kvBindings('u32', perRow)}
${F16_WGSL}`,
        per: `let hw = p.width / 2u; let o = slot(i / hw) * hw + i % hw;
  kc[o] = f32_to_f16_bits(k[2u * i]) | (f32_to_f16_bits(k[2u * i + 1u]) << 16u);
  vc[o] = f32_to_f16_bits(v[2u * i]) | (f32_to_f16_bits(v[2u * i + 1u]) << 16u);`,
        n: 'st.T * p.width / 2u',
      };
    case 'kv_store_f16_native':
      return {
        decl: `${kvBindings('f16', perRow)}
${F16_WGSL}
fn to_f16(x: f32, y: f32) -> vec2<f16> { return bitcast<vec2<f16>>(f32_to_f16_bits(x) | (f32_to_f16_bits(y) << 16u)); }`,
        per: `let hw = p.width / 2u; let o = slot(i / hw) * p.width + 2u * (i % hw);
  let hk = to_f16(k[2u * i], k[2u * i + 1u]);
  let hv = to_f16(v[2u * i], v[2u * i + 1u]);
  kc[o] = hk.x; kc[o + 1u] = hk.y; vc[o] = hv.x; vc[o + 1u] = hv.y;`,
        n: 'st.T * p.width / 2u',
      };
    case 'kv_store_f32':
      return {
        decl: kvBindings('f32', perRow),
        per: `let o = slot(i / p.width) * p.width + i % p.width; kc[o] = k[i]; vc[o] = v[i];`,
        n: 'st.T * p.width',
      };
  }
}

/** perRow (kv_store only): positions and sequences from the rows buffer at binding 6 (./rows.ts). */
export function elementwiseWGSL(kind: ElementwiseKind, aliased = false, perRow = false): string {
  const { decl, per, n } = body(kind, aliased, perRow);
  return /* wgsl */ `${enableF16(kind === 'kv_store_f16_native')}
struct P { width: u32, kind: u32, f: f32, g: f32, srcWidth: u32, offset: u32, p1: u32, p2: u32 }
@group(0) @binding(0) var<uniform> p: P;
${STEP_WGSL}
${decl}

@compute @workgroup_size(${ELEMENTWISE_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * ${ELEMENTWISE_WG}u;
  if (i >= ${n}) { return; }
  ${per}
}`;
}

/** The uniform P of an elementwise op. */
export function elementwiseParams(width: number, kind: number, o: { f?: number; g?: number; srcWidth?: number; offset?: number } = {}): Uint32Array {
  const v = new DataView(new ArrayBuffer(32));
  v.setUint32(0, width, true);
  v.setUint32(4, kind, true);
  v.setFloat32(8, o.f ?? 0, true);
  v.setFloat32(12, o.g ?? 0, true);
  v.setUint32(16, o.srcWidth ?? 0, true);
  v.setUint32(20, o.offset ?? 0, true);
  return new Uint32Array(v.buffer);
}
