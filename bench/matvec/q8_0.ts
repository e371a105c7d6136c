// Prototype Q8_0 matrix-vector kernels for finding out why the quantized matvec
// streams DRAM at a fraction of what WASM itself reads (bench/matvec.mjs runs them).
// Standalone: not the engine's kernels. Weights in ggml's block_q8_0 layout
// (f16 d, i8 q[32]: 34 bytes per 32 elements) unless a variant says otherwise.
//
// Every variant is called as f(params, tid, nth) on each thread at once; the
// params block (i32 words) is written by the host:
//   0 w (weights), 1 rowBytes, 2 rows, 3 nb (blocks per row), 4 out (f32 per row),
//   5 xa (the current kernel's activations: Q8A blocks, f32 d, f32 s, i8 q[32],
//     then the same q as i16, 64 bytes per block), 6 xq (llama.cpp's block_q8_0
//     activations: f16 d, i8 q[32]), 7 f16 table (65536 f32), 8 chunk rows,
//   9 counters (one 64-byte line per thread), 10 touch distance in bytes,
//   11 scales (aligned layout: f16 per block, rows x nb), 12 qs (aligned layout:
//     32 bytes per block, 64-byte aligned rows), 13 aligned row bytes.
// Each thread takes the rows [nth-th share of the chunks) in order, one atomic
// add per chunk, as the engine's interpreter does.

// @ts-ignore: decorator
@inline function P(p: usize, i: i32): usize { return <usize>load<u32>(p + (<usize>i << 2)); }
// @ts-ignore: decorator
@inline function f16t(tab: usize, h: u32): f32 { return load<f32>(tab + (<usize>h << 2)); }
// @ts-ignore: decorator
@inline function hsum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

// ---- the per-row dot products -------------------------------------------------------

/** The engine's Q8_0 dot today: weights sign-extended to i16, i32x4.dot_i16x8_s against the i16 copy of Q8A, f16 d by table. */
// @ts-ignore: decorator
@inline function dotCur(wr: usize, xa: usize, nb: i32, tab: usize): f32 {
  let acc = f32x4.splat(0);
  let wp = wr, xp = xa, hp = xa + <usize>nb * 40;
  for (let b = 0; b < nb; b++) {
    const d = f16t(tab, load<u16>(wp));
    const w0 = v128.load(wp, 2), w1 = v128.load(wp, 18);
    const isum = i32x4.add(
      i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w0), v128.load(hp)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w0), v128.load(hp, 16))),
      i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w1), v128.load(hp, 32)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w1), v128.load(hp, 48))));
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(isum), f32x4.splat(d * load<f32>(xp))));
    wp += 34; xp += 40; hp += 64;
  }
  return hsum(acc);
}

/** The f16 table for dotEngine, through a global as the engine's util.ts has it. */
let F16TAB: usize = 0;

/**
 * The engine's dot_Q8_0 as scripts/build-wasm.mjs generates it today (baseline and relaxed builds alike):
 * two blocks per iteration into one accumulator, the f16 table through a global, a function call per row.
 */
