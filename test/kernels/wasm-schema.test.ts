/**
 * The WASM op schema and block layouts: records are encoded only with every
 * named field of their op (none missing, none extra, each in range), every op
 * fits its record, the block layouts match the ggml type table, and the
 * interpreter stops with a message on an op code it does not know.
 */
import { describe, expect, it } from 'vitest';
import { GGML_TYPES } from '../../src/gguf/types.js';
import { BLOCK_LAYOUTS, blockOffsets, f16Fields, INTERNAL_TYPE_IDS, type BlockName } from '../../src/kernels/wasm/layout.js';
import { instantiate, loadWasmBuild, WA, writeF16Table } from '../../src/kernels/wasm/loader.js';
import { CONTROL, CONTROL_BYTES, CONTROL_POOL, controlLayout, encodeOp, HEADER, OP_WORDS, OPS, opLayout, readOpField, type OpName } from '../../src/kernels/wasm/schema.js';

describe('wasm op schema', () => {
  it('every op fits OP_WORDS, ids are unique, fields never overlap and f64 fields are 8-byte aligned', () => {
    const ids = new Set<number>();
    for (const name of Object.keys(OPS) as OpName[]) {
      expect(ids.has(OPS[name].id), name).toBe(false);
      ids.add(OPS[name].id);
      const slots = opLayout(name);
      expect(slots.map((s) => s.name)).toEqual([...Object.keys(HEADER), ...Object.keys(OPS[name].fields)]);
      let end = 0;
      for (const s of slots) {
        expect(s.offset, `${name}.${s.name}`).toBeGreaterThanOrEqual(end);
        if (s.type === 'f64') expect(s.offset % 8, `${name}.${s.name}`).toBe(0);
        end = s.offset + (s.type === 'f64' ? 8 : 4);
      }
      expect(end).toBeLessThanOrEqual(OP_WORDS * 4);
    }
    const c = controlLayout();
    expect(Object.keys(c)).toEqual(Object.keys(CONTROL));
    expect(Math.max(...Object.values(c)) + 4).toBeLessThanOrEqual(CONTROL_POOL);
    expect(CONTROL_POOL + 8).toBeLessThanOrEqual(CONTROL_BYTES);
  });

  it('encodes named fields where the layout says, and rejects missing, unknown and out-of-range fields', () => {
    const view = new DataView(new ArrayBuffer(OP_WORDS * 4 * 2));
    encodeOp(view, 64, 'attention', {
      flags: 2,
      chunk: 1,
      q: 100,
      out: 200,
      kCache: 300,
      vCache: 400,
      nHeads: 9,
      nKvHeads: 3,
      headDim: 64,
      scale: 0.125,
      f16: true,
      wide: true,
      flash: false,
      rowsPerTask: 4,
      window: 32,
    });
    expect(readOpField(view, 64, 'attention', 'window')).toBe(32);
    expect(readOpField(view, 64, 'attention', 'code')).toBe(OPS.attention.id);
    expect(readOpField(view, 64, 'attention', 'nKvHeads')).toBe(3);
    expect(readOpField(view, 64, 'attention', 'scale')).toBe(0.125);
    expect(readOpField(view, 64, 'attention', 'f16')).toBe(1);
    expect(readOpField(view, 64, 'attention', 'wide')).toBe(1);
    expect(readOpField(view, 64, 'attention', 'rowsPerTask')).toBe(4);
    encodeOp(view, 0, 'rmsnorm', { flags: 0, chunk: 0, x: 1, weight: 2, out: 3, width: 576, eps: 1e-5, qOut: 0, qFmt: 0, qRowBytes: 0, groups: 1 });
    expect(readOpField(view, 0, 'rmsnorm', 'eps')).toBe(1e-5);
    const bad = (f: Record<string, unknown>) => () => encodeOp(view, 0, 'add', f as never);
    expect(bad({ flags: 0, chunk: 0, a: 1, b: 2, out: 3 })).toThrow(/field width is missing/);
    expect(bad({ flags: 0, chunk: 0, a: 1, b: 2, out: 3, width: 4, extra: 1 })).toThrow(/unknown field\(s\) extra/);
    expect(bad({ flags: 0, chunk: 0, a: -1, b: 2, out: 3, width: 4 })).toThrow(/not a 32-bit address/);
    expect(bad({ flags: 0, chunk: 0, a: 1, b: 2, out: 3, width: 1.5 })).toThrow(/not a 32-bit integer/);
    expect(bad({ flags: 0, chunk: 0, a: 1, b: 2, out: 3, width: NaN })).toThrow(/width is NaN/);
  });

  it("block layouts add up to the ggml type table's bytes and elements per block; scale fields are where ggml has them", () => {
    for (const name of Object.keys(BLOCK_LAYOUTS) as BlockName[]) {
      if (name === 'Q8A' || name in INTERNAL_TYPE_IDS) continue;
      const t = GGML_TYPES.find((x) => x.name === name)!;
      expect(blockOffsets(name).bytes, name).toBe(t.typeSize);
      expect(BLOCK_LAYOUTS[name].elements, name).toBe(t.blockSize);
    }
    expect(f16Fields('Q2_K')).toEqual([80, 82]);
    expect(f16Fields('Q3_K')).toEqual([108]);
    expect(f16Fields('Q6_K')).toEqual([208]);
    expect(blockOffsets('Q8_K').offsets).toEqual({ d: 0, qs: 4, bsums: 260 });
    // the backend's own types: ids outside ggml's, as many elements per block as the type they store
    for (const [name, id] of Object.entries(INTERNAL_TYPE_IDS)) {
      expect(
        GGML_TYPES.some((x) => x.id === id),
        name,
      ).toBe(false);
      expect(BLOCK_LAYOUTS[name as BlockName].elements, name).toBe(32);
    }
    expect(blockOffsets('Q5_0U').bytes).toBe(34);
    expect(blockOffsets('Q5_1U').bytes).toBe(36);
  });
});

describe('wasm interpreter', () => {
  it('an op code it does not know stops the step with a message (and the code in the control block), never runs on', () => {
    const memory = new WA.Memory({ initial: 16, maximum: 16, shared: true });
    const exp = instantiate(loadWasmBuild('simd'), memory);
    writeF16Table(memory, exp);
    const ctl = exp.heapBase();
    const ops = ctl + CONTROL_BYTES;
    const counters = ops + OP_WORDS * 4;
    const c = controlLayout();
    const w = new Int32Array(memory.buffer);
    w[(ctl + c.tokens) / 4] = 1;
    w[(ctl + c.outputs) / 4] = 1;
    w[(ctl + c.nOps) / 4] = 1;
    w[(ctl + c.ops) / 4] = ops;
    w[(ctl + c.counters) / 4] = counters;
    w[ops / 4] = 99; // no op has this code
    expect(() => exp.run(ctl, 0, 1)).toThrow(/wasm abort: unknown op code in the op list/);
    expect(w[(ctl + c.badOp) / 4]).toBe(99);
  });
});
