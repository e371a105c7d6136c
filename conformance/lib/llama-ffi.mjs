// koffi bindings to the libllama that @node-llama-cpp/linux-x64 bundles (llama.cpp v0.5.0):
// just what the harness needs that node-llama-cpp does not expose (llama_model_quantize).
import koffi from 'koffi';
import path from 'node:path';
import { readFileSync } from 'node:fs';

export const BIN_DIR = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'node_modules', '@node-llama-cpp', 'linux-x64', 'bins', 'linux-x64');
export const LLAMA_CPP_RELEASE = JSON.parse(readFileSync(path.join(BIN_DIR, '_nlcBuildMetadata.json'), 'utf8')).buildOptions.llamaCpp.release;

let lib;
let fns;
function load() {
  if (fns) return fns;
  const ggml = koffi.load(path.join(BIN_DIR, 'libggml.v0.5.0.so'));
  lib = koffi.load(path.join(BIN_DIR, 'libllama.v0.5.0.so'));
  const LogCallback = koffi.proto('void ggml_log_callback(int level, const char *text, void *user_data)');
  // struct llama_model_quantize_params of include/llama.h at v0.5.0
  koffi.struct('llama_model_quantize_params', {
    nthread: 'int32',
    ftype: 'int',
    output_tensor_type: 'int',
    token_embedding_type: 'int',
    allow_requantize: 'bool',
    quantize_output_tensor: 'bool',
    only_copy: 'bool',
    pure: 'bool',
    keep_split: 'bool',
    dry_run: 'bool',
    imatrix: 'void *',
    kv_overrides: 'void *',
    tt_overrides: 'void *',
    prune_layers: 'void *',
    max_buf_size: 'size_t',
  });
  fns = {
    loadAll: ggml.func('void ggml_backend_load_all_from_path(const char *)'),
    backendInit: lib.func('void llama_backend_init()'),
    logSet: lib.func('void llama_log_set(ggml_log_callback *, void *)'),
    defaults: lib.func('llama_model_quantize_params llama_model_quantize_default_params()'),
    quantize: lib.func('uint32 llama_model_quantize(const char *, const char *, const llama_model_quantize_params *)'),
  };
  fns.loadAll(BIN_DIR);
  fns.backendInit();
  // llama.cpp logs every tensor it quantizes; keep errors (level 4) unless asked for all.
  const verbose = process.env.CONFORMANCE_VERBOSE === '1';
  fns.logCallback = koffi.register((level, text) => {
    if (verbose || level === 4) process.stderr.write(text);
  }, koffi.pointer(LogCallback));
  fns.logSet(fns.logCallback, null);
  return fns;
}

/** Runs llama.cpp's quantizer (no imatrix) on one thread; returns its exit status (0 = ok). */
export function llamaQuantize(input, output, ftype, { nthread = 1 } = {}) {
  const f = load();
  const params = f.defaults();
  params.ftype = ftype;
  params.nthread = nthread;
  return f.quantize(input, output, params);
}

// ---- bare decode (bench/side-by-side.mjs): llama_decode through the C API, no node-llama-cpp loop ----
// Structs of include/llama.h at v0.5.0, field for field (koffi lays them out as the C compiler does).
let dec;
function loadDecode() {
  if (dec) return dec;
  load();
  koffi.struct('llama_model_params', {
    devices: 'void *',
    tensor_buft_overrides: 'void *',
    n_gpu_layers: 'int32',
    split_mode: 'int',
    load_mode: 'int',
    lazy_mode: 'int',
    main_gpu: 'int32',
    tensor_split: 'void *',
    progress_callback: 'void *',
    progress_callback_user_data: 'void *',
    kv_overrides: 'void *',
    vocab_only: 'bool',
    check_tensors: 'bool',
    use_extra_bufts: 'bool',
    no_host: 'bool',
    no_alloc: 'bool',
    load_mtp: 'bool',
  });
  koffi.struct('llama_context_params', {
    n_ctx: 'uint32',
    n_batch: 'uint32',
    n_ubatch: 'uint32',
    n_seq_max: 'uint32',
    n_rs_seq: 'uint32',
    n_outputs_max: 'uint32',
    n_outputs_max_per_seq: 'uint32',
    n_threads: 'int32',
    n_threads_batch: 'int32',
    ctx_type: 'int',
    rope_scaling_type: 'int',
    pooling_type: 'int',
    attention_type: 'int',
    flash_attn_type: 'int',
    rope_freq_base: 'float',
    rope_freq_scale: 'float',
    yarn_ext_factor: 'float',
    yarn_attn_factor: 'float',
    yarn_beta_fast: 'float',
    yarn_beta_slow: 'float',
    yarn_orig_ctx: 'uint32',
    defrag_thold: 'float',
    cb_eval: 'void *',
    cb_eval_user_data: 'void *',
    type_k: 'int',
    type_v: 'int',
    abort_callback: 'void *',
    abort_callback_data: 'void *',
    embeddings: 'bool',
    offload_kqv: 'bool',
    no_perf: 'bool',
    op_offload: 'bool',
    swa_full: 'bool',
    kv_unified: 'bool',
    samplers: 'void *',
    n_samplers: 'size_t',
    ctx_other: 'void *',
  });
  koffi.struct('llama_batch', { n_tokens: 'int32', token: 'void *', embd: 'void *', pos: 'void *', n_seq_id: 'void *', seq_id: 'void *', logits: 'void *' });
  dec = {
    modelDefaults: lib.func('llama_model_params llama_model_default_params()'),
    contextDefaults: lib.func('llama_context_params llama_context_default_params()'),
    loadModel: lib.func('void *llama_model_load_from_file(const char *, llama_model_params)'),
    freeModel: lib.func('void llama_model_free(void *)'),
    initContext: lib.func('void *llama_init_from_model(void *, llama_context_params)'),
    freeContext: lib.func('void llama_free(void *)'),
    getMemory: lib.func('void *llama_get_memory(void *)'),
    memoryClear: lib.func('void llama_memory_clear(void *, bool)'),
    batchGetOne: lib.func('llama_batch llama_batch_get_one(void *, int32)'),
    decode: lib.func('int32 llama_decode(void *, llama_batch)'),
    synchronize: lib.func('void llama_synchronize(void *)'),
    modelVocab: lib.func('void *llama_model_get_vocab(void *)'),
    vocabTokens: lib.func('int32 llama_vocab_n_tokens(void *)'),
  };
  return dec;
}

