/**
 * JSON Schema -> GBNF: strings accepted and rejected, and random documents drawn
 * from each schema's grammar (a character-level random walk) that an independent
 * validator (ajv) must accept.
 */
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { Grammar, JsonSchemaError, jsonObjectGbnf, jsonSchemaToGbnf } from '../../src/index.js';
import { GrammarConstraint } from '../../src/generate/grammar/constraint.js';
import { Rng } from '../../src/generate/rng.js';
import { SCHEMAS } from './grammar-cases.js';

const ajv = new Ajv2020.default({ strict: false });
addFormats.default(ajv);

/** A tiny vocabulary: one token per character of an alphabet, plus an end token (id 0). */
function charVocab(alphabet: string[]) {
  const enc = new TextEncoder();
  const pieces = [new Uint8Array(0), ...alphabet.map((c) => enc.encode(c))];
  return { vocabSize: pieces.length, tokenToPieceBytes: (id: number) => pieces[id]!, isEog: (id: number) => id === 0, text: ['', ...alphabet] };
}
const ALPHABET = [...new Set([...' \n\t{}[]:,"\\-+.eE0123456789abcdefghijklmnopqrstuvwxyzABCDEFTZ_@/é😀', 'true', 'false', 'null'])];
const VOCAB = charVocab(ALPHABET);

/** Random documents from a grammar: uniform over the allowed next tokens, ending as soon as allowed with probability 1/2. */
function randomDocuments(grammar: Grammar, count: number, seed: number): string[] {
  const rng = new Rng(seed);
  const docs: string[] = [];
  for (let tries = 0; docs.length < count && tries < count * 5; tries++) {
    const c = new GrammarConstraint(grammar, VOCAB);
    let text = '';
    for (let step = 0; step < 400; step++) {
      const mask = c.allowedMask();
      const allowed: number[] = [];
      for (let id = 0; id < VOCAB.vocabSize; id++) if ((mask[id >>> 5]! >>> (id & 31)) & 1) allowed.push(id);
      expect(allowed.length, `no continuation after ${JSON.stringify(text)}`).toBeGreaterThan(0);
      const id = allowed.includes(0) && rng.next() < 0.5 ? 0 : allowed[Math.floor(rng.next() * allowed.length)]!;
      c.accept(id);
      if (id === 0) {
        docs.push(text);
        break;
      }
      text += VOCAB.text[id];
      if (c.isComplete) {
        docs.push(text);
        break;
      }
    }
  }
  return docs;
}

