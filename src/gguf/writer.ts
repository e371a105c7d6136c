/**
 * GGUF writer (version 3, little-endian), streaming.
 *
 * The header (metadata and tensor infos) is built in memory — it is small
 * next to the weights — and written first; then each tensor's bytes are
 * produced by the caller chunk by chunk and written with positioned writes
 * straight to their final place in the file, followed by zero padding to the
 * alignment, as ggml's gguf writer does. A model's weights are therefore
 * never held in memory as a whole (let alone twice).
 *
 * Tensor offsets are assigned in order, each padded to the alignment
 * (ggml's layout), so reading a ggml-written file and writing it back gives
 * the same bytes (see `copyGGUF`).
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { GGUFError } from './errors.js';
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUFValueType, type GGUFFile, type GGUFNumericArray, type GGUFValue } from './reader.js';
import { ggmlType, ggmlTypeName } from './types.js';

/** A metadata value to write: its GGUF value type, the element type for arrays, and the value. */
export interface GGUFWriteValue {
  readonly type: number;
  /** For arrays: the element value type (inferred from the value when absent). */
  readonly elementType?: number;
  readonly value: GGUFValue;
}

/** Constructors for metadata values of each GGUF value type. */
export const gv = {
  u8: (v: number): GGUFWriteValue => ({ type: GGUFValueType.UINT8, value: v }),
  i8: (v: number): GGUFWriteValue => ({ type: GGUFValueType.INT8, value: v }),
  u16: (v: number): GGUFWriteValue => ({ type: GGUFValueType.UINT16, value: v }),
  i16: (v: number): GGUFWriteValue => ({ type: GGUFValueType.INT16, value: v }),
  u32: (v: number): GGUFWriteValue => ({ type: GGUFValueType.UINT32, value: v }),
  i32: (v: number): GGUFWriteValue => ({ type: GGUFValueType.INT32, value: v }),
  f32: (v: number): GGUFWriteValue => ({ type: GGUFValueType.FLOAT32, value: v }),
  f64: (v: number): GGUFWriteValue => ({ type: GGUFValueType.FLOAT64, value: v }),
  u64: (v: number | bigint): GGUFWriteValue => ({ type: GGUFValueType.UINT64, value: v }),
  i64: (v: number | bigint): GGUFWriteValue => ({ type: GGUFValueType.INT64, value: v }),
  bool: (v: boolean): GGUFWriteValue => ({ type: GGUFValueType.BOOL, value: v }),
  string: (v: string): GGUFWriteValue => ({ type: GGUFValueType.STRING, value: v }),
  /** An array of `elementType` values (a typed array for numbers, a JS array for strings and bools). */
  array: (elementType: number, v: GGUFValue[] | GGUFNumericArray): GGUFWriteValue => ({ type: GGUFValueType.ARRAY, elementType, value: v }),
};

/** Description of one tensor to write; its bytes come later, from `data`. */
export interface GGUFWriteTensor {
  readonly name: string;
  readonly typeId: number;
  /** ggml order: shape[0] is the row length. */
  readonly shape: readonly number[];
  /**
   * Produces the tensor's bytes, in order, in chunks of any size (their total
   * must be the tensor's byte size). Called once, when the tensor is written.
   */
  readonly data: () => Iterable<Uint8Array> | AsyncIterable<Uint8Array>;
}

export interface GGUFWriteOptions {
  /** Called after each tensor with (tensors done, tensor count, bytes written so far, total bytes). */
  onProgress?: (done: number, total: number, bytes: number, totalBytes: number) => void;
  /** Checked between chunks; a raised signal stops the write with its reason. */
  signal?: AbortSignal;
  /** Open flags for the output (default 'wx': fail if it exists). */
  flags?: string;
  /**
   * Zero-pad the header to the alignment even when there are no tensors
   * (default true, as ggml's writer does; gguf-py leaves vocabulary-only files unpadded).
   */
  padEmptyHeader?: boolean;
}

/** Layout of a GGUF file to be written: header bytes, each tensor's data offset, total size. */
export interface GGUFLayout {
  readonly header: Uint8Array;
  readonly alignment: number;
  /** Absolute offset of the data section. */
  readonly dataOffset: number;
  readonly tensors: readonly { name: string; nBytes: number; relativeOffset: number }[];
  readonly fileSize: number;
}

