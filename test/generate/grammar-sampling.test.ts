/**
 * Grammar-constrained generation on real models: seeded sampled runs on stories260K
 * (SentencePiece, byte-fallback tokens) and a 1-layer SmolLM2 fixture (byte-level BPE,
 * 49k tokens) give only text the grammar accepts, checked independently (JSON.parse,
 * ajv for schemas, regular expressions); EOS only where the grammar can end.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Grammar, GrammarError, jsonSchemaToGbnf, loadModel, type Model } from '../../src/index.js';
import { generateTokens, type GenerationEngine } from '../../src/generate/generate.js';
import { REPO_ROOT, sharedPath } from '../helpers/shared.js';
import { GRAMMARS, SCHEMAS } from './grammar-cases.js';

const ajv = new Ajv2020.default({ strict: false });
addFormats.default(ajv);

/** Independent checks of finished outputs, where a regular expression or JSON.parse can say. */
const CHECKS: Partial<Record<keyof typeof GRAMMARS, (s: string) => boolean>> = {
  json: (s) => {
    try {
      const v = JSON.parse(s) as unknown;
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    } catch {
      return false;
    }
  },
  list: (s) => /^(- [^\r\n\x0b\x0c\x85\u2028\u2029]+\n){1,5}$/u.test(s),
  yesno: (s) => /^(yes|no)\.$/.test(s),
  chess: (s) => /^1\. \S+ \S+\n([1-9][0-9]?\. \S+ \S+\n)+$/.test(s),
};

const SMOLLM = path.join(REPO_ROOT, 'fixtures', 'generated', 'smollm2-135m-1l-q8_0.gguf');

const models: [string, () => Promise<Model>][] = [['stories260K', () => loadModel(sharedPath('models', 'stories260K.gguf'), { contextLength: 256, backend: 'reference' })]];
if (existsSync(SMOLLM) || process.env.CI) models.push(['smollm2-1l', () => loadModel(SMOLLM, { contextLength: 256, backend: 'wasm', threads: 1 })]);

for (const [modelName, load] of models) {
  describe(`grammar-constrained generation on ${modelName}`, () => {
    let model: Model;
    beforeAll(async () => {
      model = await load();
    });
    afterAll(async () => {
      await model?.dispose();
    });

    for (const name of ['json', 'arithmetic', 'list', 'c', 'chess', 'yesno'] as const) {
      it(`${name}: every sampled output stays in the grammar; finished ones are accepted`, async () => {
        const g = Grammar.parse(GRAMMARS[name]);
        const finished: string[] = [];
        for (let seed = 1; seed <= 4; seed++) {
          const r = await model.complete('Once upon a time', { grammar: GRAMMARS[name], seed, temperature: 1, maxTokens: 24 });
          expect(['stop', 'length']).toContain(r.finishReason);
          if (r.finishReason === 'stop') {
            expect(g.matchesString(r.text), JSON.stringify(r.text)).toBe(true);
            finished.push(r.text);
          } else {
            expect(r.tokens.length).toBe(24);
            expect(g.matchesPrefix(r.text), JSON.stringify(r.text)).toBe(true);
          }
        }
        const check = CHECKS[name];
        if (check) for (const t of finished) expect(check(t), JSON.stringify(t)).toBe(true);
        if (name === 'yesno') expect(finished.length).toBe(4);
      });
    }

    it('JSON Schemas: outputs ending by the grammar parse and validate, cut ones say length and stay in the grammar', async () => {
      let stopped = 0;
      for (const name of ['person', 'enums', 'union', 'list', 'tuple', 'refs'] as const) {
        const schema = SCHEMAS[name]!;
        const validate = ajv.compile(schema);
        const g = Grammar.parse(jsonSchemaToGbnf(schema));
        for (let seed = 1; seed <= 2; seed++) {
          const r = await model.complete('{"', { jsonSchema: schema, seed, temperature: 0.8, maxTokens: 32 });
          if (r.finishReason === 'stop') {
            stopped++;
            const v = JSON.parse(r.text) as unknown;
            expect(validate(v), `${name}: ${r.text}: ${JSON.stringify(validate.errors)}`).toBe(true);
          } else {
            expect(r.finishReason).toBe('length');
            expect(r.tokens.length).toBe(32);
            expect(g.matchesPrefix(r.text), `${name}: ${r.text}`).toBe(true);
          }
        }
      }
      expect(stopped).toBeGreaterThan(0);
    });

    if (modelName === 'smollm2-1l') {
      it('chat takes a JSON Schema too', async () => {
        const schema = { type: 'object', properties: { answer: { enum: ['yes', 'no'] } }, required: ['answer'] };
        const r = await model.chat([{ role: 'user', content: 'Yes or no?' }], { jsonSchema: schema, seed: 3, maxTokens: 24 }).result;
        expect(r.finishReason).toBe('stop');
        expect(ajv.validate(schema, JSON.parse(r.text))).toBe(true);
      });
    }

    it('a cut by maxTokens says length; greedy under a grammar is the masked argmax', async () => {
      const r = await model.complete('x', { jsonSchema: { type: 'object' }, temperature: 0, maxTokens: 3 });
      expect(r.finishReason).toBe('length');
      expect(r.tokens.length).toBe(3);
      expect(r.text.startsWith('{')).toBe(true);
      const free = await model.complete('x', { temperature: 0, maxTokens: 1 });
      const yes = await model.complete('x', { grammar: `root ::= ${JSON.stringify(free.text)} .*`, temperature: 0, maxTokens: 1 });
      expect(yes.tokens).toEqual(free.tokens); // the unconstrained argmax is allowed: the same token
    });
  });
}

