#!/usr/bin/env node
/**
 * Builds the WASM backend's module with AssemblyScript.
 *
 * 1. Reads block sizes and bytes per block from the one ggml type table
 *    (src/gguf/types.ts) and generates, from the shared templates below, one
 *    dot-product kernel per weight type and one matmul driver per type into
 *    src/kernels/wasm/assembly/generated/matmul.ts (not committed).
 * 2. Compiles src/kernels/wasm/assembly/index.ts with asc (SIMD128 + threads,
 *    shared imported memory, stub runtime) for each build variant: `simd`
 *    (baseline) and `relaxed` (the same templates with the int8 dot helpers
 *    swapped for relaxed-SIMD ones; see OPT), which the loader uses only after
 *    a known-answer self-test passes on the running engine.
 * 3. Writes the binaries, base64, into src/kernels/wasm/generated/binaries.ts so
 *    tsc ships them in dist/ and the loader needs no file paths.
 *
 * Usage: node scripts/build-wasm.mjs [--wat]
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const wasmDir = join(root, 'src/kernels/wasm');
const asmDir = join(wasmDir, 'assembly');

// ---- the type table ---------------------------------------------------------
const typesSrc = readFileSync(join(root, 'src/gguf/types.ts'), 'utf8');
const TYPES = new Map();
for (const m of typesSrc.matchAll(/\bt\((\d+), '(\w+)', (\d+), (\d+)/g)) {
  TYPES.set(m[2], { id: Number(m[1]), name: m[2], blockSize: Number(m[3]), typeSize: Number(m[4]) });
}
function type(name) {
  const t = TYPES.get(name);
  if (!t) throw new Error(`type ${name} not found in src/gguf/types.ts`);
  return t;
}

// ---- templates --------------------------------------------------------------
/**
 * Build options the templates read. `relaxed`: the relaxed-SIMD build, whose int8 dot products use
 * i16x8.relaxed_dot_i8x16_i7x16_s with the weights as the unsigned 7-bit operand. Weights are then
 * taken before their offset is subtracted (4-bit 0..15, 5-bit 0..31, Q6_K 0..63, Q3_K 0..7) and the
 * offset comes back through the activation sums (Q8_K's bsums, or a second relaxed dot against the
 * constant offset for Q8A), so every integer sum is the same as in the baseline build.
 */
let OPT = { relaxed: false };

/**
 * Legacy 32-element types against Q8A activations (d f32 @0, s f32 @4, q[32] @8).
 * Each variant gives `head`, the code that from the block at `wb` defines d (f32 weight scale),
 * optionally m (f32 weight offset, y = d*q + m, which pairs with s) and what w / u read; `w`, the
 * two signed i8x16 halves (elements 0-15, 16-31) the baseline multiplies; and, for the relaxed build,
 * `u`: the same halves as unsigned values with `off` still to subtract (y = d*(u - off)). `head`
 * is a function of `ld`, which wraps the loads of the quant bytes (the relaxed build passes
 * lanePerm there; hmask(P) gives the matching fifth-bit masks).
 */
const LEGACY = {
  Q8_0: { head: () => `const d = f16t(load<u16>(wb));`, w: [`v128.load(wb, 2)`, `v128.load(wb, 18)`] },
  Q4_0: {
    head: (ld) => `const d = f16t(load<u16>(wb)); const qs = ${ld('v128.load(wb, 2)')};`,
    w: [`i8x16.sub(v128.and(qs, i8x16.splat(0x0f)), i8x16.splat(8))`, `i8x16.sub(i8x16.shr_u(qs, 4), i8x16.splat(8))`],
    u: [`v128.and(qs, i8x16.splat(0x0f))`, `i8x16.shr_u(qs, 4)`], off: 8,
  },
  Q4_1: {
    min: true,
    head: (ld) => `const d = f16t(load<u16>(wb)); const m = f16t(load<u16>(wb, 2)); const qs = ${ld('v128.load(wb, 4)')};`,
    w: [`v128.and(qs, i8x16.splat(0x0f))`, `i8x16.shr_u(qs, 4)`],
    u: [`v128.and(qs, i8x16.splat(0x0f))`, `i8x16.shr_u(qs, 4)`], off: 0,
  },
  Q5_0: {
    head: (ld) => `const d = f16t(load<u16>(wb)); const qh = load<u32>(wb, 2); const qs = ${ld('v128.load(wb, 6)')};
      const hv = i32x4.splat(qh);`,
    w: [`i8x16.add(v128.and(qs, i8x16.splat(0x0f)), v128.andnot(i8x16.splat(-16), hmaskLo(hv)))`,
      `i8x16.add(i8x16.shr_u(qs, 4), v128.andnot(i8x16.splat(-16), hmaskHi(hv)))`],
    u: [`v128.or(v128.and(qs, i8x16.splat(0x0f)), v128.and(hmaskLoP(hv), i8x16.splat(0x10)))`,
      `v128.or(i8x16.shr_u(qs, 4), v128.and(hmaskHiP(hv), i8x16.splat(0x10)))`], off: 16,
  },
  Q5_1: {
    min: true,
    head: (ld) => `const d = f16t(load<u16>(wb)); const m = f16t(load<u16>(wb, 2)); const qh = load<u32>(wb, 4); const qs = ${ld('v128.load(wb, 8)')};
      const hv = i32x4.splat(qh);`,
    w: [`v128.or(v128.and(qs, i8x16.splat(0x0f)), v128.and(hmaskLo(hv), i8x16.splat(0x10)))`,
      `v128.or(i8x16.shr_u(qs, 4), v128.and(hmaskHi(hv), i8x16.splat(0x10)))`],
    u: [`v128.or(v128.and(qs, i8x16.splat(0x0f)), v128.and(hmaskLoP(hv), i8x16.splat(0x10)))`,
      `v128.or(i8x16.shr_u(qs, 4), v128.and(hmaskHiP(hv), i8x16.splat(0x10)))`], off: 0,
  },
};
/** The lane order of util.ts's lanePerm (relaxed build), for the permuted fifth-bit masks. */
const LANE_PERM = [0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15];

