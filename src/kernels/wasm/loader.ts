/**
 * Loads the WASM backend's module: picks the build variant this engine runs
 * and compiles it once per process.
 *
 * Two builds come from the same AssemblyScript sources (scripts/build-wasm.mjs):
 * `simd` (baseline SIMD128 + threads) and `relaxed-simd` (compiled with the
 * relaxed-simd feature: it holds every kernel in a relaxed and a baseline variant, and
 * variants.ts picks one per weight type). The relaxed build is used only when WebAssembly.validate
 * accepts it and its known-answer self-test (selftest.ts) passes on this
 * engine; otherwise the baseline build is used and `note` says why. On Node
 * whose V8 has relaxed SIMD behind --experimental-wasm-relaxed-simd (Node 20,
 * V8 11.3) the flag is set through node:v8 before validating; other engines
 * skip that step. TSINFER_WASM_BUILD=simd|relaxed-simd (or relaxed) forces a
 * build (relaxed-simd then throws if it cannot be used); simd also leaves the
 * engine's flags alone.
 */
import { WASM_BUILDS } from './generated/binaries.js';
import { f16ToF32 } from '../../quant/index.js';
import { knownAnswerTest, SELF_TEST_BYTES } from './selftest.js';
import { chooseVariants } from './variants.js';
import { base64Bytes, platform } from '../../platform/index.js';

/** The parts of the WebAssembly JS API this backend uses (the project's lib has no DOM types). */
export interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
}
/** A compiled WebAssembly.Module, opaque here. */
export type WasmModule = object;
interface WasmApi {
  Memory: new (d: { initial: number; maximum: number; shared: true }) => WasmMemory;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (m: WasmModule, imports: object) => { exports: unknown };
  validate(bytes: Uint8Array): boolean;
}
export const WA: WasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

export type WasmBuildName = 'simd' | 'relaxed-simd';

export interface WasmBuild {
  /** 'simd' (baseline SIMD128 + threads) or 'relaxed-simd' (relaxed-SIMD int8 dot products too). */
  readonly name: WasmBuildName;
  readonly module: WasmModule;
  readonly bytes: number;
  /** Why a better build was not chosen (empty when the best one is in use). */
  readonly note: string;
  /** How this build was chosen (self-test result, engine flag set, forced by TSINFER_WASM_BUILD). */
  readonly detail: string;
  /** Relaxed-SIMD build: the weight types whose matmuls run the relaxed kernels (bit = type id; variants.ts). */
  readonly relaxedTypes?: number;
  /** Which kernel variant each weight type runs, and why. */
  readonly variants?: string;
}

