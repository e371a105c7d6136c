/** /v1/embeddings with the openai client on stories260K loaded for embeddings: vectors equal model.embed. */
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/model/model.js';
import type { TsinferServer } from '../../src/server/server.js';
import { post, start, STORIES } from './helpers.js';

let model: Model;
let server: TsinferServer;
let url: string;
let client: OpenAI;

beforeAll(async () => {
  model = await loadModel(STORIES, { contextLength: 128, embeddings: true });
  ({ server, url } = await start(model, { embeddings: true, pooling: 'mean', parallel: 1 }));
  client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });
});

afterAll(async () => {
  await server?.close();
  await model?.dispose();
});

describe('/v1/embeddings', () => {
  it('vectors equal model.embed, as base64 (the client default) and as floats', async () => {
    const texts = ['Once upon a time', 'a cat sat on the mat'];
    const want = await model.embed(texts, { pooling: 'mean' });
    const r = await client.embeddings.create({ model: 'm', input: texts });
    expect(r.object).toBe('list');
    expect(r.data.map((d) => d.index)).toEqual([0, 1]);
    expect(r.data.map((d) => d.embedding)).toEqual(want.map((v) => Array.from(v)));
    const f = await client.embeddings.create({ model: 'm', input: texts[1]!, encoding_format: 'float' });
    expect(f.data[0]!.embedding).toEqual(Array.from(want[1]!));
    expect(f.usage.prompt_tokens).toBe(model.tokenizer.encode(texts[1]!, { addSpecial: true }).length);
  });

  it('bad input is a 400; completions are refused on an embeddings server', async () => {
    expect((await post(`${url}/v1/embeddings`, {})).json.error.message).toMatch(/'input' is required/);
    expect((await post(`${url}/v1/embeddings`, { input: [1, 2, 3] })).json.error.message).toMatch(/token ids is not supported/);
    expect((await post(`${url}/v1/embeddings`, { input: 'x', encoding_format: 'hex' })).status).toBe(400);
    expect((await post(`${url}/v1/embeddings`, { input: 'x', dimensions: 3 })).json.error.message).toMatch(/'dimensions'/);
    // stories260K has no pooling type (none: one vector per token), which this endpoint cannot return.
    const none = await start(model, { embeddings: true, parallel: 1 });
    try {
      const r = await post(`${none.url}/v1/embeddings`, { input: 'x' });
      expect([r.status, r.json.error.message]).toEqual([400, expect.stringMatching(/--pooling mean/)]);
    } finally {
      await none.server.close();
    }
    const c = await post(`${url}/v1/completions`, { prompt: 'x' });
    expect([c.status, c.json.error.message]).toEqual([501, expect.stringMatching(/--embeddings/)]);
  });

  it('a completion server refuses /v1/embeddings with a 501 naming --embeddings', async () => {
    const gen = await loadModel(STORIES, { contextLength: 64 });
    const other = await start(gen, { parallel: 1 });
    try {
      const r = await post(`${other.url}/v1/embeddings`, { input: 'x' });
      expect([r.status, r.json.error.message]).toEqual([501, expect.stringMatching(/--embeddings/)]);
    } finally {
      await other.server.close();
      await gen.dispose();
    }
  });
});
