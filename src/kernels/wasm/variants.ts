/**
 * Per weight type, which kernel variant the relaxed-SIMD build runs: `relaxed`
 * (relaxed int8 dot products) or `baseline` (the baseline build's kernels,
 * compiled into the same module). Both give bit-identical results; which is
 * faster depends on the engine and the CPU (on one Intel Xeon the baseline
 * kernels were 8-10 % faster, on an AMD Zen 5 the relaxed ones were equal or
 * faster), so the loader measures it at start-up: for every type the
 * self-test covers, one cache-resident matmul at one token (decode) and at a
 * 16-token tile (prompt processing), the two variants alternating, the fastest
 * of seven rounds of on-CPU time compared (baseline chosen only when clearly faster). The answer is a mask (bit = ggml type id) the module's
 * `setRelaxedTypes` takes; `instantiate` sets it on every instance.
 *
 * TSINFER_WASM_RELAXED_TYPES forces it: `all`, `none`, `auto` (measure), or a
 * comma list of type names that run relaxed (the others baseline).
 */
import { GGMLType, ggmlType, ggmlTypeName, rowBytes } from '../../gguf/types.js';
import { platform } from '../../platform/index.js';
import { BLOCK_LAYOUTS, blockOffsets, Q8A_EXTRA_BYTES } from './layout.js';
import { knownAnswerTest, SELF_TEST_BYTES, SELF_TEST_CASES, signal, weightBytes } from './selftest.js';
import { instantiate, MODULE_HEAP_BASE, WA, writeF16Table, type WasmExports, type WasmMemory, type WasmModule } from './loader.js';

/** The per-type choice. */
export interface VariantChoice {
  /** Bit t set: weight type t runs the relaxed variant. */
  readonly mask: number;
  /** One line: each type's variant, and how it was chosen. */
  readonly summary: string;
  /** Per type measured: fastest microseconds per call, baseline and relaxed, at 1 and 16 tokens. */
  readonly timings: { type: string; baseline: [number, number]; relaxed: [number, number] }[];
}

/** The types the variants exist for (those the self-test checks). */
export const VARIANT_TYPES: readonly number[] = SELF_TEST_CASES.map(([t]) => t);

const ALL = VARIANT_TYPES.reduce((m, t) => m | (1 << t), 0) >>> 0;

/** One line naming each type's variant. */
export function describeMask(mask: number, how: string): string {
  const r = VARIANT_TYPES.filter((t) => (mask >>> t) & 1).map(ggmlTypeName);
  const b = VARIANT_TYPES.filter((t) => !((mask >>> t) & 1)).map(ggmlTypeName);
  return `relaxed: ${r.join(' ') || 'none'}; baseline: ${b.join(' ') || 'none'} (${how})`;
}

/** TSINFER_WASM_RELAXED_TYPES parsed: a mask, or 'auto'. */
export function forcedVariants(v = platform.env('TSINFER_WASM_RELAXED_TYPES')): number | 'auto' {
  if (v === undefined || v === '' || v === 'auto') return 'auto';
  if (v === 'all') return ALL;
  if (v === 'none') return 0;
  let mask = 0;
  for (const name of v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const t = VARIANT_TYPES.find((id) => ggmlTypeName(id).toLowerCase() === name.toLowerCase());
    if (t === undefined) {
      throw new Error(`TSINFER_WASM_RELAXED_TYPES: "${name}" is not a type with two kernel variants (${VARIANT_TYPES.map(ggmlTypeName).join(', ')}), nor all, none or auto`);
    }
    mask |= 1 << t;
  }
  return mask >>> 0;
}

/** Bytes of memory the measurement needs after `base`. */
export const VARIANT_BENCH_BYTES = 1 << 20;
const COLS = 2048;
const ROWS = 64;
const TILE_TOKENS = 16;
const WARM = 20;
const ROUNDS = 7;
/**
 * How much faster (summed time ratio) the baseline kernels must be to be chosen over the relaxed ones.
 * Where both are the same code (Q8_0) or within noise, the choice is then the same on every start
 * instead of a coin toss that the cache would keep.
 */
const BASELINE_MARGIN = 0.03;

/** The fastest sample: interference (another job, a slower shared core) only ever adds time. */
const fastest = (a: number[]): number => Math.min(...a);

/** On-CPU time of the calling thread in microseconds where the platform has it (Node), else wall time. */
function cpuMicros(): number {
  const p = (globalThis as { process?: { cpuUsage?: () => { user: number; system: number } } }).process;
  if (p?.cpuUsage) {
    const u = p.cpuUsage();
    return u.user + u.system;
  }
  return performance.now() * 1000;
}

/**
 * Measures both variants of every type with the kernels of `exp` (initialised, f16 table set, in
 * `memory`), using VARIANT_BENCH_BYTES from `base`, and returns the faster one per type (relaxed unless the
 * baseline is BASELINE_MARGIN faster: the engine's own choice of instructions). Leaves the module's mask at the answer.
 */
