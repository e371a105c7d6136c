/** Shared pieces of the server tests: the model, a server on an ephemeral loopback port, raw requests. */
import { readFileSync } from 'node:fs';
import { AbortError } from '../../src/generate/errors.js';
import { GenerationStream, type GenerateOptions, type GenerationChunk, type GenerationResult } from '../../src/generate/generate.js';
import type { Model } from '../../src/model/model.js';
import { createServer, type ServerOptions, type TsinferServer } from '../../src/server/server.js';
import type { ServedModel } from '../../src/server/slots.js';
import { sharedPath } from '../helpers/shared.js';

export const STORIES = sharedPath('models', 'stories260K.gguf');
export const TEMPLATE = readFileSync(sharedPath('templates', 'HuggingFaceTB-SmolLM2-Instruct.jinja'), 'utf8');

export async function start(model: ServedModel | Promise<ServedModel>, opts: ServerOptions = {}): Promise<{ server: TsinferServer; url: string }> {
  const server = createServer(model, opts);
  const url = await server.listen(0, '127.0.0.1');
  return { server, url };
}

// biome-ignore lint/suspicious/noExplicitAny: the tests read each endpoint's JSON answer by its fields
export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any; text: string }> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await r.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: r.status, json, text };
}

/**
 * The model seen through a wrapper: `delayMs` slows each chunk (so a client can stop a reply
 * mid-way deterministically), `failAfter` makes the engine throw after that many chunks of the
 * next generation (an engine error in the middle of a request).
 */
export function wrap(model: Model, ctl: { delayMs?: number; failAfter?: number } = {}): ServedModel {
  return {
    info: model.info,
    tokenizer: model.tokenizer,
    get chatTemplate() {
      return model.chatTemplate;
    },
    generate(prompt: string | number[], opts: GenerateOptions = {}): GenerationStream {
      const inner = model.generate(prompt, opts);
      const failAfter = ctl.failAfter;
      ctl.failAfter = undefined;
      async function* run(): AsyncGenerator<GenerationChunk, GenerationResult> {
        let n = 0;
        for await (const c of inner) {
          if (failAfter !== undefined && n++ >= failAfter) throw new Error('simulated engine failure');
          if (ctl.delayMs) await new Promise((r) => setTimeout(r, ctl.delayMs));
          if (opts.signal?.aborted) throw new AbortError();
          yield c;
        }
        return await inner.result;
      }
      return new GenerationStream(run());
    },
  };
}
