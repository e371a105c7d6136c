/**
 * Every WGSL kernel against the reference kernels (src/kernels/reference) on
 * fresh random data at real shapes, with and without the subgroup path, on a
 * real WebGPU implementation (Dawn; SwiftShader without a GPU). Seeds are
 * printed; TSINFER_SEED=<seed> reproduces a run.
 */
import { describe, expect, it } from 'vitest';
import { GGMLType, ggmlType, rowBytes } from '../../src/gguf/types.js';
import { dequantizeRow, roundToF16 } from '../../src/quant/index.js';
import * as ref from '../../src/kernels/reference/ops.js';
import { argmax as cpuArgmax } from '../../src/generate/sampling.js';
import type { BufferDecl, KvCacheType, Op, Program } from '../../src/model/program.js';
import { WEBGPU_TYPES } from '../../src/kernels/webgpu/kernels/quant.js';
import { F16_RUN, HAVE_WEBGPU, SUBGROUP_PATHS, maxScaledError, opBackend, randomTensor, requireAdapterUnderCI, seededRandom, type FakeTensor } from './webgpu-helpers.js';

requireAdapterUnderCI();

function program(buffers: BufferDecl[], ops: Op[], logits: string, weights: string[], kv: { type: KvCacheType; layers: number; width: number } = { type: 'f32', layers: 0, width: 2 }): Program {
  return { buffers, ops, kv, logits, weights };
}

function randomF32(n: number, normal: () => number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => normal() * scale);
}

function steps(T: number, pos = 0, allLogits = true) {
  return { tokens: new Int32Array(T), pos, allLogits };
}

/** Shapes per type: K-quants need rows of whole 256-blocks. */
function shapeOf(typeId: number): [number, number] {
  return ggmlType(typeId)!.blockSize === 256 ? [1536, 576] : [576, 1536];
}

/** Matmul layouts: 64 invocations per row with and without subgroups, 16 per row (segmented tree), 1 per row (CPU adapters). */
const MATMUL_LAYOUTS: { tpr: number; sub: boolean }[] = [...SUBGROUP_PATHS.map((sub) => ({ tpr: 64, sub })), { tpr: 16, sub: false }, { tpr: 1, sub: false }];

