/**
 * WebGPU device setup for Node (the optional `webgpu` package: Dawn) and for
 * browsers (`navigator.gpu`).
 *
 * In Node, `create([])` returns the GPU object that owns Dawn's native
 * instance; if it is garbage-collected while a device lives, Dawn aborts the
 * process. `GPUContext.gpu` keeps it strongly referenced for the device's
 * lifetime (and `live` keeps every context referenced until dispose()).
 *
 * Limits: the adapter's maxima for the storage-buffer limits are requested.
 * Features: `subgroups` and `shader-f16` are used when present (and can be
 * turned off to exercise the paths without them).
 */
/// <reference types="@webgpu/types" />
import { ModelError } from '../../model/errors.js';

export interface DeviceOptions {
  /** Use subgroup operations when the adapter has them (default true). */
  readonly subgroups?: boolean;
  /**
   * Use `shader-f16` when the adapter has it (default true): native f16 reads
   * of the KV cache (array<f16>), of F16 weights and of the f16 block scales.
   */
  readonly shaderF16?: boolean;
  readonly powerPreference?: 'low-power' | 'high-performance';
}

/*
 * Everything below that names WebGPU's types (GPU, GPUAdapter, GPUDevice from @webgpu/types, a
 * devDependency) is @internal: stripInternal keeps it out of the published declarations, so a
 * TypeScript user does not need @webgpu/types (test/package checks this on the packed tarball).
 */

/** @internal */
export interface GPUContext {
  /** The navigator.gpu / Dawn GPU object, referenced for as long as the device lives. */
  readonly gpu: GPU;
  readonly adapter: GPUAdapter;
  readonly device: GPUDevice;
  readonly subgroups: boolean;
  /** The shader-f16 path is compiled (the adapter has the feature and it was not turned off). */
  readonly shaderF16: boolean;
  /** The adapter has `shader-f16`. */
  readonly adapterF16: boolean;
  readonly adapterName: string;
  /** A software (CPU) implementation: SwiftShader or llvmpipe. Kernels pick shapes without costly barriers there. */
  readonly cpuAdapter: boolean;
  /** Device errors reported asynchronously (validation, out of memory), newest last. */
  readonly errors: string[];
}

/** Buffer usage and map-mode flags (numeric, so no WebGPU globals are needed in Node). */
export const Usage = {
  MAP_READ: 0x1,
  MAP_WRITE: 0x2,
  COPY_SRC: 0x4,
  COPY_DST: 0x8,
  UNIFORM: 0x40,
  STORAGE: 0x80,
} as const;
export const MAP_READ_MODE = 0x1;

const live = new Set<GPUContext>();

/**
 * No WebGPU here: the `webgpu` package is missing in Node, the browser has no
 * navigator.gpu, or no adapter exists. A ModelError (the model cannot be loaded
 * on this backend), so the CLI reports it in one line.
 */
export class WebGPUUnavailableError extends ModelError {}

/** @internal Loads Dawn from the optional `webgpu` package (importer replaceable for tests). */
export async function nodeGPU(importer: (specifier: string) => Promise<unknown> = (s) => import(s)): Promise<GPU> {
  let mod: { create: (flags: string[]) => GPU };
  try {
    // A variable specifier keeps bundlers and tsc from resolving the optional peer dependency.
    const spec = 'webgpu';
    mod = (await importer(spec)) as { create: (flags: string[]) => GPU };
  } catch (e) {
    throw new WebGPUUnavailableError(`the WebGPU backend in Node needs the optional peer dependency "webgpu" (Dawn): run \`npm install webgpu\` next to tsinfer (${(e as Error).message})`);
  }
  return mod.create([]);
}

/** @internal navigator.gpu in a browser (or a runtime that has it), Dawn through the `webgpu` package in Node. */
export async function getGPU(): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  const isNode = typeof process !== 'undefined' && !!process.versions?.node;
  if (!isNode) throw new WebGPUUnavailableError('this browser has no WebGPU (navigator.gpu is undefined)');
  return nodeGPU();
}

/** @internal */
export async function createGPUContext(opts: DeviceOptions = {}): Promise<GPUContext> {
  const gpu = await getGPU();
  const adapter = await gpu.requestAdapter(opts.powerPreference ? { powerPreference: opts.powerPreference } : undefined);
  if (!adapter) {
    throw new WebGPUUnavailableError(
      "no WebGPU adapter: no GPU driver was found. Without a GPU, Dawn can run on SwiftShader's Vulkan driver " +
        '(VK_ICD_FILENAMES=<dir>/vk_swiftshader_icd.json LD_LIBRARY_PATH=<dir>; the README says where to get it), or use another backend (wasm, reference)',
    );
  }
  const subgroups = (opts.subgroups ?? true) && adapter.features.has('subgroups');
  const adapterF16 = adapter.features.has('shader-f16');
  const shaderF16 = (opts.shaderF16 ?? true) && adapterF16;
  const requiredFeatures: GPUFeatureName[] = [];
  if (subgroups) requiredFeatures.push('subgroups' as GPUFeatureName);
  if (shaderF16) requiredFeatures.push('shader-f16');
  const al = adapter.limits;
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: al.maxStorageBufferBindingSize,
    maxBufferSize: al.maxBufferSize,
    maxStorageBuffersPerShaderStage: al.maxStorageBuffersPerShaderStage,
    maxComputeWorkgroupStorageSize: al.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: al.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: al.maxComputeWorkgroupSizeX,
  };
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  const info = (adapter as { info?: GPUAdapterInfo }).info;
  const adapterName = [info?.vendor, info?.architecture, info?.device, info?.description].filter((s) => s).join(' ') || 'unknown adapter';
  const errors: string[] = [];
  device.addEventListener('uncapturederror', (ev) => {
    errors.push((ev as GPUUncapturedErrorEvent).error.message);
  });
  const cpuAdapter = /swiftshader|llvmpipe|lavapipe/i.test(adapterName);
  const ctx: GPUContext = { gpu, adapter, device, subgroups, shaderF16, adapterF16, adapterName, cpuAdapter, errors };
  live.add(ctx);
  return ctx;
}

/** @internal */
export function destroyGPUContext(ctx: GPUContext): void {
  ctx.device.destroy();
  live.delete(ctx);
}