/**
 * dot_T (one token: returns the dot product) and dot4_T (four tokens whose
 * activation rows are xs bytes apart: each weight block is unpacked once and
 * used four times; results go to o, o + os, ...), from one template.
 */
function legacyDot(name, v, n) {
  const t = type(name);
  const ks = [...Array(n).keys()];
  const acc = ks.map((k) => `let acc${k} = f32x4.splat(0);${v.min ? ` let accm${k}: f32 = 0;` : ''}`).join('\n  ');
  // relaxed: weights as unsigned 7-bit values, both operands in lanePerm order (same lane sums as dot16x)
  const rx = OPT.relaxed && v.u;
  const weights = rx
    ? `${v.head((e) => `lanePerm(${e})`)}\n    const u0 = ${v.u[0]}; const u1 = ${v.u[1]};`
    : `${v.head((e) => e)}\n    const w0 = ${v.w[0]}; const w1 = ${v.w[1]};`;
  const isum = rx
    ? `const x0 = lanePerm(v128.load(xb, 8)); const x1 = lanePerm(v128.load(xb, 24));
      const isum = i32x4.extadd_pairwise_i16x8_s(${v.off
        ? `i16x8.sub(i16x8.add(rdot(x0, u0), rdot(x1, u1)), i16x8.add(rdot(x0, i8x16.splat(${v.off})), rdot(x1, i8x16.splat(${v.off}))))`
        : 'i16x8.add(rdot(x0, u0), rdot(x1, u1))'});`
    : 'const isum = i32x4.add(dot16x(w0, xh), dot16x(w1, xh + 32));';
  // one block at wp + o * typeSize (o = 0, 1: two blocks per iteration), activations at xp / hp + o * block bytes
  const block = (o) => `{
    const wb = wp + ${o * t.typeSize};
    ${weights}
    ${ks.map((k) => `{
      const xb = xp${o ? ' + Q8A_BYTES' : ''}${k === 0 ? '' : ` + ${k} * xs`};
      const xh = hp${o ? ' + Q8A_X16_BYTES' : ''}${k === 0 ? '' : ` + ${k} * xs`};
      ${isum}
      acc${k} = f32x4.add(acc${k}, f32x4.mul(f32x4.convert_i32x4_s(isum), f32x4.splat(d * load<f32>(xb))));${v.min ? `\n      accm${k} += m * load<f32>(xb, 4);` : ''}
    }`).join('\n    ')}
  }`;
  const result = (k) => `hsumF32(acc${k})${v.min ? ` + accm${k}` : ''}`;
  return `
/** ${name} (${t.typeSize} bytes per ${t.blockSize}) · Q8A${n > 1 ? `, ${n} tokens` : ''}: sum over blocks of d*dx*Σ q·qx${v.min ? ' + m*s' : ''}. */
function ${n > 1 ? `dot${n}` : 'dot'}_${name}(w: usize, x: usize, ${n > 1 ? 'xs: usize, ' : ''}nb: i32${n > 1 ? ', o: usize, os: usize' : ''}): ${n > 1 ? 'void' : 'f32'} {
  ${acc}
  // running pointers (no per-block multiplies): weight block, Q8A block, and the row's q as i16 after its blocks
  let wp = w; let xp = x; let hp = x + <usize>nb * Q8A_BYTES;
  let b = 0;
  for (; b + 2 <= nb; b += 2) {
    ${block(0)}
    ${block(1)}
    wp += ${2 * t.typeSize}; xp += 2 * Q8A_BYTES; hp += 2 * Q8A_X16_BYTES;
  }
  if (b < nb) ${block(0)}
  ${n > 1 ? ks.map((k) => `store<f32>(o + ${k === 0 ? '0' : `${k} * os`}, ${result(k)});`).join('\n  ') : `return ${result(0)};`}
}`;
}