describe.runIf(HAVE_WEBGPU)('WebGPU kernels vs reference', () => {
  for (const { tpr, sub } of MATMUL_LAYOUTS) {
    for (const typeId of WEBGPU_TYPES) {
      const tname = ggmlType(typeId)!.name;
      it(`matmul ${tname} [${shapeOf(typeId).join(' x ')}], T = 1 and 11, ${tpr} invocations per row, subgroups ${sub}`, async () => {
        const { rand, normal } = seededRandom(`matmul ${tname} tpr=${tpr} sg=${sub}`);
        const [cols, rows] = shapeOf(typeId);
        const bytes = randomTensor(typeId, cols, rows, rand, normal);
        const prog = program(
          [
            { name: 'x', width: cols, rows: 'tokens' },
            { name: 'y', width: rows, rows: 'tokens' },
          ],
          [{ op: 'matmul', weight: 'w', x: 'x', out: 'y' }],
          'y',
          ['w'],
        );
        const be = await opBackend(prog, [{ name: 'w', typeId, shape: [cols, rows], bytes }], { subgroups: sub, maxBatch: 11, matmulThreadsPerRow: tpr });
        try {
          const rb = rowBytes(ggmlType(typeId)!, cols);
          const wrow = new Float32Array(cols);
          for (const T of [1, 11]) {
            const x = randomF32(T * cols, normal);
            be.writeActivation('x', x);
            const got = await be.forward(steps(T));
            expect(got.length).toBe(T * rows);
            const want = new Float64Array(T * rows);
            const scale = new Float64Array(T * rows);
            for (let j = 0; j < rows; j++) {
              dequantizeRow(typeId, bytes.subarray(j * rb, (j + 1) * rb), wrow, cols);
              for (let t = 0; t < T; t++) {
                let s = 0;
                let a = 0;
                for (let i = 0; i < cols; i++) {
                  s += wrow[i]! * x[t * cols + i]!;
                  a += Math.abs(wrow[i]! * x[t * cols + i]!);
                }
                want[t * rows + j] = s;
                scale[t * rows + j] = a + 1e-30;
              }
            }
            const { err, at } = maxScaledError(got, want, scale);
            expect(err, `T=${T} row ${at}: got ${got[at]}, want ${want[at]}`).toBeLessThan(3e-5);
          }
        } finally {
          be.dispose();
        }
      });
    }
  }

  it('matmul Q8_0 [576 x 49152] (output projection), T = 1', async () => {
    const { rand, normal } = seededRandom('matmul 49152');
    const [cols, rows] = [576, 49152];
    const typeId = GGMLType.Q8_0;
    const bytes = randomTensor(typeId, cols, rows, rand, normal);
    const prog = program(
      [
        { name: 'x', width: cols, rows: 'outputs' },
        { name: 'y', width: rows, rows: 'outputs' },
      ],
      [{ op: 'matmul', weight: 'w', x: 'x', out: 'y' }],
      'y',
      ['w'],
    );
    const be = await opBackend(prog, [{ name: 'w', typeId, shape: [cols, rows], bytes }], { subgroups: SUBGROUP_PATHS[0]!, maxBatch: 1 });
    try {
      const x = randomF32(cols, normal);
      be.writeActivation('x', x);
      const got = await be.forward(steps(1, 0, false));
      const out = new Float32Array(rows);
      ref.matmul(out, x, { typeId, bytes, cols, outRows: rows, rowBytes: rowBytes(ggmlType(typeId)!, cols) }, 1, new Float32Array(cols));
      const { err, at } = maxScaledError(got, out, 1);
      expect(err, `row ${at}`).toBeLessThan(2e-5);
    } finally {
      be.dispose();
    }
  });

  it('a weight type the kernels cannot read is an error naming it (and init frees the device)', async () => {
    const cols = 64;
    const prog = program(
      [
        { name: 'x', width: cols, rows: 'tokens' },
        { name: 'y', width: 4, rows: 'tokens' },
      ],
      [{ op: 'matmul', weight: 'w', x: 'x', out: 'y' }],
      'y',
      ['w'],
    );
    const bytes = new Uint8Array(rowBytes(ggmlType(GGMLType.IQ4_NL)!, cols) * 4);
    await expect(opBackend(prog, [{ name: 'w', typeId: GGMLType.IQ4_NL, shape: [cols, 4], bytes }], { subgroups: false, maxBatch: 1 })).rejects.toThrow(/IQ4_NL/);
  });

  it('a weight larger than a binding is split into parts of whole rows: matmul and embed over Q4_K in 7 parts', async () => {
    const { rand, normal } = seededRandom('split weight');
    const typeId = GGMLType.Q4_K;
    const [cols, rows] = [1536, 1000];
    const rb = rowBytes(ggmlType(typeId)!, cols);
    const bytes = randomTensor(typeId, cols, rows, rand, normal);
    const prog = program(
      [
        { name: 'e', width: cols, rows: 'tokens' },
        { name: 'y', width: rows, rows: 'tokens' },
      ],
      [
        { op: 'embed', table: 'w', out: 'e' },
        { op: 'matmul', weight: 'w', x: 'e', out: 'y' },
      ],
      'y',
      ['w'],
    );
    // 150 rows per binding: parts of 150, …, 100 rows.
    const be = await opBackend(prog, [{ name: 'w', typeId, shape: [cols, rows], bytes }], { subgroups: false, maxBatch: 3, maxBindingBytes: 150 * rb + 100 });
    try {
      const tokens = Int32Array.of(0, 149, 999);
      const got = await be.forward({ tokens, pos: 0, allLogits: true });
      const w: ref.WeightMatrix = { typeId, bytes, cols, outRows: rows, rowBytes: rb };
      const e = new Float32Array(3 * cols);
      ref.embed(e, w, tokens);
      const want = new Float32Array(3 * rows);
      ref.matmul(want, e, w, 3, new Float32Array(cols));
      let max = 0;
      for (const v of want) max = Math.max(max, Math.abs(v));
      const { err, at } = maxScaledError(got, want, max);
      expect(err, `element ${at}: got ${got[at]}, want ${want[at]}`).toBeLessThan(1e-5);
      expect(be.describe().commands).toBe(14);
    } finally {
      be.dispose();
    }
  });

  for (const typeId of WEBGPU_TYPES) {
    const tname = ggmlType(typeId)!.name;
    it(`embed ${tname}: rows of a [${shapeOf(typeId)[0]} x 1000] table`, async () => {
      const { rand, normal } = seededRandom(`embed ${tname}`);
      const cols = shapeOf(typeId)[0];
      const rows = 1000;
      const bytes = randomTensor(typeId, cols, rows, rand, normal);
      const prog = program([{ name: 'x', width: cols, rows: 'tokens' }], [{ op: 'embed', table: 'tab', out: 'x' }], 'x', ['tab']);
      const be = await opBackend(prog, [{ name: 'tab', typeId, shape: [cols, rows], bytes }], { subgroups: false, maxBatch: 9 });
      try {
        const tokens = Int32Array.from({ length: 9 }, (_, i) => (i === 0 ? rows - 1 : (rand() * rows) | 0));
        const got = await be.forward({ tokens, pos: 0, allLogits: true });
        const want = new Float32Array(9 * cols);
        ref.embed(want, { typeId, bytes, cols, outRows: rows, rowBytes: rowBytes(ggmlType(typeId)!, cols) }, tokens);
        let max = 0;
        for (const v of want) max = Math.max(max, Math.abs(v));
        const { err, at } = maxScaledError(got, want, max);
        expect(err, `element ${at}: got ${got[at]}, want ${want[at]}`).toBeLessThan(1e-6);
        await expect(be.forward({ tokens: Int32Array.of(rows), pos: 0, allLogits: true })).rejects.toThrow(/outside the vocabulary/);
      } finally {
        be.dispose();
      }
    });
  }

  for (const sub of SUBGROUP_PATHS) {
    for (const width of [576, 2560, 100]) {
      it(`rmsnorm width ${width}, 7 rows, subgroups ${sub}`, async () => {
        const { normal } = seededRandom(`rmsnorm ${width}`);
        const w = randomF32(width, normal);
        const prog = program(
          [
            { name: 'x', width, rows: 'tokens' },
            { name: 'h', width, rows: 'tokens' },
          ],
          [{ op: 'rmsnorm', x: 'x', weight: 'nw', eps: 1e-5, out: 'h' }],
          'h',
          ['nw'],
        );
        const be = await opBackend(prog, [{ name: 'nw', typeId: GGMLType.F32, shape: [width], bytes: new Uint8Array(w.buffer) }], { subgroups: sub, maxBatch: 7 });
        try {
          const x = randomF32(7 * width, normal, 3);
          be.writeActivation('x', x);
          const got = await be.forward(steps(7));
          const want = new Float32Array(7 * width);
          ref.rmsnorm(want, x, w, 7, width, 1e-5);
          const { err, at } = maxScaledError(got, want, 10);
          expect(err, `element ${at}: got ${got[at]}, want ${want[at]}`).toBeLessThan(1e-6);
        } finally {
          be.dispose();
        }
      });
    }
  }

  it('rope (normal and NeoX): 9 heads x 64 (rope 64) and 8 heads x 8, 5 rows at a random position', async () => {
    const { rand, normal } = seededRandom('rope');
    for (const [nHeads, headDim, ropeDim, mode] of [
      [9, 64, 64, 'normal'],
      [8, 8, 8, 'normal'],
      [4, 64, 32, 'normal'],
      [9, 64, 64, 'neox'],
      [4, 64, 32, 'neox'],
    ] as const) {
      const width = nHeads * headDim;
      const freqs = { dim: ropeDim, base: 10000, freqScale: 1 };
      const prog = program([{ name: 'q', width, rows: 'tokens' }], [{ op: 'rope', x: 'q', nHeads, headDim, ropeDim, base: 10000, mode, freqs }], 'q', []);
      const be = await opBackend(prog, [], { subgroups: false, maxBatch: 5, contextLength: 2048 });
      try {
        const pos = (rand() * 2040) | 0;
        const x = randomF32(5 * width, normal);
        be.writeActivation('q', x);
        const got = await be.forward(steps(5, pos));
        const want = x.slice();
        ref.rope(want, 5, pos, nHeads, headDim, ropeDim, 10000, mode);
        const { err, at } = maxScaledError(got, want, 1);
        expect(err, `${mode} ${nHeads}x${headDim} at pos ${pos}, element ${at}`).toBeLessThan(2e-6);
      } finally {
        be.dispose();
      }
    }
  });

  it('add (in place and not) and silu_mul (in place), 13 rows of 1536', async () => {
    const { normal } = seededRandom('elementwise');
    const width = 1536;
    const T = 13;
    const prog = program(
      [
        { name: 'a', width, rows: 'tokens' },
        { name: 'b', width, rows: 'tokens' },
        { name: 'c', width, rows: 'tokens' },
      ],
      [
        { op: 'add', a: 'a', b: 'b', out: 'c' },
        { op: 'silu_mul', gate: 'c', up: 'b', out: 'c' },
        { op: 'add', a: 'c', b: 'a', out: 'c' },
      ],
      'c',
      [],
    );
    const be = await opBackend(prog, [], { subgroups: false, maxBatch: T });
    try {
      const a = randomF32(T * width, normal, 4);
      const b = randomF32(T * width, normal, 4);
      be.writeActivation('a', a);
      be.writeActivation('b', b);
      const got = await be.forward(steps(T));
      const c = new Float32Array(T * width);
      ref.add(c, a, b, c.length);
      ref.siluMul(c, c, b, c.length);
      ref.add(c, c, a, c.length);
      const { err, at } = maxScaledError(got, c, 100);
      expect(err, `element ${at}: got ${got[at]}, want ${c[at]}`).toBeLessThan(1e-6);
    } finally {
      be.dispose();
    }
  });

  // Tiled prefill + split-KV decode (the defaults), and one workgroup per (row, head) for both.
  for (const [kvType, splitKv] of [
    ['f16', true],
    ['f32', true],
    ['f16', false],
    ['f32', false],
  ] as const) {
    const prefillTiles = splitKv;
    // The f16 configuration runs the f16 cache only: the f32 cache has no f16 variant (it is tested on
    // SwiftShader), and on a loaded 2-core machine lavapipe ran these test cases for minutes at times.
    it.skipIf(F16_RUN && kvType === 'f32')(
      `kv_store + attention, ${kvType} cache, GQA 9/3 heads x 64, ${splitKv ? 'tiled prefill + split-KV decode' : 'one workgroup per row and head'}: prefills of 70, 7, 64 rows and decode rows`,
      async () => {
        const { rand, normal } = seededRandom(`attention ${kvType} split=${splitKv}`);
        const [nHeads, nKv, headDim] = [9, 3, 64];
        const qw = nHeads * headDim;
        const kvw = nKv * headDim;
        const ctx = 160;
        const prog = program(
          [
            { name: 'q', width: qw, rows: 'tokens' },
            { name: 'k', width: kvw, rows: 'tokens' },
            { name: 'v', width: kvw, rows: 'tokens' },
            { name: 'att', width: qw, rows: 'tokens' },
          ],
          [
            { op: 'kv_store', layer: 0, k: 'k', v: 'v' },
            { op: 'attention', layer: 0, q: 'q', out: 'att', nHeads, nKvHeads: nKv, headDim, scale: 1 / 8 },
          ],
          'att',
          [],
          { type: kvType, layers: 1, width: kvw },
        );
        const be = await opBackend(prog, [], { subgroups: false, maxBatch: 70, contextLength: ctx, splitKv, prefillTiles });
        const kc = new Float32Array(ctx * kvw);
        const vc = new Float32Array(ctx * kvw);
        try {
          let pos = 0;
          let sumRef = 0;
          let sumAlt = 0;
          let n = 0;
          for (const T of [70, 1, 7, 1, 64, 1, 1]) {
            const q = randomF32(T * qw, normal, 2);
            const k = randomF32(T * kvw, normal, 2);
            const v = randomF32(T * kvw, normal);
            be.writeActivation('q', q);
            be.writeActivation('k', k);
            be.writeActivation('v', v);
            const got = await be.forward(steps(T, pos));
            ref.kvStore(kc, vc, k, v, T, pos, kvw, kvType === 'f16');
            const want = new Float32Array(T * qw);
            ref.attention(want, q, kc, vc, T, pos, nHeads, nKv, headDim, 1 / 8, kvType === 'f16');
            const { err, at } = maxScaledError(got, want, 1);
            // f16: a softmax weight on an f16 rounding boundary may round the other way (one f16 ulp of that
            // weight times |v|); the mean below is the sharper check.
            expect(err, `T=${T} at ${pos}: element ${at}: got ${got[at]}, want ${want[at]}`).toBeLessThan(kvType === 'f16' ? 4e-3 : 2e-5);
            if (kvType === 'f16') {
              // The f16 numerics (q and softmax weights rounded) must be there: the GPU is much
              // closer to the reference than to the same attention without those roundings.
              const alt = new Float32Array(T * qw);
              ref.attention(alt, q, kc, vc, T, pos, nHeads, nKv, headDim, 1 / 8, false);
              let dRef = 0;
              let dAlt = 0;
              n += want.length;
              for (let i = 0; i < want.length; i++) {
                dRef += Math.abs(got[i]! - want[i]!);
                dAlt += Math.abs(got[i]! - alt[i]!);
              }
              console.log(
                `attention f16 T=${T}: max err ${err.toExponential(2)}, mean |gpu - ref| ${(dRef / want.length).toExponential(2)}, mean |gpu - unrounded| ${(dAlt / want.length).toExponential(2)}`,
              );
              sumRef += dRef;
              sumAlt += dAlt;
              expect(dRef / want.length).toBeLessThan(5e-5);
            }
            pos += T;
            void rand;
          }
          if (kvType === 'f16') {
            console.log(`attention f16 overall: mean |gpu - ref| ${(sumRef / n).toExponential(2)}, mean |gpu - unrounded| ${(sumAlt / n).toExponential(2)}`);
            expect(sumRef).toBeLessThan(sumAlt / 10);
          }
        } finally {
          be.dispose();
        }
      },
    );
  }

  it('kv_store f16 rounds to nearest even like the reference (round trip through attention of one position)', async () => {
    const { normal } = seededRandom('f16 rounding');
    const width = 64;
    const prog = program(
      [
        { name: 'q', width, rows: 'tokens' },
        { name: 'k', width, rows: 'tokens' },
        { name: 'v', width, rows: 'tokens' },
        { name: 'att', width, rows: 'tokens' },
      ],
      [
        { op: 'kv_store', layer: 0, k: 'k', v: 'v' },
        { op: 'attention', layer: 0, q: 'q', out: 'att', nHeads: 1, nKvHeads: 1, headDim: width, scale: 1 },
      ],
      'att',
      [],
      { type: 'f16', layers: 1, width },
    );
    const be = await opBackend(prog, [], { subgroups: false, maxBatch: 1 });
    try {
      // With one position the softmax weight is exactly 1: att = round_f16(v).
      const v = randomF32(width, normal, 100);
      v[0] = 1 + 2 ** -11; // a tie: rounds to even (1)
      v[1] = 1 + 3 * 2 ** -11; // a tie: rounds to even (1 + 2^-9)
      v[2] = 1e-6; // subnormal in f16
      v[3] = 70000; // overflows to inf
      be.writeActivation('q', new Float32Array(width));
      be.writeActivation('k', new Float32Array(width));
      be.writeActivation('v', v);
      const got = await be.forward(steps(1));
      expect(Array.from(got)).toEqual(Array.from(v, roundToF16));
    } finally {
      be.dispose();
    }
  });

  it('top-k on the GPU: 49152 logits with planted ties, k = 1, 40, 64; 8k bytes read back', async () => {
    const { rand, normal } = seededRandom('topk');
    const vocab = 49152;
    const prog = program(
      [
        { name: 'a', width: vocab, rows: 'outputs' },
        { name: 'z', width: vocab, rows: 'outputs' },
        { name: 'logits', width: vocab, rows: 'outputs' },
      ],
      [{ op: 'add', a: 'a', b: 'z', out: 'logits' }],
      'logits',
      [],
    );
    const be = await opBackend(prog, [], { subgroups: false, maxBatch: 1 });
    try {
      be.writeActivation('z', new Float32Array(vocab));
      for (const k of [1, 40, 64]) {
        const l = randomF32(vocab, normal, 3);
        // Ties inside and at the edge of the top k.
        for (let t = 0; t < 6; t++) l[(rand() * vocab) | 0] = 9;
        for (let t = 0; t < 3; t++) l[(rand() * vocab) | 0] = 8.5;
        l[(rand() * vocab) | 0] = NaN;
        be.writeActivation('a', l);
        const before = be.getCounters();
        const got = await be.forwardTopK(steps(1, 0, false), k);
        const after = be.getCounters();
        const order = Array.from({ length: vocab }, (_, i) => i)
          .filter((i) => l[i] === l[i])
          .sort((i, j) => l[j]! - l[i]! || i - j)
          .slice(0, k);
        expect(Array.from(got.ids)).toEqual(order);
        expect(Array.from(got.logits)).toEqual(order.map((i) => l[i]!));
        expect(after.bytesReadBack - before.bytesReadBack).toBe(8 * k);
      }
    } finally {
      be.dispose();
    }
  });

  it('argmax on the GPU: 49152 logits, planted ties (lowest id wins), only 4 bytes read back', async () => {
    const { rand, normal } = seededRandom('argmax');
    const vocab = 49152;
    const prog = program(
      [
        { name: 'a', width: vocab, rows: 'outputs' },
        { name: 'z', width: vocab, rows: 'outputs' },
        { name: 'logits', width: vocab, rows: 'outputs' },
      ],
      [{ op: 'add', a: 'a', b: 'z', out: 'logits' }],
      'logits',
      [],
    );
    const be = await opBackend(prog, [], { subgroups: false, maxBatch: 1 });
    try {
      be.writeActivation('z', new Float32Array(vocab));
      for (let round = 0; round < 4; round++) {
        const l = randomF32(vocab, normal, 3);
        if (round >= 1) {
          const i = (rand() * vocab) | 0;
          const j = (rand() * vocab) | 0;
          l[i] = 50;
          l[j] = 50;
        }
        if (round === 3) l.fill(-Infinity);
        be.writeActivation('a', l);
        const before = be.getCounters();
        const id = await be.forwardArgmax(steps(1, 0, false));
        const after = be.getCounters();
        expect(id).toBe(cpuArgmax(l));
        expect(after.bytesReadBack - before.bytesReadBack).toBe(4);
        expect(after.submits - before.submits).toBe(1);
      }
    } finally {
      be.dispose();
    }
  });
});

export type { FakeTensor };