export function measureVariants(exp: WasmExports, memory: WasmMemory, base: number): VariantChoice {
  const timings: VariantChoice['timings'] = [];
  let mask = 0;
  for (const typeId of VARIANT_TYPES) {
    const info = ggmlType(typeId)!;
    const fmt = exp.activationFormat(typeId);
    const rb = rowBytes(info, COLS);
    const xRowBytes = fmt === 1 ? (COLS / BLOCK_LAYOUTS.Q8A.elements) * (blockOffsets('Q8A').bytes + Q8A_EXTRA_BYTES) : rowBytes(ggmlType(GGMLType.Q8_K)!, COLS);
    const wp = base;
    const xf = wp + ROWS * rb;
    const xq = xf + TILE_TOKENS * COLS * 4;
    const out = xq + TILE_TOKENS * xRowBytes;
    if (out + TILE_TOKENS * ROWS * 4 > base + VARIANT_BENCH_BYTES) throw new Error(`${info.name}: variant measurement memory too small`);
    new Uint8Array(memory.buffer, wp, ROWS * rb).set(weightBytes(typeId, ROWS * rb, 3 + typeId));
    new Float32Array(memory.buffer, xf, TILE_TOKENS * COLS).set(signal(TILE_TOKENS * COLS, 2000 + typeId));
    for (let t = 0; t < TILE_TOKENS; t++) {
      if (fmt === 1) exp.quantizeQ8A(xf + t * COLS * 4, xq + t * xRowBytes, COLS);
      else exp.quantizeQ8K(xf + t * COLS * 4, xq + t * xRowBytes, COLS);
    }
    const call = (tokens: number) => exp.matmul(typeId, wp, rb, xq, xRowBytes, out, ROWS, COLS, tokens, 0, ROWS);
    // warm both variants up (the engine's optimising tier), then alternate them
    for (const m of [0, 1 << typeId]) {
      exp.setRelaxedTypes(m);
      for (let i = 0; i < WARM; i++) call(i & 1 ? TILE_TOKENS : 1);
    }
    const t: number[][][] = [
      [[], []],
      [[], []],
    ]; // [variant][tokens 1 | 16][round]
    for (let r = 0; r < ROUNDS; r++) {
      for (const v of r & 1 ? [1, 0] : [0, 1]) {
        exp.setRelaxedTypes(v ? 1 << typeId : 0);
        for (const [k, tokens] of [
          [0, 1],
          [1, TILE_TOKENS],
        ] as const) {
          const reps = tokens === 1 ? 8 : 1;
          const c0 = cpuMicros();
          for (let i = 0; i < reps; i++) call(tokens);
          t[v]![k]!.push((cpuMicros() - c0) / reps);
        }
      }
    }
    const b: [number, number] = [fastest(t[0]![0]!), fastest(t[0]![1]!)];
    const rx: [number, number] = [fastest(t[1]![0]!), fastest(t[1]![1]!)];
    timings.push({ type: info.name, baseline: b, relaxed: rx });
    // decode and prompt processing weigh alike: time per token-row in each, summed
    if (rx[0] / b[0] + rx[1] / b[1] <= 2 * (1 + BASELINE_MARGIN)) mask |= 1 << typeId;
  }
  mask >>>= 0;
  exp.setRelaxedTypes(mask);
  return { mask, summary: describeMask(mask, 'measured at start-up'), timings };
}

/**
 * The per-type choice for a relaxed-SIMD module whose relaxed kernels passed the self-test: its
 * baseline kernels are self-tested too (a type runs baseline only when they pass), then
 * TSINFER_WASM_RELAXED_TYPES or the measurement decides.
 */
export function chooseVariants(module: WasmModule, bytes: Uint8Array): VariantChoice {
  const forced = forcedVariants();
  const pages = Math.ceil((MODULE_HEAP_BASE + SELF_TEST_BYTES + VARIANT_BENCH_BYTES) / 65536) + 1;
  const memory = new WA.Memory({ initial: pages, maximum: pages, shared: true });
  const exp = instantiate({ name: 'relaxed-simd', module, bytes: 0, note: '', detail: '', relaxedTypes: 0 }, memory) as WasmExports;
  writeF16Table(memory, exp);
  exp.setRelaxedTypes(0);
  const baselineFailed = knownAnswerTest(exp, memory, exp.heapBase());
  if (baselineFailed) {
    if (forced !== 'auto' && forced !== ALL) throw new Error(`TSINFER_WASM_RELAXED_TYPES asks for baseline kernels, which failed their self-test here: ${baselineFailed}`);
    exp.setRelaxedTypes(ALL);
    return { mask: ALL, summary: describeMask(ALL, `baseline kernels failed their self-test: ${baselineFailed}`), timings: [] };
  }
  if (forced !== 'auto') return { mask: forced, summary: describeMask(forced, 'forced by TSINFER_WASM_RELAXED_TYPES'), timings: [] };
  // once per CPU, engine and binary; "optimized": measured since the loader compiles the module optimized up front
  // (platform.compileOptimized; before, the first timings could run V8's baseline code), so older entries are measured again
  const key = `${platform.machineId()}; module ${fnv1a(bytes)}; optimized`;
  const cached = readCached(key);
  if (cached !== undefined) {
    exp.setRelaxedTypes(cached);
    return { mask: cached, summary: describeMask(cached, `measured once on this CPU, cached in ${CACHE_NAME}`), timings: [] };
  }
  const choice = measureVariants(exp, memory, exp.heapBase() + SELF_TEST_BYTES);
  writeCached(key, choice);
  return choice;
}

const CACHE_NAME = 'kernel-variants.json';

/** FNV-1a of the module's bytes, so a rebuilt module is measured again. */
function fnv1a(b: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

function readCache(): Record<string, { mask: number; date: string; timings: VariantChoice['timings'] }> {
  try {
    const j = JSON.parse(platform.readCache(CACHE_NAME) ?? '{}') as unknown;
    return j && typeof j === 'object' ? (j as ReturnType<typeof readCache>) : {};
  } catch {
    return {};
  }
}
function readCached(key: string): number | undefined {
  const e = readCache()[key];
  return e && Number.isInteger(e.mask) && e.mask >>> 0 === e.mask && (e.mask & ~ALL) === 0 ? e.mask : undefined;
}
function writeCached(key: string, c: VariantChoice): void {
  platform.writeCache(CACHE_NAME, JSON.stringify({ ...readCache(), [key]: { mask: c.mask, date: new Date().toISOString(), timings: c.timings } }, null, 1));
}
