/**
 * loadModel from every kind of source: a path, a URL (served from a node:http
 * server on 127.0.0.1, with and without content-length), a Blob, a File, a
 * Uint8Array and an ArrayBuffer. Each gives llama.cpp's greedy continuation of
 * stories260K on the reference backend, and reports download then weight
 * progress. Bad URLs and truncated downloads are GGUFErrors.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GGUFError, loadModel, loadTokenizer, type LoadProgress, type ModelSource } from '../../src/index.js';
import { readSharedJson, sharedPath } from '../helpers/shared.js';

const MODEL = sharedPath('models', 'stories260K.gguf');
const BYTES = readFileSync(MODEL);
const greedy = readSharedJson<{ prompt: string; continuationIds: number[] }[]>('reference', 'stories260K-greedy.json').find((c) => c.prompt !== '')!;

let server: http.Server;
let base = '';
beforeAll(async () => {
  server = http.createServer((req, res) => {
    const body = new Uint8Array(BYTES);
    if (req.url === '/model.gguf') {
      res.setHeader('content-length', String(body.length));
      res.end(body);
    } else if (req.url === '/chunked.gguf') {
      // No content-length: sent in pieces with chunked transfer encoding.
      for (let i = 0; i < body.length; i += 65536) res.write(body.subarray(i, i + 65536));
      res.end();
    } else if (req.url === '/short.gguf') {
      // Announces the whole file, sends half of it, then closes the connection.
      res.setHeader('content-length', String(body.length));
      res.write(body.subarray(0, body.length >> 1), () => res.destroy());
    } else {
      res.statusCode = 404;
      res.end('not found');
    }
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((ok) => server.close(() => ok())));

async function check(source: () => ModelSource, expectDownload: boolean, expectPath?: string) {
  const progress: LoadProgress[] = [];
  const model = await loadModel(source(), { backend: 'reference', onProgress: (p) => progress.push(p) });
  try {
    const r = await model.complete(greedy.prompt, { temperature: 0, maxTokens: greedy.continuationIds.length });
    expect(r.tokens).toEqual(greedy.continuationIds);
    if (expectPath !== undefined) expect(model.info.path).toBe(expectPath);
  } finally {
    await model.dispose();
  }
  const stages = progress.map((p) => p.stage);
  const downloads = progress.filter((p) => p.stage === 'download');
  if (expectDownload) {
    expect(downloads.length).toBeGreaterThan(0);
    expect(downloads.at(-1)!.loadedBytes).toBe(BYTES.length);
    for (let i = 1; i < downloads.length; i++) expect(downloads[i]!.loadedBytes).toBeGreaterThan(downloads[i - 1]!.loadedBytes);
    // Every download report comes before the first weight report.
    expect(stages.lastIndexOf('download')).toBeLessThan(stages.indexOf('weights'));
  } else {
    expect(downloads).toEqual([]);
  }
  const weights = progress.filter((p) => p.stage === 'weights');
  expect(weights.length).toBeGreaterThan(0);
  expect(weights.at(-1)!.loadedBytes).toBe(weights.at(-1)!.totalBytes);
  return downloads;
}

describe('loadModel sources (stories260K, reference backend, greedy = llama.cpp)', () => {
  it('a path', () => check(() => MODEL, false, MODEL));
  it('a file: URL (string or URL) is read as a file', async () => {
    await check(() => pathToFileURL(MODEL), false, pathToFileURL(MODEL).href);
    await check(() => pathToFileURL(MODEL).href, false, pathToFileURL(MODEL).href);
  });
  it('a URL string with content-length: download progress has the total', async () => {
    const d = await check(() => `${base}/model.gguf`, true, `${base}/model.gguf`);
    expect(d.every((p) => p.totalBytes === BYTES.length)).toBe(true);
  });
  it('a URL object without content-length (chunked): total 0', async () => {
    const d = await check(() => new URL(`${base}/chunked.gguf`), true);
    expect(d.every((p) => p.totalBytes === 0)).toBe(true);
  });
  it('a Blob', () => check(() => new Blob([BYTES]), true, `Blob (${BYTES.length} bytes)`));
  it('a File keeps its name', () => check(() => new File([BYTES], 'stories.gguf'), true, 'stories.gguf'));
  it('a Uint8Array', () => check(() => new Uint8Array(BYTES), false));
  it('an ArrayBuffer', () => check(() => new Uint8Array(BYTES).slice().buffer, false));
  it('loadTokenizer takes the same sources', async () => {
    const tok = await loadTokenizer(new Blob([BYTES]));
    expect(tok.vocabSize).toBe(512);
  });

  it('HTTP 404 is a GGUFError naming the URL and status', async () => {
    const e = await loadModel(`${base}/missing.gguf`, { backend: 'reference' }).catch((x) => x);
    expect(e).toBeInstanceOf(GGUFError);
    expect(e.code).toBe('IO');
    expect(e.message).toContain('HTTP 404');
    expect(e.message).toContain(`${base}/missing.gguf`);
  });
  it('a connection refused is a GGUFError', async () => {
    const closed = http.createServer();
    await new Promise<void>((ok) => closed.listen(0, '127.0.0.1', ok));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((ok) => closed.close(() => ok()));
    const e = await loadModel(`http://127.0.0.1:${port}/x.gguf`, { backend: 'reference' }).catch((x) => x);
    expect(e).toBeInstanceOf(GGUFError);
    expect(e.message).toContain('cannot fetch');
  });
  it('a download cut short is an error, not a truncated model', async () => {
    const e = await loadModel(`${base}/short.gguf`, { backend: 'reference' }).catch((x) => x);
    expect(e).toBeInstanceOf(Error);
    expect(String(e.message)).toMatch(/cannot fetch|ended after|terminated|other side closed/);
  });
  it('something else is a TypeError naming what it got', async () => {
    const e = await loadModel(42 as unknown as ModelSource).catch((x) => x);
    expect(e).toBeInstanceOf(TypeError);
    expect(e.message).toContain('[object Number]');
  });
});
