import type { Server } from 'node:http';
/** The demo's HTTP server (not yet listening): demo/ and the bundle, with COOP/COEP headers unless isolate is false. */
export function demoServer(options?: { isolate?: boolean }): Server;
