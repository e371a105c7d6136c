/**
 * GGUF reader (versions 2 and 3, little-endian).
 *
 * The header is read with small positioned reads through a sliding window;
 * every count, length and offset is checked against the file size before
 * anything is allocated for it. Tensors are described as views into the file
 * (offset, byte length, type, shape); `readTensorInto` copies one tensor's
 * bytes once into its destination.
 */
import { GGUFError, type GGUFErrorCode } from './errors.js';
import { MemorySource, type ByteSource } from './source.js';
import { platform } from '../platform/index.js';
import { ggmlType, ggmlTypeName, type GGMLTypeInfo } from './types.js';

export const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
export const GGUF_DEFAULT_ALIGNMENT = 32;
export const GGML_MAX_DIMS = 4;
const MAX_NESTING = 8;
/**
 * Per-value caps, far above anything a real GGUF holds (the largest vocabularies
 * have ~300k merges; the largest strings are embedded tokenizer.json files of a
 * few dozen MB). They keep a sparse or lying file from making the reader
 * allocate gigabytes for one value even when the file size would permit it.
 */
const MAX_STRING_BYTES = 1 << 28;
const MAX_ARRAY_ELEMENTS = 1 << 26;
const MAX_ARRAY_BYTES = 1 << 28;

export const GGUFValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;

const VALUE_TYPE_NAMES = ['u8', 'i8', 'u16', 'i16', 'u32', 'i32', 'f32', 'bool', 'string', 'array', 'u64', 'i64', 'f64'];
/** Bytes of a scalar of each value type (0 for string and array). */
const SCALAR_SIZE = [1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8];

export type GGUFNumericArray = Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array | Float32Array | Float64Array | BigUint64Array | BigInt64Array;

/**
 * A metadata value. 64-bit integers are numbers when they fit in 2^53, bigint
 * otherwise; numeric arrays are typed arrays; string, bool and nested arrays are JS arrays.
 */
export type GGUFValue = number | bigint | boolean | string | GGUFNumericArray | GGUFValue[];

export interface GGUFMetaValue {
  /** GGUFValueType of the value; for arrays, `elementType` is the element's type. */
  readonly type: number;
  readonly elementType?: number;
  readonly value: GGUFValue;
  /** Byte offset of the key in the file. */
  readonly offset: number;
}

export interface GGUFTensorInfo {
  readonly name: string;
  readonly typeId: number;
  readonly type: GGMLTypeInfo;
  /** ggml order: shape[0] is the row length (contiguous dimension). */
  readonly shape: readonly number[];
  readonly nElements: number;
  readonly nBytes: number;
  /** Offset relative to the data section, as stored in the file. */
  readonly relativeOffset: number;
  /** Absolute byte offset of the tensor's data in the file. */
  readonly fileOffset: number;
}

export function valueTypeName(t: number): string {
  return VALUE_TYPE_NAMES[t] ?? `unknown value type ${t}`;
}

/** Sliding-window cursor over a ByteSource; every read is bounds-checked first. */
class Cursor {
  pos = 0;
  private window: Uint8Array;
  private view: DataView;
  private winStart = 0;
  private winLen = 0;
  // ignoreBOM: a string that starts with U+FEFF keeps it (the default would strip it).
  private static readonly decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  constructor(
    private src: ByteSource,
    windowSize = 1 << 20,
  ) {
    this.window = new Uint8Array(Math.min(windowSize, Math.max(16, src.size)));
    this.view = new DataView(this.window.buffer);
  }

  get remaining(): number {
    return this.src.size - this.pos;
  }

  fail(code: GGUFErrorCode, message: string, at = this.pos): never {
    throw new GGUFError(code, message, at, this.src.path);
  }

  /** Makes [pos, pos+n) readable in the window; n <= window size. */
  private ensure(n: number, what: string): number {
    if (n > this.remaining) {
      this.fail('TRUNCATED', `file ends while reading ${what}: needs ${n} bytes, ${this.remaining} left`);
    }
    if (this.pos < this.winStart || this.pos + n > this.winStart + this.winLen) {
      if (n > this.window.length) {
        this.window = new Uint8Array(n);
        this.view = new DataView(this.window.buffer);
      }
      this.winStart = this.pos;
      this.winLen = 0;
      try {
        this.winLen = this.src.readInto(this.pos, this.window.subarray(0, Math.min(this.window.length, this.src.size - this.pos)));
      } catch (e) {
        this.fail('IO', `read error while reading ${what}: ${errorText(e)}`);
      }
      if (this.winLen < n) this.fail('IO', `short read while reading ${what}`);
    }
    const at = this.pos - this.winStart;
    this.pos += n;
    return at;
  }

