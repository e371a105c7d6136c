import { describe, expect, it } from 'vitest';
import { GGML_TYPES, GGMLType, ggmlType } from '../../src/gguf/types.js';
import { bf16ToF32, dequantizableTypes, dequantize, dequantizeRow, f16ToF32, isDequantizable } from '../../src/quant/index.js';
import { expandQ5Reference } from '../../src/kernels/wasm/layout.js';
import { decodeBytes, decodeF32Bits, firstBitMismatch, hex32, loadQuantVectors, type QuantCase, type QuantVectorFile } from './quant-vectors.js';

const files = loadQuantVectors();

function mismatchMessage(type: string, c: QuantCase, expected: Uint32Array, actual: Float32Array, what = ''): string | undefined {
  const i = firstBitMismatch(expected, actual);
  if (i < 0) return undefined;
  const actualBits = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const row = Math.floor(i / c.nPerRow);
  return (
    `${type} case "${c.name}"${what}: first mismatch at element ${i} (row ${row}, index ${i % c.nPerRow}): ` +
    `expected ${hex32(expected[i] ?? 0)} (${new Float32Array(new Uint32Array([expected[i] ?? 0]).buffer)[0]}), ` +
    `actual ${hex32(actualBits[i] ?? 0)} (${actual[i]})`
  );
}

