/**
 * 1-layer SmolLM2-135M-shaped fixtures (npm run fixtures) on WebGPU against the
 * reference backend: 32 greedy tokens identical (top-1 100 %) and mean KL of
 * the softmax over every position <= 1e-3, for Q8_0 and Q4_K_M.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/index.js';
import { compareRow } from '../helpers/compare.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { HAVE_WEBGPU, requireAdapterUnderCI } from './webgpu-helpers.js';

requireAdapterUnderCI();

const FIXTURES = ['smollm2-135m-1l-q8_0.gguf', 'smollm2-135m-1l-q4_k_m.gguf'].map((f) => path.join(REPO_ROOT, 'fixtures', 'generated', f));
const missing = FIXTURES.filter((f) => !existsSync(f));
if (missing.length) console.warn(`WebGPU fixture tests skipped: ${missing.join(', ')} missing (npm run fixtures)`);

// Token ids of a short English prompt in SmolLM2's vocabulary are not needed: any ids work for a random-weight fixture.
const PROMPT = [1, 504, 2365, 282, 253, 1345, 28, 665];

describe.runIf(HAVE_WEBGPU)('1-layer SmolLM2-shaped fixtures on WebGPU vs reference', () => {
  for (const file of FIXTURES) {
    it.runIf(existsSync(file))(
      `${path.basename(file)}: 32 greedy tokens identical, mean KL <= 1e-3`,
      async () => {
        const gpu = await loadModel(file, { backend: 'webgpu', contextLength: 64 });
        const cpu = await loadModel(file, { backend: 'reference', contextLength: 64 });
        try {
          const want = await cpu.complete(PROMPT, { temperature: 0, maxTokens: 32, ignoreEos: true });
          const got = await gpu.complete(PROMPT, { temperature: 0, maxTokens: 32, ignoreEos: true });
          expect(got.tokens).toEqual(want.tokens);
          const ids = [...PROMPT, ...want.tokens];
          const vocab = cpu.info.hyperparameters.vocabSize;
          const a = await gpu.evaluate(ids);
          const b = await cpu.evaluate(ids);
          let kl = 0;
          let top1 = 0;
          for (let p = 0; p < ids.length; p++) {
            const c = compareRow(b.subarray(p * vocab, (p + 1) * vocab), a.subarray(p * vocab, (p + 1) * vocab));
            kl += c.kl;
            if (c.top1) top1++;
          }
          const d = (gpu as unknown as { backend: { describe(): Record<string, number> } }).backend.describe();
          console.log(
            `${path.basename(file)}: top-1 ${top1}/${ids.length}, mean KL ${(kl / ids.length).toExponential(2)}; GPU ${d.gpuBytes} B, file ${d.fileBytes} B, KV ${d.kvCacheBytes} B, weights read/token ${d.weightBytesPerToken} B`,
          );
          expect(top1).toBe(ids.length);
          expect(kl / ids.length).toBeLessThanOrEqual(1e-3);
          expect(d.gpuBytes!).toBeLessThanOrEqual(d.fileBytes! + d.kvCacheBytes! + 64 * 2 ** 20);
        } finally {
          await gpu.dispose();
          await cpu.dispose();
        }
      },
      600_000,
    );
  }
});
