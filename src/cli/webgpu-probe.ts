/** Whether this runtime has a WebGPU adapter (`tsinfer info`): a device is created and destroyed. */
import { createGPUContext, destroyGPUContext } from '../kernels/webgpu/device.js';

export interface WebGPUProbe {
  available: boolean;
  adapter?: string;
  shaderF16?: boolean;
  subgroups?: boolean;
  /** Why not, when not available. */
  reason?: string;
}

export async function probeWebGPU(timeoutMs = 10_000): Promise<WebGPUProbe> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from the WebGPU adapter within ${timeoutMs / 1000} s`)), timeoutMs);
  });
  try {
    const ctx = await Promise.race([createGPUContext(), timeout]);
    const { adapterName, adapterF16, subgroups } = ctx;
    destroyGPUContext(ctx);
    return { available: true, adapter: adapterName, shaderF16: adapterF16, subgroups };
  } catch (e) {
    return { available: false, reason: (e as Error).message };
  } finally {
    clearTimeout(timer);
  }
}
