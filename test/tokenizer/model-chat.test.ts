/**
 * Model.chat / Model.applyChatTemplate on stories260K, with the template taken from the file
 * (a copy of the model written with tokenizer.chat_template added) or passed by the caller.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openGGUF } from '../../src/gguf/reader.js';
import { gv, metadataOf, tensorChunks, writeGGUF } from '../../src/gguf/writer.js';
import { loadModel, type Model } from '../../src/model/model.js';
import { TokenizerError } from '../../src/tokenizer/index.js';
import { REPO_ROOT, sharedPath } from '../helpers/shared.js';

const STORIES = sharedPath('models', 'stories260K.gguf');
const TEMPLATE = "{{ bos_token }}{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}";
const MESSAGES = [
  { role: 'system', content: 'Tell a story.' },
  { role: 'user', content: 'Lily saw a cat.' },
];

/** stories260K with tokenizer.chat_template added. */
async function withTemplate(template: string): Promise<string> {
  const out = path.join(mkdtempSync(path.join(tmpdir(), 'tsinfer-chat-model-')), 'stories-chat.gguf');
  const f = await openGGUF(STORIES);
  try {
    const meta = metadataOf(f).filter(([k]) => k !== 'tokenizer.chat_template');
    meta.push(['tokenizer.chat_template', gv.string(template)]);
    const tensors = f.tensors.map((t) => ({ name: t.name, typeId: t.typeId, shape: t.shape, data: () => tensorChunks(f, t.name) }));
    await writeGGUF(out, meta, tensors);
  } finally {
    f.close();
  }
  return out;
}

let withChat: Model;
let plain: Model;
let chatPath = '';

beforeAll(async () => {
  chatPath = await withTemplate(TEMPLATE);
  withChat = await loadModel(chatPath);
  plain = await loadModel(STORIES);
});
afterAll(async () => {
  await withChat?.dispose();
  await plain?.dispose();
});

describe('Model.applyChatTemplate / Model.chat', () => {
  it("renders the file's template with the model's BOS/EOS texts", () => {
    expect(withChat.chatTemplate).toBe(TEMPLATE);
    expect(withChat.applyChatTemplate(MESSAGES)).toBe('<s><system>Tell a story.</s><user>Lily saw a cat.</s>');
    expect(withChat.applyChatTemplate(MESSAGES, { addGenerationPrompt: true })).toBe('<s><system>Tell a story.</s><user>Lily saw a cat.</s><assistant>');
  });

  it('chat() evaluates the rendered prompt with its special tokens and streams the reply', async () => {
    const r = await withChat.chat(MESSAGES, { temperature: 0, maxTokens: 20 }).result;
    const rendered = withChat.applyChatTemplate(MESSAGES, { addGenerationPrompt: true });
    // The template starts with BOS: it is not added twice.
    const ids = withChat.tokenize(rendered, { parseSpecial: true, addSpecial: false });
    expect(ids[0]).toBe(withChat.tokenizer.bosId);
    expect(ids.filter((i) => i === withChat.tokenizer.eosId)).toHaveLength(2);
    expect(r.promptTokens).toEqual(ids);
    const g = await withChat.complete(ids, { temperature: 0, maxTokens: 20 });
    expect(r.text).toBe(g.text);
    expect(r.tokens).toEqual(g.tokens);
  });

  it('a second turn re-evaluates only what follows the cached conversation', async () => {
    const first = await withChat.chat(MESSAGES, { temperature: 0, maxTokens: 12 }).result;
    const next = [...MESSAGES, { role: 'assistant', content: first.text }, { role: 'user', content: 'What then?' }];
    const second = await withChat.chat(next, { temperature: 0, maxTokens: 12 }).result;
    expect(second.promptTokens.slice(0, first.promptTokens.length)).toEqual(first.promptTokens);
    expect(second.stats.promptTokensEvaluated).toBeLessThan(second.stats.promptTokens - first.promptTokens.length + 1);
  });

  it('message contents never become special tokens', async () => {
    const r = await withChat.chat([{ role: 'user', content: 'a</s>b<s>' }], { temperature: 0, maxTokens: 1 }).result;
    const bos = withChat.tokenizer.bosId,
      eos = withChat.tokenizer.eosId;
    // <s> from the template, </s> after the content from the template; none from the content.
    expect(r.promptTokens.filter((i) => i === bos)).toHaveLength(1);
    expect(r.promptTokens.filter((i) => i === eos)).toHaveLength(1);
    expect(withChat.detokenize(r.promptTokens, { special: true })).toContain('a</s>b<s>');
  });

  it('a model without a template needs one from the caller', async () => {
    expect(plain.chatTemplate).toBeUndefined();
    expect(() => plain.chat(MESSAGES)).toThrow(TokenizerError);
    expect(() => plain.applyChatTemplate(MESSAGES)).toThrow(/no chat template/);
    const a = await plain.chat(MESSAGES, { template: TEMPLATE, temperature: 0, maxTokens: 20 }).result;
    const b = await withChat.chat(MESSAGES, { temperature: 0, maxTokens: 20 }).result;
    expect(a.tokens).toEqual(b.tokens);
  });

  it('tsinfer chat uses the template in the file', async () => {
    const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'bin', 'tsinfer.js'), 'chat', '-m', chatPath, '--system', 'Tell a story.', '-p', 'Lily saw a cat.', '--temp', '0', '-n', '20'], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const want = await withChat.chat(MESSAGES, { temperature: 0, maxTokens: 20 }).result;
    expect(r.stdout).toBe(want.text + '\n');
  });
});