function pad(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/** Growable little-endian byte buffer for the header. */
class Bytes {
  buf = new Uint8Array(1 << 16);
  dv = new DataView(this.buf.buffer);
  length = 0;
  private static enc = new TextEncoder();

  reserve(n: number): number {
    const at = this.length;
    if (at + n > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < at + n) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.buf.subarray(0, at));
      this.buf = next;
      this.dv = new DataView(next.buffer);
    }
    this.length += n;
    return at;
  }
  /** Reserves n bytes and returns a view positioned on them (reserve may replace the buffer). */
  at(n: number): [DataView, number] {
    const at = this.reserve(n);
    return [this.dv, at];
  }
  u8(v: number): void {
    const [dv, at] = this.at(1);
    dv.setUint8(at, v);
  }
  u32(v: number): void {
    const [dv, at] = this.at(4);
    dv.setUint32(at, v >>> 0, true);
  }
  u64(v: number | bigint): void {
    const [dv, at] = this.at(8);
    dv.setBigUint64(at, BigInt.asUintN(64, BigInt(v)), true);
  }
  bytes(b: Uint8Array): void {
    const at = this.reserve(b.length);
    this.buf.set(b, at);
  }
  string(s: string): void {
    const b = Bytes.enc.encode(s);
    this.u64(b.length);
    this.bytes(b);
  }
}

const TYPED_ELEMENT: [new (...a: never[]) => GGUFNumericArray, number][] = [
  [Uint8Array, GGUFValueType.UINT8],
  [Int8Array, GGUFValueType.INT8],
  [Uint16Array, GGUFValueType.UINT16],
  [Int16Array, GGUFValueType.INT16],
  [Uint32Array, GGUFValueType.UINT32],
  [Int32Array, GGUFValueType.INT32],
  [Float32Array, GGUFValueType.FLOAT32],
  [Float64Array, GGUFValueType.FLOAT64],
  [BigUint64Array, GGUFValueType.UINT64],
  [BigInt64Array, GGUFValueType.INT64],
];

/** Element type of an array value whose type was not given (nested arrays, hand-built values). */
function inferElementType(v: GGUFValue[] | GGUFNumericArray, what: string): number {
  for (const [ctor, t] of TYPED_ELEMENT) if (v instanceof ctor) return t;
  const arr = v as GGUFValue[];
  if (arr.length === 0) return GGUFValueType.INT32; // nothing to tell; an empty array's element type carries no data
  const first = arr[0];
  if (typeof first === 'string') return GGUFValueType.STRING;
  if (typeof first === 'boolean') return GGUFValueType.BOOL;
  if (Array.isArray(first) || ArrayBuffer.isView(first)) return GGUFValueType.ARRAY;
  throw new TypeError(`${what}: cannot infer the element type of an array of ${typeof first}; give elementType`);
}

function writeScalar(b: Bytes, type: number, v: GGUFValue, what: string): void {
  const num = (): number => {
    if (typeof v !== 'number') throw new TypeError(`${what}: expected a number for ${type}, got ${typeof v}`);
    return v;
  };
  switch (type) {
    case GGUFValueType.UINT8:
      {
        const [dv, at] = b.at(1);
        dv.setUint8(at, num());
      }
      return;
    case GGUFValueType.INT8:
      {
        const [dv, at] = b.at(1);
        dv.setInt8(at, num());
      }
      return;
    case GGUFValueType.UINT16:
      {
        const [dv, at] = b.at(2);
        dv.setUint16(at, num(), true);
      }
      return;
    case GGUFValueType.INT16:
      {
        const [dv, at] = b.at(2);
        dv.setInt16(at, num(), true);
      }
      return;
    case GGUFValueType.UINT32:
      {
        const [dv, at] = b.at(4);
        dv.setUint32(at, num(), true);
      }
      return;
    case GGUFValueType.INT32:
      {
        const [dv, at] = b.at(4);
        dv.setInt32(at, num(), true);
      }
      return;
    case GGUFValueType.FLOAT32:
      {
        const [dv, at] = b.at(4);
        dv.setFloat32(at, num(), true);
      }
      return;
    case GGUFValueType.FLOAT64:
      {
        const [dv, at] = b.at(8);
        dv.setFloat64(at, num(), true);
      }
      return;
    case GGUFValueType.BOOL:
      if (typeof v !== 'boolean') throw new TypeError(`${what}: expected a boolean, got ${typeof v}`);
      b.u8(v ? 1 : 0);
      return;
    case GGUFValueType.UINT64:
    case GGUFValueType.INT64: {
      if (typeof v !== 'number' && typeof v !== 'bigint') throw new TypeError(`${what}: expected a number or bigint, got ${typeof v}`);
      const big = BigInt(v);
      const at = b.reserve(8);
      if (type === GGUFValueType.UINT64) b.dv.setBigUint64(at, BigInt.asUintN(64, big), true);
      else b.dv.setBigInt64(at, BigInt.asIntN(64, big), true);
      return;
    }
  }
  throw new TypeError(`${what}: unknown GGUF value type ${type}`);
}

