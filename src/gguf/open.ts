/**
 * Opens a GGUF file from wherever it lives: a path (Node: positioned reads, no
 * copy), a URL (fetched, with download progress), a Blob or File (read, with
 * progress), or bytes already in memory.
 *
 * URLs and Blobs are read whole into one Uint8Array before parsing: the reader
 * and the backends read synchronously, which a Blob or a response body cannot
 * offer. The weights are then copied once more into their final home, so a
 * model from a URL or a Blob briefly needs its file size in extra memory.
 */
import { platform } from '../platform/index.js';
import { GGUFError } from './errors.js';
import { openGGUFSync, parseGGUF, type GGUFFile } from './reader.js';
import { MemorySource } from './source.js';

/** What loadModel and openGGUFFrom take: a path, a URL (string with a scheme, or URL), a Blob/File, or the bytes. */
export type ModelSource = string | URL | Blob | Uint8Array | ArrayBuffer;

/** Bytes of the file read so far while downloading or reading a Blob (totalBytes 0 when the server gives no length). */
export interface ReadProgress {
  readonly loadedBytes: number;
  readonly totalBytes: number;
}

export interface OpenOptions {
  onProgress?: (p: ReadProgress) => void;
  signal?: AbortSignal;
}

const URL_SCHEME = /^(https?|blob|data):/i;

/** True when a string names a URL rather than a path (in a browser every string is a URL, relative ones too). */
export function isUrlString(s: string): boolean {
  return platform.name === 'browser' || URL_SCHEME.test(s);
}

/** A display name for a source: the path, the URL, the File's name, or a description. */
export function sourceName(src: ModelSource): string {
  if (typeof src === 'string') return src;
  if (src instanceof URL) return src.href;
  if (src instanceof Uint8Array || src instanceof ArrayBuffer) return `bytes (${src.byteLength})`;
  return (src as { name?: string }).name || `Blob (${(src as Blob).size} bytes)`;
}

/** Reads a stream into one array (sized up front when the total is known), reporting progress. */
async function readAll(stream: ReadableStream<Uint8Array>, total: number, name: string, opts: OpenOptions): Promise<Uint8Array> {
  const reader = stream.getReader();
  let buf = new Uint8Array(total > 0 ? total : 1 << 20);
  let n = 0;
  try {
    for (;;) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? new Error('aborted');
      const { done, value } = await reader.read();
      if (done) break;
      if (n + value.length > buf.length) {
        if (total > 0) throw new GGUFError('IO', `${name} sent more than the ${total} bytes it announced`, n, name);
        const grown = new Uint8Array(Math.max(buf.length * 2, n + value.length));
        grown.set(buf.subarray(0, n));
        buf = grown;
      }
      buf.set(value, n);
      n += value.length;
      opts.onProgress?.({ loadedBytes: n, totalBytes: total });
    }
  } finally {
    reader.releaseLock();
  }
  if (total > 0 && n !== total) throw new GGUFError('TRUNCATED', `${name} ended after ${n} of ${total} bytes`, n, name);
  return n === buf.length ? buf : buf.subarray(0, n);
}

async function fetchBytes(url: string, opts: OpenOptions): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url, { signal: opts.signal });
  } catch (e) {
    throw new GGUFError('IO', `cannot fetch ${url}: ${e instanceof Error ? e.message : String(e)}`, 0, url);
  }
  if (!res.ok) throw new GGUFError('IO', `cannot fetch ${url}: HTTP ${res.status} ${res.statusText}`.trimEnd(), 0, url);
  // A compressed response's content-length counts the compressed bytes: no total then.
  const encoded = (res.headers.get('content-encoding') ?? 'identity') !== 'identity';
  const total = encoded ? 0 : Number(res.headers.get('content-length') ?? 0) || 0;
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  return readAll(res.body, total, url, opts);
}

/** Opens a GGUF file from a path, URL, Blob/File or bytes and reads its header. */
export async function openGGUFFrom(src: ModelSource, opts: OpenOptions = {}): Promise<GGUFFile> {
  const name = sourceName(src);
  // file: URLs are files (in Node: positioned reads, as for a path).
  const fileUrl = (src instanceof URL && src.protocol === 'file:') || (typeof src === 'string' && /^file:/i.test(src));
  if (fileUrl && platform.name === 'node') return openGGUFSync(new URL(String(src)));
  if (typeof src === 'string' && !isUrlString(src)) return openGGUFSync(src);
  let bytes: Uint8Array;
  if (typeof src === 'string' || src instanceof URL) bytes = await fetchBytes(String(src), opts);
  else if (typeof Blob !== 'undefined' && src instanceof Blob) bytes = await readAll(src.stream() as ReadableStream<Uint8Array>, src.size, name, opts);
  else if (src instanceof Uint8Array) bytes = src;
  else if (src instanceof ArrayBuffer) bytes = new Uint8Array(src);
  else throw new TypeError(`cannot load a model from ${Object.prototype.toString.call(src)}: pass a path, a URL, a Blob/File, a Uint8Array or an ArrayBuffer`);
  return parseGGUF(new MemorySource(bytes, name));
}
