/**
 * The chat page at `/` in headless Chromium (Debian's /usr/bin/chromium through playwright-core,
 * as the WebGPU browser test): type a message, see the streamed answer (the greedy answer of the
 * library), then stop a long answer mid-way (the page keeps what came, the server frees the slot).
 * The page loads nothing from anywhere but the server. Without Chromium the test is skipped with
 * a warning, and fails under CI (.ci/run installs it).
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/model/model.js';
import type { TsinferServer } from '../../src/server/server.js';
import { start, STORIES, TEMPLATE, wrap } from './helpers.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
// Under CI (CI=true, or TSINFER_REQUIRE_WEBGPU=1 as .ci/run sets: it installs Chromium) a missing browser fails.
const CI = process.env.CI === 'true' || process.env.CI === '1' || process.env.TSINFER_REQUIRE_WEBGPU === '1';
if (!HAVE_CHROMIUM) console.warn(`chat page test ${CI ? 'FAILS' : 'skipped'}: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);

let model: Model;
let server: TsinferServer;
let url: string;
const ctl: { delayMs?: number } = {};

beforeAll(async () => {
  model = await loadModel(STORIES, { contextLength: 512 });
  ({ server, url } = await start(wrap(model, ctl), { chatTemplate: TEMPLATE }));
});

afterAll(async () => {
  await server?.close();
  await model?.dispose();
});

it.runIf(HAVE_CHROMIUM || CI)(
  'headless Chromium: a streamed answer, then a reply stopped mid-way',
  async () => {
    expect(HAVE_CHROMIUM, `Chromium at ${CHROMIUM}`).toBe(true);
    const question = 'Tell me about the little cat.';
    const want = (
      await model.chat(
        [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: question },
        ],
        { template: TEMPLATE, temperature: 0, maxTokens: 16 },
      ).result
    ).text;

    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      const logs: string[] = [];
      const foreign: string[] = [];
      page.on('console', (m) => logs.push(m.text()));
      page.on('pageerror', (e) => logs.push(String(e)));
      page.on('request', (r) => {
        if (!r.url().startsWith(url)) foreign.push(r.url());
      });
      await page.goto(`${url}/`);
      await page.fill('#system', 'Be brief.');
      await page.fill('#temperature', '0');
      await page.fill('#max-tokens', '16');
      await page.fill('#input', question);
      await page.click('#send');
      await page.waitForFunction(() => document.body.dataset.last !== undefined, undefined, { timeout: 30_000 });
      expect(await page.evaluate(() => document.body.dataset.last), logs.join('\n')).toBe('done');
      const answers = await page.locator('.msg.assistant .content').allTextContents();
      expect(answers).toEqual([want]);
      expect(await page.textContent('#stats')).toMatch(/^\d+ tokens, \d+(\.\d)? tok\/s/);
      expect(await page.locator('.msg.user .content').allTextContents()).toEqual([question]);

      // A long reply, slowed down on the server side, stopped after a few streamed pieces.
      ctl.delayMs = 25;
      await page.evaluate(() => delete document.body.dataset.last);
      await page.fill('#max-tokens', '400');
      await page.fill('#input', 'And then?');
      await page.click('#send');
      await page.waitForFunction(() => (document.querySelectorAll('.msg.assistant .content')[1]?.textContent ?? '').length > 5, undefined, { timeout: 30_000 });
      expect(await page.isEnabled('#stop')).toBe(true);
      await page.click('#stop');
      await page.waitForFunction(() => document.body.dataset.last !== undefined, undefined, { timeout: 10_000 });
      expect(await page.evaluate(() => document.body.dataset.last)).toBe('stopped');
      expect(await page.isEnabled('#send')).toBe(true);
      expect(await page.textContent('#stats')).toMatch(/\(stopped\)$/);
      const partial = (await page.locator('.msg.assistant .content').allTextContents())[1]!;
      expect(partial.length).toBeGreaterThan(5);
      // The server saw the disconnect and freed the slot before generating anywhere near 400 tokens.
      await expect.poll(() => server.scheduler!.busy, { timeout: 5000 }).toBe(0);
      expect(server.scheduler!.metrics.requestsCancelled).toBe(1);
      expect(Math.max(...server.scheduler!.slots.map((s) => s.decoded))).toBeLessThan(200);
      expect(foreign).toEqual([]);
    } finally {
      ctl.delayMs = 0;
      await browser.close();
    }
  },
  120_000,
);
