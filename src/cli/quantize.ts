/**
 * `tsinfer quantize IN.gguf OUT.gguf TYPE [--force] [--allow-requantize] [--threads N] [--quiet]`:
 * llama.cpp's llama-quantize without an importance matrix. Progress goes to
 * stderr (a bar on a terminal, one line per tensor otherwise), the summary
 * to stdout. Errors are one line on stderr; no partial output is ever left.
 */
import { availableParallelism } from 'node:os';
import { ggmlTypeName } from '../gguf/types.js';
import { QuantizeError, quantizeModel, quantizeTypeNames, typeMix, type QuantizeProgress } from '../quant/quantize-model.js';
import { num, parseArgs, usage, UsageError } from './args.js';
import { formatBytes } from './format.js';

export const QUANTIZE_USAGE = `usage: tsinfer quantize IN.gguf OUT.gguf TYPE [--force] [--allow-requantize] [--threads N] [--quiet]

TYPE: ${quantizeTypeNames().join(', ')}
Chooses each tensor's type as llama.cpp's llama-quantize does for TYPE (norms stay F32,
output/tied embeddings get Q6_K or Q8_0, the _M mixes give some attn_v/ffn_down more bits,
rows that are not a multiple of 256 fall back to Q5_0/Q5_1/Q8_0/Q4_0) and writes the same bytes.
  --force              replace OUT if it exists (never IN)
  --allow-requantize   accept already-quantized input tensors (dequantized first)
  --threads N          worker threads for quantizing (default: the number of cores, at most 8);
                       the output bytes do not depend on it
  --quiet              no progress output
`;

/** A text progress bar: [#####.....]. */
export function bar(fraction: number, width = 24): string {
  const full = Math.round(fraction * width);
  return '[' + '#'.repeat(full) + '.'.repeat(width - full) + ']';
}

export async function cmdQuantize(argv: string[]): Promise<number> {
  const { values, positionals } = usage(() =>
    parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        force: { type: 'boolean' },
        'allow-requantize': { type: 'boolean' },
        threads: { type: 'string', short: 't' },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
      },
    }),
  );
  if (values.help) {
    process.stdout.write(QUANTIZE_USAGE);
    return 0;
  }
  if (positionals.length !== 3) {
    throw new UsageError(`quantize needs IN.gguf OUT.gguf TYPE (got ${positionals.length} argument${positionals.length === 1 ? '' : 's'})`);
  }
  const threadsFlag = num(values.threads, '--threads', { integer: true, min: 0 });
  // 0 or absent: as llama-quantize, use the machine's cores (at most 8)
  const threads = threadsFlag === undefined || threadsFlag === 0 ? Math.min(8, availableParallelism()) : threadsFlag;
  const [input, output, type] = positionals as [string, string, string];
  if (!quantizeTypeNames().includes(type.toUpperCase())) {
    throw new UsageError(`unknown quantization type "${type}" (one of: ${quantizeTypeNames().join(', ')})`);
  }

  const quiet = values.quiet === true;
  const tty = process.stderr.isTTY === true;
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigint);
  const started = Date.now();
  const progress = (p: QuantizeProgress) => {
    if (quiet) return;
    const { plan: t } = p;
    const what = `${t.name} ${ggmlTypeName(t.from)} -> ${ggmlTypeName(t.to)}${t.fallbackFrom !== undefined ? ` (fallback from ${ggmlTypeName(t.fallbackFrom)})` : ''}`;
    if (tty) {
      process.stderr.write(`\r\x1b[K${bar(p.index / p.count)} ${p.index}/${p.count} ${what}`);
    } else {
      process.stderr.write(`[${String(p.index).padStart(4)}/${p.count}] ${what}\n`);
    }
  };
  try {
    const s = await quantizeModel(input, output, type, {
      force: values.force === true,
      allowRequantize: values['allow-requantize'] === true,
      signal: controller.signal,
      onProgress: progress,
      threads,
    });
    if (!quiet && tty) process.stderr.write('\r\x1b[K');
    const bpw = (bytes: number) => ((bytes * 8) / Math.max(1, s.elements)).toFixed(2);
    const mix = Object.entries(typeMix(s.tensors))
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    process.stdout.write(
      `quantized ${input} -> ${output} (${s.fileType.name}, general.file_type ${s.fileType.ftype}) in ${((Date.now() - started) / 1000).toFixed(1)} s, ${threads} thread${threads === 1 ? '' : 's'}\n` +
        `  model size: ${formatBytes(s.bytesIn)} (${bpw(s.bytesIn)} BPW) -> ${formatBytes(s.bytesOut)} (${bpw(s.bytesOut)} BPW); file ${formatBytes(s.fileBytesIn)} -> ${formatBytes(s.fileBytesOut)}\n` +
        `  tensors: ${s.tensors.length} (${mix})${s.fallbacks > 0 ? `; ${s.fallbacks} used a fallback type because their rows are not a multiple of 256` : ''}\n`,
    );
    return 0;
  } catch (e) {
    if (!quiet && tty) process.stderr.write('\r\x1b[K');
    if (e instanceof QuantizeError) {
      process.stderr.write(`tsinfer: ${e.message}\n`);
      return e.code === 'ABORTED' ? 130 : 1;
    }
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
}