/**
 * A K-quant dot kernel against Q8_K activations (d f32 @0, q[256] @4, bsums
 * i16[16] @260) for n tokens: dot_T (n = 1, returns the dot product) or dotN_T
 * (n tokens whose activation rows are xs bytes apart, results to o, o + os, ...).
 * Per super-block, `block` (weight-only code) runs once; each unit's `w` (its
 * weights unpacked) runs once and its `t` (the integer dot against one token's
 * activations) once per token, so a prompt batch unpacks every weight once per
 * n tokens. In `t` and `tail`, XB / ISUM / MSUM / SUMF name the token's
 * activation block, integer sums and result. Every token gets the same
 * integer sums and float operations as with n = 1.
 */
function kDot(name, n, { block = '', units, tail, msum }) {
  const t = type(name);
  const ks = [...Array(n).keys()];
  const sub = (code, k) => code.replace(/\bXB\b/g, `xb${k}`).replace(/\bISUM\b/g, `isum${k}`).replace(/\bMSUM\b/g, `msum${k}`).replace(/\bSUMF\b/g, `sumf${k}`);
  return `
/** ${name} (${t.typeSize} bytes per ${t.blockSize}) · Q8_K${n > 1 ? `, ${n} tokens` : ''}. */
function ${n > 1 ? `dot${n}` : 'dot'}_${name}(w: usize, x: usize, ${n > 1 ? 'xs: usize, ' : ''}nb: i32${n > 1 ? ', o: usize, os: usize' : ''}): ${n > 1 ? 'void' : 'f32'} {
  ${ks.map((k) => `let sumf${k}: f32 = 0;`).join(' ')}
  for (let b = 0; b < nb; b++) {
    const wb = w + <usize>b * ${t.typeSize};
    ${ks.map((k) => `const xb${k} = x + ${k ? `${k} * xs + ` : ''}<usize>b * Q8K_BYTES;`).join('\n    ')}
    ${ks.map((k) => `let isum${k} = i32x4.splat(0);${msum ? ` let msum${k}: i32 = 0;` : ''}`).join('\n    ')}${block ? `\n    ${block}` : ''}
    ${units.map((u) => `{
      ${u.w}
      ${ks.map((k) => sub(u.t, k)).join('\n      ')}
    }`).join('\n    ')}
    ${ks.map((k) => sub(tail, k)).join('\n    ')}
  }
  ${n > 1 ? ks.map((k) => `store<f32>(o + ${k ? `${k} * os` : '0'}, sumf${k});`).join('\n  ') : 'return sumf0;'}
}`;
}

// ---- K-quant weight unpacking, shared by the dot kernels and the dequantizers ----
/**
 * Q4_K / Q5_K: element l of a sub-block pair from the qs vector v: low nibble
 * (sub-block 2p) or high nibble (2p + 1), plus, for Q5_K, bit `sub` of the qh
 * vector hv as 16. Values 0..15 (0..31).
 */
const k45Lo = (fifth, v, hv, sub) => fifth ? `v128.or(v128.and(${v}, i8x16.splat(0x0f)), ${k45High(hv, sub)})` : `v128.and(${v}, i8x16.splat(0x0f))`;
const k45Hi = (fifth, v, hv, sub) => fifth ? `v128.or(i8x16.shr_u(${v}, 4), ${k45High(hv, sub)})` : `i8x16.shr_u(${v}, 4)`;
const k45High = (hv, sub) => `i8x16.shl(v128.and(i8x16.shr_u(${hv}, ${sub}), i8x16.splat(1)), 4)`;
/** Q6_K: the four 6-bit quants (0..63) of ql vectors a, bq and qh vector hh (m4 = 0x0f, m2 = 3 splatted). */
const q6Quants = [
  'v128.or(v128.and(a, m4), i8x16.shl(v128.and(hh, m2), 4))',
  'v128.or(v128.and(bq, m4), i8x16.shl(v128.and(i8x16.shr_u(hh, 2), m2), 4))',
  'v128.or(i8x16.shr_u(a, 4), i8x16.shl(v128.and(i8x16.shr_u(hh, 4), m2), 4))',
  'v128.or(i8x16.shr_u(bq, 4), i8x16.shl(i8x16.shr_u(hh, 6), 4))',
];
/** Q6_K: the ql / qh loads of part (h, k): 16 elements of each of four quarters. */
const q6Loads = (h, k) => `const a = v128.load(wb, ${64 * h + 16 * k}); const bq = v128.load(wb, ${64 * h + 32 + 16 * k}); const hh = v128.load(wb, ${128 + 32 * h + 16 * k});`;
/** Q2_K / Q3_K: the 2-bit field at shift 2*sh of 16 qs bytes (0..3); Q3_K's high bit from hmask (1 = set). */
const k23Q = (qsOff, h, sh, k) => `v128.and(i8x16.shr_u(v128.load(wb, ${qsOff + 32 * h + 16 * k}), ${2 * sh}), i8x16.splat(3))`;
const q3HighBit = (h, sh, k) => `v128.and(i8x16.shr_u(v128.load(wb, ${16 * k}), ${4 * h + sh}), i8x16.splat(1))`;
/** Q3_K's signed value: q - 4 where the high bit is clear. */
const q3Signed = (h, sh, k) => `i8x16.sub(${k23Q(32, h, sh, k)}, i8x16.shl(v128.xor(${q3HighBit(h, sh, k)}, i8x16.splat(1)), 2))`;

