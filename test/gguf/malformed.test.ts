/**
 * Malformed GGUF files: every one must be rejected with a GGUFError (a code, a
 * numeric offset, a message naming the key or tensor) — never another
 * exception, a hang, or an allocation the file cannot justify.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { GGUFError, type GGUFErrorCode } from '../../src/gguf/errors.js';
import { openGGUFSync, parseGGUF, parseGGUFBytes, type GGUFFile } from '../../src/gguf/reader.js';
import type { ByteSource } from '../../src/gguf/source.js';
import { GGMLType } from '../../src/gguf/types.js';
import { arr, bool, buildGGUF, f32, f64, i16, i32, i64, i8, raw, setU32, setU64, str, u16, u32, u64, u8, xorshift32, type BuildOptions, type TensorSpec, type WValue } from './writer-helper.js';

const SHARED = fileURLToPath(new URL('../../../shared/', import.meta.url));
const STORIES = join(SHARED, 'models/stories260K.gguf');

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}

/** Asserts fn throws a GGUFError with this code (one of these codes), a sane offset, and a message naming `mentions`. */
function expectGGUFError(fn: () => unknown, code: GGUFErrorCode | GGUFErrorCode[], opts: { mentions?: string[]; offset?: number } = {}): GGUFError {
  const e = caught(fn);
  if (!(e instanceof GGUFError)) {
    throw new Error(`expected a GGUFError(${String(code)}), got ${e === undefined ? 'no error' : String((e as Error)?.stack ?? e)}`);
  }
  const codes = Array.isArray(code) ? code : [code];
  expect(codes, e.message).toContain(e.code);
  expect(Number.isSafeInteger(e.offset) && e.offset >= 0, `offset ${e.offset}`).toBe(true);
  for (const m of opts.mentions ?? []) expect(e.message).toContain(m);
  if (opts.offset !== undefined) expect(e.offset, e.message).toBe(opts.offset);
  return e;
}

const T = (name: string, type: number, shape: (number | bigint)[], extra: Partial<TensorSpec> = {}): TensorSpec => ({ name, type, shape, ...extra });
const baseMeta = (): [string, WValue][] => [
  ['general.architecture', str('llama')],
  ['general.name', str('broken')],
  ['tokenizer.ggml.tokens', arr('string', [str('<s>'), str('a'), str('b')])],
  ['tokenizer.ggml.scores', arr('f32', [f32(0), f32(-1), f32(-2)])],
  ['flags', arr('bool', [bool(true), bool(false)])],
  ['grid', arr('array', [arr('u8', [u8(1), u8(2)]), arr('u8', [u8(3)])])],
];
const baseTensors = (): TensorSpec[] => [T('token_embd.weight', GGMLType.F32, [4, 3]), T('blk.0.attn_q.weight', GGMLType.Q8_0, [32, 2])];
const build = (meta = baseMeta(), tensors = baseTensors(), opts: BuildOptions = {}) => buildGGUF(meta, tensors, opts);

