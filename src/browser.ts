/**
 * tsinfer in a browser: the public API of ./index.ts without the Node-only file
 * writers (writeGGUF, copyGGUF, quantizeModel: they write files by path) and the
 * HTTP server (createServer: node:http). Built
 * into one ES module by scripts/build-browser.mjs (dist/tsinfer.browser.js), with
 * the browser platform (src/platform/browser.ts), the WASM binaries and the worker
 * script inside. test/platform/entries.test.ts checks that this list and index.ts agree.
 *
 * In a browser, loadModel takes a URL (fetched, with download progress), a Blob or
 * File (e.g. from <input type=file>), or bytes. The wasm backend runs threads when
 * the page is cross-origin isolated (COOP/COEP headers); without SharedArrayBuffer
 * the default backend is 'reference', and 'webgpu' needs navigator.gpu.
 */
export * from './api.js';
/** Where this build runs ('browser' here), and what the platform seam reports (cores). */
export { platform } from './platform/index.js';