// @ts-ignore: decorator
@noinline function dotEngine(w: usize, x: usize, nb: i32): f32 {
  let acc0 = f32x4.splat(0);
  let wp = w, xp = x, hp = x + <usize>nb * 40;
  let b = 0;
  for (; b + 2 <= nb; b += 2) {
    acc0 = f32x4.add(acc0, engineBlock(wp, xp, hp));
    acc0 = f32x4.add(acc0, engineBlock(wp + 34, xp + 40, hp + 64));
    wp += 68; xp += 80; hp += 128;
  }
  if (b < nb) acc0 = f32x4.add(acc0, engineBlock(wp, xp, hp));
  return hsum(acc0);
}
/** dotEngine with the table address as a parameter (a local) instead of the global. */
// @ts-ignore: decorator
@noinline function dotEngineT(w: usize, x: usize, nb: i32, tab: usize): f32 {
  let acc0 = f32x4.splat(0);
  let wp = w, xp = x, hp = x + <usize>nb * 40;
  let b = 0;
  for (; b + 2 <= nb; b += 2) {
    acc0 = f32x4.add(acc0, engineBlock(wp, xp, hp, tab));
    acc0 = f32x4.add(acc0, engineBlock(wp + 34, xp + 40, hp + 64, tab));
    wp += 68; xp += 80; hp += 128;
  }
  if (b < nb) acc0 = f32x4.add(acc0, engineBlock(wp, xp, hp, tab));
  return hsum(acc0);
}
/** dotCur (one block per iteration, table in a local) as a function called per row. */
// @ts-ignore: decorator
@noinline function dotCurCall(wr: usize, xa: usize, nb: i32, tab: usize): f32 {
  return dotCur(wr, xa, nb, tab);
}
// @ts-ignore: decorator
@inline function engineBlock(wb: usize, xb: usize, xh: usize, tab: usize = 0): v128 {
  const d = load<f32>((tab != 0 ? tab : F16TAB) + (<usize>load<u16>(wb) << 2));
  const w0 = v128.load(wb, 2), w1 = v128.load(wb, 18);
  const isum = i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w0), v128.load(xh)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w0), v128.load(xh, 16))),
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w1), v128.load(xh, 32)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w1), v128.load(xh, 48))));
  return f32x4.mul(f32x4.convert_i32x4_s(isum), f32x4.splat(d * load<f32>(xb)));
}

/** i8 x i8 against llama.cpp's block_q8_0 activations: extmul to i16, pairwise widening, d by table. */
// @ts-ignore: decorator
@inline function dotLite(wr: usize, xq: usize, nb: i32, tab: usize): f32 {
  let acc = f32x4.splat(0);
  let wp = wr, xp = xq;
  for (let b = 0; b < nb; b++) {
    const w0 = v128.load(wp, 2), w1 = v128.load(wp, 18);
    const x0 = v128.load(xp, 2), x1 = v128.load(xp, 18);
    const p0 = i16x8.add(i16x8.extmul_low_i8x16_s(w0, x0), i16x8.extmul_high_i8x16_s(w0, x0));
    const p1 = i16x8.add(i16x8.extmul_low_i8x16_s(w1, x1), i16x8.extmul_high_i8x16_s(w1, x1));
    const isum = i32x4.add(i32x4.extadd_pairwise_i16x8_s(p0), i32x4.extadd_pairwise_i16x8_s(p1));
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(isum), f32x4.splat(f16t(tab, load<u16>(wp)) * f16t(tab, load<u16>(xp)))));
    wp += 34; xp += 34;
  }
  return hsum(acc);
}

/** dotCur over the aligned layout: qs rows of 32-byte blocks (aligned loads), f16 scales in their own array. */
// @ts-ignore: decorator
@inline function dotAligned(qr: usize, sr: usize, xa: usize, nb: i32, tab: usize): f32 {
  let acc = f32x4.splat(0);
  let qp = qr, sp = sr, xp = xa, hp = xa + <usize>nb * 40;
  for (let b = 0; b < nb; b++) {
    const d = f16t(tab, load<u16>(sp));
    const w0 = v128.load(qp), w1 = v128.load(qp, 16);
    const isum = i32x4.add(
      i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w0), v128.load(hp)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w0), v128.load(hp, 16))),
      i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w1), v128.load(hp, 32)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w1), v128.load(hp, 48))));
    acc = f32x4.add(acc, f32x4.mul(f32x4.convert_i32x4_s(isum), f32x4.splat(d * load<f32>(xp))));
    qp += 32; sp += 2; xp += 40; hp += 64;
  }
  return hsum(acc);
}

/** Reads one byte per 64-byte line of [p, p + n): the lines are then on their way into the caches. */
// @ts-ignore: decorator
@inline function touch(p: usize, n: usize): u32 {
  let a: u32 = 0;
  for (let q: usize = 0; q < n; q += 64) a += load<u8>(p + q);
  return a;
}

// ---- the drivers: chunked row ranges per thread --------------------------------------

let sink: u32 = 0;