describe('the header', () => {
  it('bad magic', () => {
    const b = build(undefined, undefined, { magic: 0x4c4d4747 }); // "GGML"
    expectGGUFError(() => parseGGUFBytes(b.bytes), 'BAD_MAGIC', { offset: 0, mentions: ['magic'] });
    expectGGUFError(() => parseGGUFBytes(new TextEncoder().encode('<html>not a model</html>')), 'BAD_MAGIC', { offset: 0 });
    expectGGUFError(() => parseGGUFBytes(new TextEncoder().encode('FUGG\x03\0\0\0')), 'BAD_MAGIC', { offset: 0 });
  });

  it('files too short for the magic', () => {
    for (const n of [0, 1, 3]) expectGGUFError(() => parseGGUFBytes(new TextEncoder().encode('GGUF').subarray(0, n)), 'TRUNCATED', { offset: 0 });
  });

  it('versions 0, 1, 4 and 2^32-1 are unsupported; a byte-swapped version is big-endian', () => {
    for (const version of [0, 1, 4, 0xffffffff]) {
      expectGGUFError(() => parseGGUFBytes(build(undefined, undefined, { version }).bytes), 'UNSUPPORTED_VERSION', { offset: 4, mentions: [`version ${version}`] });
    }
    for (const version of [0x02000000, 0x03000000]) {
      expectGGUFError(() => parseGGUFBytes(build(undefined, undefined, { version }).bytes), 'BIG_ENDIAN', { offset: 4, mentions: ['big-endian'] });
    }
  });

  it('absurd metadata and tensor counts', () => {
    for (const n of [2n ** 40n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n]) {
      const k = build(undefined, undefined, { kvCount: n });
      expectGGUFError(() => parseGGUFBytes(k.bytes), 'BAD_COUNT', { offset: k.kvCountAt, mentions: ['count'] });
      const t = build(undefined, undefined, { tensorCount: n });
      expectGGUFError(() => parseGGUFBytes(t.bytes), 'BAD_COUNT', { offset: t.tensorCountAt, mentions: ['tensor count'] });
    }
  });

  it('counts larger than the entries present run into the end of the file', () => {
    const k = build(undefined, undefined, { kvCount: baseMeta().length + 1 });
    expectGGUFError(() => parseGGUFBytes(k.bytes), ['TRUNCATED', 'BAD_STRING', 'BAD_VALUE_TYPE', 'DUPLICATE_KEY', 'BAD_COUNT']);
    const t = build([], [T('only', GGMLType.F32, [8])], { tensorCount: 5 });
    expectGGUFError(() => parseGGUFBytes(t.bytes), 'BAD_COUNT', { offset: t.tensorCountAt }); // 5 infos cannot fit
    const u = build([], [T('only', GGMLType.F32, [8])], { tensorCount: 2 });
    expectGGUFError(() => parseGGUFBytes(u.bytes), ['TRUNCATED', 'BAD_STRING', 'BAD_DIMS', 'DUPLICATE_TENSOR']);
  });
});

describe('metadata', () => {
  it('absurd array counts name the key', () => {
    for (const key of ['tokenizer.ggml.tokens', 'tokenizer.ggml.scores', 'flags', 'grid']) {
      for (const n of [2n ** 32n, 2n ** 40n, 2n ** 63n, 2n ** 64n - 1n]) {
        const b = build();
        const countAt = b.kv.get(key)!.valueAt + 4;
        setU64(b.bytes, countAt, n);
        expectGGUFError(() => parseGGUFBytes(b.bytes), 'BAD_COUNT', { offset: countAt, mentions: [key] });
      }
    }
  });

  it('an inner array with an absurd count names the key', () => {
    const b = build();
    const innerCountAt = b.kv.get('grid')!.valueAt + 12 + 4;
    setU64(b.bytes, innerCountAt, 2n ** 40n);
    expectGGUFError(() => parseGGUFBytes(b.bytes), 'BAD_COUNT', { offset: innerCountAt, mentions: ['grid[0]'] });
  });

  it('absurd string lengths: values, keys, array elements, tensor names', () => {
    for (const n of [2n ** 40n, 2n ** 63n, 2n ** 64n - 1n, 1_000_000n]) {
      let b = build();
      let at = b.kv.get('general.name')!.valueAt;
      setU64(b.bytes, at, n);
      expectGGUFError(() => parseGGUFBytes(b.bytes), 'BAD_STRING', { offset: at, mentions: ['general.name'] });

      b = build();
      at = b.kv.get('general.name')!.keyAt;
      setU64(b.bytes, at, n);
      expectGGUFError(() => parseGGUFBytes(b.bytes), 'BAD_STRING', { offset: at, mentions: ['metadata entry 1'] });

      b = build();
      at = b.kv.get('tokenizer.ggml.tokens')!.valueAt + 12 + 8 + 3; // second element
      setU64(b.bytes, at, n);
      expectGGUFError(() => parseGGUFBytes(b.bytes), 'BAD_STRING', { offset: at, mentions: ['tokenizer.ggml.tokens[1]'] });

      b = build();
      at = b.tensors.get('blk.0.attn_q.weight')!.at;
      setU64(b.bytes, at, n);
      expectGGUFError(() => parseGGUFBytes(b.bytes), 'BAD_STRING', { offset: at, mentions: ['tensor 1'] });
    }
  });

  it('arrays nested deeper than the limit', () => {
    for (const depth of [9, 10, 200]) {
      let v: WValue = arr('u8', []);
      for (let i = 1; i < depth; i++) v = arr('array', [v]);
      const b = build([
        ['ok', u8(1)],
        ['deep.array', v],
      ]);
      expectGGUFError(() => parseGGUFBytes(b.bytes), 'NESTING_TOO_DEEP', { mentions: ['deep.array'] });
    }
  });

  it('unknown value types and element types', () => {
    for (const t of [13, 14, 255, 0x80000000, 0xffffffff]) {
      const b = build([
        ['general.name', str('x')],
        ['weird.value', raw(t, [0, 0, 0, 0, 0, 0, 0, 0])],
      ]);
      expectGGUFError(() => parseGGUFBytes(b.bytes), 'BAD_VALUE_TYPE', { offset: b.kv.get('weird.value')!.typeAt, mentions: ['weird.value', String(t)] });
      const elem = new Uint8Array(12);
      setU32(elem, 0, t);
      const a = build([['weird.array', raw(9, elem)]]);
      expectGGUFError(() => parseGGUFBytes(a.bytes), 'BAD_VALUE_TYPE', { offset: a.kv.get('weird.array')!.valueAt, mentions: ['weird.array', String(t)] });
    }
  });

  it('a bool byte other than 0 or 1, as a scalar and in an array', () => {
    for (const byte of [2, 0x80, 0xff]) {
      const s = build([
        ['general.name', str('x')],
        ['use_parallel', bool(byte)],
      ]);
      expectGGUFError(() => parseGGUFBytes(s.bytes), 'BAD_VALUE_TYPE', { offset: s.kv.get('use_parallel')!.valueAt, mentions: ['use_parallel', 'bool'] });
      const a = build([['bits', arr('bool', [bool(true), bool(byte)])]]);
      expectGGUFError(() => parseGGUFBytes(a.bytes), 'BAD_VALUE_TYPE', { offset: a.kv.get('bits')!.valueAt + 13, mentions: ['bits[1]'] });
    }
  });

  it('duplicate key', () => {
    const b = build([
      ['general.name', str('a')],
      ['x', u8(1)],
      ['general.name', str('b')],
    ]);
    expectGGUFError(() => parseGGUFBytes(b.bytes), 'DUPLICATE_KEY', { offset: b.kv.get('general.name')!.keyAt, mentions: ['general.name'] });
  });

  it('bad general.alignment: 0, 3, 48, 2^31, negative, beyond 2^53, a string, a float, a bool, a u8', () => {
    const bad: WValue[] = [
      u32(0),
      u32(3),
      u32(48),
      u32(0x80000000),
      u32(0xffffffff),
      i32(-32),
      u64(0),
      u64(2n ** 60n),
      str('32'),
      f32(32),
      f64(32),
      bool(true),
      u8(32),
      u16(32),
      i8(32),
      i16(32),
      i64(32),
      arr('u32', [u32(32)]),
    ];
    for (const v of bad) {
      const b = build(
        [
          ['general.architecture', str('llama')],
          ['general.alignment', v],
        ],
        undefined,
        { alignment: 32 },
      );
      expectGGUFError(() => parseGGUFBytes(b.bytes), 'BAD_ALIGNMENT', { offset: b.kv.get('general.alignment')!.keyAt, mentions: ['general.alignment'] });
    }
  });
});

