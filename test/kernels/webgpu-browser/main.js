// The browser side of test/kernels/webgpu-browser.test.ts: the library as browsers get it (the
// one-file bundle dist/tsinfer.browser.js), the model loaded from its URL, greedy decoding on
// navigator.gpu. The result goes to window.tsinferResult: { ids, text, adapter, progress } or { error }.
import { loadModel } from '/dist/tsinfer.browser.js';

const params = new URLSearchParams(location.search);
const prompt = params.get('prompt') ?? 'Once upon a time';
const n = Number(params.get('n') ?? 50);

async function run() {
  const stages = new Set();
  const model = await loadModel('/model.gguf', { backend: 'webgpu', contextLength: 128, batchSize: 32, onProgress: (p) => stages.add(p.stage) });
  try {
    const r = await model.complete(prompt, { temperature: 0, maxTokens: n, ignoreEos: true });
    return { ids: r.tokens, text: model.detokenize(r.tokens), adapter: String(model.info.backend.adapter), stages: [...stages] };
  } finally {
    await model.dispose();
  }
}

run().then(
  (r) => {
    window.tsinferResult = r;
    document.getElementById('out').textContent = r.text;
  },
  (e) => {
    window.tsinferResult = { error: String(e?.stack ?? e) };
    document.getElementById('out').textContent = String(e);
  },
);