/** Kinds: 0 dotCur, 1 dotLite, 2 dotAligned, 3 dotCur with touch-ahead, 4 dotLite with touch-ahead, 5 dotEngine, 6 dotEngineT, 7 dotCurCall. */
// @ts-ignore: decorator
@inline function oneStream(p: usize, tid: i32, nth: i32, kind: i32): void {
  const w = P(p, 0), rb = P(p, 1), rows = <i32>P(p, 2), nb = <i32>P(p, 3), out = P(p, 4);
  const xa = P(p, 5), xq = P(p, 6), tab = P(p, 7), chunk = <i32>P(p, 8), ctr = P(p, 9) + (<usize>tid << 6);
  const dist = P(p, 10), sc = P(p, 11), qs = P(p, 12), arb = P(p, 13);
  const nChunks = (rows + chunk - 1) / chunk;
  const c0 = <i32>(<i64>nChunks * tid / nth), c1 = <i32>(<i64>nChunks * (tid + 1) / nth);
  const end = w + <usize>rows * rb;
  let s: u32 = 0;
  for (;;) {
    const c = c0 + atomic.add<i32>(ctr, 1);
    if (c >= c1) break;
    const j1 = min(rows, (c + 1) * chunk);
    for (let j = c * chunk; j < j1; j++) {
      const wr = w + <usize>j * rb;
      let r: f32;
      if (kind == 0) r = dotCur(wr, xa, nb, tab);
      else if (kind == 5) r = dotEngine(wr, xa, nb);
      else if (kind == 6) r = dotEngineT(wr, xa, nb, tab);
      else if (kind == 7) r = dotCurCall(wr, xa, nb, tab);
      else if (kind == 1) r = dotLite(wr, xq, nb, tab);
      else if (kind == 2) r = dotAligned(qs + <usize>j * arb, sc + <usize>j * <usize>nb * 2, xa, nb, tab);
      else {
        const t = wr + dist;
        if (t + rb <= end) s += touch(t, rb);
        r = kind == 3 ? dotCur(wr, xa, nb, tab) : dotLite(wr, xq, nb, tab);
      }
      store<f32>(out + (<usize>j << 2), r);
    }
  }
  sink += s;
}

/**
 * Two streams per thread: the thread's rows split in two halves walked together, one row of
 * each per step (the two dot products interleave in the out-of-order window). kind 0 dotCur, 1 dotLite.
 */
// @ts-ignore: decorator
@inline function twoStreams(p: usize, tid: i32, nth: i32, kind: i32): void {
  const w = P(p, 0), rb = P(p, 1), rows = <i32>P(p, 2), nb = <i32>P(p, 3), out = P(p, 4);
  const xa = P(p, 5), xq = P(p, 6), tab = P(p, 7);
  const r0 = <i32>(<i64>rows * tid / nth), r1 = <i32>(<i64>rows * (tid + 1) / nth);
  const half = (r1 - r0) >> 1;
  for (let j = r0; j < r0 + half; j++) {
    const k = j + half;
    const a = w + <usize>j * rb, b = w + <usize>k * rb;
    if (kind == 0) {
      store<f32>(out + (<usize>j << 2), dotCur(a, xa, nb, tab));
      store<f32>(out + (<usize>k << 2), dotCur(b, xa, nb, tab));
    } else {
      store<f32>(out + (<usize>j << 2), dotLite(a, xq, nb, tab));
      store<f32>(out + (<usize>k << 2), dotLite(b, xq, nb, tab));
    }
  }
  if ((r1 - r0) & 1) store<f32>(out + (<usize>(r1 - 1) << 2), kind == 0 ? dotCur(w + <usize>(r1 - 1) * rb, xa, nb, tab) : dotLite(w + <usize>(r1 - 1) * rb, xq, nb, tab));
}

