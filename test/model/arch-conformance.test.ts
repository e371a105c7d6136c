/**
 * Every architecture's 1-layer fixture (scripts/arch-fixtures.mjs, generated here
 * when missing) against llama.cpp's stored outputs (test/fixtures/arch-llama-cpp.json,
 * written by `node conformance/arch.mjs --store ...`, provenance inside), so CI needs no
 * llama.cpp: at every prompt position the argmax equals llama.cpp's and its 16 largest
 * logits are within 2e-3; the 64-token greedy continuation of the first prompt is checked
 * by evaluating the prompt followed by llama.cpp's continuation in one batch: the argmax
 * after every prefix must be llama.cpp's next token (what a greedy run produces, token by
 * token). conformance/arch.mjs runs the real greedy loop on both prompts.
 * On the reference and WASM backends always, on WebGPU where an adapter is found.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/index.js';
import type { BackendName } from '../../src/kernels/index.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { HAVE_WEBGPU } from '../kernels/webgpu-helpers.js';

interface Stored {
  provenance: string;
  sets: Record<string, { file: string; prompts: number[][]; runs: { top: { ids: number[]; logits: number[] }[]; greedy: number[] }[] }>;
}
const stored = JSON.parse(readFileSync(path.join(REPO_ROOT, 'test', 'fixtures', 'arch-llama-cpp.json'), 'utf8')) as Stored;
const SETS = Object.keys(stored.sets);

function argmax(a: Float32Array): number {
  let b = 0;
  for (let i = 1; i < a.length; i++) if (a[i]! > a[b]!) b = i;
  return b;
}

const backends: BackendName[] = HAVE_WEBGPU ? ['reference', 'wasm', 'webgpu'] : ['reference', 'wasm'];

describe('architectures against stored llama.cpp outputs (1-layer fixtures)', () => {
  let paths: Record<string, string> = {};
  beforeAll(async () => {
    // @ts-expect-error: plain ESM script without type declarations
    const { ensureArchFixtures, archFixturePath } = await import('../../scripts/arch-fixtures.mjs');
    await ensureArchFixtures({ sets: SETS });
    paths = Object.fromEntries(SETS.map((s) => [s, archFixturePath(s) as string]));
  }, 300_000);

  it('stores all five architectures, and YaRN (positions past its original context of 32)', () => {
    expect(SETS.sort()).toEqual(['gemma3-1l', 'llama-rope-1l', 'llama-yarn-1l', 'phi3-narrow-1l', 'qwen2-1l', 'qwen2-yarn-1l', 'qwen3-1l']);
  });

  for (const backend of backends) {
    for (const set of SETS) {
      it(`${set} on ${backend}: logits and 64 greedy tokens as llama.cpp`, async () => {
        const m = await loadModel(paths[set]!, { backend, contextLength: 128 });
        try {
          expect(m.info.backend.backend).toBe(backend);
          const vocab = m.info.hyperparameters.vocabSize;
          const { prompts, runs } = stored.sets[set]!;
          for (let p = 0; p < prompts.length; p++) {
            const prompt = prompts[p]!;
            const { top, greedy } = runs[p]!;
            expect(greedy).toHaveLength(64);
            // The greedy continuation of the first prompt only (each token costs a full output projection).
            const ids = p === 0 ? [...prompt, ...greedy.slice(0, -1)] : prompt;
            const all = await m.evaluate(ids);
            let maxAbs = 0;
            let top1 = 0;
            let same = 0;
            for (let k = 0; k < ids.length; k++) {
              const row = all.subarray(k * vocab, (k + 1) * vocab);
              if (k < prompt.length) {
                const t = top[k]!;
                if (argmax(row) === t.ids[0]) top1++;
                t.ids.forEach((id, i) => {
                  maxAbs = Math.max(maxAbs, Math.abs(row[id]! - t.logits[i]!));
                });
              }
              if (k >= prompt.length - 1 && same === k - prompt.length + 1 && argmax(row) === greedy[same]) same++;
            }
            console.log(
              `${set} ${backend} prompt ${p}: top-1 ${top1}/${prompt.length}, max |Δ| of llama.cpp's top-16 logits ${maxAbs.toExponential(2)}${p === 0 ? `, greedy ${same}/${greedy.length}` : ''}`,
            );
            expect(top1).toBe(prompt.length);
            if (p === 0) expect(same).toBe(greedy.length);
            expect(maxAbs).toBeLessThan(2e-3);
          }
        } finally {
          await m.dispose();
        }
        // WebGPU on SwiftShader takes a minute to upload a 1-layer F32 model on a loaded 2-vCPU machine.
      }, 900_000);
    }
  }
});
