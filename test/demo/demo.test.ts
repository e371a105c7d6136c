/**
 * The browser demo (demo/index.html + demo/serve.mjs, the one-file bundle) in
 * headless Chromium (Debian's /usr/bin/chromium through playwright-core): the page
 * is cross-origin isolated by the server's COOP/COEP headers; stories260K is picked
 * with the file input; on WebGPU (SwiftShader in CI) and on WASM with 2 threads the
 * streamed greedy text equals llama.cpp's continuation (../shared/reference). Without
 * Chromium the test is skipped with a warning, and fails under CI / TSINFER_REQUIRE_WEBGPU=1.
 */
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { demoServer } from '../../demo/serve.mjs';
import { readSharedJson, REPO_ROOT, sharedPath } from '../helpers/shared.js';
import { CI } from '../kernels/webgpu-helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) console.warn(`browser demo test ${CI ? 'FAILS' : 'skipped'}: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);

const MODEL = sharedPath('models', 'stories260K.gguf');
const greedy = readSharedJson<{ prompt: string; continuationIds: number[]; continuationText: string }[]>('reference', 'stories260K-greedy.json').find((c) => c.prompt !== '')!;

let server: ReturnType<typeof demoServer>;
let browser: Browser;
let url = '';

beforeAll(async () => {
  if (!HAVE_CHROMIUM) return;
  server = demoServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--enable-unsafe-webgpu', '--enable-unsafe-swiftshader'] });
});
afterAll(async () => {
  await browser?.close();
  server?.close();
});

/** Opens the demo, loads stories260K through the file input on `backend`, sends the prompt, returns the streamed reply. */
async function chat(backend: string, threads: number): Promise<{ text: string; info: Record<string, string | number>; page: Page; logs: string[] }> {
  const page = await browser.newPage();
  const logs: string[] = [];
  page.on('console', (m) => logs.push(m.text()));
  page.on('pageerror', (e) => logs.push(String(e)));
  await page.goto(url);
  await page.waitForSelector('body[data-state="idle"]');
  expect(await page.evaluate(() => crossOriginIsolated), 'the demo server makes the page cross-origin isolated').toBe(true);
  await page.setInputFiles('#file', MODEL);
  await page.selectOption('#backend', backend);
  await page.fill('#threads', String(threads));
  await page.fill('#context', '256');
  await page.click('#load');
  await page.waitForFunction(() => document.body.dataset.state !== 'loading', undefined, { timeout: 120_000 });
  expect(await page.evaluate(() => document.body.dataset.error), logs.join('\n')).toBeUndefined();
  expect(await page.getAttribute('body', 'data-state')).toBe('ready');
  await page.fill('#temperature', '0');
  await page.fill('#maxTokens', String(greedy.continuationIds.length));
  await page.fill('#prompt', greedy.prompt);
  // Streaming: count the changes to the conversation while the reply comes in.
  await page.evaluate(() => {
    const w = window as unknown as { updates: number };
    w.updates = 0;
    new MutationObserver((records) => (w.updates += records.length)).observe(document.getElementById('log')!, { subtree: true, childList: true, characterData: true });
  });
  await page.click('#send');
  await page.waitForSelector('.assistant[data-done="true"]', { state: 'attached', timeout: 120_000 });
  expect(await page.evaluate(() => document.body.dataset.error), logs.join('\n')).toBeUndefined();
  const updates = await page.evaluate(() => (window as unknown as { updates: number }).updates);
  expect(updates, 'the reply is shown piece by piece').toBeGreaterThan(greedy.continuationIds.length / 2);
  const text = await page.textContent('.assistant');
  const info = JSON.parse((await page.getAttribute('body', 'data-backend')) ?? '{}');
  return { text: text ?? '', info, page, logs };
}

describe.runIf(HAVE_CHROMIUM || CI)('browser demo in headless Chromium (stories260K, greedy = llama.cpp)', () => {
  it('the bundle is built', () => {
    expect(HAVE_CHROMIUM, `Chromium at ${CHROMIUM}`).toBe(true);
    expect(existsSync(path.join(REPO_ROOT, 'dist', 'tsinfer.browser.js')), 'dist/tsinfer.browser.js (npm run build)').toBe(true);
  });

  it('WebGPU: the streamed reply equals llama.cpp', async () => {
    const { text, info, page } = await chat('webgpu', 1);
    console.log(`demo on WebGPU (${info.adapter}): ${JSON.stringify(text)}`);
    expect(info.backend).toBe('webgpu');
    expect(text).toBe(greedy.continuationText);
    await page.close();
  }, 240_000);

  it('WASM with 2 threads: the streamed reply equals llama.cpp; a second message streams too', async () => {
    const { text, info, page } = await chat('wasm', 2);
    console.log(`demo on WASM (${info.build}, ${info.threads} threads): ${JSON.stringify(text)}`);
    expect(info.backend).toBe('wasm');
    expect(info.threads).toBe(2);
    expect(text).toBe(greedy.continuationText);
    // The page stays usable: another message gets its own streamed reply.
    await page.fill('#maxTokens', '8');
    await page.fill('#prompt', 'The dog');
    await page.click('#send');
    await page.waitForFunction(() => document.querySelectorAll('.assistant[data-done="true"]').length === 2, undefined, { timeout: 60_000 });
    const second = await page.$$eval('.assistant', (els) => els.map((e) => e.textContent ?? ''));
    expect(second[1]!.length).toBeGreaterThan(0);
    await page.close();
  }, 240_000);

  it('without COOP/COEP the page says WASM has no threads, and loading on WASM is an error naming the headers', async () => {
    const plain = demoServer({ isolate: false });
    await new Promise<void>((ok) => plain.listen(0, '127.0.0.1', ok));
    const page = await browser.newPage();
    try {
      await page.goto(`http://127.0.0.1:${(plain.address() as AddressInfo).port}/`);
      await page.waitForSelector('body[data-state="idle"]');
      expect(await page.evaluate(() => crossOriginIsolated)).toBe(false);
      expect(await page.textContent('#status')).toContain('not cross-origin isolated');
      await page.setInputFiles('#file', MODEL);
      await page.selectOption('#backend', 'wasm');
      await page.click('#load');
      await page.waitForSelector('body[data-state="error"]', { state: 'attached', timeout: 60_000 });
      const error = await page.evaluate(() => document.body.dataset.error);
      expect(error).toContain('SharedArrayBuffer');
      expect(error).toContain('Cross-Origin-Embedder-Policy');
    } finally {
      await page.close();
      plain.close();
    }
  }, 120_000);
});