describe('tensor infos', () => {
  const at = (b: ReturnType<typeof build>, name: string) => b.tensors.get(name)!;

  it('unknown and removed ggml type ids name the tensor', () => {
    for (const id of [40, 41, 255, 1000, 0xffffffff]) {
      const b = build();
      setU32(b.bytes, at(b, 'blk.0.attn_q.weight').typeAt, id);
      expectGGUFError(() => parseGGUFBytes(b.bytes), 'UNKNOWN_TYPE', { offset: at(b, 'blk.0.attn_q.weight').typeAt, mentions: ['blk.0.attn_q.weight', String(id)] });
    }
    for (const [id, name] of [
      [4, 'Q4_2'],
      [5, 'Q4_3'],
      [31, 'Q4_0_4_4'],
      [36, 'IQ4_NL_4_4'],
    ] as const) {
      const b = build(undefined, [T('old.weight', id, [32, 2], { data: new Uint8Array(64) })]);
      expectGGUFError(() => parseGGUFBytes(b.bytes), 'UNKNOWN_TYPE', { offset: at(b, 'old.weight').typeAt, mentions: ['old.weight', name] });
    }
  });

  it('n_dims 0, 5 and 2^32-1', () => {
    for (const nDims of [0, 5, 0xffffffff]) {
      const b = build(undefined, [T('a', GGMLType.F32, [4]), T('bad.dims', GGMLType.F32, [4, 3], { nDims })]);
      expectGGUFError(() => parseGGUFBytes(b.bytes), 'BAD_DIMS', { offset: at(b, 'bad.dims').nDimsAt, mentions: ['bad.dims', String(nDims)] });
    }
  });

  it('shapes whose element count overflows, or with a dimension beyond 2^53', () => {
    const shapes: (number | bigint)[][] = [[2 ** 32, 2 ** 32], [2 ** 26, 2 ** 26, 2 ** 26], [65536, 65536, 65536, 65536], [1, 2n ** 63n], [2n ** 64n - 1n], [2n ** 53n, 1], [1, 1, 1, 2n ** 54n]];
    for (const shape of shapes) {
      const b = build(undefined, [T('huge', GGMLType.F32, shape, { data: new Uint8Array(0) })]);
      expectGGUFError(() => parseGGUFBytes(b.bytes), 'BAD_SHAPE', { mentions: ['huge'] });
    }
  });

  it('a row length that is not a multiple of the block size', () => {
    const cases: [number, number[]][] = [
      [GGMLType.Q8_0, [33, 2]],
      [GGMLType.Q4_K, [128, 4]],
      [GGMLType.Q4_0, [1]],
      [GGMLType.Q6_K, [255, 1]],
    ];
    for (const [type, shape] of cases) {
      const b = build(undefined, [T('odd.rows', type, shape, { data: new Uint8Array(1024) })]);
      const e = expectGGUFError(() => parseGGUFBytes(b.bytes), 'BAD_SHAPE', { mentions: ['odd.rows', 'block size'] });
      expect(e.message).toContain(String(shape[0]));
    }
  });

  it('a tensor offset that is not a multiple of the alignment', () => {
    const b = build(undefined, [T('a', GGMLType.F32, [8]), T('misaligned', GGMLType.F32, [8], { offset: 36 })]);
    expectGGUFError(() => parseGGUFBytes(b.bytes), 'MISALIGNED_TENSOR', { offset: at(b, 'misaligned').offsetAt, mentions: ['misaligned', '36'] });
    const c = build([['general.alignment', u32(64)]], [T('a', GGMLType.F32, [8]), T('at32', GGMLType.F32, [8], { offset: 32 })]);
    expectGGUFError(() => parseGGUFBytes(c.bytes), 'MISALIGNED_TENSOR', { mentions: ['at32', '64'] });
    // With alignment 1 any offset is fine.
    const d = build([['general.alignment', u32(1)]], [T('a', GGMLType.F32, [8]), T('b', GGMLType.I8, [1]), T('c', GGMLType.F32, [1])]);
    expect(parseGGUFBytes(d.bytes).tensor('c')!.relativeOffset).toBe(33);
  });

  it('tensor data past the end of the file', () => {
    const name = 'blk.0.attn_q.weight';
    for (const off of [256n, 1n << 32n, 2n ** 53n, 2n ** 60n, 2n ** 64n - 32n]) {
      const b = build();
      setU64(b.bytes, at(b, name).offsetAt, off);
      expectGGUFError(() => parseGGUFBytes(b.bytes), 'TENSOR_OUT_OF_BOUNDS', { offset: at(b, name).offsetAt, mentions: [name] });
    }
    // More rows than the data holds.
    const b = build();
    setU64(b.bytes, at(b, name).dimsAt[1]!, 3);
    expectGGUFError(() => parseGGUFBytes(b.bytes), 'TENSOR_OUT_OF_BOUNDS', { mentions: [name] });
    // One byte short at the end.
    const c = build();
    expectGGUFError(() => parseGGUFBytes(c.bytes.subarray(0, c.bytes.length - 1)), 'TENSOR_OUT_OF_BOUNDS', { mentions: [name] });
    // The file ends inside the padding before the data section.
    expectGGUFError(() => parseGGUFBytes(c.bytes.subarray(0, c.dataOffset - 1)), 'TRUNCATED', { offset: c.dataOffset - 1 });
  });

  it('duplicate tensor name', () => {
    const b = build(undefined, [T('dup.weight', GGMLType.F32, [4]), T('other', GGMLType.F32, [4]), T('dup.weight', GGMLType.F32, [4])]);
    const e = expectGGUFError(() => parseGGUFBytes(b.bytes), 'DUPLICATE_TENSOR', { mentions: ['dup.weight'] });
    expect(e.offset).toBe(b.tensors.get('dup.weight')!.at); // the second one
  });
});

