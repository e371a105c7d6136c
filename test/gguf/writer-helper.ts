/**
 * A tiny, test-only GGUF byte builder. It writes exactly what it is told
 * (including things a real writer would refuse: unknown type ids, bool bytes
 * of 2, misaligned offsets, absurd counts) and returns, next to the bytes, the
 * offset of every field so tests can patch a well-formed file into a broken one.
 *
 * Not the library's writer: it deliberately does not validate and does not
 * depend on anything in src/ except for sizing default tensor data.
 */
import { ggmlType } from '../../src/gguf/types.js';

/** GGUF metadata value type ids (spec numbering). */
export const VT = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;
export type VTName = keyof typeof VT;

/** A metadata value to write. `raw` writes arbitrary bytes after an arbitrary type id. */
export type WValue =
  | { t: 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'f64'; v: number }
  | { t: 'u64' | 'i64'; v: number | bigint }
  | { t: 'bool'; v: boolean | number }
  | { t: 'string'; v: string | Uint8Array }
  | { t: 'array'; of: VTName; v: WValue[]; count?: number | bigint }
  | { t: 'raw'; typeId: number; bytes: Uint8Array };

export const u8 = (v: number): WValue => ({ t: 'u8', v });
export const i8 = (v: number): WValue => ({ t: 'i8', v });
export const u16 = (v: number): WValue => ({ t: 'u16', v });
export const i16 = (v: number): WValue => ({ t: 'i16', v });
export const u32 = (v: number): WValue => ({ t: 'u32', v });
export const i32 = (v: number): WValue => ({ t: 'i32', v });
export const f32 = (v: number): WValue => ({ t: 'f32', v });
export const f64 = (v: number): WValue => ({ t: 'f64', v });
export const u64 = (v: number | bigint): WValue => ({ t: 'u64', v });
export const i64 = (v: number | bigint): WValue => ({ t: 'i64', v });
export const bool = (v: boolean | number): WValue => ({ t: 'bool', v });
export const str = (v: string | Uint8Array): WValue => ({ t: 'string', v });
/** An array of `of`; elements are written without their type tag. `count` overrides the written count. */
export const arr = (of: VTName, v: WValue[], count?: number | bigint): WValue => ({ t: 'array', of, v, count });
export const raw = (typeId: number, bytes: Uint8Array | number[] = []): WValue => ({ t: 'raw', typeId, bytes: Uint8Array.from(bytes) });

/** Growable little-endian byte buffer. */
export class ByteWriter {
  private buf = new Uint8Array(256);
  private dv = new DataView(this.buf.buffer);
  length = 0;

