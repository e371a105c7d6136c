/**
 * `tsinfer perplexity`: llama.cpp's llama-perplexity (default mode and --kl-divergence).
 *
 *   tsinfer perplexity -m FILE -f TEXT [-c 512] [--chunks N] [-b N] [--kl-divergence-base OUT]
 *   tsinfer perplexity -m FILE --kl-divergence-base BASE --kl-divergence [--chunks N]
 *
 * The running `[1]x.xxxx,[2]…` line and the final estimate go to stdout as llama.cpp
 * prints them; a progress bar goes to stderr on a terminal; --json prints one object.
 */
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { AbortError } from '../generate/errors.js';
import { FileSource } from '../platform/node.js';
import { loadModel, type Model } from '../model/model.js';
import { openLogProbsFile, type KlRunning, type KlDivergenceResult, type LogProbsFile, type PerplexityProgress, type PerplexityResult } from '../model/scoring.js';
import { num, parseArgs, readTextArg, usage, UsageError } from './args.js';
import { LOAD_FLAGS, loadOptions } from './options.js';
import { bar } from './quantize.js';

export const PERPLEXITY_USAGE = `usage: tsinfer perplexity -m FILE -f TEXT [options]

Computes perplexity as llama.cpp's llama-perplexity does: the text is tokenized with BOS,
cut into chunks of -c tokens (the first of each replaced by BOS), and the second half of
each chunk is scored. Needs at least 2 × c tokens of text.
  -m, --model FILE            GGUF model file
  -f, --file FILE             text to score
  -c, --ctx-size N            tokens per chunk (default 512)
      --chunks N              score at most N chunks (default all)
  -b, --batch-size N          tokens per step (default: the chunk size)
      --kl-divergence-base F  without --kl-divergence: save the log-probabilities to F
                              (llama.cpp's file format); with it: read them from F
      --kl-divergence         compare the model against F (no -f needed; -c comes from F)
      --backend NAME          wasm (default in Node), reference or webgpu
  -t, --threads N             compute threads of the wasm backend
      --cache-type T          KV cache type: f16 (default) or f32
      --json                  print one JSON object with the results and nothing else
`;

function readText(path: string): string {
  const text = readTextArg(path, path);
  // llama.cpp's -f drops one trailing newline.
  return text.endsWith('\n') ? text.slice(0, -1) : text;
}

/** A progress line on stderr when it is a terminal: bar, chunks, running figure, ETA. */
function progress(enabled: boolean, label: string) {
  return (p: PerplexityProgress, extra = ''): void => {
    if (!enabled) return;
    const eta = p.chunk < p.chunks ? `, ETA ${(((p.elapsedMs / p.chunk) * (p.chunks - p.chunk)) / 1000).toFixed(0)} s` : '';
    process.stderr.write(`\r\x1b[K${label} ${bar(p.chunk / p.chunks)} ${p.chunk}/${p.chunks}  PPL ${p.ppl.toFixed(4)}${extra}${eta}`);
  };
}

async function load(modelPath: string, values: Parameters<typeof loadOptions>[0], nCtx: number, batch: number | undefined, tty: boolean): Promise<Model> {
  let lastPct = -1;
  const model = await loadModel(modelPath, {
    ...loadOptions(values),
    contextLength: nCtx,
    batchSize: Math.min(batch ?? nCtx, nCtx),
    onProgress: tty
      ? (p) => {
          const pct = Math.floor((100 * p.loadedBytes) / Math.max(1, p.totalBytes));
          if (pct !== lastPct) process.stderr.write(`\rloading ${modelPath}: ${pct}%`);
          lastPct = pct;
        }
      : undefined,
  });
  if (tty) process.stderr.write('\r\x1b[K');
  return model;
}

const f = (x: number, d: number) => x.toFixed(d);
const pm = (e: readonly [number, number], d: number, scale = 1) => `${f(scale * e[0], d)} ± ${f(scale * e[1], d)}`;

const KL_CHUNK_HEADER = 'chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence              Δp RMS            Same top p\n';

