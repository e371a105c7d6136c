/**
 * The one schema of the WASM backend's op records and control block.
 *
 * The host compiles the model's op list into fixed records of OP_WORDS 32-bit
 * words that every compute thread interprets (assembly/index.ts). Each record
 * starts with the header (code, flags, chunk); the op's own fields follow in
 * the order listed here, one word each (an f64 takes two, 8-byte aligned).
 * From this table:
 *  - scripts/build-wasm.mjs generates assembly/generated/schema.ts: the op
 *    codes (OP_MATMUL ...), flag bits, control-block offsets (C_TOKENS ...)
 *    and one typed accessor per field (Matmul.rows(op), Attention.scale(op));
 *  - encodeOp() below writes a record from an object whose fields TypeScript
 *    checks against the same table (every field named, none missing, none extra).
 *
 * Adding an op: add a row to OPS (a new id, its fields), then a case in the
 * interpreter's two switches (assembly/index.ts: work count and work) and in
 * WasmBackend.compile (backend.ts). Both switches are exhaustive: an op the
 * host does not know is a compile error, one the interpreter does not know
 * aborts the step with "unknown op".
 *
 * This file imports nothing: the build script evaluates it before tsc runs.
 */

/** i32: signed integer; ptr: byte address or byte count (u32, read as usize); bool: 0 or 1; f32, f64: floats. */
export type FieldType = 'i32' | 'ptr' | 'bool' | 'f32' | 'f64';

/** Words per op record. */
export const OP_WORDS = 16;

/** The header every record starts with (words 0, 1, 2). */
export const HEADER = {
  /** The op's id (OPS[name].id). */
  code: 'i32',
  /** OP_FLAGS bits. */
  flags: 'i32',
  /** Work items per chunk handed to a thread; 0 = the interpreter picks. */
  chunk: 'i32',
} as const;

/** Bits of the header's flags word. */
export const OP_FLAGS = {
  /** The op works on the step's output rows (nOut), not on every token row. */
  OUTPUTS: 1,
  /** No barrier after this op (the next op reads and writes nothing this group touched). */
  NOBARRIER: 2,
  /** A quantize feeding a matmul: when small (decode), every thread quantizes all rows itself and no barrier follows. */
  REPLICATE: 4,
} as const;

/** Fields of a row-wise op that also quantizes its output rows for the matmuls reading them (fmt 0: it does not). */
const QUANT_OUT = {
  /** Quantized copy of the output rows. */
  qOut: 'ptr',
  /** Activation format (1 Q8A, 2 Q8_K), 0 when the op quantizes nothing. */
  qFmt: 'i32',
  /** Bytes per quantized row. */
  qRowBytes: 'ptr',
} as const;