  u8(what: string): number {
    return this.view.getUint8(this.ensure(1, what));
  }
  i8(what: string): number {
    return this.view.getInt8(this.ensure(1, what));
  }
  u16(what: string): number {
    return this.view.getUint16(this.ensure(2, what), true);
  }
  i16(what: string): number {
    return this.view.getInt16(this.ensure(2, what), true);
  }
  u32(what: string): number {
    return this.view.getUint32(this.ensure(4, what), true);
  }
  i32(what: string): number {
    return this.view.getInt32(this.ensure(4, what), true);
  }
  f32(what: string): number {
    return this.view.getFloat32(this.ensure(4, what), true);
  }
  f64(what: string): number {
    return this.view.getFloat64(this.ensure(8, what), true);
  }
  u64big(what: string): bigint {
    return this.view.getBigUint64(this.ensure(8, what), true);
  }
  i64big(what: string): bigint {
    return this.view.getBigInt64(this.ensure(8, what), true);
  }

  /** A u64 used as a count or size: must fit in a JS number. */
  u64(what: string): number {
    const at = this.pos;
    const v = this.u64big(what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail('BAD_COUNT', `${what} is ${v}, larger than any file`, at);
    return Number(v);
  }

  bytes(n: number, what: string): Uint8Array {
    const at = this.ensure(n, what);
    return this.window.subarray(at, at + n);
  }

  string(what: string): string {
    const at = this.pos;
    const big = this.u64big(what);
    // Number(big) only rounds beyond 2^53, where it is larger than any file anyway.
    const len = Number(big);
    if (len > this.remaining) {
      this.fail('BAD_STRING', `${what} claims ${big} bytes but only ${this.remaining} remain in the file`, at);
    }
    if (len > MAX_STRING_BYTES) this.fail('BAD_STRING', `${what} claims ${len} bytes, more than the ${MAX_STRING_BYTES} allowed for a string`, at);
    // Strings longer than the window are read in one exact-size read (justified by the file size).
    return Cursor.decoder.decode(this.bytes(len, what));
  }
}

function errorText(e: unknown): string {
  const err = e as { code?: unknown; message?: unknown } | null;
  return String(err?.code ?? err?.message ?? e);
}

function scalarValue(c: Cursor, type: number, what: string): number | bigint | boolean {
  switch (type) {
    case GGUFValueType.UINT8:
      return c.u8(what);
    case GGUFValueType.INT8:
      return c.i8(what);
    case GGUFValueType.UINT16:
      return c.u16(what);
    case GGUFValueType.INT16:
      return c.i16(what);
    case GGUFValueType.UINT32:
      return c.u32(what);
    case GGUFValueType.INT32:
      return c.i32(what);
    case GGUFValueType.FLOAT32:
      return c.f32(what);
    case GGUFValueType.FLOAT64:
      return c.f64(what);
    case GGUFValueType.BOOL: {
      const at = c.pos;
      const b = c.u8(what);
      if (b > 1) c.fail('BAD_VALUE_TYPE', `${what}: bool byte is ${b}, not 0 or 1`, at);
      return b === 1;
    }
    case GGUFValueType.UINT64: {
      const v = c.u64big(what);
      return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    }
    case GGUFValueType.INT64: {
      const v = c.i64big(what);
      return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
    }
  }
  return c.fail('BAD_VALUE_TYPE', `${what} has unknown value type ${type}`);
}

const ARRAY_CTORS: Record<number, new (n: number) => GGUFNumericArray> = {
  [GGUFValueType.UINT8]: Uint8Array,
  [GGUFValueType.INT8]: Int8Array,
  [GGUFValueType.UINT16]: Uint16Array,
  [GGUFValueType.INT16]: Int16Array,
  [GGUFValueType.UINT32]: Uint32Array,
  [GGUFValueType.INT32]: Int32Array,
  [GGUFValueType.FLOAT32]: Float32Array,
  [GGUFValueType.FLOAT64]: Float64Array,
  [GGUFValueType.UINT64]: BigUint64Array,
  [GGUFValueType.INT64]: BigInt64Array,
};

function readArray(c: Cursor, what: string, depth: number): { elementType: number; value: GGUFValue } {
  const typeAt = c.pos;
  const elementType = c.u32(`element type of ${what}`);
  if (elementType > GGUFValueType.FLOAT64) c.fail('BAD_VALUE_TYPE', `${what} has unknown element type ${elementType}`, typeAt);
  const countAt = c.pos;
  const count = c.u64(`element count of ${what}`);
  // The smallest possible encoding of each element, to reject counts the file cannot hold.
  const minSize = elementType === GGUFValueType.STRING ? 8 : elementType === GGUFValueType.ARRAY ? 12 : SCALAR_SIZE[elementType]!;
  if (count * minSize > c.remaining) {
    c.fail('BAD_COUNT', `${what} claims ${count} ${valueTypeName(elementType)} elements, more than the ${c.remaining} remaining bytes can hold`, countAt);
  }
  const Ctor = ARRAY_CTORS[elementType];
  if (Ctor ? count * minSize > MAX_ARRAY_BYTES : count > MAX_ARRAY_ELEMENTS) {
    c.fail('BAD_COUNT', `${what} claims ${count} ${valueTypeName(elementType)} elements, more than this reader accepts in one array`, countAt);
  }
  if (Ctor) {
    const out = new Ctor(count);
    const outBytes = new Uint8Array(out.buffer);
    const chunk = 1 << 16;
    for (let i = 0; i < outBytes.length; i += chunk) {
      const n = Math.min(chunk, outBytes.length - i);
      outBytes.set(c.bytes(n, what), i);
    }
    return { elementType, value: out };
  }
  // Grown by push (not new Array(count)): a large preallocated array would be a slow dictionary-mode one.
  const out: GGUFValue[] = [];
  for (let i = 0; i < count; i++) out.push(readValue(c, elementType, `${what}[${i}]`, depth + 1));
  return { elementType, value: out };
}

function readValue(c: Cursor, type: number, what: string, depth: number): GGUFValue {
  if (type === GGUFValueType.STRING) return c.string(what);
  if (type === GGUFValueType.ARRAY) {
    if (depth >= MAX_NESTING) c.fail('NESTING_TOO_DEEP', `${what} nests arrays more than ${MAX_NESTING} deep`);
    return readArray(c, what, depth).value;
  }
  return scalarValue(c, type, what);
}

export class GGUFFile {
  constructor(
    readonly source: ByteSource,
    readonly version: number,
    readonly metadata: Map<string, GGUFMetaValue>,
    readonly tensors: GGUFTensorInfo[],
    readonly alignment: number,
    /** Absolute offset of the tensor data section. */
    readonly dataOffset: number,
  ) {}