/** llama.cpp's per-chunk line of --kl-divergence (running figures). */
function formatKlChunk(p: PerplexityProgress & KlRunning): string {
  const w = (e: readonly [number, number], width: number, d: number, scale = 1) => `${(scale * e[0]).toFixed(d).padStart(width)} ± ${(scale * e[1]).toFixed(d).padStart(width)}`;
  return `${String(p.chunk).padStart(4)}    ${w(p.pplQ, 9, 4)}    ${w(p.lnPplRatio, 10, 5)}    ${w(p.klMean, 10, 5)}    ${w(p.rmsDeltaP, 6, 3, 100)} %    ${w(p.sameTop, 6, 3, 100)} %\n`;
}

/** llama.cpp's closing statistics of --kl-divergence. */
export function formatKl(r: KlDivergenceResult): string {
  const k = r.kl;
  const p = r.deltaP;
  const pc = (x: number) => `${f(100 * x, 3)}%`;
  return [
    '====== Perplexity statistics ======',
    `Mean PPL(Q)                   : ${pm(r.ppl, 6)}`,
    `Mean PPL(base)                : ${pm(r.pplBase, 6)}`,
    `Cor(ln(PPL(Q)), ln(PPL(base))): ${f(100 * r.lnPplCorrelation, 2)}%`,
    `Mean ln(PPL(Q)/PPL(base))     : ${pm(r.lnPplRatio, 6)}`,
    `Mean PPL(Q)/PPL(base)         : ${pm(r.pplRatio, 6)}`,
    `Mean PPL(Q)-PPL(base)         : ${pm(r.pplDiff, 6)}`,
    '',
    '====== KL divergence statistics ======',
    `Mean    KLD: ${pm(k.mean, 6)}`,
    `Maximum KLD: ${f(k.max, 6)}`,
    `99.9%   KLD: ${f(k.p99_9, 6)}`,
    `99.0%   KLD: ${f(k.p99, 6)}`,
    `95.0%   KLD: ${f(k.p95, 6)}`,
    `90.0%   KLD: ${f(k.p90, 6)}`,
    `Median  KLD: ${f(k.median, 6)}`,
    `10.0%   KLD: ${f(k.p10, 6)}`,
    ` 5.0%   KLD: ${f(k.p5, 6)}`,
    ` 1.0%   KLD: ${f(k.p1, 6)}`,
    ` 0.1%   KLD: ${f(k.p0_1, 6)}`,
    `Minimum KLD: ${f(k.min, 6)}`,
    '',
    '====== Token probability statistics ======',
    `Mean    Δp: ${pm(p.mean, 3, 100)} %`,
    `Maximum Δp: ${pc(p.max)}`,
    `99.9%   Δp: ${pc(p.p99_9)}`,
    `99.0%   Δp: ${pc(p.p99)}`,
    `95.0%   Δp: ${pc(p.p95)}`,
    `90.0%   Δp: ${pc(p.p90)}`,
    `75.0%   Δp: ${pc(p.p75)}`,
    `Median  Δp: ${pc(p.median)}`,
    `25.0%   Δp: ${pc(p.p25)}`,
    `10.0%   Δp: ${pc(p.p10)}`,
    ` 5.0%   Δp: ${pc(p.p5)}`,
    ` 1.0%   Δp: ${pc(p.p1)}`,
    ` 0.1%   Δp: ${pc(p.p0_1)}`,
    `Minimum Δp: ${pc(p.min)}`,
    `RMS Δp    : ${pm(p.rms, 3, 100)} %`,
    `Same top p: ${pm(r.sameTop, 3, 100)} %`,
    '',
  ].join('\n');
}

