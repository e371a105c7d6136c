// The browser demo's page logic: the library is the one-file bundle (dist/tsinfer.browser.js).
// document.body.dataset.state is idle | loading | ready | generating | error, for people and for
// test/demo/demo.test.ts; dataset.backend holds the loaded backend's description (JSON).
import { loadModel, platform } from './tsinfer.browser.js';

const $ = (id) => document.getElementById(id);
const isolated = globalThis.crossOriginIsolated === true;
let model;
let messages = [];
let abort;

$('threads').value = String(isolated ? platform.cores() : 1);
$('threads').disabled = !isolated;
document.body.dataset.isolated = String(isolated);
status(
  `${navigator.gpu ? 'WebGPU available' : 'no WebGPU in this browser'}; ${isolated ? `cross-origin isolated: WASM threads up to ${platform.cores()}` : 'not cross-origin isolated: WASM runs without threads (serve with demo/serve.mjs)'}`,
);
setState('idle');

function setState(s) {
  document.body.dataset.state = s;
  $('load').disabled = s === 'loading' || s === 'generating';
  $('send').disabled = !model || s !== 'ready';
  $('stop').disabled = s !== 'generating';
  $('reset').disabled = !model || s !== 'ready';
}

function status(text) {
  $('status').textContent = text;
}

function fail(e) {
  console.error(e);
  const message = e?.message ?? String(e);
  status(`error: ${message}`);
  document.body.dataset.error = message;
  setState(model ? 'ready' : 'error');
}

function mib(n) {
  return `${(n / 2 ** 20).toFixed(1)} MiB`;
}

async function load() {
  const file = $('file').files[0];
  if (!file) return fail(new Error('choose a .gguf file first'));
  setState('loading');
  delete document.body.dataset.error;
  if (model) await model.dispose();
  model = undefined;
  messages = [];
  $('log').textContent = '';
  const choice = $('backend').value;
  const backend = choice === 'auto' ? (navigator.gpu ? 'webgpu' : undefined) : choice;
  const bar = $('progress');
  bar.hidden = false;
  try {
    model = await loadModel(file, {
      backend,
      threads: Number($('threads').value) || 1,
      contextLength: Number($('context').value) || undefined,
      onProgress: (p) => {
        bar.max = p.totalBytes || 1;
        bar.value = p.loadedBytes;
        status(`${p.stage === 'download' ? 'reading file' : `loading weights (${p.tensor})`}: ${mib(p.loadedBytes)}${p.totalBytes ? ` of ${mib(p.totalBytes)}` : ''}`);
      },
    });
  } catch (e) {
    bar.hidden = true;
    return fail(e);
  }
  bar.hidden = true;
  const b = model.info.backend;
  document.body.dataset.backend = JSON.stringify(b);
  const where = b.backend === 'webgpu' ? `WebGPU on ${b.adapter}` : b.backend === 'wasm' ? `WASM, ${b.threads} thread${b.threads === 1 ? '' : 's'}, ${b.build}` : b.backend;
  const mode = model.chatTemplate ? 'chat template from the file' : 'no chat template: your text is continued';
  status(`${file.name}: ${model.info.architecture}, ${(model.info.parameters / 1e6).toFixed(1)}M parameters, ${where}; ${mode}`);
  setState('ready');
}

function bubble(role, text) {
  const div = document.createElement('div');
  div.className = role;
  div.textContent = text;
  $('log').append(div);
  return div;
}

async function send() {
  const text = $('prompt').value;
  if (!model || text.trim() === '') return;
  $('prompt').value = '';
  setState('generating');
  abort = new AbortController();
  bubble('user', model.chatTemplate ? `> ${text}` : text);
  const out = bubble('assistant', '');
  const opts = { temperature: Number($('temperature').value), maxTokens: Number($('maxTokens').value) || undefined, signal: abort.signal };
  let stream;
  if (model.chatTemplate) {
    messages.push({ role: 'user', content: text });
    stream = model.chat(messages, opts);
  } else {
    stream = model.generate(text, opts);
  }
  try {
    for await (const chunk of stream) out.textContent += chunk.text;
    const r = await stream.result;
    if (model.chatTemplate) messages.push({ role: 'assistant', content: r.text });
    const s = r.stats;
    status(
      `${s.generatedTokens} tokens, ${(s.generatedTokens / (s.decodeMs / 1000)).toFixed(1)} tokens/s (prompt ${s.promptTokens} tokens in ${s.prefillMs.toFixed(0)} ms); finish: ${r.finishReason}`,
    );
    out.dataset.done = 'true';
    setState('ready');
  } catch (e) {
    if (model.chatTemplate && messages.at(-1)?.role === 'user') messages.pop();
    out.dataset.done = 'true';
    fail(e);
  }
}

$('load').addEventListener('click', () => load().catch(fail));
$('send').addEventListener('click', () => send().catch(fail));
$('stop').addEventListener('click', () => abort?.abort());
$('reset').addEventListener('click', () => {
  messages = [];
  $('log').textContent = '';
});
$('prompt').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey) {
    e.preventDefault();
    if (!$('send').disabled) send().catch(fail);
  }
});