/** Every op the interpreter runs: id and fields. */
export const OPS = {
  /**
   * out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight, then optionally its quantization. groups > 1 (per-head
   * norms): each of the row's `groups` runs of width/groups values is normalised on its own with the same weight
   * (no quantization then).
   */
  rmsnorm: { id: 1, fields: { x: 'ptr', weight: 'ptr', out: 'ptr', width: 'i32', eps: 'f64', ...QUANT_OUT, groups: 'i32' } },
  /** Rows of x quantized into out in activation format fmt. */
  quant: { id: 2, fields: { x: 'ptr', out: 'ptr', width: 'i32', fmt: 'i32', rowBytes: 'ptr' } },
  /**
   * out[t][j] = W[j] · x[t] (+ bias[j] when bias is not 0, an f32 add) for rows j of W (weight type `type`, rows of
   * rowBytes); x in the type's activation format.
   */
  matmul: { id: 3, fields: { type: 'i32', w: 'ptr', rowBytes: 'ptr', x: 'ptr', xRowBytes: 'ptr', out: 'ptr', rows: 'i32', cols: 'i32', bias: 'ptr' } },
  /**
   * RoPE of every head of x's rows at their positions; tab: (cos, sin) per position and pair (model/rope.ts).
   * neox: pairs (x[i], x[i + ropeDim/2]) instead of (x[2i], x[2i+1]).
   */
  rope: { id: 4, fields: { x: 'ptr', nHeads: 'i32', headDim: 'i32', ropeDim: 'i32', tab: 'ptr', neox: 'bool' } },
  /**
   * Rows of k and v into the KV cache at their positions. f16: binary16 values (llama.cpp's f16 cache),
   * stored as binary16, or with wide as f32 holding the same values (no conversion when attention reads them).
   */
  kv_store: { id: 5, fields: { k: 'ptr', v: 'ptr', kCache: 'ptr', vCache: 'ptr', width: 'i32', f16: 'bool', wide: 'bool' } },
  /**
   * Causal attention of q's rows over the cache; tasks are tiles of rowsPerTask rows x one KV head.
   * window > 0 (sliding-window layers): the row at position p sees positions p - window + 1 .. p only.
   */
  attention: {
    id: 6,
    fields: {
      q: 'ptr',
      out: 'ptr',
      kCache: 'ptr',
      vCache: 'ptr',
      nHeads: 'i32',
      nKvHeads: 'i32',
      headDim: 'i32',
      scale: 'f32',
      /** binary16 numerics (queries and softmax weights rounded as llama.cpp's f16 cache) */
      f16: 'bool',
      /** with f16: the cache holds its binary16 values as f32 (kv_store's wide) */
      wide: 'bool',
      flash: 'bool',
      rowsPerTask: 'i32',
      window: 'i32',
    },
  },
  /** out = a + b over rows of width floats. */
  add: { id: 7, fields: { a: 'ptr', b: 'ptr', out: 'ptr', width: 'i32' } },
  /** out = silu(gate) * up, then optionally its quantization (then the work is split by rows). */
  silu_mul: { id: 8, fields: { gate: 'ptr', up: 'ptr', out: 'ptr', width: 'i32', ...QUANT_OUT } },
  /** The last nOut rows of x (a tokens buffer) into out. */
  gather_outputs: { id: 9, fields: { x: 'ptr', out: 'ptr', width: 'i32' } },
  /** x += b, then out = RMSNorm(x) (the residual add and the next norm in one pass), then optionally its quantization. */
  add_norm: { id: 10, fields: { x: 'ptr', b: 'ptr', weight: 'ptr', out: 'ptr', width: 'i32', eps: 'f64', ...QUANT_OUT } },
  /** RoPE of k's rows (nHeads heads: the KV heads), then k and v into the cache. */
  rope_store: {
    id: 11,
    fields: { k: 'ptr', v: 'ptr', kCache: 'ptr', vCache: 'ptr', width: 'i32', f16: 'bool', wide: 'bool', nHeads: 'i32', headDim: 'i32', ropeDim: 'i32', tab: 'ptr', neox: 'bool' },
  },
  /** Embedding lookup: row ids[t] of the table (weight type `type`), dequantized, for every token t. */
  embed: { id: 12, fields: { table: 'ptr', rowBytes: 'ptr', type: 'i32', ids: 'ptr', out: 'ptr', width: 'i32' } },
  /**
   * out = gelu(gate) * up as ggml's CPU geglu: |gate| < 10 looks up the gate rounded to binary16 in tab (GELU of
   * every binary16 value, rounded to binary16, as f32: 65536 floats); below 0, above the gate itself. Then
   * optionally its quantization (then the work is split by rows).
   */
  gelu_mul: { id: 13, fields: { gate: 'ptr', up: 'ptr', out: 'ptr', width: 'i32', tab: 'ptr', ...QUANT_OUT } },
  /** out = x * scale over rows of width floats (f32 products). */
  scale: { id: 14, fields: { x: 'ptr', out: 'ptr', width: 'i32', scale: 'f32' } },
  /** x = cap * tanh(x / cap) in place over rows of width floats (each step rounded to f32). */
  softcap: { id: 15, fields: { x: 'ptr', width: 'i32', cap: 'f32' } },
  /** out[r] = x[r][offset .. offset + outWidth) for rows of width floats. */
  slice: { id: 16, fields: { x: 'ptr', out: 'ptr', width: 'i32', offset: 'i32', outWidth: 'i32' } },
} as const;

/** The control block: i32 words at fixed byte offsets, shared by every thread. */
export const CONTROL = {
  /** Barrier arrivals. */
  count: 'i32',
  /** Barrier generation. */
  gen: 'i32',
  /** Threads blocked in atomic.wait. */
  waiters: 'i32',
  /** Set when a thread failed: everyone leaves. */
  abort: 'i32',
  /** Tokens of the step. */
  tokens: 'i32',
  /** Output rows of the step (1, or tokens when every logit row is wanted). */
  outputs: 'i32',
  /** Position of the step's first token. */
  pos: 'i32',
  nOps: 'i32',
  ops: 'ptr',
  /** One work counter per op and thread, COUNTER_BYTES apart. */
  counters: 'ptr',
  /** Per-thread scratch, scratchStride bytes each. */
  scratch: 'ptr',
  scratchStride: 'ptr',
  /** Microseconds a thread spins in a barrier (reading ahead, pausing) before it blocks in atomic.wait. */
  spinUs: 'i32',
  /** 0, or the per-thread profile: [nth][nOps] x (f64 work ms, f64 barrier ms). */
  prof: 'ptr',
  /** An unknown op code met by the interpreter (reported with the abort). */
  badOp: 'i32',
  /** Single-sequence step: byte offset of its sequence's region in every layer's K and V cache. */
  kvOff: 'ptr',
  /**
   * 0 for a single-sequence step; for a multi-sequence step, per token (i32 position, u32 byte
   * offset of its sequence's cache region): rope, the KV store and attention then run per row.
   */
  rows: 'ptr',
  /** Multi-sequence step: the nOut token indices gather_outputs copies, in order. */
  outRows: 'ptr',
  /**
   * Decode attention split across threads (assembly/ops.ts attnScores/attnSoftmax/attnValues): a
   * single-sequence one-token step whose token sees at least this many positions runs attention in
   * three phases with barriers between them; 0: never.
   */
  attnSplit: 'i32',
  /** The split's shared scores: one row of attnStride floats per query head. */
  attnScores: 'ptr',
  attnStride: 'i32',
} as const satisfies Record<string, FieldType>;

