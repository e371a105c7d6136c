#!/usr/bin/env node
/**
 * Serves the browser demo: demo/ and the bundle (dist/tsinfer.browser.js, built by
 * `npm run build`) with the COOP/COEP headers that make the page cross-origin
 * isolated, so SharedArrayBuffer, and with it the WASM backend's threads, exist.
 *
 *   node demo/serve.mjs [--port 8080] [--host 127.0.0.1]   then open http://127.0.0.1:8080/
 *
 * Only these files are served; everything else is a 404.
 */
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const FILES = {
  '/': ['demo/index.html', 'text/html; charset=utf-8'],
  '/index.html': ['demo/index.html', 'text/html; charset=utf-8'],
  '/demo.js': ['demo/demo.js', 'text/javascript; charset=utf-8'],
  '/tsinfer.browser.js': ['dist/tsinfer.browser.js', 'text/javascript; charset=utf-8'],
  '/tsinfer.browser.js.map': ['dist/tsinfer.browser.js.map', 'application/json'],
};

/** The demo's HTTP server (not yet listening); isolate: false leaves out COOP/COEP (to see the page without threads). */
export function demoServer({ isolate = true } = {}) {
  return http.createServer(async (req, res) => {
    // Cross-origin isolation: without both headers the page has no SharedArrayBuffer.
    if (isolate) {
      res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
      res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    }
    res.setHeader('Cache-Control', 'no-store');
    const entry = FILES[new URL(req.url ?? '/', 'http://localhost').pathname];
    if (!entry || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    try {
      const body = await readFile(path.join(ROOT, entry[0]));
      res.writeHead(200, { 'content-type': entry[1], 'content-length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch (e) {
      const missing = e && e.code === 'ENOENT';
      res.writeHead(missing ? 404 : 500, { 'content-type': 'text/plain' });
      res.end(missing ? `${entry[0]} is missing (run npm run build)` : String(e));
    }
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '8080' }, host: { type: 'string', default: '127.0.0.1' } } });
  const server = demoServer();
  server.listen(Number(values.port), values.host, () => {
    const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
    console.log(`tsinfer demo: http://${values.host}:${port}/`);
  });
}
