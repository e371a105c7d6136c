/**
 * A TypeScript user of the published package: type-checked with --strict under nodenext without
 * skipLibCheck (test/package/package.test.ts), then run by node: one generation on stories260K.
 */
import {
  AbortError,
  ContextOverflowError,
  GGUFError,
  ModelError,
  dequantize,
  generate,
  loadModel,
  openGGUF,
  quantize,
  GGML_TYPES,
  type FinishReason,
  type GenerateOptions,
  type GenerationResult,
  type LoadModelOptions,
} from 'tsinfer';

const path = process.argv[2];
if (path === undefined) throw new Error('usage: node use.js MODEL.gguf');

const load: LoadModelOptions = { contextLength: 64, kvCacheType: 'f16', onWarning: (m: string) => console.error(m) };
const wasmOnly: LoadModelOptions = { backend: 'wasm', flashAttention: true, threads: 1 };
const gpuOnly: LoadModelOptions = { backend: 'webgpu', shaderF16: false };
void wasmOnly;
void gpuOnly;

const model = await loadModel(path, load);
const opts: GenerateOptions = { temperature: 0, maxTokens: 8, contextShift: true, nKeep: 0, presencePenalty: 0, frequencyPenalty: 0 };
let streamed = '';
const stream = model.generate('Once upon a time', opts);
for await (const chunk of stream) streamed += chunk.text;
const result: GenerationResult = await stream.result;
const reason: FinishReason = result.finishReason;

// An abort's partial result is typed.
const controller = new AbortController();
controller.abort();
let aborted: GenerationResult | undefined;
try {
  await model.complete('x', { signal: controller.signal });
} catch (e) {
  if (e instanceof AbortError) aborted = e.partial;
  else throw e;
}
void aborted;
await model.dispose();

// The one-shot helper and the file reader.
const oneShot = await generate({ model: path, prompt: 'Tom', maxTokens: 3, temperature: 0 }).result;
const file = await openGGUF(path);
const tensors = file.tensors.length;
file.close();

// quantize / dequantize round trip on one Q8_0 block.
const q8 = GGML_TYPES.find((t) => t.name === 'Q8_0')!;
const floats = Float32Array.from({ length: 32 }, (_, i) => i / 8);
const back = dequantize(q8.id, quantize(q8.id, floats, 1, 32), 32);
const errors = [GGUFError, ModelError, ContextOverflowError].map((E) => E.name);

console.log(
  JSON.stringify({ text: result.text, streamed, tokens: result.tokens, reason, oneShot: oneShot.tokens.length, tensors, q8max: Math.max(...back.map((x, i) => Math.abs(x - floats[i]!))), errors }),
);
