/** Command-line parsing shared by the `tsinfer` commands: llama.cpp's habits on top of node's parseArgs. */
import { readFileSync } from 'node:fs';
import { parseArgs as nodeParseArgs, type ParseArgsConfig } from 'node:util';

/** A mistake in how the command was called: reported in one line with the usage hint, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** `--help` / `-h` was given: the command's usage is printed and the exit code is 0. */
export class HelpRequested extends Error {
  override readonly name = 'HelpRequested';
}

/** Runs an argument parser, turning its errors into UsageErrors. */
export function usage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof UsageError || e instanceof HelpRequested) throw e;
    throw new UsageError((e as Error).message);
  }
}

/** A value that is a negative number (`-1`, `-0.5`, `-.5`, `-inf`), which llama.cpp takes after a flag. */
const NEGATIVE_NUMBER = /^-(\d|\.\d|inf)/i;

/**
 * node's parseArgs with llama.cpp's habits: a negative number after a flag that takes a value is that
 * value (`-n -1`, `-s -1`), `-h` / `--help` anywhere before `--` throws HelpRequested, and parse errors
 * become one-line UsageErrors. Text starting with `-` goes after `--`, or as `--prompt=-text`.
 */
export function parseArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof nodeParseArgs<T>> {
  const options = config.options ?? {};
  const valued = new Map<string, string>();
  const known = new Set(['--help', '-h', '--']);
  for (const [name, o] of Object.entries(options)) {
    known.add(`--${name}`);
    if (o.short) known.add(`-${o.short}`);
    if (o.type !== 'string') continue;
    valued.set(`--${name}`, name);
    if (o.short) valued.set(`-${o.short}`, name);
  }
  const isOption = (a: string) => known.has(a.split('=')[0]!);
  const args = [...(config.args ?? [])];
  const joined: string[] = [];
  let help = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      joined.push(...args.slice(i));
      break;
    }
    const name = valued.get(a);
    if (name !== undefined && i + 1 < args.length) {
      // As llama.cpp does, a flag's value may start with '-' (`-n -1`, `-p -text`) unless it is one of the flags.
      const next = args[i + 1]!;
      if (next.startsWith('-') && (NEGATIVE_NUMBER.test(next) || !isOption(next))) {
        joined.push(`--${name}=${next}`);
        i++;
        continue;
      }
    }
    if ((a === '--help' || a === '-h') && !('help' in options)) help = true;
    joined.push(a);
  }
  if (help) throw new HelpRequested();
  try {
    return nodeParseArgs({ ...config, args: joined }) as ReturnType<typeof nodeParseArgs<T>>;
  } catch (e) {
    throw new UsageError(parseErrorMessage(e as Error & { code?: string }));
  }
}

/** node's parse errors in one line, quotes closed. */
function parseErrorMessage(e: Error & { code?: string }): string {
  const quoted = /'([^']*)'/.exec(e.message)?.[1];
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && quoted !== undefined) {
    return `Unknown option '${quoted}' (text that starts with '-' goes after '--', as in: -- '${quoted}')`;
  }
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && quoted !== undefined && /ambiguous/.test(e.message)) {
    const long = /'(--[\w-]+)=/.exec(e.message)?.[1] ?? quoted;
    return `option '${quoted}' needs a value (a value that starts with '-' is written ${long}=-VALUE)`;
  }
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && quoted !== undefined && /argument missing/.test(e.message)) {
    return `option '${quoted.replace(/ <value>$/, '')}' needs a value`;
  }
  return e.message.replace(/\s*\n\s*/g, ' ');
}

/** A numeric flag: undefined when absent, a UsageError naming the flag when not a number in range. */
export function num(value: string | undefined, flag: string, opts: { integer?: boolean; min?: number; max?: number } = {}): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`${flag} expects a number, got "${value}"`);
  if (opts.integer && !Number.isInteger(n)) throw new UsageError(`${flag} expects an integer, got "${value}"`);
  if (opts.min !== undefined && n < opts.min) throw new UsageError(`${flag} must be at least ${opts.min}, got ${value}`);
  if (opts.max !== undefined && n > opts.max) throw new UsageError(`${flag} must be at most ${opts.max}, got ${value}`);
  return n;
}

/** A file named on the command line (0: standard input), as UTF-8 text; a UsageError naming `what` when it cannot be read. */
export function readTextArg(path: string | 0, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${what}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}