/** Rows at wA and wB block by block in one loop, each block's activations loaded once for both (results at oA, oB). */
// @ts-ignore: decorator
@inline function dotTwo(wA: usize, wB: usize, xa: usize, nb: i32, tab: usize, oA: usize, oB: usize): void {
  let accA = f32x4.splat(0), accB = f32x4.splat(0);
  let wa = wA, wb = wB, xp = xa, hp = xa + <usize>nb * 40;
  for (let b = 0; b < nb; b++) {
    const h0 = v128.load(hp), h1 = v128.load(hp, 16), h2 = v128.load(hp, 32), h3 = v128.load(hp, 48);
    const dx = load<f32>(xp);
    {
      const w0 = v128.load(wa, 2), w1 = v128.load(wa, 18);
      const isum = i32x4.add(
        i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w0), h0), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w0), h1)),
        i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w1), h2), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w1), h3)));
      accA = f32x4.add(accA, f32x4.mul(f32x4.convert_i32x4_s(isum), f32x4.splat(f16t(tab, load<u16>(wa)) * dx)));
    }
    {
      const w0 = v128.load(wb, 2), w1 = v128.load(wb, 18);
      const isum = i32x4.add(
        i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w0), h0), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w0), h1)),
        i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w1), h2), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w1), h3)));
      accB = f32x4.add(accB, f32x4.mul(f32x4.convert_i32x4_s(isum), f32x4.splat(f16t(tab, load<u16>(wb)) * dx)));
    }
    wa += 34; wb += 34; xp += 40; hp += 64;
  }
  store<f32>(oA, hsum(accA));
  store<f32>(oB, hsum(accB));
}

/**
 * Two streams per thread with the blocks of the two rows interleaved inside one loop
 * (block b of row j, then block b of row j + half): both streams advance together, line by line.
 */
export function twoInterleaved(p: usize, tid: i32, nth: i32): void {
  const w = P(p, 0), rb = P(p, 1), rows = <i32>P(p, 2), nb = <i32>P(p, 3), out = P(p, 4);
  const xa = P(p, 5), tab = P(p, 7);
  const r0 = <i32>(<i64>rows * tid / nth), r1 = <i32>(<i64>rows * (tid + 1) / nth);
  const half = (r1 - r0) >> 1;
  for (let j = r0; j < r0 + half; j++) dotTwo(w + <usize>j * rb, w + <usize>(j + half) * rb, xa, nb, tab, out + (<usize>j << 2), out + (<usize>(j + half) << 2));
  if ((r1 - r0) & 1) store<f32>(out + (<usize>(r1 - 1) << 2), dotCur(w + <usize>(r1 - 1) * rb, xa, nb, tab));
}

/**
 * As twoInterleaved but inside each 64 KiB chunk of the engine's interpreter (atomic counter per chunk):
 * rows j and j + half of the chunk, 32 KiB apart, as a matmul driver that only sees its chunk can pair them.
 */
export function twoNear(p: usize, tid: i32, nth: i32): void {
  const w = P(p, 0), rb = P(p, 1), rows = <i32>P(p, 2), nb = <i32>P(p, 3), out = P(p, 4);
  const xa = P(p, 5), tab = P(p, 7), chunk = <i32>P(p, 8), ctr = P(p, 9) + (<usize>tid << 6);
  const nChunks = (rows + chunk - 1) / chunk;
  const c0 = <i32>(<i64>nChunks * tid / nth), c1 = <i32>(<i64>nChunks * (tid + 1) / nth);
  for (;;) {
    const c = c0 + atomic.add<i32>(ctr, 1);
    if (c >= c1) break;
    const j0 = c * chunk, j1 = min(rows, (c + 1) * chunk);
    const half = (j1 - j0) >> 1;
    for (let j = j0; j < j0 + half; j++) dotTwo(w + <usize>j * rb, w + <usize>(j + half) * rb, xa, nb, tab, out + (<usize>j << 2), out + (<usize>(j + half) << 2));
    if ((j1 - j0) & 1) store<f32>(out + (<usize>(j1 - 1) << 2), dotCur(w + <usize>(j1 - 1) * rb, xa, nb, tab));
  }
}

/**
 * Four adjacent rows at once, block by block: each block's activations (four i16 vectors and the
 * scale) are loaded once for four rows instead of once per row, so a weight byte costs fewer loads.
 */