/**
 * Q4_K and Q5_K against Q8_K: eight 32-element sub-blocks with 6-bit scales
 * and mins (get_scale_min_k4); Q5_K adds a fifth bit from qh. y = d*sc*q - dmin*m.
 */
function k45Dot(name, fifth, n) {
  const qs = fifth ? 48 : 16;
  const lo = (v, hv, sub) => k45Lo(fifth, v, hv, sub);
  const hi = (v, hv, sub) => k45Hi(fifth, v, hv, sub);
  // weights 0..15 (0..31 with the fifth bit) are already unsigned: the relaxed build only swaps the dot helper
  // (the scale multiply is folded into the dot helper: relaxed, one i32x4.dot_i16x8_s on the i16 pair sums)
  const dot32 = OPT.relaxed ? 'rdot32s' : 'dot32s';
  const sv = OPT.relaxed ? 'rscaleV' : 'scaleV';
  const units = [0, 1, 2, 3].map((p) => ({
    w: `const q0 = v128.load(wb, ${qs + 32 * p}); const q1 = v128.load(wb, ${qs + 32 * p + 16});
      const a0 = ${lo('q0', 'h0', 2 * p)}; const a1 = ${lo('q1', 'h1', 2 * p)};
      const b0 = ${hi('q0', 'h0', 2 * p + 1)}; const b1 = ${hi('q1', 'h1', 2 * p + 1)};
      const sa = ${sv}(scK4(s, ${2 * p})); const sb = ${sv}(scK4(s, ${2 * p + 1}));
      const ma = minK4(s, ${2 * p}); const mb = minK4(s, ${2 * p + 1});`,
    t: `{ const lo = ${dot32}(a0, v128.load(XB, ${4 + 64 * p}), a1, v128.load(XB, ${4 + 64 * p + 16}), sa);
        const hi = ${dot32}(b0, v128.load(XB, ${4 + 64 * p + 32}), b1, v128.load(XB, ${4 + 64 * p + 48}), sb);
        ISUM = i32x4.add(ISUM, i32x4.add(lo, hi));
        MSUM += ma * (<i32>load<i16>(XB, ${260 + 8 * p}) + <i32>load<i16>(XB, ${262 + 8 * p})) + mb * (<i32>load<i16>(XB, ${264 + 8 * p}) + <i32>load<i16>(XB, ${266 + 8 * p})); }`,
  }));
  return kDot(name, n, {
    block: `const s = wb + 4;${fifth ? ' const h0 = v128.load(wb, 16); const h1 = v128.load(wb, 32);' : ''}`,
    units,
    msum: true,
    tail: `SUMF += f16t(load<u16>(wb)) * load<f32>(XB) * <f32>hsumI32(ISUM) - f16t(load<u16>(wb, 2)) * load<f32>(XB) * <f32>MSUM;`,
  });
}

/** Q6_K against Q8_K: 6-bit quants (ql nibble + 2 bits of qh) minus 32, int8 scale per 16. */
function q6kDot(n) {
  // baseline: signed q - 32 into dot16; relaxed: unsigned q (0..63) into rdot16, minus 32 * scale * bsum per 16 elements
  const rx = OPT.relaxed;
  const q = (e) => rx ? e : `i8x16.sub(${e}, c32)`;
  const units = [0, 1].flatMap((h) => [0, 1].map((k) => {
    const g = (j) => 8 * h + 2 * j + k;
    return {
      w: `${q6Loads(h, k)}
      ${q6Quants.map((e, j) => `const q${j} = ${q(e)};`).join(' ')}
      ${[0, 1, 2, 3].map((j) => `const s${j} = <i32>load<i8>(wb, ${192 + g(j)}); const v${j} = ${rx ? 'rscaleV' : 'scaleV'}(s${j});`).join('\n      ')}`,
      t: [0, 1, 2, 3].map((j) => `ISUM = i32x4.add(ISUM, ${rx ? 'rdot16s' : 'dot16s'}(q${j}, v128.load(XB, ${4 + 16 * g(j)}), v${j}));${rx ? ` MSUM += s${j} * <i32>load<i16>(XB, ${260 + 2 * g(j)});` : ''}`).join('\n      '),
    };
  }));
  return kDot('Q6_K', n, {
    block: 'const m4 = i8x16.splat(0x0f); const m2 = i8x16.splat(3); const c32 = i8x16.splat(32);',
    units,
    msum: rx,
    tail: `SUMF += f16t(load<u16>(wb, 208)) * load<f32>(XB) * <f32>(hsumI32(ISUM)${rx ? ' - 32 * MSUM' : ''});`,
  });
}