export interface WasmExports {
  f16Table(): number;
  heapBase(): number;
  activationFormat(type: number): number;
  run(ctl: number, tid: number, nth: number): number;
  abort(ctl: number): void;
  quantizeQ8A(x: number, dst: number, n: number): void;
  quantizeQ8K(x: number, dst: number, n: number): void;
  matmul(type: number, w: number, rowBytes: number, x: number, xRowBytes: number, out: number, n: number, k: number, tokens: number, j0: number, j1: number): void;
  rmsnorm(x: number, w: number, out: number, width: number, eps: number, r0: number, r1: number): void;
  rope(x: number, nHeads: number, headDim: number, ropeDim: number, tab: number, neox: boolean | number, pos0: number, t0: number, t1: number): void;
  /** f16: binary16 storage; half: binary16 values (with f16 false: stored as f32). */
  kvStore(k: number, v: number, kc: number, vc: number, width: number, f16: boolean | number, half: boolean | number, pos0: number, r0: number, r1: number): void;
  attention(
    q: number,
    out: number,
    kc: number,
    vc: number,
    nHeads: number,
    nKv: number,
    headDim: number,
    scale: number,
    f16: boolean | number,
    half: boolean | number,
    flash: boolean | number,
    window: number,
    pos0: number,
    tokens: number,
    rowsPerTask: number,
    scratch: number,
    t0: number,
    t1: number,
  ): void;
  attentionScratch(rowsPerTask: number, group: number, headDim: number, ctx: number): number;
  /** The split decode attention's phases (assembly/ops.ts): tasks of each phase, then scores, softmax, Σ w·V. */
  attnSplitTasks(phase: number, nHeads: number, nKv: number, headDim: number, pLo: number, n: number): number;
  attnScores(
    q: number,
    kc: number,
    nHeads: number,
    nKv: number,
    headDim: number,
    scale: number,
    f16: boolean | number,
    half: boolean | number,
    pLo: number,
    n: number,
    S: number,
    sStride: number,
    scratch: number,
    t0: number,
    t1: number,
  ): void;
  attnSoftmax(S: number, sStride: number, half: boolean | number, pLo: number, n: number, t0: number, t1: number): void;
  attnValues(S: number, sStride: number, vc: number, out: number, nHeads: number, nKv: number, headDim: number, f16: boolean | number, pLo: number, n: number, t0: number, t1: number): void;
  add(a: number, b: number, out: number, i0: number, i1: number): void;
  siluMul(gate: number, up: number, out: number, i0: number, i1: number): void;
  geluMul(gate: number, up: number, out: number, tab: number, i0: number, i1: number): void;
  scaleF32(x: number, out: number, s: number, i0: number, i1: number): void;
  softcap(x: number, cap: number, i0: number, i1: number): void;
  argmax(x: number, n: number): number;
  dequantRow(type: number, w: number, y: number, n: number): void;
  /** nb Q5_0 / Q5_1 file blocks at src to the load-time form `form` (Q8_0, Q5_0U, Q5_1U) at dst, in place forward (dst <= src). */
  expandQ5(form: number, dst: number, src: number, nb: number): void;
  setRelaxedTypes(mask: number): number;
  getRelaxedTypes(): number;
  halvesToF32(src: number, dst: number, n: number): void;
  f32ToF16(x: number): number;
  /** x rounded to the nearest binary16 value (scalar). */
  roundToF16(x: number): number;
  /** n floats (a multiple of 4) rounded to binary16 values four at a time. */
  roundHalves(src: number, dst: number, n: number): void;
  f16ToF32(h: number): number;
}

/** Bytes of the binary16 -> f32 table every instance reads its weight scales from. */
export const F16_TABLE_BYTES = 65536 * 4;
/**
 * The first byte the host may use in every build: the module's static data, then the f16 table at the fixed
 * address util.ts F16_TABLE_AT (64 KiB), so heapBase() = 64 KiB + the table (instantiate checks it).
 */
export const MODULE_HEAP_BASE = 65536 + F16_TABLE_BYTES;

/**
 * Writes the binary16 -> f32 table where the module reads it (exports.f16Table(): one address for
 * every build, so once per memory serves every instance over it). Exact: every finite half is a float.
 */
export function writeF16Table(memory: WasmMemory, exp: Pick<WasmExports, 'f16Table'>): void {
  const tab = new Float32Array(memory.buffer, exp.f16Table(), 65536);
  for (let h = 0; h < 65536; h++) tab[h] = f16ToF32(h);
}

/** Whether this engine has shared memory and SIMD128 (the baseline build's needs). */
export function wasmAvailable(): boolean {
  try {
    return typeof SharedArrayBuffer !== 'undefined' && typeof WA === 'object' && WA.validate(base64Bytes(WASM_BUILDS.simd!));
  } catch {
    return false;
  }
}

/** Runs the known-answer self-test on `module` in a small memory of its own; undefined when it passes. */
export function selfTest(module: WasmModule, expectScale = 1): string | undefined {
  try {
    const pages = Math.ceil((MODULE_HEAP_BASE + SELF_TEST_BYTES) / 65536) + 1;
    const memory = new WA.Memory({ initial: pages, maximum: pages, shared: true });
    const exp = instantiate({ name: 'simd', module, bytes: 0, note: '', detail: '' }, memory);
    writeF16Table(memory, exp);
    return knownAnswerTest(exp, memory, exp.heapBase(), expectScale);
  } catch (e) {
    return `self-test threw: ${e instanceof Error ? e.message : String(e)}`;
  }
}

export interface SelectOptions {
  /** 'auto' (default): relaxed-simd when it validates and passes its self-test, else simd. */
  force?: WasmBuildName | 'auto';
  /** Multiplies the self-test's known answers (tests of the fallback use a wrong one). */
  selfTestScale?: number;
}

