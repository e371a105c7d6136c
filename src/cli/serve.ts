/**
 * `tsinfer serve`: the OpenAI-compatible server (src/server/) on a model file. The socket is
 * open while the model loads (/health answers 503 then), a progress bar shows on a terminal,
 * and one line `listening on http://HOST:PORT` is printed once requests are answered.
 * SIGINT/SIGTERM cancel the requests in flight, free the model and exit.
 */
import { BACKENDS } from '../kernels/index.js';
import type { Pooling } from '../model/embed.js';
import { loadModel } from '../model/model.js';
import { createServer } from '../server/server.js';
import { num, parseArgs, usage, UsageError } from './args.js';
import { readTemplate } from './chat.js';
import { loadProgress } from './format.js';
import { LOAD_FLAGS, loadOptions } from './options.js';

export const SERVE_USAGE = `serve options:
  -m, --model FILE            GGUF model file
      --host HOST             address to listen on (default 127.0.0.1)
      --port N                port (default 8080; 0 picks a free one)
  -c, --ctx-size N            context length (default: the model's, at most 4096)
  -np, --parallel N           requests served at once, decoded together (default 4; each
                              slot has its own KV cache of -c positions)
      --queue-size N          requests that may wait for a slot before getting 503 (default 32)
      --api-key KEY           require "Authorization: Bearer KEY" (all but /health, /v1/models, /)
      --chat-template TEXT    Jinja chat template instead of the model's
      --chat-template-file F  the same, read from a file
      --alias NAME            model id in /v1/models (default: the file name)
      --reasoning-budget N    tokens of thinking per answer: -1 unlimited (default), 0 none, N then
                              </think> is forced (a request's reasoning_budget_tokens wins)
      --reasoning-budget-message TEXT  text put before the forced </think>
      --embeddings            load the model for embeddings: serve /v1/embeddings (only)
      --pooling P             pooling of /v1/embeddings: mean, cls or last (default: the file's)
      --cache-type T          KV cache type: f16 (default) or f32
      --backend NAME          ${BACKENDS.join(', ')} (default as for generate)
  -t, --threads N             compute threads of the wasm backend
endpoints: POST /v1/chat/completions, /v1/responses, /v1/completions, /completion, /infill, /tokenize,
/detokenize, /v1/embeddings (with --embeddings);
GET /v1/models, /health, /props, /slots, /metrics, and a chat page at /.
`;

function err(s: string): void {
  process.stderr.write(s);
}

/** `tsinfer serve`; resolves with the exit code once the server has stopped. */
export async function cmdServe(argv: string[]): Promise<number> {
  // llama-server spells --parallel's short form -np.
  const args = argv.map((a) => (a === '-np' ? '--parallel' : a));
  const { values, positionals } = usage(() =>
    parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        model: { type: 'string', short: 'm' },
        host: { type: 'string' },
        port: { type: 'string' },
        parallel: { type: 'string' },
        'queue-size': { type: 'string' },
        'api-key': { type: 'string' },
        'chat-template': { type: 'string' },
        'chat-template-file': { type: 'string' },
        alias: { type: 'string' },
        'reasoning-budget': { type: 'string' },
        'reasoning-budget-message': { type: 'string' },
        embeddings: { type: 'boolean' },
        pooling: { type: 'string' },
        ...LOAD_FLAGS,
      },
    }),
  );
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (!values.model) throw new UsageError('serve needs a model: -m FILE');
  const port = num(values.port, '--port', { integer: true, min: 0, max: 65535 }) ?? 8080;
  const parallel = num(values.parallel, '--parallel', { integer: true, min: 1, max: 256 }) ?? 4;
  const queueSize = num(values['queue-size'], '--queue-size', { integer: true, min: 0 }) ?? 32;
  const chatTemplate = readTemplate(values);
  const reasoningBudget = num(values['reasoning-budget'], '--reasoning-budget', { integer: true, min: -1 });
  const loadOpts = loadOptions(values);
  const host = values.host ?? '127.0.0.1';
  const progress = loadProgress(values.model, process.stderr.isTTY);
  const embeddings = values.embeddings === true;
  const pooling = values.pooling as Pooling | undefined;
  if (pooling !== undefined && !['mean', 'cls', 'last'].includes(pooling)) throw new UsageError(`--pooling must be mean, cls or last, got "${pooling}"`);
  if (pooling !== undefined && !embeddings) throw new UsageError('--pooling needs --embeddings');
  const loading = loadModel(values.model, { ...loadOpts, sequences: parallel, embeddings, onProgress: progress.onProgress });
  const server = createServer(loading, {
    parallel,
    queueSize,
    apiKey: values['api-key'],
    chatTemplate,
    alias: values.alias,
    embeddings,
    pooling,
    reasoningBudget,
    reasoningBudgetMessage: values['reasoning-budget-message'],
  });
  try {
    await server.listen(port, host);
  } catch (e) {
    // Still free the model once it has loaded.
    void loading.then(
      (m) => m.dispose(),
      () => {},
    );
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot listen on ${host}:${port}: ${code ?? (e as Error).message}`);
  }
  let model: Awaited<typeof loading>;
  try {
    model = await loading;
  } catch (e) {
    progress.clear();
    await server.close();
    throw e;
  }
  progress.clear();
  if (!embeddings && chatTemplate === undefined && model.chatTemplate === undefined) {
    err(`warning: ${values.model} has no chat template: /v1/chat/completions answers 400 (give one with --chat-template-file)\n`);
  }
  if (model.info.sequences < parallel) {
    err(`note: the ${model.info.backend.backend} backend holds ${model.info.sequences} sequence(s): the ${parallel} slots are decoded one after the other, not together\n`);
  }
  process.stdout.write(`listening on ${server.url}\n`);

  return await new Promise<number>((done) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) process.exit(130); // a second signal: do not wait
      stopping = true;
      err(`${signal}: cancelling requests in flight and stopping\n`);
      void (async () => {
        await server.close();
        await model.dispose();
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        done(0);
      })();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