/**
 * Q2_K and Q3_K against Q8_K: 2-bit fields at shifts 0,2,4,6 of 32 qs bytes per
 * 128 elements, 16-element sub-blocks. Q2_K: y = d*(sc&15)*q - dmin*(sc>>4);
 * Q3_K: a high bit from hmask (clear = minus 4) and signed 6-bit scales.
 */
function k23Dot(name, n) {
  const q3 = name === 'Q3_K';
  const qsOff = q3 ? 32 : 16;
  const rx = OPT.relaxed;
  const dot = rx ? 'rdot16s' : 'dot16s';
  const sv = rx ? 'rscaleV' : 'scaleV';
  const units = [];
  for (let h = 0; h < 2; h++) {
    for (let sh = 0; sh < 4; sh++) {
      for (let k = 0; k < 2; k++) {
        const is = 8 * h + 2 * sh + k;
        const xo = 4 + 128 * h + 32 * sh + 16 * k;
        const qv = k23Q(qsOff, h, sh, k);
        if (q3) {
          // baseline: q - 4 * (1 - hbit) signed; relaxed: q + 4 * hbit (0..7), minus 4 * scale * bsum
          units.push({
            w: `const q = ${rx ? `v128.or(${qv}, i8x16.shl(${q3HighBit(h, sh, k)}, 2))` : q3Signed(h, sh, k)}; const sc = sc3(wb, ${is}); const v = ${sv}(sc);`,
            t: `ISUM = i32x4.add(ISUM, ${dot}(q, v128.load(XB, ${xo}), v));${rx ? ` MSUM += sc * <i32>load<i16>(XB, ${260 + 2 * is});` : ''}`,
          });
        } else {
          units.push({
            w: `const q = ${qv}; const sc = <i32>load<u8>(wb, ${is}); const v = ${sv}(sc & 15);`,
            t: `ISUM = i32x4.add(ISUM, ${dot}(q, v128.load(XB, ${xo}), v)); MSUM += (sc >> 4) * <i32>load<i16>(XB, ${260 + 2 * is});`,
          });
        }
      }
    }
  }
  return kDot(name, n, {
    units,
    msum: !q3 || rx,
    tail: q3
      ? `SUMF += f16t(load<u16>(wb, 108)) * load<f32>(XB) * <f32>(hsumI32(ISUM)${rx ? ' - 4 * MSUM' : ''});`
      : `SUMF += f16t(load<u16>(wb, 80)) * load<f32>(XB) * <f32>hsumI32(ISUM) - f16t(load<u16>(wb, 82)) * load<f32>(XB) * <f32>MSUM;`,
  });
}

// ---- dequantizers (the embedding lookup) ------------------------------------
/**
 * One row of any weight type to f32, bit for bit what the reference
 * dequantizers (src/quant) give: every scale product rounded to f32 before it
 * multiplies the quant (y = d*q, d*q + m, (d*sc)*q - dmin*m as ggml), using the
 * same unpack expressions as the dot kernels. put16 / put16a / put16s store
 * 16 signed 8-bit quants times a scale (plus / minus an offset) as f32.
 */