/** Chooses and compiles a build (uncached; loadWasmBuild caches its answer). */
export function selectWasmBuild(opts: SelectOptions = {}): WasmBuild {
  const force = opts.force ?? 'auto';
  const simd = (note: string, detail: string): WasmBuild => {
    const bytes = base64Bytes(WASM_BUILDS.simd!);
    if (!WA.validate(bytes)) throw new Error('this JavaScript engine cannot run the WASM backend (needs SIMD128, threads and shared memory)');
    return { name: 'simd', module: platform.compileOptimized(() => new WA.Module(bytes)), bytes: bytes.length, note, detail };
  };
  if (force === 'simd') return simd('', 'forced by TSINFER_WASM_BUILD=simd');
  const reject = (why: string): WasmBuild => {
    if (force === 'relaxed-simd') throw new Error(`the relaxed-SIMD build was asked for (TSINFER_WASM_BUILD) but cannot be used here: ${why}`);
    return simd(`relaxed-SIMD build not used: ${why}`, 'baseline build (relaxed-SIMD build rejected)');
  };
  const b64 = WASM_BUILDS['relaxed-simd'];
  if (!b64) return reject('not in this package');
  const bytes = base64Bytes(b64);
  let flag = false;
  let valid = WA.validate(bytes);
  if (!valid) {
    const set = platform.enableRelaxedSimd();
    flag = set === true;
    if (flag) valid = WA.validate(bytes);
    if (!valid) return reject(`this engine does not validate relaxed SIMD (${flag ? 'even with --experimental-wasm-relaxed-simd' : set})`);
  }
  const module = platform.compileOptimized(() => new WA.Module(bytes));
  const failed = selfTest(module, opts.selfTestScale ?? 1);
  if (failed) return reject(`its self-test failed on this engine: ${failed}`);
  const how = `self-test passed${flag ? '; V8 flag --experimental-wasm-relaxed-simd set at start-up' : ''}`;
  const v = chooseVariants(module, bytes);
  return { name: 'relaxed-simd', module, bytes: bytes.length, note: '', detail: force === 'relaxed-simd' ? `forced by TSINFER_WASM_BUILD; ${how}` : how, relaxedTypes: v.mask, variants: v.summary };
}

const cache = new Map<string, WasmBuild>();

/** TSINFER_WASM_BUILD from the environment (Node), checked. */
function forcedBuild(): WasmBuildName | 'auto' {
  const v = platform.env('TSINFER_WASM_BUILD');
  if (v === undefined || v === '' || v === 'auto') return 'auto';
  if (v === 'simd' || v === 'relaxed-simd') return v;
  if (v === 'relaxed') return 'relaxed-simd';
  throw new Error(`TSINFER_WASM_BUILD must be simd, relaxed-simd (or relaxed) or auto (got "${v}")`);
}

/** The build this process uses (chosen once; TSINFER_WASM_BUILD forces one), or the named one. */
export function loadWasmBuild(which?: WasmBuildName): WasmBuild {
  const force = which ?? forcedBuild();
  let b = cache.get(force);
  if (!b) {
    b = selectWasmBuild({ force });
    cache.set(force, b);
  }
  return b;
}

/** An AssemblyScript string (UTF-16, byte length in the word before it) from the module's static data. */
function wasmString(memory: WasmMemory, ptr: number): string {
  if (!ptr || ptr < 4 || ptr > memory.buffer.byteLength) return '(no message)';
  const bytes = new DataView(memory.buffer).getUint32(ptr - 4, true);
  if (bytes > 4096 || ptr + bytes > memory.buffer.byteLength || bytes % 2) return '(unreadable message)';
  return String.fromCharCode(...new Uint16Array(memory.buffer.slice(ptr, ptr + bytes)));
}

/** An instance over `memory`; once writeF16Table has run on the memory it is ready for the kernels. */
export function instantiate(build: WasmBuild, memory: WasmMemory): WasmExports {
  const instance = new WA.Instance(build.module, {
    env: {
      memory,
      now: () => performance.now(),
      abort: (msg: number) => {
        throw new Error(`wasm abort: ${wasmString(memory, msg)}`);
      },
    },
  });
  const exp = instance.exports as unknown as WasmExports;
  if (exp.heapBase() !== MODULE_HEAP_BASE)
    throw new Error(`the ${build.name} WebAssembly build's heap starts at ${exp.heapBase()}, not at ${MODULE_HEAP_BASE} (loader.ts MODULE_HEAP_BASE, util.ts F16_TABLE_AT)`);
  if (build.relaxedTypes !== undefined) exp.setRelaxedTypes(build.relaxedTypes);
  return exp;
}
