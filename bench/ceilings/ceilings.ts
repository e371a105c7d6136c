// The machine's own ceilings, as WASM SIMD128 sees them (compiled by src/cli/ceilings.ts
// with asc: SIMD128 + threads, shared imported memory; a second build adds relaxed SIMD).
// Every function works on memory the host planned; each thread calls it on its own region.

/**
 * Reads n bytes (a multiple of 128) at p with 16-byte loads, summed into eight f32x4
 * accumulators (a plain f32 read: one add per 16 bytes), `reps` times. Returns the sum
 * so the reads cannot be removed.
 */
export function readF32(p: usize, n: usize, reps: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let a4 = f32x4.splat(0), a5 = f32x4.splat(0), a6 = f32x4.splat(0), a7 = f32x4.splat(0);
  for (let r = 0; r < reps; r++) {
    const end = p + n;
    for (let q = p; q < end; q += 128) {
      a0 = f32x4.add(a0, v128.load(q));
      a1 = f32x4.add(a1, v128.load(q, 16));
      a2 = f32x4.add(a2, v128.load(q, 32));
      a3 = f32x4.add(a3, v128.load(q, 48));
      a4 = f32x4.add(a4, v128.load(q, 64));
      a5 = f32x4.add(a5, v128.load(q, 80));
      a6 = f32x4.add(a6, v128.load(q, 96));
      a7 = f32x4.add(a7, v128.load(q, 112));
    }
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);
}

/** readF32 over two far-apart halves of [p, p + n) walked together (two sequential streams in one thread). */
export function readF32Two(p: usize, n: usize, reps: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let a4 = f32x4.splat(0), a5 = f32x4.splat(0), a6 = f32x4.splat(0), a7 = f32x4.splat(0);
  const half = (n >> 1) & ~(<usize>63);
  for (let r = 0; r < reps; r++) {
    const end = p + half;
    for (let q = p; q < end; q += 64) {
      const b = q + half;
      a0 = f32x4.add(a0, v128.load(q));
      a1 = f32x4.add(a1, v128.load(q, 16));
      a2 = f32x4.add(a2, v128.load(q, 32));
      a3 = f32x4.add(a3, v128.load(q, 48));
      a4 = f32x4.add(a4, v128.load(b));
      a5 = f32x4.add(a5, v128.load(b, 16));
      a6 = f32x4.add(a6, v128.load(b, 32));
      a7 = f32x4.add(a7, v128.load(b, 48));
    }
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);
}

/**
 * f32 multiply-accumulate peak: `iters` times, four f32x4 weights loaded from an L1-resident
 * 4 KiB buffer at p, each times two register vectors (a 4 x 2 tile, as a register-blocked
 * matmul has it), into eight accumulators: 32 MACs (f32x4.mul + f32x4.add) per iteration.
 */
export function macF32(p: usize, iters: i32, seed: f32): f32 {
  const x0 = f32x4.splat(seed), x1 = f32x4.splat(seed * 0.5);
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let a4 = f32x4.splat(0), a5 = f32x4.splat(0), a6 = f32x4.splat(0), a7 = f32x4.splat(0);
  let o: usize = 0;
  for (let i = 0; i < iters; i++) {
    const q = p + o;
    const w0 = v128.load(q), w1 = v128.load(q, 16), w2 = v128.load(q, 32), w3 = v128.load(q, 48);
    a0 = f32x4.add(a0, f32x4.mul(w0, x0)); a1 = f32x4.add(a1, f32x4.mul(w0, x1));
    a2 = f32x4.add(a2, f32x4.mul(w1, x0)); a3 = f32x4.add(a3, f32x4.mul(w1, x1));
    a4 = f32x4.add(a4, f32x4.mul(w2, x0)); a5 = f32x4.add(a5, f32x4.mul(w2, x1));
    a6 = f32x4.add(a6, f32x4.mul(w3, x0)); a7 = f32x4.add(a7, f32x4.mul(w3, x1));
    o = (o + 64) & 4095;
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1) + f32x4.extract_lane(s, 2) + f32x4.extract_lane(s, 3);
}

/**
 * int8 multiply-accumulate peak the way the kernels multiply: `iters` times, two i8x16 weight
 * vectors loaded from an L1-resident 4 KiB buffer at p, each sign-extended to two i16x8 halves and
 * multiplied by i32x4.dot_i16x8_s against activations already held as i16 (two tokens' worth in
 * registers), into eight i32x4 accumulators: 64 MACs per iteration.
 */
