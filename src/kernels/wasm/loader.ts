/**
 * Loads the WASM backend's module: picks the build variant this engine runs
 * (feature detection by WebAssembly.validate) and compiles it once per process.
 */
import { WASM_BUILDS } from './generated/binaries.js';
import { f16ToF32 } from '../../quant/index.js';

/** The parts of the WebAssembly JS API this backend uses (the project's lib has no DOM types). */
export interface WasmMemory {
  readonly buffer: SharedArrayBuffer;
}
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface WasmModule {}
interface WasmApi {
  Memory: new (d: { initial: number; maximum: number; shared: true }) => WasmMemory;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (m: WasmModule, imports: object) => { exports: unknown };
  validate(bytes: Uint8Array): boolean;
}
export const WA: WasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

export interface WasmBuild {
  /** 'simd' (baseline SIMD128 + threads). */
  readonly name: string;
  readonly module: WasmModule;
  readonly bytes: number;
  /** Why a better build was not chosen (empty when the best one is in use). */
  readonly note: string;
}

export interface WasmExports {
  init(f16Table: number): void;
  heapBase(): number;
  activationFormat(type: number): number;
  run(ctl: number, tid: number, nth: number): number;
  abort(ctl: number): void;
  quantizeQ8A(x: number, dst: number, n: number): void;
  quantizeQ8K(x: number, dst: number, n: number): void;
  matmul(type: number, w: number, rowBytes: number, x: number, xRowBytes: number, out: number, n: number, k: number, tokens: number, j0: number, j1: number): void;
  rmsnorm(x: number, w: number, out: number, width: number, eps: number, r0: number, r1: number): void;
  rope(x: number, nHeads: number, headDim: number, ropeDim: number, tab: number, pos0: number, t0: number, t1: number): void;
  kvStore(k: number, v: number, kc: number, vc: number, width: number, f16: boolean | number, pos0: number, r0: number, r1: number): void;
  attention(
    q: number, out: number, kc: number, vc: number, nHeads: number, nKv: number, headDim: number, scale: number, f16: boolean | number, flash: boolean | number,
    pos0: number, tokens: number, rowsPerTask: number, scratch: number, t0: number, t1: number,
  ): void;
  attentionScratch(rowsPerTask: number, group: number, headDim: number, ctx: number): number;
  add(a: number, b: number, out: number, i0: number, i1: number): void;
  siluMul(gate: number, up: number, out: number, i0: number, i1: number): void;
  argmax(x: number, n: number): number;
  f32ToF16(x: number): number;
  f16ToF32(h: number): number;
}

let cached: WasmBuild | undefined;

/** Bytes of the binary16 -> f32 table every instance reads its weight scales from. */
export const F16_TABLE_BYTES = 65536 * 4;

/** Writes the binary16 -> f32 table at ptr (exact: every finite half is a float). */
export function writeF16Table(memory: WasmMemory, ptr: number): void {
  const tab = new Float32Array(memory.buffer, ptr, 65536);
  for (let h = 0; h < 65536; h++) tab[h] = f16ToF32(h);
}

/** Whether this engine has shared memory and SIMD128 (the baseline build's needs). */
export function wasmAvailable(): boolean {
  try {
    return typeof SharedArrayBuffer !== 'undefined' && typeof WA === 'object' && WA.validate(Buffer.from(WASM_BUILDS.simd!, 'base64'));
  } catch {
    return false;
  }
}

export function loadWasmBuild(): WasmBuild {
  if (cached) return cached;
  const bytes = Buffer.from(WASM_BUILDS.simd!, 'base64');
  if (!WA.validate(bytes)) throw new Error('this JavaScript engine cannot run the WASM backend (needs SIMD128, threads and shared memory)');
  const note = 'relaxed-SIMD build not shipped: V8 11.3 (Node 20) needs --experimental-wasm-relaxed-simd and miscomputes relaxed dot products in its first tier';
  cached = { name: 'simd', module: new WA.Module(bytes), bytes: bytes.length, note };
  return cached;
}

/** An instance over `memory`; with f16Table (written by writeF16Table) it is ready for the kernels. */
export function instantiate(build: WasmBuild, memory: WasmMemory, f16Table?: number): WasmExports {
  const instance = new WA.Instance(build.module, { env: { memory, now: () => performance.now(), abort: () => { throw new Error('wasm abort'); } } });
  const exp = instance.exports as unknown as WasmExports;
  if (f16Table !== undefined) exp.init(f16Table);
  return exp;
}
