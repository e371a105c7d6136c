/** The default backend runs every model the engine supports: a shape the wasm kernels refuse falls back to the reference backend. */
import { describe, expect, it } from 'vitest';
import { ModelError } from '../../src/model/errors.js';
import { loadModel } from '../../src/model/model.js';
import { wasmAvailable } from '../../src/kernels/wasm/loader.js';
import { headSize4Model } from '../helpers/tiny-models.js';

const FILE = await headSize4Model();

describe.runIf(wasmAvailable())('head size 4 (the wasm attention needs multiples of 8)', () => {
  it('the default backend falls back to the reference backend with one notice, and generates what the reference backend does', async () => {
    const notices: string[] = [];
    const model = await loadModel(FILE, { onWarning: (m) => notices.push(m) });
    const ref = await loadModel(FILE, { backend: 'reference' });
    try {
      expect(notices).toHaveLength(1);
      expect(notices[0]).toMatch(/^the default wasm backend cannot run this model \(.*head size.*\); using the reference backend$/);
      expect(model.info.backend.backend).toBe('reference');
      const a = await model.complete('Once upon a time', { temperature: 0, maxTokens: 12 });
      const b = await ref.complete('Once upon a time', { temperature: 0, maxTokens: 12 });
      expect(a.tokens).toEqual(b.tokens);
      expect(a.tokens).toHaveLength(12);
    } finally {
      await model.dispose();
      await ref.dispose();
    }
  });

  it('an explicitly requested wasm backend keeps the clear error', async () => {
    await expect(loadModel(FILE, { backend: 'wasm' })).rejects.toThrow(ModelError);
    await expect(loadModel(FILE, { backend: 'wasm' })).rejects.toThrow(/attention with a head size of 4 \(not a multiple of 8\)/);
  });

  it('backend options are checked against the backend that takes them', async () => {
    await expect(loadModel(FILE, { backend: 'reference', flashAttention: true })).rejects.toThrow(/flashAttention is an option of the wasm backend/);
    await expect(loadModel(FILE, { backend: 'wasm', shaderF16: false })).rejects.toThrow(/shaderF16 is an option of the webgpu backend/);
    await expect(loadModel(FILE, { flashAttention: 'yes' as unknown as boolean })).rejects.toThrow(/flashAttention must be a boolean/);
  });
});