/**
 * A llama.cpp model and context for timing bare `llama_decode` calls (CPU, f16 KV cache):
 * `decode(tokens)` evaluates the tokens as one batch after what the context holds (logits of the
 * last only, as llama-bench); `clear()` empties the context. Token ids are the caller's.
 */
export function llamaDecoder(file, { threads, nCtx = 2048, nBatch = 512, flash = false } = {}) {
  const f = loadDecode();
  const mp = f.modelDefaults();
  mp.n_gpu_layers = 0;
  const model = f.loadModel(file, mp);
  if (!model) throw new Error(`llama.cpp could not load ${file}`);
  const cp = f.contextDefaults();
  Object.assign(cp, {
    n_ctx: nCtx,
    n_batch: nBatch,
    n_ubatch: nBatch,
    n_seq_max: 1,
    n_threads: threads,
    n_threads_batch: threads,
    flash_attn_type: flash ? 1 : 0,
    type_k: 1,
    type_v: 1,
    no_perf: true,
  });
  const ctx = f.initContext(model, cp);
  if (!ctx) {
    f.freeModel(model);
    throw new Error(`llama.cpp could not create a context for ${file}`);
  }
  const mem = f.getMemory(ctx);
  const buf = koffi.alloc('int32', nBatch);
  const view = new Int32Array(koffi.view(buf, nBatch * 4));
  return {
    nVocab: f.vocabTokens(f.modelVocab(model)),
    nBatch,
    clear() {
      f.memoryClear(mem, true);
    },
    decode(tokens) {
      if (tokens.length > nBatch) throw new RangeError(`batch of ${tokens.length} > n_batch ${nBatch}`);
      view.set(tokens);
      const rc = f.decode(ctx, f.batchGetOne(buf, tokens.length));
      if (rc !== 0) throw new Error(`llama_decode returned ${rc}`);
      f.synchronize(ctx);
    },
    close() {
      f.freeContext(ctx);
      f.freeModel(model);
      koffi.free(buf);
    },
  };
}

// ---- chat templates: llama_chat_apply_template (llama.cpp's built-in formats, no Jinja) ----
let chat;
/**
 * llama.cpp's rendering of `messages` ({ role, content }[]) with the built-in format that
 * `llama_chat_apply_template` detects from the template text (or names, e.g. "gemma").
 * Throws when llama.cpp does not recognise the template.
 */
export function llamaChatApplyTemplate(template, messages, addAssistant) {
  if (!chat) {
    load();
    koffi.struct('llama_chat_message', { role: 'const char *', content: 'const char *' });
    chat = lib.func('int32 llama_chat_apply_template(const char *, const llama_chat_message *, size_t, bool, _Out_ uint8 *, int32)');
  }
  const msgs = messages.map((m) => ({ role: m.role, content: m.content }));
  let cap = 4096;
  for (;;) {
    const buf = Buffer.alloc(cap);
    const n = chat(template, msgs.length ? msgs : null, msgs.length, addAssistant, buf, cap);
    if (n < 0) throw new Error(`llama_chat_apply_template returned ${n} (template not recognised)`);
    if (n <= cap) return buf.subarray(0, n).toString('utf8');
    cap = n;
  }
}
