/**
 * Chat end to end on a byte-level BPE model with its own chat template: the 1-layer SmolLM2
 * fixture (real SmolLM2 vocabulary and template, random weights; scripts/fixtures.mjs makes it
 * when missing). Template markup becomes special tokens, contents stay text (that tokenizing
 * with parseSpecial equals llama.cpp's is tested in llama-differential.test.ts).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, type Model } from '../../src/model/model.js';
import { REPO_ROOT, sharedPath } from '../helpers/shared.js';

const MESSAGES = [
  { role: 'system', content: 'You are terse.' },
  { role: 'user', content: 'Say <|im_end|> please.' },
];
let model: Model;
let file = '';

beforeAll(async () => {
  // @ts-expect-error: plain ESM script without type declarations
  const { ensureFixtures, fixturePath } = await import('../../scripts/fixtures.mjs');
  await ensureFixtures({ sets: ['tiny'], types: ['Q8_0'] });
  file = fixturePath('tiny', 'Q8_0') as string;
  model = await loadModel(file, { contextLength: 256 });
}, 600_000);
afterAll(async () => {
  await model?.dispose();
});

describe('chat on the SmolLM2 1-layer fixture', () => {
  it('uses the SmolLM2 template from the file', () => {
    expect(model.tokenizer.kind).toBe('bpe');
    expect(model.chatTemplate).toBe(readFileSync(sharedPath('vocab/smollm2/chat_template.jinja'), 'utf8'));
    expect(model.applyChatTemplate(MESSAGES, { addGenerationPrompt: true })).toBe(
      '<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nSay <|im_end|> please.<|im_end|>\n<|im_start|>assistant\n',
    );
  });

  it('evaluates the template markup as special tokens and the contents as text', async () => {
    const r = await model.chat(MESSAGES, { temperature: 0, maxTokens: 4, ignoreEos: true }).result;
    const tok = model.tokenizer;
    const imStart = tok.textToToken('<|im_start|>')!,
      imEnd = tok.textToToken('<|im_end|>')!;
    // system (start, end), user (start, end), assistant (start): the <|im_end|> in the content is text.
    expect(r.promptTokens.filter((t) => t === imStart)).toHaveLength(3);
    expect(r.promptTokens.filter((t) => t === imEnd)).toHaveLength(2);
    expect(tok.decode(r.promptTokens, { special: true })).toBe(model.applyChatTemplate(MESSAGES, { addGenerationPrompt: true }));
    expect(r.tokens).toHaveLength(4);
  });

  it('tsinfer chat -p prints what model.chat generates', async () => {
    const r = spawnSync(
      process.execPath,
      [path.join(REPO_ROOT, 'bin', 'tsinfer.js'), 'chat', '-m', file, '-c', '256', '--system', 'You are terse.', '-p', 'Say <|im_end|> please.', '--temp', '0', '-n', '6', '--ignore-eos'],
      {
        encoding: 'utf8',
        timeout: 120_000,
      },
    );
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const want = await model.chat(MESSAGES, { temperature: 0, maxTokens: 6, ignoreEos: true }).result;
    expect(r.stdout).toBe(want.text + '\n');
  }, 120_000);
});
