// The browser side of test/kernels/webgpu-browser.test.ts: the library's ES modules (dist/) as
// they are, the model fetched over HTTP, greedy decoding on navigator.gpu. The result goes to
// window.tsinferResult: { ids, text, adapter } or { error }.
import { parseGGUFBytes } from '/dist/gguf/reader.js';
import { buildLlamaProgram, llamaHyperparameters } from '/dist/model/llama.js';
import { SpmTokenizer } from '/dist/tokenizer/index.js';
import { WebGPUBackend } from '/dist/kernels/webgpu/backend.js';

const params = new URLSearchParams(location.search);
const prompt = params.get('prompt') ?? 'Once upon a time';
const n = Number(params.get('n') ?? 50);

async function run() {
  const bytes = new Uint8Array(await (await fetch('/model.gguf')).arrayBuffer());
  const file = parseGGUFBytes(bytes);
  const tok = SpmTokenizer.fromMetadata((key) => file.get(key));
  const program = buildLlamaProgram(llamaHyperparameters(file), 'f16');
  const backend = new WebGPUBackend();
  await backend.init({ file, program, contextLength: 128, maxBatch: 32 });
  try {
    const promptIds = tok.encode(prompt, { addSpecial: true });
    let next = await backend.forwardArgmax({ tokens: Int32Array.from(promptIds), pos: 0, allLogits: false });
    const ids = [next];
    for (let i = 1; i < n; i++) {
      next = await backend.forwardArgmax({ tokens: Int32Array.of(next), pos: promptIds.length + i - 1, allLogits: false });
      ids.push(next);
    }
    return { ids, text: tok.decode(ids), adapter: String(backend.describe().adapter), counters: backend.getCounters() };
  } finally {
    backend.dispose();
  }
}

run().then(
  (r) => { window.tsinferResult = r; document.getElementById('out').textContent = r.text; },
  (e) => { window.tsinferResult = { error: String(e && e.stack || e) }; document.getElementById('out').textContent = String(e); },
);