/** Bytes of the control block; the thread pool's words live at CONTROL_POOL within it. */
export const CONTROL_BYTES = 256;
export const CONTROL_POOL = 128;

export type OpName = keyof typeof OPS;
type Fields<K extends OpName> = (typeof OPS)[K]['fields'];
type Value<T> = T extends 'bool' ? boolean : number;
/** The fields of one record of op K (header fields except the code, which comes from the name). */
export type OpRecord<K extends OpName> = { -readonly [F in keyof Fields<K>]: Value<Fields<K>[F]> } & { flags: number; chunk: number };

export interface FieldSlot {
  readonly name: string;
  readonly type: FieldType;
  /** Byte offset in the record. */
  readonly offset: number;
}

/** Byte offsets of the header and fields of op `name`'s record, in order. */
export function opLayout(name: OpName): FieldSlot[] {
  const slots: FieldSlot[] = [];
  let word = 0;
  for (const [field, type] of [...Object.entries(HEADER), ...Object.entries(OPS[name].fields)] as [string, FieldType][]) {
    if (type === 'f64' && word % 2) word++;
    slots.push({ name: field, type, offset: word * 4 });
    word += type === 'f64' ? 2 : 1;
  }
  if (word > OP_WORDS) throw new Error(`op ${name} needs ${word} words, more than OP_WORDS (${OP_WORDS})`);
  return slots;
}

/** Byte offset of each control-block word. */
export function controlLayout(): Record<keyof typeof CONTROL, number> {
  const out = {} as Record<keyof typeof CONTROL, number>;
  Object.keys(CONTROL).forEach((k, i) => {
    out[k as keyof typeof CONTROL] = i * 4;
  });
  if (Object.keys(CONTROL).length * 4 > CONTROL_POOL) throw new Error('the control block overlaps the pool words');
  return out;
}

/** Checks the schema itself: unique ids and names that the generated accessors can use. */
export function checkSchema(): void {
  const ids = new Set<number>();
  for (const [name, op] of Object.entries(OPS) as [OpName, (typeof OPS)[OpName]][]) {
    if (!Number.isInteger(op.id) || op.id < 1 || ids.has(op.id)) throw new Error(`op ${name}: id ${op.id} is not a new positive integer`);
    ids.add(op.id);
    for (const f of Object.keys(op.fields)) if (f in HEADER) throw new Error(`op ${name}: field ${f} shadows a header field`);
    opLayout(name);
  }
}

const layouts = new Map<OpName, FieldSlot[]>();

/** Writes op `name`'s record at byte offset `at` of `view` (the whole record: unused words are zeroed). */
export function encodeOp<K extends OpName>(view: DataView, at: number, name: K, rec: OpRecord<K>): void {
  let slots = layouts.get(name);
  if (!slots) layouts.set(name, (slots = opLayout(name)));
  const values = rec as unknown as Record<string, number | boolean>;
  for (let i = 0; i < OP_WORDS; i++) view.setInt32(at + i * 4, 0, true);
  const given = new Set(Object.keys(values));
  for (const s of slots) {
    const v = s.name === 'code' ? OPS[name].id : values[s.name];
    given.delete(s.name);
    if (v === undefined) throw new Error(`op ${name}: field ${s.name} is missing`);
    const n = typeof v === 'boolean' ? Number(v) : v;
    if (!Number.isFinite(n)) throw new Error(`op ${name}: field ${s.name} is ${v}`);
    switch (s.type) {
      case 'f64':
        view.setFloat64(at + s.offset, n, true);
        break;
      case 'f32':
        view.setFloat32(at + s.offset, n, true);
        break;
      case 'ptr':
        if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`op ${name}: field ${s.name} = ${n} is not a 32-bit address or size`);
        view.setUint32(at + s.offset, n, true);
        break;
      case 'i32':
      case 'bool':
        if (!Number.isInteger(n) || n < -0x80000000 || n > 0x7fffffff) throw new Error(`op ${name}: field ${s.name} = ${n} is not a 32-bit integer`);
        view.setInt32(at + s.offset, n, true);
        break;
      default: {
        const never: never = s.type;
        throw new Error(`unknown field type ${String(never)}`);
      }
    }
  }
  if (given.size) throw new Error(`op ${name}: unknown field(s) ${[...given].join(', ')}`);
}

/** Reads field `field` of the record at byte offset `at` (tests, profiles). */
export function readOpField(view: DataView, at: number, name: OpName, field: string): number {
  const s = opLayout(name).find((x) => x.name === field);
  if (!s) throw new Error(`op ${name} has no field ${field}`);
  switch (s.type) {
    case 'f64':
      return view.getFloat64(at + s.offset, true);
    case 'f32':
      return view.getFloat32(at + s.offset, true);
    case 'ptr':
      return view.getUint32(at + s.offset, true);
    default:
      return view.getInt32(at + s.offset, true);
  }
}
