/**
 * The `tsinfer` command: generate, inspect, tokenize. llama.cpp-style flags;
 * user errors are one line on stderr and a non-zero exit code.
 */
import { readFileSync } from 'node:fs';
import { GGUFError } from '../gguf/errors.js';
import { openGGUF, valueTypeName } from '../gguf/reader.js';
import { AbortError } from '../generate/errors.js';
import { checkPromptFits, type GenerateOptions } from '../generate/generate.js';
import { ContextOverflowError, ModelError } from '../model/errors.js';
import { loadModel, type LoadModelOptions } from '../model/model.js';
import { TokenizerError } from '../tokenizer/index.js';
import { HelpRequested, parseArgs, readTextArg, usage, UsageError } from './args.js';
import { cmdQuantize } from './quantize.js';
import { cmdBench, cmdInfo, BENCH_USAGE, INFO_USAGE } from './bench.js';
import { cmdChat, CHAT_USAGE } from './chat.js';
import { cmdServe, SERVE_USAGE } from './serve.js';
import { LOAD_FLAGS, LOAD_USAGE, loadOptions, PROMPT_FLAGS, PROMPT_USAGE, promptOptions, samplingOptions, SAMPLING_FLAGS, SAMPLING_USAGE, warnContextLength } from './options.js';
import { cmdTokenize, TOKENIZE_USAGE } from './tokenize.js';
import { GRAMMAR_USAGE } from './grammar-flags.js';
import { GrammarError, JsonSchemaError } from '../generate/grammar/index.js';
import { formatBytes, formatCount, formatMeta, jsonReplacer, loadProgress, table } from './format.js';
import { cmdPerplexity, PERPLEXITY_USAGE } from './perplexity.js';
import { cmdEmbed, EMBED_USAGE } from './embed.js';
import { ScoringError } from '../model/scoring.js';

const GENERATE_USAGE = `generate options:
  -m, --model FILE        GGUF model file
  -p, --prompt TEXT       prompt (default "")
  -f, --file FILE         read the prompt from a file
${PROMPT_USAGE}
${SAMPLING_USAGE}
      --stop TEXT         stop string (repeatable)
${GRAMMAR_USAGE}
${LOAD_USAGE}
      --no-display-prompt do not echo the prompt
      --json              print one JSON object { text, tokens, promptTokens, finishReason, stats } and nothing else
`;

const INSPECT_USAGE = `usage: tsinfer inspect FILE [--json]   (or -m FILE)
  metadata and tensor table of a GGUF file; --json prints one object { path, version, metadata, tensors, ... }
`;

const USAGE = `usage: tsinfer <command> [options]     (tsinfer <command> --help: that command's options)

commands:
  generate -m FILE -p PROMPT [options]   generate text (streams to stdout)
  chat -m FILE [--system TEXT] [-p TEXT]  chat with the model's chat template (interactive, or one question with -p)
  serve -m FILE [--port 8080] [-np 4]    OpenAI-compatible HTTP server with a chat page (options below)
  inspect FILE [--json]                  metadata and tensor table of a GGUF file
  bench -m FILE [-p 512] [-n 128] [-t N] llama-bench-style prompt and decode speed (tsinfer bench --help)
  info [--json]                          runtime, WASM build (baseline / relaxed SIMD), threads, WebGPU adapter
  tokenize -m FILE [--show-pieces] TEXT | -f FILE | --stdin
                                         print the token ids of the text as a JSON array
  quantize IN.gguf OUT.gguf TYPE [--force] quantize a F32/F16 model as llama-quantize does
                                         (TYPE: Q8_0, Q4_0, Q4_K_M, Q6_K, ...; tsinfer quantize --help)
  perplexity -m FILE -f TEXT [-c 512]    perplexity as llama-perplexity computes it; KL divergence against
                                         saved log-probabilities (tsinfer perplexity --help)
  embed -m FILE -p TEXT [--pooling P]    embeddings, one per line of text (tsinfer embed --help)
  help                                   this text

${GENERATE_USAGE}
${CHAT_USAGE}
${SERVE_USAGE}`;