export function macI8(p: usize, iters: i32, seed: i32): i32 {
  const x0 = i16x8.splat(<i16>seed), x1 = i16x8.splat(<i16>(seed + 1)), x2 = i16x8.splat(<i16>(seed + 2)), x3 = i16x8.splat(<i16>(seed + 3));
  let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
  let a4 = i32x4.splat(0), a5 = i32x4.splat(0), a6 = i32x4.splat(0), a7 = i32x4.splat(0);
  let o: usize = 0;
  for (let i = 0; i < iters; i++) {
    const q = p + o;
    const w0 = v128.load(q), w1 = v128.load(q, 16);
    const l0 = i16x8.extend_low_i8x16_s(w0), h0 = i16x8.extend_high_i8x16_s(w0);
    const l1 = i16x8.extend_low_i8x16_s(w1), h1 = i16x8.extend_high_i8x16_s(w1);
    a0 = i32x4.add(a0, i32x4.dot_i16x8_s(l0, x0)); a1 = i32x4.add(a1, i32x4.dot_i16x8_s(h0, x1));
    a2 = i32x4.add(a2, i32x4.dot_i16x8_s(l1, x2)); a3 = i32x4.add(a3, i32x4.dot_i16x8_s(h1, x3));
    a4 = i32x4.add(a4, i32x4.dot_i16x8_s(l0, x2)); a5 = i32x4.add(a5, i32x4.dot_i16x8_s(h0, x3));
    a6 = i32x4.add(a6, i32x4.dot_i16x8_s(l1, x0)); a7 = i32x4.add(a7, i32x4.dot_i16x8_s(h1, x1));
    o = (o + 32) & 4095;
  }
  const s = i32x4.add(i32x4.add(i32x4.add(a0, a1), i32x4.add(a2, a3)), i32x4.add(i32x4.add(a4, a5), i32x4.add(a6, a7)));
  return i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1) + i32x4.extract_lane(s, 2) + i32x4.extract_lane(s, 3);
}

/**
 * The relaxed-SIMD int8 dot (relaxed build only, 0 otherwise): `iters` times, two i8x16 weight
 * vectors (taken as 7-bit unsigned) from the L1 buffer, each into i16x8.relaxed_dot_i8x16_i7x16_s
 * against two register activation vectors, pair sums widened into eight i32x4 accumulators:
 * 64 MACs per iteration.
 */
export function macI8Relaxed(p: usize, iters: i32, seed: i32): i32 {
  if (!ASC_FEATURE_RELAXED_SIMD) return 0;
  const x0 = i8x16.splat(<i8>seed), x1 = i8x16.splat(<i8>(seed + 1)), x2 = i8x16.splat(<i8>(seed + 2)), x3 = i8x16.splat(<i8>(seed + 3));
  const m = i8x16.splat(0x7f);
  let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
  let a4 = i32x4.splat(0), a5 = i32x4.splat(0), a6 = i32x4.splat(0), a7 = i32x4.splat(0);
  let o: usize = 0;
  for (let i = 0; i < iters; i++) {
    const q = p + o;
    const w0 = v128.and(v128.load(q), m), w1 = v128.and(v128.load(q, 16), m);
    a0 = i32x4.add(a0, i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(x0, w0)));
    a1 = i32x4.add(a1, i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(x1, w0)));
    a2 = i32x4.add(a2, i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(x2, w0)));
    a3 = i32x4.add(a3, i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(x3, w0)));
    a4 = i32x4.add(a4, i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(x0, w1)));
    a5 = i32x4.add(a5, i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(x1, w1)));
    a6 = i32x4.add(a6, i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(x2, w1)));
    a7 = i32x4.add(a7, i32x4.extadd_pairwise_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(x3, w1)));
    o = (o + 32) & 4095;
  }
  const s = i32x4.add(i32x4.add(i32x4.add(a0, a1), i32x4.add(a2, a3)), i32x4.add(i32x4.add(a4, a5), i32x4.add(a6, a7)));
  return i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1) + i32x4.extract_lane(s, 2) + i32x4.extract_lane(s, 3);
}

/** First byte the host may use. */
export function heapBase(): usize {
  return (__heap_base + 63) & ~<usize>63;
}
