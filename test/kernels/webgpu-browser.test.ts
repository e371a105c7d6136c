/**
 * The same library code in headless Chromium (Debian's /usr/bin/chromium through
 * playwright-core, WebGPU on SwiftShader): a page imports the browser bundle
 * (dist/tsinfer.browser.js), loads stories260K by URL from a local server, generates
 * 50 greedy tokens on navigator.gpu, and the tokens and text equal the Node (Dawn)
 * result. Serves dist/ as built by `npm test`'s pretest.
 * Without Chromium the test is skipped with a warning, and fails under
 * TSINFER_REQUIRE_WEBGPU=1 (.ci/run installs it).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { expect, it } from 'vitest';
import { loadModel } from '../../src/index.js';
import { REPO_ROOT, sharedPath } from '../helpers/shared.js';
import { CI, HAVE_WEBGPU } from './webgpu-helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`WebGPU browser test ${CI ? 'FAILS' : 'skipped'}: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);

const MODEL = sharedPath('models', 'stories260K.gguf');
const PROMPT = 'Once upon a time';
const N = 50;

const TYPES: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.json': 'application/json', '.map': 'application/json' };

/** Serves the repository's dist/ and the test page, and the model at /model.gguf; nothing else. */
function serve(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    let file: string | undefined;
    if (url.pathname === '/model.gguf') file = MODEL;
    else if (url.pathname.startsWith('/dist/') || url.pathname.startsWith('/test/kernels/webgpu-browser/')) {
      const p = path.resolve(REPO_ROOT, '.' + decodeURIComponent(url.pathname));
      if (p.startsWith(path.resolve(REPO_ROOT, 'dist')) || p.startsWith(path.resolve(REPO_ROOT, 'test/kernels/webgpu-browser'))) file = p;
    }
    if (!file || !existsSync(file) || !statSync(file).isFile()) {
      res.statusCode = 404;
      res.end('not found');
      return;
    }
    res.setHeader('content-type', TYPES[path.extname(file)] ?? 'application/octet-stream');
    res.end(readFileSync(file));
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(server)));
}

it.runIf(HAVE_WEBGPU && (HAVE_CHROMIUM || CI))(
  `headless Chromium: ${N} greedy tokens of stories260K on WebGPU equal the Node result`,
  async () => {
    expect(HAVE_CHROMIUM, `Chromium at ${CHROMIUM}`).toBe(true);
    expect(existsSync(path.join(REPO_ROOT, 'dist', 'tsinfer.browser.js')), 'dist/tsinfer.browser.js is built (npm run build)').toBe(true);
    const node = await loadModel(MODEL, { backend: 'webgpu', contextLength: 128, batchSize: 32 });
    let want: { ids: number[]; text: string };
    try {
      const r = await node.complete(PROMPT, { temperature: 0, maxTokens: N, ignoreEos: true });
      want = { ids: r.tokens, text: node.detokenize(r.tokens) };
    } finally {
      await node.dispose();
    }
    const { chromium } = await import('playwright-core');
    const server = await serve();
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--enable-unsafe-webgpu'] });
    try {
      const page = await browser.newPage();
      const logs: string[] = [];
      page.on('console', (m) => logs.push(m.text()));
      page.on('pageerror', (e) => logs.push(String(e)));
      const port = (server.address() as AddressInfo).port;
      await page.goto(`http://localhost:${port}/test/kernels/webgpu-browser/page.html?n=${N}&prompt=${encodeURIComponent(PROMPT)}`);
      await page.waitForFunction(() => (window as unknown as { tsinferResult?: unknown }).tsinferResult !== undefined, undefined, { timeout: 240_000 });
      const got = (await page.evaluate(() => (window as unknown as { tsinferResult: unknown }).tsinferResult)) as {
        ids?: number[];
        text?: string;
        adapter?: string;
        error?: string;
        stages?: string[];
      };
      expect(got.error, logs.join('\n')).toBeUndefined();
      console.log(`browser (${got.adapter}): ${JSON.stringify(got.text)}`);
      expect(got.stages).toEqual(['download', 'weights']);
      expect(got.ids).toEqual(want.ids);
      expect(got.text).toBe(want.text);
    } finally {
      await browser.close();
      server.close();
    }
  },
  300_000,
);