/** What `tsinfer <command> --help` prints. */
const HELP: Record<string, string> = {
  generate: 'usage: tsinfer generate -m FILE [-p PROMPT | -f FILE] [options]\n' + GENERATE_USAGE,
  chat: 'usage: tsinfer chat -m FILE [options]\n' + CHAT_USAGE,
  inspect: INSPECT_USAGE,
  tokenize: TOKENIZE_USAGE,
  info: INFO_USAGE,
  bench: `usage: ${BENCH_USAGE}\n`,
  serve: 'usage: tsinfer serve -m FILE [options]\n' + SERVE_USAGE,
  perplexity: PERPLEXITY_USAGE,
  embed: EMBED_USAGE,
};

function out(s: string): void {
  process.stdout.write(s);
}
function err(s: string): void {
  process.stderr.write(s);
}

async function cmdGenerate(argv: string[]): Promise<number> {
  const { values, positionals } = usage(() =>
    parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        model: { type: 'string', short: 'm' },
        prompt: { type: 'string', short: 'p' },
        file: { type: 'string', short: 'f' },
        ...SAMPLING_FLAGS,
        ...PROMPT_FLAGS,
        ...LOAD_FLAGS,
        stop: { type: 'string', multiple: true },
        'no-display-prompt': { type: 'boolean' },
        json: { type: 'boolean' },
      },
    }),
  );
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (!values.model) throw new UsageError('generate needs a model: -m FILE');
  if (values.prompt !== undefined && values.file !== undefined) throw new UsageError('give the prompt with -p or -f, not both');
  let prompt = values.prompt ?? '';
  if (values.file !== undefined) {
    prompt = readTextArg(values.file, `prompt file ${values.file}`);
  }
  const loadOpts: LoadModelOptions = loadOptions(values);
  const genOpts: GenerateOptions = { ...samplingOptions(values), ...promptOptions(values), stop: values.stop };
  const json = values.json === true;
  const progress = loadProgress(values.model, !json && process.stderr.isTTY);
  const model = await loadModel(values.model, { ...loadOpts, onProgress: progress.onProgress });
  progress.clear();
  warnContextLength(model);
  const controller = new AbortController();
  const onSigint = () => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  process.on('SIGINT', onSigint);
  try {
    // A prompt that does not fit is an error before anything is printed.
    checkPromptFits(model.tokenize(prompt, genOpts).length, model.info.contextLength);
    const stream = model.generate(prompt, { ...genOpts, signal: controller.signal });
    let aborted = false;
    if (!json && !values['no-display-prompt']) out(prompt);
    try {
      for await (const chunk of stream) if (!json && chunk.text) out(chunk.text);
    } catch (e) {
      if (!(e instanceof AbortError)) throw e;
      aborted = true;
    }
    if (aborted) {
      if (!json) out('\n');
      err('tsinfer: interrupted\n');
      return 130;
    }
    const r = await stream.result;
    if (json) {
      out(JSON.stringify({ text: r.text, tokens: r.tokens, promptTokens: r.promptTokens, finishReason: r.finishReason, stats: r.stats }) + '\n');
    } else {
      if (process.stdout.isTTY) out('\n');
      const s = r.stats;
      err(
        `\nprompt: ${s.promptTokens} tokens, ${s.prefillTokensPerSecond.toFixed(1)} tok/s | ` +
          `generated: ${s.generatedTokens} tokens, ${s.decodeTokensPerSecond.toFixed(1)} tok/s | ` +
          `first token after ${s.timeToFirstTokenMs.toFixed(0)} ms | finish: ${r.finishReason}\n`,
      );
    }
    return 0;
  } finally {
    process.off('SIGINT', onSigint);
    await model.dispose();
  }
}