  readonly tensorsByName = new Map<string, GGUFTensorInfo>();

  get path(): string | undefined {
    return this.source.path;
  }
  get size(): number {
    return this.source.size;
  }

  has(key: string): boolean {
    return this.metadata.has(key);
  }

  private typed(key: string, ok: (v: GGUFMetaValue) => boolean, want: string): GGUFMetaValue | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (!ok(v)) {
      throw new GGUFError('WRONG_VALUE_TYPE', `metadata key ${key} is ${valueTypeName(v.type)}, expected ${want}`, v.offset, this.path);
    }
    return v;
  }

  getString(key: string): string | undefined {
    return this.typed(key, (v) => v.type === GGUFValueType.STRING, 'string')?.value as string | undefined;
  }

  /** Any integer or float scalar as a number (64-bit values beyond 2^53 are rejected). */
  getNumber(key: string): number | undefined {
    return this.typed(key, (v) => typeof v.value === 'number', 'a number')?.value as number | undefined;
  }

  getBool(key: string): boolean | undefined {
    return this.typed(key, (v) => v.type === GGUFValueType.BOOL, 'bool')?.value as boolean | undefined;
  }

  getArray(key: string): GGUFValue[] | GGUFNumericArray | undefined {
    return this.typed(key, (v) => v.type === GGUFValueType.ARRAY, 'array')?.value as GGUFValue[] | GGUFNumericArray | undefined;
  }

  /** Metadata as plain key → value pairs. */
  get(key: string): GGUFValue | undefined {
    return this.metadata.get(key)?.value;
  }

  tensor(name: string): GGUFTensorInfo | undefined {
    return this.tensorsByName.get(name);
  }