function dequantSource() {
  const legacy = Object.entries(LEGACY).map(([n, v]) => {
    const t = type(n);
    const put = (e, o) => v.min ? `put16a(${e}, dv, mv, yb + ${o * 4});` : `put16(${e}, dv, yb + ${o * 4});`;
    return `
function dequant_${n}(w: usize, y: usize, nb: i32): void {
  for (let b = 0; b < nb; b++) {
    const wb = w + <usize>b * ${t.typeSize};
    const yb = y + <usize>b * 128;
    ${v.head((e) => e)}
    const dv = f32x4.splat(d);${v.min ? ' const mv = f32x4.splat(m);' : ''}
    ${put(v.w[0], 0)} ${put(v.w[1], 16)}
  }
}`;
  });
  const kq = (name, body) => `
function dequant_${name}(w: usize, y: usize, nb: i32): void {
  for (let b = 0; b < nb; b++) {
    const wb = w + <usize>b * ${type(name).typeSize};
    const yb = y + <usize>b * 1024;
    ${body}
  }
}`;
  const k45 = (name, fifth) => kq(name, `const d = f16t(load<u16>(wb)); const dmin = f16t(load<u16>(wb, 2)); const s = wb + 4;${fifth ? ' const h0 = v128.load(wb, 16); const h1 = v128.load(wb, 32);' : ''}
    ${[0, 1, 2, 3].map((p) => `{
      const q0 = v128.load(wb, ${(fifth ? 48 : 16) + 32 * p}); const q1 = v128.load(wb, ${(fifth ? 48 : 16) + 32 * p + 16});
      const d1 = f32x4.splat(d * <f32>scK4(s, ${2 * p})); const m1 = f32x4.splat(dmin * <f32>minK4(s, ${2 * p}));
      const d2 = f32x4.splat(d * <f32>scK4(s, ${2 * p + 1})); const m2 = f32x4.splat(dmin * <f32>minK4(s, ${2 * p + 1}));
      put16s(${k45Lo(fifth, 'q0', 'h0', 2 * p)}, d1, m1, yb + ${256 * p}); put16s(${k45Lo(fifth, 'q1', 'h1', 2 * p)}, d1, m1, yb + ${256 * p + 64});
      put16s(${k45Hi(fifth, 'q0', 'h0', 2 * p + 1)}, d2, m2, yb + ${256 * p + 128}); put16s(${k45Hi(fifth, 'q1', 'h1', 2 * p + 1)}, d2, m2, yb + ${256 * p + 192});
    }`).join('\n    ')}`);
  const q6 = kq('Q6_K', `const d = f16t(load<u16>(wb, 208)); const m4 = i8x16.splat(0x0f); const m2 = i8x16.splat(3); const c32 = i8x16.splat(32);
    ${[0, 1].flatMap((h) => [0, 1].map((k) => `{
      ${q6Loads(h, k)}
      ${q6Quants.map((e, j) => `put16(i8x16.sub(${e}, c32), f32x4.splat(d * <f32>load<i8>(wb, ${192 + 8 * h + 2 * j + k})), yb + ${4 * (128 * h + 32 * j + 16 * k)});`).join('\n      ')}
    }`)).join('\n    ')}`);
  const k23 = (name) => {
    const q3 = name === 'Q3_K';
    const parts = [];
    for (let h = 0; h < 2; h++) for (let sh = 0; sh < 4; sh++) for (let k = 0; k < 2; k++) {
      const is = 8 * h + 2 * sh + k, o = 4 * (128 * h + 32 * sh + 16 * k);
      parts.push(q3
        ? `put16(${q3Signed(h, sh, k)}, f32x4.splat(d * <f32>sc3(wb, ${is})), yb + ${o});`
        : `{ const sc = <i32>load<u8>(wb, ${is}); put16s(${k23Q(16, h, sh, k)}, f32x4.splat(d * <f32>(sc & 15)), f32x4.splat(dmin * <f32>(sc >> 4)), yb + ${o}); }`);
    }
    return kq(name, `${q3 ? 'const d = f16t(load<u16>(wb, 108));' : 'const d = f16t(load<u16>(wb, 80)); const dmin = f16t(load<u16>(wb, 82));'}
    ${parts.join('\n    ')}`);
  };
  const fns = [...legacy, k45('Q4_K', false), k45('Q5_K', true), q6, k23('Q2_K'), k23('Q3_K')];
  const names = [...Object.keys(LEGACY), 'Q4_K', 'Q5_K', 'Q6_K', 'Q2_K', 'Q3_K'];
  return `
/** 16 signed 8-bit values times d (f32x4 splat) to f32 at y; with an offset: + m (put16a) or - m (put16s). */
// @ts-ignore: decorator
@inline function put16(q: v128, d: v128, y: usize): void {
  const l = i16x8.extend_low_i8x16_s(q); const h = i16x8.extend_high_i8x16_s(q);
  v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(l)), d));
  v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(l)), d), 16);
  v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(h)), d), 32);
  v128.store(y, f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(h)), d), 48);
}
// @ts-ignore: decorator
@inline function put16a(q: v128, d: v128, m: v128, y: usize): void {
  put16(q, d, y);
  for (let i: usize = 0; i < 64; i += 16) v128.store(y + i, f32x4.add(v128.load(y + i), m));
}
// @ts-ignore: decorator
@inline function put16s(q: v128, d: v128, m: v128, y: usize): void {
  put16(q, d, y);
  for (let i: usize = 0; i < 64; i += 16) v128.store(y + i, f32x4.sub(v128.load(y + i), m));
}
${fns.join('\n')}

/** Row of n elements of weight type "type" at w to f32 at y (every type the matmuls take). */
export function dequantRow(type: i32, w: usize, y: usize, n: i32): void {
  switch (type) {
    case ${type('F32').id}: memory.copy(y, w, <usize>n << 2); break;
    case ${type('F16').id}: for (let i = 0; i < n; i++) store<f32>(y + (<usize>i << 2), f16(load<u16>(w + (<usize>i << 1)))); break;
${names.map((n) => `    case ${type(n).id}: dequant_${n}(w, y, n / ${type(n).blockSize}); break;`).join('\n')}
    default: unreachable();
  }
}`;
}

