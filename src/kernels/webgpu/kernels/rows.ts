/**
 * Multi-sequence steps: each token row of the step has its own position and
 * its own sequence, whose region of the KV cache starts `contextLength`
 * positions per sequence further on. The host uploads one record per token
 * into the rows buffer before each such step:
 *   rows[t] = (position, first cache position of its sequence, token row of output t, 0)
 * (the third field is meaningful for t < nOut of the step).
 *
 * `rowsWGSL(binding)` gives a kernel row_pos(t) (position of token row t) and
 * row_base(t) (first cache position of its sequence): read from the rows
 * buffer at `binding` for per-row kernels, or from the step uniform for
 * single-sequence ones (binding undefined: position st.pos + t, base 0), so a
 * kernel body is written once and compiled in both variants. Only rope, the KV
 * store, attention and the output gather read them; matmuls, norms and the
 * element-wise ops run over all rows as in a single-sequence step.
 */
import { STEP_WGSL } from './common.js';

/** u32s per token row of the rows buffer. */
export const ROW_WORDS = 4;

export function rowsWGSL(binding: number | undefined): string {
  if (binding === undefined) {
    return `fn row_pos(t: u32) -> u32 { return st.pos + t; }
fn row_base(t: u32) -> u32 { return 0u; }`;
  }
  return `@group(0) @binding(${binding}) var<storage, read> rowinfo: array<vec4<u32>>;
fn row_pos(t: u32) -> u32 { return rowinfo[t].x; }
fn row_base(t: u32) -> u32 { return rowinfo[t].y; }`;
}

/**
 * The rows record of a step: token t at `positions[t]` of sequence `seqs[t]`,
 * outputs[i] the token row of logits row i.
 */
export function rowsRecord(positions: ArrayLike<number>, seqs: ArrayLike<number>, outputs: ArrayLike<number>, contextLength: number): Uint32Array {
  const T = positions.length;
  const r = new Uint32Array(T * ROW_WORDS);
  for (let t = 0; t < T; t++) {
    r[t * ROW_WORDS] = positions[t]!;
    r[t * ROW_WORDS + 1] = seqs[t]! * contextLength;
  }
  for (let i = 0; i < outputs.length; i++) r[i * ROW_WORDS + 2] = outputs[i]!;
  return r;
}

export const GATHER_WG = 256;

/**
 * Output gather of a multi-sequence step: out row i = x row rows[st.first + i].z,
 * for the st.nOut output rows of the current chunk of the output head.
 * Workgroup: 256. Grid: x + y * 65535 workgroups over nOut × width.
 * Bindings: 0 uniform P { width }, 1 uniform Step, 2 x: array<f32> (token rows),
 *           3 out: array<f32> (output rows), 4 rows.
 */
export function gatherRowsWGSL(): string {
  return /* wgsl */ `
struct P { width: u32, p1: u32, p2: u32, p3: u32 }
@group(0) @binding(0) var<uniform> p: P;
${STEP_WGSL}
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read> rowinfo: array<vec4<u32>>;

@compute @workgroup_size(${GATHER_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * ${GATHER_WG}u;
  if (i >= st.nOut * p.width) { return; }
  let r = i / p.width;
  out[i] = x[rowinfo[st.first + r].z * p.width + i % p.width];
}`;
}
