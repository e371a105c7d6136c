/**
 * Shared pieces of the WebGPU tests: adapter detection (under CI=true a
 * missing adapter fails, never skips), a seeded RNG whose seed is printed,
 * random GGUF blocks with sane f16 scales, an in-memory GGUF "file" for
 * one-op programs, and error measures against the reference.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import type { GGUFFile, GGUFTensorInfo } from '../../src/gguf/reader.js';
import { MemorySource } from '../../src/gguf/source.js';
import { GGMLType, ggmlType, rowBytes } from '../../src/gguf/types.js';
import { f32ToF16 } from '../../src/quant/index.js';
import { createGPUContext, destroyGPUContext } from '../../src/kernels/webgpu/device.js';
import { WebGPUBackend } from '../../src/kernels/webgpu/backend.js';
import type { Program } from '../../src/model/program.js';

/** Under CI (CI=true, or TSINFER_REQUIRE_WEBGPU=1 as .ci/run sets) a missing adapter fails the WebGPU tests. */
export const CI = process.env.CI === 'true' || process.env.CI === '1' || process.env.TSINFER_REQUIRE_WEBGPU === '1';

/**
 * The shader-f16 configuration (vitest project "webgpu-f16" sets
 * TSINFER_WEBGPU_F16=1): the same test files on Dawn over Mesa's lavapipe,
 * whose adapter has shader-f16, so every kernel runs its f16 variant. The
 * driver comes from scripts/lavapipe.sh (.cache/lavapipe, or the ICD file in
 * TSINFER_LAVAPIPE_ICD); VK_ICD_FILENAMES is pointed at it here, before Dawn
 * starts in this worker. Without an f16 adapter these files skip, or fail under CI.
 */
export const F16_RUN = process.env.TSINFER_WEBGPU_F16 === '1';
if (F16_RUN) {
  const icd = process.env.TSINFER_LAVAPIPE_ICD ?? fileURLToPath(new URL('../../.cache/lavapipe/lvp_icd.json', import.meta.url));
  if (existsSync(icd)) process.env.VK_ICD_FILENAMES = icd;
}

/** Whether a WebGPU adapter is there (one with shader-f16 in the f16 configuration), and why not. */
export async function probeWebGPU(): Promise<{ ok: boolean; why: string; subgroups: boolean; adapter: string }> {
  try {
    const ctx = await createGPUContext();
    const { subgroups, shaderF16, adapterName } = ctx;
    destroyGPUContext(ctx);
    if (F16_RUN && !shaderF16) return { ok: false, why: `the adapter (${adapterName}) has no shader-f16`, subgroups, adapter: adapterName };
    return { ok: true, why: '', subgroups, adapter: adapterName };
  } catch (e) {
    return { ok: false, why: (e as Error).message, subgroups: false, adapter: '' };
  }
}

const probe = await probeWebGPU();
export const HAVE_WEBGPU = probe.ok;
export const HAVE_SUBGROUPS = probe.subgroups;
if (!probe.ok) {
  const hint = F16_RUN
    ? "run scripts/lavapipe.sh (Mesa lavapipe into .cache/lavapipe) and keep the Vulkan loader on LD_LIBRARY_PATH (its dir, or scripts/swiftshader.sh's)"
    : 'run scripts/swiftshader.sh and set VK_ICD_FILENAMES=<dir>/vk_swiftshader_icd.json LD_LIBRARY_PATH=<dir>';
  console.warn(`WebGPU${F16_RUN ? ' shader-f16' : ''} tests ${CI ? 'FAIL' : 'skipped'}: ${probe.why} (${hint})`);
} else if (F16_RUN) {
  console.log(`WebGPU shader-f16 configuration on ${probe.adapter}`);
}

/** Registers a test that fails under CI when there is no adapter (call once per file). */
export function requireAdapterUnderCI(): void {
  it(`has a WebGPU adapter${F16_RUN ? ' with shader-f16' : ''} (required under CI=true)`, () => {
    if (CI) expect(probe.why, `no WebGPU${F16_RUN ? ' shader-f16' : ''} adapter under CI`).toBe('');
  });
  if (F16_RUN && probe.ok) {
    it('compiles the shader-f16 path on this adapter', async () => {
      const ctx = await createGPUContext();
      try {
        expect(ctx.shaderF16).toBe(true);
        expect(ctx.device.features.has('shader-f16')).toBe(true);
      } finally {
        destroyGPUContext(ctx);
      }
    });
  }
}

/** Subgroup settings to test: with (when the adapter has them) and without. */
export const SUBGROUP_PATHS: boolean[] = HAVE_SUBGROUPS ? [true, false] : [false];

