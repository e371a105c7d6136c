/** A GBNF grammar that cannot be parsed or compiled; `line` and `column` are 1-based (0 when not tied to a place). */
export class GrammarError extends Error {
  override readonly name = 'GrammarError';
  constructor(
    message: string,
    readonly line = 0,
    readonly column = 0,
  ) {
    super(line > 0 ? `${message} at line ${line}, column ${column}` : message);
  }
}

/** A JSON Schema the converter cannot turn into a grammar (`path` is the JSON pointer of the offending part). */
export class JsonSchemaError extends Error {
  override readonly name = 'JsonSchemaError';
  constructor(
    message: string,
    readonly path = '#',
  ) {
    super(`${message} (at ${path})`);
  }
}
