
/** A mistake in how the command was called: reported in one line with the usage hint. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Runs an argument parser, turning its errors into UsageErrors. */
export function usage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
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
