/**
 * The two entries agree: the browser entry (src/browser.ts) exports everything the
 * Node entry does except the Node-only file writers, and the built one-file bundle
 * (dist/tsinfer.browser.js, from `npm run build`) exports the same names and imports
 * no node: module.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';
import * as browser from '../../src/browser.js';
import * as node from '../../src/index.js';
import { REPO_ROOT } from '../helpers/shared.js';

/** Exports of the Node entry that write files by path. */
const NODE_ONLY = ['copyGGUF', 'gv', 'quantizeModel', 'QuantizeError', 'writeGGUF'];
/** Exports only the browser entry has. */
const BROWSER_ONLY = ['platform'];

it('the browser entry exports the Node entry minus the Node-only file writers', () => {
  const want = Object.keys(node).filter((k) => !NODE_ONLY.includes(k));
  expect(
    Object.keys(browser)
      .filter((k) => !BROWSER_ONLY.includes(k))
      .sort(),
  ).toEqual(want.sort());
});

const BUNDLE = path.join(REPO_ROOT, 'dist', 'tsinfer.browser.js');
it('the bundle imports no node: module and exports the browser entry', async () => {
  expect(existsSync(BUNDLE), 'dist/tsinfer.browser.js (npm run build)').toBe(true);
  const text = readFileSync(BUNDLE, 'utf8');
  expect(text).not.toMatch(/\b(from|import\(|require\()\s*["']node:/);
  // Importing it in Node only defines things: the browser platform touches no browser API until used.
  const mod = (await import(pathToFileURL(BUNDLE).href)) as Record<string, unknown>;
  expect(Object.keys(mod).sort()).toEqual(Object.keys(browser).sort());
  expect((mod.platform as { name: string }).name).toBe('browser');
});

it("the package's conditional exports: 'browser' gives the bundle, 'node' the Node entry", () => {
  const probe = "const m = await import('tsinfer'); console.log(JSON.stringify({ platform: m.platform?.name ?? null, writeGGUF: typeof m.writeGGUF }));";
  const run = (conditions: string[]) => JSON.parse(execFileSync(process.execPath, [...conditions, '--input-type=module', '-e', probe], { cwd: REPO_ROOT, encoding: 'utf8' }));
  expect(run(['--conditions=browser'])).toEqual({ platform: 'browser', writeGGUF: 'undefined' });
  expect(run([])).toEqual({ platform: null, writeGGUF: 'function' });
});