function writeValue(b: Bytes, type: number, v: GGUFValue, what: string, elementType?: number): void {
  if (type === GGUFValueType.STRING) {
    if (typeof v !== 'string') throw new TypeError(`${what}: expected a string, got ${typeof v}`);
    b.string(v);
    return;
  }
  if (type === GGUFValueType.ARRAY) {
    if (!Array.isArray(v) && !ArrayBuffer.isView(v)) throw new TypeError(`${what}: expected an array`);
    const arr = v as GGUFValue[] | GGUFNumericArray;
    const et = elementType ?? inferElementType(arr, what);
    b.u32(et);
    b.u64(arr.length);
    if (ArrayBuffer.isView(arr)) {
      const typed = arr as GGUFNumericArray;
      const want = TYPED_ELEMENT.find(([, t]) => t === et)?.[0];
      if (want && typed instanceof want) {
        // Typed arrays are little-endian on every platform Node runs on: copy the bytes.
        b.bytes(new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength));
        return;
      }
      for (let i = 0; i < typed.length; i++) writeScalar(b, et, typeof typed[i] === 'bigint' ? (typed[i] as bigint) : Number(typed[i]), `${what}[${i}]`);
      return;
    }
    for (let i = 0; i < arr.length; i++) writeValue(b, et, (arr as GGUFValue[])[i]!, `${what}[${i}]`);
    return;
  }
  writeScalar(b, type, v, what);
}

/** Bytes of a tensor of this type and shape (checks whole blocks). */
export function tensorBytes(typeId: number, shape: readonly number[], name = 'tensor'): number {
  const info = ggmlType(typeId);
  if (!info || info.removed || info.blockSize === 0) throw new RangeError(`${name}: cannot write ggml type ${ggmlTypeName(typeId)}`);
  if (shape.length < 1 || shape.length > 4) throw new RangeError(`${name}: ${shape.length} dimensions (1 to 4 allowed)`);
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new RangeError(`${name}: bad dimension ${d}`);
    n *= d;
  }
  if (shape[0]! % info.blockSize !== 0) {
    throw new RangeError(`${name}: rows of ${shape[0]} elements are not a multiple of ${info.name}'s block size ${info.blockSize}`);
  }
  return (n / info.blockSize) * info.typeSize;
}

/**
 * Computes the header bytes and the data layout. `metadata` is written in
 * iteration order. The alignment is general.alignment when present (u32), 32 otherwise.
 */
export function layoutGGUF(metadata: Iterable<[string, GGUFWriteValue]>, tensors: readonly Pick<GGUFWriteTensor, 'name' | 'typeId' | 'shape'>[], version = 3, padEmptyHeader = true): GGUFLayout {
  const entries = [...metadata];
  const keys = new Set<string>();
  let alignment = GGUF_DEFAULT_ALIGNMENT;
  for (const [k, v] of entries) {
    if (keys.has(k)) throw new RangeError(`metadata key ${k} given twice`);
    keys.add(k);
    if (k === 'general.alignment') {
      const a = Number(v.value);
      if (!Number.isInteger(a) || a <= 0 || (a & (a - 1)) !== 0) throw new RangeError(`general.alignment is ${String(v.value)}, not a power of two`);
      alignment = a;
    }
  }
  const b = new Bytes();
  b.u32(GGUF_MAGIC);
  b.u32(version);
  b.u64(tensors.length);
  b.u64(entries.length);
  for (const [k, v] of entries) {
    b.string(k);
    b.u32(v.type);
    writeValue(b, v.type, v.value, `metadata key ${k}`, v.elementType);
  }
  const names = new Set<string>();
  const out: { name: string; nBytes: number; relativeOffset: number }[] = [];
  let offset = 0;
  for (const t of tensors) {
    if (names.has(t.name)) throw new RangeError(`tensor ${t.name} given twice`);
    names.add(t.name);
    const nBytes = tensorBytes(t.typeId, t.shape, t.name);
    b.string(t.name);
    b.u32(t.shape.length);
    for (const d of t.shape) b.u64(d);
    b.u32(t.typeId);
    b.u64(offset);
    out.push({ name: t.name, nBytes, relativeOffset: offset });
    offset += pad(nBytes, alignment);
  }
  const dataOffset = tensors.length > 0 || padEmptyHeader ? pad(b.length, alignment) : b.length;
  b.reserve(dataOffset - b.length); // zero padding (the buffer starts zeroed and only grows)
  return {
    header: b.buf.slice(0, dataOffset),
    alignment,
    dataOffset,
    tensors: out,
    fileSize: tensors.length > 0 ? dataOffset + offset : dataOffset,
  };
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  let done = 0;
  while (done < bytes.length) {
    done += writeSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 30), position + done);
  }
}