export async function cmdPerplexity(argv: string[]): Promise<number> {
  const { values, positionals } = usage(() =>
    parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        model: { type: 'string', short: 'm' },
        file: { type: 'string', short: 'f' },
        chunks: { type: 'string' },
        'batch-size': { type: 'string', short: 'b' },
        'kl-divergence-base': { type: 'string' },
        'kl-divergence': { type: 'boolean' },
        json: { type: 'boolean' },
        ...LOAD_FLAGS,
      },
    }),
  );
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (!values.model) throw new UsageError('perplexity needs a model: -m FILE');
  const chunks = num(values.chunks, '--chunks', { integer: true, min: 1 });
  const batch = num(values['batch-size'], '--batch-size', { integer: true, min: 1 });
  const json = values.json === true;
  const tty = !json && process.stderr.isTTY === true;
  const out = (s: string) => void (json || process.stdout.write(s));
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.on('SIGINT', onSigint);
  try {
    if (values['kl-divergence']) {
      const basePath = values['kl-divergence-base'];
      if (!basePath) throw new UsageError('--kl-divergence needs the base log-probabilities: --kl-divergence-base FILE');
      if (values.file !== undefined) throw new UsageError('--kl-divergence reads its tokens from the base file; do not give -f');
      let src: FileSource;
      try {
        src = new FileSource(basePath);
      } catch (e) {
        throw new UsageError(`cannot read ${basePath}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
      try {
        const base: LogProbsFile = openLogProbsFile(
          src.size,
          (pos, len) => {
            const b = new Uint8Array(len);
            if (src.readInto(pos, b) !== len) throw new UsageError(`${basePath} ended early`);
            return b;
          },
          basePath,
        );
        if (values['ctx-size'] !== undefined && Number(values['ctx-size']) !== base.nCtx) throw new UsageError(`${basePath} was computed with -c ${base.nCtx}, not ${values['ctx-size']}`);
        const model = await load(values.model, values, base.nCtx, batch, tty);
        try {
          const show = progress(tty, 'kl-divergence');
          const r = await model.klDivergence(base, {
            chunks,
            batchSize: batch,
            signal: controller.signal,
            onChunk: (p) => {
              if (tty) show(p, `  KLD ${p.klMean[0].toFixed(5)}  same top ${(100 * p.sameTop[0]).toFixed(2)}%`);
              else {
                if (p.chunk === 1) out(KL_CHUNK_HEADER);
                out(formatKlChunk(p));
              }
            },
          });
          if (!tty) out('\n');
          if (tty) process.stderr.write('\r\x1b[K');
          if (json) process.stdout.write(JSON.stringify({ model: values.model, base: basePath, backend: model.info.backend.backend, ...r }) + '\n');
          else {
            process.stderr.write(`kl-divergence: ${r.chunks} chunks, n_ctx=${r.contextLength}, ${r.count} positions, ${(r.ms / 1000).toFixed(2)} s (${r.tokensPerSecond.toFixed(0)} tokens/s)\n`);
            out(formatKl(r));
          }
        } finally {
          await model.dispose();
        }
      } finally {
        src.close();
      }
      return 0;
    }
    if (values.file === undefined) throw new UsageError('perplexity needs a text: -f FILE');
    const text = readText(values.file);
    const nCtx = num(values['ctx-size'], '--ctx-size', { integer: true, min: 4 }) ?? 512;
    const savePath = values['kl-divergence-base'];
    const model = await load(values.model, values, nCtx, batch, tty);
    let fd = -1;
    let ok = false;
    try {
      if (savePath) fd = openSync(savePath, 'w');
      const show = progress(tty, 'perplexity');
      const r: PerplexityResult = await model.perplexity(text, {
        contextLength: nCtx,
        chunks,
        batchSize: batch,
        signal: controller.signal,
        saveLogProbs: fd >= 0 ? { write: (b) => void writeSync(fd, b) } : undefined,
        onChunk: (p) => {
          if (tty) {
            show(p);
          } else {
            out(`[${p.chunk}]${p.ppl.toFixed(4)},`);
          }
        },
      });
      if (tty) {
        process.stderr.write('\r\x1b[K');
        out(r.chunkPpl.map((p, i) => `[${i + 1}]${p.toFixed(4)},`).join(''));
      }
      if (json) {
        process.stdout.write(JSON.stringify({ model: values.model, file: values.file, backend: model.info.backend.backend, ...r }) + '\n');
      } else {
        out('\n');
        process.stderr.write(
          `perplexity: ${r.chunks} chunks, n_ctx=${r.contextLength}, batch_size=${r.batchSize}, ${r.textTokens} tokens in the text, ${(r.ms / 1000).toFixed(2)} s (${r.tokensPerSecond.toFixed(0)} tokens/s)\n`,
        );
        out(`Final estimate: PPL = ${r.ppl.toFixed(4)} +/- ${r.pplError.toFixed(5)}\n`);
      }
      ok = true;
    } finally {
      if (fd >= 0) closeSync(fd);
      // No partial base file is left behind.
      if (fd >= 0 && !ok) rmSync(savePath!, { force: true });
      await model.dispose();
    }
    return 0;
  } catch (e) {
    if (!(e instanceof AbortError)) throw e;
    process.stderr.write('\ntsinfer: interrupted\n');
    return 130;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