describe('JSON Schema to grammar', () => {
  for (const [name, schema] of Object.entries(SCHEMAS)) {
    it(`${name}: random documents from the grammar are valid JSON and satisfy the schema`, () => {
      const g = Grammar.parse(jsonSchemaToGbnf(schema));
      const validate = ajv.compile(schema);
      const docs = randomDocuments(g, 40, 1234);
      expect(docs.length).toBeGreaterThanOrEqual(20);
      for (const d of docs) {
        let v: unknown;
        expect(() => (v = JSON.parse(d)), d).not.toThrow();
        expect(validate(v), `${d}: ${JSON.stringify(validate.errors)}`).toBe(true);
        expect(g.matchesString(d)).toBe(true);
      }
    });
  }

  it('accepts valid documents and rejects invalid ones', () => {
    const person = Grammar.parse(jsonSchemaToGbnf(SCHEMAS.person!));
    expect(person.matchesString('{"name": "Al", "age": 150, "email": "a@b.org", "tags": ["x"]}')).toBe(true);
    expect(person.matchesString('{ "name" : "Al" , "age" : 0 }')).toBe(true);
    expect(person.matchesString('{"name": "Al", "tags": ["x"], "age": 1}')).toBe(false); // order as the schema gives
    expect(person.matchesString('{"name": "Al", "age": 151}')).toBe(false);
    expect(person.matchesString('{"name": "Al", "age": 07}')).toBe(false);
    expect(person.matchesString('{"name": "", "age": 1}')).toBe(false);
    expect(person.matchesString('{"name": "Al", "age": 1, "email": "a@b.net"}')).toBe(false);
    expect(person.matchesString('{"name": "Al", "age": 1, "tags": []}')).toBe(false);
    expect(person.matchesString('{"name": "Al", "age": 1, "other": 1}')).toBe(false); // no additionalProperties: none
    const open = Grammar.parse(jsonSchemaToGbnf(SCHEMAS.openObject!));
    expect(open.matchesString('{"id": 1003, "x": -3, "idx": 2}')).toBe(true);
    expect(open.matchesString('{"id": 1003, "id": 2}')).toBe(false); // declared names are not additional
    expect(open.matchesString('{"id": 1006}')).toBe(false);
    const list = Grammar.parse(jsonSchemaToGbnf(SCHEMAS.list!));
    for (const n of [-1234, -1000, -999, -1, 0, 9, 10, 99, 100, 56789, 56000, 9999]) expect(list.matchesString(`[${n}, ${n}]`), String(n)).toBe(true);
    for (const n of [-1235, -2000, 56790, 60000, 100000, -0]) if (!Object.is(n, -0)) expect(list.matchesString(`[${n}, 1]`), String(n)).toBe(false);
    expect(list.matchesString('[1]')).toBe(false);
    expect(list.matchesString('[1, 2, 3, 4, 5]')).toBe(false);
    const date = Grammar.parse(jsonSchemaToGbnf({ type: 'string', format: 'date' }));
    for (const d of ['2024-02-29', '2000-02-29', '0400-02-29', '2023-02-28', '2023-12-31', '2023-04-30']) expect(date.matchesString(`"${d}"`), d).toBe(true);
    for (const d of ['2023-02-29', '1900-02-29', '2024-02-30', '2023-04-31', '2023-13-01', '2023-00-10', '2023-01-00']) expect(date.matchesString(`"${d}"`), d).toBe(false);
    const obj = Grammar.parse(jsonObjectGbnf());
    expect(obj.matchesString('{"a": [1, {"b": "c"}]}')).toBe(true);
    expect(obj.matchesString('[1]')).toBe(false);
  });

  it('integer ranges are exact over a span of values', () => {
    for (const [lo, hi] of [
      [-57, 113],
      [0, 0],
      [7, 7],
      [95, 1040],
      [-1000, -990],
    ] as const) {
      const g = Grammar.parse(jsonSchemaToGbnf({ type: 'integer', minimum: lo, maximum: hi }));
      for (let n = lo - 120; n <= hi + 120; n++) expect(g.matchesString(String(n)), `${n} in [${lo}, ${hi}]`).toBe(n >= lo && n <= hi);
    }
    const min = Grammar.parse(jsonSchemaToGbnf({ type: 'integer', minimum: 42 }));
    expect(min.matchesString('41')).toBe(false);
    expect(min.matchesString('42')).toBe(true);
    expect(min.matchesString('123456789012')).toBe(true);
  });

  const unsupported: [object, RegExp][] = [
    [{ type: 'string', pattern: 'abc' }, /must start with "\^" and end with "\$"/],
    [{ type: 'string', pattern: '^(?=a)b$' }, /lookaround/],
    [{ type: 'string', pattern: '^(a)\\1$' }, /back reference/],
    [{ type: 'string', pattern: '^\\bx$' }, /word boundary/],
    [{ not: { type: 'string' } }, /keyword "not" is not supported/],
    [{ type: 'array', uniqueItems: true }, /keyword "uniqueItems"/],
    [{ type: 'number', minimum: 1.5 }, /minimum on a number/],
    [{ type: 'string', format: 'email' }, /format "email" is not supported/],
    [{ $ref: 'https://example.com/s.json' }, /only references inside the schema/],
    [{ $ref: '#/$defs/missing' }, /does not resolve/],
    [{ type: 'frob' }, /unknown type/],
    [{ allOf: [{ type: 'string' }] }, /allOf is supported for object schemas only/],
  ];
  for (const [schema, msg] of unsupported) {
    it(`unsupported: ${JSON.stringify(schema)}`, () => {
      expect(() => jsonSchemaToGbnf(schema)).toThrow(JsonSchemaError);
      expect(() => jsonSchemaToGbnf(schema)).toThrow(msg);
    });
  }
});