/** A ByteSource that claims to be `size` bytes (a sparse or lying file): `head`, then zeros. Records absurd reads. */
class HugeSource implements ByteSource {
  totalRead = 0;
  largestRead = 0;
  constructor(
    private head: Uint8Array,
    readonly size = 2 ** 40,
  ) {}
  readInto(position: number, dst: Uint8Array): number {
    const n = Math.max(0, Math.min(dst.length, this.size - position));
    this.totalRead += n;
    this.largestRead = Math.max(this.largestRead, n);
    dst.fill(0, 0, n);
    if (position < this.head.length) dst.set(this.head.subarray(position, position + n), 0);
    return n;
  }
  close(): void {}
}

describe('huge claims in a huge (sparse) file are rejected before allocating', () => {
  const claims: [string, WValue, GGUFErrorCode][] = [
    ['bools', arr('bool', [], 2n ** 33n), 'BAD_COUNT'],
    ['strings', arr('string', [], 2n ** 35n), 'BAD_COUNT'],
    ['nested', arr('array', [], 2n ** 32n), 'BAD_COUNT'],
    ['bytes', arr('u8', [], 2n ** 36n), 'BAD_COUNT'],
    ['u64s', arr('u64', [], 2n ** 34n), 'BAD_COUNT'],
    ['f32s', arr('f32', [], 2n ** 31n), 'BAD_COUNT'],
    ['text', { t: 'raw', typeId: 8, bytes: setU64(new Uint8Array(8), 0, 2n ** 34n) }, 'BAD_STRING'],
  ];
  it.each(claims)('%s', (key, value, code) => {
    const b = buildGGUF([
      ['general.name', str('sparse')],
      [key, value],
    ]);
    const src = new HugeSource(b.bytes);
    const before = process.memoryUsage().arrayBuffers;
    const t0 = performance.now();
    expectGGUFError(() => parseGGUF(src), code, { mentions: [key] });
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(src.largestRead).toBeLessThanOrEqual(1 << 20);
    expect(src.totalRead).toBeLessThanOrEqual(1 << 20);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 << 20);
  });

  it('huge key and tensor-name lengths, and huge counts over zeros', () => {
    const k = buildGGUF([['general.name', str('x')]]);
    setU64(k.bytes, k.kv.get('general.name')!.keyAt, 2n ** 34n);
    expectGGUFError(() => parseGGUF(new HugeSource(k.bytes)), 'BAD_STRING', { mentions: ['metadata entry 0'] });
    const t = buildGGUF([], [T('w', GGMLType.F32, [4])]);
    setU64(t.bytes, t.tensors.get('w')!.at, 2n ** 34n);
    expectGGUFError(() => parseGGUF(new HugeSource(t.bytes)), 'BAD_STRING', { mentions: ['tensor 0'] });
    // Counts the size allows, over a sea of zeros: the first repeated empty key / zero-dim tensor stops it.
    expectGGUFError(() => parseGGUF(new HugeSource(buildGGUF([], [], { kvCount: 2n ** 36n }).bytes)), 'DUPLICATE_KEY');
    expectGGUFError(() => parseGGUF(new HugeSource(buildGGUF([], [], { tensorCount: 2n ** 35n }).bytes)), 'BAD_DIMS');
  });
});