export function cur4(p: usize, tid: i32, nth: i32): void {
  const w = P(p, 0), rb = P(p, 1), rows = <i32>P(p, 2), nb = <i32>P(p, 3), out = P(p, 4);
  const xa = P(p, 5), tab = P(p, 7), chunk = <i32>P(p, 8) & ~3, ctr = P(p, 9) + (<usize>tid << 6);
  const nChunks = (rows + chunk - 1) / chunk;
  const c0 = <i32>(<i64>nChunks * tid / nth), c1 = <i32>(<i64>nChunks * (tid + 1) / nth);
  for (;;) {
    const c = c0 + atomic.add<i32>(ctr, 1);
    if (c >= c1) break;
    const j1 = min(rows, (c + 1) * chunk);
    let j = c * chunk;
    for (; j + 4 <= j1; j += 4) {
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      let wp = w + <usize>j * rb, xp = xa, hp = xa + <usize>nb * 40;
      for (let b = 0; b < nb; b++) {
        const h0 = v128.load(hp), h1 = v128.load(hp, 16), h2 = v128.load(hp, 32), h3 = v128.load(hp, 48);
        const dx = load<f32>(xp);
        a0 = f32x4.add(a0, blockCur(wp, h0, h1, h2, h3, dx, tab));
        a1 = f32x4.add(a1, blockCur(wp + rb, h0, h1, h2, h3, dx, tab));
        a2 = f32x4.add(a2, blockCur(wp + 2 * rb, h0, h1, h2, h3, dx, tab));
        a3 = f32x4.add(a3, blockCur(wp + 3 * rb, h0, h1, h2, h3, dx, tab));
        wp += 34; xp += 40; hp += 64;
      }
      store<f32>(out + (<usize>j << 2), hsum(a0));
      store<f32>(out + (<usize>(j + 1) << 2), hsum(a1));
      store<f32>(out + (<usize>(j + 2) << 2), hsum(a2));
      store<f32>(out + (<usize>(j + 3) << 2), hsum(a3));
    }
    for (; j < j1; j++) store<f32>(out + (<usize>j << 2), dotCur(w + <usize>j * rb, xa, nb, tab));
  }
}

/** One block of dotCur with the activations already in registers: d*dx * Σ w·x as f32x4 partial sums. */
// @ts-ignore: decorator
@inline function blockCur(wb: usize, h0: v128, h1: v128, h2: v128, h3: v128, dx: f32, tab: usize): v128 {
  const w0 = v128.load(wb, 2), w1 = v128.load(wb, 18);
  const isum = i32x4.add(
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w0), h0), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w0), h1)),
    i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(w1), h2), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(w1), h3)));
  return f32x4.mul(f32x4.convert_i32x4_s(isum), f32x4.splat(f16t(tab, load<u16>(wb)) * dx));
}

export function cur(p: usize, tid: i32, nth: i32): void { oneStream(p, tid, nth, 0); }
export function engine(p: usize, tid: i32, nth: i32): void { F16TAB = P(p, 7); oneStream(p, tid, nth, 5); }
export function engineLocalTable(p: usize, tid: i32, nth: i32): void { oneStream(p, tid, nth, 6); }
export function curCall(p: usize, tid: i32, nth: i32): void { oneStream(p, tid, nth, 7); }
export function lite(p: usize, tid: i32, nth: i32): void { oneStream(p, tid, nth, 1); }
export function aligned(p: usize, tid: i32, nth: i32): void { oneStream(p, tid, nth, 2); }
export function curTouch(p: usize, tid: i32, nth: i32): void { oneStream(p, tid, nth, 3); }
export function liteTouch(p: usize, tid: i32, nth: i32): void { oneStream(p, tid, nth, 4); }
export function curTwo(p: usize, tid: i32, nth: i32): void { twoStreams(p, tid, nth, 0); }
export function liteTwo(p: usize, tid: i32, nth: i32): void { twoStreams(p, tid, nth, 1); }

/** The plain f32x4 read of the same bytes (this thread's share of the matrix): the ceiling beside the kernels. */
export function read(p: usize, tid: i32, nth: i32): f32 {
  const w = P(p, 0), rb = P(p, 1), rows = <i32>P(p, 2);
  const r0 = <i32>(<i64>rows * tid / nth), r1 = <i32>(<i64>rows * (tid + 1) / nth);
  const a = (w + <usize>r0 * rb + 15) & ~<usize>15, e = (w + <usize>r1 * rb) & ~<usize>63;
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let q = a;
  for (; q + 64 <= e; q += 64) {
    a0 = f32x4.add(a0, v128.load(q)); a1 = f32x4.add(a1, v128.load(q, 16));
    a2 = f32x4.add(a2, v128.load(q, 32)); a3 = f32x4.add(a3, v128.load(q, 48));
  }
  return hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
}

export function heapBase(): usize {
  return (__heap_base + 63) & ~<usize>63;
}