/**
 * Writes a GGUF file: header, then each tensor's bytes as `data` produces
 * them, with positioned writes. Throws if a tensor's producer yields more or
 * fewer bytes than its type and shape need. On any error the file is left as
 * it is (callers that need atomicity write to a temporary path and rename:
 * see src/cli/quantize.ts). Returns the layout written.
 */
export async function writeGGUF(path: string, metadata: Iterable<[string, GGUFWriteValue]>, tensors: readonly GGUFWriteTensor[], options: GGUFWriteOptions = {}): Promise<GGUFLayout> {
  const layout = layoutGGUF(metadata, tensors, 3, options.padEmptyHeader ?? true);
  const fd = openSync(path, options.flags ?? 'wx');
  try {
    writeAll(fd, layout.header, 0);
    let written = layout.header.length;
    const zeros = new Uint8Array(layout.alignment);
    for (let i = 0; i < tensors.length; i++) {
      const t = tensors[i]!;
      const { nBytes, relativeOffset } = layout.tensors[i]!;
      let pos = layout.dataOffset + relativeOffset;
      const end = pos + nBytes;
      for await (const chunk of t.data()) {
        // Let timers and signal handlers (Ctrl-C) run between chunks: producers are often synchronous.
        await new Promise<void>((resolve) => setImmediate(resolve));
        options.signal?.throwIfAborted();
        if (pos + chunk.length > end) throw new RangeError(`tensor ${t.name}: data is longer than its ${nBytes} bytes`);
        writeAll(fd, chunk, pos);
        pos += chunk.length;
      }
      if (pos !== end) throw new RangeError(`tensor ${t.name}: data is ${nBytes - (end - pos)} bytes, needs ${nBytes}`);
      const padded = pad(nBytes, layout.alignment) - nBytes;
      if (padded > 0) writeAll(fd, zeros.subarray(0, padded), end);
      written += nBytes + padded;
      options.onProgress?.(i + 1, tensors.length, written, layout.fileSize);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return layout;
}

/** A file's metadata as writer input, in file order (general.alignment included when present). */
export function metadataOf(file: GGUFFile): [string, GGUFWriteValue][] {
  return [...file.metadata].map(([k, v]) => [k, { type: v.type, elementType: v.elementType, value: v.value }]);
}

/** Chunks of `chunkBytes` of a tensor read from a GGUF file with positioned reads (one buffer reused). */
export function* tensorChunks(file: GGUFFile, name: string, chunkBytes = 1 << 22): Generator<Uint8Array> {
  const info = file.tensor(name);
  if (!info) throw new RangeError(`no tensor ${name} in ${file.path ?? 'the file'}`);
  const buf = new Uint8Array(Math.min(chunkBytes, Math.max(1, info.nBytes)));
  for (let off = 0; off < info.nBytes; off += buf.length) {
    const n = Math.min(buf.length, info.nBytes - off);
    const dst = buf.subarray(0, n);
    const got = file.source.readInto(info.fileOffset + off, dst);
    if (got !== n) throw new GGUFError('TRUNCATED', `short read of tensor ${name}`, info.fileOffset + off + got, file.path);
    yield dst;
  }
}

/** Writes a copy of an open GGUF file (metadata and tensors unchanged): the round trip. */
export async function copyGGUF(file: GGUFFile, path: string, options: GGUFWriteOptions = {}): Promise<GGUFLayout> {
  if (file.version !== 3) throw new RangeError(`only GGUF v3 is written; ${file.path ?? 'the input'} is v${file.version}`);
  return writeGGUF(
    path,
    metadataOf(file),
    file.tensors.map((t) => ({ name: t.name, typeId: t.typeId, shape: t.shape, data: () => tensorChunks(file, t.name) })),
    // A tensorless file shorter than its padded header was written without the padding (gguf-py).
    { padEmptyHeader: file.tensors.length > 0 || file.dataOffset <= file.size, ...options },
  );
}
