/**
 * llama.cpp's grammar sampler through koffi (the libllama that conformance/node_modules bundles),
 * for bench/grammar.mjs: llama_sampler_init_grammar on the model's vocabulary, then per token
 * llama_sampler_apply on a full candidate array (49152 logits) and llama_sampler_accept.
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export async function openLlamaGrammar(modelPath) {
  const { BIN_DIR } = await import(pathToFileURL(path.join(ROOT, 'conformance', 'lib', 'llama-ffi.mjs')).href);
  const koffi = (await import(pathToFileURL(path.join(ROOT, 'conformance', 'node_modules', 'koffi', 'index.js')).href)).default;
  const ggml = koffi.load(path.join(BIN_DIR, 'libggml.v0.5.0.so'));
  const lib = koffi.load(path.join(BIN_DIR, 'libllama.v0.5.0.so'));
  // llama_model_params is passed through untouched (the defaults): an opaque block at least as large as the struct,
  // registered under its name for the signatures below.
  koffi.struct('grammar_bench_model_params', { raw: koffi.array('uint8', 256) });
  const LogCallback = koffi.proto('void grammar_bench_log(int level, const char *text, void *user_data)');
  const f = {
    loadAll: ggml.func('void ggml_backend_load_all_from_path(const char *)'),
    backendInit: lib.func('void llama_backend_init()'),
    logSet: lib.func('void llama_log_set(grammar_bench_log *, void *)'),
    defaults: lib.func('grammar_bench_model_params llama_model_default_params()'),
    load: lib.func('void * llama_model_load_from_file(const char *, grammar_bench_model_params)'),
    vocab: lib.func('void * llama_model_get_vocab(void *)'),
    nVocab: lib.func('int32 llama_vocab_n_tokens(void *)'),
    init: lib.func('void * llama_sampler_init_grammar(void *, const char *, const char *)'),
    apply: lib.func('void llama_sampler_apply(void *, void *)'),
    accept: lib.func('void llama_sampler_accept(void *, int32)'),
    free: lib.func('void llama_sampler_free(void *)'),
  };
  f.loadAll(BIN_DIR);
  f.backendInit();
  const cb = koffi.register(() => {}, koffi.pointer(LogCallback));
  f.logSet(cb, null);
  const model = f.load(modelPath, f.defaults());
  if (!model) throw new Error(`llama.cpp could not load ${modelPath}`);
  const vocab = f.vocab(model);
  const n = f.nVocab(vocab);
  // llama_token_data { int32 id; float logit; float p; } x n, and llama_token_data_array { data*, size, selected, sorted }.
  const data = Buffer.alloc(12 * n);
  const arr = Buffer.alloc(32);
  const dataView = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return {
    nVocab: n,
    initGrammar(source) {
      const s = f.init(vocab, source, 'root');
      if (!s) throw new Error('llama.cpp rejected the grammar');
      return s;
    },
    /** Fills the candidate array from `logits` (every token, in id order). */
    fill(logits) {
      for (let i = 0; i < n; i++) {
        dataView.setInt32(12 * i, i, true);
        dataView.setFloat32(12 * i + 4, logits[i], true);
        dataView.setFloat32(12 * i + 8, 0, true);
      }
      arr.writeBigUInt64LE(koffi.address(data), 0);
      arr.writeBigUInt64LE(BigInt(n), 8);
      arr.writeBigInt64LE(-1n, 16);
      arr.writeUInt8(0, 24);
    },
    /** The grammar sampler alone on the filled candidates. */
    apply: (smpl) => f.apply(smpl, arr),
    accept: (smpl, token) => f.accept(smpl, token),
    /** The grammar sampler on the filled candidates, then accepting `token`. */
    applyAndAccept(smpl, token) {
      f.apply(smpl, arr);
      f.accept(smpl, token);
    },
    /** After applyAndAccept: whether the grammar left token `id` a finite logit (allowed). */
    allowedAfterApply: (id) => Number.isFinite(dataView.getFloat32(12 * id + 4, true)),
    free: (s) => f.free(s),
  };
}
