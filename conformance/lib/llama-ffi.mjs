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
    nthread: 'int32', ftype: 'int', output_tensor_type: 'int', token_embedding_type: 'int',
    allow_requantize: 'bool', quantize_output_tensor: 'bool', only_copy: 'bool', pure: 'bool',
    keep_split: 'bool', dry_run: 'bool',
    imatrix: 'void *', kv_overrides: 'void *', tt_overrides: 'void *', prune_layers: 'void *',
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