/** mulberry32; the seed comes from TSINFER_SEED or the clock and is printed. */
export function seededRandom(label: string): { seed: number; rand: () => number; normal: () => number } {
  const seed = process.env.TSINFER_SEED ? Number(process.env.TSINFER_SEED) : (Date.now() ^ (Math.random() * 2 ** 31)) >>> 0;
  console.log(`${label}: seed ${seed} (TSINFER_SEED=${seed} reproduces)`);
  let a = seed >>> 0;
  const rand = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const normal = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  return { seed, rand, normal };
}

/** Byte offsets of the f16 scale/min fields in one block of each quantized type. */
const F16_FIELDS: Record<number, number[]> = {
  [GGMLType.Q4_0]: [0],
  [GGMLType.Q4_1]: [0, 2],
  [GGMLType.Q5_0]: [0],
  [GGMLType.Q5_1]: [0, 2],
  [GGMLType.Q8_0]: [0],
  [GGMLType.Q2_K]: [80, 82],
  [GGMLType.Q3_K]: [108],
  [GGMLType.Q4_K]: [0, 2],
  [GGMLType.Q5_K]: [0, 2],
  [GGMLType.Q6_K]: [208],
};

/** Random tensor bytes of a type: random quants, f16 scales of sane size (|d| in [1e-3, 1e-2]). */
export function randomTensor(typeId: number, cols: number, rows: number, rand: () => number, normal: () => number): Uint8Array {
  const t = ggmlType(typeId)!;
  const n = rowBytes(t, cols) * rows;
  const bytes = new Uint8Array(n);
  const dv = new DataView(bytes.buffer);
  if (typeId === GGMLType.F32) {
    for (let i = 0; i < cols * rows; i++) dv.setFloat32(i * 4, normal() * 0.1, true);
    return bytes;
  }
  if (typeId === GGMLType.F16) {
    for (let i = 0; i < cols * rows; i++) dv.setUint16(i * 2, f32ToF16(normal() * 0.1), true);
    return bytes;
  }
  for (let i = 0; i < n; i++) bytes[i] = (rand() * 256) | 0;
  const fields = F16_FIELDS[typeId]!;
  for (let b = 0; b < n; b += t.typeSize) {
    for (const f of fields) dv.setUint16(b + f, f32ToF16((rand() < 0.5 ? -1 : 1) * (1e-3 + rand() * 9e-3)), true);
  }
  return bytes;
}

export interface FakeTensor {
  readonly name: string;
  readonly typeId: number;
  readonly shape: number[];
  readonly bytes: Uint8Array;
}

/** An in-memory GGUF file holding just these tensors (what a backend's init reads: tensor(), readTensor(), source). */
export function fakeFile(tensors: FakeTensor[]): GGUFFile {
  let off = 0;
  const infos: GGUFTensorInfo[] = [];
  for (const t of tensors) {
    off = Math.ceil(off / 32) * 32;
    const type = ggmlType(t.typeId)!;
    infos.push({ name: t.name, typeId: t.typeId, type, shape: t.shape, nElements: t.shape.reduce((a, b) => a * b, 1), nBytes: t.bytes.length, relativeOffset: off, fileOffset: off });
    off += t.bytes.length;
  }
  const data = new Uint8Array(off + 8);
  tensors.forEach((t, i) => {
    data.set(t.bytes, infos[i]!.fileOffset);
  });
  const source = new MemorySource(data);
  const byName = new Map(infos.map((i) => [i.name, i]));
  return {
    source,
    size: data.length,
    tensor: (name: string) => byName.get(name),
    readTensor: (info: GGUFTensorInfo) => data.slice(info.fileOffset, info.fileOffset + info.nBytes),
  } as unknown as GGUFFile;
}

/** A WebGPU backend initialised on a one-op (or few-op) program over fake tensors. */
export async function opBackend(
  program: Program,
  tensors: FakeTensor[],
  opts: { subgroups: boolean; maxBatch: number; contextLength?: number; matmulThreadsPerRow?: number; splitKv?: boolean; prefillTiles?: boolean; maxBindingBytes?: number },
): Promise<WebGPUBackend> {
  const { subgroups, matmulThreadsPerRow, splitKv, prefillTiles, maxBindingBytes } = opts;
  const b = new WebGPUBackend({ subgroups, matmulThreadsPerRow, splitKv, prefillTiles, maxBindingBytes });
  await b.init({ file: fakeFile(tensors), program, contextLength: opts.contextLength ?? 64, maxBatch: opts.maxBatch });
  return b;
}

/** Largest |got - want| / scale[i] (scale: a per-element error scale, e.g. the sum of |w·x| terms). */
export function maxScaledError(got: ArrayLike<number>, want: ArrayLike<number>, scale: ArrayLike<number> | number): { err: number; at: number } {
  let err = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const s = typeof scale === 'number' ? scale : scale[i]!;
    const e = Math.abs(got[i]! - want[i]!) / s;
    if (!(e <= err)) {
      err = e;
      at = i;
      if (Number.isNaN(e)) break;
    }
  }
  return { err, at };
}