describe('I/O failures are GGUFErrors too', () => {
  it('a missing file and a directory', () => {
    expectGGUFError(() => openGGUFSync(join(SHARED, 'no-such-file.gguf')), 'IO', { mentions: ['no-such-file.gguf'] });
    expectGGUFError(() => openGGUFSync(join(SHARED, 'models')), 'IO');
  });

  it('a source that throws or reads short', () => {
    const good = build().bytes;
    const throwing: ByteSource = {
      size: good.length,
      readInto: () => {
        throw Object.assign(new Error('disk on fire'), { code: 'EIO' });
      },
      close() {},
    };
    expectGGUFError(() => parseGGUF(throwing), 'IO', { mentions: ['EIO'] });
    // A source that delivers fewer bytes than it promised, in the header...
    const halfHeader: ByteSource = {
      size: good.length,
      readInto: (p, d) => {
        const n = Math.min(d.length, p < 30 ? 30 - p : 2);
        d.set(good.subarray(p, p + n));
        return n;
      },
      close() {},
    };
    expectGGUFError(() => parseGGUF(halfHeader), 'IO', { mentions: ['short read'], offset: 24 });
    // ...or only in the tensor data (it claims 100 bytes more than it has).
    const lying: ByteSource = {
      size: good.length + 100,
      readInto: (p, d) => {
        const n = Math.max(0, Math.min(d.length, good.length - p));
        d.set(good.subarray(p, p + n));
        return n;
      },
      close() {},
    };
    const g = parseGGUF(lying);
    const last = g.tensors[g.tensors.length - 1]!;
    expect(g.readTensor(last).length).toBe(last.nBytes);
    const beyond = { ...last, nBytes: last.nBytes + 64 };
    expectGGUFError(() => g.readTensor(beyond), 'TRUNCATED', { mentions: [last.name], offset: good.length });
  });

  it('reading a tensor from a failing or closed source', () => {
    const good = build().bytes;
    let fail = false;
    const src: ByteSource = {
      size: good.length,
      readInto: (p, d) => {
        if (fail) throw new Error('EIO');
        const n = Math.min(d.length, good.length - p);
        d.set(good.subarray(p, p + n));
        return n;
      },
      close() {},
    };
    const g = parseGGUF(src);
    fail = true;
    expectGGUFError(() => g.readTensor(g.tensors[0]!), 'IO', { mentions: ['token_embd.weight'], offset: g.tensors[0]!.fileOffset });
    const onDisk = openGGUFSync(STORIES);
    onDisk.close();
    expectGGUFError(() => onDisk.readTensor(onDisk.tensors[0]!), 'IO', { mentions: ['token_embd.weight'] });
  });
});

