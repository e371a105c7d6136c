/**
 * The platform this build runs on. This file names the Node implementation; the
 * browser bundle resolves ./node.js to ./browser.js instead (scripts/build-browser.mjs),
 * so nothing under src/ imports a node: module except through ./node.ts
 * (and the Node-only file writers: gguf/writer.ts, quant/quantize-model.ts).
 */
export { platform } from './node.js';
export { base64Bytes, type Platform, type PlatformWorker } from './types.js';