async function cmdInspect(argv: string[]): Promise<number> {
  const { values, positionals } = usage(() => parseArgs({ args: argv, allowPositionals: true, strict: true, options: { json: { type: 'boolean' }, model: { type: 'string', short: 'm' } } }));
  const path = values.model ?? positionals[0];
  if (!path) throw new UsageError('inspect needs a file: tsinfer inspect FILE');
  const file = await openGGUF(path);
  try {
    if (values.json) {
      const metadata: Record<string, unknown> = {};
      for (const [k, v] of file.metadata) metadata[k] = v.value;
      const tensors = file.tensors.map((t) => ({ name: t.name, type: t.type.name, shape: t.shape, bytes: t.nBytes, offset: t.fileOffset }));
      out(JSON.stringify({ path, version: file.version, alignment: file.alignment, dataOffset: file.dataOffset, size: file.size, metadata, tensors }, jsonReplacer) + '\n');
      return 0;
    }
    const params = file.tensors.reduce((s, t) => s + t.nElements, 0);
    out(
      `${path}: GGUF v${file.version}, ${formatBytes(file.size)}, ${file.metadata.size} metadata keys, ${file.tensors.length} tensors, ${formatCount(params)} parameters, alignment ${file.alignment}, data at ${file.dataOffset}\n\n`,
    );
    const meta = [...file.metadata].map(([k, v]) => [k, valueTypeName(v.type), formatMeta(v)]);
    out(table(['key', 'type', 'value'], meta) + '\n\n');
    if (file.tensors.length > 0) {
      const rows = file.tensors.map((t, i) => [String(i), t.name, t.type.name, `[${t.shape.join(', ')}]`, formatBytes(t.nBytes)]);
      out(table(['#', 'tensor', 'type', 'shape', 'bytes'], rows, new Set([0, 4])) + '\n');
    }
    return 0;
  } finally {
    file.close();
  }
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'generate':
        return await cmdGenerate(rest);
      case 'inspect':
        return await cmdInspect(rest);
      case 'tokenize':
        return await cmdTokenize(rest);
      case 'bench':
        return await cmdBench(rest);
      case 'info':
        return await cmdInfo(rest);
      case 'chat':
        return await cmdChat(rest);
      case 'serve':
        return await cmdServe(rest);
      case 'quantize':
        return await cmdQuantize(rest);
      case 'perplexity':
        return await cmdPerplexity(rest);
      case 'embed':
        return await cmdEmbed(rest);
      case undefined:
      case 'help':
      case '-h':
      case '--help':
        out(USAGE);
        return cmd === undefined ? 2 : 0;
      case '--version':
      case '-v': {
        const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
        out(`tsinfer ${pkg.version}\n`);
        return 0;
      }
      default:
        throw new UsageError(`unknown command "${cmd}"`);
    }
  } catch (e) {
    if (e instanceof HelpRequested && cmd !== undefined && cmd in HELP) {
      out(HELP[cmd]!);
      return 0;
    }
    if (e instanceof UsageError) {
      err(`tsinfer: ${e.message}\nrun "tsinfer ${cmd !== undefined && cmd in HELP ? `${cmd} --help` : 'help'}" for usage\n`);
      return 2;
    }
    if (
      e instanceof GGUFError ||
      e instanceof ModelError ||
      e instanceof TokenizerError ||
      e instanceof ContextOverflowError ||
      e instanceof GrammarError ||
      e instanceof JsonSchemaError ||
      e instanceof ScoringError ||
      e instanceof RangeError ||
      (e instanceof TypeError && !process.env.TSINFER_DEBUG)
    ) {
      err(`tsinfer: ${e.name}: ${e.message}\n`);
      return 1;
    }
    if (e instanceof Error && (e as NodeJS.ErrnoException).code === 'EPIPE') return 0;
    throw e;
  }
}