const ALLOWED_TRUNCATION: GGUFErrorCode[] = ['TRUNCATED', 'BAD_STRING', 'BAD_COUNT', 'TENSOR_OUT_OF_BOUNDS'];

/** Parses bytes[0, k) for each k; returns descriptions of anything that is not a GGUFError of an allowed code. */
function truncationAnomalies(bytes: Uint8Array, offsets: Iterable<number>): string[] {
  const bad: string[] = [];
  for (const k of offsets) {
    const e = caught(() => parseGGUFBytes(bytes.subarray(0, k)));
    if (!(e instanceof GGUFError)) bad.push(`@${k}: ${e === undefined ? 'parsed' : String(e)}`);
    else if (!ALLOWED_TRUNCATION.includes(e.code) || !Number.isSafeInteger(e.offset) || e.offset < 0 || e.offset > k) {
      bad.push(`@${k}: ${e.code} at ${e.offset}: ${e.message}`);
    }
  }
  return bad;
}

describe('truncation', () => {
  const stories = new Uint8Array(readFileSync(STORIES));
  const full = parseGGUFBytes(stories);

  it('stories260K.gguf: the last tensor ends exactly at EOF, so every truncation loses something', () => {
    expect(Math.max(...full.tensors.map((t) => t.fileOffset + t.nBytes))).toBe(stories.length);
  });

  it('stories260K.gguf truncated at every offset of the header region', { timeout: 30_000 }, () => {
    const offsets = Array.from({ length: full.dataOffset + 1 }, (_, i) => i);
    expect(truncationAnomalies(stories, offsets)).toEqual([]);
  });

  it('stories260K.gguf truncated inside the tensor data', () => {
    const offsets = new Set<number>([stories.length - 1]);
    for (let k = full.dataOffset + 1; k < stories.length; k += 4093) offsets.add(k);
    for (const t of full.tensors) offsets.add(t.fileOffset + t.nBytes - 1).add(t.fileOffset + 1);
    expect(truncationAnomalies(stories, offsets)).toEqual([]);
  });

  it('a file with every value type, truncated at every offset', () => {
    const b = build([
      ...baseMeta(),
      ['u8', u8(1)],
      ['i8', i8(-1)],
      ['u16', u16(2)],
      ['i16', i16(-2)],
      ['u32', u32(3)],
      ['i32', i32(-3)],
      ['f32', f32(1.5)],
      ['f64', f64(2.5)],
      ['bool', bool(true)],
      ['u64', u64(2n ** 60n)],
      ['i64', i64(-(2n ** 60n))],
      ['u64s', arr('u64', [u64(1), u64(2)])],
      ['deep', arr('array', [arr('array', [arr('string', [str('z')])])])],
      ['general.alignment', u32(64)],
    ]);
    expect(() => parseGGUFBytes(b.bytes)).not.toThrow();
    expect(
      truncationAnomalies(
        b.bytes,
        Array.from({ length: b.bytes.length }, (_, i) => i),
      ),
    ).toEqual([]);
  });
});