  private grow(n: number): number {
    const at = this.length;
    if (at + n > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, at + n));
      next.set(this.buf.subarray(0, at));
      this.buf = next;
      this.dv = new DataView(next.buffer);
    }
    this.length += n;
    return at;
  }
  u8(v: number): number {
    const at = this.grow(1);
    this.dv.setUint8(at, v);
    return at;
  }
  i8(v: number): number {
    const at = this.grow(1);
    this.dv.setInt8(at, v);
    return at;
  }
  u16(v: number): number {
    const at = this.grow(2);
    this.dv.setUint16(at, v, true);
    return at;
  }
  i16(v: number): number {
    const at = this.grow(2);
    this.dv.setInt16(at, v, true);
    return at;
  }
  u32(v: number): number {
    const at = this.grow(4);
    this.dv.setUint32(at, v >>> 0, true);
    return at;
  }
  i32(v: number): number {
    const at = this.grow(4);
    this.dv.setInt32(at, v, true);
    return at;
  }
  f32(v: number): number {
    const at = this.grow(4);
    this.dv.setFloat32(at, v, true);
    return at;
  }
  f64(v: number): number {
    const at = this.grow(8);
    this.dv.setFloat64(at, v, true);
    return at;
  }
  u64(v: number | bigint): number {
    const at = this.grow(8);
    this.dv.setBigUint64(at, BigInt.asUintN(64, BigInt(v)), true);
    return at;
  }
  i64(v: number | bigint): number {
    const at = this.grow(8);
    this.dv.setBigInt64(at, BigInt.asIntN(64, BigInt(v)), true);
    return at;
  }
  bytes(b: Uint8Array): number {
    const at = this.grow(b.length);
    this.buf.set(b, at);
    return at;
  }
  /** u64 length + bytes (UTF-8 for a JS string); returns the offset of the length. */
  string(s: string | Uint8Array): number {
    const b = typeof s === 'string' ? new TextEncoder().encode(s) : s;
    const at = this.u64(b.length);
    this.bytes(b);
    return at;
  }
  /** Zero-pads to a multiple of `alignment`. */
  pad(alignment: number): void {
    const n = (alignment - (this.length % alignment)) % alignment;
    this.grow(n);
  }
  finish(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

/** Writes a value's payload (no type tag). */
export function writePayload(w: ByteWriter, v: WValue): void {
  switch (v.t) {
    case 'u8':
      w.u8(v.v);
      break;
    case 'i8':
      w.i8(v.v);
      break;
    case 'u16':
      w.u16(v.v);
      break;
    case 'i16':
      w.i16(v.v);
      break;
    case 'u32':
      w.u32(v.v);
      break;
    case 'i32':
      w.i32(v.v);
      break;
    case 'f32':
      w.f32(v.v);
      break;
    case 'f64':
      w.f64(v.v);
      break;
    case 'u64':
      w.u64(v.v);
      break;
    case 'i64':
      w.i64(v.v);
      break;
    case 'bool':
      w.u8(typeof v.v === 'number' ? v.v : v.v ? 1 : 0);
      break;
    case 'string':
      w.string(v.v);
      break;
    case 'array':
      w.u32(VT[v.of]);
      w.u64(v.count ?? v.v.length);
      for (const e of v.v) writePayload(w, e);
      break;
    case 'raw':
      w.bytes(v.bytes);
      break;
  }
}

export function typeIdOf(v: WValue): number {
  return v.t === 'raw' ? v.typeId : VT[v.t];
}

export interface TensorSpec {
  name: string | Uint8Array;
  /** ggml type id. */
  type: number;
  /** ggml order (shape[0] = row length). bigint for dimensions beyond 2^53. */
  shape: readonly (number | bigint)[];
  /** Data bytes; by default a deterministic pattern of the tensor's size (when computable). */
  data?: Uint8Array;
  /** Relative data offset to write instead of the computed one. */
  offset?: number | bigint;
  /** n_dims to write instead of shape.length. */
  nDims?: number;
}

export interface BuildOptions {
  version?: number;
  magic?: number;
  /** Padding alignment; defaults to a valid u32 `general.alignment` in the metadata, else 32. */
  alignment?: number;
  tensorCount?: number | bigint;
  kvCount?: number | bigint;
}

export interface KVLayout {
  keyAt: number;
  typeAt: number;
  valueAt: number;
}
export interface TensorLayout {
  at: number;
  nDimsAt: number;
  dimsAt: number[];
  typeAt: number;
  offsetAt: number;
  relOffset: number;
  fileOffset: number;
  nBytes: number;
}
export interface Built {
  bytes: Uint8Array;
  kv: Map<string, KVLayout>;
  /** Keyed by tensor name (in order). */
  tensors: Map<string, TensorLayout>;
  tensorCountAt: number;
  kvCountAt: number;
  /** End of the last tensor info, before padding. */
  headerEnd: number;
  dataOffset: number;
  alignment: number;
}

/** Bytes a tensor of this type and shape occupies, or undefined if not computable. */
export function tensorBytes(type: number, shape: readonly (number | bigint)[]): number | undefined {
  const info = ggmlType(type);
  if (!info || info.removed || shape.length === 0) return undefined;
  let n = 1;
  for (const d of shape) n *= Number(d);
  if (!Number.isSafeInteger(n) || Number(shape[0]) % info.blockSize !== 0) return undefined;
  return (n / info.blockSize) * info.typeSize;
}

/** A deterministic byte pattern (tensor i → distinct contents). */
export function pattern(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Builds a GGUF file: header, metadata, tensor infos, padding, tensor data (each aligned). */
export function buildGGUF(metadata: [string | Uint8Array, WValue][] = [], tensors: TensorSpec[] = [], opts: BuildOptions = {}): Built {
  const w = new ByteWriter();
  w.u32(opts.magic ?? 0x46554747);
  w.u32(opts.version ?? 3);
  const tensorCountAt = w.u64(opts.tensorCount ?? tensors.length);
  const kvCountAt = w.u64(opts.kvCount ?? metadata.length);

  let alignment = opts.alignment;
  if (alignment === undefined) {
    const a = metadata.find(([k]) => k === 'general.alignment')?.[1];
    alignment = a && a.t === 'u32' && a.v > 0 && (a.v & (a.v - 1)) === 0 ? a.v : 32;
  }

  const kv = new Map<string, KVLayout>();
  for (const [key, value] of metadata) {
    const keyAt = w.string(key);
    const typeAt = w.u32(typeIdOf(value));
    const valueAt = w.length;
    writePayload(w, value);
    kv.set(typeof key === 'string' ? key : new TextDecoder().decode(key), { keyAt, typeAt, valueAt });
  }

  const datas: Uint8Array[] = [];
  const rels: number[] = [];
  let rel = 0;
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i]!;
    const data = t.data ?? pattern(tensorBytes(t.type, t.shape) ?? 0, i + 1);
    datas.push(data);
    rels.push(rel);
    rel += Math.ceil(data.length / alignment) * alignment;
  }
  const layouts: [string, Omit<TensorLayout, 'fileOffset'>][] = [];
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i]!;
    const at = w.string(t.name);
    const nDimsAt = w.u32(t.nDims ?? t.shape.length);
    const dimsAt = t.shape.map((d) => w.u64(d));
    const typeAt = w.u32(t.type);
    const relOffset = t.offset === undefined ? rels[i]! : Number(t.offset);
    const offsetAt = w.u64(t.offset ?? rels[i]!);
    const name = typeof t.name === 'string' ? t.name : new TextDecoder().decode(t.name);
    layouts.push([name, { at, nDimsAt, dimsAt, typeAt, offsetAt, relOffset, nBytes: datas[i]!.length }]);
  }
  const headerEnd = w.length;
  w.pad(alignment);
  const dataOffset = w.length;
  for (let i = 0; i < tensors.length; i++) {
    w.bytes(datas[i]!);
    if (i < tensors.length - 1) w.pad(alignment);
  }
  const out = new Map<string, TensorLayout>();
  for (const [name, l] of layouts) out.set(name, { ...l, fileOffset: dataOffset + l.relOffset });
  return { bytes: w.finish(), kv, tensors: out, tensorCountAt, kvCountAt, headerEnd, dataOffset, alignment };
}

/** Little-endian patch helpers (return the buffer for chaining). */
export function setU32(b: Uint8Array, at: number, v: number): Uint8Array {
  new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(at, v >>> 0, true);
  return b;
}
export function setU64(b: Uint8Array, at: number, v: number | bigint): Uint8Array {
  new DataView(b.buffer, b.byteOffset, b.byteLength).setBigUint64(at, BigInt.asUintN(64, BigInt(v)), true);
  return b;
}

/** A small xorshift32 PRNG for reproducible fuzzing. */
export function xorshift32(seed: number): () => number {
  let x = seed >>> 0 || 0x9e3779b9;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}