/** Tokens per tile of the matmul driver: a tile's activations stay in L1 while a chunk of weight rows passes over them. */
const TILE = 16;

/** One driver per type: rows [j0, j1) of W times every token row of x. */
function driver(name, dot, xFormat, dot4) {
  const t = type(name);
  return `
export function matmul_${name}(w: usize, rowBytes: usize, x: usize, xRowBytes: usize, out: usize, n: i32, k: i32, tokens: i32, j0: i32, j1: i32): void {
  const nb = k / ${t.blockSize}; // ${xFormat}
  for (let t0 = 0; t0 < tokens; t0 += ${TILE}) {
    const t1 = min(tokens, t0 + ${TILE});
    let j = j0;
    for (; j < j1; j++) {
      const wr = w + <usize>j * rowBytes;
      let t = t0;${dot4 ? `
      for (; t + 4 <= t1; t += 4) ${dot4}(wr, x + <usize>t * xRowBytes, xRowBytes, nb, out + ((<usize>t * <usize>n + <usize>j) << 2), <usize>n << 2);` : ''}
      for (; t < t1; t++) store<f32>(out + ((<usize>t * <usize>n + <usize>j) << 2), ${dot}(wr, x + <usize>t * xRowBytes, nb));
    }
  }
}`;
}

/** Weight type -> [dot kernel source, dot function, activation format]. Activation formats: 0 f32, 1 Q8A, 2 Q8_K. */
const kernels = () => [
  ['F32', '', 'dotF32', 0],
  ['F16', '', 'dotF16', 0],
  ...Object.entries(LEGACY).map(([n, v]) => [n, legacyDot(n, v, 1) + legacyDot(n, v, 4), `dot_${n}`, 1, `dot4_${n}`]),
  ...[
    ['Q4_K', (n) => k45Dot('Q4_K', false, n)],
    ['Q5_K', (n) => k45Dot('Q5_K', true, n)],
    ['Q6_K', q6kDot],
    ['Q2_K', (n) => k23Dot('Q2_K', n)],
    ['Q3_K', (n) => k23Dot('Q3_K', n)],
  ].map(([n, gen]) => [n, gen(1) + gen(4), `dot_${n}`, 2, `dot4_${n}`]),
];

function generate(opt) {
  OPT = opt;
  const KERNELS = kernels();
  const perm = (idx) => idx.map((i) => LANE_PERM.map((p) => i[p]));
  const [idxLo, bitLo] = perm([[0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1], [1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128]]);
  const parts = [
    `// GENERATED by scripts/build-wasm.mjs from its templates and src/gguf/types.ts. Do not edit.`,
    `// build: ${opt.relaxed ? 'relaxed (relaxed SIMD dot products)' : 'simd (baseline SIMD128)'}`,
    `import { dot16s, dot16x, dot32s, f16, f16t, hsumF32, hsumI32, lanePerm, rdot, rdot16s, rdot32s, rscaleV, scaleV } from '../util';`,
    `import { dotF16, dotF32, Q8A_BYTES, Q8A_X16_BYTES, Q8K_BYTES } from '../ops';`,
    `
/**
 * The fifth bits of a Q5 block: hv is the 32-bit qh splatted; hmaskLo gives byte j = 0xff when
 * bit j is set (j < 16), hmaskHi the same for bits 16..31. (Q5_0: q - 16 = nibble - (bit ? 0 : 16).)
 */
// @ts-ignore: decorator
@inline function hmaskLo(hv: v128): v128 {
  const v = i8x16.swizzle(hv, i8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
  const m = i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
  return i8x16.eq(v128.and(v, m), m);
}
// @ts-ignore: decorator
@inline function hmaskHi(hv: v128): v128 {
  const v = i8x16.swizzle(hv, i8x16(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
  const m = i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
  return i8x16.eq(v128.and(v, m), m);
}
/** hmaskLo / hmaskHi in lanePerm order (relaxed build). */
// @ts-ignore: decorator
@inline function hmaskLoP(hv: v128): v128 {
  const v = i8x16.swizzle(hv, i8x16(${idxLo.join(', ')}));
  const m = i8x16(${bitLo.join(', ')});
  return i8x16.eq(v128.and(v, m), m);
}
// @ts-ignore: decorator
@inline function hmaskHiP(hv: v128): v128 {
  const v = i8x16.swizzle(hv, i8x16(${idxLo.map((i) => i + 2).join(', ')}));
  const m = i8x16(${bitLo.join(', ')});
  return i8x16.eq(v128.and(v, m), m);
}
/** get_scale_min_k4: 6-bit scale and min of sub-block j of a Q4_K/Q5_K block (scales at s). */
// @ts-ignore: decorator
@inline function scK4(s: usize, j: i32): i32 {
  return j < 4 ? <i32>load<u8>(s + j) & 63 : (<i32>load<u8>(s + j + 4) & 0x0f) | ((<i32>load<u8>(s + j - 4) >> 6) << 4);
}
// @ts-ignore: decorator
@inline function minK4(s: usize, j: i32): i32 {
  return j < 4 ? <i32>load<u8>(s + j + 4) & 63 : (<i32>load<u8>(s + j + 4) >> 4) | ((<i32>load<u8>(s + j) >> 6) << 4);
}
/** Q3_K: 6-bit scale j (minus 32) of the 12 packed bytes at block offset 96. */
// @ts-ignore: decorator
@inline function sc3(wb: usize, j: i32): i32 {
  const s = wb + 96;
  const low = j < 8 ? <i32>load<u8>(s + j) & 0x0f : <i32>load<u8>(s + j - 8) >> 4;
  const high = (<i32>load<u8>(s + 8 + (j & 3)) >> (2 * (j >> 2))) & 3;
  return (low | (high << 4)) - 32;
}`,
  ];
  for (const [name, src, dot, fmt, dot4] of KERNELS) {
    if (src) parts.push(src);
    parts.push(driver(name, dot, ['f32 activations', 'Q8A activations', 'Q8_K activations'][fmt], dot4));
  }
  parts.push(dequantSource());
  parts.push(`
/** ggml type id -> activation format (0 f32, 1 Q8A, 2 Q8_K), -1 when there is no kernel. */
export function activationFormat(type: i32): i32 {
  switch (type) {
${KERNELS.map(([n, , , f]) => `    case ${type(n).id}: return ${f}; // ${n}`).join('\n')}
    default: return -1;
  }
}

