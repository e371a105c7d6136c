/** Grammar-constrained sampling: GBNF and JSON Schema (see gbnf.ts, json-schema.ts, constraint.ts). */
import { GrammarConstraint } from './constraint.js';
import { GrammarError } from './errors.js';
import { jsonSchemaToGbnf } from './json-schema.js';
import { Grammar } from './matcher.js';
import type { GrammarVocabulary } from './vocab-trie.js';

export { GrammarConstraint } from './constraint.js';
export { GrammarError, JsonSchemaError } from './errors.js';
export { jsonObjectGbnf, jsonSchemaToGbnf } from './json-schema.js';
export { Grammar } from './matcher.js';
export { parseGbnf } from './gbnf.js';

export interface GrammarOptions {
  /** A GBNF grammar (text, or compiled with Grammar.parse) the output must match. */
  grammar?: string | Grammar;
  /** A JSON Schema (object or JSON text) the output must satisfy; `{ type: 'object' }` is JSON mode. */
  jsonSchema?: unknown;
}

/** Compiled grammars by source text: their transition and mask caches carry over between generations. */
const compiled = new Map<string, Grammar>();
const COMPILED_KEEP = 8;
/** A cached grammar that has met more states than this is compiled afresh (its tables only grow). */
const STATES_KEEP = 100_000;

function compile(source: string): Grammar {
  let g = compiled.get(source);
  compiled.delete(source); // re-inserted last: most recently used
  if (g === undefined || g.stateCount > STATES_KEEP) {
    g = Grammar.parse(source);
    if (compiled.size >= COMPILED_KEEP) compiled.delete(compiled.keys().next().value!);
  }
  compiled.set(source, g);
  return g;
}

/** The grammar the options ask for, compiled (undefined when none). */
export function grammarFromOptions(opts: GrammarOptions): Grammar | undefined {
  if (opts.grammar !== undefined && opts.jsonSchema !== undefined) throw new GrammarError('give either grammar or jsonSchema, not both');
  if (opts.grammar instanceof Grammar) return opts.grammar;
  if (opts.grammar !== undefined) {
    if (typeof opts.grammar !== 'string') throw new GrammarError(`grammar must be GBNF text or a Grammar, got ${typeof opts.grammar}`);
    return compile(opts.grammar);
  }
  if (opts.jsonSchema !== undefined) return compile(jsonSchemaToGbnf(opts.jsonSchema));
  return undefined;
}

/** A constraint for one generation, or undefined when the options ask for none. */
export function grammarConstraint(opts: GrammarOptions, vocab: Partial<GrammarVocabulary> & { isEog(id: number): boolean }, rowSize: number): GrammarConstraint | undefined {
  const g = grammarFromOptions(opts);
  if (g === undefined) return undefined;
  if (typeof vocab.tokenToPieceBytes !== 'function' || typeof vocab.vocabSize !== 'number') {
    throw new GrammarError('this tokenizer does not expose token bytes (tokenToPieceBytes, vocabSize): grammars need them');
  }
  return new GrammarConstraint(g, vocab as GrammarVocabulary, rowSize);
}
