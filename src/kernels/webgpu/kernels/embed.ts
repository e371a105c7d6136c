/**
 * Embedding lookup: out[t] = row tokens[t] of the table, read from the GGUF
 * blocks with the same per-type `chunk` as the matmul (quant.ts). One dispatch
 * per table part (parts of whole rows when the table exceeds a binding);
 * tokens whose row is in another part are skipped.
 *
 * Workgroup: 64 invocations per token; invocation i writes chunks i, i+64, ….
 * Grid: x = token of the batch.
 * Bindings: 0 uniform P, 1 uniform Step, 2 W: array<u32> (table part),
 *           3 tokens: array<u32>, 4 out: array<f32> (T × cols).
 */
import { STEP_WGSL, bytesWGSL, enableF16 } from './common.js';
import { chunkWGSL } from './quant.js';

export function embedWGSL(typeId: number, f16 = false): string {
  return /* wgsl */ `${enableF16(f16)}
struct P { rowStart: u32, rowCount: u32, cols: u32, rowBytes: u32 }
@group(0) @binding(0) var<uniform> p: P;
${STEP_WGSL}
@group(0) @binding(2) var<storage, read> W: array<u32>;
@group(0) @binding(3) var<storage, read> tokens: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
${bytesWGSL(f16)}
${chunkWGSL(typeId, f16)}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x;
  if (t >= st.T) { return; }
  let id = tokens[t];
  if (id < p.rowStart || id >= p.rowStart + p.rowCount) { return; }
  let rb = (id - p.rowStart) * p.rowBytes;
  let nChunks = (p.cols + 31u) / 32u;
  for (var c = lid; c < nChunks; c += 64u) {
    let ch = chunk(rb, c);
    for (var i = 0u; i < 8u; i += 1u) {
      let e = c * 32u + i * 4u;
      if (e >= p.cols) { break; }
      let o = t * p.cols + e;
      out[o] = ch[i].x; out[o + 1u] = ch[i].y; out[o + 2u] = ch[i].z; out[o + 3u] = ch[i].w;
    }
  }
}`;
}