export function matmul(type: i32, w: usize, rowBytes: usize, x: usize, xRowBytes: usize, out: usize, n: i32, k: i32, tokens: i32, j0: i32, j1: i32): void {
  switch (type) {
${KERNELS.map(([n]) => `    case ${type(n).id}: matmul_${n}(w, rowBytes, x, xRowBytes, out, n, k, tokens, j0, j1); break;`).join('\n')}
    default: unreachable();
  }
}
`);
  return parts.join('\n');
}

// ---- compile ----------------------------------------------------------------
const VARIANTS = [
  { name: 'simd', features: 'simd,threads', relaxed: false },
  { name: 'relaxed-simd', features: 'simd,threads,relaxed-simd', relaxed: true },
];

async function main() {
  const wat = process.argv.includes('--wat');
  mkdirSync(join(asmDir, 'generated'), { recursive: true });
  const out = {};
  // each variant's kernels are generated just before it compiles; the baseline's are left on disk
  for (const v of [...VARIANTS.slice(1), VARIANTS[0]]) {
    writeFileSync(join(asmDir, 'generated/matmul.ts'), generate({ relaxed: v.relaxed }));
    const files = {};
    const args = [
      join(asmDir, 'index.ts'), '-o', 'out.wasm', ...(wat ? ['-t', 'out.wat'] : []),
      '-O3', '--noAssert', '--runtime', 'stub', '--enable', v.features,
      '--importMemory', '--sharedMemory', '--initialMemory', '1', '--maximumMemory', '65536',
      '--use', 'abort=',
    ];
    const { error, stderr } = await asc.main(args, {
      writeFile: (name, contents) => { files[name] = contents; },
    });
    if (error) {
      process.stderr.write(stderr.toString());
      throw error;
    }
    const bin = files['out.wasm'];
    out[v.name] = Buffer.from(bin).toString('base64');
    if (wat) writeFileSync(join(wasmDir, `tsinfer-${v.name}.wat`), files['out.wat']);
    process.stdout.write(`build-wasm: ${v.name} ${bin.length} bytes\n`);
  }
  mkdirSync(join(wasmDir, 'generated'), { recursive: true });
  writeFileSync(
    join(wasmDir, 'generated/binaries.ts'),
    `// GENERATED by scripts/build-wasm.mjs. Do not edit.\n` +
      `/** The WASM backend's module builds, base64. */\n` +
      `export const WASM_BUILDS: Record<string, string> = ${JSON.stringify(Object.fromEntries(VARIANTS.map((v) => [v.name, out[v.name]])), null, 2)};\n`,
  );
}

main().catch((e) => {
  process.stderr.write(`build-wasm: ${e?.message ?? e}\n`);
  process.exit(1);
});
