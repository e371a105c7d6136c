/** Grammar flags of `generate` and `chat`, as llama.cpp spells them: --grammar, --grammar-file, -j/--json-schema, --json-schema-file. */
import { grammarFromOptions, type GrammarOptions } from '../generate/grammar/index.js';
import { readTextArg, UsageError } from './args.js';

export const GRAMMAR_FLAGS = {
  grammar: { type: 'string' },
  'grammar-file': { type: 'string' },
  'json-schema': { type: 'string', short: 'j' },
  'json-schema-file': { type: 'string' },
} as const;

export const GRAMMAR_USAGE = `      --grammar GBNF      constrain the output to a GBNF grammar
      --grammar-file FILE read the GBNF grammar from a file
  -j, --json-schema JSON  constrain the output to a JSON Schema ('{}' for any JSON)
      --json-schema-file FILE  read the JSON Schema from a file`;

function readText(path: string, flag: string): string {
  return readTextArg(path, `${flag} ${path}`);
}

/**
 * Grammar options from the parsed flags (UsageError when more than one is given or a file is
 * unreadable). The grammar is compiled here, so a bad one is reported before the model loads.
 */
export function grammarOptions(values: GrammarFlagValues): GrammarOptions {
  const opts = readGrammarFlags(values);
  grammarFromOptions(opts);
  return opts;
}

type GrammarFlagValues = { grammar?: string; 'grammar-file'?: string; 'json-schema'?: string; 'json-schema-file'?: string };

function readGrammarFlags(values: GrammarFlagValues): GrammarOptions {
  const given = (['grammar', 'grammar-file', 'json-schema', 'json-schema-file'] as const).filter((k) => values[k] !== undefined);
  if (given.length > 1) throw new UsageError(`give one of --${given.join(', --')}, not several`);
  if (values.grammar !== undefined) return { grammar: values.grammar };
  if (values['grammar-file'] !== undefined) return { grammar: readText(values['grammar-file'], '--grammar-file') };
  const schemaText = values['json-schema'] ?? (values['json-schema-file'] !== undefined ? readText(values['json-schema-file'], '--json-schema-file') : undefined);
  if (schemaText === undefined) return {};
  try {
    return { jsonSchema: JSON.parse(schemaText) as unknown };
  } catch (e) {
    throw new UsageError(`--json-schema is not valid JSON: ${(e as Error).message}`);
  }
}