describe('quant test vectors', () => {
  it('cover every required type', () => {
    const names = files.map((f) => f.type);
    for (const t of ['F16', 'BF16', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K']) {
      expect(names).toContain(t);
    }
  });
});

describe.each(files.map((f) => [f.type, f] as [string, QuantVectorFile]))('dequantize %s', (type, file) => {
  it('matches the type table', () => {
    const info = ggmlType(file.ggmlTypeId);
    expect(info?.name).toBe(type);
    expect(info?.blockSize).toBe(file.blockSize);
    expect(info?.typeSize).toBe(file.typeSize);
    expect(isDequantizable(file.ggmlTypeId)).toBe(true);
  });

  it.each(file.cases.map((c) => [c.name, c] as [string, QuantCase]))('case %s is bit-exact, row by row', (_name, c) => {
    const q = decodeBytes(c.quantizedBase64);
    const expected = decodeF32Bits(c.dequantizedF32Base64);
    expect(q.length).toBe(c.nRows * c.quantizedBytesPerRow);
    expect(expected.length).toBe(c.nRows * c.nPerRow);
    const out = new Float32Array(c.nRows * c.nPerRow);
    for (let r = 0; r < c.nRows; r++) {
      const src = q.subarray(r * c.quantizedBytesPerRow, (r + 1) * c.quantizedBytesPerRow);
      dequantizeRow(file.ggmlTypeId, src, out.subarray(r * c.nPerRow, (r + 1) * c.nPerRow), c.nPerRow);
    }
    const msg = mismatchMessage(type, c, expected, out);
    if (msg) expect.fail(msg);
  });

  it.each(file.cases.map((c) => [c.name, c] as [string, QuantCase]))('case %s is bit-exact in one call from odd byte offsets', (_name, c) => {
    const q = decodeBytes(c.quantizedBase64);
    const expected = decodeF32Bits(c.dequantizedF32Base64);
    const n = c.nRows * c.nPerRow;
    for (const offset of [1, 3]) {
      const buf = new Uint8Array(q.length + offset + 5);
      buf.set(q, offset);
      const out = dequantize(file.ggmlTypeId, buf.subarray(offset, offset + q.length), n);
      const msg = mismatchMessage(type, c, expected, out, ` (byteOffset ${offset}, one call over all rows)`);
      if (msg) expect.fail(msg);
    }
  });
});

function vectorFile(type: string): QuantVectorFile {
  const f = files.find((x) => x.type === type);
  if (!f) throw new Error(`no vectors for ${type}`);
  return f;
}

describe.each([
  ['F16', f16ToF32],
  ['BF16', bf16ToF32],
] as const)('%s scalar conversion', (type, convert) => {
  it.each(vectorFile(type).cases.map((c) => [c.name, c] as [string, QuantCase]))('matches the vectors: %s', (_name, c) => {
    const q = decodeBytes(c.quantizedBase64);
    const expected = decodeF32Bits(c.dequantizedF32Base64);
    const probe = new Float32Array(1);
    const probeBits = new Uint32Array(probe.buffer);
    for (let i = 0; i < expected.length; i++) {
      const h = q[2 * i]! | (q[2 * i + 1]! << 8);
      const v = convert(h);
      const want = expected[i]!;
      const wantIsNaN = (want & 0x7f800000) === 0x7f800000 && (want & 0x7fffff) !== 0;
      if (wantIsNaN) {
        // a JS number may not carry a NaN payload; dequantizeRow is the bit-exact path
        if (!Number.isNaN(v)) expect.fail(`${type} case "${c.name}" element ${i}: ${hex32(h)} should be NaN, got ${v}`);
        continue;
      }
      probe[0] = v;
      if (probeBits[0] !== want) {
        expect.fail(`${type} case "${c.name}" element ${i} (bits ${hex32(h)}): expected ${hex32(want)}, actual ${hex32(probeBits[0]!)}`);
      }
    }
  });
});

describe('f16ToF32 / bf16ToF32', () => {
  it('converts known values', () => {
    expect(f16ToF32(0x0000)).toBe(0);
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
    expect(f16ToF32(0x3c00)).toBe(1);
    expect(f16ToF32(0xc000)).toBe(-2);
    expect(f16ToF32(0x7bff)).toBe(65504);
    expect(f16ToF32(0x0001)).toBe(2 ** -24);
    expect(f16ToF32(0x03ff)).toBe(1023 * 2 ** -24);
    expect(f16ToF32(0x0400)).toBe(2 ** -14);
    expect(f16ToF32(0x7c00)).toBe(Infinity);
    expect(f16ToF32(0xfc00)).toBe(-Infinity);
    expect(f16ToF32(0x7e00)).toBeNaN();
    expect(f16ToF32(0x13c00)).toBe(1); // only the low 16 bits count
    expect(bf16ToF32(0x3f80)).toBe(1);
    expect(bf16ToF32(0xc040)).toBe(-3);
    expect(bf16ToF32(0x7f80)).toBe(Infinity);
    expect(Object.is(bf16ToF32(0x8000), -0)).toBe(true);
    expect(bf16ToF32(0x7fc0)).toBeNaN();
  });

  it('f16ToF32 equals the binary16 formula for all 65536 patterns', () => {
    for (let h = 0; h < 65536; h++) {
      const sign = h & 0x8000 ? -1 : 1;
      const e = (h >> 10) & 0x1f;
      const m = h & 0x3ff;
      const want = e === 0x1f ? (m ? NaN : sign * Infinity) : e === 0 ? sign * m * 2 ** -24 : sign * (1 + m / 1024) * 2 ** (e - 15);
      const got = f16ToF32(h);
      if (!Object.is(got, want)) expect.fail(`f16ToF32(${hex32(h)}) = ${got}, expected ${want}`);
    }
  });

  it('F16 rows quiet NaNs and keep sign and payload (as ggml on x86-64)', () => {
    const src = new Uint8Array([0x01, 0x7c, 0x00, 0xfe, 0xff, 0x7f]); // sNaN payload 1, -qNaN, qNaN all payload bits
    const out = dequantize(GGMLType.F16, src, 3);
    expect([...new Uint32Array(out.buffer)].map(hex32)).toEqual(['0x7fc02000', '0xffc00000', '0x7fffe000']);
  });

  it('BF16 and F32 rows keep NaN bit patterns exactly', () => {
    const bf = dequantize(GGMLType.BF16, new Uint8Array([0x01, 0x7f, 0x41, 0xff]), 2);
    expect([...new Uint32Array(bf.buffer)].map(hex32)).toEqual(['0x7f010000', '0xff410000']);
    const f = dequantize(GGMLType.F32, new Uint8Array([0x01, 0x00, 0x80, 0x7f, 0x00, 0x00, 0x00, 0x80]), 2);
    expect([...new Uint32Array(f.buffer)].map(hex32)).toEqual(['0x7f800001', '0x80000000']);
  });
});

describe('dequantizeRow API', () => {
  it('implements every type the table marks dequantizable', () => {
    for (const info of GGML_TYPES) {
      if (info.dequantizable) expect(isDequantizable(info.id), info.name).toBe(true);
    }
    expect(dequantizableTypes()).toEqual([
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
      GGMLType.Q8_K,
      GGMLType.IQ4_NL,
      GGMLType.IQ4_XS,
      GGMLType.BF16,
    ]);
  });

  it('throws a RangeError naming unsupported types', () => {
    const src = new Uint8Array(1024);
    const dst = new Float32Array(256);
    expect(() => dequantizeRow(GGMLType.Q8_1, src, dst, 32)).toThrow(RangeError);
    expect(() => dequantizeRow(GGMLType.Q8_1, src, dst, 32)).toThrow(/Q8_1/);
    expect(() => dequantizeRow(16, src, dst, 256)).toThrow(/IQ2_XXS/);
    expect(() => dequantizeRow(4, src, dst, 32)).toThrow(/Q4_2/);
    expect(() => dequantizeRow(77, src, dst, 32)).toThrow(/unknown type 77/);
    expect(() => dequantize(GGMLType.I32, src, 4)).toThrow(/I32/);
    expect(isDequantizable(GGMLType.Q8_1)).toBe(false);
    expect(isDequantizable(-1)).toBe(false);
  });

  it('rejects bad sizes with a RangeError naming the type', () => {
    const src = new Uint8Array(1024);
    expect(() => dequantizeRow(GGMLType.Q4_0, src, new Float32Array(64), 33)).toThrow(/Q4_0/);
    expect(() => dequantizeRow(GGMLType.Q4_0, src, new Float32Array(64), 33)).toThrow(RangeError);
    expect(() => dequantizeRow(GGMLType.Q4_K, new Uint8Array(143), new Float32Array(256), 256)).toThrow(/Q4_K.*144 bytes/);
    expect(() => dequantizeRow(GGMLType.Q8_0, src, new Float32Array(31), 32)).toThrow(/Q8_0.*destination/);
    expect(() => dequantize(GGMLType.F16, src, -2)).toThrow(RangeError);
    expect(() => dequantize(GGMLType.F16, src, 1.5)).toThrow(RangeError);
    expect(dequantize(GGMLType.Q6_K, new Uint8Array(0), 0)).toHaveLength(0);
  });

  it('writes only dst[0..n)', () => {
    const info = ggmlType(GGMLType.Q8_0)!;
    const src = new Uint8Array(info.typeSize);
    src[1] = 0x3c; // d = 1
    for (let j = 0; j < info.blockSize; j++) src[2 + j] = j;
    const dst = new Float32Array(info.blockSize + 3).fill(-7);
    dequantizeRow(GGMLType.Q8_0, src, dst, info.blockSize);
    expect(dst[info.blockSize - 1]).toBe(info.blockSize - 1);
    expect([...dst.subarray(info.blockSize)]).toEqual([-7, -7, -7]);
  });
});

describe('f32ToF16 (rounding used by the F16 KV cache)', async () => {
  const { f32ToF16 } = await import('../../src/quant/index.js');
  const { loadQuantVectors, decodeBytes } = await import('./quant-vectors.js');
  it('reproduces ggml_fp32_to_fp16_row on every F16 vector', () => {
    const file = loadQuantVectors().find((f) => f.type === 'F16')!;
    let checked = 0;
    for (const c of file.cases) {
      const input = new Float32Array(new Uint8Array(decodeBytes(c.inputF32Base64)).buffer);
      const want = new Uint16Array(new Uint8Array(decodeBytes(c.quantizedBase64)).buffer);
      for (let i = 0; i < input.length; i++) {
        if (Number.isNaN(input[i])) continue; // NaN payloads are not carried by JS numbers
        expect(f32ToF16(input[i]!), `${c.name}[${i}] = ${input[i]}`).toBe(want[i]);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(500);
  });
});

describe('Q5_0 blocks expanded to Q8_0 (the wasm backend stores Q5_0 matrices so)', () => {
  it.each(vectorFile('Q5_0').cases.map((c) => [c.name, c] as [string, QuantCase]))("case %s: the Q8_0 blocks dequantize to ggml's Q5_0 values, bit for bit", (_name, c) => {
    const q = decodeBytes(c.quantizedBase64);
    const expected = decodeF32Bits(c.dequantizedF32Base64);
    const n = c.nRows * c.nPerRow;
    const nb = n / 32;
    // the Q5_0 blocks at the end of a buffer the size of the Q8_0 blocks, as the backend reads them
    const buf = new Uint8Array(nb * 34);
    buf.set(q, buf.length - q.length);
    expandQ5Reference(buf, nb, 'Q5_0', 'q8_0');
    const msg = mismatchMessage('Q5_0 as Q8_0', c, expected, dequantize(GGMLType.Q8_0, buf, n));
    if (msg) expect.fail(msg);
  });
  it('every fifth-bit pattern and nibble gives q - 16', () => {
    const nb = 64;
    const src = new Uint8Array(nb * 22);
    for (let i = 0; i < nb; i++) {
      const p = i * 22;
      src[p + 1] = 0x3c; // d = 1.0
      new DataView(src.buffer).setUint32(p + 2, (Math.imul(i + 1, 0x9e3779b1) ^ (i << 7)) >>> 0, true);
      for (let j = 0; j < 16; j++) src[p + 6 + j] = (i * 16 + j * 37) & 0xff;
    }
    const buf = new Uint8Array(nb * 34);
    buf.set(src, buf.length - src.length);
    expandQ5Reference(buf, nb, 'Q5_0', 'q8_0');
    expect(Array.from(dequantize(GGMLType.Q8_0, buf, nb * 32))).toEqual(Array.from(dequantize(GGMLType.Q5_0, src, nb * 32)));
    const values = new Set(Array.from(new Int8Array(buf.buffer)).filter((_, k) => k % 34 >= 2));
    expect(Math.min(...values)).toBe(-16);
    expect(Math.max(...values)).toBe(15);
  });
  it('refuses a buffer that cannot hold the Q8_0 blocks', () => {
    expect(() => expandQ5Reference(new Uint8Array(33), 1, 'Q5_0', 'q8_0')).toThrow(RangeError);
  });
});
