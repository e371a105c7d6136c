/**
 * `tsinfer tokenize`: the token ids of a text, as llama.cpp's llama-tokenize gives them. The text
 * comes from an argument (after `--` when it starts with '-'), `-p`, `-f FILE` or `--stdin` (the
 * last two keep every byte of the text, NUL included).
 */
import { loadTokenizer } from '../model/model.js';
import type { Tokenizer } from '../tokenizer/index.js';
import { parseArgs, readTextArg, usage, UsageError } from './args.js';

export const TOKENIZE_USAGE = `usage: tsinfer tokenize -m FILE [options] [TEXT | -p TEXT | -f FILE | --stdin]
  -m, --model FILE     GGUF model or vocabulary file
  -p, --prompt TEXT    the text (or give it as the argument; text that starts with '-' goes after --)
  -f, --file FILE      read the text from a file (every byte, NUL included)
      --stdin          read the text from standard input
      --no-bos         do not add BOS/EOS as the vocabulary asks
      --parse-special  match special-token texts in the text (as llama-tokenize does by default)
      --show-pieces    one line per token: its id and its piece (llama-tokenize's default output)
      --show-count     print the number of tokens after them
output: a JSON array of ids, or with --show-pieces lines "   id -> 'piece'"
`;

function readText(values: { prompt?: string; file?: string; stdin?: boolean }, positionals: string[]): string {
  const sources = [values.prompt !== undefined, values.file !== undefined, values.stdin === true, positionals.length > 0].filter(Boolean).length;
  if (sources > 1) throw new UsageError('give the text one way: as an argument, -p TEXT, -f FILE or --stdin');
  if (positionals.length > 1) throw new UsageError(`tokenize takes one TEXT argument (quote it), got ${positionals.length}`);
  const path = values.stdin ? 0 : values.file;
  if (path === undefined) return values.prompt ?? positionals[0] ?? '';
  return readTextArg(path, path === 0 ? 'standard input' : path);
}

const hex = (b: number) => `\\x${b.toString(16).padStart(2, '0')}`;

/**
 * A piece as llama-tokenize prints it: UTF-8 text, or \\xNN for bytes that are not a whole character;
 * control characters (NUL, newline, ...) are \\xNN too, so that each token stays on its line.
 */
function showPiece(tok: Tokenizer, id: number): string {
  const bytes = tok.tokenToPieceBytes(id, { special: true });
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return Array.from(bytes, hex).join('');
  }
  return text.replace(/[\x00-\x1f\x7f]/g, (c) => hex(c.charCodeAt(0)));
}

export async function cmdTokenize(argv: string[]): Promise<number> {
  const { values, positionals } = usage(() =>
    parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        model: { type: 'string', short: 'm' },
        prompt: { type: 'string', short: 'p' },
        file: { type: 'string', short: 'f' },
        stdin: { type: 'boolean' },
        'no-bos': { type: 'boolean' },
        'parse-special': { type: 'boolean' },
        'show-pieces': { type: 'boolean' },
        'show-count': { type: 'boolean' },
      },
    }),
  );
  if (!values.model) throw new UsageError('tokenize needs a vocabulary or model file: -m FILE');
  const text = readText(values, positionals);
  const tok = await loadTokenizer(values.model);
  const ids = tok.encode(text, { addSpecial: !values['no-bos'], parseSpecial: values['parse-special'] === true });
  const lines = values['show-pieces'] ? ids.map((id) => `${String(id).padStart(6)} -> '${showPiece(tok, id)}'`) : [JSON.stringify(ids)];
  if (values['show-count']) lines.push(`Total number of tokens: ${ids.length}`);
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
