/**
 * `tsinfer embed`: llama.cpp's llama-embedding. The text (-p or -f) is split into one text per
 * line (llama-embedding's default --embd-separator "\n"); each gets one vector, or one per
 * token with --pooling none.
 */
import { loadModel } from '../model/model.js';
import { POOLINGS, type Pooling } from '../model/embed.js';
import { parseArgs, readTextArg, usage, UsageError } from './args.js';
import { LOAD_FLAGS, loadOptions } from './options.js';

export const EMBED_USAGE = `usage: tsinfer embed -m FILE (-p TEXT | -f FILE) [options]

One embedding per line of text: the hidden state after output_norm, pooled.
  -m, --model FILE      GGUF model file
  -p, --prompt TEXT     text (one text per line)
  -f, --file FILE       read the text from a file
      --pooling P       ${POOLINGS.join(', ')} (default: the file's <arch>.pooling_type, else none)
      --no-normalize    do not divide each vector by its Euclidean norm
      --json            OpenAI-style { data: [{ index, embedding }] } on stdout
  -c, --ctx-size N, --backend NAME, -t N, --cache-type T   as for generate
`;

export async function cmdEmbed(argv: string[]): Promise<number> {
  const { values, positionals } = usage(() =>
    parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        model: { type: 'string', short: 'm' },
        prompt: { type: 'string', short: 'p' },
        file: { type: 'string', short: 'f' },
        pooling: { type: 'string' },
        'no-normalize': { type: 'boolean' },
        json: { type: 'boolean' },
        ...LOAD_FLAGS,
      },
    }),
  );
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
  if (!values.model) throw new UsageError('embed needs a model: -m FILE');
  if ((values.prompt === undefined) === (values.file === undefined)) throw new UsageError('embed needs the text with -p TEXT or -f FILE (one of them)');
  if (values.pooling !== undefined && !(POOLINGS as readonly string[]).includes(values.pooling)) throw new UsageError(`--pooling must be one of ${POOLINGS.join(', ')}, got "${values.pooling}"`);
  let text = values.prompt ?? '';
  if (values.file !== undefined) {
    text = readTextArg(values.file, values.file);
    if (text.endsWith('\n')) text = text.slice(0, -1);
  }
  const texts = text.split('\n');
  const model = await loadModel(values.model, { ...loadOptions(values), embeddings: true });
  try {
    const vectors = await model.embed(texts, { pooling: values.pooling as Pooling | undefined, normalize: !values['no-normalize'] });
    if (values.json) {
      process.stdout.write(JSON.stringify({ object: 'list', model: values.model, data: vectors.map((v, index) => ({ object: 'embedding', index, embedding: Array.from(v) })) }) + '\n');
    } else {
      const dim = model.info.hyperparameters.embeddingLength;
      vectors.forEach((v, i) => {
        for (let r = 0; r < v.length; r += dim) {
          const row = Array.from(v.subarray(r, r + dim), (x) => x.toFixed(6).padStart(9)).join(' ');
          process.stdout.write(`embedding ${i}${v.length > dim ? ` token ${r / dim}` : ''}: ${row}\n`);
        }
      });
    }
    return 0;
  } finally {
    await model.dispose();
  }
}
