#!/usr/bin/env node
/**
 * Builds dist/tsinfer.browser.js: the browser entry (src/browser.ts) as one ES
 * module, with the browser platform (src/platform/browser.ts resolved in place of
 * src/platform/node.ts), the WASM binaries (base64, as in the Node build) and the
 * worker script (a string started from a Blob URL). Fails if the bundle would
 * import any node: module. Its types are dist/browser.d.ts (from tsc).
 *
 * Usage: node scripts/build-browser.mjs
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const platformDir = join(root, 'src', 'platform');
const outfile = join(root, 'dist', 'tsinfer.browser.js');

/** Resolves the platform's Node implementation to the browser one. */
const browserPlatform = {
  name: 'browser-platform',
  setup(b) {
    b.onResolve({ filter: /^\.\/node\.js$/ }, (args) => (args.importer.startsWith(platformDir) ? { path: join(platformDir, 'browser.ts') } : undefined));
    b.onResolve({ filter: /^node:/ }, (args) => ({ errors: [{ text: `${args.importer} imports ${args.path}, which a browser does not have (route it through src/platform/)` }] }));
  },
};

const result = await build({
  entryPoints: [join(root, 'src', 'browser.ts')],
  outfile,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  sourcemap: true,
  // Dawn (the `webgpu` package) is imported by name only under Node; browsers use navigator.gpu.
  external: ['webgpu'],
  plugins: [browserPlatform],
  logLevel: 'warning',
  metafile: true,
});

const text = readFileSync(outfile, 'utf8');
const nodeImport = /\b(?:from|import\(|require\()\s*["']node:[a-z_/]+["']/.exec(text);
if (nodeImport) throw new Error(`dist/tsinfer.browser.js imports a Node module: ${nodeImport[0]}`);
const bytes = Object.values(result.metafile.outputs).find((o) => o.entryPoint)?.bytes ?? text.length;
console.log(`dist/tsinfer.browser.js: ${(bytes / 1024).toFixed(0)} KiB`);