  /** Copies one tensor's bytes into dst (length >= nBytes) with positioned reads; returns dst's filled part. */
  readTensorInto(info: GGUFTensorInfo, dst: Uint8Array): Uint8Array {
    if (dst.length < info.nBytes) throw new RangeError(`destination for ${info.name} holds ${dst.length} bytes, needs ${info.nBytes}`);
    const out = dst.subarray(0, info.nBytes);
    let n: number;
    try {
      n = this.source.readInto(info.fileOffset, out);
    } catch (e) {
      throw new GGUFError('IO', `read error on tensor ${info.name}: ${errorText(e)}`, info.fileOffset, this.path);
    }
    if (n !== info.nBytes) throw new GGUFError('TRUNCATED', `short read of tensor ${info.name}: ${n} of ${info.nBytes} bytes`, info.fileOffset + n, this.path);
    return out;
  }

  /** A fresh, 8-byte aligned copy of a tensor's bytes. */
  readTensor(info: GGUFTensorInfo): Uint8Array {
    return this.readTensorInto(info, new Uint8Array(new ArrayBuffer(Math.ceil(info.nBytes / 8) * 8), 0, info.nBytes));
  }

  close(): void {
    this.source.close();
  }
}

/** Parses the header of a GGUF file from any ByteSource. */
export function parseGGUF(src: ByteSource): GGUFFile {
  const c: Cursor = new Cursor(src);
  if (src.size < 4) c.fail('TRUNCATED', `file is ${src.size} bytes, too short for the GGUF magic`, 0);
  const magic = c.u32('magic');
  if (magic !== GGUF_MAGIC) {
    c.fail('BAD_MAGIC', `not a GGUF file: magic is 0x${magic.toString(16).padStart(8, '0')}, expected "GGUF"`, 0);
  }
  const version = c.u32('version');
  if (version !== 2 && version !== 3) {
    if (version > 0xffff && version >>> 24 <= 3) c.fail('BIG_ENDIAN', `big-endian GGUF files are not supported`, 4);
    c.fail('UNSUPPORTED_VERSION', `GGUF version ${version} is not supported (only 2 and 3)`, 4);
  }
  const tensorCountAt = c.pos;
  const tensorCount = c.u64('tensor count');
  const kvCountAt = c.pos;
  const kvCount = c.u64('metadata key/value count');
  // Minimal encodings: a key/value needs 8 (key length) + 4 (type) + 1 bytes; a tensor info 8 + 4 + 4 + 8.
  if (kvCount * 13 > c.remaining) c.fail('BAD_COUNT', `metadata count ${kvCount} is more than the file can hold`, kvCountAt);
  if (tensorCount * 24 > c.remaining) c.fail('BAD_COUNT', `tensor count ${tensorCount} is more than the file can hold`, tensorCountAt);

  const metadata = new Map<string, GGUFMetaValue>();
  for (let i = 0; i < kvCount; i++) {
    const keyAt = c.pos;
    const key = c.string(`key of metadata entry ${i}`);
    if (metadata.has(key)) c.fail('DUPLICATE_KEY', `metadata key ${key} appears twice`, keyAt);
    const typeAt = c.pos;
    const type = c.u32(`value type of ${key}`);
    if (type > GGUFValueType.FLOAT64) c.fail('BAD_VALUE_TYPE', `metadata key ${key} has unknown value type ${type}`, typeAt);
    if (type === GGUFValueType.ARRAY) {
      const { elementType, value } = readArray(c, `metadata key ${key}`, 0);
      metadata.set(key, { type, elementType, value, offset: keyAt });
    } else {
      metadata.set(key, { type, value: readValue(c, type, `metadata key ${key}`, 0), offset: keyAt });
    }
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  const align = metadata.get('general.alignment');
  if (align !== undefined) {
    if (align.type !== GGUFValueType.UINT32 && align.type !== GGUFValueType.INT32 && align.type !== GGUFValueType.UINT64) {
      c.fail('BAD_ALIGNMENT', `general.alignment is ${valueTypeName(align.type)}, expected u32`, align.offset);
    }
    const a = align.value as number;
    if (typeof a !== 'number' || a <= 0 || a > 1 << 30 || (a & (a - 1)) !== 0) {
      c.fail('BAD_ALIGNMENT', `general.alignment is ${String(a)}, not a power of two`, align.offset);
    }
    alignment = a;
  }

  const tensors: GGUFTensorInfo[] = [];
  const raw: { name: string; at: number; shape: number[]; typeId: number; type: GGMLTypeInfo; rel: number; nElements: number; nBytes: number }[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const at = c.pos;
    const name = c.string(`name of tensor ${i}`);
    if (names.has(name)) c.fail('DUPLICATE_TENSOR', `tensor ${name} appears twice`, at);
    names.add(name);
    const dimsAt = c.pos;
    const nDims = c.u32(`dimension count of tensor ${name}`);
    if (nDims < 1 || nDims > GGML_MAX_DIMS) c.fail('BAD_DIMS', `tensor ${name} has ${nDims} dimensions (1 to ${GGML_MAX_DIMS} allowed)`, dimsAt);
    const shape: number[] = [];
    let nElements = 1;
    for (let d = 0; d < nDims; d++) {
      const dAt = c.pos;
      const n = c.u64big(`dimension ${d} of tensor ${name}`);
      if (n > BigInt(Number.MAX_SAFE_INTEGER)) c.fail('BAD_SHAPE', `tensor ${name} dimension ${d} is ${n}, too large`, dAt);
      shape.push(Number(n));
      nElements *= Number(n);
      if (nElements > Number.MAX_SAFE_INTEGER) c.fail('BAD_SHAPE', `tensor ${name} has shape [${shape.join(', ')}...] whose element count overflows`, dAt);
    }
    const typeAt = c.pos;
    const typeId = c.u32(`type of tensor ${name}`);
    const type = ggmlType(typeId);
    if (!type) c.fail('UNKNOWN_TYPE', `tensor ${name} has unknown ggml type id ${typeId}`, typeAt);
    if (type.removed) c.fail('UNKNOWN_TYPE', `tensor ${name} uses ggml type ${type.name} (id ${typeId}), which ggml no longer supports`, typeAt);
    if (shape[0]! % type.blockSize !== 0) {
      c.fail('BAD_SHAPE', `tensor ${name} has rows of ${shape[0]} elements, not a multiple of ${type.name}'s block size ${type.blockSize}`, dimsAt);
    }
    const nBytes = (nElements / type.blockSize) * type.typeSize;
    const offAt = c.pos;
    const relBig = c.u64big(`data offset of tensor ${name}`);
    if (relBig > BigInt(src.size)) c.fail('TENSOR_OUT_OF_BOUNDS', `tensor ${name} data offset ${relBig} lies past the end of the file of ${src.size} bytes`, offAt);
    const rel = Number(relBig);
    if (rel % alignment !== 0) c.fail('MISALIGNED_TENSOR', `tensor ${name} data offset ${rel} is not a multiple of the alignment ${alignment}`, offAt);
    raw.push({ name, at: offAt, shape, typeId, type, rel, nElements, nBytes });
  }

  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  if (tensorCount > 0 && dataOffset > src.size) c.fail('TRUNCATED', `file ends before its tensor data section at ${dataOffset}`, src.size);
  for (const r of raw) {
    const fileOffset = dataOffset + r.rel;
    if (fileOffset + r.nBytes > src.size) {
      c.fail('TENSOR_OUT_OF_BOUNDS', `tensor ${r.name} data [${fileOffset}, ${fileOffset + r.nBytes}) lies outside the file of ${src.size} bytes`, r.at);
    }
    tensors.push({ name: r.name, typeId: r.typeId, type: r.type, shape: r.shape, nElements: r.nElements, nBytes: r.nBytes, relativeOffset: r.rel, fileOffset });
  }
  const file = new GGUFFile(src, version, metadata, tensors, alignment, dataOffset);
  for (const t of tensors) file.tensorsByName.set(t.name, t);
  return file;
}

/** Opens a GGUF file and reads its header; tensor data stays in the file until asked for. */
export function openGGUFSync(path: string | URL): GGUFFile {
  let src: ByteSource;
  try {
    src = platform.openFile(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new GGUFError('IO', `cannot open ${String(path)}: ${err.code ?? err.message}`, 0, String(path));
  }
  try {
    return parseGGUF(src);
  } catch (e) {
    src.close();
    throw e;
  }
}

export async function openGGUF(path: string): Promise<GGUFFile> {
  return openGGUFSync(path);
}

/** Parses GGUF bytes held in memory (tests, small vocabulary files). */
export function parseGGUFBytes(bytes: Uint8Array): GGUFFile {
  return parseGGUF(new MemorySource(bytes));
}

export { ggmlTypeName };
