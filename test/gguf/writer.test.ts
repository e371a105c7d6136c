import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GGUFValueType, openGGUF, parseGGUFBytes } from '../../src/gguf/reader.js';
import { GGMLType } from '../../src/gguf/types.js';
import { gv, layoutGGUF, writeGGUF, type GGUFWriteValue } from '../../src/gguf/writer.js';

const dir = mkdtempSync(path.join(tmpdir(), 'tsinfer-writer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const META: [string, GGUFWriteValue][] = [
  ['u8', gv.u8(255)],
  ['i8', gv.i8(-128)],
  ['u16', gv.u16(65535)],
  ['i16', gv.i16(-32768)],
  ['u32', gv.u32(4294967295)],
  ['i32', gv.i32(-2147483648)],
  ['f32', gv.f32(Math.fround(0.1))],
  ['f64', gv.f64(0.1)],
  ['bool', gv.bool(true)],
  ['string', gv.string('héllo ☃ \u0000 end')],
  ['u64', gv.u64(2n ** 64n - 1n)],
  ['i64', gv.i64(-(2n ** 63n))],
  ['small_u64', gv.u64(12345)],
  ['arr_f32', gv.array(GGUFValueType.FLOAT32, new Float32Array([1.5, -2, 3e-8]))],
  ['arr_i32', gv.array(GGUFValueType.INT32, new Int32Array([1, -2, 3]))],
  ['arr_str', gv.array(GGUFValueType.STRING, ['a', '', 'ç'])],
  ['arr_bool', gv.array(GGUFValueType.BOOL, [true, false])],
  ['arr_nested', gv.array(GGUFValueType.ARRAY, [new Uint8Array([1, 2]), ['x', 'y']])],
  ['arr_empty', gv.array(GGUFValueType.UINT64, new BigUint64Array(0))],
];

describe('GGUF writer', () => {
  it('writes every metadata value type so the reader reads it back', async () => {
    const file = path.join(dir, 'meta.gguf');
    const data = new Float32Array([1, 2, 3, 4, 5, 6]);
    await writeGGUF(file, META, [
      { name: 'a', typeId: GGMLType.F32, shape: [3, 2], data: () => [new Uint8Array(data.buffer, 0, 8), new Uint8Array(data.buffer, 8, 16)] },
      { name: 'b', typeId: GGMLType.Q8_0, shape: [32], data: () => [new Uint8Array(34).fill(7)] },
    ]);
    const g = await openGGUF(file);
    try {
      expect(g.version).toBe(3);
      expect([...g.metadata.keys()]).toEqual(META.map(([k]) => k));
      for (const [k, v] of META) {
        const got = g.metadata.get(k)!;
        expect(got.type, k).toBe(v.type);
        if (v.elementType !== undefined) expect(got.elementType, k).toBe(v.elementType);
      }
      expect(g.get('u64')).toBe(2n ** 64n - 1n);
      expect(g.get('i64')).toBe(-(2n ** 63n));
      expect(g.get('small_u64')).toBe(12345);
      expect(g.get('f32')).toBe(Math.fround(0.1));
      expect(g.get('string')).toBe('héllo ☃ \u0000 end');
      expect(g.get('arr_str')).toEqual(['a', '', 'ç']);
      expect(g.get('arr_nested')).toEqual([new Uint8Array([1, 2]), ['x', 'y']]);
      expect(Array.from(g.get('arr_f32') as Float32Array)).toEqual([1.5, -2, Math.fround(3e-8)]);
      expect(g.tensors.map((t) => [t.name, t.relativeOffset, t.nBytes])).toEqual([
        ['a', 0, 24],
        ['b', 32, 34],
      ]);
      expect(g.dataOffset % 32).toBe(0);
      expect(Array.from(new Float32Array(g.readTensor(g.tensors[0]!).slice().buffer))).toEqual([1, 2, 3, 4, 5, 6]);
      expect(statSync(file).size).toBe(g.dataOffset + 32 + 64); // the last tensor is padded too
    } finally {
      g.close();
    }
  });

  it('honours general.alignment', () => {
    const layout = layoutGGUF(
      [['general.alignment', gv.u32(64)]],
      [
        { name: 'x', typeId: GGMLType.F16, shape: [3] },
        { name: 'y', typeId: GGMLType.F16, shape: [5] },
      ],
    );
    expect(layout.alignment).toBe(64);
    expect(layout.dataOffset % 64).toBe(0);
    expect(layout.tensors.map((t) => t.relativeOffset)).toEqual([0, 64]);
    const g = parseGGUFBytes(new Uint8Array([...layout.header, ...new Uint8Array(128)]));
    expect(g.alignment).toBe(64);
    expect(g.tensors.map((t) => t.relativeOffset)).toEqual([0, 64]);
  });

  it('rejects bad input before or while writing', async () => {
    expect(() =>
      layoutGGUF(
        [
          ['k', gv.u8(1)],
          ['k', gv.u8(2)],
        ],
        [],
      ),
    ).toThrow(/given twice/);
    expect(() => layoutGGUF([], [{ name: 'q', typeId: GGMLType.Q4_K, shape: [576, 2] }])).toThrow(/multiple of Q4_K's block size 256/);
    expect(() => layoutGGUF([['general.alignment', gv.u32(48)]], [])).toThrow(/power of two/);
    expect(() => layoutGGUF([['s', gv.u32('x' as unknown as number)]], [])).toThrow(/expected a number/);
    const short = path.join(dir, 'short.gguf');
    await expect(writeGGUF(short, [], [{ name: 't', typeId: GGMLType.F32, shape: [4], data: () => [new Uint8Array(12)] }])).rejects.toThrow(/data is 12 bytes, needs 16/);
    const long = path.join(dir, 'long.gguf');
    await expect(writeGGUF(long, [], [{ name: 't', typeId: GGMLType.F32, shape: [4], data: () => [new Uint8Array(20)] }])).rejects.toThrow(/longer than its 16 bytes/);
    // by default an existing file is not replaced
    await expect(writeGGUF(short, [], [])).rejects.toThrow(/EEXIST/);
  });

  it('stops at an aborted signal', async () => {
    const ac = new AbortController();
    ac.abort(new Error('stop now'));
    const file = path.join(dir, 'aborted.gguf');
    await expect(writeGGUF(file, [], [{ name: 't', typeId: GGMLType.F32, shape: [4], data: () => [new Uint8Array(16)] }], { signal: ac.signal })).rejects.toThrow(/stop now/);
    expect(readFileSync(file).length).toBeGreaterThan(0); // the header was written; callers remove the file (see quantize)
  });
});