describe('end of generation under a grammar', () => {
  // A vocabulary of single characters with EOS (id 0) and an engine whose logits always put EOS first.
  const chars = ['', 'a', 'b', 'c', 'é'];
  const enc = new TextEncoder();
  const vocab = {
    vocabSize: chars.length,
    tokenToPieceBytes: (id: number) => enc.encode(chars[id]!),
    isEog: (id: number) => id === 0,
    encode: (t: string) => [...t].map((c) => chars.indexOf(c)),
    createStreamDecoder: () => ({ push: (id: number) => chars[id]!, flush: () => '' }),
    addSpacePrefix: false,
  };
  const engine: GenerationEngine = {
    tokenizer: vocab,
    contextLength: 64,
    maxBatch: 8,
    vocabSize: chars.length,
    cachedTokens: [],
    forward: async () => Float32Array.from(chars, (_, i) => (i === 0 ? 100 : -i)),
  };
  const run = async (grammar: string, temperature = 0) => {
    engine.cachedTokens.length = 0;
    const gen = generateTokens(engine, 'a', { grammar, temperature, seed: 1, maxTokens: 20 });
    for (;;) {
      const r = await gen.next();
      if (r.done) return r.value;
    }
  };

  it('EOS only where the grammar can end, then finish stop', async () => {
    for (const t of [0, 1]) {
      const r = await run('root ::= "ab" "c"*', t);
      expect(r.text).toBe('ab');
      expect(r.finishReason).toBe('stop');
      expect(r.tokens).toEqual([1, 2, 0]);
    }
    const free = await run('root ::= [a-c]+');
    expect(free.tokens).toEqual([1, 0]);
  });

  it('a complete grammar ends without another step; a dead end is a GrammarError', async () => {
    const complete = await run('root ::= "abc"');
    expect(complete.text).toBe('abc');
    expect(complete.finishReason).toBe('stop');
    expect(complete.tokens).toEqual([1, 2, 3]);
    await expect(run('root ::= "a" "\u0100"')).rejects.toThrow(/no token of the vocabulary can continue the grammar/);
    await expect(run('root ::= "a" (')).rejects.toThrow(GrammarError);
  });
});
