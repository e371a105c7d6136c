// Context shift against llama.cpp: greedy generation past a full context with n_keep, on tsinfer
// (re-evaluates the surviving tokens at their new positions) and on llama.cpp through node-llama-cpp
// (eraseContextTokenRanges: llama_memory_seq_rm + seq_add, the keys re-rotated in place, as
// llama.cpp's main does on --context-shift). Prints where the two token sequences first differ.
// llama.cpp also runs a second time evaluating the shortened sequence from scratch at each shift (what
// tsinfer's re-evaluation computes): how far its two runs agree shows how sensitive the model's greedy
// tokens are to the rounding of re-rotated keys.
//   node conformance/context-shift.mjs [MODEL] [--ctx 256] [--n 700] [--keep=0] [--backend reference]
import path from 'node:path';
import { parseArgs } from 'node:util';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const { values, positionals } = parseArgs({ allowPositionals: true, options: { ctx: { type: 'string' }, n: { type: 'string' }, keep: { type: 'string' }, backend: { type: 'string' } } });
const MODEL = positionals[0] ?? path.join(ROOT, '..', 'shared', 'models', 'stories260K.gguf');
const CTX = Number(values.ctx ?? 256);
const N = Number(values.n ?? 700);
const KEEP = Number(values.keep ?? 0);
const PROMPT = 'Once upon a time';

function argmax(a) {
  let b = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[b]) b = i;
  return b;
}

async function llamaCpp(fresh) {
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error, progressLogs: false });
  const model = await llama.loadModel({ modelPath: MODEL, gpuLayers: 0 });
  const context = await model.createContext({ contextSize: CTX, batchSize: 512, threads: 1, flashAttention: false, sequences: 1 });
  if (context.contextSize !== CTX) throw new Error(`llama.cpp made a context of ${context.contextSize}, not ${CTX}`);
  const seq = context.getSequence();
  const prompt = Array.from(model.tokenize(PROMPT, true));
  const keep = KEEP < 0 || KEEP > prompt.length ? prompt.length : Math.min(prompt.length, KEEP + 1);
  const vocab = model.fileInfo.metadata?.tokenizer?.ggml?.tokens?.length;
  const toArray = (map) => {
    const a = new Float32Array(vocab);
    for (const [t, v] of map) a[t] = v;
    return a;
  };
  let res = await seq.controlledEvaluate(prompt.map((t, i) => (i === prompt.length - 1 ? [t, { generateNext: { logits: true } }] : t)));
  let next = argmax(toArray(res[res.length - 1].next.logits));
  const out = [];
  const window = [...prompt];
  let shifts = 0;
  while (out.length < N) {
    out.push(next);
    if (out.length === N) break;
    const nPast = seq.nextTokenIndex;
    if (nPast + 1 >= CTX) {
      const discard = Math.floor((nPast - keep) / 2);
      window.splice(keep, discard);
      if (fresh) {
        await seq.clearHistory();
        await seq.controlledEvaluate([...window]);
      } else {
        await seq.eraseContextTokenRanges([{ start: keep, end: keep + discard }]);
      }
      if (seq.nextTokenIndex !== nPast - discard) throw new Error(`after the shift the sequence is at ${seq.nextTokenIndex}, expected ${nPast - discard}`);
      shifts++;
    }
    window.push(next);
    res = await seq.controlledEvaluate([[next, { generateNext: { logits: true } }]]);
    next = argmax(toArray(res[0].next.logits));
  }
  await context.dispose();
  await model.dispose();
  return { tokens: out, shifts, prompt };
}

async function ours(prompt) {
  const { loadModel } = await import(path.join(ROOT, 'dist', 'index.js'));
  const model = await loadModel(MODEL, { contextLength: CTX, backend: values.backend ?? 'reference' });
  try {
    const r = await model.complete(prompt, { temperature: 0, maxTokens: N, ignoreEos: true, contextShift: true, nKeep: KEEP });
    return r.tokens;
  } finally {
    await model.dispose();
  }
}

const ref = await llamaCpp(false);
const fresh = await llamaCpp(true);
const got = await ours(ref.prompt);
const prefix = (a, b) => {
  let k = 0;
  while (k < N && a[k] === b[k]) k++;
  return k;
};
console.log(
  JSON.stringify({
    model: path.basename(MODEL),
    backend: values.backend ?? 'reference',
    ctx: CTX,
    keep: KEEP,
    generated: N,
    firstShiftAfterToken: CTX - ref.prompt.length,
    shifts: ref.shifts,
    equalPrefix: { tsinferVsLlamaCppInPlace: prefix(got, ref.tokens), tsinferVsLlamaCppFresh: prefix(got, fresh.tokens), llamaCppInPlaceVsFresh: prefix(ref.tokens, fresh.tokens) },
  }),
);
