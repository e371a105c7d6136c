/** The backend options of loadModel reach the backend that takes them (flashAttention: wasm; shaderF16: webgpu). */
import { describe, expect, it } from 'vitest';
import { wasmAvailable } from '../../src/kernels/wasm/loader.js';
import { loadModel } from '../../src/model/model.js';
import { readSharedJson, sharedPath } from '../helpers/shared.js';
import { F16_RUN, HAVE_WEBGPU, requireAdapterUnderCI } from '../kernels/webgpu-helpers.js';

const MODEL = sharedPath('models', 'stories260K.gguf');

describe.runIf(wasmAvailable() && !F16_RUN)('flashAttention (wasm)', () => {
  it('switches the wasm attention to the one-pass kernel, which generates the same greedy tokens here', async () => {
    const flash = await loadModel(MODEL, { backend: 'wasm', flashAttention: true });
    const plain = await loadModel(MODEL, { backend: 'wasm' });
    try {
      expect(flash.info.backend.attention).toMatch(/^flash/);
      expect(plain.info.backend.attention).toMatch(/non-flash/);
      const a = await flash.complete('Once upon a time', { temperature: 0, maxTokens: 24 });
      const b = await plain.complete('Once upon a time', { temperature: 0, maxTokens: 24 });
      expect(a.tokens).toEqual(b.tokens);
    } finally {
      await flash.dispose();
      await plain.dispose();
    }
  });
});

requireAdapterUnderCI();
describe.runIf(HAVE_WEBGPU)('shaderF16 (webgpu)', () => {
  // In the webgpu-f16 project the adapter (lavapipe) has shader-f16, so false turns off a path that would be used.
  it("false keeps the path without f16, whose greedy tokens are llama.cpp's", async () => {
    const off = await loadModel(MODEL, { backend: 'webgpu', shaderF16: false });
    try {
      expect(off.info.backend.shaderF16).toBe(F16_RUN ? 'off' : 'no');
      const ref = readSharedJson<{ prompt: string; continuationIds: number[] }[]>('reference', 'stories260K-greedy.json')[0]!;
      const r = await off.complete(ref.prompt, { temperature: 0, maxTokens: 8 });
      expect(r.tokens).toEqual(ref.continuationIds.slice(0, 8));
    } finally {
      await off.dispose();
    }
  }, 240_000);
});
