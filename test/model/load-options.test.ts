/** The backend options of loadModel reach the backend that takes them (flashAttention: wasm; shaderF16: webgpu). */
import { describe, expect, it } from 'vitest';
import { wasmAvailable } from '../../src/kernels/wasm/loader.js';
import { loadModel } from '../../src/model/model.js';
import { sharedPath } from '../helpers/shared.js';
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
  it('false keeps the path without f16; by default the adapter decides (lavapipe in the webgpu-f16 project has it)', async () => {
    const off = await loadModel(MODEL, { backend: 'webgpu', shaderF16: false });
    const auto = await loadModel(MODEL, { backend: 'webgpu' });
    try {
      const adapterHasF16 = auto.info.backend.shaderF16 === 'yes';
      expect(adapterHasF16).toBe(F16_RUN);
      expect(off.info.backend.shaderF16).toBe(adapterHasF16 ? 'off' : 'no');
      const a = await off.complete('Once upon a time', { temperature: 0, maxTokens: 8 });
      const b = await auto.complete('Once upon a time', { temperature: 0, maxTokens: 8 });
      expect(a.tokens).toEqual(b.tokens);
    } finally {
      await off.dispose();
      await auto.dispose();
    }
  });
});