describe('random corruption of the header (seeded)', () => {
  const seed = process.env.GGUF_FUZZ_SEED ? Number(process.env.GGUF_FUZZ_SEED) : (Math.random() * 2 ** 32) >>> 0;
  // GGUF_FUZZ_SCALE=20 runs twenty times as many mutations (for a longer soak).
  const scale = Math.max(1, Number(process.env.GGUF_FUZZ_SCALE ?? 1) || 1);
  console.log(`GGUF fuzz seed: ${seed} (rerun with GGUF_FUZZ_SEED=${seed})`);

  const U32S = [0, 1, 2, 3, 4, 5, 7, 8, 9, 12, 13, 30, 39, 40, 0x7f, 0xff, 0x100, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xffffffff];
  const U64S = [0n, 1n, 8n, 31n, 32n, 0x7fffffffn, 0xffffffffn, 1n << 32n, 1n << 40n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n];

  /** Mutates `bytes` in place at positions chosen from `regions`; returns an undo function and a description. */
  function mutate(bytes: Uint8Array, rnd: () => number, regions: [number, number][], size: number): { undo: () => void; what: string } {
    const saved: [number, Uint8Array][] = [];
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const what: string[] = [];
    const edits = 1 + (rnd() % 3);
    for (let e = 0; e < edits; e++) {
      const [lo, hi] = regions[rnd() % regions.length]!;
      const kind = rnd() % 5;
      const width = kind === 3 ? 4 : kind === 4 ? 8 : 1;
      const pos = lo + (rnd() % Math.max(1, hi - lo - width));
      if (pos + width > bytes.length) continue;
      saved.push([pos, bytes.slice(pos, pos + width)]);
      switch (kind) {
        case 0: {
          const bit = rnd() % 8;
          bytes[pos] ^= 1 << bit;
          what.push(`flip ${pos}.${bit}`);
          break;
        }
        case 1: {
          const v = rnd() & 0xff;
          bytes[pos] = v;
          what.push(`byte ${pos}=${v}`);
          break;
        }
        case 2: {
          const v = [0, 1, 2, 9, 0x7f, 0x80, 0xff][rnd() % 7]!;
          bytes[pos] = v;
          what.push(`byte ${pos}=${v}`);
          break;
        }
        case 3: {
          const v = rnd() % 4 === 0 ? rnd() : U32S[rnd() % U32S.length]!;
          dv.setUint32(pos, v, true);
          what.push(`u32 ${pos}=${v}`);
          break;
        }
        case 4: {
          const choices = [...U64S, BigInt(size), BigInt(size - 1), BigInt(size + 1), BigInt(rnd()) * BigInt(rnd())];
          const v = choices[rnd() % choices.length]!;
          dv.setBigUint64(pos, v, true);
          what.push(`u64 ${pos}=${v}`);
          break;
        }
      }
    }
    return {
      undo: () => {
        for (let i = saved.length - 1; i >= 0; i--) bytes.set(saved[i]![1], saved[i]![0]);
      },
      what: what.join(', '),
    };
  }

  function checkParsed(f: GGUFFile, size: number): string | undefined {
    if (f.dataOffset % f.alignment !== 0) return `dataOffset ${f.dataOffset} not aligned to ${f.alignment}`;
    for (const t of f.tensors) {
      if (t.shape.length < 1 || t.shape.length > 4) return `${t.name}: ${t.shape.length} dims`;
      if (t.shape.reduce((a, b) => a * b, 1) !== t.nElements) return `${t.name}: nElements ${t.nElements}`;
      if (!Number.isSafeInteger(t.nBytes) || t.nBytes < 0) return `${t.name}: nBytes ${t.nBytes}`;
      if (t.fileOffset < f.dataOffset || t.fileOffset + t.nBytes > size) return `${t.name}: [${t.fileOffset}, +${t.nBytes}) outside ${size}`;
      if (t.relativeOffset % f.alignment !== 0) return `${t.name}: misaligned ${t.relativeOffset}`;
    }
    return undefined;
  }

  function fuzz(label: string, bytes: Uint8Array, regions: [number, number][], iterations: number, readTensors: boolean): void {
    const rnd = xorshift32(seed ^ [...label].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619), 2166136261));
    const original = bytes.slice();
    const baseAB = process.memoryUsage().arrayBuffers;
    const baseRSS = process.memoryUsage().rss;
    const problems: string[] = [];
    let parsed = 0;
    let slowest = 0;
    let slowWhat = '';
    let total = 0;
    const codes = new Map<string, number>();
    iterations *= scale;
    for (let i = 0; i < iterations && problems.length < 5; i++) {
      const m = mutate(bytes, rnd, regions, bytes.length);
      const t0 = performance.now();
      let f: GGUFFile | undefined;
      let err: unknown;
      try {
        f = parseGGUFBytes(bytes);
      } catch (e) {
        err = e;
      }
      const ms = performance.now() - t0;
      if (ms > slowest) slowWhat = `${m.what} -> ${err instanceof GGUFError ? `${err.code} at ${err.offset}` : 'ok'}`;
      slowest = Math.max(slowest, ms);
      total += ms;
      if (ms > 1000) problems.push(`#${i} [${m.what}] took ${ms.toFixed(0)} ms`);
      if (err !== undefined) {
        if (!(err instanceof GGUFError)) problems.push(`#${i} [${m.what}] threw ${(err as Error)?.stack ?? String(err)}`);
        else if (!Number.isSafeInteger(err.offset) || err.offset < 0 || err.offset > bytes.length) problems.push(`#${i} [${m.what}] offset ${err.offset}`);
        else codes.set(err.code, (codes.get(err.code) ?? 0) + 1);
      } else if (f) {
        parsed++;
        const bad = checkParsed(f, bytes.length);
        if (bad) problems.push(`#${i} [${m.what}] parsed with ${bad}`);
        if (readTensors) {
          for (const t of f.tensors) {
            const e = caught(() => f!.readTensor(t));
            if (e !== undefined) problems.push(`#${i} [${m.what}] readTensor(${t.name}) threw ${String(e)}`);
          }
        }
      }
      m.undo();
      if (i % 64 === 0) {
        const mu = process.memoryUsage();
        if (mu.arrayBuffers - baseAB > 512 * 2 ** 20 || mu.rss - baseRSS > 2 ** 30) {
          problems.push(`#${i} [${m.what}] memory grew: arrayBuffers +${(mu.arrayBuffers - baseAB) >> 20} MiB, rss +${(mu.rss - baseRSS) >> 20} MiB`);
        }
      }
    }
    expect(Buffer.compare(bytes, original), 'mutations were undone').toBe(0);
    console.log(
      `${label}: ${iterations} mutations, ${parsed} parsed, parse total ${total.toFixed(0)} ms, slowest ${slowest.toFixed(1)} ms (${slowWhat}), errors ${JSON.stringify(Object.fromEntries(codes))}`,
    );
    expect(problems, `seed ${seed}`).toEqual([]);
  }

  it('stories260K.gguf header', { timeout: 60_000 * scale }, () => {
    const bytes = new Uint8Array(readFileSync(STORIES));
    const f = parseGGUFBytes(bytes);
    // Tensor infos start at the first tensor's name (length-prefixed).
    const first = new TextEncoder().encode(f.tensors[0]!.name);
    let infos = 0;
    for (let i = 24; i < f.dataOffset && !infos; i++) {
      if (bytes[i] === first.length && first.every((c, j) => bytes[i + 8 + j] === c)) infos = i;
    }
    expect(infos).toBeGreaterThan(24);
    const lastKey = Math.max(...[...f.metadata.values()].map((m) => m.offset));
    fuzz(
      'stories260K',
      bytes,
      [
        [0, 64],
        [0, f.dataOffset],
        [lastKey, infos],
        [infos, f.dataOffset],
        [infos, f.dataOffset],
      ],
      2000,
      false,
    );
  });

  it('a small file with every value type and several tensor types', { timeout: 30_000 * scale }, () => {
    const b = build(
      [
        ...baseMeta(),
        ['u8', u8(1)],
        ['i16', i16(-2)],
        ['u32', u32(3)],
        ['f64', f64(2.5)],
        ['bool', bool(true)],
        ['u64', u64(2n ** 60n)],
        ['i64s', arr('i64', [i64(1), i64(-2)])],
        ['deep', arr('array', [arr('array', [arr('string', [str('z')])])])],
        ['general.alignment', u32(32)],
      ],
      [T('f32', GGMLType.F32, [4, 3]), T('f16', GGMLType.F16, [8]), T('q8', GGMLType.Q8_0, [32, 2]), T('q4k', GGMLType.Q4_K, [256])],
    );
    fuzz(
      'synthetic',
      b.bytes,
      [
        [0, b.dataOffset],
        [0, 24],
        [b.tensors.get('f32')!.at, b.dataOffset],
      ],
      2500,
      true,
    );
  });
});
