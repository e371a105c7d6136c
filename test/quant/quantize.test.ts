import { describe, expect, it } from 'vitest';
import { GGMLType, ggmlType } from '../../src/gguf/types.js';
import { dequantizeRow } from '../../src/quant/index.js';
import { isQuantizable, nearestInt, quantize, quantizeChunk } from '../../src/quant/quantize.js';
import { decodeBytes, loadQuantVectors, type QuantCase, type QuantVectorFile } from './quant-vectors.js';

const REQUIRED = ['F16', 'BF16', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K'];
const files = loadQuantVectors().filter((f) => REQUIRED.includes(f.type));

function floats(b64: string): Float32Array {
  const bytes = decodeBytes(b64);
  // copy into an aligned buffer (a Buffer may sit at any offset in its pool)
  return new Float32Array(Uint8Array.from(bytes).buffer);
}

function describeMismatch(file: QuantVectorFile, c: QuantCase, expected: Uint8Array, actual: Uint8Array): string | undefined {
  for (let i = 0; i < expected.length; i++) {
    if (expected[i] !== actual[i]) {
      const row = Math.floor(i / c.quantizedBytesPerRow);
      const inRow = i % c.quantizedBytesPerRow;
      const block = Math.floor(inRow / file.typeSize);
      return `${file.type} case "${c.name}" (seed ${c.seed}): first differing byte ${i} (row ${row}, block ${block}, byte ${inRow % file.typeSize} of the block): expected ${expected[i]}, got ${actual[i]}`;
    }
  }
  return expected.length === actual.length ? undefined : `${file.type} case "${c.name}": length ${actual.length}, expected ${expected.length}`;
}

describe('quantizers reproduce ggml byte for byte', () => {
  it('cover every required type', () => {
    expect(files.map((f) => f.type).sort()).toEqual([...REQUIRED].sort());
    for (const f of files) expect(isQuantizable(f.ggmlTypeId)).toBe(true);
  });

  describe.each(files.map((f) => [f.type, f] as [string, QuantVectorFile]))('%s', (_type, file) => {
    it.each(file.cases.map((c) => [c.name, c] as [string, QuantCase]))('case %s', (_name, c) => {
      const input = floats(c.inputF32Base64);
      const expected = decodeBytes(c.quantizedBase64);
      const actual = quantize(file.ggmlTypeId, input, c.nRows, c.nPerRow);
      expect(describeMismatch(file, c, expected, actual)).toBeUndefined();
    });
  });
});

describe('quantizer entry points', () => {
  it('nearestInt rounds half to even like ggml', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 3.49, -3.51].map(nearestInt)).toEqual([0, 2, 2, 0, -2, 3, -4]);
  });

  it('rejects unsupported types and partial blocks', () => {
    expect(() => quantize(GGMLType.IQ4_XS, new Float32Array(256), 1, 256)).toThrow(/IQ4_XS/);
    expect(() => quantize(GGMLType.Q4_K, new Float32Array(576), 1, 576)).toThrow(/multiple/);
    expect(() => quantizeChunk(GGMLType.Q8_0, new Float32Array(32), new Uint8Array(10), 1, 32)).toThrow(/bytes/);
  });

  it("round-trips through the dequantizer within the type's error on random rows", () => {
    const seed = (Date.now() % 100000) | 0;
    console.log(`quantize round-trip seed ${seed}`);
    let s = seed >>> 0;
    const rnd = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
    const n = 512;
    const x = new Float32Array(n).map(rnd);
    // The grid step of each type for values in [-1, 1]: symmetric types put amax on their largest level,
    // the K types with a min spread the range over 2^bits - 1 steps. ggml's quantizers minimise the
    // squared error, not the largest one, so one element may land a little past one step (Q5_K reached
    // 1.11 steps over 3000 seeds); the bound is 1.25 steps.
    const step: Record<string, number> = { Q8_0: 1 / 127, Q6_K: 1 / 32, Q5_K: 2 / 31, Q5_0: 1 / 16, Q4_K: 2 / 15, Q4_0: 1 / 8, Q3_K: 1 / 4, Q2_K: 2 / 3 };
    for (const [name, st] of Object.entries(step)) {
      const t = 1.25 * st;
      const id = (GGMLType as Record<string, number>)[name]!;
      const q = quantize(id, x, 1, n);
      expect(q.length).toBe((n / ggmlType(id)!.blockSize) * ggmlType(id)!.typeSize);
      const y = new Float32Array(n);
      dequantizeRow(id, q, y, n);
      let maxErr = 0;
      for (let i = 0; i < n; i++) maxErr = Math.max(maxErr, Math.abs(y[i]! - x[i]!));
      expect(maxErr, `${name} max error (seed ${seed})`).toBeLessThan(t);
    }
  });
});
