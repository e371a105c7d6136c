import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { GGUFError } from '../../src/gguf/errors.js';
import { MemorySource } from '../../src/gguf/source.js';
import { GGUFValueType, openGGUF, openGGUFSync, parseGGUF, parseGGUFBytes, type GGUFFile } from '../../src/gguf/reader.js';
import { GGMLType } from '../../src/gguf/types.js';
import { arr, bool, buildGGUF, f32, f64, i16, i32, i64, i8, pattern, str, u16, u32, u64, u8, type WValue } from './writer-helper.js';

const SHARED = fileURLToPath(new URL('../../../shared/', import.meta.url));
const STORIES = join(SHARED, 'models/stories260K.gguf');
const VOCAB_DIR = join(SHARED, 'vocab');

const tmp = mkdtempSync(join(tmpdir(), 'tsinfer-gguf-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function parse(meta: [string, WValue][], tensors: Parameters<typeof buildGGUF>[1] = [], opts: Parameters<typeof buildGGUF>[2] = {}): GGUFFile {
  return parseGGUFBytes(buildGGUF(meta, tensors, opts).bytes);
}

describe('metadata values round-trip', () => {
  const big64 = 2n ** 64n - 1n;
  const scalars: [string, WValue, number, unknown][] = [
    ['t.u8', u8(255), GGUFValueType.UINT8, 255],
    ['t.i8', i8(-128), GGUFValueType.INT8, -128],
    ['t.u16', u16(65535), GGUFValueType.UINT16, 65535],
    ['t.i16', i16(-32768), GGUFValueType.INT16, -32768],
    ['t.u32', u32(0xffffffff), GGUFValueType.UINT32, 0xffffffff],
    ['t.i32', i32(-0x80000000), GGUFValueType.INT32, -0x80000000],
    ['t.f32', f32(1.5), GGUFValueType.FLOAT32, 1.5],
    ['t.f32.small', f32(1e-5), GGUFValueType.FLOAT32, Math.fround(1e-5)],
    ['t.f32.inf', f32(-Infinity), GGUFValueType.FLOAT32, -Infinity],
    ['t.f64', f64(Math.PI), GGUFValueType.FLOAT64, Math.PI],
    ['t.bool.true', bool(true), GGUFValueType.BOOL, true],
    ['t.bool.false', bool(false), GGUFValueType.BOOL, false],
    ['t.string', str('héllo ✓ 🦙'), GGUFValueType.STRING, 'héllo ✓ 🦙'],
    ['t.string.empty', str(''), GGUFValueType.STRING, ''],
    ['t.string.bom', str('\uFEFFbom'), GGUFValueType.STRING, '\uFEFFbom'],
    ['t.string.nul', str('a\0b'), GGUFValueType.STRING, 'a\0b'],
    ['t.u64.small', u64(12345), GGUFValueType.UINT64, 12345],
    ['t.u64.maxsafe', u64(Number.MAX_SAFE_INTEGER), GGUFValueType.UINT64, Number.MAX_SAFE_INTEGER],
    ['t.u64.2^53', u64(2n ** 53n), GGUFValueType.UINT64, 2n ** 53n],
    ['t.u64.max', u64(big64), GGUFValueType.UINT64, big64],
    ['t.i64.neg', i64(-5), GGUFValueType.INT64, -5],
    ['t.i64.minsafe', i64(Number.MIN_SAFE_INTEGER), GGUFValueType.INT64, Number.MIN_SAFE_INTEGER],
    ['t.i64.min', i64(-(2n ** 63n)), GGUFValueType.INT64, -(2n ** 63n)],
    ['t.i64.big', i64(2n ** 60n + 1n), GGUFValueType.INT64, 2n ** 60n + 1n],
    ['名前.キー', str('utf-8 key'), GGUFValueType.STRING, 'utf-8 key'],
    ['\uFEFFkey.with.bom', u8(1), GGUFValueType.UINT8, 1],
    ['emoji.🦙', u8(7), GGUFValueType.UINT8, 7],
  ];

  it('every scalar type, incl. 64-bit values beyond 2^53, empty strings and UTF-8 keys', () => {
    const built = buildGGUF(scalars.map(([k, v]) => [k, v]));
    const f = parseGGUFBytes(built.bytes);
    expect([...f.metadata.keys()]).toEqual(scalars.map(([k]) => k));
    for (const [key, , type, value] of scalars) {
      const m = f.metadata.get(key)!;
      expect(m.type, key).toBe(type);
      expect(m.elementType, key).toBeUndefined();
      expect(m.offset, key).toBe(built.kv.get(key)!.keyAt);
      expect(f.get(key), key).toEqual(value);
    }
    const nan = parse([
      ['nan', f32(NaN)],
      ['nan64', f64(NaN)],
    ]);
    expect(nan.get('nan')).toBeNaN();
    expect(nan.get('nan64')).toBeNaN();
  });

  it('numeric arrays come back as typed arrays of the right type', () => {
    const cases: [string, WValue, unknown][] = [
      ['a.u8', arr('u8', [u8(0), u8(255)]), Uint8Array.of(0, 255)],
      ['a.i8', arr('i8', [i8(-1), i8(127)]), Int8Array.of(-1, 127)],
      ['a.u16', arr('u16', [u16(1), u16(65535)]), Uint16Array.of(1, 65535)],
      ['a.i16', arr('i16', [i16(-2), i16(3)]), Int16Array.of(-2, 3)],
      ['a.u32', arr('u32', [u32(7), u32(0xfffffffe)]), Uint32Array.of(7, 0xfffffffe)],
      ['a.i32', arr('i32', [i32(-7), i32(2 ** 31 - 1)]), Int32Array.of(-7, 2 ** 31 - 1)],
      ['a.f32', arr('f32', [f32(0.25), f32(-1e30)]), Float32Array.of(0.25, -1e30)],
      ['a.f64', arr('f64', [f64(1 / 3), f64(-0)]), Float64Array.of(1 / 3, -0)],
      ['a.u64', arr('u64', [u64(1), u64(2n ** 64n - 1n), u64(2n ** 53n + 1n)]), BigUint64Array.of(1n, 2n ** 64n - 1n, 2n ** 53n + 1n)],
      ['a.i64', arr('i64', [i64(-1), i64(-(2n ** 63n)), i64(2n ** 62n)]), BigInt64Array.of(-1n, -(2n ** 63n), 2n ** 62n)],
    ];
    const f = parse(cases.map(([k, v]) => [k, v]));
    for (const [key, , want] of cases) {
      const got = f.getArray(key);
      expect(got?.constructor, key).toBe((want as object).constructor);
      expect(got, key).toEqual(want);
      expect(f.metadata.get(key)!.type).toBe(GGUFValueType.ARRAY);
    }
    expect(f.metadata.get('a.f64')!.elementType).toBe(GGUFValueType.FLOAT64);
    expect(Object.is((f.get('a.f64') as Float64Array)[1], -0)).toBe(true);
  });

  it('bool and string arrays (incl. empty and UTF-8 strings), arrays of arrays, empty arrays', () => {
    const strings = ['', 'a', 'Ġthe', '▁', '\uFEFF', '日本語', '🦙🦙', '<0x0A>', ''];
    const f = parse([
      ['a.bool', arr('bool', [bool(true), bool(false), bool(true)])],
      [
        'a.str',
        arr(
          'string',
          strings.map((s) => str(s)),
        ),
      ],
      ['a.nested.str', arr('array', [arr('string', [str('x'), str('')]), arr('string', []), arr('string', [str('ÿ')])])],
      ['a.nested.u32', arr('array', [arr('u32', [u32(1), u32(2)]), arr('u32', [])])],
      ['a.nested.mixed', arr('array', [arr('u8', [u8(9)]), arr('bool', [bool(false)]), arr('array', [arr('i64', [i64(-3)])])])],
      ['a.empty.u8', arr('u8', [])],
      ['a.empty.u64', arr('u64', [])],
      ['a.empty.str', arr('string', [])],
      ['a.empty.bool', arr('bool', [])],
      ['a.empty.arr', arr('array', [])],
      ['after', str('still in sync')],
    ]);
    expect(f.get('a.bool')).toEqual([true, false, true]);
    expect(f.get('a.str')).toEqual(strings);
    expect(f.metadata.get('a.str')!.elementType).toBe(GGUFValueType.STRING);
    expect(f.get('a.nested.str')).toEqual([['x', ''], [], ['ÿ']]);
    expect(f.metadata.get('a.nested.str')!.elementType).toBe(GGUFValueType.ARRAY);
    expect(f.get('a.nested.u32')).toEqual([Uint32Array.of(1, 2), new Uint32Array(0)]);
    expect(f.get('a.nested.mixed')).toEqual([Uint8Array.of(9), [false], [BigInt64Array.of(-3n)]]);
    expect(f.get('a.empty.u8')).toEqual(new Uint8Array(0));
    expect(f.get('a.empty.u64')).toEqual(new BigUint64Array(0));
    expect(f.get('a.empty.str')).toEqual([]);
    expect(f.get('a.empty.bool')).toEqual([]);
    expect(f.get('a.empty.arr')).toEqual([]);
    expect(f.getString('after')).toBe('still in sync');
  });

  it('arrays nested 8 deep are accepted', () => {
    let v: WValue = arr('u8', [u8(42)]);
    for (let i = 1; i < 8; i++) v = arr('array', [v]);
    let got = parse([['deep', v]]).get('deep');
    for (let i = 1; i < 8; i++) got = (got as unknown[])[0] as typeof got;
    expect(got).toEqual(Uint8Array.of(42));
  });

  it('a typed array larger than the 1 MiB read window and a long string', () => {
    const n = (1 << 20) / 4 + 1000;
    const vals = Array.from({ length: n }, (_, i) => u32(i * 2654435761));
    const long = 'x'.repeat(1_500_000) + 'end';
    const f = parse([
      ['first', str('a')],
      ['big', arr('u32', vals)],
      ['long', str(long)],
      ['last', u8(3)],
    ]);
    const got = f.get('big') as Uint32Array;
    expect(got.length).toBe(n);
    expect(got[n - 1]).toBe(((n - 1) * 2654435761) >>> 0);
    expect(got[12345]).toBe((12345 * 2654435761) >>> 0);
    expect(f.getString('long')).toBe(long);
    expect(f.getNumber('last')).toBe(3);
  });
});

describe('typed getters', () => {
  const f = parse([
    ['s', str('x')],
    ['n', u32(5)],
    ['n64', u64(2n ** 60n)],
    ['f', f32(0.5)],
    ['b', bool(true)],
    ['a', arr('string', [str('q')])],
  ]);

  it('return the value for the right type and undefined for a missing key', () => {
    expect(f.getString('s')).toBe('x');
    expect(f.getNumber('n')).toBe(5);
    expect(f.getNumber('f')).toBe(0.5);
    expect(f.getBool('b')).toBe(true);
    expect(f.getArray('a')).toEqual(['q']);
    expect(f.has('s')).toBe(true);
    expect(f.has('missing')).toBe(false);
    expect(f.getString('missing')).toBeUndefined();
    expect(f.getNumber('missing')).toBeUndefined();
    expect(f.getBool('missing')).toBeUndefined();
    expect(f.getArray('missing')).toBeUndefined();
  });

  it('throw WRONG_VALUE_TYPE naming the key otherwise (incl. a u64 beyond 2^53 as number)', () => {
    const bad: [() => unknown, string][] = [
      [() => f.getString('n'), 'n'],
      [() => f.getNumber('s'), 's'],
      [() => f.getNumber('b'), 'b'],
      [() => f.getNumber('n64'), 'n64'],
      [() => f.getBool('n'), 'n'],
      [() => f.getArray('s'), 's'],
    ];
    for (const [fn, key] of bad) {
      let err: unknown;
      try {
        fn();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(GGUFError);
      const g = err as GGUFError;
      expect(g.code).toBe('WRONG_VALUE_TYPE');
      expect(g.message).toContain(`key ${key} `);
      expect(g.offset).toBe(f.metadata.get(key)!.offset);
    }
  });
});

describe('versions, alignment and the data section', () => {
  const tensors = [
    { name: 'a', type: GGMLType.F32, shape: [3] },
    { name: 'b', type: GGMLType.F32, shape: [5, 2] },
  ];

  it('reads v2 and v3 files alike', () => {
    for (const version of [2, 3]) {
      const built = buildGGUF(
        [
          ['general.architecture', str('llama')],
          ['x', u64(2n ** 63n)],
        ],
        tensors,
        { version },
      );
      const f = parseGGUFBytes(built.bytes);
      expect(f.version).toBe(version);
      expect(f.getString('general.architecture')).toBe('llama');
      expect(f.get('x')).toBe(2n ** 63n);
      expect(f.tensors.map((t) => t.name)).toEqual(['a', 'b']);
      expect(f.dataOffset).toBe(built.dataOffset);
    }
  });

  it('default alignment is 32; general.alignment 64 moves the data section and the tensor offsets', () => {
    const d = buildGGUF([], tensors);
    const fd = parseGGUFBytes(d.bytes);
    expect(fd.alignment).toBe(32);
    expect(fd.dataOffset % 32).toBe(0);
    expect(fd.tensors[1]!.relativeOffset).toBe(32);

    const built = buildGGUF(
      [
        ['general.alignment', u32(64)],
        ['pad', str('y'.repeat(7))],
      ],
      tensors,
    );
    const f = parseGGUFBytes(built.bytes);
    expect(f.alignment).toBe(64);
    expect(built.headerEnd % 64).not.toBe(0);
    expect(f.dataOffset).toBe(Math.ceil(built.headerEnd / 64) * 64);
    expect(f.dataOffset).toBe(built.dataOffset);
    expect(f.tensors[1]!.relativeOffset).toBe(64);
    expect(f.tensors[1]!.fileOffset).toBe(f.dataOffset + 64);
    for (const t of f.tensors) expect(t.fileOffset % 64).toBe(0);
    expect([...f.readTensor(f.tensors[1]!)]).toEqual([...pattern(40, 2)]);
  });

  it('general.alignment as other unsigned/signed 32/64-bit integers and large powers of two', () => {
    expect(parse([['general.alignment', i32(16)]], tensors, { alignment: 16 }).alignment).toBe(16);
    expect(parse([['general.alignment', u64(128)]], tensors, { alignment: 128 }).alignment).toBe(128);
    expect(parse([['general.alignment', u32(1)]], tensors, { alignment: 1 }).alignment).toBe(1);
    expect(parse([['general.alignment', u32(4096)]], tensors).dataOffset).toBe(4096);
  });

  it('data offset is the end of the tensor infos rounded up to the alignment (and equal to it when aligned)', () => {
    const seen = new Set<number>();
    for (let pad = 0; pad < 32; pad++) {
      const built = buildGGUF([['pad', str('p'.repeat(pad))]], [{ name: 't', type: GGMLType.F32, shape: [8] }]);
      const f = parseGGUFBytes(built.bytes);
      expect(f.dataOffset).toBe(Math.ceil(built.headerEnd / 32) * 32);
      expect(f.tensors[0]!.fileOffset).toBe(f.dataOffset);
      expect(f.size).toBe(f.dataOffset + 32);
      seen.add(built.headerEnd % 32);
    }
    expect(seen.has(0)).toBe(true);
    expect(seen.size).toBe(32);
  });

  it('a file with no tensors and no metadata', () => {
    const built = buildGGUF([]);
    expect(built.bytes.length).toBe(32); // padded to the alignment
    // Without tensors the data section may be missing altogether (as in llama.cpp's vocab files).
    for (const bytes of [built.bytes, built.bytes.subarray(0, 24)]) {
      const f = parseGGUFBytes(bytes);
      expect(f.tensors).toEqual([]);
      expect(f.metadata.size).toBe(0);
      expect(f.size).toBe(bytes.length);
    }
  });
});

describe('tensor views', () => {
  const specs = [
    { name: 'f32', type: GGMLType.F32, shape: [7, 3], nBytes: 84, nElements: 21 },
    { name: 'f16', type: GGMLType.F16, shape: [10, 2], nBytes: 40, nElements: 20 },
    { name: 'q8_0', type: GGMLType.Q8_0, shape: [64, 3], nBytes: 3 * 2 * 34, nElements: 192 },
    { name: 'q4_k', type: GGMLType.Q4_K, shape: [512, 2], nBytes: 2 * 2 * 144, nElements: 1024 },
    { name: 'f32.4d', type: GGMLType.F32, shape: [2, 3, 4, 5], nBytes: 480, nElements: 120 },
    { name: 'q6_k.1d', type: GGMLType.Q6_K, shape: [256], nBytes: 210, nElements: 256 },
    { name: 'empty', type: GGMLType.F32, shape: [4, 0], nBytes: 0, nElements: 0 },
    { name: 'blk.0.ättn.wéight', type: GGMLType.BF16, shape: [3], nBytes: 6, nElements: 3 },
  ];
  const built = buildGGUF(
    [['general.architecture', str('test')]],
    specs.map(({ name, type, shape }) => ({ name, type, shape })),
  );
  const f = parseGGUFBytes(built.bytes);

  it('shape, nElements, nBytes, type and offsets', () => {
    expect(f.tensors.map((t) => t.name)).toEqual(specs.map((s) => s.name));
    let expectRel = 0;
    for (const s of specs) {
      const t = f.tensor(s.name)!;
      expect(t, s.name).toBeDefined();
      expect(f.tensorsByName.get(s.name)).toBe(t);
      expect(t.shape).toEqual(s.shape);
      expect(t.nElements, s.name).toBe(s.nElements);
      expect(t.nBytes, s.name).toBe(s.nBytes);
      expect(t.typeId).toBe(s.type);
      expect(t.type.id).toBe(s.type);
      expect(t.relativeOffset, s.name).toBe(expectRel);
      expect(t.fileOffset, s.name).toBe(f.dataOffset + expectRel);
      expect(t.fileOffset).toBe(built.tensors.get(s.name)!.fileOffset);
      expectRel += Math.ceil(s.nBytes / 32) * 32;
    }
    expect(f.tensor('nope')).toBeUndefined();
    const last = f.tensors[f.tensors.length - 1]!;
    expect(last.fileOffset + last.nBytes).toBe(f.size);
  });

  it('readTensorInto fills a subarray with a nonzero byteOffset and nothing else', () => {
    for (const [i, s] of specs.entries()) {
      const t = f.tensor(s.name)!;
      const backing = new Uint8Array(t.nBytes + 64).fill(0xaa);
      const dst = backing.subarray(13, 13 + t.nBytes + 20);
      const out = f.readTensorInto(t, dst);
      expect(out.length).toBe(t.nBytes);
      expect(out.byteOffset).toBe(13);
      expect(out.buffer).toBe(backing.buffer);
      expect([...out]).toEqual([...pattern(s.nBytes, i + 1)]);
      expect(backing.subarray(0, 13).every((b) => b === 0xaa)).toBe(true);
      expect(backing.subarray(13 + t.nBytes).every((b) => b === 0xaa)).toBe(true);
    }
  });

  it('readTensor gives an 8-byte aligned copy; a too-small destination is a RangeError', () => {
    const t = f.tensor('q8_0')!;
    const copy = f.readTensor(t);
    expect(copy.length).toBe(t.nBytes);
    expect(copy.buffer.byteLength % 8).toBe(0);
    expect(new Float64Array(copy.buffer).length).toBe(copy.buffer.byteLength / 8);
    expect(() => f.readTensorInto(t, new Uint8Array(t.nBytes - 1))).toThrow(RangeError);
  });

  it('from a file on disk: openGGUFSync / openGGUF and positioned reads into an offset subarray', async () => {
    const path = join(tmp, 'views.gguf');
    writeFileSync(path, built.bytes);
    for (const g of [openGGUFSync(path), await openGGUF(path)]) {
      expect(g.path).toBe(path);
      expect(g.size).toBe(built.bytes.length);
      for (const [i, s] of specs.entries()) {
        const t = g.tensor(s.name)!;
        const backing = new Uint8Array(t.nBytes + 40);
        const out = g.readTensorInto(t, backing.subarray(7));
        expect(out.byteOffset).toBe(7);
        expect([...out]).toEqual([...pattern(s.nBytes, i + 1)]);
      }
      g.close();
    }
  });

  it('parseGGUF takes any ByteSource', () => {
    const g = parseGGUF(new MemorySource(built.bytes));
    expect(g.tensors.length).toBe(specs.length);
    expect(g.path).toBeUndefined();
  });
});

describe('shared files', () => {
  it('stories260K.gguf: llama, 5 blocks, 48 F32 tensors, last tensor ends at EOF', () => {
    const f = openGGUFSync(STORIES);
    try {
      expect(f.version).toBe(3);
      expect(f.getString('general.architecture')).toBe('llama');
      expect(f.getNumber('llama.block_count')).toBe(5);
      expect(f.getNumber('llama.embedding_length')).toBe(64);
      expect(f.getNumber('llama.attention.head_count')).toBe(8);
      expect(f.getNumber('llama.attention.head_count_kv')).toBe(4);
      expect(f.getString('tokenizer.ggml.model')).toBe('llama');
      expect((f.getArray('tokenizer.ggml.tokens') as string[]).length).toBe(512);
      expect((f.getArray('tokenizer.ggml.tokens') as string[]).slice(0, 3)).toEqual(['<unk>', '<s>', '</s>']);
      expect(f.getArray('tokenizer.ggml.scores')).toBeInstanceOf(Float32Array);
      expect(f.getArray('tokenizer.ggml.token_type')).toBeInstanceOf(Int32Array);
      expect(f.getNumber('tokenizer.ggml.padding_token_id')).toBe(0xffffffff);
      expect(f.tensors.length).toBe(48);
      expect(f.tensors.every((t) => t.type.name === 'F32')).toBe(true);
      expect(f.dataOffset % f.alignment).toBe(0);
      for (let b = 0; b < 5; b++) {
        for (const n of ['attn_q', 'attn_k', 'attn_v', 'attn_output', 'attn_norm', 'ffn_gate', 'ffn_down', 'ffn_up', 'ffn_norm']) {
          expect(f.tensor(`blk.${b}.${n}.weight`), `blk.${b}.${n}`).toBeDefined();
        }
      }
      expect(f.tensor('token_embd.weight')!.shape).toEqual([64, 512]);
      expect(f.tensor('blk.0.ffn_down.weight')!.shape).toEqual([172, 64]);
      const end = Math.max(...f.tensors.map((t) => t.fileOffset + t.nBytes));
      expect(end).toBe(f.size);
      const bytes = readFileSync(STORIES);
      const t = f.tensor('output_norm.weight')!;
      const out = f.readTensorInto(t, new Uint8Array(t.nBytes + 3).subarray(3));
      expect(Buffer.from(out).equals(bytes.subarray(t.fileOffset, t.fileOffset + t.nBytes))).toBe(true);
      // The same bytes parse identically from memory.
      const m = parseGGUFBytes(new Uint8Array(bytes));
      expect(m.tensors).toEqual(f.tensors);
      expect(m.dataOffset).toBe(f.dataOffset);
    } finally {
      f.close();
    }
  });

  // Vocabulary sizes and merge counts of llama.cpp's test vocabularies.
  const vocab: Record<string, { tokens: number; merges?: number; scores?: boolean }> = {
    'ggml-vocab-deepseek-coder.gguf': { tokens: 32256, merges: 31757 },
    'ggml-vocab-gpt-2.gguf': { tokens: 50257, merges: 50000 },
    'ggml-vocab-llama-bpe.gguf': { tokens: 128256, merges: 280147 },
    'ggml-vocab-llama-spm.gguf': { tokens: 32000, scores: true },
    'ggml-vocab-phi-3.gguf': { tokens: 32064, scores: true },
    'ggml-vocab-starcoder.gguf': { tokens: 49152, merges: 48872 },
    'smollm2/smollm2-vocab.gguf': { tokens: 49152, merges: 48900 },
  };
  const files = [...readdirSync(VOCAB_DIR).filter((n) => n.endsWith('.gguf')), 'smollm2/smollm2-vocab.gguf'];

  it('every vocabulary file is known to this test', () => {
    expect(files.sort()).toEqual(Object.keys(vocab).sort());
  });

  it.each(files)('vocab %s parses: no tensors, token arrays of the expected lengths', (name) => {
    const want = vocab[name]!;
    const f = openGGUFSync(join(VOCAB_DIR, name));
    try {
      expect(f.tensors.length).toBe(0);
      const tokens = f.getArray('tokenizer.ggml.tokens') as string[];
      expect(Array.isArray(tokens)).toBe(true);
      expect(tokens.length).toBe(want.tokens);
      expect(tokens.every((t) => typeof t === 'string')).toBe(true);
      expect(f.getArray('tokenizer.ggml.token_type')!.length).toBe(want.tokens);
      if (want.merges !== undefined) expect(f.getArray('tokenizer.ggml.merges')!.length).toBe(want.merges);
      else expect(f.has('tokenizer.ggml.merges')).toBe(false);
      if (want.scores) expect(f.getArray('tokenizer.ggml.scores')!.length).toBe(want.tokens);
      const arch = f.getString('general.architecture')!;
      expect(arch).toBeTruthy();
      const vs = f.getNumber(`${arch}.vocab_size`);
      if (vs !== undefined) expect(vs).toBe(want.tokens);
      expect(typeof f.getString('tokenizer.ggml.model')).toBe('string');
      if (want.scores) {
        // The SentencePiece vocabularies hold a token that is just U+FEFF (bytes EF BB BF); a
        // BOM-stripping decoder would turn it into an empty string.
        expect(tokens[30143]).toBe('\uFEFF');
        expect(tokens[30140]).toBe('\uFFFD');
      }
    } finally {
      f.close();
    }
  });
});
